//! `specgate run` / `specgate devices` from the outside, without an audio server: pipes,
//! WAV recording, and clear errors for bad device names and addresses.

use std::io::Write;
use std::process::{Command, Stdio};

fn specgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_specgate"))
}

#[test]
fn raw_stdin_to_wav_records_the_whole_input_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.wav");
    let mut child = specgate()
        .args(["run", "-i", "-", "-o", out.to_str().unwrap(), "-q"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // One second of a 440 Hz sine, s16le mono 48 kHz (the raw default).
    let pcm: Vec<u8> = (0..48_000)
        .flat_map(|i| {
            let v = (0.25 * (std::f64::consts::TAU * 440.0 * i as f64 / 48_000.0).sin() * 32767.0)
                as i16;
            v.to_le_bytes()
        })
        .collect();
    child.stdin.take().unwrap().write_all(&pcm).unwrap();
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(err.contains("latency budget:"), "{err}");
    let r = hound::WavReader::open(&out).unwrap();
    let spec = r.spec();
    assert_eq!((spec.channels, spec.sample_rate), (1, 48_000));
    let x: Vec<f32> = r.into_samples::<f32>().map(|s| s.unwrap()).collect();
    // The input plus the flush tail (latency + cushion + 0.1 s), give or take scheduling.
    let secs = x.len() as f64 / 48_000.0;
    assert!((1.0..1.6).contains(&secs), "recorded {secs} s");
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak > 0.05, "nothing came through (peak {peak})");
    // Only the finished file is left (written to a temporary, then renamed).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn an_unknown_device_is_an_error_that_lists_the_candidates() {
    let res = specgate()
        .args(["run", "-i", "no-such-device-xyz", "-o", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success());
    assert!(
        err.contains("no input device matches 'no-such-device-xyz'"),
        "{err}"
    );
    assert!(err.contains("available:"), "{err}");
}

#[test]
fn a_bad_udp_address_and_a_bad_channel_are_clear_errors() {
    let res = specgate()
        .args(["run", "-i", "udp:not-a-port", "-o", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("is not a UDP address"));
    let res = specgate()
        .args(["run", "--channel", "0", "-i", "-", "-o", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("--channel"));
}

#[test]
fn devices_lists_at_least_one_host() {
    let res = specgate().arg("devices").output().unwrap();
    assert!(res.status.success());
    assert!(String::from_utf8_lossy(&res.stdout).starts_with("host "));
}
