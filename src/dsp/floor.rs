//! The noise floor of a recording, estimated before filtering it, and the pre-roll that starts
//! the gate in its steady state. Used by the stream core for I/Q recordings and streams.
//!
//! Noise floor (why not the engine's blind tracker): a wide IQ recording holds steady carriers
//! that last longer than any minimum-search window, a DC spike at the centre and the anti-alias
//! roll-off at both band edges. Blind per-bin tracking would learn steady carriers as noise. The
//! floor here is estimated once from the long-term mean power per bin (Welch average over
//! segments spread across the file), made robust across frequency: each bin's floor is the
//! smaller of its own mean and the median of its neighbours within ±1/32 of the band, with the DC
//! bins excluded from every median. Narrow carriers, bursty emitters and the DC spike do not lift
//! the floor; the roll-off is followed because a bin's own (low) mean wins there. The DC spike
//! itself is treated as signal and left in the output (it is part of the recording).
//!
//! Sub-band (`--band -50k:+120k`, relative to the centre): bins outside get a floor of ~0
//! (gate open: passed through) or a huge floor (closed: attenuated by the full `reduction_db`).

use super::stft::{StftConfig, StftError};

/// What to do outside `--band`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outside {
    /// Leave it as it is.
    #[default]
    Pass,
    /// Attenuate it by the full reduction.
    Blank,
}

/// A frequency range relative to the centre, Hz (lo < hi).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub lo_hz: f64,
    pub hi_hz: f64,
}

impl std::str::FromStr for Band {
    type Err = String;
    /// `-50k:+120k`, `-1.2M:0`, `100:3000` (Hz, k, M, G suffixes): [`crate::units::parse_band`].
    fn from_str(s: &str) -> Result<Band, String> {
        let (lo_hz, hi_hz) = crate::units::parse_band(s)?;
        Ok(Band { lo_hz, hi_hz })
    }
}

/// Mean power per bin → robust noise floor (see the module doc). `mean` is in FFT order.
pub fn robust_floor(mean: &[f32], rate: u32, dc_hz: f64) -> Vec<f32> {
    let n = mean.len();
    if n < 8 {
        return mean.to_vec();
    }
    let bin_hz = rate as f64 / n as f64;
    let dc_bins = ((dc_hz / bin_hz).ceil() as usize).max(2);
    let freq_bin = |b: usize| {
        if b < n.div_ceil(2) {
            b as isize
        } else {
            b as isize - n as isize
        }
    };
    // Shifted order: position p holds bin (p + ⌈n/2⌉) mod n, i.e. −fs/2 … +fs/2.
    let shift = n / 2;
    let bin_of = |p: usize| (p + shift) % n;
    let vals: Vec<f32> = (0..n).map(|p| mean[bin_of(p)]).collect();
    let is_dc: Vec<bool> = (0..n)
        .map(|p| freq_bin(bin_of(p)).unsigned_abs() <= dc_bins)
        .collect();
    let w = (n / 32).max(4);
    let mut scratch = Vec::with_capacity(2 * w + 1);
    let mut out = vec![0.0f32; n];
    for p in 0..n {
        scratch.clear();
        let lo = p.saturating_sub(w);
        let hi = (p + w).min(n - 1);
        scratch.extend((lo..=hi).filter(|&q| !is_dc[q]).map(|q| vals[q]));
        let med = if scratch.is_empty() {
            vals[p]
        } else {
            let m = scratch.len() / 2;
            *scratch.select_nth_unstable_by(m, |a, b| a.total_cmp(b)).1
        };
        let own = vals[p];
        let floor = if is_dc[p] { med } else { own.min(med) };
        out[bin_of(p)] = floor.max(1e-30);
    }
    out
}

/// Applies a sub-band to a floor: outside bins get ~0 (pass) or a huge floor (blank).
pub fn apply_band(floor: &mut [f32], rate: u32, band: Band, outside: Outside) {
    let n = floor.len();
    let bin_hz = rate as f64 / n as f64;
    for (b, v) in floor.iter_mut().enumerate() {
        let f = if b < n.div_ceil(2) {
            b as f64
        } else {
            b as f64 - n as f64
        } * bin_hz;
        if f < band.lo_hz || f > band.hi_hz {
            *v = match outside {
                Outside::Pass => 1e-30,
                Outside::Blank => 1e30,
            };
        }
    }
}

/// Mean power per bin (FFT order) of interleaved I/Q clips, analysed exactly as the engine
/// analyses a frame (its geometry, analysis window and unnormalised forward FFT, so the units
/// match `Engine::set_noise_profile`), frames hopping by the engine's hop, all I/Q pairs pooled.
/// Forward transforms only: about a third of the cost of running the engine. `None` when no clip
/// holds a whole frame.
/// Samples beyond ±`max_abs` (or non-finite) are taken as zero, with their I/Q partner, as the
/// engine takes them.
pub fn welch_mean(
    cfg: StftConfig,
    channels: usize,
    segments: &[Vec<f32>],
    max_abs: f32,
) -> Result<Option<Vec<f32>>, StftError> {
    use super::stft::{ComplexStft, ComplexTransform, Transform};
    use num_complex::Complex32;
    cfg.validate()?;
    let win = ComplexStft::new_complex(cfg)?.analysis_window().to_vec();
    let mut fft = ComplexTransform::new(cfg.fft_len);
    let mut time = vec![Complex32::default(); cfg.fft_len];
    let mut spec = vec![Complex32::default(); cfg.fft_len];
    let mut acc = vec![0.0f64; cfg.fft_len];
    let mut frames = 0u64;
    let pairs = channels / 2;
    for s in segments {
        let n = s.len() / channels;
        let mut start = 0;
        while start + cfg.frame_len <= n {
            for c in 0..pairs {
                for (k, t) in time[..cfg.frame_len].iter_mut().enumerate() {
                    let i = (start + k) * channels + 2 * c;
                    let (re, im) = (s[i], s[i + 1]);
                    let ok = |v: f32| v.abs() <= max_abs;
                    let (re, im) = if ok(re) && ok(im) {
                        (re, im)
                    } else {
                        (0.0, 0.0)
                    };
                    *t = Complex32::new(re, im) * win[k];
                }
                time[cfg.frame_len..].fill(Complex32::default());
                fft.forward(&mut time, &mut spec);
                for (a, x) in acc.iter_mut().zip(&spec) {
                    *a += x.norm_sqr() as f64;
                }
                frames += 1;
            }
            start += cfg.hop;
        }
    }
    Ok((frames > 0).then(|| acc.iter().map(|a| (a / frames as f64) as f32).collect()))
}

/// The gate's noise floor for a recording, from `segments` clips (interleaved I/Q): the Welch
/// mean made robust across frequency ([`robust_floor`]).
pub fn estimate_floor(
    cfg: StftConfig,
    rate: u32,
    channels: usize,
    segments: &[Vec<f32>],
    dc_hz: f64,
    max_abs: f32,
) -> Result<Option<Vec<f32>>, StftError> {
    Ok(welch_mean(cfg, channels, segments, max_abs)?.map(|m| robust_floor(&m, rate, dc_hz)))
}

/// Pre-roll length in frames: long enough for the gain smoothing to settle from its start state
/// (gain 1, i.e. open) and for a few frames of history; at most 0.25 s.
pub fn preroll_frames(cfg: &StftConfig, attack_ms: f64, release_ms: f64, rate: u32) -> usize {
    let release = release_ms.max(attack_ms) / 1000.0;
    let settle = (5.0 * release * rate as f64) as usize;
    (4 * cfg.frame_len + settle).min(rate as usize / 4)
}

/// The first frames of `x` (interleaved I/Q pairs) mirrored in time and conjugated: the
/// continuation of the signal backwards in time that keeps every carrier at its frequency and
/// phase-continuous into sample 0. Fed before the real input, it lets the engine start in its
/// steady state instead of passing the first ~release time of noise unattenuated.
pub fn mirrored_preroll(x: &[f32], channels: usize, frames: usize) -> Vec<f32> {
    let k = frames.min(x.len() / channels);
    let mut p = Vec::with_capacity(k * channels);
    for t in (0..k).rev() {
        let f = &x[t * channels..(t + 1) * channels];
        for pair in f.chunks_exact(2) {
            p.push(pair[0]);
            p.push(-pair[1]);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    #[test]
    fn dc_spike_carriers_and_edge_rolloff_do_not_lift_the_floor() {
        // Shifted spectrum −fs/2…+fs/2 of 1024 bins at 1.024 MS/s (1 kHz bins): flat noise 1.0,
        // a raised-cosine roll-off to 0.01 over the outer 64 bins at each edge, a DC spike of 1e4
        // over ±2 bins, carriers of 1e3 at +100 and −200 bins, a 20-bin burst of 50 at +300.
        let n = 1024usize;
        let mut shifted = vec![1.0f32; n];
        for p in 0..64 {
            let r = 0.01 + 0.99 * (0.5 - 0.5 * (std::f32::consts::PI * p as f32 / 64.0).cos());
            shifted[p] = r;
            shifted[n - 1 - p] = r;
        }
        let c = n / 2; // 0 Hz
        for d in 0..=2 {
            shifted[c + d] = 1e4;
            shifted[c - d] = 1e4;
        }
        shifted[c + 100] = 1e3;
        shifted[c - 200] = 1e3;
        shifted[c + 300..c + 320].fill(50.0);
        // To FFT order: bin b holds shifted[(b + n/2) % n].
        let mean: Vec<f32> = (0..n).map(|b| shifted[(b + n / 2) % n]).collect();
        let floor = robust_floor(&mean, 1_024_000, 1000.0);
        let at = |hz_bins: isize| floor[hz_bins.rem_euclid(n as isize) as usize];
        for b in [-3isize, -1, 0, 1, 3, 100, -200, 305, 310] {
            assert!((at(b) - 1.0).abs() < 1e-6, "bin {b}: floor {}", at(b));
        }
        // Edges follow the roll-off (the bin's own lower mean wins).
        assert_eq!(at(-(n as isize) / 2), 0.01);
        assert!((at(n as isize / 2 - 1) - shifted[n - 1]).abs() < 1e-6);
    }

    #[test]
    fn welch_mean_matches_the_engines_learned_profile() {
        // The engine's own learn_profile is the reference for units and window.
        let p = Params {
            frame: 256,
            ..Params::default()
        };
        let mut s = 1u32;
        let x: Vec<f32> = (0..2 * 20_000)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let w = welch_mean(
            crate::engine::stft_config(&p, 48_000),
            2,
            std::slice::from_ref(&x),
            1024.0,
        )
        .unwrap()
        .unwrap();
        let e = crate::engine::learn_profile(&p, 48_000, 2, crate::engine::SignalKind::Complex, &x)
            .unwrap();
        let worst = w
            .iter()
            .zip(&e)
            .map(|(a, b)| ((a - b) / b).abs())
            .fold(0.0f32, f32::max);
        // The engine's first frame includes the zero history before the signal: allow 2 %.
        assert!(worst < 0.02, "relative difference {worst}");
    }

    #[test]
    fn band_parses_relative_offsets_and_marks_outside_bins() {
        let b: Band = "-50k:+120k".parse().unwrap();
        assert_eq!((b.lo_hz, b.hi_hz), (-50_000.0, 120_000.0));
        assert!("1k:-1k".parse::<Band>().is_err());
        assert!("abc".parse::<Band>().is_err());
        let mut f = vec![1.0f32; 1000]; // 1 kHz bins at 1 MS/s
        apply_band(&mut f, 1_000_000, b, Outside::Pass);
        assert_eq!(f[0], 1.0);
        assert_eq!(f[120], 1.0);
        assert_eq!(f[121], 1e-30);
        assert_eq!(f[1000 - 50], 1.0);
        assert_eq!(f[1000 - 51], 1e-30);
    }
}
