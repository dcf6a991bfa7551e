//! Evaluation families with drawn parameters: every seed draws a new case (rate, tone, speed,
//! drift, lead-in, level, noise events) across the ranges the air has, so a filter cannot be
//! tuned to one comfortable signal. `specgate eval --family cw --seed 1..10` reproduces each case
//! exactly from its seed.
//!
//! Why the old CW evaluation was too kind (measured with `specgate eval --preset cw`):
//! * its SNR was the whole clip's mean power (key-up gaps included) over the noise: with a keying
//!   duty of about 45 % the tone was ~3.5 dB stronger than at the same nominal SNR defined as
//!   key-down tone power over the full-band noise (the definition, used here);
//! * its white noise spread the noise over 24 kHz at 48 kHz, so the tone's 25 Hz bin held 1/960 of
//!   it (+30 dB in-bin SNR at "0 dB"); pink noise alone concentrates power under 100 Hz, far from
//!   the tone. Equal-power white + pink (the noise) puts far more noise near the tone;
//! * it drew only 18–25 wpm, 400–900 Hz, 48 kHz, no drift and a short lead-in, and one seed.

use super::signals::{self, morse_keyed, set_rms, Keying, NoiseColour, Rng};
use realfft::RealFftPlanner;
use std::f64::consts::PI;

/// The rates the air is heard at (SDR audio outputs).
pub const RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

/// A family of drawn test cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Morse: tone 400–1000 Hz (off the bin grid), 5–40 wpm (log-uniform), drift up to ±3 Hz/s,
    /// lead-in 0.1–2 s, level −30..−6 dBFS, key edges 3–8 ms; SNR = key-down tone power over the
    /// full-band noise; any of the five rates.
    Cw,
    /// AM-broadcast-like speech: the speech model band-limited to 150–4500 Hz with soft
    /// compression (2:1 above the mean level, then a tanh limiter).
    Am,
    /// Music-like: sustained chords (three notes, 6 harmonics, changing every 1.5–3 s) under a
    /// plucked pentatonic melody, 150–4500 Hz. For the "lose ≤ 0.5 dB" check.
    Music,
    /// One to three steady carriers (200–3000 Hz) that never key: must pass untouched.
    Tones,
    /// The speech model at 8, 16 or 48 kHz.
    Speech,
}

/// Something that happens to the noise during the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// Steady noise.
    None,
    /// Slow fading (QSB) of both the noise floor and the signal: independent ±3..10 dB swings
    /// with 4–15 s periods.
    Qsb,
    /// Clicks (1–5 per second, 10–40× the floor's RMS, 0.1–1 ms decay) and lightning crashes
    /// (0.1–0.4 per second, 10–20 dB over the floor, 50–300 ms decay).
    Impulsive,
    /// The band noise changes at 35–65 % of the clip: another colour, 6–12 dB up or down.
    Change,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::None => "none",
            Event::Qsb => "qsb",
            Event::Impulsive => "impulsive",
            Event::Change => "change",
        }
    }
}

/// A drawn clean signal.
#[derive(Debug, Clone)]
pub struct Drawn {
    pub clean: Vec<f32>,
    /// The power the SNR refers to: key-down tone power for CW, the clip's mean power otherwise.
    pub ref_power: f64,
    pub rate: u32,
    /// The drawn parameters, for the table.
    pub detail: String,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Cw => "cw",
            Family::Am => "am",
            Family::Music => "music",
            Family::Tones => "tones",
            Family::Speech => "speech",
        }
    }
    /// The preset the family is heard with.
    pub fn preset(self) -> &'static str {
        match self {
            Family::Cw => "cw",
            Family::Am | Family::Music | Family::Tones => "am",
            Family::Speech => "voice",
        }
    }
    /// Default noises (the issue's).
    pub fn default_noise(self) -> &'static [NoiseColour] {
        match self {
            Family::Cw => &[NoiseColour::WhitePink],
            Family::Am | Family::Music | Family::Tones => &[NoiseColour::Hum],
            Family::Speech => &[NoiseColour::White],
        }
    }
    /// Default SNRs, dB (the issue's).
    pub fn default_snr(self) -> &'static [f64] {
        match self {
            Family::Cw => &[-10.0, 0.0],
            Family::Am => &[5.0, 15.0],
            Family::Music | Family::Tones => &[10.0, 20.0],
            Family::Speech => &[0.0, 5.0, 10.0],
        }
    }
    /// Rates drawn from when none is given.
    pub fn rates(self) -> &'static [u32] {
        match self {
            Family::Speech => &[8000, 16000, 48000],
            _ => &RATES,
        }
    }

    /// Draws the case of `seed` (`rate`: a given rate, else drawn), `seconds` long.
    pub fn draw(self, rate: Option<u32>, seconds: f64, seed: u64) -> Drawn {
        let mut r = Rng::new(seed ^ (0xFA11_0000 + self as u64));
        let rates = self.rates();
        let drawn_rate = rates[(r.uniform() * rates.len() as f64) as usize % rates.len()];
        let rate = rate.unwrap_or(drawn_rate);
        let fs = rate as f64;
        let top = 4500f64.min(0.45 * fs);
        match self {
            Family::Cw => {
                let tone = r.range(400.0, 1000.0).min(0.4 * fs);
                let wpm = (r.range(5f64.ln(), 40f64.ln())).exp();
                let drift = r.range(-3.0, 3.0);
                let lead = r.range(0.1, 2.0);
                let amp = 10f64.powf(r.range(-30.0, -6.0) / 20.0);
                let edge = r.range(0.003, 0.008);
                let text = qso_text(&mut r);
                let clean = morse_keyed(
                    rate,
                    seconds,
                    &Keying {
                        text: &text,
                        wpm,
                        tone_hz: tone,
                        drift_hz_s: drift,
                        amp,
                        lead_s: lead,
                        edge_s: edge,
                    },
                );
                Drawn {
                    clean,
                    ref_power: amp * amp / 2.0,
                    rate,
                    detail: format!(
                        "{tone:.1}Hz {wpm:.0}wpm {drift:+.1}Hz/s lead {lead:.1}s {:.0}dBFS",
                        20.0 * amp.log10()
                    ),
                }
            }
            Family::Am => {
                let x = signals::speech_like(rate, seconds, seed);
                let mut y = band_limit(&x, rate, 150.0, top);
                let ratio = r.range(1.5, 3.0);
                compress(&mut y, rate, ratio);
                set_rms(&mut y, 0.1);
                mean_power_case(y, rate, format!("150-{top:.0}Hz comp {ratio:.1}:1"))
            }
            Family::Music => {
                let mut y = music_like(rate, seconds, seed, top);
                set_rms(&mut y, 0.1);
                mean_power_case(y, rate, format!("chords+melody 150-{top:.0}Hz"))
            }
            Family::Tones => {
                let count = 1 + (r.uniform() * 3.0) as usize % 3;
                let n = (seconds * fs).round() as usize;
                let mut y = vec![0.0f32; n];
                let mut freqs = Vec::new();
                for _ in 0..count {
                    let f = r.range(200.0, 3000.0).min(0.4 * fs);
                    let (a, ph) = (r.range(0.3, 1.0), r.range(0.0, 2.0 * PI));
                    for (k, v) in y.iter_mut().enumerate() {
                        *v += (a * (2.0 * PI * f * k as f64 / fs + ph).sin()) as f32;
                    }
                    freqs.push(format!("{f:.0}"));
                }
                set_rms(&mut y, 0.1);
                mean_power_case(y, rate, format!("{}Hz", freqs.join("+")))
            }
            Family::Speech => {
                let y = signals::speech_like(rate, seconds, seed);
                mean_power_case(y, rate, String::new())
            }
        }
    }
}

fn mean_power_case(clean: Vec<f32>, rate: u32, detail: String) -> Drawn {
    let p = signals::rms(&clean).powi(2);
    Drawn {
        clean,
        ref_power: p,
        rate,
        detail,
    }
}

/// A short QSO text with a drawn call sign.
fn qso_text(r: &mut Rng) -> String {
    let letter = |r: &mut Rng| (b'A' + (r.uniform() * 26.0) as u8 % 26) as char;
    let call: String = [
        letter(r),
        letter(r),
        (b'0' + (r.uniform() * 10.0) as u8 % 10) as char,
        letter(r),
        letter(r),
        letter(r),
    ]
    .iter()
    .collect();
    let texts = [
        format!("CQ CQ DE {call} {call} K"),
        format!("UR RST 599 5NN NAME JOHN QTH {call} BK"),
        format!("TNX FER QSO 73 DE {call} SK"),
        format!("{call} DE {call} R R GM OM = WX CLOUDY TEMP 12C"),
    ];
    let i = (r.uniform() * texts.len() as f64) as usize % texts.len();
    texts[i].clone()
}

/// Brick-wall band limit `[lo, hi]` Hz with 50 Hz raised-cosine skirts, in the frequency domain
/// over the whole clip.
pub fn band_limit(x: &[f32], rate: u32, lo: f64, hi: f64) -> Vec<f32> {
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut buf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let mut spec = fwd.make_output_vec();
    fwd.process(&mut buf, &mut spec)
        .expect("fft sizes are fixed");
    let edge = |d: f64| ((d / 50.0).clamp(-0.5, 0.5) * PI).sin() * 0.5 + 0.5;
    let last = spec.len() - 1;
    for (k, c) in spec.iter_mut().enumerate() {
        let f = k as f64 * rate as f64 / n as f64;
        *c *= edge(f - lo) * edge(hi - f) / n as f64;
        if k == 0 || (n % 2 == 0 && k == last) {
            c.im = 0.0;
        }
    }
    let mut out = inv.make_output_vec();
    inv.process(&mut spec, &mut out)
        .expect("fft sizes are fixed");
    out.into_iter().map(|v| v as f32).collect()
}

/// Broadcast-style soft compression: an envelope follower (5 ms attack, 300 ms release), `ratio`:1
/// above the clip's mean envelope, then a tanh limiter at 3× the mean level.
fn compress(x: &mut [f32], rate: u32, ratio: f64) {
    let fs = rate as f64;
    let (aa, ar) = ((-1.0 / (0.005 * fs)).exp(), (-1.0 / (0.3 * fs)).exp());
    let mean = signals::rms(x).max(1e-12);
    let mut env = 0.0f64;
    for v in x.iter_mut() {
        let a = (*v as f64).abs();
        let c = if a > env { aa } else { ar };
        env = c * env + (1.0 - c) * a;
        let over = (env / mean).max(1.0);
        let g = over.powf(1.0 / ratio - 1.0);
        let y = *v as f64 * g / (3.0 * mean);
        *v = (3.0 * mean * y.tanh()) as f32;
    }
}

/// Sustained chords under a melody (see [`Family::Music`]), band-limited to 150–`top` Hz.
fn music_like(rate: u32, seconds: f64, seed: u64, top: f64) -> Vec<f32> {
    let fs = rate as f64;
    let n = (seconds * fs).round() as usize;
    let mut r = Rng::new(seed ^ 0xC40D);
    let mut pad = vec![0.0f64; n];
    // Chords: root from a scale, major or minor triad, 6 harmonics at 1/k, 100 ms cross-fades.
    let mut t = 0.0;
    while t < seconds {
        let dur = r.range(1.5, 3.0);
        let root = 130.8 * 2f64.powf((r.uniform() * 12.0).floor() / 12.0);
        let third = if r.uniform() < 0.5 { 4.0 } else { 3.0 };
        let (k0, k1) = ((t * fs) as usize, (((t + dur + 0.1) * fs) as usize).min(n));
        for semis in [0.0, third, 7.0] {
            let f0 = root * 2f64.powf(semis / 12.0);
            let ph = r.range(0.0, 2.0 * PI);
            for (k, o) in pad.iter_mut().enumerate().take(k1).skip(k0) {
                let (tt, left) = ((k - k0) as f64 / fs, (k1 - k) as f64 / fs);
                let env = (tt / 0.1).min(1.0).min(left / 0.1);
                let mut v = 0.0;
                for h in 1..=6 {
                    let f = f0 * h as f64;
                    if f > top {
                        break;
                    }
                    v += (2.0 * PI * f * tt + ph * h as f64).sin() / h as f64;
                }
                *o += 0.5 * env * v;
            }
        }
        t += dur;
    }
    let melody = signals::am_music(rate, seconds, seed);
    let pr = (pad.iter().map(|v| v * v).sum::<f64>() / n.max(1) as f64)
        .sqrt()
        .max(1e-12);
    let mix: Vec<f32> = pad
        .iter()
        .zip(&melody)
        .map(|(p, m)| (0.1 * p / pr) as f32 + *m)
        .collect();
    band_limit(&mix, rate, 150.0, top)
}

/// Noise for a case: `lead + n` samples of `colour` with `event` happening in the last `n`
/// (the first `lead` samples are the noise before the signal: the clip a learned profile is
/// taken from). Unit RMS over the last `n` samples before events that add energy; returns the
/// noise and the slow envelope (QSB) to apply to the signal (all ones without QSB).
pub fn family_noise(
    colour: NoiseColour,
    event: Event,
    rate: u32,
    lead: usize,
    n: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>, String) {
    let total = lead + n;
    let fs = rate as f64;
    let mut r = Rng::new(seed ^ 0xE7E7 ^ ((event as u64) << 20));
    let mut x = signals::noise(colour, rate, total, seed);
    let mut sig_env = vec![1.0f32; n];
    let detail = match event {
        Event::None => String::new(),
        Event::Qsb => {
            let (dn, tn, pn) = (
                r.range(3.0, 10.0),
                r.range(4.0, 15.0),
                r.range(0.0, 2.0 * PI),
            );
            let (ds, ts, ps) = (
                r.range(3.0, 10.0),
                r.range(4.0, 15.0),
                r.range(0.0, 2.0 * PI),
            );
            for (k, v) in x.iter_mut().enumerate() {
                let t = k as f64 / fs;
                *v *= 10f64.powf(dn / 20.0 * (2.0 * PI * t / tn + pn).sin()) as f32;
            }
            for (k, v) in sig_env.iter_mut().enumerate() {
                let t = (k + lead) as f64 / fs;
                *v = 10f64.powf(ds / 20.0 * (2.0 * PI * t / ts + ps).sin()) as f32;
            }
            format!("qsb noise ±{dn:.0}dB/{tn:.0}s sig ±{ds:.0}dB/{ts:.0}s")
        }
        Event::Impulsive => {
            let base = signals::rms(&x[lead..]).max(1e-12);
            let (click_rate, crash_rate) = (r.range(1.0, 5.0), r.range(0.1, 0.4));
            // Clicks.
            let mut t = r.range(0.0, 1.0 / click_rate);
            while t < total as f64 / fs {
                let (a, tau) = (r.range(10.0, 40.0) * base, r.range(0.0001, 0.001) * fs);
                let s = if r.uniform() < 0.5 { -1.0 } else { 1.0 };
                let k0 = (t * fs) as usize;
                for (j, v) in x
                    .iter_mut()
                    .skip(k0)
                    .take((8.0 * tau) as usize + 1)
                    .enumerate()
                {
                    *v += (s * a * (-(j as f64) / tau).exp()) as f32;
                }
                t += -r.uniform().max(1e-9).ln() / click_rate;
            }
            // Crashes: band noise (brown + white) with a 2 ms attack and an exponential decay.
            let burst = signals::noise(NoiseColour::WhitePink, rate, total, seed ^ 0xC8A5);
            let mut t = r.range(0.0, 1.0 / crash_rate);
            while t < total as f64 / fs {
                let (peak, tau) = (
                    10f64.powf(r.range(10.0, 20.0) / 20.0) * base,
                    r.range(0.05, 0.3) * fs,
                );
                let (k0, att) = ((t * fs) as usize, 0.002 * fs);
                let len = (6.0 * tau) as usize;
                for j in 0..len.min(total.saturating_sub(k0)) {
                    let e = (j as f64 / att).min(1.0) * (-(j as f64) / tau).exp();
                    x[k0 + j] += (peak * e) as f32 * burst[k0 + j];
                }
                t += -r.uniform().max(1e-9).ln() / crash_rate;
            }
            format!("clicks {click_rate:.1}/s crashes {crash_rate:.2}/s")
        }
        Event::Change => {
            let others: Vec<NoiseColour> = [
                NoiseColour::White,
                NoiseColour::Pink,
                NoiseColour::Brown,
                NoiseColour::Hf,
            ]
            .into_iter()
            .filter(|c| *c != colour)
            .collect();
            let to = others[(r.uniform() * others.len() as f64) as usize % others.len()];
            let db = r.range(6.0, 12.0) * if r.uniform() < 0.5 { -1.0 } else { 1.0 };
            let at = lead + (r.range(0.35, 0.65) * n as f64) as usize;
            let y = signals::noise(to, rate, total, seed ^ 0xC4A6);
            let (g, fade) = (10f64.powf(db / 20.0), (0.05 * fs) as usize);
            for k in at.min(total)..total {
                let w = ((k - at) as f64 / fade.max(1) as f64).min(1.0);
                x[k] = ((1.0 - w) * x[k] as f64 + w * g * y[k] as f64) as f32;
            }
            format!(
                "change to {} {db:+.0}dB at {:.1}s",
                to.name(),
                (at - lead) as f64 / fs
            )
        }
    };
    (x, sig_env, detail)
}
