//! The musical-noise fleck count (`eval::metrics::musical_flecks`) tells a raw mask from a
//! smoothed one at equal noise reduction, and the engine's mask smoothing lowers it on speech.

use num_complex::Complex64;
use specgate::eval::metrics::{musical_flecks, Flecks};
use specgate::eval::signals::Rng;
use std::f64::consts::PI;

const RATE: u32 = 16_000;
/// The masks' own STFT (not the metric's): 16 ms sqrt-Hann frames, 50 % hop, WOLA-exact.
const FRAME: usize = 256;
const HOP: usize = FRAME / 2;

fn white(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| (0.1 * r.gauss()) as f32).collect()
}

/// STFT of `x` (one `Vec` of `FRAME/2 + 1` bins per hop).
fn stft(x: &[f32]) -> Vec<Vec<Complex64>> {
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(FRAME);
    let w = window();
    let mut out = Vec::new();
    let mut start = 0;
    while start + FRAME <= x.len() {
        let mut buf: Vec<f64> = (0..FRAME).map(|i| x[start + i] as f64 * w[i]).collect();
        let mut spec = fwd.make_output_vec();
        fwd.process(&mut buf, &mut spec).unwrap();
        out.push(spec);
        start += HOP;
    }
    out
}

fn window() -> Vec<f64> {
    (0..FRAME)
        .map(|i| (PI * i as f64 / FRAME as f64).sin())
        .collect()
}

/// Applies `mask[t][k]` (amplitude gains) to `x` by WOLA.
fn apply(x: &[f32], mask: &[Vec<f64>]) -> Vec<f32> {
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let inv = planner.plan_fft_inverse(FRAME);
    let w = window();
    let mut out = vec![0.0f64; x.len()];
    for (t, (mut spec, m)) in stft(x).into_iter().zip(mask).enumerate() {
        for (c, g) in spec.iter_mut().zip(m) {
            *c *= *g;
        }
        let last = spec.len() - 1;
        spec[0].im = 0.0;
        spec[last].im = 0.0;
        let mut buf = inv.make_output_vec();
        inv.process(&mut spec, &mut buf).unwrap();
        for i in 0..FRAME {
            out[t * HOP + i] += buf[i] * w[i] / FRAME as f64;
        }
    }
    out.iter().map(|&v| v as f32).collect()
}

fn power(x: &[f32]) -> f64 {
    x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64
}

/// `x` scaled to mean power `p`.
fn scaled_to(x: &[f32], p: f64) -> Vec<f32> {
    let g = (p / power(x)).sqrt() as f32;
    x.iter().map(|v| v * g).collect()
}

fn flecks_of(noise: &[f32], out: &[f32]) -> Flecks {
    let clean = vec![0.0f32; noise.len()];
    musical_flecks(&clean, noise, out, RATE).expect("noise-only signal has noise-only frames")
}

#[test]
fn a_raw_threshold_mask_makes_many_flecks_and_the_same_mask_smoothed_few_at_equal_noise_reduction()
{
    let noise = white(RATE as usize * 4, 7);
    let spec = stft(&noise);
    let mean: f64 = spec.iter().flatten().map(|c| c.norm_sqr()).sum::<f64>()
        / spec.iter().map(|s| s.len()).sum::<usize>() as f64;
    let floor = 0.1; // 20 dB of reduction
                     // Raw: every cell that happens to exceed 4× the mean noise power opens (≈ 2 % of cells).
    let raw: Vec<Vec<f64>> = spec
        .iter()
        .map(|s| {
            s.iter()
                .map(|c| {
                    if c.norm_sqr() > 4.0 * mean {
                        1.0
                    } else {
                        floor
                    }
                })
                .collect()
        })
        .collect();
    // Smoothed: the same decisions averaged over ±3 frames and ±3 bins, then scaled so the output
    // has the raw mask's noise power (equal noise reduction).
    let (nt, nk) = (raw.len(), raw[0].len());
    let smooth: Vec<Vec<f64>> = (0..nt)
        .map(|t| {
            (0..nk)
                .map(|k| {
                    let (t0, t1) = (t.saturating_sub(3), (t + 3).min(nt - 1));
                    let (k0, k1) = (k.saturating_sub(3), (k + 3).min(nk - 1));
                    let acc: f64 = raw[t0..=t1]
                        .iter()
                        .map(|row| row[k0..=k1].iter().sum::<f64>())
                        .sum();
                    acc / ((t1 - t0 + 1) * (k1 - k0 + 1)) as f64
                })
                .collect()
        })
        .collect();
    let out_raw = apply(&noise, &raw);
    let target = power(&out_raw);
    let out_smooth = scaled_to(&apply(&noise, &smooth), target);
    let fr = flecks_of(&noise, &out_raw);
    let fs = flecks_of(&noise, &out_smooth);
    let fo = flecks_of(&noise, &noise);
    // The noise itself (and an identity mask) almost never has a fleck.
    assert!(fo.input < 1.0 && fo.output == fo.input, "{fo:?}");
    assert!(fo.noise_reduction_db.abs() < 1e-9, "{fo:?}");
    // Equal noise reduction (within 1 dB), very different fleck counts.
    assert!(
        (fr.noise_reduction_db - fs.noise_reduction_db).abs() < 1.0,
        "raw {fr:?} smoothed {fs:?}"
    );
    assert!(fr.noise_reduction_db > 6.0, "{fr:?}");
    assert!(fr.output > 10.0, "raw mask: {fr:?}");
    assert!(fr.output > 5.0 * fs.output, "raw {fr:?} smoothed {fs:?}");
    // A uniform gain at the same reduction has the noise's own count.
    let fu = flecks_of(&noise, &scaled_to(&noise, target));
    assert!(
        (fu.output - fu.input).abs() < 1e-9
            && (fu.noise_reduction_db - fr.noise_reduction_db).abs() < 1.0,
        "{fu:?} vs {fr:?}"
    );
}

#[test]
fn flecks_are_not_scored_without_noise_only_frames() {
    let n = RATE as usize * 2;
    let tone: Vec<f32> = (0..n).map(|i| (i as f32 * 0.2).sin()).collect();
    let noise = white(n, 3);
    let noisy: Vec<f32> = tone.iter().zip(&noise).map(|(a, b)| a + b).collect();
    assert_eq!(musical_flecks(&tone, &noisy, &tone, RATE), None);
}
