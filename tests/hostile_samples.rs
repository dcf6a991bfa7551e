//! Non-finite and absurd samples through `specgate filter`: the output holds no NaN/Inf, equals
//! the output for the file without the bad sample (within 0.1 dB in every 1024-sample segment),
//! and the run ends with a warning that counts them. Float WAV audio and cf32 I/Q.

mod common;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_specgate");

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Noise plus a keyed tone.
fn signal(n: usize, seed: u64) -> Vec<f32> {
    common::keyed_tone_in_noise(n, seed, 0.1)
}

fn write_f32_wav(path: &Path, x: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for v in x {
        w.write_sample(*v).unwrap();
    }
    w.finalize().unwrap();
}

fn read_f32_wav(path: &Path) -> Vec<f32> {
    hound::WavReader::open(path)
        .unwrap()
        .into_samples::<f32>()
        .map(Result::unwrap)
        .collect()
}

fn write_cf32(path: &Path, x: &[f32]) {
    let b: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, b).unwrap();
}

fn read_cf32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn filter(args: &[&str]) -> String {
    let o = Command::new(BIN).arg("filter").args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{args:?}: {err}");
    err
}

/// Largest level difference over 1024-sample segments, dB.
fn worst_segment_db(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.chunks(1024)
        .zip(b.chunks(1024))
        .map(|(x, y)| {
            let e = |s: &[f32]| s.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() + 1e-12;
            (10.0 * (e(x) / e(y)).log10()).abs()
        })
        .fold(0.0, f64::max)
}

#[test]
fn one_huge_sample_in_a_float_wav_is_contained_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clean = signal(96_000, 5);
    for bad in [3.4e38f32, -3.0e38, 1.0e20, f32::NAN] {
        let at = 40_000;
        let mut hit = clean.clone();
        hit[at] = bad;
        let mut zero = clean.clone();
        zero[at] = 0.0;
        let (hi, zi) = (dir.path().join("hit.wav"), dir.path().join("zero.wav"));
        let (ho, zo) = (
            dir.path().join("hit-out.wav"),
            dir.path().join("zero-out.wav"),
        );
        write_f32_wav(&hi, &hit);
        write_f32_wav(&zi, &zero);
        let err = filter(&[p(&hi), "-o", p(&ho)]);
        filter(&[p(&zi), "-o", p(&zo)]);
        let want = if bad.is_finite() {
            "0 NaN/Inf and 1 absurd"
        } else {
            "1 NaN/Inf and 0 absurd"
        };
        assert!(err.contains(want), "{bad}: {err}");
        let (y, z) = (read_f32_wav(&ho), read_f32_wav(&zo));
        assert!(y.iter().all(|v| v.is_finite()), "{bad}: non-finite output");
        let d = worst_segment_db(&y, &z);
        assert!(d <= 0.1, "{bad}: a segment differs by {d} dB");
    }
}

#[test]
fn one_huge_sample_in_cf32_iq_is_contained_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clean = signal(2 * 200_000, 9);
    for (bad, q) in [(1.0e20f32, false), (3.0e38, true), (f32::INFINITY, false)] {
        let at = 2 * 90_000 + usize::from(q);
        let mut hit = clean.clone();
        hit[at] = bad;
        // The file without it: the complex sample silenced.
        let mut zero = clean.clone();
        zero[at - usize::from(q)] = 0.0;
        zero[at - usize::from(q) + 1] = 0.0;
        let (hi, zi) = (dir.path().join("hit.cf32"), dir.path().join("zero.cf32"));
        let (ho, zo) = (
            dir.path().join("hit-out.cf32"),
            dir.path().join("zero-out.cf32"),
        );
        write_cf32(&hi, &hit);
        write_cf32(&zi, &zero);
        let err = filter(&[p(&hi), "--rate", "2M", "-o", p(&ho)]);
        filter(&[p(&zi), "--rate", "2M", "-o", p(&zo)]);
        let want = if bad.is_finite() {
            "0 NaN/Inf and 1 absurd"
        } else {
            "1 NaN/Inf and 0 absurd"
        };
        assert!(err.contains(want), "{bad}: {err}");
        let (y, z) = (read_cf32(&ho), read_cf32(&zo));
        assert!(y.iter().all(|v| v.is_finite()), "{bad}: non-finite output");
        let d = worst_segment_db(&y, &z);
        assert!(d <= 0.1, "{bad}: a segment differs by {d} dB");
    }
}
