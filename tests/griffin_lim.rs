//! Fast Griffin-Lim on synthetic signals (CI-safe: no espeak, no Python).

use specgate::dsp::griffin_lim::{
    griffin_lim, magnitude, spectral_convergence_db, GriffinLimConfig, Init,
};
use std::f32::consts::TAU;

/// A speech-like signal at 16 kHz: a glottal pulse train (f0 gliding 110→160 Hz, harmonics
/// falling at −12 dB/octave) through three formant resonators that move between two vowels,
/// under a syllable envelope (4 syllables/s) with pauses, plus faint breath noise.
fn speech_like(seconds: f32) -> Vec<f32> {
    let rate = 16_000.0;
    let n = (seconds * rate) as usize;
    let mut phase = 0.0f32;
    let mut out = Vec::with_capacity(n);
    // Resonator states (two-pole) per formant.
    let mut st = [[0.0f32; 2]; 3];
    let mut seed = 12345u32;
    for i in 0..n {
        let t = i as f32 / rate;
        let f0 = 110.0 + 50.0 * (t / seconds);
        phase += f0 / rate;
        if phase >= 1.0 {
            phase -= 1.0;
        }
        // Derivative-of-glottal-flow-like source: a sawtooth (−6 dB/oct) integrated once more
        // by the resonators' skirts.
        let src = 2.0 * phase - 1.0;
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        let breath = ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.02;
        let vowel = 0.5 + 0.5 * (TAU * 1.3 * t).sin(); // /a/ ↔ /i/
        let formants = [
            (700.0 + (300.0 - 700.0) * vowel, 80.0),
            (1200.0 + (2300.0 - 1200.0) * vowel, 100.0),
            (2600.0 + (3000.0 - 2600.0) * vowel, 150.0),
        ];
        let mut y = 0.0;
        for (k, (fc, bw)) in formants.iter().enumerate() {
            let r = (-std::f32::consts::PI * bw / rate).exp();
            let a1 = 2.0 * r * (TAU * fc / rate).cos();
            let a2 = -r * r;
            let v = (1.0 - r) * (src + breath) + a1 * st[k][0] + a2 * st[k][1];
            st[k][1] = st[k][0];
            st[k][0] = v;
            y += v / (k as f32 + 1.0);
        }
        let syl = (TAU * 2.0 * t).sin().max(0.0).powf(0.7); // 4 syllables/s, silent halves
        out.push(0.3 * y * syl + breath * 0.05);
    }
    out
}

fn config(iterations: usize) -> GriffinLimConfig {
    GriffinLimConfig {
        n_fft: 512,
        hop: 128,
        iterations,
        momentum: 0.99,
        init: Init::Random { seed: 7 },
        length: None,
    }
}

#[test]
fn spectral_convergence_improves_with_iterations_and_reaches_minus_23_db_in_32_iterations_on_speech_like_audio(
) {
    let x = speech_like(2.0);
    let (bins, _, s) = magnitude(&x, 512, 128).unwrap();
    let mut reported = Vec::new();
    let r = griffin_lim(&s, bins, &config(32), 4, |i, sc| reported.push((i, sc))).unwrap();
    assert_eq!(reported.len(), 8);
    // Monotone within a small tolerance every 4 iterations, and a large overall gain.
    for w in reported.windows(2) {
        assert!(w[1].1 < w[0].1 + 0.5, "SC rose: {reported:?}");
    }
    let first = reported[0].1;
    let last = reported.last().unwrap().1;
    assert!(last < first - 6.0, "{reported:?}");
    // Independent check of the final value: recompute |STFT| of the returned signal.
    let (_, _, m) = magnitude(&r.signal, 512, 128).unwrap();
    let sc = spectral_convergence_db(&m, &s);
    assert!(
        (sc - r.final_sc_db).abs() < 0.1,
        "{sc} vs {}",
        r.final_sc_db
    );
    // The bar for real speech (n_fft 512, hop 128, 32 iterations) is −23 dB; librosa
    // reaches −24.5 dB on espeak-ng speech. This voiced signal reaches about −25 dB (−30 dB by
    // 64 iterations), so −23 dB keeps a margin against platform FFT rounding.
    assert!(
        sc < -23.0,
        "SC after 32 iterations = {sc:.2} dB ({reported:?})"
    );
}

#[test]
fn more_iterations_beat_fewer_and_momentum_beats_classic_griffin_lim() {
    let x = speech_like(1.0);
    let (bins, _, s) = magnitude(&x, 512, 128).unwrap();
    let sc = |it, m| {
        let mut c = config(it);
        c.momentum = m;
        griffin_lim(&s, bins, &c, 0, |_, _| {}).unwrap().final_sc_db
    };
    let (fgla8, fgla32, gla32) = (sc(8, 0.99), sc(32, 0.99), sc(32, 0.0));
    assert!(fgla32 < fgla8 - 3.0, "{fgla8} {fgla32}");
    assert!(fgla32 < gla32, "fast {fgla32} vs classic {gla32}");
}

fn corr(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn a_known_chirp_is_recovered_up_to_a_constant_phase() {
    // A linear chirp 200→3000 Hz under a smooth envelope holds one component per frame, so its
    // magnitudes fix the phase only up to a constant offset θ: env·sin(φ + θ) has the same
    // |STFT|. Project the output on the known in-phase and quadrature signals; their combined
    // normalised correlation is 1 for perfect recovery at any θ.
    let rate = 16_000.0f32;
    let n = 8000;
    let (mut x, mut q) = (Vec::new(), Vec::new());
    for i in 0..n {
        let t = i as f32 / rate;
        let env = (std::f32::consts::PI * i as f32 / n as f32).sin().powi(2);
        let ph = TAU * (200.0 * t + 0.5 * 5600.0 * t * t);
        x.push(env * ph.sin());
        q.push(env * ph.cos());
    }
    let (bins, _, s) = magnitude(&x, 512, 128).unwrap();
    let mut c = config(200);
    c.length = Some(n);
    let r = griffin_lim(&s, bins, &c, 0, |_, _| {}).unwrap();
    assert_eq!(r.signal.len(), n);
    let c = corr(&x, &r.signal).hypot(corr(&q, &r.signal));
    assert!(
        c > 0.95,
        "in-phase/quadrature correlation {c}, SC {}",
        r.final_sc_db
    );
}
