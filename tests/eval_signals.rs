//! The synthetic test signals have the properties the evaluation relies on.

use specgate::eval::signals::*;
use specgate::eval::{mix, Builtin};

/// Mean power per FFT bin of the whole clip in [lo, hi) Hz.
fn band_power(x: &[f32], rate: u32, lo: f64, hi: f64) -> f64 {
    let n = x.len();
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let mut buf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let mut spec = fft.make_output_vec();
    fft.process(&mut buf, &mut spec).unwrap();
    let (mut s, mut c) = (0.0, 0usize);
    for (k, v) in spec.iter().enumerate() {
        let f = k as f64 * rate as f64 / n as f64;
        if f >= lo && f < hi {
            s += v.norm_sqr();
            c += 1;
        }
    }
    s / c as f64
}

fn db(x: f64) -> f64 {
    10.0 * x.log10()
}

#[test]
fn mixing_sets_the_full_band_snr_exactly() {
    let rate = 16_000;
    let clean = Builtin::Speech.generate(rate, 3.0, 5);
    for snr in [-5.0, 0.0, 7.5] {
        let n = noise(NoiseColour::Pink, rate, clean.len(), 9);
        let (noisy, scaled) = mix_at_snr(&clean, &n, snr);
        let pc: f64 = clean.iter().map(|&v| (v as f64).powi(2)).sum();
        let pn: f64 = scaled.iter().map(|&v| (v as f64).powi(2)).sum();
        assert!((db(pc / pn) - snr).abs() < 1e-4);
        assert!((noisy[100] - clean[100] - scaled[100]).abs() < 1e-7);
        // The harness mixes the same way and its noise clip has the mixture's noise level.
        let m = mix(&clean, NoiseColour::White, rate, snr, 1);
        let mn: Vec<f32> = m.noisy.iter().zip(&m.clean).map(|(a, b)| a - b).collect();
        let pmn: f64 = mn.iter().map(|&v| (v as f64).powi(2)).sum();
        assert!((db(pc / pmn) - snr).abs() < 1e-3);
        assert!((rms(&m.noise_clip) / rms(&mn) - 1.0).abs() < 0.05);
    }
}

#[test]
fn noise_colours_have_their_spectral_slopes() {
    // Per-bin power of 1/f^k noise over [1k, 2k) vs [4k, 8k): 0, 6.02, 12.04 dB on average.
    let rate = 32_000;
    let n = rate as usize * 4;
    for (c, want) in [
        (NoiseColour::White, 0.0),
        (NoiseColour::Pink, 6.0206),
        (NoiseColour::Brown, 12.0412),
    ] {
        let x = noise(c, rate, n, 1);
        assert!((rms(&x) - 1.0).abs() < 1e-4);
        let d = db(band_power(&x, rate, 1000.0, 2000.0) / band_power(&x, rate, 4000.0, 8000.0));
        // The mean-of-1/f over each band is not exactly the band-centre value: 6.02·k·… within
        // 0.3 dB, plus sampling noise of ~0.1 dB with 16 000 bins per band.
        assert!((d - want).abs() < 0.5, "{c:?}: {d} dB, want {want}");
    }
}

#[test]
fn pink_noise_reaches_down_into_the_infrasound() {
    // 1/f from the clip's lowest frequency (0.1 Hz in 10 s) up to 4 kHz: the share below 20 Hz is
    // about ln(200)/ln(40 000) ≈ 0.52 (flat below 20 Hz it was 1/(1 + ln 200) ≈ 0.16).
    let rate = 8_000;
    let x = noise(NoiseColour::Pink, rate, rate as usize * 10, 3);
    // band_power is the mean per bin: 200 bins of 0.1 Hz below 20 Hz, 40 000 below 4 kHz.
    let share =
        200.0 * band_power(&x, rate, 0.0, 20.0) / (40_000.0 * band_power(&x, rate, 0.0, 4000.0));
    assert!((0.35..0.7).contains(&share), "share below 20 Hz: {share}");
}

#[test]
fn ssb_noise_stays_inside_300_to_2700_hz() {
    let rate = 8_000;
    let x = noise(NoiseColour::Ssb, rate, rate as usize * 4, 2);
    let inside = band_power(&x, rate, 400.0, 2600.0);
    assert!(db(band_power(&x, rate, 0.0, 270.0) / inside) < -60.0);
    assert!(db(band_power(&x, rate, 2730.0, 4000.0) / inside) < -60.0);
}

#[test]
fn paris_is_fifty_dits_long() {
    // The standard word for wpm: "PARIS " = 50 dit units including the word gap.
    let (on, total) = morse_timing("PARIS");
    assert_eq!(total, 50);
    // P = .--. : dit at 0, dah at 2, dah at 6, dit at 10.
    assert_eq!(&on[..4], &[(0, 1), (2, 5), (6, 9), (10, 11)]);
}

#[test]
fn morse_is_a_keyed_tone_with_5_ms_raised_cosine_edges() {
    let rate = 48_000;
    let wpm = 20.0;
    let x = morse(rate, 3.0, "E", wpm, 600.0, 0.5, 0.5);
    let dit = 1.2 / wpm;
    let on = (0.5 * rate as f64) as usize;
    let off = ((0.5 + dit) * rate as f64) as usize;
    let edge = (KEY_EDGE_S * rate as f64) as usize;
    assert!(x[..on].iter().all(|&v| v == 0.0));
    // Envelope by the analytic tone: halfway up the edge the envelope is 0.5.
    let k = on + edge / 2;
    let tone = (2.0 * std::f64::consts::PI * 600.0 * k as f64 / rate as f64).sin();
    assert!((x[k] as f64 - 0.5 * 0.5 * tone).abs() < 0.01);
    // Full amplitude in the middle of the dit, silence after key-up + edge, until the repeat.
    let mid = &x[on + 2 * edge..off - edge];
    let peak = mid.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
    assert!((peak - 0.5).abs() < 1e-3);
    assert!(x[off + edge + 1..off + edge + 100]
        .iter()
        .all(|&v| v == 0.0));
    assert!(band_power(&x, rate, 590.0, 610.0) > 1e4 * band_power(&x, rate, 1000.0, 2000.0));
}

#[test]
fn speech_like_signal_is_deterministic_voiced_in_range_and_has_pauses() {
    for rate in [8_000u32, 16_000, 48_000] {
        let a = speech_like(rate, 6.0, 4);
        assert_eq!(a, speech_like(rate, 6.0, 4));
        assert_ne!(a, speech_like(rate, 6.0, 5));
        assert!(a.iter().all(|v| v.is_finite()));
        assert!((rms(&a) - 0.1).abs() < 1e-4);
        // Pauses: 20 ms frames more than 50 dB under the loudest one.
        let f = rate as usize / 50;
        let e: Vec<f64> = a
            .chunks_exact(f)
            .map(|c| c.iter().map(|&v| (v as f64).powi(2)).sum())
            .collect();
        let top = e.iter().cloned().fold(0.0, f64::max);
        let quiet = e.iter().filter(|&&v| v < top * 1e-5).count() as f64 / e.len() as f64;
        assert!(quiet > 0.1 && quiet < 0.6, "{rate}: quiet fraction {quiet}");
        // Voiced: the autocorrelation of the loudest frames peaks at a lag of 1/220–1/90 s.
        let mut idx: Vec<usize> = (0..e.len()).collect();
        idx.sort_by(|&i, &j| e[j].partial_cmp(&e[i]).unwrap());
        let w = (0.04 * rate as f64) as usize;
        let (lo, hi) = (rate as usize / 230, rate as usize / 85);
        for &i in idx.iter().take(5) {
            let s = &a[(i * f).saturating_sub(w / 2)..][..w];
            let ac = |lag: usize| -> f64 {
                s.iter()
                    .zip(&s[lag..])
                    .map(|(&p, &q)| p as f64 * q as f64)
                    .sum()
            };
            let best = (lo..=hi).max_by(|&l, &m| ac(l).partial_cmp(&ac(m)).unwrap());
            let f0 = rate as f64 / best.unwrap() as f64;
            assert!((88.0..=225.0).contains(&f0), "{rate}: f0 {f0}");
            assert!(
                ac(best.unwrap()) > 0.3 * ac(0),
                "{rate}: not periodic: {} f0 {f0} frame {i}",
                ac(best.unwrap()) / ac(0)
            );
        }
    }
}

#[test]
fn hum_has_its_mains_fundamental_and_harmonics() {
    let rate = 8_000;
    let h = hum(rate, rate as usize * 2, 60.0, 0.01);
    assert!((rms(&h) - 0.01).abs() < 1e-5);
    let floor = band_power(&h, rate, 400.0, 410.0);
    for f in [60.0, 180.0, 300.0] {
        assert!(band_power(&h, rate, f - 1.0, f + 1.0) > 1e6 * floor.max(1e-30));
    }
}

#[test]
fn music_signal_is_harmonic_and_band_limited() {
    let rate = 48_000;
    let m = am_music(rate, 4.0, 3);
    assert!((rms(&m) - 0.1).abs() < 1e-4);
    assert!(
        db(band_power(&m, rate, 5000.0, 20000.0) / band_power(&m, rate, 100.0, 2000.0)) < -80.0
    );
}

#[test]
fn the_sdruno_test_recording_is_an_iq_wav_with_carriers_at_plus_an_eighth_and_minus_three_eighths()
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("SDRuno_20240101_000000Z_7150kHz.wav");
    let (rate, frames) = (48_000u32, 4096u64);
    write_sdruno_test_recording(&path, rate, frames).unwrap();
    let src = specgate::stream::open(
        specgate::stream::InputSpec::from_path(&path),
        &Default::default(),
    )
    .unwrap();
    let p = src.info();
    assert!(p.is_iq(), "{}", p.kind_reason);
    assert_eq!((p.rate, p.channels, p.frames), (rate, 2, Some(frames)));
    // The data chunk is last in the file: its final frames·4 bytes are the samples. Look
    // at the two-sided spectrum: energy at +fs/8 and −3fs/8, not at their mirror images.
    let bytes = std::fs::read(&path).unwrap();
    let data = &bytes[bytes.len() - frames as usize * 4..];
    let x: Vec<num_complex::Complex<f64>> = data
        .chunks_exact(4)
        .map(|c| {
            let i = i16::from_le_bytes([c[0], c[1]]) as f64;
            let q = i16::from_le_bytes([c[2], c[3]]) as f64;
            num_complex::Complex::new(i, q)
        })
        .collect();
    let n = x.len();
    let mut buf = x.clone();
    rustfft::FftPlanner::new()
        .plan_fft_forward(n)
        .process(&mut buf);
    let p_at = |k: usize| buf[k % n].norm_sqr();
    let (plus, minus) = (n / 8, n - 3 * n / 8);
    assert!(
        p_at(plus) > 100.0 * p_at(n - n / 8),
        "+fs/8 is not distinct from −fs/8"
    );
    assert!(
        p_at(minus) > 100.0 * p_at(3 * n / 8),
        "−3fs/8 is not distinct from +3fs/8"
    );
}
