//! The quality metrics against analytic cases and against an independent numpy implementation
//! (`tools/eval_fixtures.py`, which builds the same deterministic signals from the same formulas).

use specgate::eval::metrics::*;
use specgate::eval::signals::Rng;
use std::f64::consts::PI;

const RATE: u32 = 8000;
const N: usize = 4000;

/// Numerical Recipes LCG, in [-0.5, 0.5) — the same sequence as `lcg_noise` in the fixture script.
fn lcg_noise(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = (1664525 * x + 1013904223) % (1 << 32);
            x as f64 / 4294967296.0 - 0.5
        })
        .collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// `signals()` of the fixture script.
fn fixture_signals() -> (Vec<f32>, Vec<f32>) {
    let u = lcg_noise(N, 12345);
    let mut r = Vec::new();
    let mut e = Vec::new();
    for (i, ui) in u.iter().enumerate() {
        let t = i as f64 / RATE as f64;
        let rf = (2.0 * PI * 440.0 * t).sin() * (0.5 + 0.5 * (2.0 * PI * 3.0 * t).sin())
            + 0.3 * (2.0 * PI * 1250.0 * t + 0.7).sin()
            + 0.1;
        let ef = 0.7 * rf
            + 0.2 * (2.0 * PI * 2100.0 * t + 1.1).sin()
            + 0.05 * (2.0 * PI * 60.0 * t).cos()
            + 0.3 * ui;
        r.push(rf);
        e.push(ef);
    }
    (to_f32(&r), to_f32(&e))
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn si_sdr_matches_numpy_on_the_fixture() {
    let (r, e) = fixture_signals();
    let v = si_sdr(&r, &e);
    assert!(close(v, 6.901937148806088, 1e-4), "{v}");
}

#[test]
fn segmental_snr_matches_numpy_on_the_fixture() {
    let (r, e) = fixture_signals();
    let v = segmental_snr(&r, &e, RATE);
    assert!(close(v, 6.350985603465427, 1e-4), "{v}");
}

#[test]
fn log_spectral_distance_matches_numpy_on_the_fixture() {
    let (r, e) = fixture_signals();
    let v = log_spectral_distance(&r, &e, RATE);
    assert!(close(v, 20.86338484973587, 1e-3), "{v}");
}

#[test]
fn log_kurtosis_ratio_matches_numpy_on_the_fixture() {
    // `lkr_signals()` of the fixture script: 22 noise-only frames, expected 0.3337234673667148.
    let u = lcg_noise(N, 777);
    let (mut c, mut x, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for (i, ui) in u.iter().enumerate() {
        let t = i as f64 / RATE as f64;
        let cl = if (0.1..0.2).contains(&t) {
            0.5 * (2.0 * PI * 500.0 * t).sin()
        } else {
            0.0
        };
        let g = 0.05 + 0.03 * (2.0 * PI * 2.0 * t).sin();
        let burst = if (2.0 * PI * 7.0 * t).sin() > 0.6 {
            1.0
        } else {
            0.0
        };
        c.push(cl);
        x.push(cl + 0.1 * ui);
        y.push(cl + g * ui + 0.02 * burst * (2.0 * PI * 1777.0 * t).sin());
    }
    // The fixture rounds each signal to f32 before differencing, as we do.
    let v = log_kurtosis_ratio(&to_f32(&c), &to_f32(&x), &to_f32(&y), RATE).unwrap();
    assert!(close(v, 0.3337234673667148, 1e-3), "{v}");
}

#[test]
fn si_sdr_of_a_scaled_reference_plus_orthogonal_error_is_the_amplitude_ratio() {
    // Over whole periods sin and cos are orthogonal and zero-mean: SI-SDR = 20·log10(a/b).
    let n = 1000;
    let (a, b) = (0.8, 0.1);
    let s: Vec<f32> = (0..n)
        .map(|i| (2.0 * PI * 5.0 * i as f64 / n as f64).sin() as f32)
        .collect();
    let e: Vec<f32> = (0..n)
        .map(|i| {
            let p = 2.0 * PI * 5.0 * i as f64 / n as f64;
            (a * p.sin() + b * p.cos()) as f32
        })
        .collect();
    let want = 20.0 * (a / b).log10();
    assert!(close(si_sdr(&s, &e), want, 1e-4), "{}", si_sdr(&s, &e));
    // Scale and DC offset of the estimate do not change it.
    let e2: Vec<f32> = e.iter().map(|v| 3.0 * v + 0.25).collect();
    assert!(close(si_sdr(&s, &e2), want, 1e-4));
    assert!(close(si_sdr_improvement(&s, &e, &e2), 0.0, 1e-4));
}

#[test]
fn segmental_snr_clamps_each_frame_to_minus_10_and_35_db() {
    let s: Vec<f32> = (0..1600).map(|i| ((i as f32) * 0.1).sin()).collect();
    // Exact copy: every frame has no error → 35 dB.
    assert_eq!(segmental_snr(&s, &s, RATE), SEG_SNR_MAX_DB);
    // A 1 % amplitude error: 40 dB per frame, clamped to 35.
    let e: Vec<f32> = s.iter().map(|v| v * 1.01).collect();
    assert!(close(segmental_snr(&s, &e, RATE), 35.0, 1e-9));
    // A 10 % error: exactly 20 dB in every frame.
    let e: Vec<f32> = s.iter().map(|v| v * 1.1).collect();
    assert!(close(segmental_snr(&s, &e, RATE), 20.0, 1e-4));
    // Error 100× the signal: −40 dB, clamped to −10.
    let e: Vec<f32> = s.iter().map(|v| v * 101.0).collect();
    assert!(close(segmental_snr(&s, &e, RATE), -10.0, 1e-9));
}

#[test]
fn log_spectral_distance_of_a_gain_is_its_level_in_db() {
    // LCG noise (seed 99) has no bin floored (fixture: min/peak 5.6e-5), so ×2 and ×½ move every
    // bin by exactly 6.02 dB.
    let u = to_f32(&lcg_noise(N, 99));
    let up: Vec<f32> = u.iter().map(|v| v * 2.0).collect();
    let down: Vec<f32> = u.iter().map(|v| v * 0.5).collect();
    let want = 20.0 * 2f64.log10();
    assert!(close(log_spectral_distance(&u, &up, RATE), want, 1e-4));
    assert!(close(log_spectral_distance(&u, &down, RATE), want, 1e-4));
    assert_eq!(log_spectral_distance(&u, &u, RATE), 0.0);
}

#[test]
fn raw_kurtosis_of_exponential_power_is_6_and_masking_raises_it_to_6_over_p() {
    // Power of a complex Gaussian bin is exponential: E[x⁴]/E[x²]² = 24/4 = 6. Keeping each value
    // with probability p (isolated surviving peaks = musical noise) gives 6/p.
    let mut r = Rng::new(7);
    let n = 400_000;
    let x: Vec<f64> = (0..n).map(|_| -(1.0 - r.uniform()).ln()).collect();
    let k = raw_kurtosis(x.iter().cloned());
    assert!(close(k, 6.0, 0.3), "{k}");
    let p = 0.1;
    let masked: Vec<f64> = x
        .iter()
        .map(|&v| if r.uniform() < p { v } else { 0.0 })
        .collect();
    let km = raw_kurtosis(masked.iter().cloned());
    assert!(close((km / k).ln(), (1.0 / p).ln(), 0.15), "{km}");
}

#[test]
fn uniform_attenuation_of_the_noise_scores_no_musical_noise() {
    let rate = 16_000;
    let mut r = Rng::new(3);
    let n = rate as usize * 3;
    // Clean: a tone in the middle second; noise everywhere.
    let clean: Vec<f32> = (0..n)
        .map(|i| {
            if (rate as usize..2 * rate as usize).contains(&i) {
                (0.3 * (2.0 * PI * 440.0 * i as f64 / rate as f64).sin()) as f32
            } else {
                0.0
            }
        })
        .collect();
    let noise: Vec<f32> = (0..n).map(|_| (0.1 * r.gauss()) as f32).collect();
    let noisy: Vec<f32> = clean.iter().zip(&noise).map(|(c, v)| c + v).collect();
    let enhanced: Vec<f32> = clean.iter().zip(&noise).map(|(c, v)| c + 0.1 * v).collect();
    let lkr = log_kurtosis_ratio(&clean, &noisy, &enhanced, rate).unwrap();
    assert!(lkr.abs() < 1e-3, "{lkr}");
    // No noise-only frames at all → no score.
    let tone: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.2).sin()).collect();
    let tn: Vec<f32> = tone.iter().zip(&noise).map(|(c, v)| c + v).collect();
    assert_eq!(log_kurtosis_ratio(&tone, &tn, &tone, rate), None);
}

#[test]
fn isolated_surviving_spectral_peaks_score_as_musical_noise() {
    // A spectral gate at its worst: the noise keeps only the bins that happen to exceed 3× their
    // mean (e^-3 ≈ 5 % of the time-frequency points) — classic musical noise. Built by STFT
    // masking with the metric's own frame so the survivors stay isolated.
    let rate = 16_000u32;
    let n = rate as usize * 4;
    let mut r = Rng::new(11);
    let noise: Vec<f32> = (0..n).map(|_| (0.1 * r.gauss()) as f32).collect();
    let frame = analysis_frame(rate);
    let hop = frame / 2;
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(frame);
    let inv = planner.plan_fft_inverse(frame);
    let w: Vec<f64> = (0..frame)
        .map(|i| (PI * i as f64 / frame as f64).sin()) // sqrt-Hann: WOLA-exact at 50 %
        .collect();
    let mut out = vec![0.0f64; n];
    let mut start = 0;
    while start + frame <= n {
        let mut buf: Vec<f64> = (0..frame).map(|i| noise[start + i] as f64 * w[i]).collect();
        let mut spec = fwd.make_output_vec();
        fwd.process(&mut buf, &mut spec).unwrap();
        let mean = spec.iter().map(|c| c.norm_sqr()).sum::<f64>() / spec.len() as f64;
        for c in spec.iter_mut() {
            if c.norm_sqr() < 3.0 * mean {
                *c = num_complex::Complex64::new(0.0, 0.0);
            }
        }
        spec[0].im = 0.0;
        let last = spec.len() - 1;
        spec[last].im = 0.0;
        let mut t = inv.make_output_vec();
        inv.process(&mut spec, &mut t).unwrap();
        for i in 0..frame {
            out[start + i] += t[i] * w[i] / frame as f64;
        }
        start += hop;
    }
    let clean = vec![0.0f32; n];
    let enhanced: Vec<f32> = out.iter().map(|&v| v as f32).collect();
    let lkr = log_kurtosis_ratio(&clean, &noise, &enhanced, rate).unwrap();
    assert!(lkr > 1.0, "{lkr}");
}

/// `stoi_signals(rate)` of the fixture script.
fn stoi_signals(rate: u32) -> (Vec<f32>, Vec<f32>) {
    let n = (rate as f64 * 3.0) as usize;
    let u = lcg_noise(n, 4242);
    let fs = rate as f64;
    let mut cum = 0.0f64;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (i, ui) in u.iter().enumerate() {
        let t = i as f64 / fs;
        let env = (2.0 * PI * 2.5 * t).sin().max(0.0).powi(2);
        cum += 120.0 + 20.0 * (2.0 * PI * 0.5 * t).sin();
        let ph = 2.0 * PI * cum / fs;
        let mut s = 0.0;
        for k in 1..20 {
            if 120.0 * k as f64 >= 0.45 * fs {
                continue;
            }
            s += (k as f64 * ph).sin() / k as f64;
        }
        let xv = env * s;
        let tone = if t > 1.5 {
            0.5 * (2.0 * PI * 1000.0 * t).sin()
        } else {
            0.0
        };
        x.push(xv);
        y.push(xv + 0.3 * ui + tone);
    }
    (to_f32(&x), to_f32(&y))
}

#[test]
fn stoi_matches_pystoi_at_10_khz_and_through_its_resampler_at_16_khz() {
    for (rate, want) in [
        (10_000u32, 0.9001652925283629),
        (16_000, 0.9005564383192349),
    ] {
        let (x, y) = stoi_signals(rate);
        let v = stoi(&x, &y, rate).unwrap();
        assert!(close(v, want, 1e-4), "{rate}: {v} vs pystoi {want}");
    }
}

#[test]
fn stoi_of_a_signal_with_itself_is_one() {
    let (x, _) = stoi_signals(10_000);
    assert!(close(stoi(&x, &x, 10_000).unwrap(), 1.0, 1e-9));
}
