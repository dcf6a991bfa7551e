//! Objective quality metrics for a denoiser: pure functions of time-aligned, equal-length mono
//! signals (`reference` = the clean signal, `estimate` = the noisy input or the filter output).
//!
//! All levels are in dB; all sums run in f64. Conventions:
//! - SI-SDR: Le Roux et al., "SDR — half-baked or well done?", ICASSP 2019 (zero-mean,
//!   scale-invariant projection onto the reference).
//! - Segmental SNR: 20 ms non-overlapping frames, each frame's SNR clamped to [−10, 35] dB
//!   (Hansen & Pellom 1998), then averaged over all frames.
//! - Log-spectral distance: Hann frames of 32 ms with 50 % hop; per frame the RMS over bins of the
//!   difference of the two power spectra in dB (60 dB dynamic range), then the mean over the
//!   frames where the reference is active.
//! - STOI: Taal et al. 2011, as pystoi computes it (see [`stoi`]).
//! - Musical noise: the log kurtosis ratio of Uemura et al. (2009/2012), computed on the noise
//!   residual in the noise-only frames (see [`log_kurtosis_ratio`]).

use realfft::RealFftPlanner;

/// Segmental SNR clamp, dB (Hansen & Pellom).
pub const SEG_SNR_MIN_DB: f64 = -10.0;
pub const SEG_SNR_MAX_DB: f64 = 35.0;

fn mean(x: &[f32]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64
    }
}

/// `10·log10(num/den)` with both terms floored, so silence gives large finite numbers, not NaN.
fn ratio_db(num: f64, den: f64) -> f64 {
    10.0 * (num.max(1e-30) / den.max(1e-30)).log10()
}

/// Scale-invariant signal-to-distortion ratio, dB. Both signals are made zero-mean; the target
/// is the projection `α·s` of the estimate onto the reference (α = ⟨ŝ,s⟩/‖s‖²), the rest is
/// distortion. Equal lengths are required (the shorter length is used otherwise).
pub fn si_sdr(reference: &[f32], estimate: &[f32]) -> f64 {
    let n = reference.len().min(estimate.len());
    let (s, e) = (&reference[..n], &estimate[..n]);
    let (ms, me) = (mean(s), mean(e));
    let mut ss = 0.0f64;
    let mut se = 0.0f64;
    for (&a, &b) in s.iter().zip(e) {
        let (a, b) = (a as f64 - ms, b as f64 - me);
        ss += a * a;
        se += a * b;
    }
    if ss <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let alpha = se / ss;
    let mut tt = 0.0f64;
    let mut ee = 0.0f64;
    for (&a, &b) in s.iter().zip(e) {
        let t = alpha * (a as f64 - ms);
        let d = (b as f64 - me) - t;
        tt += t * t;
        ee += d * d;
    }
    ratio_db(tt, ee)
}

/// SI-SDR of the output minus SI-SDR of the input, dB (positive = better).
pub fn si_sdr_improvement(clean: &[f32], noisy: &[f32], enhanced: &[f32]) -> f64 {
    si_sdr(clean, enhanced) - si_sdr(clean, noisy)
}

/// Full-band SNR over the whole clip, dB: `‖s‖² / ‖ŝ − s‖²` (not scale-invariant).
pub fn snr(reference: &[f32], estimate: &[f32]) -> f64 {
    let (mut ss, mut ee) = (0.0f64, 0.0f64);
    for (&a, &b) in reference.iter().zip(estimate) {
        ss += (a as f64) * (a as f64);
        ee += (b as f64 - a as f64).powi(2);
    }
    ratio_db(ss, ee)
}

/// Segmental SNR, dB: mean over 20 ms non-overlapping frames (the last partial frame dropped) of
/// each frame's SNR clamped to [−10, 35] dB. A frame with no error scores 35 dB; a silent
/// reference frame with error scores −10 dB.
pub fn segmental_snr(reference: &[f32], estimate: &[f32], rate: u32) -> f64 {
    let n = reference.len().min(estimate.len());
    let frame = ((0.02 * rate as f64).round() as usize).max(1);
    let frames = n / frame;
    if frames == 0 {
        return f64::NAN;
    }
    let mut acc = 0.0;
    for f in 0..frames {
        let r = f * frame..(f + 1) * frame;
        let (mut ss, mut ee) = (0.0f64, 0.0f64);
        for (&a, &b) in reference[r.clone()].iter().zip(&estimate[r]) {
            ss += (a as f64) * (a as f64);
            ee += (b as f64 - a as f64).powi(2);
        }
        let v = if ee == 0.0 {
            SEG_SNR_MAX_DB
        } else if ss == 0.0 {
            SEG_SNR_MIN_DB
        } else {
            10.0 * (ss / ee).log10()
        };
        acc += v.clamp(SEG_SNR_MIN_DB, SEG_SNR_MAX_DB);
    }
    acc / frames as f64
}

/// Short-time power spectra `|X|²` of Hann-windowed frames (`frame` samples, hop `frame/2`,
/// frames fully inside the signal), one `Vec` of `frame/2+1` bins per frame.
pub fn power_spectrogram(x: &[f32], frame: usize) -> Vec<Vec<f64>> {
    let frame = frame.max(2);
    let hop = (frame / 2).max(1);
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(frame);
    let win: Vec<f64> = (0..frame)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / frame as f64).cos())
        .collect();
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut out = Vec::new();
    let mut start = 0;
    while start + frame <= x.len() {
        for ((b, &s), w) in buf.iter_mut().zip(&x[start..start + frame]).zip(&win) {
            *b = s as f64 * w;
        }
        fft.process(&mut buf, &mut spec)
            .expect("fft sizes are fixed");
        out.push(spec.iter().map(|c| c.norm_sqr()).collect());
        start += hop;
    }
    out
}

/// The metrics' STFT frame: 32 ms at `rate` (at least 16 samples).
pub fn analysis_frame(rate: u32) -> usize {
    ((0.032 * rate as f64).round() as usize).max(16)
}

/// Dynamic range of the log-spectral distance: spectra are floored 60 dB under the reference's
/// strongest bin, and frames more than 50 dB under its loudest frame are skipped.
pub const LSD_FLOOR_DB: f64 = 60.0;
pub const LSD_ACTIVE_DB: f64 = 50.0;

/// Log-spectral distance, dB: for each 32 ms Hann frame (50 % hop) the RMS over bins of
/// `10·log10(max(P_ref, F)) − 10·log10(max(P_est, F))`, averaged over the active frames.
/// `F` is [`LSD_FLOOR_DB`] under the reference's strongest bin; frames whose reference energy is
/// more than [`LSD_ACTIVE_DB`] under the loudest reference frame (pauses, key-up) are skipped:
/// a silent reference has no spectrum to compare, and the residual there is what segmental SNR
/// and the musical-noise indicator measure.
pub fn log_spectral_distance(reference: &[f32], estimate: &[f32], rate: u32) -> f64 {
    let n = reference.len().min(estimate.len());
    let frame = analysis_frame(rate);
    let pr = power_spectrogram(&reference[..n], frame);
    let pe = power_spectrogram(&estimate[..n], frame);
    let peak = pr.iter().flatten().cloned().fold(0.0, f64::max);
    let energies: Vec<f64> = pr.iter().map(|f| f.iter().sum()).collect();
    let loudest = energies.iter().cloned().fold(0.0, f64::max);
    if pr.is_empty() || peak <= 0.0 {
        return f64::NAN;
    }
    let floor = peak * 10f64.powf(-LSD_FLOOR_DB / 10.0);
    let active = loudest * 10f64.powf(-LSD_ACTIVE_DB / 10.0);
    let bins = pr[0].len();
    let (mut acc, mut count) = (0.0, 0usize);
    for ((a, b), &e) in pr.iter().zip(&pe).zip(&energies) {
        if e < active {
            continue;
        }
        let d2: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (10.0 * (x.max(floor) / y.max(floor)).log10()).powi(2))
            .sum();
        acc += (d2 / bins as f64).sqrt();
        count += 1;
    }
    acc / count as f64
}

/// Kurtosis in the sense of Uemura et al.: `μ4/μ2²` with raw moments of the (non-negative)
/// power values. An exponential distribution (the power of a complex Gaussian bin) gives 6.
pub fn raw_kurtosis(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut m2, mut m4, mut n) = (0.0f64, 0.0f64, 0usize);
    for v in values {
        let v2 = v * v;
        m2 += v2;
        m4 += v2 * v2;
        n += 1;
    }
    if n == 0 || m2 <= 0.0 {
        return f64::NAN;
    }
    (m4 / n as f64) / (m2 / n as f64).powi(2)
}

/// Minimum number of noise-only frames for a musical-noise score.
pub const MIN_NOISE_FRAMES: usize = 8;

/// Musical-noise indicator: the log kurtosis ratio `ln(kurt_out / kurt_in)` (Uemura et al.,
/// 2009; Miyazaki et al., 2012) of the noise power spectrum before and after processing.
///
/// Musical noise is isolated time-frequency peaks left in the residual ("tinkling tones"); they
/// make the distribution of residual power heavy-tailed, which raises its kurtosis. A uniform
/// attenuation (or any fixed spectral colouring) leaves it unchanged: 0 means no musical noise,
/// ≈ 0.5 is audible, > 1 is strong (Uemura's listening tests).
///
/// Evaluated where the truth is known to be noise only: STFT frames (32 ms Hann, 50 % hop) in
/// which the clean signal's energy is at least 40 dB below the noise's. The input noise is
/// `noisy − clean`, the residual `enhanced − clean` (so any leaked signal is not counted as
/// noise). Before the powers are pooled they are normalised twice: each bin by its mean over the
/// selected frames (so coloured noise — pink, SSB-shaped — scores like white, and a fixed
/// colouring by the filter scores 0), then each frame by its mean over the bins (so a level that
/// changes from frame to frame — the tracker converging at the start, gain release after a word —
/// is not mistaken for isolated peaks; Uemura's analysis assumes a stationary gain). Bins where
/// the input noise is more than 60 dB below its strongest bin are skipped.
///
/// Returns `None` when fewer than [`MIN_NOISE_FRAMES`] noise-only frames exist, or when the
/// residual is exactly zero there (a perfect gate has no musical noise but no ratio either:
/// reported as `None`).
pub fn log_kurtosis_ratio(
    clean: &[f32],
    noisy: &[f32],
    enhanced: &[f32],
    rate: u32,
) -> Option<f64> {
    let n = clean.len().min(noisy.len()).min(enhanced.len());
    let noise: Vec<f32> = (0..n).map(|i| noisy[i] - clean[i]).collect();
    let resid: Vec<f32> = (0..n).map(|i| enhanced[i] - clean[i]).collect();
    let frame = analysis_frame(rate);
    let pc = power_spectrogram(&clean[..n], frame);
    let pn = power_spectrogram(&noise, frame);
    let pr = power_spectrogram(&resid, frame);
    let sel: Vec<usize> = (0..pc.len())
        .filter(|&f| {
            let c: f64 = pc[f].iter().sum();
            let v: f64 = pn[f].iter().sum();
            v > 0.0 && c <= 1e-4 * v
        })
        .collect();
    if sel.len() < MIN_NOISE_FRAMES {
        return None;
    }
    let bins = pn[0].len();
    let bin_mean =
        |p: &[Vec<f64>], k: usize| sel.iter().map(|&f| p[f][k]).sum::<f64>() / sel.len() as f64;
    let mn: Vec<f64> = (0..bins).map(|k| bin_mean(&pn, k)).collect();
    let mr: Vec<f64> = (0..bins).map(|k| bin_mean(&pr, k)).collect();
    let top = mn.iter().cloned().fold(0.0, f64::max);
    let keep: Vec<usize> = (0..bins)
        .filter(|&k| mn[k] > 1e-6 * top && mr[k] > 0.0)
        .collect();
    if keep.is_empty() {
        return None;
    }
    let pooled = |p: &[Vec<f64>], m: &[f64]| {
        let mut vals = Vec::with_capacity(sel.len() * keep.len());
        for &f in &sel {
            let start = vals.len();
            vals.extend(keep.iter().map(|&k| p[f][k] / m[k]));
            let fm = vals[start..].iter().sum::<f64>() / keep.len() as f64;
            if fm > 0.0 {
                vals[start..].iter_mut().for_each(|v| *v /= fm);
            } else {
                vals.truncate(start); // an all-zero frame has no shape to score
            }
        }
        raw_kurtosis(vals)
    };
    let kin = pooled(&pn, &mn);
    let kout = pooled(&pr, &mr);
    if kin.is_finite() && kout.is_finite() && kin > 0.0 && kout > 0.0 {
        Some((kout / kin).ln())
    } else {
        None
    }
}

/// A residual cell counts as a fleck when its power is this far over the median of its 5×5
/// time-frequency neighbourhood (see [`musical_flecks`]).
pub const FLECK_DB: f64 = 12.0;
/// Half-size of the neighbourhood, in frames and in bins (5×5).
const FLECK_REACH: usize = 2;

/// Isolated time-frequency flecks in the noise, before and after processing, and the noise
/// reduction they were measured at (see [`musical_flecks`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Flecks {
    /// Flecks per thousand noise-only cells of the input noise (`noisy − clean`).
    pub input: f64,
    /// Flecks per thousand noise-only cells of the residual (`enhanced − clean`).
    pub output: f64,
    /// Input noise power over residual power in the same cells, dB (capped at 120).
    pub noise_reduction_db: f64,
}

/// Musical noise counted directly: the share of isolated time-frequency flecks in the residual.
///
/// Musical noise is small patches of the mask that open in noise — short tones that come and go
/// at random frequencies. On the metrics' STFT (32 ms Hann, 50 % hop), in the noise-only frames
/// of [`log_kurtosis_ratio`] (clean energy 40 dB under the noise's), a cell `(t, k)` is a fleck
/// when its power is more than [`FLECK_DB`] over the median of the 5×5 cells around it
/// (`t±2` frames, `k±2` bins: wide enough that a fleck spanning two or three cells does not raise
/// its own reference). Powers are first divided by their bin's mean over those frames, so a fixed
/// colouring (the noise's, or a passband) makes no flecks. Gaussian noise itself almost never
/// has one (an exponential variable 12 dB over the median of 25: about 0.1 per thousand); the
/// input's count is reported beside the output's. A smooth or uniform gain leaves the count
/// there, a mask that opens isolated cells in noise raises it. Flecks only mean something at a
/// given noise reduction (a gate that shuts everything has none), so that is returned too:
/// compare masks at equal `noise_reduction_db`.
///
/// `None` with fewer than [`MIN_NOISE_FRAMES`] noise-only frames (frames within two of either
/// end, which lack neighbours, are not used).
pub fn musical_flecks(clean: &[f32], noisy: &[f32], enhanced: &[f32], rate: u32) -> Option<Flecks> {
    const R: usize = FLECK_REACH;
    let n = clean.len().min(noisy.len()).min(enhanced.len());
    let noise: Vec<f32> = (0..n).map(|i| noisy[i] - clean[i]).collect();
    let resid: Vec<f32> = (0..n).map(|i| enhanced[i] - clean[i]).collect();
    let frame = analysis_frame(rate);
    let pc = power_spectrogram(&clean[..n], frame);
    let pn = power_spectrogram(&noise, frame);
    let pr = power_spectrogram(&resid, frame);
    let frames = pc.len();
    let sel: Vec<usize> = (R..frames.saturating_sub(R))
        .filter(|&f| {
            let c: f64 = pc[f].iter().sum();
            let v: f64 = pn[f].iter().sum();
            v > 0.0 && c <= 1e-4 * v
        })
        .collect();
    if sel.len() < MIN_NOISE_FRAMES {
        return None;
    }
    let bins = pn[0].len();
    let mean_of =
        |p: &[Vec<f64>], k: usize| sel.iter().map(|&f| p[f][k]).sum::<f64>() / sel.len() as f64;
    let mn: Vec<f64> = (0..bins).map(|k| mean_of(&pn, k)).collect();
    let mr: Vec<f64> = (0..bins).map(|k| mean_of(&pr, k)).collect();
    let top = mn.iter().cloned().fold(0.0, f64::max);
    // Bins with a full neighbourhood whose input noise is within 60 dB of the strongest.
    let keep: Vec<usize> = (R..bins.saturating_sub(R))
        .filter(|&k| mn[k] > 1e-6 * top)
        .collect();
    if keep.is_empty() {
        return None;
    }
    let thr = 10f64.powf(FLECK_DB / 10.0);
    let count = |p: &[Vec<f64>], m: &[f64]| {
        let norm = |f: usize, k: usize| if m[k] > 0.0 { p[f][k] / m[k] } else { 0.0 };
        let mut hits = 0usize;
        let mut nb = [0.0f64; (2 * R + 1) * (2 * R + 1)];
        for &f in &sel {
            for &k in &keep {
                let c = norm(f, k);
                if c <= 0.0 {
                    continue;
                }
                let mut j = 0;
                for df in f - R..=f + R {
                    for dk in k - R..=k + R {
                        nb[j] = norm(df, dk);
                        j += 1;
                    }
                }
                let mid = nb.len() / 2;
                let (_, med, _) = nb.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
                if c > thr * *med {
                    hits += 1;
                }
            }
        }
        1000.0 * hits as f64 / (sel.len() * keep.len()) as f64
    };
    let (mut en, mut er) = (0.0f64, 0.0f64);
    for &f in &sel {
        for &k in &keep {
            en += pn[f][k];
            er += pr[f][k];
        }
    }
    Some(Flecks {
        input: count(&pn, &mn),
        output: count(&pr, &mr),
        noise_reduction_db: ratio_db(en, er).min(120.0),
    })
}

/// Every metric of one (clean, noisy, enhanced) triple.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scores {
    pub si_sdr_in: f64,
    pub si_sdr_out: f64,
    pub si_sdr_imp: f64,
    pub seg_snr_in: f64,
    pub seg_snr_out: f64,
    pub seg_snr_imp: f64,
    pub lsd_in: f64,
    pub lsd_out: f64,
    /// Log kurtosis ratio of the residual noise; `None` without enough noise-only frames.
    pub musical_noise: Option<f64>,
    /// Isolated flecks in the noise before and after, and the noise reduction (see
    /// [`musical_flecks`]); `None` without enough noise-only frames.
    pub flecks: Option<Flecks>,
    /// STOI of the input and the output (see [`stoi`]); `None` if under ~0.5 s of active signal.
    pub stoi_in: Option<f64>,
    pub stoi_out: Option<f64>,
}

/// Scores an enhanced signal against the clean one, with the noisy input as the baseline.
pub fn score(clean: &[f32], noisy: &[f32], enhanced: &[f32], rate: u32) -> Scores {
    let si_sdr_in = si_sdr(clean, noisy);
    let si_sdr_out = si_sdr(clean, enhanced);
    let seg_snr_in = segmental_snr(clean, noisy, rate);
    let seg_snr_out = segmental_snr(clean, enhanced, rate);
    Scores {
        si_sdr_in,
        si_sdr_out,
        si_sdr_imp: si_sdr_out - si_sdr_in,
        seg_snr_in,
        seg_snr_out,
        seg_snr_imp: seg_snr_out - seg_snr_in,
        lsd_in: log_spectral_distance(clean, noisy, rate),
        lsd_out: log_spectral_distance(clean, enhanced, rate),
        musical_noise: log_kurtosis_ratio(clean, noisy, enhanced, rate),
        flecks: musical_flecks(clean, noisy, enhanced, rate),
        stoi_in: stoi(clean, noisy, rate),
        stoi_out: stoi(clean, enhanced, rate),
    }
}

/// EPS of numpy (`np.finfo(float).eps`), as pystoi uses it.
const NP_EPS: f64 = 2.220_446_049_250_313e-16;

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Modified Bessel function of the first kind, order 0 (power series), for the Kaiser window.
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0f64, 1.0f64, 1.0f64);
    while term > 1e-17 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

/// Resamples from `q` Hz to `p` Hz exactly as pystoi's `resample_oct` does (Octave's `resample`:
/// Kaiser-windowed sinc, 60 dB rejection, then scipy's `resample_poly` polyphase alignment).
pub fn resample_oct(x: &[f64], p: usize, q: usize) -> Vec<f64> {
    let g = gcd(p, q);
    let (up, down) = (p / g, q / g);
    if up == down {
        return x.to_vec();
    }
    let stop = 1.0 / (2.0 * up.max(down) as f64);
    let roll = stop / 10.0;
    let rej_db = 60.0;
    let l = ((rej_db - 8.0) / (28.714 * roll)).ceil() as usize;
    let beta = 0.1102 * (rej_db - 8.7);
    let m = 2 * l + 1;
    let i0b = bessel_i0(beta);
    let mut h: Vec<f64> = (0..m)
        .map(|k| {
            let t = k as f64 - l as f64;
            let a = 2.0 * stop * t;
            let sinc = if a == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * a).sin() / (std::f64::consts::PI * a)
            };
            let r = 2.0 * k as f64 / (m - 1) as f64 - 1.0;
            let kaiser = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0b;
            kaiser * 2.0 * up as f64 * stop * sinc
        })
        .collect();
    let s: f64 = h.iter().sum();
    h.iter_mut().for_each(|v| *v = *v / s * up as f64);
    // scipy.signal.resample_poly: pre-pad the filter so outputs sit at its centre.
    let half_len = l;
    let n_pre_pad = down - half_len % down;
    let n_pre_remove = (half_len + n_pre_pad) / down;
    let mut hp = vec![0.0; n_pre_pad];
    hp.extend_from_slice(&h);
    let n_in = x.len();
    let n_out = (n_in * up).div_ceil(down);
    (n_pre_remove..n_pre_remove + n_out)
        .map(|mo| {
            // upfirdn: y[mo] = Σ_j hp[j]·xu[mo·down − j], xu = x upsampled by zero insertion.
            let i0 = mo * down;
            let mut acc = 0.0;
            let mut j = i0 % up;
            while j < hp.len() && j <= i0 {
                let xi = (i0 - j) / up;
                if xi < n_in {
                    acc += hp[j] * x[xi];
                }
                j += up;
            }
            acc
        })
        .collect()
}

/// Short-time objective intelligibility (Taal et al. 2011), the classic (non-extended) measure,
/// following pystoi 0.4 step by step: resample to 10 kHz, drop frames more than 40 dB under the
/// loudest clean frame, 256-sample frames / 512 FFT, 15 third-octave bands from 150 Hz,
/// 30-frame (384 ms) segments, clipping at −15 dB SDR. In [−1, 1], higher is more intelligible.
/// `None` when fewer than 30 frames remain (pystoi returns 1e-5 there).
pub fn stoi(clean: &[f32], processed: &[f32], rate: u32) -> Option<f64> {
    const FS: usize = 10_000;
    const FRAME: usize = 256;
    const NFFT: usize = 512;
    const BANDS: usize = 15;
    const NSEG: usize = 30;
    let n = clean.len().min(processed.len());
    let x: Vec<f64> = clean[..n].iter().map(|&v| v as f64).collect();
    let y: Vec<f64> = processed[..n].iter().map(|&v| v as f64).collect();
    let (x, y) = if rate as usize != FS {
        (
            resample_oct(&x, FS, rate as usize),
            resample_oct(&y, FS, rate as usize),
        )
    } else {
        (x, y)
    };
    // MATLAB hanning(256) = numpy hanning(258)[1:-1].
    let w: Vec<f64> = (0..FRAME)
        .map(|i| {
            0.5 - 0.5 * (2.0 * std::f64::consts::PI * (i + 1) as f64 / (FRAME + 1) as f64).cos()
        })
        .collect();
    let hop = FRAME / 2;
    let starts = |len: usize| (0..len.saturating_sub(FRAME)).step_by(hop);
    // Silent-frame removal, then overlap-add of the kept windowed frames.
    let energy = |s: &[f64]| {
        20.0 * (s
            .iter()
            .zip(&w)
            .map(|(a, b)| (a * b).powi(2))
            .sum::<f64>()
            .sqrt()
            + NP_EPS)
            .log10()
    };
    let frames: Vec<usize> = starts(x.len()).collect();
    let e: Vec<f64> = frames.iter().map(|&i| energy(&x[i..i + FRAME])).collect();
    let top = e.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let kept: Vec<usize> = frames
        .iter()
        .zip(&e)
        .filter(|(_, &v)| top - 40.0 - v < 0.0)
        .map(|(&i, _)| i)
        .collect();
    if kept.is_empty() {
        return None;
    }
    let ola = |s: &[f64]| {
        let mut out = vec![0.0; (kept.len() - 1) * hop + FRAME];
        for (k, &i) in kept.iter().enumerate() {
            for j in 0..FRAME {
                out[k * hop + j] += s[i + j] * w[j];
            }
        }
        out
    };
    let (xs, ys) = (ola(&x), ola(&y));
    // Third-octave band matrix on the 257 bins of a 512 FFT at 10 kHz.
    let bin_hz = FS as f64 / NFFT as f64;
    let nearest = |f: f64| {
        (0..=NFFT / 2)
            .min_by(|&a, &b| {
                ((a as f64 * bin_hz - f).powi(2))
                    .partial_cmp(&(b as f64 * bin_hz - f).powi(2))
                    .unwrap()
            })
            .unwrap()
    };
    let bands: Vec<(usize, usize)> = (0..BANDS)
        .map(|k| {
            let k = k as f64;
            (
                nearest(150.0 * 2f64.powf((2.0 * k - 1.0) / 6.0)),
                nearest(150.0 * 2f64.powf((2.0 * k + 1.0) / 6.0)),
            )
        })
        .collect();
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(NFFT);
    let tob = |s: &[f64]| -> Vec<Vec<f64>> {
        let mut buf = fft.make_input_vec();
        let mut spec = fft.make_output_vec();
        starts(s.len())
            .map(|i| {
                buf.iter_mut().for_each(|v| *v = 0.0);
                for j in 0..FRAME {
                    buf[j] = s[i + j] * w[j];
                }
                fft.process(&mut buf, &mut spec)
                    .expect("fft sizes are fixed");
                bands
                    .iter()
                    .map(|&(lo, hi)| {
                        spec[lo..hi]
                            .iter()
                            .map(|c| c.norm_sqr())
                            .sum::<f64>()
                            .sqrt()
                    })
                    .collect()
            })
            .collect()
    };
    let (tx, ty) = (tob(&xs), tob(&ys));
    if tx.len() < NSEG {
        return None;
    }
    let clip = 1.0 + 10f64.powf(15.0 / 20.0);
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let mut acc = 0.0;
    let segments = tx.len() - NSEG + 1;
    for m in NSEG..=tx.len() {
        for b in 0..BANDS {
            let xseg: Vec<f64> = (m - NSEG..m).map(|f| tx[f][b]).collect();
            let yseg: Vec<f64> = (m - NSEG..m).map(|f| ty[f][b]).collect();
            let c = norm(&xseg) / (norm(&yseg) + NP_EPS);
            let mut yp: Vec<f64> = yseg
                .iter()
                .zip(&xseg)
                .map(|(yv, xv)| (yv * c).min(xv * clip))
                .collect();
            let mut xc = xseg.clone();
            let (my, mx) = (
                yp.iter().sum::<f64>() / NSEG as f64,
                xc.iter().sum::<f64>() / NSEG as f64,
            );
            yp.iter_mut().for_each(|v| *v -= my);
            xc.iter_mut().for_each(|v| *v -= mx);
            let (ny, nx) = (norm(&yp) + NP_EPS, norm(&xc) + NP_EPS);
            acc += yp
                .iter()
                .zip(&xc)
                .map(|(a, b)| a / ny * b / nx)
                .sum::<f64>();
        }
    }
    Some(acc / (segments * BANDS) as f64)
}

/// Half-width of the band around the tone that [`key_edges`] calls the tone, Hz (a 3 ms raised
/// cosine edge spreads ±330 Hz to its first null; the band is tapered, Hann-shaped, so it does not
/// ring).
pub const KEY_BAND_HZ: f64 = 400.0;
/// Clicks are reported down to this level under the tone (a residual-noise-free edge reads
/// this).
pub const KEY_CLICK_FLOOR_DB: f64 = -60.0;
/// Half-width of the window around each key edge that [`key_edges`] scores, s.
pub const KEY_EDGE_WIN_S: f64 = 0.025;

/// Half-width of the mean edge profiles that rise and fall times are read from, s: wide enough
/// for a gate that opens or closes over 40 ms (the cw preset at −10 dB); an edge enters the
/// profile when the key-down and the gap on its two sides are at least this long.
pub const KEY_PROFILE_WIN_S: f64 = 0.05;

/// Keying edges of a Morse signal, clean and filtered, as a CW operator hears them (see
/// [`key_edges`]). Times in ms, frequencies in Hz, levels in dB; times of the mean edge, the rest
/// medians over the edges.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct KeyEdges {
    /// Number of rising and falling edges scored.
    pub edges: usize,
    /// 10–90 % rise time of the mean rising edge, clean and estimate: each edge's envelope over
    /// its key-down level, averaged aligned on the clean edge (a single edge's 90 % crossing at
    /// −10 dB is set by the noise riding on the key-down, not by the edge). NaN if not measurable.
    pub rise_clean_ms: f64,
    pub rise_out_ms: f64,
    /// 90–10 % fall time of the mean falling edge.
    pub fall_clean_ms: f64,
    pub fall_out_ms: f64,
    /// Clicks: energy outside the tone's band within ±25 ms of an edge over the tone's energy
    /// there, dB; the same-length energy out of band in the key-up gaps (the residual noise) is
    /// subtracted first, so only what the edge adds counts. Floored at
    /// [`KEY_CLICK_FLOOR_DB`].
    pub click_clean_db: f64,
    pub click_out_db: f64,
    /// Chirp: largest deviation of the instantaneous frequency from the tone's (its median over
    /// the element's key-down) while the envelope is above 30 % of key-down within 25 ms of the
    /// edge.
    pub chirp_clean_hz: f64,
    pub chirp_out_hz: f64,
}

/// Analytic signal of `x` limited to a Hann-tapered band `f0 ± half` (`inband`) and everything
/// else on the positive frequencies (`outband`).
fn analytic_split(
    x: &[f32],
    rate: u32,
    f0: f64,
    half: f64,
) -> (Vec<num_complex::Complex64>, Vec<num_complex::Complex64>) {
    use num_complex::Complex64;
    let n = x.len();
    let mut planner = rustfft::FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut spec: Vec<Complex64> = x.iter().map(|&v| Complex64::new(v as f64, 0.0)).collect();
    fwd.process(&mut spec);
    let mut ib = vec![Complex64::new(0.0, 0.0); n];
    let mut ob = vec![Complex64::new(0.0, 0.0); n];
    let scale = 2.0 / n as f64;
    for k in 1..n.div_ceil(2) {
        let f = k as f64 * rate as f64 / n as f64;
        let d = (f - f0).abs() / half;
        let w = if d < 1.0 {
            0.5 + 0.5 * (std::f64::consts::PI * d).cos()
        } else {
            0.0
        };
        ib[k] = spec[k] * (w * scale);
        ob[k] = spec[k] * ((1.0 - w) * scale);
    }
    inv.process(&mut ib);
    inv.process(&mut ob);
    (ib, ob)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// Keying edges kept? Compares every key edge of a Morse signal in `clean` with the same edge in
/// `estimate` (time-aligned, equal length): rise and fall time, clicks (energy splattered out of
/// the tone's band around the edge) and chirp (frequency excursion during the edge).
///
/// The tone is the clean signal's spectral peak; both signals are split into the analytic signal
/// within [`KEY_BAND_HZ`] of it (envelope, instantaneous frequency) and the rest (clicks). Edges
/// are where the clean envelope crosses half its key-down level; only elements and gaps of at
/// least 2·[`KEY_EDGE_WIN_S`] are scored, so each edge's window holds one edge. `None` when the
/// clean signal has no such edge.
pub fn key_edges(clean: &[f32], estimate: &[f32], rate: u32) -> Option<KeyEdges> {
    let n = clean.len().min(estimate.len());
    if n < 16 {
        return None;
    }
    let fs = rate as f64;
    // Tone: the clean signal's strongest bin (the key-down carrier).
    let f0 = {
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(n);
        let mut buf: Vec<f64> = clean[..n].iter().map(|&v| v as f64).collect();
        let mut spec = fft.make_output_vec();
        fft.process(&mut buf, &mut spec).ok()?;
        let k =
            (1..spec.len()).max_by(|&a, &b| spec[a].norm_sqr().total_cmp(&spec[b].norm_sqr()))?;
        k as f64 * fs / n as f64
    };
    let (ci, co) = analytic_split(&clean[..n], rate, f0, KEY_BAND_HZ);
    let (ei, eo) = analytic_split(&estimate[..n], rate, f0, KEY_BAND_HZ);
    let env = |z: &[num_complex::Complex64]| z.iter().map(|c| c.norm()).collect::<Vec<f64>>();
    let (cenv, eenv) = (env(&ci), env(&ei));
    let ifreq = |z: &[num_complex::Complex64], i: usize| {
        (z[i + 1] * z[i].conj()).arg() * fs / (2.0 * std::f64::consts::PI)
    };
    let top = cenv.iter().cloned().fold(0.0, f64::max);
    if top <= 0.0 {
        return None;
    }
    // Key-down intervals of the clean signal (half-level crossings).
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &e) in cenv.iter().enumerate() {
        match (start, e > 0.5 * top) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    let w = (KEY_EDGE_WIN_S * fs).round() as usize;
    let long = 2 * w;
    // Out-of-band power density in the key-up gaps (away from the edges): the residual noise.
    let gap_density = |o: &[num_complex::Complex64]| {
        let (mut p, mut c) = (0.0f64, 0usize);
        for pair in runs.windows(2) {
            let (a, b) = (pair[0].1 + w, pair[1].0.saturating_sub(w));
            for z in o.iter().take(b).skip(a) {
                p += z.norm_sqr();
                c += 1;
            }
        }
        if c > 0 {
            p / c as f64
        } else {
            0.0
        }
    };
    let (gap_c, gap_e) = (gap_density(&co), gap_density(&eo));
    // Edge profiles: each edge's envelope over its key-down level, summed aligned on the clean
    // edge (rising clean, rising out, falling clean, falling out), with the number summed.
    let pw = (KEY_PROFILE_WIN_S * fs).round() as usize;
    let mut prof = [
        vec![0.0f64; 2 * pw],
        vec![0.0; 2 * pw],
        vec![0.0; 2 * pw],
        vec![0.0; 2 * pw],
    ];
    let mut prof_n = [0usize; 4];
    let (mut kc, mut ko, mut hc, mut ho) = (vec![], vec![], vec![], vec![]);
    for (j, &(on, off)) in runs.iter().enumerate() {
        let gap_before = if j == 0 { on } else { on - runs[j - 1].1 };
        let gap_after = runs.get(j + 1).map_or(n - off, |r| r.0 - off);
        if off - on < long || on < w || off + w + 1 >= n {
            continue;
        }
        // Key-down level and tone of this element, each signal's own.
        let level = |e: &[f64]| {
            let mut v = e[on + w..off - w].to_vec();
            median(&mut v)
        };
        let tone = |z: &[num_complex::Complex64]| {
            let mut v: Vec<f64> = (on + w..off - w).map(|i| ifreq(z, i)).collect();
            median(&mut v)
        };
        for (edge, rising, gap) in [(on, true, gap_before), (off, false, gap_after)] {
            if gap < long {
                continue;
            }
            let win = edge - w..edge + w;
            let quiet = gap;
            for (z, o, e, gap, out) in [
                (&ci, &co, &cenv, gap_c, false),
                (&ei, &eo, &eenv, gap_e, true),
            ] {
                let l = level(e);
                if l <= 0.0 {
                    continue;
                }
                if off - on >= pw && quiet >= pw && edge >= pw && edge + pw <= n {
                    let slot = 2 * usize::from(!rising) + usize::from(out);
                    for (acc, i) in prof[slot].iter_mut().zip(edge - pw..edge + pw) {
                        *acc += e[i] / l;
                    }
                    prof_n[slot] += 1;
                }
                let p_in: f64 = z[win.clone()].iter().map(|c| c.norm_sqr()).sum();
                let p_out: f64 = o[win.clone()].iter().map(|c| c.norm_sqr()).sum();
                let p_out = (p_out - gap * (2 * w) as f64).max(0.0);
                let click = ratio_db(p_out, p_in).max(KEY_CLICK_FLOOR_DB);
                let f_tone = tone(z);
                let chirp = win
                    .clone()
                    .filter(|&i| e[i] > 0.3 * l && e[i + 1] > 0.3 * l)
                    .map(|i| (ifreq(z, i) - f_tone).abs())
                    .fold(0.0, f64::max);
                let (kv, hv) = if out {
                    (&mut ko, &mut ho)
                } else {
                    (&mut kc, &mut hc)
                };
                kv.push(click);
                hv.push(chirp);
            }
        }
    }
    if kc.is_empty() {
        return None;
    }
    // 10–90 % time of a mean profile: from the last sample under 10 % before the first over
    // 90 % (rising), mirrored for falling edges; NaN when no edge of that kind was scored or the
    // profile never crosses both levels in the window.
    let time_ms = |slot: usize, rising: bool| {
        let n = prof_n[slot];
        if n == 0 {
            return f64::NAN;
        }
        let e: Vec<f64> = prof[slot].iter().map(|v| v / n as f64).collect();
        let t = if rising {
            e.iter()
                .position(|&v| v >= 0.9)
                .and_then(|h| e[..h].iter().rposition(|&v| v < 0.1).map(|lo| h - lo))
        } else {
            e.iter()
                .position(|&v| v < 0.1)
                .and_then(|lo| e[..lo].iter().rposition(|&v| v >= 0.9).map(|h| lo - h))
        };
        t.map_or(f64::NAN, |t| 1e3 * t as f64 / fs)
    };
    Some(KeyEdges {
        edges: kc.len(),
        rise_clean_ms: time_ms(0, true),
        rise_out_ms: time_ms(1, true),
        fall_clean_ms: time_ms(2, false),
        fall_out_ms: time_ms(3, false),
        click_clean_db: median(&mut kc),
        click_out_db: median(&mut ko),
        chirp_clean_hz: median(&mut hc),
        chirp_out_hz: median(&mut ho),
    })
}
