//! Per-bin noise-floor estimation.
//!
//! Two ways to know the noise:
//! * [`NoiseProfile`]: the mean power per bin of a noise-only clip (learned once, then fixed), the
//!   SoX/noisereduce model. Best when the noise is stationary and a clip is at hand.
//! * [`McraTracker`]: blind tracking, for streams. Minima-controlled recursive averaging (Cohen &
//!   Berdugo 2002): the smoothed power's minimum over a sliding window (kept as `U` sub-window
//!   minima, Martin 2001) decides per bin whether speech is present; where it is not, the noise
//!   estimate follows the periodogram with a short time constant. It needs no clip, follows a
//!   falling floor within a fraction of a second and a rising one within one minimum window, and is
//!   not pulled up by speech, keyed CW or bursts shorter than the window.
//!
//! Units: power of the (unnormalised) analysis spectrum, `|X[k]|²`, as produced by the STFT.
//! All time constants are in seconds and converted with the hop duration, so behaviour does not
//! depend on the sample rate or hop.

use super::gain::{fmax, fmin};

/// Time constants and thresholds of the blind tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerParams {
    /// Hop duration in seconds (frames per second = 1 / hop_s).
    pub hop_s: f32,
    /// Time constant of the power smoothing that feeds the minimum search.
    pub smoothing_s: f32,
    /// Length of the minimum-search window. Longer: safer against long vowels and steady tones;
    /// shorter: faster reaction to a rising floor.
    pub window_s: f32,
    /// Time constant of the noise average where no signal is present.
    pub noise_tau_s: f32,
    /// Ratio of smoothed power over its minimum above which a bin counts as signal (linear).
    pub presence_ratio: f32,
    /// Frames between the presence decision and the frame it gates: the number of previous
    /// frames that overlap the current one (`ceil(frame/hop) − 1`, at least 1). Deciding on
    /// overlapping frames would correlate the decision with the very periodogram it gates.
    /// It is also the number of leading frames of a stream that are partly empty history and
    /// are skipped.
    pub decision_delay: usize,
    /// Steady-tone protection: a bin's estimate is capped at this power ratio over the floor of
    /// its spectral neighbourhood (see [`cap_peaks`]); 0 = off.
    pub tone_ratio: f32,
    /// Bins below this one are not capped: steady lines there are taken to be mains hum (noise).
    pub tone_min_bin: usize,
    /// Bins from DC up to [`INFRA_HZ`] (one-sided audio spectra; 0 for two-sided I/Q, whose DC
    /// bin is the tuned frequency): always noise, see [`McraTracker::update`].
    pub infra_bins: usize,
}

impl Default for TrackerParams {
    fn default() -> Self {
        TrackerParams {
            hop_s: 0.01,
            smoothing_s: 0.05,
            window_s: 1.5,
            noise_tau_s: 0.15,
            presence_ratio: 5.0,
            decision_delay: 1,
            tone_ratio: 0.0,
            tone_min_bin: 0,
            infra_bins: 0,
        }
    }
}

/// Steady lines below this frequency are mains hum (50/60 Hz and harmonics up to the 7th) and are
/// learned as noise; above it a steady line is a signal (a carrier, a held note, a long dash).
pub const HUM_ZONE_HZ: f32 = 450.0;

/// Audio bins centred below this frequency carry no signal anyone listens to, only infrasound:
/// DC offset and its drift, AGC pumping, and coloured band noise reaching down to fractions of a
/// Hz. Their power wanders over seconds, faster than any minimum search follows and unlike a
/// learned second of it, so the tracker takes all of it as noise.
pub const INFRA_HZ: f32 = 20.0;

/// The number of [`INFRA_HZ`] bins of a one-sided spectrum with `bin_hz` spacing (DC at least).
pub fn infra_bins(bin_hz: f32) -> usize {
    (INFRA_HZ / bin_hz).ceil().max(1.0) as usize
}

/// The published estimate is the 3-bin smoothed one held within this factor (±1.5 dB) of the
/// bin's own: smoothing cuts the variance of a smooth floor, but next to a strong line (mains hum,
/// a carrier) it would lift the bins between the lines by up to a quarter of the line's power.
const SPREAD: f32 = 1.41;

/// Neighbourhood of [`cap_peaks`]: bins `NEAR..=FAR` away on each side (outside a tone's main
/// lobe, ±2 bins for the project's windows).
const NEAR: usize = 3;
const FAR: usize = 8;

/// Frequency-smoothed power over the window minimum that counts as a signal onset.
const ONSET_RATIO: f32 = 10.0;

/// Per-bin power below which a whole frame counts as digital silence (≈ −200 dBFS; 16-bit
/// quantisation noise alone is 80 dB above it).
const SILENCE_POWER: f32 = 1e-14;

/// The minimum search starts from the lower of the start-up mean and this many times the first
/// frame's (3-bin smoothed) periodogram. The first frame is the only look at the noise before a
/// signal that fades in within the start-up (music: chords rising over 100 ms were in the
/// start-up mean and learned as noise, `specgate eval --family music --seed 101..110` +6.60 →
/// +3.29 dB); the factor keeps one low periodogram from holding the floor far down for a whole
/// window (the defect the start-up mean fixed: 1.5 keeps the blind-vs-learned gap closed, 1.0
/// reopens part of it on cw, see the am preset's notes).
const FIRST_FRAME_SLACK: f32 = 1.5;

/// Upper bound of the noise estimate over the window minimum of the smoothed power.
const MAX_OVER_MIN: f32 = 4.0;

/// Number of sub-windows the minimum window is split into.
const SUBWINDOWS: usize = 6;

/// Blind MCRA noise tracker for one channel.
#[derive(Clone)]
pub struct McraTracker {
    a_s: f32,
    a_d: f32,
    a_p: f32,
    ratio: f32,
    sub_len: u32,
    sub_count: u32,
    smooth: Vec<f32>,
    cur_min: Vec<f32>,
    sub_mins: Vec<f32>, // SUBWINDOWS × bins, ring
    sub_next: usize,
    win_min: Vec<f32>,
    presence: Vec<f32>,
    noise: Vec<f32>,
    raw: Vec<f32>,
    /// Scratch for [`cap_peaks`].
    pf: Vec<f32>,
    started: bool,
    /// Ring of the last `decision_delay` smoothed spectra (decision_delay × bins).
    history: Vec<f32>,
    hist_pos: usize,
    delay: usize,
    skip: usize,
    /// `skip` as built (for [`McraTracker::reset`]).
    skip0: usize,
    tone_ratio: f32,
    tone_min_bin: usize,
    infra_bins: usize,
    /// Frames averaged so far while starting up (see [`settle_frames`]).
    frames: u32,
    /// [`settle_frames`] as built.
    settle: u32,
    /// The first frame's smoothed periodogram × [`FIRST_FRAME_SLACK`]: the minimum search's
    /// first candidate, with the start-up mean (see [`FIRST_FRAME_SLACK`]).
    first: Vec<f32>,
    /// Whether the minimum search has started (the start-up mean is settled enough).
    searching: bool,
}

/// Start-up length of the power smoothing, in frames: the exponential smoother's equivalent
/// number of averaged frames, `(1 + a) / (1 − a)` (8 for am's 12.5 ms hops, 10 for 10 ms), at
/// least one. For that many frames the smoothed power is the plain mean of the frames so far (the
/// exponential seeded with one periodogram would weigh that single exponential variate for three
/// time constants), and the minimum search takes it from half that many frames on, where the mean
/// already has half the settled smoother's degrees of freedom. Waiting for three time constants
/// instead (0.15 s) missed the noise-only start of a stream: music that faded in within it had its
/// held chords learned as noise for a whole window (am, 12 s: music −16 dB).
fn settle_frames(p: &TrackerParams) -> u32 {
    let a = coef(p.hop_s, p.smoothing_s);
    ((1.0 + a) / (1.0 - a).max(1e-3)).round().clamp(1.0, 1000.0) as u32
}

fn coef(hop_s: f32, tau_s: f32) -> f32 {
    if tau_s <= 0.0 {
        0.0
    } else {
        (-hop_s / tau_s).exp()
    }
}

impl McraTracker {
    pub fn new(bins: usize, p: TrackerParams) -> Self {
        let frames = (p.window_s / p.hop_s).max(SUBWINDOWS as f32);
        McraTracker {
            a_s: coef(p.hop_s, p.smoothing_s),
            a_d: coef(p.hop_s, p.noise_tau_s),
            a_p: coef(p.hop_s, 0.02),
            ratio: p.presence_ratio,
            sub_len: (frames / SUBWINDOWS as f32).round().max(1.0) as u32,
            sub_count: 0,
            smooth: vec![0.0; bins],
            cur_min: vec![f32::MAX; bins],
            sub_mins: vec![f32::MAX; bins * SUBWINDOWS],
            sub_next: 0,
            win_min: vec![f32::MAX; bins],
            presence: vec![0.0; bins],
            noise: vec![0.0; bins],
            raw: vec![0.0; bins],
            pf: vec![0.0; bins],
            started: false,
            history: vec![0.0; bins * p.decision_delay.max(1)],
            hist_pos: 0,
            delay: p.decision_delay.max(1),
            skip: p.decision_delay,
            skip0: p.decision_delay,
            tone_ratio: p.tone_ratio,
            tone_min_bin: p.tone_min_bin,
            infra_bins: p.infra_bins,
            frames: 0,
            settle: settle_frames(&p),
            first: vec![0.0; bins],
            searching: false,
        }
    }

    /// Back to the state right after [`McraTracker::new`], without allocating.
    pub fn reset(&mut self) {
        self.sub_count = 0;
        self.smooth.fill(0.0);
        self.cur_min.fill(f32::MAX);
        self.sub_mins.fill(f32::MAX);
        self.sub_next = 0;
        self.win_min.fill(f32::MAX);
        self.presence.fill(0.0);
        self.noise.fill(0.0);
        self.raw.fill(0.0);
        self.pf.fill(0.0);
        self.started = false;
        self.history.fill(0.0);
        self.hist_pos = 0;
        self.skip = self.skip0;
        self.frames = 0;
        self.first.fill(0.0);
        self.searching = false;
    }

    /// Window minimum of the smoothed power (debug/diagnostics).
    pub fn window_min(&self) -> &[f32] {
        &self.win_min
    }

    /// Current noise estimate per bin.
    pub fn noise(&self) -> &[f32] {
        &self.noise
    }

    /// Per-bin probability-like signal presence in [0, 1] (smoothed indicator).
    pub fn presence(&self) -> &[f32] {
        &self.presence
    }

    /// Feed one frame's power spectrum.
    pub fn update(&mut self, power: &[f32]) {
        #[cfg(all(target_arch = "x86_64", specgate_avx512))]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above; the check is a cached load).
            return unsafe { self.update_avx512(power) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above; the check is a cached load).
            return unsafe { self.update_avx2(power) };
        }
        self.update_body(power)
    }

    /// [`McraTracker::update`] compiled for AVX-512: the same operations on 16 lanes (no FMA
    /// contraction, so the same values).
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[cfg(all(target_arch = "x86_64", specgate_avx512))]
    #[target_feature(enable = "avx512f")]
    unsafe fn update_avx512(&mut self, power: &[f32]) {
        self.update_body(power)
    }

    /// [`McraTracker::update`] compiled for AVX2: the same operations on 8 lanes instead of 4
    /// (no FMA contraction, so the same values).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn update_avx2(&mut self, power: &[f32]) {
        self.update_body(power)
    }

    #[inline(always)]
    fn update_body(&mut self, power: &[f32]) {
        let k = self.noise.len();
        debug_assert_eq!(power.len(), k);
        // The first frames of a stream are partly the zeros of the empty history: they say
        // nothing about the floor, so tracking starts with the first full frame.
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        // Digital silence (a closed squelch, a paused stream, zero padding) carries no
        // information about the floor: skipped, it can neither pin the window minimum near zero
        // nor drag the estimate down, so when the noise returns the floor is still right.
        if power.iter().all(|p| *p < SILENCE_POWER) {
            return;
        }
        if !self.started {
            self.started = true;
            for i in 0..k {
                let p = freq_smooth3(power, i).max(1e-30);
                self.smooth[i] = p;
                self.noise[i] = p;
                self.raw[i] = p;
                self.first[i] = FIRST_FRAME_SLACK * p;
            }
            // The minimum search starts once the start-up mean has enough frames (settle_frames):
            // one periodogram is an
            // exponential variate (a tenth of its mean one bin in ten; the DC bin's is wilder
            // still), and as the first window minimum it would hold those bins' estimates low and
            // flag them as signal for a whole window (3 s for cw, 12 s for am: the first seconds
            // of a stream passed noise that a learned profile removes).
            self.cur_min.fill(f32::MAX);
            self.win_min.fill(f32::MAX);
            for d in 0..self.delay {
                self.history[d * k..(d + 1) * k].copy_from_slice(&self.smooth);
            }
            for s in self.sub_mins.iter_mut() {
                *s = f32::MAX;
            }
            return;
        }
        let (a_d, a_p, ratio) = (self.a_d, self.a_p, self.ratio);
        // Start-up (see settle_frames): the smoothed power is the running mean of the frames so
        // far (the first one included), and the minimum search sees it from half the smoother's
        // length on; before that, f32::MAX is neutral for the minimum and keeps both tests and the
        // cap below open.
        self.frames = self.frames.saturating_add(1);
        let n = self.frames + 1;
        let a_s = if n < self.settle {
            1.0 - 1.0 / n as f32
        } else {
            self.a_s
        };
        let settled = 2 * n >= self.settle;
        if settled && !self.searching {
            // The search starts from the first frame (× FIRST_FRAME_SLACK); the loop below
            // takes the lower of it and the start-up mean.
            self.searching = true;
            self.cur_min.copy_from_slice(&self.first);
        }
        // The oldest entry of the ring: the smoothed spectrum `delay` frames ago.
        let hist = &mut self.history[self.hist_pos * k..(self.hist_pos + 1) * k];
        let c = BinStep {
            a_s,
            a_d,
            a_p,
            ratio,
        };
        let bins = BinState {
            hist,
            smooth: &mut self.smooth,
            cur_min: &mut self.cur_min,
            win_min: &self.win_min,
            presence: &mut self.presence,
            raw: &mut self.raw,
        };
        // One loop per `settled` (loop-invariant): the unsettled one never writes the minimum.
        if settled {
            update_bins::<true>(&c, power, bins);
        } else {
            update_bins::<false>(&c, power, bins);
        }
        if self.tone_ratio > 0.0 {
            cap_peaks(
                &mut self.raw,
                &mut self.pf,
                self.tone_ratio,
                self.tone_min_bin,
            );
        }
        // Infrasonic bins: everything there is noise, including what the minimum search cannot
        // follow (see INFRA_HZ): the estimate is at least this frame's power, so their gain stays
        // at the floor.
        let infra = self.infra_bins.min(k);
        for (r, p) in self.raw[..infra].iter_mut().zip(power) {
            *r = fmax(*r, *p);
        }
        // Publish the estimate smoothed across neighbouring bins: noise floors are smooth in
        // frequency, and averaging 3 bins cuts the estimate's variance (fewer bins flicker open);
        // held within SPREAD of the bin's own estimate, so strong lines do not spill over.
        publish(&self.raw, &mut self.noise);
        self.hist_pos = (self.hist_pos + 1) % self.delay;
        self.sub_count += 1;
        if self.sub_count >= self.sub_len {
            self.sub_count = 0;
            let base = self.sub_next * k;
            self.sub_mins[base..base + k].copy_from_slice(&self.cur_min);
            self.sub_next = (self.sub_next + 1) % SUBWINDOWS;
            self.win_min.copy_from_slice(&self.cur_min);
            for u in 0..SUBWINDOWS {
                let row = &self.sub_mins[u * k..(u + 1) * k];
                for (w, r) in self.win_min.iter_mut().zip(row) {
                    if *r < *w {
                        *w = *r;
                    }
                }
            }
            // The new sub-window starts from the current smoothed level.
            self.cur_min.copy_from_slice(&self.smooth);
        }
    }
}

/// The per-frame constants of the tracker's per-bin update.
struct BinStep {
    a_s: f32,
    a_d: f32,
    a_p: f32,
    ratio: f32,
}

/// The per-bin state vectors the update reads and writes (all `bins` long).
struct BinState<'a> {
    hist: &'a mut [f32],
    smooth: &'a mut [f32],
    cur_min: &'a mut [f32],
    win_min: &'a [f32],
    presence: &'a mut [f32],
    raw: &'a mut [f32],
}

impl BinState<'_> {
    /// [`bin_step`] for bin `i` by index (the edges, and spectra under 3 bins).
    #[inline(always)]
    fn at<const SETTLED: bool>(&mut self, c: &BinStep, i: usize, pf: f32, p: f32) {
        bin_step::<SETTLED>(
            c,
            pf,
            p,
            &mut self.hist[i],
            &mut self.smooth[i],
            &mut self.cur_min[i],
            self.win_min[i],
            &mut self.presence[i],
            &mut self.raw[i],
        )
    }
}

/// The tracker's per-bin update over all bins, with the 3-bin frequency smoothing of the
/// periodogram ([`smooth3`], edges [`smooth3_edge`]; below 3 bins none) computed in the same
/// loop. `SETTLED`: the minimum
/// search is running (then the sub-window minimum takes the smoothed power).
#[inline(always)]
fn update_bins<const SETTLED: bool>(c: &BinStep, power: &[f32], mut b: BinState) {
    let k = power.len();
    if k < 3 {
        for (i, p) in power.iter().enumerate() {
            b.at::<SETTLED>(c, i, *p, *p);
        }
        return;
    }
    // The edges clamped; the interior zipped (no bounds checks) so the loop vectorises.
    b.at::<SETTLED>(c, 0, smooth3_edge(power[0], power[1]), power[0]);
    let last = smooth3_edge(power[k - 1], power[k - 2]);
    b.at::<SETTLED>(c, k - 1, last, power[k - 1]);
    let BinState {
        hist,
        smooth,
        cur_min,
        win_min,
        presence,
        raw,
    } = b;
    let r = 1..k - 1;
    let iter = power
        .windows(3)
        .zip(hist[r.clone()].iter_mut())
        .zip(smooth[r.clone()].iter_mut())
        .zip(cur_min[r.clone()].iter_mut())
        .zip(&win_min[r.clone()])
        .zip(presence[r.clone()].iter_mut())
        .zip(raw[r].iter_mut());
    for ((((((w, h), sm), cmin), wmin), pres), rw) in iter {
        let pf = smooth3(w[0], w[1], w[2]);
        bin_step::<SETTLED>(c, pf, w[1], h, sm, cmin, *wmin, pres, rw);
    }
}

/// One bin of [`McraTracker::update`]: `pf` is the bin's frequency-smoothed periodogram, `p` its
/// own. Branch-free (compare-selects only, and `fmin`/`fmax` instead of the NaN-aware
/// `f32::min`: inputs are finite).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn bin_step<const SETTLED: bool>(
    c: &BinStep,
    pf: f32,
    p: f32,
    h: &mut f32,
    sm: &mut f32,
    cmin: &mut f32,
    wmin: f32,
    pres: &mut f32,
    raw: &mut f32,
) {
    let BinStep {
        a_s,
        a_d,
        a_p,
        ratio,
    } = *c;
    let prev = *h;
    let s = a_s * *sm + (1.0 - a_s) * pf;
    *sm = s;
    *h = s;
    let cm = if SETTLED {
        let cm = fmin(*cmin, s);
        *cmin = cm;
        cm
    } else {
        *cmin
    };
    let m = fmax(fmin(wmin, cm), 1e-30);
    // Decide presence on the smoothed power of the last frame that does not overlap this
    // one, so the decision does not depend on this frame's own periodogram value (that
    // would skip exactly the high noise frames and bias the floor low); a strong onset
    // (10× the window minimum in the frequency-smoothed periodogram, which noise alone
    // almost never reaches) is caught at once so it does not leak in. Both tests are
    // against the window minimum, not the estimate itself: a floor that starts far too
    // low (a stream that begins in digital silence) can then never lock the estimate out
    // of updating.
    let present = (prev > ratio * m) | (pf > ONSET_RATIO * m);
    let ind = if present { 1.0f32 } else { 0.0 };
    let pr = a_p * *pres + (1.0 - a_p) * ind;
    // A presence that has decayed below 1e-30 is flushed to zero: it would otherwise
    // sink through the subnormal range (tens of frames per bin after every onset, each
    // multiply a slow microcode assist), and below 1e-30 it changes nothing: `pr` only
    // enters `ad` next to `a_d`, where it rounds away.
    let pr = if pr < 1e-30 { 0.0 } else { pr };
    *pres = pr;
    // The smoothed presence lags a key-down or a word onset by a frame or two; the
    // instantaneous indicator closes that gap.
    let ad = a_d + (1.0 - a_d) * fmax(pr, ind);
    let n = ad * *raw + (1.0 - ad) * p;
    // Stationary noise averages 1.8× its smoothed window minimum; an estimate far above
    // that was polluted by signal (e.g. the stream started during a key-down or a word),
    // so cap it instead of waiting for gaps to pull it down.
    *raw = fmax(fmin(n, MAX_OVER_MIN * m), 1e-30);
}

/// Publishes the estimate: `raw` smoothed over 3 bins ([`smooth3`]) and held within [`SPREAD`] of each bin's own
/// value, in one pass (the same values as smoothing, then clamping).
#[inline(always)]
fn publish(raw: &[f32], noise: &mut [f32]) {
    let k = raw.len();
    let clamp = |s: f32, r: f32| fmax(fmin(s, SPREAD * r), r * (1.0 / SPREAD));
    if k < 3 {
        for (n, r) in noise.iter_mut().zip(raw) {
            *n = clamp(*r, *r);
        }
        return;
    }
    noise[0] = clamp(smooth3_edge(raw[0], raw[1]), raw[0]);
    noise[k - 1] = clamp(smooth3_edge(raw[k - 1], raw[k - 2]), raw[k - 1]);
    for (n, w) in noise[1..k - 1].iter_mut().zip(raw.windows(3)) {
        *n = clamp(smooth3(w[0], w[1], w[2]), w[1]);
    }
}

/// Caps every bin from `min_bin` up at `ratio` × the higher of the lowest estimates `NEAR..=FAR`
/// bins below and above it. A noise floor is smooth in frequency (even brown noise falls by under
/// 5 dB over 8 bins above the hum zone, and the higher side is taken, so slopes and band edges
/// are not capped), while a steady tone (a carrier, a held note, a long or drifting dash) that
/// the minimum search has taken for floor stands far above its neighbours: capped, it can never
/// be learned as noise. Minima rather than means, so dense harmonics (a chord) that fill some of
/// the neighbours do not lift the reference. `scratch` is overwritten. O(bins × 12).
#[inline(always)]
pub fn cap_peaks(raw: &mut [f32], scratch: &mut [f32], ratio: f32, min_bin: usize) {
    let k = raw.len();
    if k < 2 * FAR + 1 {
        return;
    }
    scratch.copy_from_slice(raw);
    let x = &*scratch;
    let side_min = |a: usize, b: usize| x[a..=b].iter().fold(f32::MAX, |m, &v| fmin(m, v));
    for (i, r) in raw.iter_mut().enumerate().skip(min_bin.max(1)) {
        let l = if i >= FAR {
            side_min(i - FAR, i - NEAR)
        } else {
            0.0
        };
        let h = if i + FAR < k {
            side_min(i + NEAR, i + FAR)
        } else {
            0.0
        };
        let m = fmax(l, h);
        if m > 0.0 {
            *r = fmin(*r, ratio * m);
        }
    }
}

/// The 3-bin frequency smoothing `¼x[i−1] + ½x[i] + ¼x[i+1]` of an interior bin.
#[inline(always)]
fn smooth3(l: f32, c: f32, r: f32) -> f32 {
    0.25 * l + 0.5 * c + 0.25 * r
}

/// [`smooth3`] at an edge bin `e` with its one neighbour `n` (the edge clamped: `¾e + ¼n`).
#[inline(always)]
fn smooth3_edge(e: f32, n: f32) -> f32 {
    0.75 * e + 0.25 * n
}

#[inline(always)]
fn freq_smooth3(p: &[f32], i: usize) -> f32 {
    let k = p.len();
    let l = if i > 0 { p[i - 1] } else { p[i] };
    let r = if i + 1 < k { p[i + 1] } else { p[i] };
    0.25 * l + 0.5 * p[i] + 0.25 * r
}

/// A fixed noise profile: the mean power per bin of noise-only frames.
#[derive(Clone, Debug, Default)]
pub struct NoiseProfile {
    sum: Vec<f64>,
    frames: u64,
}

impl NoiseProfile {
    pub fn new(bins: usize) -> Self {
        NoiseProfile {
            sum: vec![0.0; bins],
            frames: 0,
        }
    }
    pub fn bins(&self) -> usize {
        self.sum.len()
    }
    pub fn frames(&self) -> u64 {
        self.frames
    }
    /// Adds one frame's power spectrum.
    pub fn accumulate(&mut self, power: &[f32]) {
        for (s, p) in self.sum.iter_mut().zip(power) {
            *s += *p as f64;
        }
        self.frames += 1;
    }
    /// Writes the mean power per bin (zero frames → leaves `out` unchanged, returns false).
    pub fn mean_into(&self, out: &mut [f32]) -> bool {
        if self.frames == 0 {
            return false;
        }
        let inv = 1.0 / self.frames as f64;
        for (o, s) in out.iter_mut().zip(&self.sum) {
            *o = ((*s * inv) as f32).max(1e-30);
        }
        true
    }
    /// Adds the mean power per bin to `out` (no allocation); false if no frames were seen.
    pub fn add_mean_to(&self, out: &mut [f32]) -> bool {
        if self.frames == 0 {
            return false;
        }
        let inv = 1.0 / self.frames as f64;
        for (o, s) in out.iter_mut().zip(&self.sum) {
            *o += (*s * inv) as f32;
        }
        true
    }
    /// Forgets all frames (keeps the allocation).
    pub fn reset(&mut self) {
        self.sum.fill(0.0);
        self.frames = 0;
    }
    pub fn mean(&self) -> Vec<f32> {
        let mut v = vec![0.0; self.sum.len()];
        self.mean_into(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exponentially distributed periodogram values (what |X|² of Gaussian noise looks like).
    struct Rng(u64);
    impl Rng {
        fn uniform(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 40) as f32 + 0.5) / (1u64 << 24) as f32
        }
        fn expo(&mut self, mean: f32) -> f32 {
            -mean * self.uniform().ln()
        }
    }

    /// The builds the CPU may pick (baseline, AVX2, AVX-512) track the same floor bit for bit:
    /// through the start-up, the minimum search, sub-window turns and signal bursts, with tone
    /// protection and infrasonic bins on, at a bin count that leaves vector tails.
    #[test]
    fn every_instruction_set_build_tracks_the_same_floor_bit_for_bit() {
        let p = TrackerParams {
            hop_s: 0.005,
            window_s: 0.3,
            decision_delay: 3,
            tone_ratio: 10.0,
            tone_min_bin: 12,
            infra_bins: 2,
            ..TrackerParams::default()
        };
        let k = 961;
        let mut builds: Vec<McraTracker> = (0..3).map(|_| McraTracker::new(k, p)).collect();
        let mut rng = Rng(7);
        let mut power = vec![0.0f32; k];
        for frame in 0..400 {
            for (i, v) in power.iter_mut().enumerate() {
                let burst = if (frame / 40 + i / 61) % 4 == 0 {
                    50.0
                } else {
                    1.0
                };
                *v = rng.expo(burst * (1.0 + (i % 13) as f32));
            }
            builds[0].update_body(&power);
            // A build the CPU (or the compiler) lacks runs as the baseline.
            #[allow(unused_mut)] // set only where the builds exist
            let (mut avx2, mut avx512) = (false, false);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present (checked just above).
                unsafe { builds[1].update_avx2(&power) };
                avx2 = true;
            }
            #[cfg(all(target_arch = "x86_64", specgate_avx512))]
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F is present (checked just above).
                unsafe { builds[2].update_avx512(&power) };
                avx512 = true;
            }
            if !avx2 {
                builds[1].update_body(&power);
            }
            if !avx512 {
                builds[2].update_body(&power);
            }
            for b in 1..3 {
                for (i, (x, y)) in builds[b].noise().iter().zip(builds[0].noise()).enumerate() {
                    assert_eq!(
                        x.to_bits(),
                        y.to_bits(),
                        "build {b}, frame {frame}, bin {i}"
                    );
                }
            }
        }
    }

    fn run(tr: &mut McraTracker, rng: &mut Rng, level: f32, frames: usize) -> f32 {
        let k = tr.noise().len();
        let mut p = vec![0.0; k];
        for _ in 0..frames {
            p.iter_mut().for_each(|v| *v = rng.expo(level));
            tr.update(&p);
        }
        tr.noise().iter().sum::<f32>() / k as f32 / level
    }

    #[test]
    fn tracker_settles_on_a_stationary_floor() {
        let mut tr = McraTracker::new(257, TrackerParams::default());
        let mut rng = Rng(7);
        let ratio = run(&mut tr, &mut rng, 2.0, 500);
        assert!((0.7..1.3).contains(&ratio), "estimate/true = {ratio}");
    }

    #[test]
    fn tracker_follows_a_floor_that_rises_or_falls_by_10_db_within_3_seconds() {
        let p = TrackerParams::default(); // 10 ms hops
        let mut tr = McraTracker::new(257, p);
        let mut rng = Rng(9);
        run(&mut tr, &mut rng, 1.0, 500);
        let up = run(&mut tr, &mut rng, 10.0, 300);
        assert!((0.6..1.4).contains(&up), "after rise: estimate/true = {up}");
        let down = run(&mut tr, &mut rng, 1.0, 300);
        assert!(
            (0.6..1.4).contains(&down),
            "after fall: estimate/true = {down}"
        );
    }

    /// Morse at 20 wpm: dit 60 ms; "PARIS " keyed repeatedly (dits, dahs, letter and word gaps).
    fn paris_keying() -> Vec<bool> {
        let mut k = Vec::new();
        let mut on = |units: usize, v: bool| k.extend(std::iter::repeat_n(v, units * 6)); // 10 ms frames
        for letter in [".--.", ".-", ".-.", "..", "..."] {
            for (i, c) in letter.chars().enumerate() {
                if i > 0 {
                    on(1, false);
                }
                on(if c == '.' { 1 } else { 3 }, true);
            }
            on(3, false);
        }
        on(4, false); // word gap: 7 units in all
        k
    }

    #[test]
    fn tracker_ignores_a_keyed_morse_tone_in_one_bin() {
        let mut tr = McraTracker::new(
            65,
            TrackerParams {
                window_s: 3.0,
                ..Default::default()
            },
        );
        let mut rng = Rng(3);
        let mut p = vec![0.0; 65];
        let keying = paris_keying();
        for f in 0..2000 {
            p.iter_mut().for_each(|v| *v = rng.expo(1.0));
            if keying[f % keying.len()] {
                p[20] += 1000.0;
            }
            tr.update(&p);
        }
        assert!(
            tr.noise()[20] < 3.0,
            "tone leaked into the floor: {}",
            tr.noise()[20]
        );
        assert!(
            tr.noise()[40] < 2.0 && tr.noise()[40] > 0.5,
            "floor elsewhere: {}",
            tr.noise()[40]
        );
    }

    #[test]
    fn digital_silence_neither_pins_nor_drags_the_floor() {
        let mut tr = McraTracker::new(65, TrackerParams::default());
        let mut rng = Rng(21);
        // Start in silence (a closed squelch), then noise: the floor is right within 1 s.
        let zeros = vec![0.0; 65];
        for _ in 0..300 {
            tr.update(&zeros);
        }
        let r = run(&mut tr, &mut rng, 3.0, 100);
        assert!(
            (0.6..1.4).contains(&r),
            "after silence → noise: estimate/true = {r}"
        );
        // Silence again for 3 s (squelch closed), then the same noise: no relearning needed.
        for _ in 0..300 {
            tr.update(&zeros);
        }
        let r = run(&mut tr, &mut rng, 3.0, 5);
        assert!(
            (0.6..1.4).contains(&r),
            "after a silent gap: estimate/true = {r}"
        );
    }

    /// Frames of noise (mean `floor[i]` per bin) plus a steady tone of power `tone` in `bin`.
    fn run_with_tone(tr: &mut McraTracker, floor: &[f32], bin: usize, tone: f32, frames: usize) {
        let mut rng = Rng(11);
        let mut p = vec![0.0; floor.len()];
        for _ in 0..frames {
            for (v, f) in p.iter_mut().zip(floor) {
                *v = rng.expo(*f);
            }
            p[bin] += tone;
            tr.update(&p);
        }
    }

    fn protected(ratio: f32, min_bin: usize) -> TrackerParams {
        TrackerParams {
            window_s: 1.5,
            tone_ratio: ratio,
            tone_min_bin: min_bin,
            ..Default::default()
        }
    }

    #[test]
    fn tone_protection_never_learns_a_steady_carrier_above_the_hum_zone() {
        let floor = vec![1.0f32; 129];
        // Without protection a carrier that never keys becomes "noise" after one window.
        let mut plain = McraTracker::new(129, protected(0.0, 0));
        run_with_tone(&mut plain, &floor, 60, 100.0, 600);
        assert!(plain.noise()[60] > 20.0, "control: {}", plain.noise()[60]);
        let mut tr = McraTracker::new(129, protected(2.5, 10));
        run_with_tone(&mut tr, &floor, 60, 100.0, 600);
        assert!(tr.noise()[60] < 3.0, "carrier learned: {}", tr.noise()[60]);
    }

    #[test]
    fn steady_lines_in_the_hum_zone_are_learned_as_noise() {
        let floor = vec![1.0f32; 129];
        let mut tr = McraTracker::new(129, protected(2.5, 10));
        run_with_tone(&mut tr, &floor, 4, 100.0, 600);
        assert!(tr.noise()[4] > 20.0, "hum not learned: {}", tr.noise()[4]);
    }

    #[test]
    fn tone_protection_leaves_a_steep_noise_floor_alone() {
        // Brown-like floor: power ∝ 1/k², the steepest colour the tracker meets.
        let floor: Vec<f32> = (0..129).map(|k| 1e4 / (k.max(1) as f32).powi(2)).collect();
        let mut tr = McraTracker::new(129, protected(2.5, 10));
        run_with_tone(&mut tr, &floor, 0, 0.0, 600);
        for k in [12usize, 30, 60, 120] {
            let r = tr.noise()[k] / floor[k];
            assert!((0.6..1.5).contains(&r), "bin {k}: estimate/true = {r}");
        }
    }

    #[test]
    fn no_bin_is_held_low_by_the_first_periodogram_one_second_into_a_stream() {
        // 3 s window, 10 ms hops: before the fix the first frame's periodogram was the window
        // minimum for 3 s, and the bins where it fell low (one in ten below a tenth of the mean)
        // stayed far under the floor, flagged as signal.
        let mut tr = McraTracker::new(
            513,
            TrackerParams {
                window_s: 3.0,
                noise_tau_s: 0.15,
                ..Default::default()
            },
        );
        let mut rng = Rng(5);
        run(&mut tr, &mut rng, 1.0, 100);
        let low = tr.noise().iter().filter(|v| **v < 0.5).count();
        assert!(low <= 5, "{low} of 513 bins below half the floor after 1 s");
    }

    #[test]
    fn infrasonic_bins_are_never_below_their_power() {
        let mut tr = McraTracker::new(
            65,
            TrackerParams {
                infra_bins: 1,
                ..Default::default()
            },
        );
        let mut rng = Rng(13);
        let mut p = vec![0.0; 65];
        for f in 0..1000 {
            // The DC bin wanders by 30 dB over 4 s (infrasound); the rest is a steady floor.
            let wander = 10f32.powf(1.5 * (f as f32 * 0.0157).sin());
            p.iter_mut().for_each(|v| *v = rng.expo(1.0));
            p[0] *= wander;
            tr.update(&p);
            // Frame 0 is the skipped decision delay, frame 1 starts the estimate.
            if f >= 2 {
                assert!(tr.raw[0] >= p[0], "frame {f}: {} < {}", tr.raw[0], p[0]);
            }
        }
        let r = tr.noise()[40];
        assert!((0.6..1.4).contains(&r), "floor elsewhere: {r}");
    }

    #[test]
    fn a_strong_line_does_not_lift_the_floor_of_its_neighbours_by_more_than_1_5_db() {
        let floor = vec![1.0f32; 129];
        let mut tr = McraTracker::new(129, protected(0.0, 0));
        // A steady hum line 30 dB over the floor is learned as noise in its own bin...
        run_with_tone(&mut tr, &floor, 6, 1000.0, 600);
        assert!(tr.noise()[6] > 300.0, "line bin: {}", tr.noise()[6]);
        // ... but two bins away (between harmonics) the floor stays the floor.
        for b in [4usize, 8] {
            let r = tr.noise()[b];
            assert!(r < 1.41 * 1.4, "bin {b}: {r}");
        }
    }

    /// A tracker with the am preset's geometry (12.5 ms hops, 12 s window) and no tone
    /// protection over 129 bins, and the bins of a held chord (three notes, four harmonics each).
    fn am_tracker_and_chord() -> (usize, McraTracker, Vec<usize>) {
        let k = 129;
        let tr = McraTracker::new(
            k,
            TrackerParams {
                hop_s: 0.0125,
                window_s: 12.0,
                noise_tau_s: 0.5,
                ..Default::default()
            },
        );
        let chord: Vec<usize> = [10usize, 13, 15]
            .iter()
            .flat_map(|&f| (1..=4).map(move |h| f * h))
            .filter(|&b| b < k)
            .collect();
        (k, tr, chord)
    }

    #[test]
    fn a_chord_that_starts_100_ms_into_a_stream_is_not_learned_as_noise() {
        // am's geometry: 12.5 ms hops, 12 s window. Noise from t = 0, a held chord (three notes,
        // four harmonics each, 30 dB over the floor) from 100 ms on, no tone protection: only
        // the minimum search can tell the chord from the floor, so it must have seen the
        // noise-only start. Waiting three smoothing time constants (150 ms) before searching
        // missed it, and every chord bin was learned as noise for the whole window.
        let (k, mut tr, chord) = am_tracker_and_chord();
        let mut rng = Rng(21);
        let mut p = vec![0.0; k];
        for f in 0..400 {
            p.iter_mut().for_each(|v| *v = rng.expo(1.0));
            if f >= 8 {
                for &b in &chord {
                    p[b] += 1000.0;
                }
            }
            tr.update(&p);
        }
        for &b in &chord {
            let r = tr.noise()[b];
            assert!(
                r < 4.0,
                "chord bin {b}: noise estimate {r} (floor 1, chord 1000)"
            );
        }
    }

    #[test]
    fn a_chord_that_fades_in_from_the_first_frame_is_not_learned_as_noise() {
        // am's geometry, no tone protection. The chord rises linearly in amplitude over 100 ms
        // (8 hops) from the first frame on, so the start-up mean (frames 1–4) already holds it
        // at about −8 dB; only the first frame saw the floor (chord at −18 dB, 12 dB over it).
        let (k, mut tr, chord) = am_tracker_and_chord();
        let mut rng = Rng(23);
        let mut p = vec![0.0; k];
        for f in 0..400 {
            p.iter_mut().for_each(|v| *v = rng.expo(1.0));
            let a = ((f as f32 + 0.5) / 8.0).min(1.0);
            for &b in &chord {
                p[b] += 1000.0 * a * a;
            }
            tr.update(&p);
        }
        for &b in &chord {
            let r = tr.noise()[b];
            assert!(
                r < 100.0,
                "chord bin {b}: noise estimate {r} (floor 1, chord 1000)"
            );
        }
    }

    #[test]
    fn profile_is_the_mean_power() {
        let mut pr = NoiseProfile::new(3);
        pr.accumulate(&[1.0, 2.0, 3.0]);
        pr.accumulate(&[3.0, 2.0, 1.0]);
        assert_eq!(pr.mean(), vec![2.0, 2.0, 2.0]);
    }

    #[test]
    fn a_decayed_presence_is_flushed_to_zero_never_left_subnormal() {
        // A loud onset in every bin, then 3 s of the steady floor: the smoothed presence decays
        // by a_p per frame and would pass through the subnormal range.
        let mut tr = McraTracker::new(65, TrackerParams::default());
        let mut rng = Rng(5);
        run(&mut tr, &mut rng, 1.0, 200);
        let loud = vec![1e4f32; 65];
        for _ in 0..5 {
            tr.update(&loud);
        }
        assert!(tr.presence().iter().all(|p| *p > 0.5), "onset not seen");
        let mut p = vec![0.0; 65];
        let mut zeros_seen = false;
        for _ in 0..300 {
            p.iter_mut().for_each(|v| *v = rng.expo(1.0));
            tr.update(&p);
            for v in tr.presence() {
                assert!(*v == 0.0 || *v >= 1e-30, "presence {v:e}");
                zeros_seen |= *v == 0.0;
            }
        }
        assert!(zeros_seen, "the presence never decayed to zero");
    }
}
