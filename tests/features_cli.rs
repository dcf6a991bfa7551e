//! `specgate features` end to end: a synthetic I/Q WAV (with its centre frequency in the auxi
//! chunk) to CSV and JSON Lines, the schema of both, and no partial output on failure.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_specgate"))
}

fn scene(dir: &std::path::Path) -> std::path::PathBuf {
    let wav = dir.join("scene.wav");
    let st = bin()
        .args(["features", "--write-scene"])
        .arg(&wav)
        .args([
            "--seed",
            "4",
            "--scene-rate",
            "250k",
            "--scene-seconds",
            "4",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    wav
}

const COLUMNS: &str = "channel,start_s,end_s,duration_s,center_hz,freq_ref,bandwidth_hz,\
bandwidth_3db_hz,peak_dbfs,snr_db,duty_cycle,on_off_count,freq_drift_hz_per_s,\
spectral_flatness,freq_spread_hz,frame_width_hz,level_cv,significance,kind,kind_rule";

#[test]
fn the_csv_has_the_documented_columns_and_absolute_frequencies_from_the_auxi_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let wav = scene(dir.path());
    let csv = dir.path().join("f.csv");
    let out = bin()
        .args(["features", "-q"])
        .arg(&wav)
        .arg("-o")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), COLUMNS);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.len() >= 3, "{text}");
    let kinds = ["carrier", "cw", "burst", "voice", "wideband", "unknown"];
    for r in &rows {
        assert_eq!(r.len(), 20, "{r:?}");
        assert_eq!(r[5], "rf", "{r:?}");
        let c: f64 = r[4].parse().unwrap();
        assert!((c - 7_100_000.0).abs() < 125_000.0, "{r:?}");
        let (s, e, d): (f64, f64, f64) = (
            r[1].parse().unwrap(),
            r[2].parse().unwrap(),
            r[3].parse().unwrap(),
        );
        assert!(s >= 0.0 && e > s && (e - s - d).abs() < 1e-5, "{r:?}");
        assert!(kinds.contains(&r[18]), "{r:?}");
        for i in [6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17] {
            let v: f64 = r[i].parse().unwrap();
            assert!(v.is_finite(), "{r:?}");
        }
        let duty: f64 = r[10].parse().unwrap();
        assert!((0.0..=1.0).contains(&duty));
    }
}

#[test]
fn jsonl_rows_are_objects_with_the_same_keys_and_values_as_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let wav = scene(dir.path());
    let run = |fmt: &str| {
        let out = bin()
            .args(["features", "-q", "--format", fmt])
            .arg(&wav)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let csv = run("csv");
    let jsonl = run("jsonl");
    let keys: Vec<&str> = COLUMNS.split(',').collect();
    let csv_rows: Vec<&str> = csv.lines().skip(1).collect();
    let json_rows: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(csv_rows.len(), json_rows.len());
    for (c, j) in csv_rows.iter().zip(&json_rows) {
        let obj = j.as_object().unwrap();
        assert_eq!(obj.keys().count(), keys.len());
        for (k, v) in keys.iter().zip(c.split(',')) {
            let jv = &obj[*k];
            match jv {
                serde_json::Value::String(s) => assert_eq!(s, v),
                serde_json::Value::Number(n) => {
                    let a = n.as_f64().unwrap();
                    let b: f64 = v.parse().unwrap();
                    assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{k}: {a} vs {b}");
                }
                other => panic!("{k}: {other}"),
            }
        }
    }
}

#[test]
fn a_failing_run_leaves_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.wav");
    std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    let csv = dir.path().join("f.csv");
    let out = bin()
        .args(["features", "-q"])
        .arg(&bad)
        .arg("-o")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!csv.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
