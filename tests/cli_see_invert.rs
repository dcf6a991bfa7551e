//! End-to-end runs of `specgate spectrogram`, `invert` and `latency`.

use specgate::dsp::griffin_lim::{magnitude, spectral_convergence_db};
use specgate::io::npy::{write_matrix, Matrix};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_specgate"))
}

fn write_wav(path: &Path, rate: u32, channels: u16, data: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for v in data {
        w.write_sample(*v).unwrap();
    }
    w.finalize().unwrap();
}

fn read_wav(path: &Path) -> (u32, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let rate = r.spec().sample_rate;
    (rate, r.samples::<f32>().map(|s| s.unwrap()).collect())
}

/// A 440 Hz tone with harmonics and some noise, 16 kHz.
fn test_signal(n: usize) -> Vec<f32> {
    let mut s = 99u32;
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            let noise = ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.02;
            let t = i as f32 / 16000.0;
            let env = 0.5 + 0.5 * (std::f32::consts::TAU * 3.0 * t).sin();
            env * (0.3 * (std::f32::consts::TAU * 440.0 * t).sin()
                + 0.1 * (std::f32::consts::TAU * 880.0 * t).sin())
                + noise
        })
        .collect()
}

fn png_size(path: &Path) -> (u32, u32) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let r = dec.read_info().unwrap();
    (r.info().width, r.info().height)
}

/// Keeps images for a look when SPECGATE_KEEP_PNG names a directory.
fn keep(path: &Path) {
    if let Ok(dir) = std::env::var("SPECGATE_KEEP_PNG") {
        let _ = std::fs::copy(path, PathBuf::from(dir).join(path.file_name().unwrap()));
    }
}

#[test]
fn spectrogram_writes_a_png_with_the_plot_size_requested() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    write_wav(&wav, 16000, 1, &test_signal(32000));
    let png = dir.path().join("tone.png");
    let out = bin()
        .args([
            "spectrogram",
            wav.to_str().unwrap(),
            "-o",
            png.to_str().unwrap(),
        ])
        .args(["--width", "500", "--height", "200", "--colormap", "viridis"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (w, h) = png_size(&png);
    assert!(w > 500 && w < 900 && h > 200 && h < 400, "{w}×{h}");
    keep(&png);
}

#[test]
fn spectrogram_compare_stacks_input_output_and_mask() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("in.wav"), dir.path().join("out.wav"));
    let x = test_signal(48000);
    let p = specgate::params::resolve("voice", None, &Default::default()).unwrap();
    let mut e = specgate::Engine::new(&p, 16000, 1, specgate::SignalKind::Real).unwrap();
    let y = specgate::stream::process_aligned(&mut e, &x);
    write_wav(&a, 16000, 1, &x);
    write_wav(&b, 16000, 1, &y);
    let png = dir.path().join("compare.png");
    let out = bin()
        .args([
            "spectrogram",
            a.to_str().unwrap(),
            "--compare",
            b.to_str().unwrap(),
        ])
        .args(["-o", png.to_str().unwrap(), "--height", "150"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, h) = png_size(&png);
    assert!(h >= 3 * 150, "three panels expected, height {h}");
    keep(&png);
}

#[test]
fn spectrogram_of_iq_needs_two_channels_and_writes_nothing_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("mono.wav");
    write_wav(&wav, 16000, 1, &test_signal(4000));
    let png = dir.path().join("x.png");
    let out = bin()
        .args([
            "spectrogram",
            wav.to_str().unwrap(),
            "--iq",
            "-o",
            png.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("2-channel"));
    assert!(!png.exists());
}

#[test]
fn invert_rebuilds_audio_from_an_npy_magnitude_spectrogram() {
    let dir = tempfile::tempdir().unwrap();
    let x = test_signal(16000);
    let (bins, frames, s) = magnitude(&x, 512, 128).unwrap();
    let npy = dir.path().join("mag.npy");
    let m = Matrix {
        rows: bins,
        cols: frames,
        data: s.clone(),
    };
    write_matrix(std::fs::File::create(&npy).unwrap(), &m).unwrap();
    let wav = dir.path().join("rebuilt.wav");
    let out = bin()
        .args(["invert", npy.to_str().unwrap(), "-o", wav.to_str().unwrap()])
        .args([
            "--rate",
            "16k",
            "--iterations",
            "40",
            "--report-every",
            "10",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("spectral convergence").count(), 5, "{err}");
    let (rate, y) = read_wav(&wav);
    assert_eq!(rate, 16000);
    assert_eq!(y.len(), 128 * (frames - 1));
    let (_, _, m2) = magnitude(&y, 512, 128).unwrap();
    let sc = spectral_convergence_db(&m2, &s);
    assert!(sc < -15.0, "SC {sc}");
}

#[test]
fn invert_rejects_a_bad_npy_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("ints.npy");
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    let h = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }\n";
    v.extend_from_slice(&(h.len() as u16).to_le_bytes());
    v.extend_from_slice(h.as_bytes());
    v.extend_from_slice(&[0u8; 16]);
    std::fs::write(&npy, v).unwrap();
    let wav = dir.path().join("o.wav");
    let out = bin()
        .args([
            "invert",
            npy.to_str().unwrap(),
            "-o",
            wav.to_str().unwrap(),
            "--rate",
            "8000",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("<i4"));
    assert!(!wav.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "stray files"
    );
}

#[test]
fn invert_refuses_to_overwrite_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a.wav");
    write_wav(&wav, 16000, 1, &test_signal(4000));
    let before = std::fs::read(&wav).unwrap();
    let out = bin()
        .args(["invert", wav.to_str().unwrap(), "-o", wav.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&wav).unwrap(), before);
}

#[test]
fn latency_json_matches_the_engine_for_every_preset() {
    let out = bin()
        .args(["latency", "--all", "--json", "--hops", "20"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), specgate::params::PRESETS.len());
    for r in arr {
        let name = r["preset"].as_str().unwrap();
        let p = specgate::params::resolve(name, None, &Default::default()).unwrap();
        let want = specgate::engine::stft_config(&p, 48000).latency_samples() as u64;
        assert_eq!(
            r["algorithmic_latency_samples"].as_u64(),
            Some(want),
            "{name}"
        );
        assert_eq!(r["impulse_peak_samples"].as_u64(), Some(want), "{name}");
        let ms = r["algorithmic_latency_ms"].as_f64().unwrap();
        assert!((ms - want as f64 / 48.0).abs() < 1e-9, "{name}");
        assert!(r["device_round_trip"].is_null());
    }
    let out = bin()
        .args([
            "latency", "--preset", "cw", "--rate", "8k", "--json", "--hops", "10",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["algorithmic_latency_samples"].as_u64().is_some());
    assert!(v["algorithmic_latency_ms"].as_f64().is_some());
    assert_eq!(v["rate"].as_u64(), Some(8000));
}
