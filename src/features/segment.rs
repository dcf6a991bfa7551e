//! Per-segment audio classification features (`specgate features --segments`): the usual
//! frame features, computed by a streaming extractor, aggregated over fixed-length segments.
//!
//! # Definitions (librosa 0.11, checked against it by `tests/features_segments.rs`)
//! Every `hop` samples a frame of `n_fft` samples is multiplied by the periodic Hann window and
//! transformed (f64, realfft). With `X[k]` its spectrum, `S[k] = |X[k]|` (magnitude) and
//! `P[k] = |X[k]|²` (power), `f[k] = k·rate/n_fft`, per frame:
//!
//! | column | definition | librosa call |
//! |---|---|---|
//! | `band_LO_HI_db` | `10·log10(max(1e-10, Σ P[k]))` over `LO ≤ f[k] < HI` (the top band also takes `f = HI`) | — (numpy on `abs(stft)**2`) |
//! | `centroid_hz` | `Σ f·Ŝ` with `Ŝ = S/ΣS` | `spectral_centroid` |
//! | `bandwidth_hz` | `(Σ Ŝ·(f − centroid)²)^½` | `spectral_bandwidth` (p = 2) |
//! | `flatness` | geometric / arithmetic mean of `max(1e-10, P)` | `spectral_flatness` |
//! | `rolloff_hz` | lowest `f[k]` whose cumulative `S` reaches `roll_percent·ΣS` | `spectral_rolloff` |
//! | `rms` | `(mean x²)^½` over the (unwindowed) frame | `rms` |
//! | `zcr` | sign changes between consecutive frame samples / `n_fft` (|x| ≤ 1e-10 counts as +0) | `zero_crossing_rate` |
//! | `mfcc0..` | DCT-II (ortho) of the mel power in dB, first `n_mfcc` | `mfcc` |
//!
//! MFCCs use librosa's defaults: `n_mels` Slaney-style triangular filters (`htk=False`,
//! `norm='slaney'`, weights rounded to f32 like librosa's float32 filter bank) between `fmin`
//! and `fmax` applied to `P`, then `power_to_db(ref=1, amin=1e-10, top_db)`.
//!
//! **`top_db` in a stream.** librosa clips the dB mel spectrogram at `max − top_db` where the
//! maximum is taken over the *whole* input, which a stream does not know until it ends. This
//! extractor clips each frame at `running_max − top_db`, the running maximum being over every mel
//! cell of this frame and all earlier ones. It equals librosa whenever the loudest cell comes no
//! later than the cells it clips (e.g. the loudest frame is early, or nothing falls 80 dB below the
//! maximum); otherwise earlier frames keep detail librosa would clip. `top_db: None` disables the
//! clip (librosa's `top_db=None`), and then the MFCCs equal librosa's exactly in any stream.
//!
//! **Frame alignment.** `center: true` (the default, librosa's default) pads the stream with
//! `n_fft/2` zeros at both ends (librosa's `pad_mode='constant'`; the zero-crossing rate copies
//! the first and last sample instead, as librosa's `zero_crossing_rate` does), so frame `t` is
//! centred on sample `t·hop` and a stream of `L` samples has `1 + ⌊L/hop⌋` frames. The head
//! padding is known in advance and the tail padding is added by [`SegmentExtractor::finish`], so
//! this is exact in a stream. `center: false` gives frame `t` the samples `t·hop .. t·hop+n_fft`
//! (`1 + ⌊(L − n_fft)/hop⌋` frames; the last `< hop` samples are in no frame).
//!
//! **Segments.** A segment is `round(segment_s·rate)` samples (at least one hop). A frame belongs
//! to the segment that contains its centre sample (`t·hop`, or `t·hop + n_fft/2` uncentred; a
//! centred stream's final frame may be centred one past the last sample and joins the last
//! segment). Each row has `start_s`, `end_s` (the last segment ends with the stream) and, for
//! every frame feature `x`, `x_mean` and `x_std` (population standard deviation over the
//! segment's frames; the spread of each feature is itself a classification cue, e.g. voice has a
//! large `rms_std` and `centroid_hz_std`, a carrier none). A segment that contains no frame
//! centre (only possible for the tail of an uncentred stream) is not emitted.
//!
//! # Complex (I/Q) streams
//! [`SegmentExtractor::new_complex`] takes interleaved I/Q pairs
//! ([`SegmentExtractor::push_complex`]). The spectrum is two-sided: `n_fft` bins ordered from
//! `−rate/2` upwards (`fftshift`), `f[k]` signed. Centroid, bandwidth, flatness and roll-off are
//! the same formulas over all bins (the roll-off accumulates from `−rate/2` upwards); every band
//! `[LO, HI)` of the configuration becomes two columns, `band_mHI_mLO_db` for `[−HI, −LO)` and
//! `band_LO_HI_db` for `[LO, HI)` (negative bands first); `rms` is `(mean |z|²)^½`. The
//! zero-crossing rate and MFCCs describe real audio and have no two-sided meaning: the complex
//! extractor has no such columns (its [`columns`](SegmentExtractor::columns) say so).
//!
//! # Streaming and real time
//! The output does not depend on how the input is split into `push` calls (the arithmetic per
//! frame is the same). All memory is allocated in the constructors and is independent of the
//! stream's length; `push`/`finish` never allocate. Non-finite samples and samples beyond
//! ±[`ABSURD_LEVEL`] are replaced by zero and counted, like the engine does.

use crate::dsp::analysis::Window;
use crate::dsp::windows::WindowKind;
use crate::engine::ABSURD_LEVEL;
use crate::params::{MAX_ENGINE_BYTES, MAX_RATE};
use num_complex::Complex64;
use realfft::{RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Largest FFT size accepted (the same bound as `invert --n-fft`).
pub const MAX_N_FFT: usize = 1 << 16;
/// Most mel bands.
pub const MAX_MELS: usize = 1024;
/// Most band-energy bands.
pub const MAX_BANDS: usize = 64;
/// The power floor of every dB value (librosa's `amin`).
pub const AMIN: f64 = 1e-10;

/// Parameters of the segment features. `Default` is librosa's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentConfig {
    /// FFT and frame length (librosa `n_fft`, also `frame_length` of `rms` and `zcr`).
    pub n_fft: usize,
    /// Hop between frames.
    pub hop: usize,
    /// Mel bands of the MFCC filter bank.
    pub n_mels: usize,
    /// MFCCs per frame (≤ `n_mels`).
    pub n_mfcc: usize,
    /// Lowest mel filter edge, Hz.
    pub fmin: f64,
    /// Highest mel filter edge, Hz; `None` = rate/2.
    pub fmax: Option<f64>,
    /// Roll-off fraction (0 < p ≤ 1).
    pub roll_percent: f64,
    /// Band edges, Hz, strictly increasing, ≥ 0: band `i` is `[edges[i], edges[i+1])`. Edges above
    /// rate/2 are allowed (such a band is empty or partial at low rates).
    pub band_edges_hz: Vec<f64>,
    /// Segment length, seconds (rounded to whole samples; at least one hop).
    pub segment_s: f64,
    /// librosa's `center`: frames centred on `t·hop` (zero padding at both ends). See the module
    /// documentation.
    pub center: bool,
    /// dB range kept below the running maximum of the mel spectrogram before the DCT
    /// (librosa's `top_db`, 80); `None` keeps everything.
    pub top_db: Option<f64>,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            n_fft: 2048,
            hop: 512,
            n_mels: 128,
            n_mfcc: 13,
            fmin: 0.0,
            fmax: None,
            roll_percent: 0.85,
            band_edges_hz: vec![0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 24000.0],
            segment_s: 1.0,
            center: true,
            top_db: Some(80.0),
        }
    }
}

/// Why a segment extractor cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    #[error("sample rate must be between 1 and {max} Hz (got {0})", max = MAX_RATE)]
    Rate(u32),
    #[error("n_fft must be between 16 and {max} (got {0})", max = MAX_N_FFT)]
    NFft(usize),
    #[error("hop must be between 1 and n_fft {n_fft} (got {hop})")]
    Hop { hop: usize, n_fft: usize },
    #[error("n_mels must be between 1 and {max} (got {0})", max = MAX_MELS)]
    NMels(usize),
    #[error("n_mfcc must be between 1 and n_mels {n_mels} (got {n_mfcc})")]
    NMfcc { n_mfcc: usize, n_mels: usize },
    #[error(
        "mel range must satisfy 0 <= fmin < fmax <= rate/2 = {nyquist} Hz (got {fmin}..{fmax})"
    )]
    MelRange { fmin: f64, fmax: f64, nyquist: f64 },
    #[error("roll_percent must be in (0, 1] (got {0})")]
    RollPercent(f64),
    #[error(
        "band edges must be 2 to {max} finite, non-negative, strictly increasing frequencies \
         (got {0:?})",
        max = MAX_BANDS + 1
    )]
    BandEdges(Vec<f64>),
    #[error("top_db must be positive (got {0})")]
    TopDb(f64),
    #[error(
        "segment length {segment_s} s must be a finite number of seconds of at least one hop \
         ({hop} samples) and at most 1e6 s"
    )]
    Segment { segment_s: f64, hop: usize },
    #[error("the features would need {need_mib} MiB, more than the limit of {limit_mib} MiB")]
    TooLarge { need_mib: u64, limit_mib: u64 },
}

/// One segment's features: `values[i]` is column `i` of [`SegmentExtractor::columns`].
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRow {
    pub start_s: f64,
    pub end_s: f64,
    pub values: Vec<f64>,
}

/// One frame's features (for inspection and the reference tests): `values[i]` is column `i` of
/// [`SegmentExtractor::frame_columns`].
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRow {
    /// Frame index from the start of the stream.
    pub index: u64,
    /// Time of the frame's centre sample, seconds.
    pub center_s: f64,
    pub values: Vec<f64>,
}

/// A mel filter: weights for the bins `start..start + w.len()`.
struct MelFilter {
    start: usize,
    w: Vec<f64>,
}

enum Transform {
    Real {
        fft: Arc<dyn RealToComplex<f64>>,
        input: Vec<f64>,
    },
    Complex {
        fft: Arc<dyn Fft<f64>>,
    },
}

/// Streaming segment feature extractor. See the module documentation.
pub struct SegmentExtractor {
    rate: f64,
    n_fft: usize,
    hop: usize,
    center: bool,
    complex: bool,
    seg_len: u64,
    roll_percent: f64,
    top_db: Option<f64>,
    n_mfcc: usize,

    window: Vec<f64>,
    transform: Transform,
    spec: Vec<Complex64>,
    scratch: Vec<Complex64>,
    /// Bin order of the feature spectrum (`fftshift` for complex) and its frequencies.
    order: Vec<usize>,
    freqs: Vec<f64>,
    /// Magnitude and power, in `order`.
    mag: Vec<f64>,
    pow: Vec<f64>,
    /// Per band, the range of positions in `order`.
    bands: Vec<(usize, usize)>,
    mel: Vec<MelFilter>,
    mel_db: Vec<f64>,
    /// `n_mfcc × n_mels` orthonormal DCT-II rows.
    dct: Vec<f64>,

    frame_cols: Vec<String>,
    seg_cols: Vec<String>,

    /// Ring of the padded stream (I, and Q for complex), mirrored: sample `p` is at `p mod n`
    /// and `p mod n + n` of a `2·n_fft` buffer, so every frame is one contiguous slice.
    ring_re: Vec<f64>,
    ring_im: Vec<f64>,
    /// `pos mod n_fft`.
    slot: usize,
    /// Padded samples written so far.
    pos: u64,
    /// Padded position at which the next frame is complete.
    next_end: u64,
    /// Original samples received (the stream length so far).
    len: u64,
    first: f64,
    last: f64,
    finishing: bool,
    frame_index: u64,
    running_max_db: f64,
    replaced: u64,

    /// Current segment and its Welford accumulators (count, mean, M2 per frame feature).
    seg: Option<u64>,
    seg_frames: u64,
    acc_mean: Vec<f64>,
    acc_m2: Vec<f64>,
    frame: FrameRow,
    row: SegmentRow,
}

fn slaney_hz_to_mel(f: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn slaney_mel_to_hz(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// librosa `filters.mel(htk=False, norm='slaney')` as sparse rows over `n_fft/2 + 1` bins.
fn mel_filters(rate: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Vec<MelFilter> {
    let bins = n_fft / 2 + 1;
    let fft_f: Vec<f64> = (0..bins).map(|k| k as f64 * rate / n_fft as f64).collect();
    // np.linspace(min_mel, max_mel, n_mels + 2), then mel_to_hz.
    let (lo, hi) = (slaney_hz_to_mel(fmin), slaney_hz_to_mel(fmax));
    let n = n_mels + 2;
    let step = (hi - lo) / (n - 1) as f64;
    let mel_f: Vec<f64> = (0..n)
        .map(|i| {
            let m = if i == n - 1 { hi } else { lo + i as f64 * step };
            slaney_mel_to_hz(m)
        })
        .collect();
    (0..n_mels)
        .map(|i| {
            let (d0, d1) = (mel_f[i + 1] - mel_f[i], mel_f[i + 2] - mel_f[i + 1]);
            let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
            let w: Vec<f64> = fft_f
                .iter()
                .map(|f| {
                    let lower = -(mel_f[i] - f) / d0;
                    let upper = (mel_f[i + 2] - f) / d1;
                    // librosa's float32 weights: the triangle is stored as f32, then scaled.
                    let tri = 0f64.max(lower.min(upper)) as f32 as f64;
                    (tri * enorm) as f32 as f64
                })
                .collect();
            let start = w.iter().position(|v| *v != 0.0).unwrap_or(0);
            let end = w.iter().rposition(|v| *v != 0.0).map_or(start, |e| e + 1);
            MelFilter {
                start,
                w: w[start..end].to_vec(),
            }
        })
        .collect()
}

fn edge_name(v: f64) -> String {
    let s = if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    };
    s.replace('-', "m").replace('.', "p")
}

impl SegmentExtractor {
    /// An extractor for a real (mono) stream at `rate` Hz.
    pub fn new(rate: u32, cfg: &SegmentConfig) -> Result<Self, FeatureError> {
        Self::build(rate, cfg, false)
    }

    /// An extractor for a complex stream of interleaved I/Q pairs at `rate` pairs per second.
    pub fn new_complex(rate: u32, cfg: &SegmentConfig) -> Result<Self, FeatureError> {
        Self::build(rate, cfg, true)
    }

    /// Checks `cfg` at `rate` without allocating; returns the segment length in samples.
    fn validate(rate: u32, cfg: &SegmentConfig, complex: bool) -> Result<u64, FeatureError> {
        if rate == 0 || rate > MAX_RATE {
            return Err(FeatureError::Rate(rate));
        }
        if !(16..=MAX_N_FFT).contains(&cfg.n_fft) {
            return Err(FeatureError::NFft(cfg.n_fft));
        }
        if cfg.hop == 0 || cfg.hop > cfg.n_fft {
            return Err(FeatureError::Hop {
                hop: cfg.hop,
                n_fft: cfg.n_fft,
            });
        }
        if !(1..=MAX_MELS).contains(&cfg.n_mels) {
            return Err(FeatureError::NMels(cfg.n_mels));
        }
        if cfg.n_mfcc == 0 || cfg.n_mfcc > cfg.n_mels {
            return Err(FeatureError::NMfcc {
                n_mfcc: cfg.n_mfcc,
                n_mels: cfg.n_mels,
            });
        }
        let nyquist = rate as f64 / 2.0;
        let fmax = cfg.fmax.unwrap_or(nyquist);
        let mel_ok = cfg.fmin.is_finite()
            && fmax.is_finite()
            && cfg.fmin >= 0.0
            && cfg.fmin < fmax
            && fmax <= nyquist;
        if !complex && !mel_ok {
            return Err(FeatureError::MelRange {
                fmin: cfg.fmin,
                fmax,
                nyquist,
            });
        }
        if !(cfg.roll_percent > 0.0 && cfg.roll_percent <= 1.0) {
            return Err(FeatureError::RollPercent(cfg.roll_percent));
        }
        let e = &cfg.band_edges_hz;
        if e.len() < 2
            || e.len() > MAX_BANDS + 1
            || !e.iter().all(|v| v.is_finite() && *v >= 0.0)
            || !e.windows(2).all(|w| w[0] < w[1])
        {
            return Err(FeatureError::BandEdges(e.clone()));
        }
        if let Some(t) = cfg.top_db {
            if t.is_nan() || t <= 0.0 {
                return Err(FeatureError::TopDb(t));
            }
        }
        let seg = cfg.segment_s * rate as f64;
        if !(cfg.segment_s.is_finite() && cfg.segment_s <= 1e6 && seg.round() >= cfg.hop as f64) {
            return Err(FeatureError::Segment {
                segment_s: cfg.segment_s,
                hop: cfg.hop,
            });
        }
        // Memory: ring, window, FFT buffers, spectrum arrays (≈ 12 f64 per FFT point), the mel
        // bank (at most n_mels × bins) and the DCT.
        let n = cfg.n_fft as u64;
        let need = 8
            * (12 * n + cfg.n_mels as u64 * (n / 2 + 1) + (cfg.n_mfcc * cfg.n_mels) as u64)
            + 4096;
        if need > MAX_ENGINE_BYTES {
            return Err(FeatureError::TooLarge {
                need_mib: need >> 20,
                limit_mib: MAX_ENGINE_BYTES >> 20,
            });
        }
        Ok(seg.round() as u64)
    }

    fn build(rate: u32, cfg: &SegmentConfig, complex: bool) -> Result<Self, FeatureError> {
        let seg_len = Self::validate(rate, cfg, complex)?;
        let n = cfg.n_fft;
        let r = rate as f64;
        // librosa's window: scipy's periodic Hann, in f64.
        let window = Window::Kind(WindowKind::Hann)
            .values(n)
            .unwrap_or_else(|_| vec![1.0; n]);
        let (transform, bins, scratch_len) = if complex {
            let fft = FftPlanner::<f64>::new().plan_fft_forward(n);
            let s = fft.get_inplace_scratch_len();
            (Transform::Complex { fft }, n, s)
        } else {
            let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
            let s = fft.get_scratch_len();
            (
                Transform::Real {
                    fft,
                    input: vec![0.0; n],
                },
                n / 2 + 1,
                s,
            )
        };
        // Feature order of the bins: ascending frequency.
        let (order, freqs): (Vec<usize>, Vec<f64>) = if complex {
            let shift = n / 2;
            (0..n)
                .map(|i| {
                    let j = (i + n - shift) % n;
                    let k = if j < n.div_ceil(2) {
                        j as f64
                    } else {
                        j as f64 - n as f64
                    };
                    (j, k * r / n as f64)
                })
                .unzip()
        } else {
            (0..bins).map(|k| (k, k as f64 * r / n as f64)).unzip()
        };
        let edges = &cfg.band_edges_hz;
        let mut band_defs: Vec<(f64, f64, bool)> = Vec::new();
        if complex {
            for w in edges.windows(2).rev() {
                band_defs.push((-w[1], -w[0], false));
            }
        }
        for (i, w) in edges.windows(2).enumerate() {
            band_defs.push((w[0], w[1], i == edges.len() - 2));
        }
        let bands = band_defs
            .iter()
            .map(|&(lo, hi, top)| {
                let a = freqs.iter().position(|f| *f >= lo).unwrap_or(freqs.len());
                let b = freqs
                    .iter()
                    .position(|f| if top { *f > hi } else { *f >= hi })
                    .unwrap_or(freqs.len());
                (a, b.max(a))
            })
            .collect();
        let mut frame_cols: Vec<String> = band_defs
            .iter()
            .map(|(lo, hi, _)| format!("band_{}_{}_db", edge_name(*lo), edge_name(*hi)))
            .collect();
        for c in [
            "centroid_hz",
            "bandwidth_hz",
            "flatness",
            "rolloff_hz",
            "rms",
        ] {
            frame_cols.push(c.into());
        }
        let (mel, dct, n_mfcc) = if complex {
            (Vec::new(), Vec::new(), 0)
        } else {
            frame_cols.push("zcr".into());
            for i in 0..cfg.n_mfcc {
                frame_cols.push(format!("mfcc{i}"));
            }
            let fmax = cfg.fmax.unwrap_or(r / 2.0);
            let m = cfg.n_mels;
            let dct = (0..cfg.n_mfcc)
                .flat_map(|k| {
                    (0..m).map(move |i| {
                        let s = if k == 0 {
                            (1.0 / m as f64).sqrt()
                        } else {
                            (2.0 / m as f64).sqrt()
                        };
                        s * (std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2 * m) as f64)
                            .cos()
                    })
                })
                .collect();
            (mel_filters(r, n, m, cfg.fmin, fmax), dct, cfg.n_mfcc)
        };
        let seg_cols: Vec<String> = frame_cols
            .iter()
            .flat_map(|c| [format!("{c}_mean"), format!("{c}_std")])
            .collect();
        let nf = frame_cols.len();
        let mut s = SegmentExtractor {
            rate: r,
            n_fft: n,
            hop: cfg.hop,
            center: cfg.center,
            complex,
            seg_len,
            roll_percent: cfg.roll_percent,
            top_db: cfg.top_db,
            n_mfcc,
            window,
            transform,
            spec: vec![Complex64::default(); bins],
            scratch: vec![Complex64::default(); scratch_len],
            mag: vec![0.0; order.len()],
            pow: vec![0.0; order.len()],
            order,
            freqs,
            bands,
            mel_db: vec![0.0; mel.len()],
            mel,
            dct,
            ring_re: vec![0.0; 2 * n],
            ring_im: if complex {
                vec![0.0; 2 * n]
            } else {
                Vec::new()
            },
            slot: 0,
            frame_cols,
            seg_cols,
            pos: 0,
            next_end: 0,
            len: 0,
            first: 0.0,
            last: 0.0,
            finishing: false,
            frame_index: 0,
            running_max_db: f64::NEG_INFINITY,
            replaced: 0,
            seg: None,
            seg_frames: 0,
            acc_mean: vec![0.0; nf],
            acc_m2: vec![0.0; nf],
            frame: FrameRow {
                index: 0,
                center_s: 0.0,
                values: vec![0.0; nf],
            },
            row: SegmentRow {
                start_s: 0.0,
                end_s: 0.0,
                values: vec![0.0; 2 * nf],
            },
        };
        s.reset();
        Ok(s)
    }

    /// Back to the state of a new stream (no allocation).
    pub fn reset(&mut self) {
        self.ring_re.fill(0.0);
        self.ring_im.fill(0.0);
        self.pos = if self.center {
            (self.n_fft / 2) as u64
        } else {
            0
        };
        self.slot = (self.pos % self.n_fft as u64) as usize;
        self.next_end = self.n_fft as u64;
        self.len = 0;
        self.first = 0.0;
        self.last = 0.0;
        self.finishing = false;
        self.frame_index = 0;
        self.running_max_db = f64::NEG_INFINITY;
        self.seg = None;
        self.seg_frames = 0;
        self.acc_mean.fill(0.0);
        self.acc_m2.fill(0.0);
    }

    /// The segment columns (`values` of each [`SegmentRow`]): `FEATURE_mean`, `FEATURE_std` for
    /// each of [`frame_columns`](Self::frame_columns).
    pub fn columns(&self) -> &[String] {
        &self.seg_cols
    }

    /// The per-frame feature names.
    pub fn frame_columns(&self) -> &[String] {
        &self.frame_cols
    }

    /// Whether this extractor takes I/Q pairs.
    pub fn is_complex(&self) -> bool {
        self.complex
    }

    /// Segment length in samples.
    pub fn segment_samples(&self) -> u64 {
        self.seg_len
    }

    /// Input samples (I/Q pairs count once) replaced by zero because they were non-finite or
    /// beyond ±[`ABSURD_LEVEL`], since construction.
    pub fn replaced_samples(&self) -> u64 {
        self.replaced
    }

    /// Feeds mono samples; calls `emit` for every segment completed by them. On a complex
    /// extractor the samples are I with Q = 0.
    pub fn push(&mut self, mono: &[f32], emit: &mut dyn FnMut(&SegmentRow)) {
        self.push_frames(mono, &mut |_| {}, emit);
    }

    /// [`push`](Self::push), also calling `on_frame` for every frame.
    pub fn push_frames(
        &mut self,
        mono: &[f32],
        on_frame: &mut dyn FnMut(&FrameRow),
        emit: &mut dyn FnMut(&SegmentRow),
    ) {
        for &v in mono {
            self.input(v, 0.0, on_frame, emit);
        }
    }

    /// Feeds interleaved I/Q pairs (a trailing odd value is ignored). On a real extractor only
    /// the I values are used.
    pub fn push_complex(&mut self, iq: &[f32], emit: &mut dyn FnMut(&SegmentRow)) {
        self.push_complex_frames(iq, &mut |_| {}, emit);
    }

    /// [`push_complex`](Self::push_complex), also calling `on_frame` for every frame.
    pub fn push_complex_frames(
        &mut self,
        iq: &[f32],
        on_frame: &mut dyn FnMut(&FrameRow),
        emit: &mut dyn FnMut(&SegmentRow),
    ) {
        for p in iq.chunks_exact(2) {
            self.input(p[0], p[1], on_frame, emit);
        }
    }

    /// Ends the stream: processes the centred tail frames, emits the last segment, and resets
    /// the extractor for a new stream.
    pub fn finish(&mut self, emit: &mut dyn FnMut(&SegmentRow)) {
        self.finish_frames(&mut |_| {}, emit);
    }

    /// [`finish`](Self::finish), also calling `on_frame` for every frame.
    pub fn finish_frames(
        &mut self,
        on_frame: &mut dyn FnMut(&FrameRow),
        emit: &mut dyn FnMut(&SegmentRow),
    ) {
        if self.len > 0 {
            if self.center {
                self.finishing = true;
                for _ in 0..self.n_fft / 2 {
                    self.write(0.0, 0.0, on_frame, emit);
                }
            }
            self.flush_segment(emit);
        }
        self.reset();
    }

    fn input(
        &mut self,
        i: f32,
        q: f32,
        on_frame: &mut dyn FnMut(&FrameRow),
        emit: &mut dyn FnMut(&SegmentRow),
    ) {
        let (mut i, mut q) = (i, if self.complex { q } else { 0.0 });
        if !(i.abs() <= ABSURD_LEVEL && q.abs() <= ABSURD_LEVEL) {
            self.replaced += 1;
            i = 0.0;
            q = 0.0;
        }
        let (i, q) = (i as f64, q as f64);
        if self.len == 0 {
            self.first = i;
        }
        self.last = i;
        self.len += 1;
        self.write(i, q, on_frame, emit);
    }

    fn write(
        &mut self,
        i: f64,
        q: f64,
        on_frame: &mut dyn FnMut(&FrameRow),
        emit: &mut dyn FnMut(&SegmentRow),
    ) {
        let (slot, n) = (self.slot, self.n_fft);
        self.ring_re[slot] = i;
        self.ring_re[slot + n] = i;
        if self.complex {
            self.ring_im[slot] = q;
            self.ring_im[slot + n] = q;
        }
        self.slot = if slot + 1 == n { 0 } else { slot + 1 };
        self.pos += 1;
        if self.pos == self.next_end {
            self.next_end += self.hop as u64;
            self.frame(on_frame, emit);
        }
    }

    /// Padded-stream value at padded position `p` for the zero-crossing rate (edge padding).
    fn zcr_value(&self, p: u64) -> f64 {
        let front = if self.center {
            (self.n_fft / 2) as u64
        } else {
            0
        };
        if p < front {
            self.first
        } else if p >= front + self.len {
            self.last
        } else {
            self.ring_re[(p % self.n_fft as u64) as usize]
        }
    }

    /// Zero-crossing rate of the frame starting at padded position `start` (its samples are
    /// `frame` where not padding).
    fn zcr(&self, start: u64, frame: &[f64]) -> f64 {
        let n = self.n_fft as u64;
        let front = if self.center { n / 2 } else { 0 };
        let sign = |x: f64| x.abs() > 1e-10 && x.is_sign_negative();
        let mut crossings = 0u32;
        if start >= front && start + n <= front + self.len {
            for w in frame.windows(2) {
                crossings += u32::from(sign(w[0]) != sign(w[1]));
            }
        } else {
            // A frame that reaches into the edge padding.
            let mut prev = sign(self.zcr_value(start));
            for p in start + 1..start + n {
                let s = sign(self.zcr_value(p));
                crossings += u32::from(s != prev);
                prev = s;
            }
        }
        crossings as f64 / n as f64
    }

    fn frame(&mut self, on_frame: &mut dyn FnMut(&FrameRow), emit: &mut dyn FnMut(&SegmentRow)) {
        let n = self.n_fft;
        let start = self.pos - n as u64; // padded position of the frame's first sample
        let s0 = (start % n as u64) as usize;
        // Windowed frame → spectrum, and the time-domain features.
        let mut sq = 0.0;
        match &mut self.transform {
            Transform::Real { fft, input } => {
                for ((x, v), w) in input
                    .iter_mut()
                    .zip(&self.ring_re[s0..s0 + n])
                    .zip(&self.window)
                {
                    sq += v * v;
                    *x = v * w;
                }
                let _ = fft.process_with_scratch(input, &mut self.spec, &mut self.scratch);
            }
            Transform::Complex { fft } => {
                for (((x, re), im), w) in self
                    .spec
                    .iter_mut()
                    .zip(&self.ring_re[s0..s0 + n])
                    .zip(&self.ring_im[s0..s0 + n])
                    .zip(&self.window)
                {
                    sq += re * re + im * im;
                    *x = Complex64::new(re * w, im * w);
                }
                fft.process_with_scratch(&mut self.spec, &mut self.scratch);
            }
        }
        let rms = (sq / n as f64).sqrt();
        let zcr = if self.complex {
            0.0
        } else {
            self.zcr(start, &self.ring_re[s0..s0 + n])
        };
        for ((m, p), &k) in self.mag.iter_mut().zip(&mut self.pow).zip(&self.order) {
            *p = self.spec[k].norm_sqr();
            *m = p.sqrt();
        }
        let v = &mut self.frame.values;
        let mut c = 0;
        for &(a, b) in &self.bands {
            let e: f64 = self.pow[a..b].iter().sum();
            v[c] = 10.0 * e.max(AMIN).log10();
            c += 1;
        }
        // Centroid and bandwidth over the L1-normalised magnitude (librosa leaves a column whose
        // sum is below the smallest normal number unnormalised).
        let total: f64 = self.mag.iter().sum();
        let norm = if total >= f64::MIN_POSITIVE {
            total
        } else {
            1.0
        };
        let centroid: f64 = self
            .mag
            .iter()
            .zip(&self.freqs)
            .map(|(m, f)| f * (m / norm))
            .sum();
        let bandwidth = self
            .mag
            .iter()
            .zip(&self.freqs)
            .map(|(m, f)| (m / norm) * (f - centroid) * (f - centroid))
            .sum::<f64>()
            .sqrt();
        let k = self.pow.len() as f64;
        // Σ ln max(amin, P): one logarithm per 8 bins (a product of 8 values in
        // [1e-10, ~3e15] — samples are bounded by ABSURD_LEVEL, n_fft by MAX_N_FFT — stays
        // finite and normal).
        let (mut lsum, mut psum) = (0.0, 0.0);
        for group in self.pow.chunks(8) {
            let mut prod = 1.0;
            for p in group {
                let p = p.max(AMIN);
                prod *= p;
                psum += p;
            }
            lsum += prod.ln();
        }
        let flatness = (lsum / k).exp() / (psum / k);
        // Roll-off: cumulative sums in order, threshold from the full (sequential) sum.
        let mut cum = 0.0;
        let full: f64 = self.mag.iter().fold(0.0, |a, m| a + m);
        let thr = self.roll_percent * full;
        let mut rolloff = *self.freqs.last().unwrap_or(&0.0);
        for (m, f) in self.mag.iter().zip(&self.freqs) {
            cum += m;
            if cum >= thr {
                rolloff = *f;
                break;
            }
        }
        for x in [centroid, bandwidth, flatness, rolloff, rms] {
            v[c] = x;
            c += 1;
        }
        if !self.complex {
            v[c] = zcr;
            c += 1;
            // Mel power in dB, clipped below the running maximum, then the DCT.
            for (d, f) in self.mel_db.iter_mut().zip(&self.mel) {
                let e: f64 =
                    f.w.iter()
                        .zip(&self.pow[f.start..])
                        .map(|(w, p)| w * p)
                        .sum();
                *d = 10.0 * e.max(AMIN).log10();
                self.running_max_db = self.running_max_db.max(*d);
            }
            if let Some(t) = self.top_db {
                let floor = self.running_max_db - t;
                self.mel_db.iter_mut().for_each(|d| *d = d.max(floor));
            }
            let m = self.mel_db.len();
            for row in self.dct.chunks_exact(m).take(self.n_mfcc) {
                v[c] = row.iter().zip(&self.mel_db).map(|(a, b)| a * b).sum();
                c += 1;
            }
        }
        // Frame centre in original samples, and its segment.
        let t = self.frame_index;
        let centre = t * self.hop as u64 + if self.center { 0 } else { (n / 2) as u64 };
        let mut seg = centre / self.seg_len;
        if self.finishing && centre >= self.len {
            seg = (self.len - 1) / self.seg_len;
        }
        self.frame.index = t;
        self.frame.center_s = centre as f64 / self.rate;
        self.frame_index += 1;
        on_frame(&self.frame);
        if self.seg.is_some_and(|s| s != seg) {
            self.flush_segment(emit);
        }
        self.seg = Some(seg);
        self.seg_frames += 1;
        let cnt = self.seg_frames as f64;
        for ((x, mean), m2) in self
            .frame
            .values
            .iter()
            .zip(&mut self.acc_mean)
            .zip(&mut self.acc_m2)
        {
            let d = x - *mean;
            *mean += d / cnt;
            *m2 += d * (x - *mean);
        }
    }

    fn flush_segment(&mut self, emit: &mut dyn FnMut(&SegmentRow)) {
        let Some(seg) = self.seg.take() else {
            return;
        };
        if self.seg_frames > 0 {
            let start = seg * self.seg_len;
            let end = ((seg + 1) * self.seg_len).min(self.len);
            self.row.start_s = start as f64 / self.rate;
            self.row.end_s = end as f64 / self.rate;
            let cnt = self.seg_frames as f64;
            for (i, (mean, m2)) in self.acc_mean.iter().zip(&self.acc_m2).enumerate() {
                self.row.values[2 * i] = *mean;
                self.row.values[2 * i + 1] = (m2 / cnt).max(0.0).sqrt();
            }
            emit(&self.row);
        }
        self.seg_frames = 0;
        self.acc_mean.fill(0.0);
        self.acc_m2.fill(0.0);
    }
}
