//! Quality evaluation: known clean signals, mixed with known noise at known SNRs, run through the
//! real [`Engine`] (blind tracking, file convention, through the stream pump: [`process_aligned`]) and scored against the
//! truth with the [`metrics`]. Used by `specgate eval`, `specgate demo` and `tests/eval_*.rs`.

pub mod demo;
pub mod families;
pub mod metrics;
pub mod plan;
pub mod signals;

use crate::engine::{Engine, EngineError, SignalKind};
use crate::params::Params;
use crate::stream::process_aligned;
use metrics::Scores;
use signals::NoiseColour;

/// The built-in clean signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Builtin {
    /// Speech-like voiced signal (see [`signals::speech_like`]).
    Speech,
    /// Morse CW, CQ call (see [`signals::morse_clip`]).
    Cw,
    /// AM-broadcast-like music (see [`signals::am_music`]).
    Music,
}

impl Builtin {
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Speech => "speech",
            Builtin::Cw => "cw",
            Builtin::Music => "music",
        }
    }
    /// The signal, `seconds` long at `rate`.
    pub fn generate(self, rate: u32, seconds: f64, seed: u64) -> Vec<f32> {
        match self {
            Builtin::Speech => signals::speech_like(rate, seconds, seed),
            Builtin::Cw => signals::morse_clip(rate, seconds, seed),
            Builtin::Music => signals::am_music(rate, seconds, seed),
        }
    }
    /// The signal a preset is made for (speech for voice and the rest).
    pub fn for_preset(preset: &str) -> Builtin {
        match preset.to_ascii_lowercase().as_str() {
            "cw" => Builtin::Cw,
            "am" => Builtin::Music,
            _ => Builtin::Speech,
        }
    }
}

/// A clean signal mixed with noise at a known SNR, and a separate clip of the same noise (same
/// colour and level, different samples) for denoisers that want a noise profile.
#[derive(Debug, Clone)]
pub struct Mixture {
    pub clean: Vec<f32>,
    pub noisy: Vec<f32>,
    pub noise_clip: Vec<f32>,
}

/// Seconds of separate noise in [`Mixture::noise_clip`].
pub const NOISE_CLIP_S: f64 = 2.0;

/// Mixes `clean` with `colour` noise at `snr_db` (full band, whole clip). The noise seed is
/// derived from `seed` and the colour, so every SNR of one colour uses the same noise samples.
/// The noise clip is the noise just before the signal (one continuous noise stream).
pub fn mix(clean: &[f32], colour: NoiseColour, rate: u32, snr_db: f64, seed: u64) -> Mixture {
    let n = clean.len();
    let clip = (NOISE_CLIP_S * rate as f64).round() as usize;
    let nseed = seed.wrapping_mul(1000).wrapping_add(colour as u64 + 1);
    let raw = signals::noise(colour, rate, clip + n, nseed);
    let p = signals::rms(clean).powi(2);
    assemble(clean, &raw, clip, p, snr_db)
}

/// Mixes a drawn family case with `colour` noise and `event` at `snr_db`, the SNR referred to the
/// case's reference power (key-down tone power for CW) over the full-band noise power (events
/// included) during the signal.
pub fn mix_family(
    d: &families::Drawn,
    colour: NoiseColour,
    event: families::Event,
    snr_db: f64,
    seed: u64,
) -> (Mixture, String) {
    let n = d.clean.len();
    let clip = (NOISE_CLIP_S * d.rate as f64).round() as usize;
    let nseed = seed.wrapping_mul(1000).wrapping_add(colour as u64 + 1);
    let (raw, env, detail) = families::family_noise(colour, event, d.rate, clip, n, nseed);
    let clean: Vec<f32> = d.clean.iter().zip(&env).map(|(c, e)| c * e).collect();
    (assemble(&clean, &raw, clip, d.ref_power, snr_db), detail)
}

/// `raw` = `clip` samples of noise before the signal, then the noise under it.
fn assemble(clean: &[f32], raw: &[f32], clip: usize, ref_power: f64, snr_db: f64) -> Mixture {
    let n = clean.len();
    let under = &raw[clip..clip + n];
    let pn = under.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n.max(1) as f64;
    let g = if pn > 0.0 {
        (ref_power / pn / 10f64.powf(snr_db / 10.0)).sqrt() as f32
    } else {
        0.0
    };
    let noisy = clean.iter().zip(under).map(|(c, v)| c + g * v).collect();
    let noise_clip = raw[..clip].iter().map(|v| g * v).collect();
    Mixture {
        clean: clean.to_vec(),
        noisy,
        noise_clip,
    }
}

/// Filters a mono signal with a fresh engine (blind tracking unless `params` asks to learn from
/// the input), output aligned with the input.
pub fn enhance(params: &Params, rate: u32, noisy: &[f32]) -> Result<Vec<f32>, EngineError> {
    let mut e = Engine::new(params, rate, 1, SignalKind::Real)?;
    Ok(process_aligned(&mut e, noisy))
}

/// Filters a mixture. Blind (`params.learn == 0`): the noisy signal alone. Learning
/// (`--learn S`): the last S seconds of the noise clip (the noise just before the signal) are
/// played first, so the profile is learned from noise only, as a user would with a second of
/// band noise before the signal; the output for the signal is returned.
pub fn enhance_mixture(params: &Params, rate: u32, m: &Mixture) -> Result<Vec<f32>, EngineError> {
    if params.learn <= 0.0 {
        return enhance(params, rate, &m.noisy);
    }
    let lead = ((params.learn * rate as f64).round() as usize).min(m.noise_clip.len());
    let mut x = m.noise_clip[m.noise_clip.len() - lead..].to_vec();
    x.extend_from_slice(&m.noisy);
    let mut out = enhance(params, rate, &x)?;
    out.drain(..lead);
    Ok(out)
}

/// One evaluated case.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CaseResult {
    /// Signal name (built-in name or file name).
    pub signal: String,
    /// Noise colour name, or "given" for a mixture read from a file.
    pub noise: String,
    /// Input SNR, dB (`None` for a given mixture).
    pub snr_db: Option<f64>,
    pub rate: u32,
    pub seed: u64,
    /// Noise event (families), "none" otherwise.
    pub event: String,
    /// Drawn parameters of the case (families), empty otherwise.
    pub detail: String,
    #[serde(flatten)]
    pub scores: Scores,
    /// ΔSI-SDR of the same preset with a learned profile (`--vs-learn`), dB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned_si_sdr_imp: Option<f64>,
}

/// Mixes, filters and scores one case. Returns the result, the mixture and the output.
pub fn run_case(
    params: &Params,
    signal: &str,
    clean: &[f32],
    colour: NoiseColour,
    rate: u32,
    snr_db: f64,
    seed: u64,
) -> Result<(CaseResult, Mixture, Vec<f32>), EngineError> {
    let m = mix(clean, colour, rate, snr_db, seed);
    let out = enhance_mixture(params, rate, &m)?;
    let scores = metrics::score(&m.clean, &m.noisy, &out, rate);
    Ok((
        CaseResult {
            signal: signal.to_string(),
            noise: colour.name().to_string(),
            snr_db: Some(snr_db),
            rate,
            seed,
            event: "none".into(),
            detail: String::new(),
            scores,
            learned_si_sdr_imp: None,
        },
        m,
        out,
    ))
}

/// The mean of every score over `results` (optional scores over the cases that have one).
pub fn mean_scores(results: &[CaseResult]) -> Option<Scores> {
    if results.is_empty() {
        return None;
    }
    let n = results.len() as f64;
    let avg = |f: fn(&Scores) -> f64| results.iter().map(|r| f(&r.scores)).sum::<f64>() / n;
    let opt_mean = |f: fn(&Scores) -> Option<f64>| {
        let v: Vec<f64> = results.iter().filter_map(|r| f(&r.scores)).collect();
        if v.is_empty() {
            None
        } else {
            Some(v.iter().sum::<f64>() / v.len() as f64)
        }
    };
    Some(Scores {
        si_sdr_in: avg(|s| s.si_sdr_in),
        si_sdr_out: avg(|s| s.si_sdr_out),
        si_sdr_imp: avg(|s| s.si_sdr_imp),
        seg_snr_in: avg(|s| s.seg_snr_in),
        seg_snr_out: avg(|s| s.seg_snr_out),
        seg_snr_imp: avg(|s| s.seg_snr_imp),
        lsd_in: avg(|s| s.lsd_in),
        lsd_out: avg(|s| s.lsd_out),
        musical_noise: opt_mean(|s| s.musical_noise),
        flecks: {
            let v: Vec<metrics::Flecks> = results.iter().filter_map(|r| r.scores.flecks).collect();
            let m = |f: fn(&metrics::Flecks) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
            (!v.is_empty()).then(|| metrics::Flecks {
                input: m(|f| f.input),
                output: m(|f| f.output),
                noise_reduction_db: m(|f| f.noise_reduction_db),
            })
        },
        stoi_in: opt_mean(|s| s.stoi_in),
        stoi_out: opt_mean(|s| s.stoi_out),
    })
}
