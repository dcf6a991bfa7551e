//! Analysis/synthesis windows.
//!
//! All windows are *periodic* (DFT-even): `w[n]` for `n in 0..N` is the first `N` points of an
//! `N+1`-point symmetric window. Periodic windows overlap-add to a constant at the classic hops
//! (Hann at N/2 and N/4), which is what a streaming STFT needs; scipy's `get_window('hann', N)`
//! is the same periodic window.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

/// The window applied at analysis and again at synthesis (weighted overlap-add).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum WindowKind {
    /// Square root of the periodic Hann window: analysis × synthesis = Hann, which is
    /// constant-overlap-add at hop N/2 — perfect reconstruction with 50 % overlap and the
    /// least redundancy. The default.
    #[default]
    SqrtHann,
    /// Periodic Hann (used at analysis and synthesis, so the effective window is Hann²).
    Hann,
    /// Periodic Hamming (0.54 − 0.46 cos).
    Hamming,
    /// Periodic 4-term Blackman-Harris (−92 dB side lobes).
    BlackmanHarris,
    /// Rectangular (no taper); only sensible for tests and hop == frame.
    Rectangular,
}

impl WindowKind {
    pub const ALL: [WindowKind; 5] = [
        WindowKind::SqrtHann,
        WindowKind::Hann,
        WindowKind::Hamming,
        WindowKind::BlackmanHarris,
        WindowKind::Rectangular,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WindowKind::SqrtHann => "sqrt-hann",
            WindowKind::Hann => "hann",
            WindowKind::Hamming => "hamming",
            WindowKind::BlackmanHarris => "blackman-harris",
            WindowKind::Rectangular => "rectangular",
        }
    }

    /// The `len`-point periodic window, computed in f64 and rounded once.
    pub fn build(self, len: usize) -> Vec<f32> {
        let n = len as f64;
        (0..len)
            .map(|i| {
                let x = 2.0 * PI * i as f64 / n;
                let w = match self {
                    WindowKind::SqrtHann => (0.5 - 0.5 * x.cos()).max(0.0).sqrt(),
                    WindowKind::Hann => 0.5 - 0.5 * x.cos(),
                    WindowKind::Hamming => 0.54 - 0.46 * x.cos(),
                    WindowKind::BlackmanHarris => {
                        0.35875 - 0.48829 * x.cos() + 0.14128 * (2.0 * x).cos()
                            - 0.01168 * (3.0 * x).cos()
                    }
                    WindowKind::Rectangular => 1.0,
                };
                w as f32
            })
            .collect()
    }
}

/// Periodic Hann of length `len` at (possibly out-of-range) index `j`, in f64.
fn hann(len: usize, j: usize) -> f64 {
    0.5 - 0.5 * (2.0 * PI * j as f64 / len as f64).cos()
}

/// How much frame overlap inflates the variance of a sum (or average) over frames of one bin's
/// noise power: `1 + 2·Σ_k ρ_k²` over lags of k hops, `ρ_k = Σ w[n]·w[n+k·hop] / Σ w²` (1 without
/// overlap). Exact for Gaussian noise, whose periodogram values at lag k correlate by ρ_k².
pub fn overlap_noise_corr(w: &[f32], hop: usize) -> f64 {
    let total: f64 = w
        .iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum::<f64>()
        .max(1e-30);
    let hop = hop.max(1);
    let mut corr = 1.0;
    let mut lag = hop;
    while lag < w.len() {
        let r: f64 = w[..w.len() - lag]
            .iter()
            .zip(&w[lag..])
            .map(|(&x, &y)| x as f64 * y as f64)
            .sum::<f64>()
            / total;
        corr += 2.0 * r * r;
        lag += hop;
    }
    corr
}

/// The asymmetric analysis/synthesis pair of the low-delay STFT (Mauler & Martin 2007, in the
/// form of Wang, Wichern, Watanabe & Le Roux 2022, "STFT-domain neural speech enhancement with
/// very low algorithmic latency"), for a frame of `frame` samples whose synthesis window covers
/// only its last `synth` samples (2 ≤ `synth` ≤ `frame`) and whose analysis window falls to zero
/// over its last `fall` samples (1 ≤ `fall` ≤ `synth`).
///
/// With `S = synth`, `D = fall`, `r = frame − D` and `Hann_K` the periodic Hann of length `K`:
/// - analysis: `√Hann_{2r}(n)` rising over `0 ≤ n < r` (a long window: the frequency resolution
///   of the whole frame), then `√Hann_{2D}(n − r + D)` falling over the last `D` samples;
/// - synthesis: zero before `frame − S`, then `Hann_S(n − (frame − S)) / analysis(n)`.
///
/// The product analysis·synthesis is `Hann_S` on the last `S` samples, which overlap-adds to a
/// constant at hop `S/2` (and `S/4`, …). The first `frame − S` synthesis samples are zero, so a
/// frame's output is complete `S` samples after its first sample: the latency is `S − 1`.
/// Wang et al. use `D = S/2`; the STFT uses [`low_delay_fall`] (measured in `specgate eval`).
/// With `synth == fall·2 == frame` (even) both windows are the symmetric
/// [`WindowKind::SqrtHann`].
pub fn low_delay_pair(frame: usize, synth: usize, fall: usize) -> (Vec<f32>, Vec<f32>) {
    let m = synth.clamp(1, frame.max(1));
    let d = fall.clamp(1, m);
    let off = frame - m;
    let r = frame - d;
    let analysis: Vec<f64> = (0..frame)
        .map(|n| {
            if n < r {
                hann(2 * r, n).max(0.0).sqrt()
            } else {
                hann(2 * d, n - r + d).max(0.0).sqrt()
            }
        })
        .collect();
    let synthesis = analysis
        .iter()
        .enumerate()
        .map(|(n, a)| {
            if n < off || *a <= 0.0 {
                0.0
            } else {
                (hann(m, n - off) / a) as f32
            }
        })
        .collect();
    (analysis.iter().map(|a| *a as f32).collect(), synthesis)
}

/// Length of the analysis window's falling edge for a synthesis window of `synth` samples:
/// `⌈synth/8⌉`. A steep fall weights the newest samples — the ones the short synthesis window
/// outputs — fully. On speech in white and pink noise (`specgate eval --preset voice
/// --latency-ms 10`, 48 kHz) ΔSI-SDR was +9.09 dB with Wang et al.'s `synth/2`, +9.14 with
/// `synth/4` and +9.17..9.19 with `synth/7`..`synth/10`; at 3 ms +7.78 (`synth/2`) and +7.93.
pub fn low_delay_fall(synth: usize) -> usize {
    synth.div_ceil(8).max(1)
}

impl fmt::Display for WindowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WindowKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        WindowKind::ALL
            .into_iter()
            .find(|w| w.name() == t || (t == "sqrthann" && *w == WindowKind::SqrtHann))
            .ok_or_else(|| {
                format!(
                    "unknown window '{s}' (expected one of: {})",
                    WindowKind::ALL.map(|w| w.name()).join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_hann_matches_the_scipy_definition() {
        let w = WindowKind::Hann.build(8);
        let expect = [0.0, 0.146447, 0.5, 0.853553, 1.0, 0.853553, 0.5, 0.146447];
        for (a, b) in w.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{w:?}");
        }
    }

    #[test]
    fn sqrt_hann_squared_overlap_adds_to_one_at_half_hop() {
        let n = 64;
        let w = WindowKind::SqrtHann.build(n);
        for j in 0..n / 2 {
            let s = w[j] * w[j] + w[j + n / 2] * w[j + n / 2];
            assert!((s - 1.0).abs() < 1e-6, "position {j}: {s}");
        }
    }

    #[test]
    fn low_delay_pair_products_are_a_hann_of_the_synthesis_length_at_the_frame_end() {
        for (frame, synth, fall) in [
            (960, 144, 18),
            (960, 480, 240),
            (160, 24, 3),
            (441, 97, 13),
            (64, 2, 1),
            (100, 100, 7),
        ] {
            let (a, s) = low_delay_pair(frame, synth, fall);
            assert_eq!((a.len(), s.len()), (frame, frame));
            for n in 0..frame {
                let p = a[n] as f64 * s[n] as f64;
                let want = if n < frame - synth {
                    0.0
                } else {
                    hann(synth, n - (frame - synth))
                };
                assert!(
                    (p - want).abs() < 1e-6,
                    "{frame}/{synth} n={n}: {p} vs {want}"
                );
            }
            // The analysis window peaks where its fall starts and is never zero inside the
            // synthesis support (the division is safe).
            assert_eq!(a[frame - fall], 1.0, "{frame}/{synth}/{fall}");
            assert!(a.iter().all(|v| *v <= 1.0));
            assert!(a[frame - synth..].iter().skip(1).all(|v| *v > 0.0));
        }
    }

    #[test]
    fn low_delay_pair_with_a_full_length_synthesis_is_the_symmetric_sqrt_hann() {
        let (a, s) = low_delay_pair(64, 64, 32);
        let w = WindowKind::SqrtHann.build(64);
        for i in 0..64 {
            assert!(
                (a[i] - w[i]).abs() < 1e-6 && (s[i] - w[i]).abs() < 1e-6,
                "{i}"
            );
        }
    }

    #[test]
    fn window_names_round_trip() {
        for w in WindowKind::ALL {
            assert_eq!(w.name().parse::<WindowKind>().unwrap(), w);
        }
        assert!("kaiser".parse::<WindowKind>().is_err());
    }
}
