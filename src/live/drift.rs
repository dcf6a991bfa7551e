//! Drift control: keeps the buffered audio (and so the end-to-end latency) at its target when
//! the input and output devices run on different clocks.
//!
//! Plant: with a relative rate mismatch `d` (output clock vs input clock) and a resampling
//! correction `c`, the buffered time `e` (seconds, relative to target) moves as `de/dt = d + c`.
//! A PI controller `c = −(Kp·e + Ki·∫e)` on a low-passed measurement drives `e` to zero.
//! It is proportional-dominant on purpose: Kp = 0.5/s holds a 200 ppm mismatch within
//! d/Kp = 0.4 ms at once, while the slow integral (Kp/Ki = 100 s) learns the true drift
//! without being wound up by the millisecond-scale timing noise of real audio servers under
//! load (that noise only wobbles the ratio, clamped to ±1000 ppm = 1.7 cents, inaudible).
//! The reported drift is not the applied correction (which answers jitter as well as drift):
//! it is measured on each device's own frame stream ([`RateFit`]): the frames a callback has
//! delivered (or taken) against the monotonic time it ran. A late callback only ever makes a
//! point *later*, so each half second keeps its earliest point and a least-squares line
//! through those minima (exponentially forgotten, τ = 60 s) gives the device's rate; the drift
//! is the difference of the two rates. Scheduling jitter, however bursty, cannot pull that
//! line, and xruns only start a new segment (same slope, new offset).
//!
//! Large errors (start-up, when the output device pulls its first buffers; after a real xrun)
//! are fixed at once by inserting silence or dropping frames ("snap") instead of slowly.

/// What the worker must do after an update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Keep going; set the resampler's relative ratio to this value.
    Ratio(f64),
    /// Push this many frames of silence into the output ring (too little buffered).
    Insert(usize),
    /// Discard this many produced frames (too much buffered).
    Drop(usize),
}

/// Controller state. Time and buffered amounts are in seconds.
#[derive(Debug, Clone)]
pub struct DriftController {
    target_s: f64,
    rate: f64,
    kp: f64,
    ki: f64,
    tau_slow: f64,
    tau_fast: f64,
    max_corr: f64,
    /// Time after start when the one-off start-up snap is made.
    settle_s: f64,
    /// |error| above which a snap is made after start-up.
    snap_s: f64,
    slow: f64,
    fast: f64,
    integ: f64,
    corr: f64,
    last_t: Option<f64>,
    t0: f64,
    settled: bool,
    resync: bool,
}

impl DriftController {
    /// `target_s`: buffered time to hold; `rate`: output rate (frames per second) used to
    /// convert snaps to frames.
    pub fn new(target_s: f64, rate: f64) -> Self {
        DriftController {
            target_s,
            rate,
            kp: 0.5,
            ki: 0.005,
            tau_slow: 0.5,
            tau_fast: 0.05,
            max_corr: 1e-3,
            settle_s: 1.0,
            snap_s: (0.5 * target_s).max(0.004),
            slow: 0.0,
            fast: 0.0,
            integ: 0.0,
            corr: 0.0,
            last_t: None,
            t0: 0.0,
            settled: false,
            resync: false,
        }
    }

    /// Moves the target (e.g. once the devices' own delays are known); the filtered errors
    /// shift with it, so call [`resync`](Self::resync) to jump there.
    pub fn set_target(&mut self, target_s: f64) {
        let d = target_s - self.target_s;
        self.fast -= d;
        self.slow -= d;
        self.target_s = target_s;
        self.snap_s = (0.5 * target_s).max(0.004);
    }

    pub fn target_s(&self) -> f64 {
        self.target_s
    }

    /// Moves the target without a snap: the loop walks there through the resampler (for small
    /// steps, e.g. a shrinking cushion).
    pub fn set_target_smoothly(&mut self, target_s: f64) {
        let d = target_s - self.target_s;
        self.fast -= d;
        self.slow -= d;
        self.target_s = target_s;
        self.snap_s = (0.5 * target_s).max(0.004);
    }

    /// Correction applied now, ppm.
    pub fn correction_ppm(&self) -> f64 {
        self.corr * 1e6
    }

    /// Smoothed buffered time, seconds.
    pub fn buffered_s(&self) -> f64 {
        self.slow + self.target_s
    }

    /// Requests an exact re-alignment at the next update (after a real xrun, which shifts the
    /// latency by the lost or duplicated time: a step, not drift, so the integrator must not
    /// absorb it).
    pub fn resync(&mut self) {
        self.resync = true;
    }

    /// One measurement: `t` = time (seconds, any origin), `buffered` = seconds of audio between
    /// capture and playback right now (excluding fixed delays). The measurement should be
    /// free of the callbacks' sawtooth (see `core::Stamp`): a slow beat between the device
    /// periods and the measuring instants would pass any low-pass filter.
    pub fn update(&mut self, t: f64, buffered: f64) -> Action {
        let e = buffered - self.target_s;
        let dt = match self.last_t {
            None => {
                self.slow = e;
                self.fast = e;
                self.last_t = Some(t);
                self.t0 = t;
                return Action::Ratio(1.0);
            }
            Some(t0) => (t - t0).max(0.0),
        };
        self.last_t = Some(t);
        self.fast += (e - self.fast) * (1.0 - (-dt / self.tau_fast).exp());
        self.slow += (e - self.slow) * (1.0 - (-dt / self.tau_slow).exp());

        let snap_now = if !self.settled && t - self.t0 >= self.settle_s {
            self.settled = true;
            self.fast.abs() > 0.5e-3
        } else if self.resync {
            self.resync = false;
            // The slow filter still holds the pre-xrun history: restart it from the fast one.
            self.slow = self.fast;
            self.fast.abs() > 0.5e-3
        } else {
            self.settled && self.fast.abs() > self.snap_s
        };
        if snap_now {
            let frames = (self.fast.abs() * self.rate).round() as usize;
            let shift = frames as f64 / self.rate * self.fast.signum();
            self.fast -= shift;
            self.slow -= shift;
            if frames > 0 {
                return if shift < 0.0 {
                    Action::Insert(frames)
                } else {
                    Action::Drop(frames)
                };
            }
        }
        if self.settled {
            self.integ =
                (self.integ + self.ki * self.slow * dt).clamp(-self.max_corr, self.max_corr);
        }
        let kp = if self.settled { self.kp } else { 0.0 };
        self.corr = -(kp * self.slow + self.integ).clamp(-self.max_corr, self.max_corr);
        Action::Ratio(1.0 + self.corr)
    }
}

/// Least-squares slope of `y(t)` with exponential forgetting, over segments that share the
/// slope but each have their own offset (a new segment starts after any step in `y`).
/// Points are averaged into blocks of `block_s` first, so the update rate does not matter.
#[derive(Debug, Clone)]
pub struct DriftFit {
    tau: f64,
    block_s: f64,
    /// Centred sums (Σw(t−t̄)², Σw(t−t̄)(y−ȳ)) of the closed segments, decayed.
    closed_tt: f64,
    closed_ty: f64,
    /// Raw weighted sums of the open segment: Σw, Σwt, Σwy, Σwt², Σwty (t relative to `t0`).
    w: f64,
    st: f64,
    sy: f64,
    stt: f64,
    sty: f64,
    t0: Option<f64>,
    last_t: f64,
    /// The block being averaged: (start, Σt, Σy, n).
    block: Option<(f64, f64, f64, u32)>,
}

impl DriftFit {
    pub fn new(tau: f64, block_s: f64) -> Self {
        DriftFit {
            tau,
            block_s,
            closed_tt: 0.0,
            closed_ty: 0.0,
            w: 0.0,
            st: 0.0,
            sy: 0.0,
            stt: 0.0,
            sty: 0.0,
            t0: None,
            last_t: 0.0,
            block: None,
        }
    }

    pub fn add(&mut self, t: f64, y: f64) {
        match &mut self.block {
            None => self.block = Some((t, t, y, 1)),
            Some((t_start, sum_t, sum_y, n)) => {
                *sum_t += t;
                *sum_y += y;
                *n += 1;
                if t - *t_start >= self.block_s {
                    let (bt, by) = (*sum_t / *n as f64, *sum_y / *n as f64);
                    self.block = None;
                    self.add_point(bt, by);
                }
            }
        }
    }

    /// Adds one point as it is (no block averaging).
    pub fn add_point(&mut self, t: f64, y: f64) {
        let t0 = *self.t0.get_or_insert(t);
        let decay = (-(t - self.last_t).max(0.0) / self.tau).exp();
        self.last_t = t;
        self.closed_tt *= decay;
        self.closed_ty *= decay;
        self.w *= decay;
        self.st *= decay;
        self.sy *= decay;
        self.stt *= decay;
        self.sty *= decay;
        let u = t - t0;
        self.w += 1.0;
        self.st += u;
        self.sy += y;
        self.stt += u * u;
        self.sty += u * y;
    }

    fn open_centred(&self) -> (f64, f64) {
        if self.w <= 0.0 {
            return (0.0, 0.0);
        }
        (
            self.stt - self.st * self.st / self.w,
            self.sty - self.st * self.sy / self.w,
        )
    }

    /// Closes the open segment: the next point may be offset by any step.
    pub fn break_segment(&mut self) {
        let (tt, ty) = self.open_centred();
        self.closed_tt += tt;
        self.closed_ty += ty;
        self.w = 0.0;
        self.st = 0.0;
        self.sy = 0.0;
        self.stt = 0.0;
        self.sty = 0.0;
        self.t0 = None;
        self.block = None;
    }

    /// The fitted slope, once the data span the equivalent of 3 s of one segment
    /// (Σ(t−t̄)² ≥ 3²/12 · 300 points).
    pub fn slope(&self) -> Option<f64> {
        let (tt, ty) = self.open_centred();
        let (tt, ty) = (tt + self.closed_tt, ty + self.closed_ty);
        let min_tt = 9.0 / 12.0 * (3.0 / self.block_s);
        (tt >= min_tt).then(|| (ty / tt).clamp(-2e-3, 2e-3))
    }
}

/// The frame rate of one device stream against the monotonic clock, relative to its nominal
/// rate, from `(time, frames so far)` stamps. A callback can run late but never early, so a
/// stamp lies on or *after* the device's true schedule: each block keeps only its earliest
/// point (least residual `t − frames/rate`), and [`DriftFit`] fits a line through those. Its
/// slope is `−ε` for a device running at `rate·(1 + ε)`. A step in the frame count (an xrun,
/// an overrun) needs [`break_segment`](Self::break_segment); the first second after a start
/// or a break is skipped (hosts refill their buffers in bursts then).
#[derive(Debug, Clone)]
pub struct RateFit {
    rate: f64,
    block_s: f64,
    fit: DriftFit,
    last_total: Option<u64>,
    /// Stamps before this time are skipped (settling after a start or a break).
    skip_until: Option<f64>,
    /// The open block: (start, time of the earliest point, its residual).
    block: Option<(f64, f64, f64)>,
    /// Frame count origin (keeps the residuals small).
    n0: Option<u64>,
    /// The last block's earliest point.
    prev: Option<(f64, f64)>,
}

/// A block minimum this far off the line is a step in the frame count (a host refilled or
/// skipped part of its buffer without reporting an xrun), not jitter: it starts a new segment.
const STEP_S: f64 = 0.003;

impl RateFit {
    /// `rate`: nominal frames per second.
    pub fn new(rate: f64) -> Self {
        RateFit {
            rate,
            block_s: 0.5,
            fit: DriftFit::new(60.0, 0.5),
            last_total: None,
            skip_until: None,
            block: None,
            n0: None,
            prev: None,
        }
    }

    /// One stamp: at time `t` (seconds), `total` frames had been delivered. Repeats of the
    /// same stamp are ignored.
    pub fn add(&mut self, t: f64, total: u64) {
        if self.last_total == Some(total) {
            return;
        }
        self.last_total = Some(total);
        let until = *self.skip_until.get_or_insert(t + 1.0);
        if t < until {
            return;
        }
        let n0 = *self.n0.get_or_insert(total);
        let r = t - (total as f64 - n0 as f64) / self.rate;
        match &mut self.block {
            None => self.block = Some((t, t, r)),
            Some((start, tm, rm)) => {
                if r < *rm {
                    *tm = t;
                    *rm = r;
                }
                if t - *start >= self.block_s {
                    let (tm, rm) = (*tm, *rm);
                    self.block = None;
                    if let Some((tp, rp)) = self.prev {
                        let slope = self.fit.slope().unwrap_or(0.0);
                        if (rm - rp - slope * (tm - tp)).abs() > STEP_S {
                            self.fit.break_segment();
                        }
                    }
                    self.prev = Some((tm, rm));
                    self.fit.add_point(tm, rm);
                }
            }
        }
    }

    /// The frame count may have stepped (xrun): keep the slope, start a new offset.
    pub fn break_segment(&mut self) {
        self.fit.break_segment();
        self.block = None;
        self.last_total = None;
        self.skip_until = None;
        self.n0 = None;
        self.prev = None;
    }

    /// ε (the device runs at `rate·(1 + ε)`), once a few seconds are fitted.
    pub fn relative_error(&self) -> Option<f64> {
        self.fit.slope().map(|s| -s)
    }
}

/// Clock drift between an input and an output stream, ppm: positive when the input delivers
/// faster than the output consumes. 0 until both rates are known.
pub fn drift_ppm(input: &RateFit, output: &RateFit) -> f64 {
    match (input.relative_error(), output.relative_error()) {
        (Some(i), Some(o)) => (i - o) * 1e6,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Integrates the plant de/dt = d + c with the controller in the loop.
    fn simulate(d: f64, seconds: f64) -> (f64, f64, DriftController) {
        let target = 0.02;
        let mut c = DriftController::new(target, 48_000.0);
        let dt = 0.005;
        let mut buffered = target;
        let mut worst: f64 = 0.0;
        let mut corr = 1.0;
        let mut t = 0.0;
        while t < seconds {
            buffered += ((corr - 1.0) + d) * dt;
            match c.update(t, buffered) {
                Action::Ratio(r) => corr = r,
                Action::Insert(n) => buffered += n as f64 / 48_000.0,
                Action::Drop(n) => buffered -= n as f64 / 48_000.0,
            }
            worst = worst.max((buffered - target).abs());
            t += dt;
        }
        (worst, buffered - target, c)
    }

    #[test]
    fn a_200_ppm_mismatch_is_held_within_half_a_millisecond() {
        for d in [200e-6, -200e-6] {
            let (worst, last, c) = simulate(d, 900.0);
            assert!(worst < 0.5e-3, "d={d}: worst error {worst}");
            assert!(last.abs() < 10e-6, "d={d}: final error {last}");
            // The integral has learned the mismatch.
            assert!(
                (c.correction_ppm() + d * 1e6).abs() < 1.0,
                "{}",
                c.correction_ppm()
            );
        }
    }

    #[test]
    fn correction_never_exceeds_1000_ppm_even_for_a_larger_mismatch() {
        let (_, last, c) = simulate(3000e-6, 60.0);
        assert!(c.correction_ppm().abs() <= 1000.0 + 1e-9);
        // It cannot keep up: the buffer grows, and the snap keeps it bounded.
        assert!(last.abs() <= 0.011, "{last}");
    }

    #[test]
    fn the_drift_fit_ignores_steps_between_segments_and_follows_the_slope() {
        let mut f = DriftFit::new(60.0, 0.01);
        assert_eq!(f.slope(), None);
        let mut t: f64 = 0.0;
        let mut offset = 0.0;
        while t < 20.0 {
            if (t as u64) % 5 == 0 && (t - t.floor()) < 0.001 {
                // A step of 30 ms (an xrun or a snap) every 5 s.
                offset += 0.03;
                f.break_segment();
            }
            f.add(t, offset + 150e-6 * t);
            t += 0.001;
        }
        let s = f.slope().unwrap();
        assert!((s - 150e-6).abs() < 1e-6, "{s}");
    }

    #[test]
    fn a_start_up_offset_is_snapped_once_settled() {
        let mut c = DriftController::new(0.02, 48_000.0);
        assert_eq!(c.update(0.0, 0.01), Action::Ratio(1.0));
        let mut act = Action::Ratio(1.0);
        let mut t = 0.0;
        while t < 1.01 {
            t += 0.005;
            act = c.update(t, 0.01);
            if !matches!(act, Action::Ratio(_)) {
                break;
            }
        }
        assert_eq!(act, Action::Insert(480));
    }
    #[test]
    fn late_callbacks_do_not_move_the_rate_but_a_clock_error_does() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for eps in [0.0, 150e-6, -150e-6] {
            let mut f = RateFit::new(48_000.0);
            let (period, actual) = (480u64, 48_000.0 * (1.0 + eps));
            let (mut k, mut lost) = (1u64, 0u64);
            loop {
                let due = (k * period) as f64 / actual;
                if due > 12.0 {
                    break;
                }
                // 5 % of the callbacks late by up to 30 ms, the rest by up to 1 ms.
                let late = if next() < 0.05 {
                    next() * 0.03
                } else {
                    next() * 0.001
                };
                f.add(due + late, k * period - lost);
                if k == 500 {
                    // An xrun: 960 frames lost, a step in the count.
                    f.break_segment();
                    lost = 960;
                }
                k += 1;
            }
            let e = f.relative_error().unwrap();
            assert!((e - eps).abs() < 10e-6, "true {eps}, fitted {e}");
        }
    }
}
