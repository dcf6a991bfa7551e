//! Phase reconstruction from a magnitude spectrogram: fast Griffin-Lim.
//!
//! Perraudin, Balazs & Søndergaard, "A fast Griffin-Lim algorithm" (WASPAA 2013), in the form
//! librosa uses (`librosa.griffinlim`):
//!
//! ```text
//! X₀ = S·e^{jφ₀}
//! repeat: R = STFT(iSTFT(X));  T = R − m/(1+m)·R_prev;  X = S·T/|T|;  R_prev = R
//! x̂ = iSTFT(X)
//! ```
//!
//! STFT conventions are librosa's: periodic Hann window of length `n_fft` (no separate
//! `win_length`), `center=True` with zero (`'constant'`) padding of `n_fft/2` on both sides,
//! `1 + len/hop` frames, the unnormalised DFT (so a sine of amplitude A gives a peak of about
//! A·n_fft/4), and an inverse that overlap-adds `w·irfft` and divides by `Σ w²` wherever that
//! sum is non-zero. Magnitudes are laid out frequency × time (`S[f][t]`), `n_fft/2 + 1` rows.
//!
//! Everything runs in f32 with scratch allocated once per call; the inner loop does not allocate.

use num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Phase initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// All phases zero (librosa `init=None`).
    Zero,
    /// Uniform random phases from a seeded generator (librosa `init='random'`).
    Random { seed: u64 },
}

/// Griffin-Lim settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GriffinLimConfig {
    /// FFT and window length (even).
    pub n_fft: usize,
    /// Hop between frames (1 ≤ hop ≤ n_fft).
    pub hop: usize,
    pub iterations: usize,
    /// Fast Griffin-Lim momentum (0 = classic Griffin-Lim; librosa's default 0.99).
    pub momentum: f32,
    pub init: Init,
    /// Output length in samples; `None` = `hop·(frames − 1)`. Must give `1 + len/hop == frames`.
    pub length: Option<usize>,
}

impl Default for GriffinLimConfig {
    fn default() -> Self {
        GriffinLimConfig {
            n_fft: 512,
            hop: 128,
            iterations: 32,
            momentum: 0.99,
            init: Init::Random { seed: 0 },
            length: None,
        }
    }
}

/// Invalid input to the STFT helpers or to Griffin-Lim.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GriffinLimError {
    #[error("n_fft must be even and at least 2 (got {0})")]
    NFft(usize),
    #[error("hop must be between 1 and n_fft = {n_fft} (got {hop})")]
    Hop { hop: usize, n_fft: usize },
    #[error("the spectrogram has {rows} frequency rows; n_fft = {n_fft} needs {expected} (n_fft/2 + 1); pass --n-fft {suggested}")]
    Bins {
        rows: usize,
        n_fft: usize,
        expected: usize,
        suggested: usize,
    },
    #[error("the spectrogram has no frames")]
    Empty,
    #[error(
        "output length {length} gives {got} frames at hop {hop}, but the spectrogram has {frames}"
    )]
    Length {
        length: usize,
        hop: usize,
        frames: usize,
        got: usize,
    },
    #[error("momentum must be finite and non-negative (got {0})")]
    Momentum(f32),
    #[error("the spectrogram contains negative or non-finite magnitudes (first at row {row}, column {col})")]
    BadMagnitude { row: usize, col: usize },
}

/// librosa-convention STFT/iSTFT plans and scratch for one geometry.
pub struct LibrosaStft {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    fwd: Arc<dyn RealToComplex<f32>>,
    inv: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    spec: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl LibrosaStft {
    pub fn new(n_fft: usize, hop: usize) -> Result<Self, GriffinLimError> {
        if n_fft < 2 || n_fft % 2 != 0 {
            return Err(GriffinLimError::NFft(n_fft));
        }
        if hop == 0 || hop > n_fft {
            return Err(GriffinLimError::Hop { hop, n_fft });
        }
        let mut p = RealFftPlanner::<f32>::new();
        let fwd = p.plan_fft_forward(n_fft);
        let inv = p.plan_fft_inverse(n_fft);
        let s = fwd.get_scratch_len().max(inv.get_scratch_len());
        Ok(LibrosaStft {
            n_fft,
            hop,
            window: crate::dsp::windows::WindowKind::Hann.build(n_fft),
            fwd,
            inv,
            time: vec![0.0; n_fft],
            spec: vec![Complex32::default(); n_fft / 2 + 1],
            scratch: vec![Complex32::default(); s],
        })
    }

    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }
    /// Frames for a signal of `len` samples (`center=True`).
    pub fn frames(&self, len: usize) -> usize {
        1 + len / self.hop
    }

    /// STFT of `x` (center=True, zero padding) into `out`, frame-major: `out[t * bins + f]`.
    pub fn stft_into(&mut self, x: &[f32], out: &mut Vec<Complex32>) {
        let frames = self.frames(x.len());
        let bins = self.bins();
        out.resize(frames * bins, Complex32::default());
        let half = (self.n_fft / 2) as isize;
        for t in 0..frames {
            let start = (t * self.hop) as isize - half;
            for (i, (v, w)) in self.time.iter_mut().zip(&self.window).enumerate() {
                let j = start + i as isize;
                *v = if j >= 0 && (j as usize) < x.len() {
                    x[j as usize] * w
                } else {
                    0.0
                };
            }
            let _ = self.fwd.process_with_scratch(
                &mut self.time,
                &mut out[t * bins..(t + 1) * bins],
                &mut self.scratch,
            );
        }
    }

    /// Overlap-adds `w·irfft(X[t])` of frame-major `spec` into `padded` (length ≥
    /// `n_fft + hop·(frames−1)`), divides by Σw² where it is non-zero, and zeroes everything
    /// outside the `len` output samples that start at `n_fft/2`: the padded signal whose centred
    /// STFT is the next iterate (librosa's istft followed by stft's zero padding).
    fn istft_padded(
        &mut self,
        spec: &[Complex32],
        frames: usize,
        len: usize,
        wss: &[f32],
        padded: &mut [f32],
    ) {
        let bins = self.bins();
        let scale = 1.0 / self.n_fft as f32;
        padded.fill(0.0);
        for t in 0..frames {
            self.spec.copy_from_slice(&spec[t * bins..(t + 1) * bins]);
            self.spec[0].im = 0.0;
            self.spec[bins - 1].im = 0.0;
            let _ =
                self.inv
                    .process_with_scratch(&mut self.spec, &mut self.time, &mut self.scratch);
            let seg = &mut padded[t * self.hop..t * self.hop + self.n_fft];
            for ((o, v), w) in seg.iter_mut().zip(&self.time).zip(&self.window) {
                *o += v * w * scale;
            }
        }
        let half = self.n_fft / 2;
        for (i, (o, s)) in padded.iter_mut().zip(wss).enumerate() {
            if i < half || i >= half + len {
                *o = 0.0;
            } else if *s > f32::MIN_POSITIVE {
                *o /= s;
            }
        }
    }

    /// Centred STFT frames of an already padded signal (see [`Self::istft_padded`]).
    fn stft_padded(&mut self, padded: &[f32], frames: usize, out: &mut [Complex32]) {
        let bins = self.bins();
        for t in 0..frames {
            let seg = &padded[t * self.hop..t * self.hop + self.n_fft];
            for ((v, x), w) in self.time.iter_mut().zip(seg).zip(&self.window) {
                *v = x * w;
            }
            let _ = self.fwd.process_with_scratch(
                &mut self.time,
                &mut out[t * bins..(t + 1) * bins],
                &mut self.scratch,
            );
        }
    }

    /// Σ_t w²(n − t·hop) over a buffer of `len` samples.
    fn window_sumsquare(&self, frames: usize, len: usize) -> Vec<f32> {
        let mut s = vec![0.0f32; len];
        for t in 0..frames {
            for (o, w) in s[t * self.hop..t * self.hop + self.n_fft]
                .iter_mut()
                .zip(&self.window)
            {
                *o += w * w;
            }
        }
        s
    }
}

/// |STFT(x)| with librosa conventions, frequency × time (row-major `[f * frames + t]`).
/// Returns `(bins, frames, magnitudes)`.
pub fn magnitude(
    x: &[f32],
    n_fft: usize,
    hop: usize,
) -> Result<(usize, usize, Vec<f32>), GriffinLimError> {
    let mut st = LibrosaStft::new(n_fft, hop)?;
    let mut z = Vec::new();
    st.stft_into(x, &mut z);
    let bins = st.bins();
    let frames = z.len() / bins;
    let mut m = vec![0.0f32; z.len()];
    for t in 0..frames {
        for f in 0..bins {
            m[f * frames + t] = z[t * bins + f].norm();
        }
    }
    Ok((bins, frames, m))
}

/// Spectral convergence in dB, `20·log10(‖|Y| − S‖_F / ‖S‖_F)`, both frequency × time.
pub fn spectral_convergence_db(estimate: &[f32], target: &[f32]) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (a, s) in estimate.iter().zip(target) {
        let d = (*a - *s) as f64;
        num += d * d;
        den += (*s as f64) * (*s as f64);
    }
    if den == 0.0 {
        return if num == 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    10.0 * (num / den).log10()
}

/// The result of [`griffin_lim`].
#[derive(Debug, Clone)]
pub struct Reconstruction {
    /// The time signal, `length` samples.
    pub signal: Vec<f32>,
    /// Spectral convergence of `signal` against the target, dB.
    pub final_sc_db: f64,
}

/// splitmix64: a tiny seeded generator, enough for initial phases.
struct SplitMix(u64);
impl SplitMix {
    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Reconstructs a signal whose |STFT| approximates `mag` (frequency × time, row-major,
/// `n_fft/2 + 1` rows). `progress(iteration, sc_db)` is called after each iteration where
/// `report_every` divides the (1-based) iteration number (`report_every = 0`: never); computing
/// the SC costs one extra pass over the spectrum, nothing more.
pub fn griffin_lim(
    mag: &[f32],
    rows: usize,
    cfg: &GriffinLimConfig,
    report_every: usize,
    mut progress: impl FnMut(usize, f64),
) -> Result<Reconstruction, GriffinLimError> {
    let mut st = LibrosaStft::new(cfg.n_fft, cfg.hop)?;
    let bins = st.bins();
    if rows != bins {
        return Err(GriffinLimError::Bins {
            rows,
            n_fft: cfg.n_fft,
            expected: bins,
            suggested: 2 * rows.saturating_sub(1),
        });
    }
    if !(cfg.momentum.is_finite() && cfg.momentum >= 0.0) {
        return Err(GriffinLimError::Momentum(cfg.momentum));
    }
    if mag.is_empty() || mag.len() % rows != 0 {
        return Err(GriffinLimError::Empty);
    }
    let frames = mag.len() / rows;
    if let Some(i) = mag.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(GriffinLimError::BadMagnitude {
            row: i / frames,
            col: i % frames,
        });
    }
    let len = cfg.length.unwrap_or(cfg.hop * (frames - 1));
    if st.frames(len) != frames {
        return Err(GriffinLimError::Length {
            length: len,
            hop: cfg.hop,
            frames,
            got: st.frames(len),
        });
    }
    // Frame-major copy of the target for cache-friendly per-frame work.
    let mut s = vec![0.0f32; frames * bins];
    for f in 0..bins {
        for t in 0..frames {
            s[t * bins + f] = mag[f * frames + t];
        }
    }
    let mut angles: Vec<Complex32> = match cfg.init {
        Init::Zero => s.iter().map(|m| Complex32::new(*m, 0.0)).collect(),
        Init::Random { seed } => {
            let mut rng = SplitMix(seed);
            s.iter()
                .map(|m| Complex32::from_polar(*m, std::f32::consts::TAU * rng.next_f32()))
                .collect()
        }
    };
    let padded_len = (len + cfg.n_fft).max(cfg.n_fft + cfg.hop * (frames - 1));
    let wss = st.window_sumsquare(frames, padded_len);
    let mut padded = vec![0.0f32; padded_len];
    let mut rebuilt = vec![Complex32::default(); frames * bins];
    let mut tprev = vec![Complex32::default(); frames * bins];
    let beta = cfg.momentum / (1.0 + cfg.momentum);
    let sc_of = |r: &[Complex32]| {
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (z, m) in r.iter().zip(&s) {
            let d = (z.norm() - m) as f64;
            num += d * d;
            den += (*m as f64) * (*m as f64);
        }
        if den == 0.0 {
            f64::NEG_INFINITY
        } else {
            10.0 * (num / den).log10()
        }
    };
    for it in 0..cfg.iterations {
        st.istft_padded(&angles, frames, len, &wss, &mut padded);
        st.stft_padded(&padded, frames, &mut rebuilt);
        if report_every > 0 && (it + 1) % report_every == 0 {
            progress(it + 1, sc_of(&rebuilt));
        }
        let first = it == 0;
        for ((a, (r, p)), m) in angles.iter_mut().zip(rebuilt.iter().zip(&tprev)).zip(&s) {
            let v = if first { *r } else { *r - p * beta };
            let n = v.norm();
            *a = v * (m / (n + f32::MIN_POSITIVE));
        }
        std::mem::swap(&mut rebuilt, &mut tprev);
    }
    st.istft_padded(&angles, frames, len, &wss, &mut padded);
    let half = cfg.n_fft / 2;
    let signal = padded[half..half + len].to_vec();
    st.stft_padded(&padded, frames, &mut rebuilt);
    let final_sc_db = sc_of(&rebuilt);
    Ok(Reconstruction {
        signal,
        final_sc_db,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librosa_stft_equals_scipy_stft_times_window_sum() {
        // scipy.signal.stft(boundary='zeros', padded=True) with nperseg = n_fft and
        // noverlap = n_fft − hop frames exactly like librosa's centred STFT, scaled by 1/Σw;
        // analysis::stft is checked against scipy fixtures in tests/scipy_reference.rs.
        use crate::dsp::analysis::{stft, AnalysisOptions};
        let x: Vec<f32> = (0..1000)
            .map(|i| ((i as f32 * 0.37).sin() + (i as f32 * 0.011).cos()) * 0.5)
            .collect();
        let (n_fft, hop) = (64, 16);
        let (bins, frames, m) = magnitude(&x, n_fft, hop).unwrap();
        let o = AnalysisOptions {
            nperseg: n_fft,
            noverlap: Some(n_fft - hop),
            ..AnalysisOptions::stft_defaults()
        };
        let xd: Vec<f64> = x.iter().map(|v| *v as f64).collect();
        let z = stft(&xd, &o).unwrap();
        // librosa has 1 + len/hop frames; scipy's `padded=True` may add one more at the end.
        assert_eq!(frames, 1 + x.len() / hop);
        assert_eq!(bins, z.freqs.len());
        assert!(z.times.len() == frames || z.times.len() == frames + 1);
        let wsum = n_fft as f64 / 2.0; // Σ periodic Hann
        let peak = m.iter().fold(0.0f32, |a, b| a.max(*b)) as f64;
        for f in 0..bins {
            for t in 0..frames {
                let want = z.at(f, t).norm() * wsum;
                assert!((m[f * frames + t] as f64 - want).abs() < 1e-5 * peak);
            }
        }
    }

    #[test]
    fn empty_or_mis_sized_spectrograms_are_refused_with_a_hint() {
        assert!(matches!(
            griffin_lim(&[], 257, &GriffinLimConfig::default(), 0, |_, _| {}),
            Err(GriffinLimError::Empty)
        ));
        let e = griffin_lim(
            &[1.0; 10 * 100],
            100,
            &GriffinLimConfig::default(),
            0,
            |_, _| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("--n-fft 198"), "{e}");
    }
}
