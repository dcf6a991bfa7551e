//! Fast start: a new live stream is attenuating within 1 s, and a voice that begins at once is
//! not gated while the noise floor is still being found.
//!
//! Both run through the engine with live timing: the worker's 64-frame chunks, a fresh engine
//! per stream (no file priming, no read-ahead), blind tracking as `specgate run` does it.
//!
//! ```sh
//! cargo test --test live_fast_start -- --nocapture   # prints the per-100 ms attenuation
//! ```

use specgate::engine::{Engine, SignalKind};
use specgate::eval::signals::{noise, speech_like, NoiseColour};
use specgate::params::{self, ParamsPatch};

const RATE: u32 = 48_000;
/// The live worker's chunk (`live::core::CHUNK`).
const CHUNK: usize = 64;

/// A fresh engine as `specgate run` starts it.
fn engine(preset: &str) -> Engine {
    let p = params::resolve(preset, None, &ParamsPatch::default()).unwrap();
    Engine::new(&p, RATE, 1, SignalKind::Real).unwrap()
}

/// Runs `x` through `e` in live-sized chunks.
fn live(e: &mut Engine, x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    for (a, b) in x.chunks(CHUNK).zip(y.chunks_mut(CHUNK)) {
        e.process(a, b);
    }
    y
}

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|v| (*v as f64).powi(2)).sum()
}

fn db(a: f64, b: f64) -> f64 {
    10.0 * (a / b).log10()
}

/// Speech that starts at its first sample (the generator opens with a pause: cut it).
fn speech_at_once(seconds: f64, seed: u64) -> Vec<f32> {
    let s = speech_like(RATE, seconds + 1.5, seed);
    let peak = s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let start = s.iter().position(|v| v.abs() > 0.05 * peak).unwrap();
    s[start..start + (seconds * RATE as f64) as usize].to_vec()
}

#[test]
fn a_new_stream_attenuates_noise_by_10_db_from_the_first_second() {
    for (preset, colour) in [
        ("voice", NoiseColour::White),
        ("voice", NoiseColour::Pink),
        ("am", NoiseColour::Pink),
        ("cw", NoiseColour::White),
    ] {
        let n = noise(colour, RATE, 4 * RATE as usize, 17);
        let mut e = engine(preset);
        let lat = e.latency_samples();
        let y = live(&mut e, &n);
        // Output sample t + lat is input sample t.
        let per = |a: f64, b: f64| {
            let (i0, i1) = ((a * RATE as f64) as usize, (b * RATE as f64) as usize);
            db(energy(&n[i0..i1]), energy(&y[i0 + lat..i1 + lat]))
        };
        let steps: Vec<String> = (0..15)
            .map(|k| format!("{:.1}", per(k as f64 * 0.1, (k + 1) as f64 * 0.1)))
            .collect();
        eprintln!(
            "{preset}/{}: attenuation per 100 ms from the start: {} dB",
            colour.name(),
            steps.join(" ")
        );
        let from_1s = per(1.0, 3.9);
        eprintln!("{preset}/{}: 1–3.9 s: {from_1s:.1} dB", colour.name());
        for k in 10..39 {
            let a = per(k as f64 * 0.1, (k + 1) as f64 * 0.1);
            assert!(
                a >= 10.0,
                "{preset}/{}: only {a:.1} dB of attenuation at {:.1} s",
                colour.name(),
                k as f64 * 0.1
            );
        }
    }
}

/// Open (issue 9, fast start): on seed 5 at 5 dB SNR a fresh stream takes the first syllable
/// for noise and the first 300 ms come out 6.8 dB below a warmed-up run (seeds 3: −0.24 dB).
/// A warm-up that caps the floor at 1.5 × a 20 ms-smoothed running minimum did not help
/// (−6.6 dB) and cost 3–6 dB of noise attenuation in the first 0.6 s, so it was not kept.
#[test]
#[ignore = "fails today (−6.8 dB on seed 5): run with --ignored to measure"]
fn a_voice_that_starts_at_once_keeps_its_first_300_ms_within_1_db_of_a_warmed_up_run() {
    for (seed, snr_db) in [(3u64, 10.0f64), (5, 5.0), (8, 15.0)] {
        let voice = speech_at_once(2.0, seed);
        let bed = noise(NoiseColour::White, RATE, 8 * RATE as usize, seed + 100);
        let (warm, rest) = bed.split_at(5 * RATE as usize);
        let noise_rms = (energy(&rest[..voice.len()]) / voice.len() as f64).sqrt();
        let voice_rms = (energy(&voice) / voice.len() as f64).sqrt();
        let g = (noise_rms / voice_rms * 10f64.powf(snr_db / 20.0)) as f32;
        let mix: Vec<f32> = voice.iter().zip(rest).map(|(v, n)| g * v + n).collect();
        let win = (0.3 * RATE as f64) as usize;
        // Fresh: the stream starts with the voice.
        let mut e = engine("voice");
        let lat = e.latency_samples();
        let fresh = live(&mut e, &mix);
        // Warmed up: the same stream after 5 s of the same noise.
        let mut e = engine("voice");
        let _ = live(&mut e, warm);
        let warmed = live(&mut e, &mix);
        let d = db(
            energy(&fresh[lat..lat + win]),
            energy(&warmed[lat..lat + win]),
        );
        eprintln!("seed {seed}, SNR {snr_db} dB: first 300 ms fresh vs warmed {d:+.2} dB");
        assert!(
            d.abs() <= 1.0,
            "seed {seed}: the first 300 ms differ by {d:+.2} dB from a warmed-up run"
        );
    }
}
