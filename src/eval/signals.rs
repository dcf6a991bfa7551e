//! Synthetic test signals, deterministic from a seed, at any sample rate.
//!
//! Amplitudes are linear full scale (±1). The generators use their own tiny PRNG (SplitMix64)
//! so a seed gives the same signal on every platform and every version of every dependency.

use realfft::RealFftPlanner;
use std::f64::consts::PI;

/// SplitMix64 (Steele, Lea & Flood 2014): small, fast, good enough for test signals.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    /// Standard normal (Box–Muller).
    pub fn gauss(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
    /// A generator for a sub-task, so adding draws to one part does not shift the others.
    pub fn fork(&mut self, tag: u64) -> Rng {
        Rng::new(self.next_u64() ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

fn samples(rate: u32, seconds: f64) -> usize {
    (seconds * rate as f64).round().max(0.0) as usize
}

/// Scales `x` to the given RMS (no-op on silence).
pub fn set_rms(x: &mut [f32], rms: f64) {
    let cur = (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt();
    if cur > 0.0 {
        let g = (rms / cur) as f32;
        x.iter_mut().for_each(|v| *v *= g);
    }
}

/// RMS of a signal.
pub fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Two-pole resonator (Klatt 1980 formant filter), coefficients set per sample so the centre
/// frequency and bandwidth can move. Unity gain at DC, as in Klatt's cascade synthesiser: the
/// cascade then has the same analog spectrum (formant peaks on a −12 dB/octave slope per
/// formant) at every sample rate.
#[derive(Default, Clone, Copy)]
struct Resonator {
    y1: f64,
    y2: f64,
}
impl Resonator {
    #[inline]
    fn coefs(f: f64, bw: f64, rate: f64) -> (f64, f64) {
        let r = (-PI * bw / rate).exp();
        (2.0 * r * (2.0 * PI * f / rate).cos(), -r * r)
    }
    #[inline]
    fn run(&mut self, x: f64, a: f64, b: f64, c: f64) -> f64 {
        let y = a * x + b * self.y1 + c * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
    /// Unity gain at DC.
    #[inline]
    fn step(&mut self, x: f64, f: f64, bw: f64, rate: f64) -> f64 {
        let (b, c) = Self::coefs(f, bw, rate);
        self.run(x, 1.0 - b - c, b, c)
    }
    /// Unity gain at the centre frequency (a band-pass for noise).
    #[inline]
    fn step_peak(&mut self, x: f64, f: f64, bw: f64, rate: f64) -> f64 {
        let (b, c) = Self::coefs(f, bw, rate);
        let th = 2.0 * PI * f / rate;
        // |1 − b·e^{−jθ} − c·e^{−2jθ}|
        let re = 1.0 - b * th.cos() - c * (2.0 * th).cos();
        let im = b * th.sin() + c * (2.0 * th).sin();
        self.run(x, (re * re + im * im).sqrt(), b, c)
    }
}

/// Analog high shelf `(1 + s/ωz)/(1 + s/ωp)` by the bilinear transform: +6 dB/octave between
/// `fz` and `fp`. Lifts the cascade's upper formants toward the −6 dB/octave of real speech
/// (Klatt's "higher-pole correction" plays this role).
struct Shelf {
    b0: f64,
    b1: f64,
    a1: f64,
    x1: f64,
    y1: f64,
}
impl Shelf {
    fn new(fz: f64, fp: f64, rate: f64) -> Self {
        let k = 2.0 * rate;
        let (wz, wp) = (2.0 * PI * fz, 2.0 * PI * fp);
        // H(s) = (wp/wz)·(s + wz)/(s + wp); s = k(1 − z⁻¹)/(1 + z⁻¹).
        let g = wp / wz;
        let a0 = k + wp;
        Shelf {
            b0: g * (k + wz) / a0,
            b1: g * (wz - k) / a0,
            a1: (wp - k) / a0,
            x1: 0.0,
            y1: 0.0,
        }
    }
    #[inline]
    fn step(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.b1 * self.x1 - self.a1 * self.y1;
        self.x1 = x;
        self.y1 = y;
        y
    }
}

/// Formant frequencies and bandwidths (Hz) of a few vowels (Peterson & Barney style averages).
const VOWELS: [[f64; 6]; 6] = [
    // F1, F2, F3, B1, B2, B3
    [730.0, 1090.0, 2440.0, 80.0, 90.0, 120.0],  // a
    [270.0, 2290.0, 3010.0, 60.0, 100.0, 120.0], // i
    [300.0, 870.0, 2240.0, 60.0, 90.0, 120.0],   // u
    [530.0, 1840.0, 2480.0, 70.0, 100.0, 120.0], // e
    [570.0, 840.0, 2410.0, 70.0, 90.0, 120.0],   // o
    [660.0, 1720.0, 2410.0, 80.0, 100.0, 120.0], // ae
];

/// A speech-like voiced signal, `seconds` long, RMS 0.1 over the whole clip.
///
/// Glottal pulse train (Rosenberg-like pulses) at a pitch gliding within 90–220 Hz with 1 %
/// period jitter; three cascaded formant resonators whose frequencies move smoothly between
/// vowel targets, one per syllable; syllables at 3–5 Hz with raised-cosine envelopes and pauses of
/// 0.25–0.7 s every 2–6 syllables (the clip starts with a pause); ~35 % of syllables begin with an
/// unvoiced fricative burst (noise high-passed above ~2.5 kHz, 50–120 ms).
pub fn speech_like(rate: u32, seconds: f64, seed: u64) -> Vec<f32> {
    let n = samples(rate, seconds);
    let fs = rate as f64;
    let mut rng = Rng::new(seed);
    let mut plan_rng = rng.fork(1);
    let mut noise_rng = rng.fork(2);
    let mut jitter_rng = rng.fork(3);

    // Syllable plan: (start, end, vowel, fricative length) in samples.
    struct Syl {
        start: usize,
        end: usize,
        vowel: usize,
        fric: usize,
    }
    let mut syls = Vec::new();
    let mut t = plan_rng.range(0.3, 0.6);
    let mut until_pause = 2 + (plan_rng.uniform() * 5.0) as usize;
    while t < seconds {
        let dur = 1.0 / plan_rng.range(3.0, 5.0);
        let fric = if plan_rng.uniform() < 0.35 {
            plan_rng.range(0.05, 0.12)
        } else {
            0.0
        };
        syls.push(Syl {
            start: samples(rate, t),
            end: samples(rate, t + dur).min(n),
            vowel: (plan_rng.uniform() * VOWELS.len() as f64) as usize % VOWELS.len(),
            fric: samples(rate, fric),
        });
        t += dur;
        until_pause -= 1;
        if until_pause == 0 {
            t += plan_rng.range(0.25, 0.7);
            until_pause = 2 + (plan_rng.uniform() * 5.0) as usize;
        }
    }

    // Per-sample voiced envelope, fricative envelope and vowel target index.
    let mut env = vec![0.0f64; n];
    let mut fenv = vec![0.0f64; n];
    let mut vowel_at = vec![0usize; n];
    for (i, s) in syls.iter().enumerate() {
        if s.start >= n {
            break;
        }
        let v0 = s.start + s.fric;
        let len = s.end.saturating_sub(v0).max(1);
        for (k, e) in env.iter_mut().enumerate().take(s.end.min(n)).skip(v0) {
            let ph = (k - v0) as f64 / len as f64;
            // Asymmetric syllable: quick rise (25 %), slower fall.
            *e = if ph < 0.25 {
                0.5 - 0.5 * (PI * ph / 0.25).cos()
            } else {
                0.5 + 0.5 * (PI * (ph - 0.25) / 0.75).cos()
            };
        }
        for (k, e) in fenv.iter_mut().enumerate().take(v0.min(n)).skip(s.start) {
            let ph = (k - s.start) as f64 / s.fric.max(1) as f64;
            *e = (PI * ph).sin().powi(2);
        }
        let next = syls.get(i + 1).map(|x| x.start).unwrap_or(n).min(n);
        for v in vowel_at.iter_mut().take(next).skip(s.start) {
            *v = s.vowel;
        }
    }

    // Smooth formant trajectories: one-pole smoothing (τ = 40 ms) of the vowel targets.
    let a_form = (-1.0 / (0.04 * fs)).exp();
    let nyq_cap = 0.45 * fs;
    let mut form = VOWELS[vowel_at.first().copied().unwrap_or(0)];

    // Pitch: a slow glide between 90 and 220 Hz (phrase declination + wander).
    let f0_centre = rng.range(110.0, 170.0);
    let glide_rate = rng.range(0.15, 0.35);
    let glide_phase = rng.range(0.0, 2.0 * PI);
    let pitch = |t: f64| {
        let decl = 1.0 - 0.15 * ((t % 2.5) / 2.5);
        (f0_centre * decl * (1.0 + 0.25 * (2.0 * PI * glide_rate * t + glide_phase).sin()))
            .clamp(90.0, 220.0)
    };

    let mut voiced = vec![0.0f64; n];
    let mut tilt = Shelf::new(800.0, 5000.0, fs);
    let mut fric = vec![0.0f64; n];
    let mut res = [Resonator::default(); 3];
    let mut fric_res = [Resonator::default(); 2];
    let mut next_pulse = 0.0f64; // sample index of the next glottal pulse
    let mut period = fs / pitch(0.0);
    let mut pulse_pos = f64::INFINITY; // samples since the last pulse
    let mut prev_exc = 0.0f64;
    let fric_f = (4000.0f64).min(0.35 * fs);
    let fric_bw = (3000.0f64).min(0.3 * fs);
    for k in 0..n {
        let tk = k as f64 / fs;
        if k as f64 >= next_pulse {
            period = fs / pitch(tk) * (1.0 + 0.01 * jitter_rng.gauss());
            pulse_pos = k as f64 - next_pulse;
            next_pulse += period;
        } else {
            pulse_pos += 1.0;
        }
        // Rosenberg glottal flow: open phase 40 % rising, 16 % closing, then closed.
        let ph = pulse_pos / period;
        let flow = if ph < 0.4 {
            0.5 - 0.5 * (PI * ph / 0.4).cos()
        } else if ph < 0.56 {
            (PI / 2.0 * (ph - 0.4) / 0.16).cos()
        } else {
            0.0
        };
        // Lip radiation: the derivative of the flow (per second, so rate-independent).
        let exc = (flow - prev_exc) * fs * env[k];
        prev_exc = flow;

        let target = VOWELS[vowel_at[k]];
        for (f, t) in form.iter_mut().zip(target) {
            *f = a_form * *f + (1.0 - a_form) * t;
        }
        let mut y = exc;
        for (j, r) in res.iter_mut().enumerate() {
            y = r.step(y, form[j].min(nyq_cap), form[j + 3], fs);
        }
        voiced[k] = tilt.step(y);
        let mut fr = noise_rng.gauss() * fenv[k];
        for r in fric_res.iter_mut() {
            fr = r.step_peak(fr, fric_f, fric_bw, fs);
        }
        fric[k] = fr;
    }
    // Fricatives 12 dB under the vowels (RMS over the samples where each is active).
    let active_rms = |x: &[f64], e: &[f64]| {
        let (s, c) = x
            .iter()
            .zip(e)
            .filter(|(_, &e)| e > 0.1)
            .fold((0.0, 0usize), |(s, c), (v, _)| (s + v * v, c + 1));
        if c == 0 {
            0.0
        } else {
            (s / c as f64).sqrt()
        }
    };
    let (rv, rf) = (active_rms(&voiced, &env), active_rms(&fric, &fenv));
    let gf = if rf > 0.0 { 0.25 * rv / rf } else { 0.0 };
    let mut out: Vec<f32> = voiced
        .iter()
        .zip(&fric)
        .map(|(v, f)| (v + gf * f) as f32)
        .collect();
    set_rms(&mut out, 0.1);
    out
}

/// International Morse code for letters, digits and a little punctuation.
fn morse_code(c: char) -> Option<&'static str> {
    Some(match c.to_ascii_uppercase() {
        'A' => ".-",
        'B' => "-...",
        'C' => "-.-.",
        'D' => "-..",
        'E' => ".",
        'F' => "..-.",
        'G' => "--.",
        'H' => "....",
        'I' => "..",
        'J' => ".---",
        'K' => "-.-",
        'L' => ".-..",
        'M' => "--",
        'N' => "-.",
        'O' => "---",
        'P' => ".--.",
        'Q' => "--.-",
        'R' => ".-.",
        'S' => "...",
        'T' => "-",
        'U' => "..-",
        'V' => "...-",
        'W' => ".--",
        'X' => "-..-",
        'Y' => "-.--",
        'Z' => "--..",
        '0' => "-----",
        '1' => ".----",
        '2' => "..---",
        '3' => "...--",
        '4' => "....-",
        '5' => ".....",
        '6' => "-....",
        '7' => "--...",
        '8' => "---..",
        '9' => "----.",
        '/' => "-..-.",
        '?' => "..--..",
        '.' => ".-.-.-",
        ',' => "--..--",
        '=' => "-...-",
        _ => return None,
    })
}

/// Key-down intervals of `text` in dit units (PARIS timing: dit 1, dah 3, element gap 1, letter
/// gap 3, word gap 7), and the total length in dits including a final word gap.
pub fn morse_timing(text: &str) -> (Vec<(u32, u32)>, u32) {
    let mut on = Vec::new();
    let mut t = 0u32;
    for word in text.split_whitespace() {
        for c in word.chars() {
            let Some(code) = morse_code(c) else { continue };
            for e in code.chars() {
                let len = if e == '-' { 3 } else { 1 };
                on.push((t, t + len));
                t += len + 1;
            }
            t += 2; // letter gap: 3 = 1 (after element) + 2
        }
        t += 4; // word gap: 7 = 3 + 4
    }
    (on, t)
}

/// Raised-cosine keying edge length, s.
pub const KEY_EDGE_S: f64 = 0.005;

/// Morse CW: `text` keyed at `wpm` words per minute (PARIS: dit = 1.2/wpm s) on a tone of
/// `tone_hz`, peak amplitude `amp`, with 5 ms raised-cosine key edges. Repeats the text to fill
/// `seconds`, starting after `lead_s` of silence.
pub fn morse(
    rate: u32,
    seconds: f64,
    text: &str,
    wpm: f64,
    tone_hz: f64,
    amp: f64,
    lead_s: f64,
) -> Vec<f32> {
    morse_keyed(
        rate,
        seconds,
        &Keying {
            text,
            wpm,
            tone_hz,
            drift_hz_s: 0.0,
            amp,
            lead_s,
            edge_s: KEY_EDGE_S,
        },
    )
}

/// How a Morse clip is keyed (see [`morse_keyed`]).
#[derive(Debug, Clone, Copy)]
pub struct Keying<'a> {
    pub text: &'a str,
    /// Words per minute (PARIS: dit = 1.2/wpm s).
    pub wpm: f64,
    /// Tone at the start, Hz.
    pub tone_hz: f64,
    /// Linear drift of the tone, Hz per second (a drifting transmitter or receiver).
    pub drift_hz_s: f64,
    /// Peak amplitude (key down).
    pub amp: f64,
    /// Silence before the first element, s.
    pub lead_s: f64,
    /// Raised-cosine key edge length, s.
    pub edge_s: f64,
}

/// Morse CW keyed as `k` describes; the tone's phase is continuous (the oscillator runs during
/// key-up, as in a transmitter), its frequency `tone_hz + drift_hz_s·t`.
pub fn morse_keyed(rate: u32, seconds: f64, k: &Keying) -> Vec<f32> {
    let n = samples(rate, seconds);
    let fs = rate as f64;
    let dit = 1.2 / k.wpm.max(1.0);
    let (on, total) = morse_timing(k.text);
    let mut out = vec![0.0f32; n];
    if on.is_empty() || total == 0 {
        return out;
    }
    let edge = k.edge_s.max(1.0 / fs) * fs;
    let phase = |i: usize| {
        let t = i as f64 / fs;
        2.0 * PI * (k.tone_hz * t + 0.5 * k.drift_hz_s * t * t)
    };
    let mut rep_start = k.lead_s;
    while rep_start < seconds {
        for &(a, b) in &on {
            let (t0, t1) = (rep_start + a as f64 * dit, rep_start + b as f64 * dit);
            let (k0, k1) = (samples(rate, t0), samples(rate, t1 + k.edge_s).min(n));
            for (i, o) in out.iter_mut().enumerate().take(k1).skip(k0) {
                let since_on = i as f64 - t0 * fs;
                let since_off = i as f64 - t1 * fs;
                let up = if since_on < edge {
                    0.5 - 0.5 * (PI * since_on.max(0.0) / edge).cos()
                } else {
                    1.0
                };
                let down = if since_off > 0.0 {
                    0.5 + 0.5 * (PI * (since_off / edge).min(1.0)).cos()
                } else {
                    1.0
                };
                *o = (k.amp * up.min(down) * phase(i).sin()) as f32;
            }
        }
        rep_start += total as f64 * dit;
    }
    out
}

/// The default CW text: a typical CQ call.
pub const CQ_TEXT: &str = "CQ CQ CQ DE DL1ABC DL1ABC PSE K";

/// A seeded Morse clip: a tone in 400–900 Hz, 18–25 wpm, CQ text, peak 0.3, lead-in 0.3–0.6 s.
pub fn morse_clip(rate: u32, seconds: f64, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed ^ 0xC0DE);
    let tone = r.range(400.0, 900.0).min(0.4 * rate as f64);
    let wpm = r.range(18.0, 25.0);
    let lead = r.range(0.3, 0.6);
    morse(rate, seconds, CQ_TEXT, wpm, tone, 0.3, lead)
}

/// An AM-broadcast-like music signal: notes of a pentatonic scale (110–880 Hz), two voices, each
/// note with 6 harmonics (1/k amplitudes, none above min(4.5 kHz, 0.45·rate)), attack 20 ms and an
/// exponential decay; RMS 0.1.
pub fn am_music(rate: u32, seconds: f64, seed: u64) -> Vec<f32> {
    let n = samples(rate, seconds);
    let fs = rate as f64;
    let mut r = Rng::new(seed ^ 0xA11);
    let scale = [0.0, 2.0, 4.0, 7.0, 9.0]; // major pentatonic, semitones
    let mut out = vec![0.0f64; n];
    let fmax = 4500.0f64.min(0.45 * fs);
    for voice in 0..2 {
        let mut t = if voice == 0 { 0.2 } else { 0.45 };
        while t < seconds {
            let dur = [0.25, 0.5, 0.75][(r.uniform() * 3.0) as usize % 3];
            let octave = (r.uniform() * 3.0) as usize % 3 + voice;
            let degree = scale[(r.uniform() * 5.0) as usize % 5];
            let f0 = 110.0 * 2f64.powf(octave as f64 + degree / 12.0);
            let (k0, k1) = (samples(rate, t), samples(rate, t + dur * 1.5).min(n));
            let amp = r.range(0.6, 1.0);
            for (k, o) in out.iter_mut().enumerate().take(k1).skip(k0) {
                let tt = (k - k0) as f64 / fs;
                let left = (k1 - k) as f64 / fs;
                let env = (tt / 0.02).min(1.0)
                    * (-tt / (0.4 * dur)).exp()
                    * (0.5 - 0.5 * (PI * (left / 0.05).min(1.0)).cos());
                let mut v = 0.0;
                for h in 1..=6 {
                    let f = f0 * h as f64;
                    if f > fmax {
                        break;
                    }
                    v += (2.0 * PI * f * tt).sin() / h as f64;
                }
                *o += amp * env * v;
            }
            t += dur;
        }
    }
    let mut out: Vec<f32> = out.into_iter().map(|v| v as f32).collect();
    set_rms(&mut out, 0.1);
    out
}

/// Pink noise keeps its 1/f slope down to this frequency (the CW noise has power down to
/// fractions of a Hz). Until this session it was flat below 20 Hz, which left the evaluation
/// without the infrasound that real band audio carries.
pub const PINK_LOW_HZ: f64 = 0.05;

/// Noise colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum NoiseColour {
    /// Flat power spectrum.
    White,
    /// Power ∝ 1/f (−3 dB/octave) down to [`PINK_LOW_HZ`] (in a clip of a few seconds: down to
    /// its lowest frequency), as band noise is: a third of its power or more is infrasonic and
    /// wanders over seconds inside the lowest bin or two.
    Pink,
    /// Power ∝ 1/f² (−6 dB/octave), flat below 20 Hz.
    Brown,
    /// White within an SSB receiver's passband, 300–2700 Hz (50 Hz raised-cosine skirts).
    Ssb,
    /// HF-tilted hiss (an AM receiver's detector noise after its audio chain): power rising
    /// +3 dB/octave from 200 Hz to 4 kHz, flat outside.
    Hf,
    /// HF-tilted hiss plus mains hum (50 or 60 Hz from the seed, fundamental and harmonics 2–7,
    /// see [`hum`]) at the hiss's power: the noise of an AM broadcast receiver.
    Hum,
    /// White and pink noise at equal power (the CW test noise).
    #[value(name = "whitepink")]
    WhitePink,
}

impl NoiseColour {
    pub fn name(self) -> &'static str {
        match self {
            NoiseColour::White => "white",
            NoiseColour::Pink => "pink",
            NoiseColour::Brown => "brown",
            NoiseColour::Ssb => "ssb",
            NoiseColour::Hf => "hf",
            NoiseColour::Hum => "hum",
            NoiseColour::WhitePink => "whitepink",
        }
    }
    /// Amplitude response at `f` Hz (relative).
    fn amplitude(self, f: f64) -> f64 {
        match self {
            NoiseColour::White => 1.0,
            NoiseColour::Pink => 1.0 / f.max(PINK_LOW_HZ).sqrt(),
            NoiseColour::Brown => 1.0 / f.max(20.0),
            NoiseColour::Ssb => {
                let edge = |x: f64| {
                    // 0 below −25 Hz, 1 above +25 Hz, raised cosine between.
                    if x <= -25.0 {
                        0.0
                    } else if x >= 25.0 {
                        1.0
                    } else {
                        0.5 + 0.5 * (PI * x / 50.0).sin()
                    }
                };
                edge(f - 300.0) * edge(2700.0 - f)
            }
            NoiseColour::Hf => (f.clamp(200.0, 4000.0) / 1000.0).sqrt(),
            // Composite kinds are built from their parts in `noise`.
            NoiseColour::Hum | NoiseColour::WhitePink => 1.0,
        }
    }
}

/// Gaussian noise of the given colour, `n` samples, unit RMS. Shaped in the frequency domain over
/// the whole clip (exact spectrum at any rate; circular, so the clip loops seamlessly). DC is 0.
pub fn noise(colour: NoiseColour, rate: u32, n: usize, seed: u64) -> Vec<f32> {
    if n == 0 {
        return Vec::new();
    }
    let parts = |a: NoiseColour, b: Vec<f32>| {
        let mut x: Vec<f32> = noise(a, rate, n, seed ^ 0xA5A5)
            .iter()
            .zip(&b)
            .map(|(u, v)| u + v)
            .collect();
        set_rms(&mut x, 1.0);
        x
    };
    match colour {
        NoiseColour::WhitePink => {
            return parts(NoiseColour::White, noise(NoiseColour::Pink, rate, n, seed))
        }
        NoiseColour::Hum => {
            let mains = if Rng::new(seed).uniform() < 0.5 {
                50.0
            } else {
                60.0
            };
            return parts(NoiseColour::Hf, hum(rate, n, mains, 1.0));
        }
        _ => {}
    }
    let mut r = Rng::new(seed ^ 0x4015E);
    let mut planner = RealFftPlanner::<f64>::new();
    let ifft = planner.plan_fft_inverse(n);
    let mut spec = ifft.make_input_vec();
    let len = spec.len();
    for (k, c) in spec.iter_mut().enumerate() {
        let f = k as f64 * rate as f64 / n as f64;
        let a = if k == 0 { 0.0 } else { colour.amplitude(f) };
        // The Nyquist bin (even n) must be real for a real inverse.
        let im = if n % 2 == 0 && k == len - 1 {
            0.0
        } else {
            r.gauss()
        };
        *c = num_complex::Complex64::new(a * r.gauss(), a * im);
    }
    let mut out = ifft.make_output_vec();
    ifft.process(&mut spec, &mut out)
        .expect("fft sizes are fixed");
    let mut out: Vec<f32> = out.into_iter().map(|v| v as f32).collect();
    set_rms(&mut out, 1.0);
    out
}

/// Mains hum: `mains_hz` (50 or 60) and harmonics 2–7 (odd ones stronger, as from a rectifier),
/// total RMS `rms_level`.
pub fn hum(rate: u32, n: usize, mains_hz: f64, rms_level: f64) -> Vec<f32> {
    let fs = rate as f64;
    let amps = [1.0, 0.3, 0.5, 0.15, 0.3, 0.1, 0.2];
    let mut out: Vec<f32> = (0..n)
        .map(|k| {
            let t = k as f64 / fs;
            amps.iter()
                .enumerate()
                .filter(|(h, _)| mains_hz * (*h as f64 + 1.0) < 0.5 * fs)
                .map(|(h, a)| a * (2.0 * PI * mains_hz * (h as f64 + 1.0) * t + h as f64).sin())
                .sum::<f64>() as f32
        })
        .collect();
    set_rms(&mut out, rms_level);
    out
}

/// The gain that puts `noise` at `snr_db` under `clean` (full band, whole clip):
/// `10·log10(Σclean² / Σ(g·noise)²) = snr_db`. 0 for silent noise.
pub fn snr_gain(clean: &[f32], noise: &[f32], snr_db: f64) -> f64 {
    let pc: f64 = clean.iter().map(|&v| (v as f64).powi(2)).sum();
    let pn: f64 = noise.iter().map(|&v| (v as f64).powi(2)).sum();
    if pn > 0.0 {
        (pc / pn / 10f64.powf(snr_db / 10.0)).sqrt()
    } else {
        0.0
    }
}

/// Adds `noise` to `clean` scaled for the given full-band SNR over the whole clip (see
/// [`snr_gain`]). Returns (noisy, scaled noise). The shorter length is used.
pub fn mix_at_snr(clean: &[f32], noise: &[f32], snr_db: f64) -> (Vec<f32>, Vec<f32>) {
    let n = clean.len().min(noise.len());
    let g = snr_gain(&clean[..n], &noise[..n], snr_db);
    let scaled: Vec<f32> = noise[..n].iter().map(|&v| (v as f64 * g) as f32).collect();
    let noisy = clean[..n].iter().zip(&scaled).map(|(a, b)| a + b).collect();
    (noisy, scaled)
}

/// Writes an SDRuno-style IQ recording for speed and memory tests: a 16-bit stereo WAV at
/// `rate` with a 164-byte `auxi` chunk (centre 7.15 MHz), `frames` I/Q pairs of complex noise
/// plus carriers at +rate/8 and −3·rate/8 (exact phases from the sample index), generated and
/// written in blocks so a multi-GiB file needs constant memory.
pub fn write_sdruno_test_recording(
    path: &std::path::Path,
    rate: u32,
    frames: u64,
) -> std::io::Result<()> {
    use crate::io::auxi::{build164, SystemTime};
    use crate::io::riff::{Chunk, RiffWriter, SampleFormat, WavFmt};
    let t = SystemTime {
        year: 2024,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        millis: 0,
    };
    let fmt = WavFmt {
        tag: 1,
        channels: 2,
        rate,
        bits: 16,
        block_align: 4,
        sample: SampleFormat::I16,
    };
    let chunks = [
        fmt.to_chunk(),
        Chunk {
            id: *b"auxi",
            data: build164(t, t, 7_150_000),
        },
    ];
    let f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut w = RiffWriter::new(f, &chunks, &[], 4, frames * 4, false)?;
    let mut s = 0x1234_5678u32;
    let block = 1u64 << 18;
    let mut buf = Vec::with_capacity(block as usize * 4);
    let mut done = 0u64;
    while done < frames {
        buf.clear();
        let n = (frames - done).min(block);
        for k in 0..n {
            let m = ((done + k) % 8) as f64;
            // Integer LCG noise keeps generation cheap next to the filter being measured.
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n1 = ((s >> 16) as i32 - 32768) / 16;
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let n2 = ((s >> 16) as i32 - 32768) / 16;
            let (p1, p2) = (PI / 4.0 * m, -3.0 * PI / 4.0 * m);
            let i = n1 + (800.0 * p1.cos() + 600.0 * p2.cos()) as i32;
            let q = n2 + (800.0 * p1.sin() + 600.0 * p2.sin()) as i32;
            buf.extend_from_slice(&(i as i16).to_le_bytes());
            buf.extend_from_slice(&(q as i16).to_le_bytes());
        }
        w.write_data(&buf)?;
        done += n;
    }
    w.finish()?;
    Ok(())
}
