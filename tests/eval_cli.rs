//! The evaluation harness and the `eval`/`demo` commands end to end.

use specgate::eval::signals::NoiseColour;
use specgate::eval::{run_case, Builtin};
use specgate::params::{resolve, ParamsPatch};
use std::process::Command;

fn specgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_specgate"))
}

fn write_wav(path: &std::path::Path, x: &[f32], rate: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    x.iter().for_each(|&v| w.write_sample(v).unwrap());
    w.finalize().unwrap();
}

#[test]
fn an_open_gate_scores_zero_improvement_and_no_musical_noise() {
    // reduction 0 dB: the engine's file output equals its input, so a misaligned harness (or a
    // metric that is not a function of the signals alone) would show up as a non-zero change.
    let flags = ParamsPatch {
        reduction_db: Some(0.0),
        ..Default::default()
    };
    let p = resolve("voice", None, &flags).unwrap();
    let rate = 16_000;
    let clean = Builtin::Speech.generate(rate, 3.0, 1);
    let (r, m, out) = run_case(&p, "speech", &clean, NoiseColour::White, rate, 0.0, 1).unwrap();
    assert_eq!(out.len(), m.noisy.len());
    assert!(r.scores.si_sdr_imp.abs() < 1e-3, "{:?}", r.scores);
    assert!(r.scores.seg_snr_imp.abs() < 1e-3);
    assert!((r.scores.lsd_in - r.scores.lsd_out).abs() < 1e-3);
    assert!(r.scores.musical_noise.unwrap().abs() < 1e-3);
    assert!(
        r.scores.si_sdr_in.abs() < 0.1,
        "input SNR 0 dB: {}",
        r.scores.si_sdr_in
    );
}

#[test]
fn eval_json_reports_every_case_and_the_mean() {
    let out = specgate()
        .args(["eval", "--rate", "8k", "--duration", "2", "--snr", "-5,5"])
        .args(["--noise", "white,ssb", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    assert_eq!(cases[0]["signal"], "speech");
    assert_eq!(cases[0]["rate"], 8000);
    assert_eq!(cases[0]["snr_db"], -5.0);
    assert_eq!(cases[3]["noise"], "ssb");
    let mean: f64 = cases
        .iter()
        .map(|c| c["si_sdr_imp"].as_f64().unwrap())
        .sum::<f64>()
        / 4.0;
    assert!((v["mean"]["si_sdr_imp"].as_f64().unwrap() - mean).abs() < 1e-9);
    assert_eq!(v["preset"], "voice");
}

#[test]
fn eval_scores_a_given_output_against_a_given_mixture() {
    let dir = tempfile::tempdir().unwrap();
    let rate = 8000;
    let clean = Builtin::Speech.generate(rate, 2.0, 3);
    // Noisy = clean + a tone: any known distortion will do.
    let noisy: Vec<f32> = clean
        .iter()
        .enumerate()
        .map(|(i, c)| c + 0.05 * ((i as f32) * 0.37).sin())
        .collect();
    let (c, n, e) = (
        dir.path().join("c.wav"),
        dir.path().join("n.wav"),
        dir.path().join("e.wav"),
    );
    write_wav(&c, &clean, rate);
    write_wav(&n, &noisy, rate);
    write_wav(&e, &noisy, rate); // "output" = input: zero improvement
    let out = specgate()
        .arg("eval")
        .arg("--clean")
        .arg(&c)
        .arg("--noisy")
        .arg(&n)
        .arg("--enhanced")
        .arg(&e)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let case = &v["cases"][0];
    assert_eq!(case["noise"], "given");
    assert_eq!(case["si_sdr_imp"].as_f64().unwrap(), 0.0);
    assert_eq!(
        case["si_sdr_in"].as_f64().unwrap(),
        specgate::eval::metrics::si_sdr(&clean, &noisy)
    );
}

#[test]
fn eval_fails_cleanly_on_a_missing_clean_file_and_a_bad_rate() {
    let out = specgate()
        .args(["eval", "--clean", "/nonexistent/x.wav"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/x.wav"), "{err}");
    let out = specgate()
        .args(["eval", "--rate", "fast"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sample rate"));
}

#[test]
fn demo_writes_noisy_clean_and_filtered_wavs_and_prints_gains_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    let od = dir.path().join("demo");
    let out = specgate()
        .args(["demo", "--rate", "8k", "--out"])
        .arg(&od)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cw") && text.contains("voice") && text.contains("ms"),
        "{text}"
    );
    let mut lens = Vec::new();
    for name in ["noisy.wav", "clean.wav", "filtered.wav"] {
        let r = hound::WavReader::open(od.join(name)).unwrap();
        assert_eq!(r.spec().sample_rate, 8000);
        lens.push(r.len());
    }
    assert!(lens.iter().all(|&l| l == lens[0] && l == 8000 * 20));
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(&od).unwrap().count(), 3);
}
