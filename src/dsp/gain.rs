//! Per-bin gain (the mask) from a frame's power and its noise floor.
//!
//! Pipeline per frame, per bin `k` (all in the power domain):
//! 1. a-posteriori SNR `γ = P/λ` and decision-directed a-priori SNR
//!    `ξ = α·Â²_prev/λ + (1−α)·max(γ−1, 0)` (Ephraim & Malah 1984). The recursion on the previous
//!    frame's clean estimate is what keeps musical noise down: isolated noise peaks barely move ξ.
//! 2. the rule: `gate` (threshold on `10·log10(1+ξ)` with a soft knee), `wiener` (`ξ/(1+ξ)`) or
//!    `mmse-lsa` (Ephraim & Malah 1985: `ξ/(1+ξ)·exp(½·E1(v))`, `v = ξγ/(1+ξ)`), applied in two
//!    steps (TSNR: ξ is re-estimated from the first step's output, removing DD's onset lag).
//! 3. the reduction limit: gain ≥ `10^(−reduction_db/20)`.
//! 4. smoothing across frequency (a box of ± `freq_smooth_bins`) and over time (one-pole with a
//!    fast attack for rising gain and a slower release for falling gain: word and dit tails stay).
//! 5. the passband: bins outside `[low_bin, high_bin]` get the floor gain.
//!
//! Gains are amplitude factors in `[floor, 1]`. With `reduction_db == 0` every gain is exactly 1.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which suppression rule maps SNR to gain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GainRule {
    /// Binary-ish gate: open above the threshold, floor below, with a soft knee.
    Gate,
    /// Wiener filter on the decision-directed a-priori SNR.
    Wiener,
    /// MMSE log-spectral amplitude estimator (Ephraim-Malah 1985).
    #[default]
    MmseLsa,
}

impl GainRule {
    pub const ALL: [GainRule; 3] = [GainRule::Gate, GainRule::Wiener, GainRule::MmseLsa];
    pub fn name(self) -> &'static str {
        match self {
            GainRule::Gate => "gate",
            GainRule::Wiener => "wiener",
            GainRule::MmseLsa => "mmse-lsa",
        }
    }
}
impl fmt::Display for GainRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
impl FromStr for GainRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        GainRule::ALL
            .into_iter()
            .find(|r| r.name() == t || (t == "lsa" && *r == GainRule::MmseLsa))
            .ok_or_else(|| format!("unknown gain rule '{s}' (expected gate, wiener or mmse-lsa)"))
    }
}

/// Gain parameters in frame units (the engine converts from seconds and Hz).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GainParams {
    pub rule: GainRule,
    /// Gate threshold over the floor, dB.
    pub threshold_db: f32,
    /// Gate knee width, dB (0 = hard).
    pub knee_db: f32,
    /// Maximum attenuation, dB (0 = gate fully open).
    pub reduction_db: f32,
    /// Decision-directed smoothing α (0.9–0.99).
    pub dd_alpha: f32,
    /// One-pole coefficient for rising gains (0 = instant).
    pub attack_coef: f32,
    /// One-pole coefficient for falling gains.
    pub release_coef: f32,
    /// Half-width of the frequency smoothing box, in bins (0 = none).
    pub freq_smooth_bins: usize,
    /// Passband, inclusive bin range; bins outside get the floor gain.
    pub low_bin: usize,
    pub high_bin: usize,
    /// Bins are a two-sided complex spectrum: band and smoothing wrap accordingly.
    pub two_sided: bool,
    /// Burst guard: a frame's quartile of power over floor above this ratio times the quartile of
    /// noise alone raises its floor by that excess (linear power ratio; 0 = off). Applied by the
    /// engine before [`GainState::compute`].
    pub burst_ratio: f32,
    /// Bands the burst guard judges apart (1: the whole spectrum).
    pub burst_bands: usize,
    /// Weak-signal keep: the highest floor (amplitude gain) a bin's long-term evidence can lift
    /// it to (0 = off; see [`GainState::keep_weak`]).
    pub keep_floor: f32,
    /// Weak-signal keep: the long-term average's one-pole coefficient per frame (`1 − e^{−hop/τ}`).
    pub keep_coef: f32,
    /// Weak-signal keep: how far the long-term average of power over floor must stand above 1
    /// before it counts (a multiple of its standard deviation under noise alone).
    pub keep_margin: f32,
}

impl GainParams {
    pub fn floor(&self) -> f32 {
        db_to_amp(-self.reduction_db.max(0.0))
    }
    /// True when every gain is 1 (the mask is the identity).
    pub fn is_open(&self) -> bool {
        self.reduction_db <= 0.0
    }
}

pub fn db_to_amp(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}
pub fn db_to_pow(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// Per-channel gain state (previous clean-power estimate and smoothed gain).
#[derive(Clone)]
pub struct GainState {
    lsa: LsaTable,
    /// `1/max(λ, 1e-30)` per bin, and the floor generation it was computed for (see
    /// [`GainState::compute_for_floor`]).
    inv: Vec<f32>,
    inv_gen: Option<u64>,
    gam: Vec<f32>,
    v: Vec<f32>,
    /// Table values h(v) of the current pass (scratch).
    h: Vec<f32>,
    prev_clean: Vec<f32>,
    smoothed: Vec<f32>,
    raw: Vec<f32>,
    /// Long-term average of power over floor per bin (weak-signal keep; 1 = noise alone).
    long: Vec<f32>,
    started: bool,
}

impl GainState {
    pub fn new(bins: usize) -> Self {
        GainState {
            lsa: LsaTable::new(),
            inv: vec![0.0; bins],
            inv_gen: None,
            gam: vec![0.0; bins],
            v: vec![0.0; bins],
            h: vec![0.0; bins],
            prev_clean: vec![0.0; bins],
            smoothed: vec![1.0; bins],
            raw: vec![1.0; bins],
            long: vec![1.0; bins],
            started: false,
        }
    }

    pub fn reset(&mut self) {
        self.prev_clean.fill(0.0);
        self.smoothed.fill(1.0);
        self.long.fill(1.0);
        self.started = false;
        self.inv_gen = None;
    }

    /// Computes the gain of every bin into `gain`. `presence` (optional) is a per-bin signal
    /// presence in [0, 1] from the noise tracker; it nudges the floor where signal is likely.
    pub fn compute(&mut self, p: &GainParams, power: &[f32], noise: &[f32], gain: &mut [f32]) {
        self.compute_for_floor(p, power, noise, None, gain)
    }

    /// [`GainState::compute`] with the floor's generation: a number that changes whenever the
    /// floor's values may have changed (`None`: unknown, always). While it stays the same — a
    /// fixed profile, learned or given — the per-bin reciprocals `1/λ` are reused instead of
    /// divided again (the same values: they are computed the same way).
    pub fn compute_for_floor(
        &mut self,
        p: &GainParams,
        power: &[f32],
        noise: &[f32],
        floor_gen: Option<u64>,
        gain: &mut [f32],
    ) {
        #[cfg(all(target_arch = "x86_64", specgate_avx512))]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above; the check is a cached load).
            return unsafe { self.compute_avx512(p, power, noise, floor_gen, gain) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above; the check is a cached load).
            return unsafe { self.compute_avx2(p, power, noise, floor_gen, gain) };
        }
        self.compute_body(p, power, noise, floor_gen, gain)
    }

    /// [`GainState::compute`] compiled for AVX-512 (16 lanes; the table lookups still use the
    /// AVX2 gathers): the same operations, so the same values. Divisions cost the same per
    /// value at either width; the compares, selects and products around them do not.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(all(target_arch = "x86_64", specgate_avx512))]
    #[target_feature(enable = "avx512f")]
    unsafe fn compute_avx512(
        &mut self,
        p: &GainParams,
        power: &[f32],
        noise: &[f32],
        floor_gen: Option<u64>,
        gain: &mut [f32],
    ) {
        self.compute_body(p, power, noise, floor_gen, gain)
    }

    /// [`GainState::compute`] compiled for AVX2: the same operations on 8 lanes instead of 4
    /// (no FMA contraction, so the same values), and gathers for the table lookups.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn compute_avx2(
        &mut self,
        p: &GainParams,
        power: &[f32],
        noise: &[f32],
        floor_gen: Option<u64>,
        gain: &mut [f32],
    ) {
        self.compute_body(p, power, noise, floor_gen, gain)
    }

    #[inline(always)]
    fn compute_body(
        &mut self,
        p: &GainParams,
        power: &[f32],
        noise: &[f32],
        floor_gen: Option<u64>,
        gain: &mut [f32],
    ) {
        let k = power.len();
        let floor = p.floor();
        if p.is_open() {
            gain.fill(1.0);
            self.smoothed.fill(1.0);
            return;
        }
        if floor_gen.is_none() || floor_gen != self.inv_gen {
            for (i, n) in self.inv.iter_mut().zip(noise) {
                *i = 1.0 / fmax(*n, 1e-30);
            }
            self.inv_gen = floor_gen;
        }
        let first = !self.started;
        let alpha = if first { 0.0 } else { p.dd_alpha };
        self.started = true;
        let thr = p.threshold_db;
        let knee = p.knee_db.max(0.0);
        // The rule's gains go straight into `gain` unless the frequency smoothing needs them
        // apart (in `raw`, a scratch vector: moved out and back, which allocates nothing).
        let b = p.freq_smooth_bins;
        let smooth_freq = b > 0 && k > 2 * b;
        let mut raw = std::mem::take(&mut self.raw);
        let out: &mut [f32] = if smooth_freq { &mut raw } else { &mut *gain };
        // One specialised loop per rule (the rule is loop-invariant).
        match p.rule {
            GainRule::MmseLsa => self.lsa_loop(out, power, alpha, floor),
            GainRule::Wiener => Self::rule_loop(
                &mut self.prev_clean,
                out,
                power,
                &self.inv,
                alpha,
                |w, _| w,
                |_, g| fmax(g, floor),
            ),
            // The knee is loop-invariant: one loop each, so neither carries a branch per bin.
            GainRule::Gate if knee <= 0.0 => Self::rule_loop(
                &mut self.prev_clean,
                out,
                power,
                &self.inv,
                alpha,
                |w, _| w,
                |xi2, _| {
                    let snr_db = 10.0 * LOG10_2 * fast_log2(1.0 + xi2);
                    let open = if snr_db >= thr { 1.0 } else { 0.0 };
                    floor + (1.0 - floor) * open
                },
            ),
            GainRule::Gate => {
                let lo = thr - 0.5 * knee;
                Self::rule_loop(
                    &mut self.prev_clean,
                    out,
                    power,
                    &self.inv,
                    alpha,
                    |w, _| w,
                    |xi2, _| {
                        let snr_db = 10.0 * LOG10_2 * fast_log2(1.0 + xi2);
                        // clamp(0, 1) without its NaN ordering (snr_db is finite).
                        let open = fmin(fmax((snr_db - lo) / knee, 0.0), 1.0);
                        floor + (1.0 - floor) * open
                    },
                )
            }
        }
        // Isolated openings in noise-only frames: a bin open while both neighbours are shut is a
        // noise fleck (musical noise), not a signal — a real tone spreads over the window's main
        // lobe. Measured on speech (`specgate eval`, white+pink, 0/5/10 dB): the musical-noise
        // indicator drops 4–13 % at 8/16/48 kHz for ≤ 0.1 dB SI-SDR. Not for the gate rule:
        // on keyed CW the indicator rose.
        if p.rule != GainRule::Gate {
            remove_isolated(out, &mut self.h, floor);
        }
        // Frequency smoothing (box, edges clamped).
        if smooth_freq {
            box_smooth(&raw, gain, b);
        }
        self.raw = raw;
        if p.keep_floor > floor {
            self.keep_weak(p, power, gain);
        }
        // Attack/release (skipped when both are instant, as in the speech presets).
        // The smoother starts from the first frame's own gain: starting from 1 would pass the
        // first release time of noise unfiltered.
        if first || (p.attack_coef == 0.0 && p.release_coef == 0.0) {
            self.smoothed.copy_from_slice(gain);
        } else {
            for (g, s) in gain.iter_mut().zip(self.smoothed.iter_mut()) {
                let c = if *g > *s {
                    p.attack_coef
                } else {
                    p.release_coef
                };
                let v = c * *s + (1.0 - c) * *g;
                *s = v;
                *g = v.clamp(floor, 1.0);
            }
        }
        // Passband.
        apply_band(gain, p, floor);
    }
}

/// Weak-signal keep: long-term SNRs (over the median bin, less the margin) up to which the lift
/// applies in full, and from which it is gone.
const KEEP_FULL: f32 = 1.0;
const KEEP_NONE: f32 = 3.0;

impl GainState {
    /// Weak-signal keep: a per-bin floor from long-term evidence. Each bin's power over the noise
    /// floor is averaged over seconds; where that average stands significantly above 1 (more than
    /// `keep_margin`), something persistent lives in the bin even though most single frames do
    /// not show it — a weak carrier, CW at the noise floor, a digital-mode signal a decoder can
    /// still find. There the gain never falls below the Wiener gain of the long-term SNR,
    /// `ξ/(1+ξ)` with `ξ = average − 1 − margin`, capped at `keep_floor`: a gain that changes over
    /// seconds, not frames, so the weak signal passes as through a filter instead of being chopped
    /// by frame decisions that noise drives. Bins of noise alone keep the deep floor.
    #[inline(always)]
    fn keep_weak(&mut self, p: &GainParams, power: &[f32], gain: &mut [f32]) {
        let a = p.keep_coef;
        let cap = p.keep_floor;
        for ((l, pw), inv) in self.long.iter_mut().zip(power).zip(&self.inv) {
            // One loud frame moves the average by at most 100·a: transients are not persistence.
            let gamma = fmin(*pw * *inv, 100.0);
            *l += a * (gamma - *l);
        }
        // The reference is the median bin's average, not 1: the floor estimate is biased (the
        // minimum search, tone protection), and only a bin standing out from the others is news.
        let k = self.long.len();
        let scratch = &mut self.h[..k];
        scratch.copy_from_slice(&self.long);
        let (_, median, _) = scratch.select_nth_unstable_by(k / 2, |x, y| x.total_cmp(y));
        let reference = fmax(*median, 1e-6);
        let scale = 1.0 / reference;
        let base = 1.0 + p.keep_margin;
        for (l, g) in self.long.iter().zip(gain.iter_mut()) {
            let xi = fmax(*l * scale - base, 0.0);
            // Only weak lines: from a long-term SNR of KEEP_FULL on the frames themselves show
            // the signal, and the gate's own decisions keep its edges (a keyed carrier's key-up
            // must fall to the full reduction); the lift fades out by KEEP_NONE.
            let fade = fmin(
                fmax((KEEP_NONE - xi) * (1.0 / (KEEP_NONE - KEEP_FULL)), 0.0),
                1.0,
            );
            let lift = fmin(xi / (1.0 + xi), cap) * fade;
            *g = fmax(*g, lift);
        }
    }

    /// The MMSE-LSA rule in passes: the arithmetic (three divisions per bin) runs in loops the
    /// compiler vectorises, and the table lookups run alone in branch-free loops of their own
    /// (index arithmetic and one load pair per bin). Same result as `rule_loop`, bit for bit.
    #[inline(always)]
    fn lsa_loop(&mut self, raw: &mut [f32], power: &[f32], alpha: f32, floor: f32) {
        let xi_min = 1e-3f32;
        let (gam, v, h) = (&mut self.gam, &mut self.v, &mut self.h);
        // Pass 1: γ and the first-step LSA argument v = w·γ, w = ξ/(1+ξ).
        for ((((g, vv), pc), p), n) in gam
            .iter_mut()
            .zip(v.iter_mut())
            .zip(&self.prev_clean)
            .zip(power)
            .zip(&self.inv)
        {
            let inv = *n;
            // γ > 0 keeps the v/γ below finite where a bin is exactly zero.
            let gamma = fmax(fmin(p * inv, 1e6), 1e-20);
            let xi = fmax(
                alpha * *pc * inv + (1.0 - alpha) * fmax(gamma - 1.0, 0.0),
                xi_min,
            );
            *g = gamma;
            *vv = xi / (1.0 + xi) * gamma;
        }
        // Pass 2: first-step gain g1 = w·h(v) = v/γ·h(v), then the second-step argument.
        self.lsa.eval_into(v, h);
        for ((vv, g), hv) in v.iter_mut().zip(gam.iter()).zip(h.iter()) {
            let g1 = fmin(*vv / *g * *hv, 1.0);
            let xi2 = fmax(g1 * g1 * *g, xi_min);
            *vv = xi2 / (1.0 + xi2) * *g;
        }
        // Pass 3: the estimate, the DD memory and the floored gain.
        self.lsa.eval_into(v, h);
        for (((((vv, g), hv), pc), r), p) in v
            .iter()
            .zip(gam.iter())
            .zip(h.iter())
            .zip(self.prev_clean.iter_mut())
            .zip(raw.iter_mut())
            .zip(power)
        {
            let est = fmin(*vv / *g * *hv, 1.0);
            *pc = est * est * p;
            *r = fmax(est, floor);
        }
    }

    /// Decision-directed a-priori SNR, two-step (TSNR) estimate, and the rule's gain per bin
    /// (`inv`: the floor's reciprocals).
    /// `est(w, γ)` maps the Wiener gain `w = ξ/(1+ξ)` to the estimator's gain; `out(ξ₂, g)`
    /// maps the second-step SNR and estimate to the applied gain.
    #[inline(always)]
    fn rule_loop(
        prev_clean: &mut [f32],
        raw: &mut [f32],
        power: &[f32],
        inv: &[f32],
        alpha: f32,
        est: impl Fn(f32, f32) -> f32,
        out: impl Fn(f32, f32) -> f32,
    ) {
        let xi_min = 1e-3f32; // −30 dB: keeps the LSA gain from collapsing (Cappé 1994)
        for (((pc, r), p), n) in prev_clean
            .iter_mut()
            .zip(raw.iter_mut())
            .zip(power)
            .zip(inv)
        {
            // fmax/fmin: the same values as f32::max/min on these finite inputs, without the
            // NaN ordering that costs the vector loop extra instructions.
            let inv = *n;
            let gamma = fmin(p * inv, 1e6);
            let xi = fmax(
                alpha * *pc * inv + (1.0 - alpha) * fmax(gamma - 1.0, 0.0),
                xi_min,
            );
            // Two-step noise reduction (Plapous, Marro & Scalart 2006): the decision-directed ξ
            // lags one frame behind onsets; re-estimating it from this frame's first-step
            // estimate removes that bias while keeping DD's smoothing of isolated noise peaks.
            let g1 = est(xi / (1.0 + xi), gamma);
            let xi2 = fmax(g1 * g1 * gamma, xi_min);
            let g = est(xi2 / (1.0 + xi2), gamma);
            *pc = g * g * p;
            *r = out(xi2, g);
        }
    }
}

/// Closes bins that are open (gain above the geometric midpoint between floor and 1) while both
/// neighbours are near the floor (below twice the floor gain). `scratch` (as long as `g`) is
/// overwritten: each bin's test reads only the unmodified neighbours, so the loop runs from a
/// copy and vectorises.
#[inline(always)]
fn remove_isolated(g: &mut [f32], scratch: &mut [f32], floor: f32) {
    let k = g.len();
    if k < 3 {
        return;
    }
    let open = floor.sqrt();
    let shut = 2.0 * floor;
    // Only in frames that are essentially noise (under 5 % of bins open): in speech, voiced
    // harmonics are isolated open bins too, and must stay.
    // (Counted as a sum of 0/1 so the loop vectorises.)
    let n_open: usize = g.iter().map(|v| usize::from(*v > open)).sum();
    if n_open * 20 > k {
        return;
    }
    scratch.copy_from_slice(g);
    for (o, w) in g[1..k - 1].iter_mut().zip(scratch.windows(3)) {
        let (l, c, r) = (w[0], w[1], w[2]);
        let isolated = (c > open) & (l < shut) & (r < shut);
        *o = if isolated { fmax(l, r) } else { c };
    }
}

#[inline(always)]
fn apply_band(gain: &mut [f32], p: &GainParams, floor: f32) {
    let k = gain.len();
    if p.two_sided {
        // bins 0..=k/2 are 0..+fs/2 (|f| = i), bins k/2+1.. are −fs/2..0 (|f| = k − i); the band
        // is on |f|. Out of band on the positive side: i < low or i > high; on the negative
        // side: k − i > high (i < k − high) or k − i < low (i > k − low). As range fills.
        let half = k / 2;
        let (lo, hi) = (p.low_bin, p.high_bin);
        gain[..lo.min(half + 1)].fill(floor);
        if hi < half {
            gain[hi + 1..=half].fill(floor);
        }
        let neg = half + 1;
        if neg < k {
            // k − high, clamped into the negative side.
            let a = k.saturating_sub(hi).clamp(neg, k);
            gain[neg..a].fill(floor);
            // i > k − low, i.e. i ≥ k − low + 1 (low = 0: none).
            if lo > 0 {
                let b = (k + 1).saturating_sub(lo).clamp(neg, k);
                gain[b..].fill(floor);
            }
        }
    } else {
        let lo = p.low_bin.min(k);
        gain[..lo].fill(floor);
        if p.high_bin.saturating_add(1) < k {
            gain[p.high_bin + 1..].fill(floor);
        }
    }
}

/// Moving average of half-width `b` with clamped edges, O(k).
#[inline(always)]
fn box_smooth(x: &[f32], y: &mut [f32], b: usize) {
    let k = x.len();
    let w = (2 * b + 1) as f32;
    let at = |i: isize| x[i.clamp(0, k as isize - 1) as usize];
    let mut acc: f32 = (-(b as isize)..=b as isize).map(at).sum();
    for (i, yi) in y.iter_mut().enumerate().take(k) {
        *yi = acc / w;
        acc += at(i as isize + b as isize + 1) - at(i as isize - b as isize);
    }
}

/// `min` for finite values: one compare-select (`f32::min` also orders NaNs, which costs more).
#[inline(always)]
pub(crate) fn fmin(a: f32, b: f32) -> f32 {
    if a < b {
        a
    } else {
        b
    }
}
#[inline(always)]
pub(crate) fn fmax(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

const LOG10_2: f32 = std::f32::consts::LOG10_2;

/// log2(x) for x > 0, |error| < 1e-5 (exponent + a polynomial on the mantissa).
#[inline(always)]
#[allow(clippy::excessive_precision)] // fitted coefficients, kept as printed by the fit
pub fn fast_log2(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    // mantissa in [1, 2); least-squares degree-6 fit of log2 there, max error 5e-6
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let p = -3.028_358
        + m * (6.065_986
            + m * (-5.264_355
                + m * (3.219_034 + m * (-1.234_354 + m * (0.266_880_26 - 0.024_827_66 * m)))));
    e as f32 + p
}

/// e^x, relative error < 1e-6 for |x| < 80.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub fn fast_exp(x: f32) -> f32 {
    let t = (x * std::f32::consts::LOG2_E).clamp(-126.0, 126.0);
    // floor without a libm call
    let ti = t as i32;
    let i = (ti - (t < ti as f32) as i32) as f32;
    let f = t - i;
    // least-squares degree-5 fit of 2^f on [0, 1), relative error 2.3e-7
    let p = 0.999_999_77
        + f * (0.693_156_76
            + f * (0.240_131_77 + f * (0.055_876_44 + f * (0.008_940_63 + f * 0.001_894_387))));
    f32::from_bits(((i as i32 + 127) as u32) << 23) * p
}

/// `exp(½·E1(v))`, the MMSE-LSA factor, tabulated over v: 32 steps per octave from 2^-20 to
/// 2^8, indexed directly by the float's exponent and top mantissa bits and linearly
/// interpolated (relative error < 2e-4). Below 2^-20 it is clamped (the gain is floored there
/// anyway); above 2^8 it is 1 to within 1e-113.
#[derive(Clone)]
struct LsaTable {
    t: Vec<f32>,
}

const LSA_SHIFT: u32 = 18; // 23 mantissa bits − 5 bits (32 steps per octave)
#[cfg(target_arch = "x86_64")]
const LSA_SHIFT_I: i32 = LSA_SHIFT as i32;
const LSA_LO: u32 = (127 - 20) << 5; // index base: 2^-20
const LSA_HI: u32 = (127 + 8) << 5;

impl LsaTable {
    fn new() -> Self {
        let t = (LSA_LO..=LSA_HI + 1)
            .map(|k| {
                let v = f32::from_bits(k << LSA_SHIFT) as f64;
                (0.5 * e1_f64(v)).exp() as f32
            })
            .collect();
        LsaTable { t }
    }
    /// One value, with branches: the reference [`LsaTable::eval_into`] is tested against.
    #[cfg(test)]
    fn eval(&self, v: f32) -> f32 {
        let bits = v.to_bits();
        let k = bits >> LSA_SHIFT;
        if k < LSA_LO {
            return self.t[0];
        }
        if k >= LSA_HI {
            return 1.0;
        }
        let i = (k - LSA_LO) as usize;
        let frac = (bits & ((1 << LSA_SHIFT) - 1)) as f32 * (1.0 / (1 << LSA_SHIFT) as f32);
        // i + 1 ≤ LSA_HI − LSA_LO < t.len(): one bounds check for both reads.
        let pair = &self.t[i..i + 2];
        pair[0] + (pair[1] - pair[0]) * frac
    }

    /// `out[i] = eval(v[i])`, bit for bit, without branches: below the table the index clamps
    /// to its first entry and above it to the entry at 2^8, which is exactly 1; the fraction is
    /// zeroed outside the table, so `t[i] + (t[i+1] − t[i])·0` is `t[i]` exactly.
    ///
    /// The compiler keeps this loop scalar (it does not emit gathers): with AVX2 the lookups run
    /// eight at a time through [`LsaTable::eval_into_avx2`] (the same operations in the same
    /// order, so the same bits). It was the largest single cost of a voice file run.
    #[inline(always)]
    fn eval_into(&self, v: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above; the check is a cached load).
            return unsafe { self.eval_into_avx2(v, out) };
        }
        self.eval_into_scalar(v, out)
    }

    /// [`LsaTable::eval_into`] eight lanes at a time with AVX2 gathers; the tail (under eight
    /// values) goes through the scalar loop.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn eval_into_avx2(&self, v: &[f32], out: &mut [f32]) {
        use std::arch::x86_64::*;
        let n = v.len().min(out.len());
        let t = &self.t[..(LSA_HI - LSA_LO + 2) as usize];
        let lo = _mm256_set1_epi32(LSA_LO as i32);
        let hi = _mm256_set1_epi32(LSA_HI as i32);
        let lo_m1 = _mm256_set1_epi32(LSA_LO as i32 - 1);
        let mant = _mm256_set1_epi32(((1u32 << LSA_SHIFT) - 1) as i32);
        let scale = _mm256_set1_ps(1.0 / (1 << LSA_SHIFT) as f32);
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 ≤ n ≤ v.len(), out.len(); every index is clamped into
            // 0..=LSA_HI − LSA_LO, so it and the index + 1 are inside `t`.
            unsafe {
                let bits = _mm256_loadu_si256(v.as_ptr().add(i) as *const __m256i);
                // k < 2^14 (the shift drops 18 of 32 bits): signed compares are exact.
                let k = _mm256_srli_epi32::<LSA_SHIFT_I>(bits);
                let inside =
                    _mm256_and_si256(_mm256_cmpgt_epi32(k, lo_m1), _mm256_cmpgt_epi32(hi, k));
                let idx = _mm256_sub_epi32(_mm256_min_epi32(_mm256_max_epi32(k, lo), hi), lo);
                let m = _mm256_and_si256(inside, mant);
                let frac = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(bits, m)), scale);
                let a = _mm256_i32gather_ps::<4>(t.as_ptr(), idx);
                let b = _mm256_i32gather_ps::<4>(t.as_ptr().add(1), idx);
                let r = _mm256_add_ps(a, _mm256_mul_ps(_mm256_sub_ps(b, a), frac));
                _mm256_storeu_ps(out.as_mut_ptr().add(i), r);
            }
            i += 8;
        }
        self.eval_into_scalar(&v[i..n], &mut out[i..n]);
    }

    /// The portable form of [`LsaTable::eval_into`].
    #[inline(always)]
    fn eval_into_scalar(&self, v: &[f32], out: &mut [f32]) {
        let t = &self.t[..(LSA_HI - LSA_LO + 2) as usize];
        for (o, x) in out.iter_mut().zip(v) {
            let bits = x.to_bits();
            let k = bits >> LSA_SHIFT;
            let inside = (LSA_LO..LSA_HI).contains(&k);
            let i = (k.clamp(LSA_LO, LSA_HI) - LSA_LO) as usize;
            let m = if inside { (1u32 << LSA_SHIFT) - 1 } else { 0 };
            let frac = (bits & m) as f32 * (1.0 / (1 << LSA_SHIFT) as f32);
            // i ≤ LSA_HI − LSA_LO, so i + 1 < t.len().
            let (a, b) = (t[i], t[i + 1]);
            *o = a + (b - a) * frac;
        }
    }
}

/// E1(v) in f64: power series below 1, continued fraction above (Numerical Recipes `expint`).
fn e1_f64(v: f64) -> f64 {
    if v <= 0.0 {
        return f64::INFINITY;
    }
    if v < 1.0 {
        let mut sum = 0.0;
        let mut term = 1.0;
        for k in 1..60 {
            term *= -v / k as f64;
            sum += term / k as f64;
        }
        -0.577_215_664_901_532_9 - v.ln() - sum
    } else {
        // Lentz's method
        let mut b = v + 1.0;
        let mut c = 1.0 / 1e-300;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..200 {
            let a = -((i * i) as f64);
            b += 2.0;
            d = 1.0 / (a * d + b);
            c = b + a / c;
            let del = c * d;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        h * (-v).exp()
    }
}

/// Exponential integral E1(v) for v > 0 (series below 1, Abramowitz & Stegun 5.1.56 above).
#[inline(always)]
pub fn expint_e1(v: f32) -> f32 {
    if v < 1.0 {
        let ln = fast_log2(v) * std::f32::consts::LN_2;
        -0.577_215_7 - ln
            + v * (1.0 + v * (-0.25 + v * (1.0 / 18.0 + v * (-1.0 / 96.0 + v / 600.0))))
    } else if v > 60.0 {
        0.0
    } else {
        let num = v * v + 2.334_733 * v + 0.250_621;
        let den = v * v + 3.330_657 * v + 1.681_534;
        fast_exp(-v) / v * num / den
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(rule: GainRule) -> GainParams {
        GainParams {
            rule,
            threshold_db: 6.0,
            knee_db: 0.0,
            reduction_db: 20.0,
            dd_alpha: 0.98,
            attack_coef: 0.0,
            release_coef: 0.0,
            freq_smooth_bins: 0,
            low_bin: 0,
            high_bin: usize::MAX,
            two_sided: false,
            burst_ratio: 0.0,
            burst_bands: 1,
            keep_floor: 0.0,
            keep_coef: 0.0,
            keep_margin: 0.0,
        }
    }

    /// A tone 2 dB under the noise floor in its bin (per frame power over floor 1.6 on average:
    /// the gate, threshold 7 dB, opens on it only when noise lifts it) is persistent: the
    /// weak-signal keep lifts its bin's floor once the long-term average shows it, and leaves the
    /// bins of noise alone at the deep floor. Without the keep the tone is chopped.
    #[test]
    fn weak_signal_keep_lifts_only_a_persistent_weak_line() {
        let bins = 64;
        let tone = 20;
        let run = |keep: bool| {
            let mut p = params(GainRule::Gate);
            p.threshold_db = 7.0;
            p.knee_db = 6.0;
            p.reduction_db = 45.0;
            p.dd_alpha = 0.9;
            if keep {
                p.keep_floor = db_to_amp(-6.0);
                p.keep_coef = 1.0 - (-0.01f32 / 2.0).exp();
                p.keep_margin = 3.0 * (p.keep_coef / (2.0 - p.keep_coef) * 1.5).sqrt();
            }
            let mut st = GainState::new(bins);
            let noise = vec![1.0f32; bins];
            let (mut power, mut gain) = (vec![0f32; bins], vec![0f32; bins]);
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            let mut expo = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                -((((seed >> 40) as f32 + 0.5) / (1u64 << 24) as f32).ln())
            };
            // (frames where the tone's gain ≥ −16 dB, mean gain of the noise bins) over the last
            // 1000 of 3000 frames (10 ms hops: the average has had 20 s).
            let (mut kept, mut noise_gain) = (0usize, 0f64);
            for f in 0..3000 {
                for (i, v) in power.iter_mut().enumerate() {
                    *v = expo() * if i == tone { 1.6 } else { 1.0 };
                }
                st.compute(&p, &power, &noise, &mut gain);
                if f >= 2000 {
                    kept += (gain[tone] >= db_to_amp(-16.0)) as usize;
                    noise_gain += gain
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i.abs_diff(tone) > 2)
                        .map(|(_, &g)| g as f64)
                        .sum::<f64>()
                        / (bins - 5) as f64;
                }
            }
            (kept as f64 / 1000.0, noise_gain / 1000.0)
        };
        let (kept_off, noise_off) = run(false);
        let (kept_on, noise_on) = run(true);
        assert!(
            kept_off < 0.5,
            "without the keep the gate already holds the tone: {kept_off}"
        );
        assert!(
            kept_on > 0.9,
            "the keep does not hold the weak tone: {kept_on}"
        );
        assert!(
            (noise_on - noise_off).abs() < 2e-3,
            "the keep lifted noise-only bins: mean gain {noise_off} -> {noise_on}"
        );
    }

    #[test]
    fn fast_math_is_accurate() {
        for x in [1e-6f32, 0.01, 0.5, 1.0, 1.7, 3.0, 1000.0, 1e9] {
            assert!((fast_log2(x) - x.log2()).abs() < 2e-4, "log2 {x}");
        }
        for x in [-20.0f32, -3.3, -0.1, 0.0, 0.7, 5.0, 30.0] {
            assert!((fast_exp(x) / x.exp() - 1.0).abs() < 2e-4, "exp {x}");
        }
        // E1 reference values (scipy.special.exp1)
        for (v, e) in [
            (0.01f32, 4.037_929_6),
            (0.5, 0.559_773_6),
            (1.0, 0.219_383_93),
            (2.5, 0.024_914_9),
            (10.0, 4.156_969e-6),
        ] {
            assert!(
                (expint_e1(v) / e - 1.0).abs() < 2e-3,
                "E1({v}) = {} vs {e}",
                expint_e1(v)
            );
        }
    }

    #[test]
    fn lsa_table_matches_the_exact_factor() {
        let t = LsaTable::new();
        for v in [1e-5f32, 3e-4, 0.01, 0.3, 0.999, 1.0, 2.7, 17.0, 200.0] {
            let exact = (0.5 * e1_f64(v as f64)).exp() as f32;
            assert!(
                (t.eval(v) / exact - 1.0).abs() < 2e-4,
                "v {v}: {} vs {exact}",
                t.eval(v)
            );
        }
        // scipy.special.exp1 reference values
        for (v, e) in [
            (0.01f64, 4.037_929_576_538),
            (1.0, 0.219_383_934_395_5),
            (10.0, 4.156_968_929_685e-6),
        ] {
            assert!((e1_f64(v) / e - 1.0).abs() < 1e-10, "E1({v})");
        }
    }

    #[test]
    fn an_isolated_open_bin_in_a_shut_frame_is_closed_but_a_cluster_or_a_busy_frame_is_kept() {
        let f = 0.1;
        let mut g = vec![f; 100];
        g[10] = 1.0; // isolated
        g[50] = 1.0; // a two-bin cluster
        g[51] = 0.9;
        remove_isolated(&mut g, &mut vec![0.0; 100], f);
        assert_eq!(g[10], f);
        assert_eq!((g[50], g[51]), (1.0, 0.9));
        // A frame with many open bins (voiced speech harmonics) is left alone.
        let mut busy: Vec<f32> = (0..100).map(|i| if i % 4 == 0 { 1.0 } else { f }).collect();
        let before = busy.clone();
        remove_isolated(&mut busy, &mut vec![0.0; 100], f);
        assert_eq!(busy, before);
    }

    #[test]
    fn open_gate_gives_unit_gain_everywhere() {
        let mut p = params(GainRule::MmseLsa);
        p.reduction_db = 0.0;
        let mut st = GainState::new(4);
        let mut g = [0.0; 4];
        st.compute(&p, &[1.0, 0.0, 5.0, 1e-9], &[1.0, 1.0, 1.0, 1.0], &mut g);
        assert_eq!(g, [1.0; 4]);
    }

    #[test]
    fn every_rule_passes_strong_bins_and_floors_noise_bins() {
        for rule in GainRule::ALL {
            let p = params(rule);
            let mut st = GainState::new(2);
            let mut g = [0.0; 2];
            for _ in 0..50 {
                st.compute(&p, &[1000.0, 0.5], &[1.0, 1.0], &mut g);
            }
            assert!(g[0] > 0.95, "{rule}: strong bin gain {}", g[0]);
            assert!(
                (g[1] - p.floor()).abs() < 0.02,
                "{rule}: noise bin gain {}",
                g[1]
            );
        }
    }

    #[test]
    fn passband_floors_bins_outside_the_band() {
        let mut p = params(GainRule::Wiener);
        p.low_bin = 2;
        p.high_bin = 5;
        let mut st = GainState::new(8);
        let mut g = [0.0; 8];
        st.compute(&p, &[1e4; 8], &[1.0; 8], &mut g);
        let f = p.floor();
        assert_eq!(&g[..2], &[f, f]);
        assert_eq!(&g[6..], &[f, f]);
        assert!(g[2..6].iter().all(|v| *v > 0.9));
    }

    #[test]
    fn release_holds_the_gain_up_after_the_signal_stops() {
        let mut p = params(GainRule::Wiener);
        p.release_coef = 0.9;
        let mut st = GainState::new(1);
        let mut g = [0.0];
        for _ in 0..20 {
            st.compute(&p, &[1e4], &[1.0], &mut g);
        }
        st.compute(&p, &[0.0], &[1.0], &mut g);
        assert!(g[0] > 0.8, "{}", g[0]);
    }

    // Optimised kernels against straightforward references (tolerance 0: bit for bit).

    /// The table lookup as first written: one value, with branches.
    #[test]
    fn the_branch_free_table_lookup_equals_the_branching_one_bit_for_bit() {
        let t = LsaTable::new();
        let mut v: Vec<f32> = vec![0.0, -0.0, -1.0, 1e-38, 1e-30, f32::MAX, f32::INFINITY];
        // Every exponent, several mantissas each (covers both clamps and every table step).
        for e in 0u32..255 {
            for m in [0u32, 1, 0x1234, 0x3_ffff, 0x4_0000, 0x40_0001, 0x7f_ffff] {
                v.push(f32::from_bits((e << 23) | m));
            }
        }
        let mut s = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            v.push(f32::from_bits((s >> 32) as u32 & 0x7fff_ffff));
        }
        v.retain(|x| !x.is_nan());
        let mut out = vec![0.0; v.len()];
        t.eval_into(&v, &mut out);
        for (x, o) in v.iter().zip(&out) {
            assert_eq!(o.to_bits(), t.eval(*x).to_bits(), "v = {x:e}");
        }
        // Both forms, whichever the CPU picks above (odd lengths exercise the vector tail).
        for len in [v.len(), v.len() - 5, 7, 0] {
            let mut scalar = vec![0.0; len];
            t.eval_into_scalar(&v[..len], &mut scalar);
            for (x, o) in v.iter().zip(&scalar) {
                assert_eq!(o.to_bits(), t.eval(*x).to_bits(), "scalar, v = {x:e}");
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut vector = vec![0.0; len];
                // SAFETY: AVX2 is present (checked just above).
                unsafe { t.eval_into_avx2(&v[..len], &mut vector) };
                for (x, o) in v.iter().zip(&vector) {
                    assert_eq!(o.to_bits(), t.eval(*x).to_bits(), "AVX2, v = {x:e}");
                }
            }
        }
    }

    /// The builds the CPU may pick (baseline, AVX2, AVX-512) give the same gains bit for bit,
    /// for every rule, with smoothing and a band, over frames of noise with bursts (so the
    /// decision-directed memory and the attack/release state carry across frames).
    #[test]
    fn every_instruction_set_build_gives_the_same_gains_bit_for_bit() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut uniform = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 + 0.5) / (1u64 << 24) as f32
        };
        for rule in GainRule::ALL {
            for knee_db in [0.0, 6.0] {
                let mut p = params(rule);
                p.knee_db = knee_db;
                p.attack_coef = 0.3;
                p.release_coef = 0.9;
                p.freq_smooth_bins = 1;
                p.low_bin = 3;
                p.high_bin = 900;
                let k = 961; // not a multiple of 8 or 16: the vector tails run too
                let noise: Vec<f32> = (0..k).map(|_| 0.5 + uniform()).collect();
                let mut builds: Vec<GainState> = (0..3).map(|_| GainState::new(k)).collect();
                for frame in 0..40 {
                    let power: Vec<f32> = (0..k)
                        .map(|i| {
                            let burst = if (frame / 5 + i / 97) % 3 == 0 {
                                30.0
                            } else {
                                1.0
                            };
                            -burst * noise[i] * uniform().ln()
                        })
                        .collect();
                    let mut out = vec![vec![0.0f32; k]; 3];
                    builds[0].compute_body(&p, &power, &noise, None, &mut out[0]);
                    // A build the CPU (or the compiler) lacks is compared as the baseline.
                    out[1] = out[0].clone();
                    out[2] = out[0].clone();
                    #[cfg(target_arch = "x86_64")]
                    if std::arch::is_x86_feature_detected!("avx2") {
                        // SAFETY: AVX2 is present (checked just above).
                        unsafe { builds[1].compute_avx2(&p, &power, &noise, None, &mut out[1]) };
                    }
                    #[cfg(all(target_arch = "x86_64", specgate_avx512))]
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        // SAFETY: AVX-512F is present (checked just above).
                        unsafe { builds[2].compute_avx512(&p, &power, &noise, None, &mut out[2]) };
                    }
                    for (b, o) in out.iter().enumerate().skip(1) {
                        for (i, (x, y)) in o.iter().zip(&out[0]).enumerate() {
                            assert_eq!(
                                x.to_bits(),
                                y.to_bits(),
                                "{rule} knee {knee_db}: build {b}, frame {frame}, bin {i}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// `remove_isolated` as first written: in place, left to right.
    fn remove_isolated_reference(g: &mut [f32], floor: f32) {
        let k = g.len();
        if k < 3 {
            return;
        }
        let open = floor.sqrt();
        let shut = 2.0 * floor;
        if g.iter().filter(|v| **v > open).count() * 20 > k {
            return;
        }
        let mut prev = g[0];
        for i in 1..k - 1 {
            let cur = g[i];
            if cur > open && prev < shut && g[i + 1] < shut {
                g[i] = fmax(prev, g[i + 1]);
            }
            prev = cur;
        }
    }

    #[test]
    fn isolated_bin_removal_equals_the_in_place_reference_bit_for_bit() {
        let f = 0.1f32;
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for k in [1usize, 2, 3, 4, 7, 64, 257, 938] {
            for density in [0.0f32, 0.02, 0.04, 0.3] {
                let mut g: Vec<f32> = (0..k)
                    .map(|_| {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        let u = (s >> 40) as f32 / (1u64 << 24) as f32;
                        if u < density {
                            0.5 + u
                        } else {
                            f + 0.15 * u
                        }
                    })
                    .collect();
                if k > 5 {
                    g[k - 3] = 1.0; // an isolated bin near the end, and runs of two
                    g[2] = 0.9;
                    g[3] = 0.8;
                }
                let mut want = g.clone();
                remove_isolated_reference(&mut want, f);
                remove_isolated(&mut g, &mut vec![0.0; k], f);
                assert_eq!(g, want, "k {k}, density {density}");
            }
        }
    }

    /// `apply_band` for a two-sided spectrum as first written: one test per bin.
    fn band_reference(gain: &mut [f32], p: &GainParams, floor: f32) {
        let k = gain.len();
        for (i, g) in gain.iter_mut().enumerate() {
            let f = if i <= k / 2 { i } else { k - i };
            if f < p.low_bin || f > p.high_bin {
                *g = floor;
            }
        }
    }

    #[test]
    fn the_two_sided_band_as_range_fills_equals_the_per_bin_reference() {
        let mut p = params(GainRule::Gate);
        p.two_sided = true;
        for k in [1usize, 2, 3, 8, 9, 16, 17] {
            let edges = [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 20, usize::MAX];
            for lo in edges {
                for hi in edges {
                    p.low_bin = lo;
                    p.high_bin = hi;
                    let mut got: Vec<f32> = (0..k).map(|i| 1.0 + i as f32).collect();
                    let mut want = got.clone();
                    apply_band(&mut got, &p, 0.5);
                    band_reference(&mut want, &p, 0.5);
                    assert_eq!(got, want, "k {k}, band {lo}..={hi}");
                }
            }
        }
    }
}

#[cfg(test)]
mod reuse_tests {
    use super::*;

    /// With a floor generation that changes whenever the floor does, the reused reciprocals
    /// give the gains of a state that divides every frame, bit for bit, for every rule.
    #[test]
    fn reused_floor_reciprocals_give_the_same_gains_as_dividing_every_frame() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut r = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        let k = 37;
        let floors: Vec<Vec<f32>> = (0..3)
            .map(|_| (0..k).map(|_| 0.01 + r()).collect())
            .collect();
        for rule in GainRule::ALL {
            for knee in [0.0, 6.0] {
                let p = GainParams {
                    rule,
                    threshold_db: 6.0,
                    knee_db: knee,
                    reduction_db: 25.0,
                    dd_alpha: 0.95,
                    attack_coef: 0.3,
                    release_coef: 0.8,
                    freq_smooth_bins: 1,
                    low_bin: 2,
                    high_bin: 30,
                    two_sided: false,
                    burst_ratio: 0.0,
                    burst_bands: 1,
                    keep_floor: 0.0,
                    keep_coef: 0.0,
                    keep_margin: 0.0,
                };
                let (mut a, mut b) = (GainState::new(k), GainState::new(k));
                let (mut ga, mut gb) = (vec![0.0; k], vec![0.0; k]);
                let mut which = 0;
                let mut generation = 0u64;
                for frame in 0..60 {
                    if frame % 7 == 3 {
                        which = (which + 1) % floors.len();
                        generation += 1;
                    }
                    let power: Vec<f32> = (0..k).map(|_| 3.0 * r()).collect();
                    a.compute(&p, &power, &floors[which], &mut ga);
                    b.compute_for_floor(&p, &power, &floors[which], Some(generation), &mut gb);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&ga), bits(&gb), "{rule}, knee {knee}, frame {frame}");
                }
            }
        }
    }
}
