//! Synthetic I/Q scenes with known emitters, for the detector's evaluation and tests.
//!
//! A scene is complex baseband at `rate` with white complex Gaussian noise and emitters in
//! separate frequency slots (8 kHz apart, both sides of the centre, none within 4 kHz of DC):
//! steady carriers, Morse CW at 5–40 WPM, short tone bursts (10–100 ms), FSK pairs (170 or
//! 425 Hz shift, 45.45–100 baud), a voice-like SSB channel (tones 300–2700 Hz above its
//! suppressed carrier, keyed by syllables) and drifting carriers (±20–200 Hz/s).
//!
//! **SNR** of an emitter: its mean power while on over the noise power in its bandwidth, and at
//! least one analysis bin (`bin_hz`): a carrier's SNR is what one spectrogram cell shows; the
//! voice channel's is over its 2.4 kHz. Drawn uniformly in −10…+20 dB.
//!
//! The samples are a pure function of (scene, sample index) — noise from a counter-based hash,
//! phases in closed form — so [`SceneSource`] reads in any block size and seeks
//! (`read_at`), and memory does not depend on the length.

use super::detect::Kind;
use crate::engine::SignalKind;
use crate::eval::signals::{morse_timing, Rng};
use crate::io::iq::RawIq;
use crate::stream::{Encoding, Result, Source, StreamInfo};
use std::f64::consts::PI;

/// Emitter families of a scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Carrier,
    Cw,
    Burst,
    Fsk,
    Voice,
    Drift,
}

impl Family {
    pub const ALL: [Family; 6] = [
        Family::Carrier,
        Family::Cw,
        Family::Burst,
        Family::Fsk,
        Family::Voice,
        Family::Drift,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Family::Carrier => "carrier",
            Family::Cw => "cw",
            Family::Burst => "burst",
            Family::Fsk => "fsk",
            Family::Voice => "voice",
            Family::Drift => "drifting carrier",
        }
    }
    /// The kind the detector should report.
    pub fn expected_kind(self) -> Kind {
        match self {
            Family::Carrier | Family::Drift => Kind::Carrier,
            Family::Cw => Kind::Cw,
            Family::Burst => Kind::Burst,
            Family::Fsk => Kind::Unknown,
            Family::Voice => Kind::Voice,
        }
    }
}

/// How an emitter sounds.
#[derive(Debug, Clone)]
pub enum Signal {
    /// A tone at `f0 + drift·t` (t from the emitter's start).
    Tone { f0: f64, drift: f64 },
    /// A tone keyed on during `elements` (absolute seconds), raised-cosine edges of `edge` s.
    Keyed {
        f: f64,
        elements: Vec<(f64, f64)>,
        edge: f64,
    },
    /// Continuous-phase FSK: `f ± shift/2` by `bits`, one per `1/baud` s; `phase` at each bit.
    Fsk {
        f: f64,
        shift: f64,
        baud: f64,
        bits: Vec<bool>,
        phase: Vec<f64>,
    },
    /// Tones (offset Hz, amplitude, phase) above `f`, keyed by `syllables`.
    Voice {
        f: f64,
        tones: Vec<(f64, f64, f64)>,
        syllables: Vec<(f64, f64)>,
    },
}

/// One known emitter (ground truth).
#[derive(Debug, Clone)]
pub struct Emitter {
    pub family: Family,
    pub start_s: f64,
    pub end_s: f64,
    /// Power-weighted centre, offset from the scene's centre, Hz (a drifting carrier: its mean).
    pub center_hz: f64,
    /// Bandwidth used for the SNR (at least one bin), Hz.
    pub bw_hz: f64,
    pub snr_db: f64,
    /// Complex amplitude while on.
    pub amp: f64,
    pub signal: Signal,
}

impl Emitter {
    /// The emitter's first rising and last falling edge, each at its middle (50 % of the
    /// amplitude, as pulse timing is measured: IEEE 181): what the detector's `start_s` and
    /// `end_s` are scored against. Edges: 2 ms for carriers and FSK, `edge` for keyed tones
    /// (5 ms CW, 1 ms bursts), 10 ms for the voice channel's syllables.
    pub fn edges_s(&self) -> (f64, f64) {
        match &self.signal {
            Signal::Tone { .. } | Signal::Fsk { .. } => (self.start_s + 0.001, self.end_s - 0.001),
            Signal::Keyed { elements, edge, .. } => (
                elements[0].0 + edge / 2.0,
                elements[elements.len() - 1].1 + edge / 2.0,
            ),
            Signal::Voice { syllables, .. } => (
                syllables[0].0 + 0.005,
                syllables[syllables.len() - 1].1 + 0.005,
            ),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SceneConfig {
    pub rate: u32,
    pub duration_s: f64,
    pub seed: u64,
    /// Analysis bin width for the SNR definition, Hz (the iq preset: rate / 4096).
    pub bin_hz: f64,
    /// Total noise power (complex, per sample), linear full scale.
    pub noise_power: f64,
    /// SNR range, dB.
    pub snr_lo_db: f64,
    pub snr_hi_db: f64,
    /// Emitters per family (carriers, CW, bursts, FSK, voice, drifting carriers).
    pub counts: [usize; 6],
    /// Receiver centre frequency written into a WAV's name (SDRuno style), Hz.
    pub center_hz: Option<f64>,
}

impl SceneConfig {
    /// The default scene at `rate` (bins of the iq preset's 4096-sample frames).
    pub fn new(rate: u32, duration_s: f64, seed: u64) -> SceneConfig {
        SceneConfig {
            rate,
            duration_s,
            seed,
            bin_hz: rate as f64 / 4096.0,
            noise_power: 0.01,
            snr_lo_db: -10.0,
            snr_hi_db: 20.0,
            counts: [3, 3, 4, 2, 2, 2],
            center_hz: None,
        }
    }
}

/// A generated scene.
#[derive(Debug, Clone)]
pub struct Scene {
    pub cfg: SceneConfig,
    pub emitters: Vec<Emitter>,
}

const SLOT_HZ: f64 = 8_000.0;
const DC_GUARD_HZ: f64 = 4_000.0;

impl Scene {
    /// Draws the emitters of a scene from its seed.
    pub fn generate(cfg: SceneConfig) -> Scene {
        let mut rng = Rng::new(cfg.seed ^ 0x5CE4E);
        let half = 0.8 * cfg.rate as f64 / 2.0;
        let mut slots: Vec<f64> = Vec::new();
        let mut f = DC_GUARD_HZ + SLOT_HZ / 2.0;
        while f < half {
            slots.push(f);
            slots.push(-f);
            f += SLOT_HZ;
        }
        // Shuffle the slots (Fisher–Yates).
        for i in (1..slots.len()).rev() {
            let j = (rng.uniform() * (i + 1) as f64) as usize;
            slots.swap(i, j.min(i));
        }
        let mut slots = slots.into_iter();
        let d = cfg.duration_s;
        let mut emitters = Vec::new();
        let n0 = cfg.noise_power / cfg.rate as f64;
        for (fi, fam) in Family::ALL.iter().enumerate() {
            for _ in 0..cfg.counts[fi] {
                let Some(slot) = slots.next() else { break };
                let mut r = rng.fork(emitters.len() as u64 + 1);
                let snr_db = r.range(cfg.snr_lo_db, cfg.snr_hi_db);
                let fc = slot + r.range(-1000.0, 1000.0);
                let mut add = |start_s: f64, end_s: f64, center: f64, bw: f64, signal: Signal| {
                    let bw = bw.max(cfg.bin_hz);
                    let p = 10f64.powf(snr_db / 10.0) * n0 * bw;
                    emitters.push(Emitter {
                        family: *fam,
                        start_s,
                        end_s,
                        center_hz: center,
                        bw_hz: bw,
                        snr_db,
                        amp: p.sqrt(),
                        signal,
                    });
                };
                match fam {
                    Family::Carrier => {
                        let (a, b) = if r.uniform() < 0.5 {
                            (0.0, d)
                        } else {
                            let a = r.range(0.0, d / 3.0);
                            (a, (a + r.range(1.0, d)).min(d))
                        };
                        add(a, b, fc, 0.0, Signal::Tone { f0: fc, drift: 0.0 });
                    }
                    Family::Drift => {
                        let a = r.range(0.0, d / 4.0);
                        let b = (a + r.range(2.0, 6.0)).min(d);
                        let drift =
                            r.range(20.0, 200.0) * if r.uniform() < 0.5 { -1.0 } else { 1.0 };
                        let f0 = fc - drift * (b - a) / 2.0;
                        add(a, b, fc, 0.0, Signal::Tone { f0, drift });
                    }
                    Family::Cw => {
                        let wpm = r.range(5.0, 40.0);
                        let dit = 1.2 / wpm;
                        let a = r.range(0.0, d / 4.0);
                        let texts = ["CQ DE DL1ABC K", "CQ DE K1AB", "CQ CQ", "CQ"];
                        let text = texts
                            .iter()
                            .find(|t| a + morse_timing(t).1 as f64 * dit < d - 0.1)
                            .unwrap_or(&"E");
                        let (on, _) = morse_timing(text);
                        let elements: Vec<(f64, f64)> = on
                            .iter()
                            .map(|&(x, y)| (a + x as f64 * dit, (a + y as f64 * dit).min(d)))
                            .filter(|(x, y)| y > x)
                            .collect();
                        // The end is the middle of the last falling edge.
                        let (s, e) = (elements[0].0, elements[elements.len() - 1].1 + 0.0025);
                        add(
                            s,
                            e,
                            fc,
                            0.0,
                            Signal::Keyed {
                                f: fc,
                                elements,
                                edge: 0.005,
                            },
                        );
                    }
                    Family::Burst => {
                        // Up to three bursts in the slot, 3 s apart (more than the hold time).
                        let mut t = r.range(0.05, 1.0);
                        while t + 0.1 < d {
                            let len = r.range(0.010, 0.100);
                            let f = slot + r.range(-1000.0, 1000.0);
                            add(
                                t,
                                t + len + 0.0005,
                                f,
                                0.0,
                                Signal::Keyed {
                                    f,
                                    elements: vec![(t, t + len)],
                                    edge: 0.001,
                                },
                            );
                            t += len + r.range(3.0, 4.0);
                        }
                    }
                    Family::Fsk => {
                        let shift = if r.uniform() < 0.5 { 170.0 } else { 425.0 };
                        let baud = [45.45, 50.0, 75.0, 100.0][(r.uniform() * 4.0) as usize % 4];
                        let a = r.range(0.0, d / 3.0);
                        let b = (a + r.range(1.0, 4.0)).min(d);
                        let nb = ((b - a) * baud).ceil() as usize + 1;
                        let bits: Vec<bool> = (0..nb).map(|_| r.uniform() < 0.5).collect();
                        // Continuous phase at each bit start (cycles).
                        let mut phase = Vec::with_capacity(nb);
                        let mut ph = 0.0;
                        for &bit in &bits {
                            phase.push(ph);
                            let fb = fc + if bit { shift / 2.0 } else { -shift / 2.0 };
                            ph = (ph + fb / baud).rem_euclid(1.0);
                        }
                        add(
                            a,
                            b,
                            fc,
                            0.0,
                            Signal::Fsk {
                                f: fc,
                                shift,
                                baud,
                                bits,
                                phase,
                            },
                        );
                    }
                    Family::Voice => {
                        let a = r.range(0.0, d / 3.0);
                        let b = (a + r.range(2.0, 5.0)).min(d);
                        let mut syllables = Vec::new();
                        let mut t = a;
                        while t < b - 0.1 {
                            let len = r.range(0.12, 0.35).min(b - t);
                            syllables.push((t, t + len));
                            t += len + r.range(0.04, 0.25);
                        }
                        let tones: Vec<(f64, f64, f64)> = (0..16)
                            .map(|i| {
                                let off = 300.0 + 150.0 * i as f64 + r.range(0.0, 150.0);
                                (off, r.range(0.5, 1.0), r.range(0.0, 1.0))
                            })
                            .collect();
                        let (s, e) = (syllables[0].0, syllables[syllables.len() - 1].1 + 0.005);
                        // Power-weighted centre of the tones.
                        let w: f64 = tones.iter().map(|t| t.1 * t.1).sum();
                        let c = fc + tones.iter().map(|t| t.0 * t.1 * t.1).sum::<f64>() / w;
                        add(
                            s,
                            e,
                            c,
                            2400.0,
                            Signal::Voice {
                                f: fc,
                                tones,
                                syllables,
                            },
                        );
                    }
                }
            }
        }
        // Tone amplitudes of the voice channel sum to its power.
        for e in &mut emitters {
            if let Signal::Voice { tones, .. } = &mut e.signal {
                let w: f64 = tones.iter().map(|t| t.1 * t.1).sum();
                let k = e.amp / w.sqrt();
                tones.iter_mut().for_each(|t| t.1 *= k);
            }
        }
        Scene { cfg, emitters }
    }

    /// Frames in the scene.
    pub fn frames(&self) -> u64 {
        (self.cfg.duration_s * self.cfg.rate as f64).round() as u64
    }

    /// Interleaved I/Q for frames `start..start + out.len()/2`.
    pub fn render(&self, start: u64, out: &mut [f32]) {
        let fs = self.cfg.rate as f64;
        let n = out.len() / 2;
        let sigma = (self.cfg.noise_power / 2.0).sqrt();
        let seed = self.cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5;
        for i in 0..n {
            let (g1, g2) = gauss_pair(seed, start + i as u64);
            out[2 * i] = (sigma * g1) as f32;
            out[2 * i + 1] = (sigma * g2) as f32;
        }
        let (t0, t1) = (start as f64 / fs, (start + n as u64) as f64 / fs);
        for e in &self.emitters {
            if e.end_s + 0.01 < t0 || e.start_s - 0.01 > t1 {
                continue;
            }
            let i0 = (((e.start_s - 0.01) * fs).floor() as i64 - start as i64).max(0) as usize;
            let i1 =
                ((((e.end_s + 0.01) * fs).ceil() as i64 - start as i64).max(0) as usize).min(n);
            for i in i0..i1 {
                let t = (start + i as u64) as f64 / fs;
                let (re, im) = e.sample(t);
                out[2 * i] += re as f32;
                out[2 * i + 1] += im as f32;
            }
        }
    }

    /// A streaming source over the scene (complex, stored as cf32le).
    pub fn source(&self) -> SceneSource<'_> {
        let mut info = StreamInfo::new(
            self.cfg.rate,
            2,
            SignalKind::Complex,
            Encoding::Iq(RawIq::Cf32le),
        );
        info.frames = Some(self.frames());
        info.format = format!("synthetic I/Q scene (seed {})", self.cfg.seed);
        info.center_hz = self.cfg.center_hz;
        info.kind_reason = "synthetic scene".into();
        SceneSource {
            scene: self,
            pos: 0,
            info,
        }
    }
}

impl Emitter {
    /// The complex sample at absolute time `t`.
    fn sample(&self, t: f64) -> (f64, f64) {
        let cis = |cycles: f64, a: f64| {
            let (s, c) = (2.0 * PI * cycles.rem_euclid(1.0)).sin_cos();
            (a * c, a * s)
        };
        let inside = |t: f64, a: f64, b: f64, edge: f64| -> f64 {
            if t < a || t > b + edge {
                0.0
            } else if t < a + edge {
                0.5 - 0.5 * (PI * (t - a) / edge).cos()
            } else if t > b {
                0.5 + 0.5 * (PI * (t - b) / edge).cos()
            } else {
                1.0
            }
        };
        match &self.signal {
            Signal::Tone { f0, drift } => {
                let tt = t - self.start_s;
                let env = inside(t, self.start_s, self.end_s - 0.002, 0.002);
                if env == 0.0 {
                    return (0.0, 0.0);
                }
                cis(f0 * tt + 0.5 * drift * tt * tt, self.amp * env)
            }
            Signal::Keyed { f, elements, edge } => {
                // Elements are short lists; a linear scan is enough for tests and eval.
                let env = elements
                    .iter()
                    .find(|(a, b)| t >= *a && t <= b + edge)
                    .map(|(a, b)| inside(t, *a, *b, *edge))
                    .unwrap_or(0.0);
                if env == 0.0 {
                    return (0.0, 0.0);
                }
                cis(f * t, self.amp * env)
            }
            Signal::Fsk {
                f,
                shift,
                baud,
                bits,
                phase,
            } => {
                let env = inside(t, self.start_s, self.end_s - 0.002, 0.002);
                if env == 0.0 {
                    return (0.0, 0.0);
                }
                let tt = t - self.start_s;
                let k = ((tt * baud) as usize).min(bits.len() - 1);
                let fb = f + if bits[k] { shift / 2.0 } else { -shift / 2.0 };
                cis(phase[k] + fb * (tt - k as f64 / baud), self.amp * env)
            }
            Signal::Voice {
                f,
                tones,
                syllables,
            } => {
                let env = syllables
                    .iter()
                    .find(|(a, b)| t >= *a && t <= b + 0.01)
                    .map(|(a, b)| inside(t, *a, *b, 0.01))
                    .unwrap_or(0.0);
                if env == 0.0 {
                    return (0.0, 0.0);
                }
                tones.iter().fold((0.0, 0.0), |(re, im), &(off, a, ph)| {
                    let (x, y) = cis((f + off) * t + ph, a * env);
                    (re + x, im + y)
                })
            }
        }
    }
}

/// Two independent standard normals for sample `i` (SplitMix64 of a counter, Box–Muller).
fn gauss_pair(seed: u64, i: u64) -> (f64, f64) {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let a = mix(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let b = mix(a.wrapping_add(0x9E37_79B9_7F4A_7C15));
    let u1 = ((a >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
    let u2 = (b >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (2.0 * PI * u2).sin_cos();
    (r * c, r * s)
}

/// A scene as a [`Source`] (reads and seeks; constant memory).
pub struct SceneSource<'a> {
    scene: &'a Scene,
    pos: u64,
    info: StreamInfo,
}

impl Source for SceneSource<'_> {
    fn info(&self) -> &StreamInfo {
        &self.info
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize> {
        let left = self.scene.frames() - self.pos;
        let n = ((buf.len() / 2) as u64).min(left) as usize;
        self.scene.render(self.pos, &mut buf[..2 * n]);
        self.pos += n as u64;
        Ok(2 * n)
    }
    fn read_at(&self, start: u64, n: usize) -> Option<Result<Vec<f32>>> {
        let end = (start + n as u64).min(self.scene.frames());
        let m = end.saturating_sub(start) as usize;
        let mut v = vec![0f32; 2 * m];
        self.scene.render(start, &mut v);
        Some(Ok(v))
    }
}
