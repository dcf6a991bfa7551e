//! The `specgate demo` recording and its filtering, as a library call.
//!
//! It synthesises an SDR-like recording — a Morse CW call, then a voice over, both in SSB-shaped
//! receiver noise (300–2700 Hz) with a little 50 Hz mains hum — and filters it. The split is in
//! time, as an operator would do it: each preset runs over the whole recording (so its noise
//! tracker has seen everything before), and the output takes the `cw` engine's output for the CW
//! part and the `voice` engine's for the voice part, joined by a 20 ms raised-cosine crossfade in
//! the silent gap between them.

use super::plan::EvalError;
use super::signals::{self, NoiseColour};
use super::{enhance, metrics, Builtin};
use crate::io::RawFormat;
use crate::params::{self, Params, ParamsPatch};
use std::path::Path;

/// Length of the CW part and of the voice part, seconds.
pub const CW_S: f64 = 9.0;
pub const VOICE_S: f64 = 11.0;

/// The synthetic recording: (clean, noisy, sample index where the voice part starts).
pub fn recording(rate: u32, seed: u64) -> (Vec<f32>, Vec<f32>, usize) {
    let split = (CW_S * rate as f64).round() as usize;
    let mut cw = signals::morse(rate, CW_S, signals::CQ_TEXT, 20.0, 700.0, 0.12, 0.5);
    // The CW part ends with its last full element: fade the cut over 5 ms.
    let fade = ((0.005 * rate as f64) as usize).min(cw.len());
    let n = cw.len();
    for (i, v) in cw[n - fade..].iter_mut().enumerate() {
        *v *= 1.0 - (i + 1) as f32 / fade as f32;
    }
    let voice = Builtin::Speech.generate(rate, VOICE_S, seed);
    let mut clean = cw;
    clean.extend_from_slice(&voice);
    let total = clean.len();
    let ssb = signals::noise(NoiseColour::Ssb, rate, total, seed ^ 0xD3);
    let hum = signals::hum(rate, total, 50.0, 0.008);
    // Receiver noise 5 dB under the voice (RMS 0.1 → 0.056).
    let g = 0.1 / 10f32.powf(5.0 / 20.0);
    let noisy = clean
        .iter()
        .zip(&ssb)
        .zip(&hum)
        .map(|((c, n), h)| c + g * n + h)
        .collect();
    (clean, noisy, split)
}

/// The demo recording, filtered.
#[derive(Debug, Clone)]
pub struct Demo {
    pub rate: u32,
    pub clean: Vec<f32>,
    pub noisy: Vec<f32>,
    pub filtered: Vec<f32>,
    /// First sample of the voice part.
    pub split: usize,
    pub cw: Params,
    pub voice: Params,
}

/// The scores of one part of the demo.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub part: &'static str,
    /// The preset that filtered it (`split` for the whole recording).
    pub preset: &'static str,
    pub snr_in: f64,
    pub snr_out: f64,
    pub si_sdr_in: f64,
    pub si_sdr_out: f64,
    /// The preset's latency at the demo's rate, samples (none for the split whole).
    pub latency: Option<usize>,
}

fn preset_params(name: &str) -> Result<Params, EvalError> {
    Ok(params::resolve(name, None, &ParamsPatch::default())?)
}

/// Synthesises the recording at `rate` and filters it (CW part by `cw`, voice part by `voice`).
pub fn run(rate: u32, seed: u64) -> Result<Demo, EvalError> {
    let (clean, noisy, split) = recording(rate, seed);
    let cw = preset_params("cw")?;
    let voice = preset_params("voice")?;
    let out_cw = enhance(&cw, rate, &noisy)?;
    let out_voice = enhance(&voice, rate, &noisy)?;
    // Splice with a 20 ms raised-cosine crossfade centred on the split (silent gap there).
    let xf = ((0.02 * rate as f64) as usize).max(1);
    let a = split.saturating_sub(xf / 2);
    let filtered: Vec<f32> = (0..clean.len())
        .map(|i| {
            let w = if i < a {
                0.0
            } else if i >= a + xf {
                1.0
            } else {
                let t = (i - a) as f64 / xf as f64;
                (0.5 - 0.5 * (std::f64::consts::PI * t).cos()) as f32
            };
            out_cw[i] * (1.0 - w) + out_voice[i] * w
        })
        .collect();
    Ok(Demo {
        rate,
        clean,
        noisy,
        filtered,
        split,
        cw,
        voice,
    })
}

impl Demo {
    /// Scores of the CW part, the voice part and the whole recording.
    pub fn parts(&self) -> Vec<Part> {
        let n = self.clean.len();
        let parts = [
            ("CW", "cw", 0..self.split, Some(&self.cw)),
            ("voice", "voice", self.split..n, Some(&self.voice)),
            ("whole", "split", 0..n, None),
        ];
        parts
            .into_iter()
            .map(|(part, preset, r, p)| {
                let (c, x, y) = (
                    &self.clean[r.clone()],
                    &self.noisy[r.clone()],
                    &self.filtered[r],
                );
                Part {
                    part,
                    preset,
                    snr_in: metrics::snr(c, x),
                    snr_out: metrics::snr(c, y),
                    si_sdr_in: metrics::si_sdr(c, x),
                    si_sdr_out: metrics::si_sdr(c, y),
                    latency: p.map(|p| crate::engine::stft_config(p, self.rate).latency_samples()),
                }
            })
            .collect()
    }

    /// Writes `noisy.wav`, `clean.wav` and `filtered.wav` (16-bit PCM) into `dir` (created if
    /// missing; an existing non-directory is an error).
    pub fn write(&self, dir: &Path) -> Result<(), EvalError> {
        if dir.exists() && !dir.is_dir() {
            return Err(EvalError::Plan(format!(
                "{} exists and is not a directory",
                dir.display()
            )));
        }
        super::plan::create_dir(dir)?;
        for (name, x) in [
            ("noisy.wav", &self.noisy),
            ("clean.wav", &self.clean),
            ("filtered.wav", &self.filtered),
        ] {
            super::plan::write_wav(dir.join(name), x, self.rate, RawFormat::S16Le)?;
        }
        Ok(())
    }
}
