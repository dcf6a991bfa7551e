//! Offline spectral analysis that reproduces `scipy.signal.stft` and `scipy.signal.spectrogram`.
//!
//! These are for inspection and tests (f64, whole signal in memory), not the streaming path.
//! Conventions follow scipy 1.17 exactly, so results can be checked against scipy fixtures
//! (`tests/scipy_reference.rs`):
//!
//! * Segments of `nperseg` samples every `nstep = nperseg − noverlap` samples, optionally
//!   detrended (mean removed), multiplied by the window, zero-padded to `nfft` and transformed
//!   with the unnormalised DFT.
//! * Real input gives `nfft/2 + 1` bins (DC … Nyquist); complex input is always two-sided with
//!   `nfft` bins in FFT order (DC, positive, then negative frequencies), like `fftfreq`.
//! * [`stft`] (scipy's defaults `boundary='zeros'`, `padded=True`): `nperseg/2` zeros are added
//!   at both ends, then zeros up to a whole number of segments; times are segment centres minus
//!   the `nperseg/2` boundary offset, so the first column is at t = 0.
//!   Scaling `Spectrum` multiplies by `1/Σw` (a full-scale sine of amplitude A gives |Z| = A/2);
//!   `Density` (scipy's `'psd'`) by `1/√(fs·Σw²)`.
//! * [`spectrogram`] (`mode='psd'`, no boundary, no padding): |Z|² with `Density` → units²/Hz
//!   (`1/(fs·Σw²)`) or `Spectrum` → units² (`1/(Σw)²`); one-sided results double every bin except
//!   DC and (for even `nfft`) Nyquist, so power sums are preserved.
//! * If `nperseg` exceeds the signal length, it is shortened to the signal length (scipy warns and
//!   does the same).
//!
//! Windows are scipy's periodic (`fftbins=True`) windows.

use super::windows::WindowKind;
use num_complex::Complex64;
use rustfft::FftPlanner;
use std::f64::consts::PI;

/// Window of an offline analysis.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// One of the engine's periodic windows (`hann`, `hamming`, `blackmanharris`, `boxcar`,
    /// and `sqrt-hann`, which scipy only has as an array).
    Kind(WindowKind),
    /// scipy's periodic `('tukey', alpha)`: flat top with cosine tapers over `alpha` of the length.
    /// `spectrogram`'s default is `Tukey(0.25)`.
    Tukey(f64),
    /// Explicit window values; `nperseg` must equal their length.
    Custom(Vec<f64>),
}

impl Window {
    /// The `n`-point window values.
    pub fn values(&self, n: usize) -> Result<Vec<f64>, AnalysisError> {
        Ok(match self {
            Window::Kind(k) => periodic_kind(*k, n),
            Window::Tukey(alpha) => tukey_periodic(n, *alpha),
            Window::Custom(v) => {
                if v.len() != n {
                    return Err(AnalysisError::WindowLength {
                        window: v.len(),
                        nperseg: n,
                    });
                }
                v.clone()
            }
        })
    }
}

/// f64 versions of [`WindowKind::build`] (that one rounds to f32).
fn periodic_kind(k: WindowKind, n: usize) -> Vec<f64> {
    let len = n as f64;
    (0..n)
        .map(|i| {
            let x = 2.0 * PI * i as f64 / len;
            match k {
                WindowKind::SqrtHann => (0.5 - 0.5 * x.cos()).max(0.0).sqrt(),
                WindowKind::Hann => 0.5 - 0.5 * x.cos(),
                WindowKind::Hamming => 0.54 - 0.46 * x.cos(),
                WindowKind::BlackmanHarris => {
                    0.35875 - 0.48829 * x.cos() + 0.14128 * (2.0 * x).cos()
                        - 0.01168 * (3.0 * x).cos()
                }
                WindowKind::Rectangular => 1.0,
            }
        })
        .collect()
}

/// scipy `tukey(n + 1, alpha, sym=True)[:-1]` (the periodic Tukey window).
fn tukey_periodic(n: usize, alpha: f64) -> Vec<f64> {
    if n <= 1 || alpha <= 0.0 {
        return vec![1.0; n];
    }
    if alpha >= 1.0 {
        return periodic_kind(WindowKind::Hann, n);
    }
    let m = n + 1; // symmetric length
    let mm1 = (m - 1) as f64;
    let width = (alpha * mm1 / 2.0).floor() as usize;
    (0..n)
        .map(|i| {
            let x = i as f64;
            if i <= width {
                0.5 * (1.0 + (PI * (-1.0 + 2.0 * x / alpha / mm1)).cos())
            } else if i < m - width - 1 {
                1.0
            } else {
                0.5 * (1.0 + (PI * (-2.0 / alpha + 1.0 + 2.0 * x / alpha / mm1)).cos())
            }
        })
        .collect()
}

/// Spectral scaling (scipy's `scaling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    /// Amplitude (stft) or power (spectrogram) spectrum: normalised by Σw.
    Spectrum,
    /// Density: normalised by fs·Σw² (scipy `stft(scaling='psd')`, `spectrogram(scaling='density')`).
    Density,
}

/// Per-segment detrending before the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detrend {
    None,
    /// Subtract the segment mean (scipy `'constant'`).
    Constant,
}

/// Parameters shared by [`stft`] and [`spectrogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOptions {
    /// Sample rate, Hz (scales the frequency and time vectors, and `Density`).
    pub fs: f64,
    pub window: Window,
    /// Segment length.
    pub nperseg: usize,
    /// Overlap; `None` = scipy's default (`nperseg/2` for stft, `nperseg/8` for spectrogram).
    pub noverlap: Option<usize>,
    /// FFT length ≥ nperseg; `None` = nperseg.
    pub nfft: Option<usize>,
    pub scaling: Scaling,
    pub detrend: Detrend,
}

impl AnalysisOptions {
    /// scipy.signal.stft's defaults: Hann, 256, half overlap, `'spectrum'`, no detrend.
    pub fn stft_defaults() -> Self {
        AnalysisOptions {
            fs: 1.0,
            window: Window::Kind(WindowKind::Hann),
            nperseg: 256,
            noverlap: None,
            nfft: None,
            scaling: Scaling::Spectrum,
            detrend: Detrend::None,
        }
    }
    /// scipy.signal.spectrogram's defaults: Tukey 0.25, 256, nperseg/8 overlap, `'density'`,
    /// constant detrend.
    pub fn spectrogram_defaults() -> Self {
        AnalysisOptions {
            window: Window::Tukey(0.25),
            scaling: Scaling::Density,
            detrend: Detrend::Constant,
            ..Self::stft_defaults()
        }
    }
}

/// Invalid analysis parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error("the signal is empty")]
    Empty,
    #[error("nperseg must be a positive integer")]
    Nperseg,
    #[error("noverlap ({noverlap}) must be less than nperseg ({nperseg})")]
    Noverlap { noverlap: usize, nperseg: usize },
    #[error("nfft ({nfft}) must be greater than or equal to nperseg ({nperseg})")]
    Nfft { nfft: usize, nperseg: usize },
    #[error("window has {window} values but nperseg is {nperseg}")]
    WindowLength { window: usize, nperseg: usize },
    #[error("window ({window} values) is longer than the signal ({len} samples)")]
    WindowTooLong { window: usize, len: usize },
    #[error("sample rate must be positive and finite (got {0})")]
    Rate(f64),
}

/// A complex STFT: `data[f * times.len() + t]` (frequency-major, scipy's `Z[f, t]`).
#[derive(Debug, Clone, PartialEq)]
pub struct StftResult {
    pub freqs: Vec<f64>,
    pub times: Vec<f64>,
    pub data: Vec<Complex64>,
}

/// A real spectrogram: `data[f * times.len() + t]` (scipy's `Sxx[f, t]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrogramResult {
    pub freqs: Vec<f64>,
    pub times: Vec<f64>,
    pub data: Vec<f64>,
}

impl StftResult {
    pub fn at(&self, f: usize, t: usize) -> Complex64 {
        self.data[f * self.times.len() + t]
    }
}
impl SpectrogramResult {
    pub fn at(&self, f: usize, t: usize) -> f64 {
        self.data[f * self.times.len() + t]
    }
}

/// The resolved geometry after scipy's defaulting and checks.
struct Geometry {
    win: Vec<f64>,
    nperseg: usize,
    nstep: usize,
    nfft: usize,
}

fn geometry(
    opts: &AnalysisOptions,
    len: usize,
    default_overlap: fn(usize) -> usize,
) -> Result<Geometry, AnalysisError> {
    if len == 0 {
        return Err(AnalysisError::Empty);
    }
    if !(opts.fs.is_finite() && opts.fs > 0.0) {
        return Err(AnalysisError::Rate(opts.fs));
    }
    if opts.nperseg == 0 {
        return Err(AnalysisError::Nperseg);
    }
    // scipy shortens a named window to the input (with a warning); an explicit array keeps its
    // length.
    let nperseg = match &opts.window {
        Window::Custom(w) if w.len() > len => {
            return Err(AnalysisError::WindowTooLong {
                window: w.len(),
                len,
            })
        }
        Window::Custom(_) => opts.nperseg,
        _ => opts.nperseg.min(len),
    };
    let win = opts.window.values(nperseg)?;
    let nfft = opts.nfft.unwrap_or(nperseg);
    if nfft < nperseg {
        return Err(AnalysisError::Nfft { nfft, nperseg });
    }
    let noverlap = opts.noverlap.unwrap_or_else(|| default_overlap(nperseg));
    if noverlap >= nperseg {
        return Err(AnalysisError::Noverlap { noverlap, nperseg });
    }
    Ok(Geometry {
        win,
        nperseg,
        nstep: nperseg - noverlap,
        nfft,
    })
}

/// Windowed FFTs of every segment of `x` (already extended/padded). Returns (bins, frames, data
/// frequency-major), one-sided (`nfft/2+1` bins) unless `two_sided`.
fn segments(
    x: &[Complex64],
    g: &Geometry,
    detrend: Detrend,
    two_sided: bool,
) -> (usize, usize, Vec<Complex64>) {
    let frames = if x.len() >= g.nperseg {
        (x.len() - g.nperseg) / g.nstep + 1
    } else {
        0
    };
    let bins = if two_sided { g.nfft } else { g.nfft / 2 + 1 };
    let fft = FftPlanner::<f64>::new().plan_fft_forward(g.nfft);
    let mut buf = vec![Complex64::default(); g.nfft];
    let mut data = vec![Complex64::default(); bins * frames];
    for t in 0..frames {
        let seg = &x[t * g.nstep..t * g.nstep + g.nperseg];
        let mean = match detrend {
            Detrend::None => Complex64::default(),
            Detrend::Constant => seg.iter().sum::<Complex64>() / g.nperseg as f64,
        };
        for ((b, s), w) in buf.iter_mut().zip(seg).zip(&g.win) {
            *b = (s - mean) * w;
        }
        buf[g.nperseg..].fill(Complex64::default());
        fft.process(&mut buf);
        for f in 0..bins {
            data[f * frames + t] = buf[f];
        }
    }
    (bins, frames, data)
}

fn freqs(nfft: usize, fs: f64, two_sided: bool) -> Vec<f64> {
    let d = fs / nfft as f64;
    if two_sided {
        // numpy fftfreq: 0, 1, …, ⌈n/2⌉−1, −⌊n/2⌋, …, −1
        (0..nfft)
            .map(|k| {
                let k = k as i64;
                let k = if k < nfft.div_ceil(2) as i64 {
                    k
                } else {
                    k - nfft as i64
                };
                k as f64 * d
            })
            .collect()
    } else {
        (0..=nfft / 2).map(|k| k as f64 * d).collect()
    }
}

/// `scipy.signal.stft` of a real signal (one-sided).
pub fn stft(x: &[f64], opts: &AnalysisOptions) -> Result<StftResult, AnalysisError> {
    let xc: Vec<Complex64> = x.iter().map(|v| Complex64::new(*v, 0.0)).collect();
    stft_impl(&xc, opts, false)
}

/// `scipy.signal.stft` of a complex signal (always two-sided, FFT bin order).
pub fn stft_complex(x: &[Complex64], opts: &AnalysisOptions) -> Result<StftResult, AnalysisError> {
    stft_impl(x, opts, true)
}

fn stft_impl(
    x: &[Complex64],
    opts: &AnalysisOptions,
    two_sided: bool,
) -> Result<StftResult, AnalysisError> {
    let g = geometry(opts, x.len(), |n| n / 2)?;
    // boundary='zeros': nperseg/2 zeros each side; padded=True: zeros to a whole segment count.
    let half = g.nperseg / 2;
    let mut ext = vec![Complex64::default(); half];
    ext.extend_from_slice(x);
    ext.resize(ext.len() + half, Complex64::default());
    let nadd = (g.nstep - (ext.len() - g.nperseg) % g.nstep) % g.nstep % g.nperseg;
    ext.resize(ext.len() + nadd, Complex64::default());
    let (_, frames, mut data) = segments(&ext, &g, opts.detrend, two_sided);
    let scale = match opts.scaling {
        Scaling::Spectrum => 1.0 / g.win.iter().sum::<f64>(),
        Scaling::Density => 1.0 / (opts.fs * g.win.iter().map(|w| w * w).sum::<f64>()).sqrt(),
    };
    data.iter_mut().for_each(|z| *z *= scale);
    let times = (0..frames)
        .map(|t| (g.nperseg as f64 / 2.0 + (t * g.nstep) as f64) / opts.fs - half_offset(&g, opts))
        .collect();
    Ok(StftResult {
        freqs: freqs(g.nfft, opts.fs, two_sided),
        times,
        data,
    })
}

fn half_offset(g: &Geometry, opts: &AnalysisOptions) -> f64 {
    (g.nperseg as f64 / 2.0) / opts.fs
}

/// `scipy.signal.spectrogram(mode='psd')` of a real signal (one-sided).
pub fn spectrogram(x: &[f64], opts: &AnalysisOptions) -> Result<SpectrogramResult, AnalysisError> {
    let xc: Vec<Complex64> = x.iter().map(|v| Complex64::new(*v, 0.0)).collect();
    spectrogram_impl(&xc, opts, false)
}

/// `scipy.signal.spectrogram(mode='psd')` of a complex signal (two-sided, FFT bin order).
pub fn spectrogram_complex(
    x: &[Complex64],
    opts: &AnalysisOptions,
) -> Result<SpectrogramResult, AnalysisError> {
    spectrogram_impl(x, opts, true)
}

fn spectrogram_impl(
    x: &[Complex64],
    opts: &AnalysisOptions,
    two_sided: bool,
) -> Result<SpectrogramResult, AnalysisError> {
    let g = geometry(opts, x.len(), |n| n / 8)?;
    let (bins, frames, z) = segments(x, &g, opts.detrend, two_sided);
    let scale = match opts.scaling {
        Scaling::Spectrum => 1.0 / g.win.iter().sum::<f64>().powi(2),
        Scaling::Density => 1.0 / (opts.fs * g.win.iter().map(|w| w * w).sum::<f64>()),
    };
    let mut data: Vec<f64> = z.iter().map(|v| v.norm_sqr() * scale).collect();
    if !two_sided {
        // Double the bins that stand for a ± pair: all but DC and (even nfft) Nyquist.
        let last = if g.nfft % 2 == 0 { bins - 1 } else { bins };
        for f in 1..last {
            data[f * frames..(f + 1) * frames]
                .iter_mut()
                .for_each(|v| *v *= 2.0);
        }
    }
    let times = (0..frames)
        .map(|t| (g.nperseg as f64 / 2.0 + (t * g.nstep) as f64) / opts.fs)
        .collect();
    Ok(SpectrogramResult {
        freqs: freqs(g.nfft, opts.fs, two_sided),
        times,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_scale_sine_has_half_amplitude_in_spectrum_scaling() {
        // A bin-centred cosine of amplitude 2 → |Z| = 1 with scaling='spectrum'.
        let n = 1024;
        let x: Vec<f64> = (0..n)
            .map(|i| 2.0 * (2.0 * PI * 8.0 * i as f64 / 64.0).cos())
            .collect();
        let o = AnalysisOptions {
            nperseg: 64,
            ..AnalysisOptions::stft_defaults()
        };
        let z = stft(&x, &o).unwrap();
        let mid = z.times.len() / 2;
        assert!((z.at(8, mid).norm() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn tukey_with_alpha_one_is_hann_and_zero_is_rectangular() {
        assert_eq!(tukey_periodic(16, 1.0), periodic_kind(WindowKind::Hann, 16));
        assert_eq!(tukey_periodic(16, 0.0), vec![1.0; 16]);
    }

    #[test]
    fn bad_geometry_is_an_error_not_a_panic() {
        let mut o = AnalysisOptions::stft_defaults();
        o.nperseg = 64;
        o.noverlap = Some(64);
        assert!(matches!(
            stft(&[0.0; 100], &o),
            Err(AnalysisError::Noverlap { .. })
        ));
        o.noverlap = None;
        o.nfft = Some(32);
        assert!(matches!(
            stft(&[0.0; 100], &o),
            Err(AnalysisError::Nfft { .. })
        ));
        assert_eq!(stft(&[], &o), Err(AnalysisError::Empty));
    }
}
