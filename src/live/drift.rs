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
//! delivered (or taken) against the monotonic time it ran ([`DriftMeter`]). A late callback
//! only ever makes a point *later*, so each half second keeps each stream's earliest point;
//! the drift is the median slope of their difference over two minutes. Scheduling jitter,
//! an audio server falling behind and catching up, and unreported millisecond re-buffering
//! cannot pull that median, and xruns only start a new segment (same slope, new offset).
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

/// The earliest residual `t − frames/rate` of one device's `(time, frames so far)` stamps in
/// the current block. A callback can run late but never early, so the earliest stamp is the
/// one nearest the device's true schedule.
#[derive(Debug, Clone)]
struct BlockMin {
    rate: f64,
    last_total: Option<u64>,
    /// Stamps before this time are skipped (settling after a start or a break).
    skip_until: Option<f64>,
    /// Frame count origin (keeps the residuals small).
    n0: Option<u64>,
    min: Option<f64>,
}

impl BlockMin {
    fn new(rate: f64) -> Self {
        BlockMin {
            rate,
            last_total: None,
            skip_until: None,
            n0: None,
            min: None,
        }
    }

    fn add(&mut self, t: f64, total: u64) {
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
        self.min = Some(self.min.map_or(r, |m| m.min(r)));
    }

    /// A new frame-count origin: the residual may step.
    fn restart(&mut self) {
        *self = BlockMin::new(self.rate);
    }
}

/// Clock drift between an input and an output device, from their frame streams against the
/// monotonic clock. Each half-second block keeps each stream's earliest residual
/// `t − frames/rate`; the drift is the slope of their **difference** `d = r_in − r_out`, as the
/// **median of lagged slopes** `(d_k − d_{k−L}) / (t_k − t_{k−L})` over the last two minutes
/// (L = 3 s).
///
/// Why the difference: an audio server under load falls behind and catches up — on the rig in
/// CI both streams' residuals ramped by 3 ms over 8 s and snapped back, over and over — and a
/// per-device rate fit reads that as hundreds of ppm (CI saw a reported 271 ppm between two
/// clocks that do not drift at all). Devices served by one scheduler move together, so the
/// difference cancels it; devices on separate clocks keep their true slope in it.
/// Why the median: a step in `d` (one host re-buffered alone) touches only the L slopes that
/// straddle it; one over 1 ms between consecutive blocks starts a new segment at once. Nothing
/// is reported until 10 s of slopes exist. Steps the engine knows of (xruns, overruns) need
/// [`break_input`](Self::break_input) / [`break_all`](Self::break_all). All storage is
/// allocated by [`new`](Self::new); [`add`](Self::add) never allocates.
#[derive(Debug, Clone)]
pub struct DriftMeter {
    input: BlockMin,
    output: BlockMin,
    block_s: f64,
    block_start: Option<f64>,
    /// The current segment's last `LAG + 1` block points `(t, d)`, a ring (`points_len` valid).
    points: Vec<(f64, f64)>,
    points_next: usize,
    points_len: usize,
    /// The lagged slopes of the last `SLOPES` blocks, a ring across segments.
    slopes: Vec<f64>,
    slopes_next: usize,
    slopes_len: usize,
    /// Scratch for the median (selection reorders it).
    scratch: Vec<f64>,
    /// The median slope of `d`, refreshed at each block.
    slope: Option<f64>,
}

/// Lag of the slopes, in blocks (3 s).
const LAG: usize = 6;
/// Slopes kept (two minutes of blocks).
const SLOPES: usize = 240;
/// Slopes needed before a drift is reported (10 s of blocks).
const MIN_SLOPES: usize = 20;
/// A block point this far off the previous one (after the slope) is a step, not jitter.
const STEP_S: f64 = 0.001;

impl DriftMeter {
    /// Nominal frame rates of the input and output streams.
    pub fn new(in_rate: f64, out_rate: f64) -> Self {
        DriftMeter {
            input: BlockMin::new(in_rate),
            output: BlockMin::new(out_rate),
            block_s: 0.5,
            block_start: None,
            points: vec![(0.0, 0.0); LAG + 1],
            points_next: 0,
            points_len: 0,
            slopes: vec![0.0; SLOPES],
            slopes_next: 0,
            slopes_len: 0,
            scratch: vec![0.0; SLOPES],
            slope: None,
        }
    }

    /// One look at both streams at time `now` (seconds): each stamp is `(time, frames so
    /// far)`; `output` is `None` until the output has started. Repeated stamps are ignored.
    pub fn add(&mut self, now: f64, input: (f64, u64), output: Option<(f64, u64)>) {
        self.input.add(input.0, input.1);
        if let Some((t, n)) = output {
            self.output.add(t, n);
        }
        let start = *self.block_start.get_or_insert(now);
        if now - start < self.block_s {
            return;
        }
        self.block_start = Some(now);
        let (i, o) = (self.input.min.take(), self.output.min.take());
        if let (Some(i), Some(o)) = (i, o) {
            self.add_point(now, i - o);
        }
    }

    fn add_point(&mut self, t: f64, d: f64) {
        let n = self.points.len();
        if self.points_len > 0 {
            let (tp, dp) = self.points[(self.points_next + n - 1) % n];
            let slope = self.slope.unwrap_or(0.0);
            if (d - dp - slope * (t - tp)).abs() > STEP_S {
                // A step the engine was not told of: no slope may straddle it.
                self.points_len = 0;
                self.points_next = 0;
            }
        }
        if self.points_len == n {
            // The oldest point is the one about to be overwritten: L blocks back.
            let (t0, d0) = self.points[self.points_next];
            if t > t0 {
                self.slopes[self.slopes_next] = (d - d0) / (t - t0);
                self.slopes_next = (self.slopes_next + 1) % SLOPES;
                self.slopes_len = (self.slopes_len + 1).min(SLOPES);
                self.refresh();
            }
        }
        self.points[self.points_next] = (t, d);
        self.points_next = (self.points_next + 1) % n;
        self.points_len = (self.points_len + 1).min(n);
    }

    fn refresh(&mut self) {
        if self.slopes_len < MIN_SLOPES {
            return;
        }
        let m = self.slopes_len;
        let s = &mut self.scratch[..m];
        s.copy_from_slice(&self.slopes[..m]);
        let (lower, &mut hi, _) = s.select_nth_unstable_by(m / 2, f64::total_cmp);
        let med = if m % 2 == 1 {
            hi
        } else {
            0.5 * (lower.iter().copied().fold(f64::NEG_INFINITY, f64::max) + hi)
        };
        self.slope = Some(med.clamp(-2e-3, 2e-3));
    }

    fn new_segment(&mut self) {
        self.block_start = None;
        self.points_len = 0;
        self.points_next = 0;
    }

    /// The input's frame count may have stepped (an overrun): keep the slopes, start a new
    /// offset.
    pub fn break_input(&mut self) {
        self.input.restart();
        self.output.min = None;
        self.new_segment();
    }

    /// Both frame counts may have stepped (an xrun).
    pub fn break_all(&mut self) {
        self.input.restart();
        self.output.restart();
        self.new_segment();
    }

    /// Drift, ppm: positive when the input delivers faster than the output consumes. An input
    /// at `rate·(1 + εi)` gives `r_in` the slope `−εi`, so `d` has the slope `εo − εi`.
    /// `None` until enough blocks are in.
    pub fn drift_ppm(&self) -> Option<f64> {
        self.slope.map(|s| -s * 1e6)
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
    /// Two devices with 10 ms callbacks, the input's clock off by `eps` from the output's,
    /// watched by a worker every 5 ms for `seconds`. Both are served by one scheduler that
    /// falls behind by `ramp` seconds over 8 s and catches up at once, over and over (what
    /// a busy PulseAudio does); on top, 5 % of the callbacks run late by up to 30 ms, the rest
    /// by up to 1 ms, each device on its own. An xrun at 5 s (960 frames lost on both
    /// streams, reported) and `shifts` = (from, extra lateness of the input alone, unreported).
    /// Returns every drift reported.
    fn devices(eps: f64, seconds: f64, ramp: f64, shifts: &[(f64, f64)]) -> Vec<f64> {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut jitter = move || {
            if next() < 0.05 {
                next() * 0.03
            } else {
                next() * 0.001
            }
        };
        let server = |t: f64| ramp * (t % 8.0) / 8.0;
        let mut m = DriftMeter::new(48_000.0, 48_000.0);
        let period = 480u64;
        let (rate_in, rate_out) = (48_000.0 * (1.0 + eps), 48_000.0);
        let (mut k_in, mut k_out, mut lost) = (0u64, 0u64, 0u64);
        let (mut st_in, mut st_out) = ((0.0, 0u64), (0.0, 0u64));
        let mut xrun_done = false;
        let mut out = Vec::new();
        let mut now = 0.0;
        while now < seconds {
            now += 0.005;
            // Callbacks due by now, each stamped when it ran.
            loop {
                let due = ((k_in + 1) * period) as f64 / rate_in;
                let shift: f64 = shifts
                    .iter()
                    .filter(|(at, _)| due >= *at)
                    .map(|s| s.1)
                    .sum();
                let ran = due + server(due) + jitter() + shift;
                if ran > now {
                    break;
                }
                k_in += 1;
                st_in = (ran, k_in * period - lost);
            }
            loop {
                let due = ((k_out + 1) * period) as f64 / rate_out;
                let ran = due + server(due) + jitter();
                if ran > now {
                    break;
                }
                k_out += 1;
                st_out = (ran, k_out * period - lost);
            }
            if !xrun_done && now >= 5.0 {
                xrun_done = true;
                lost = 960;
                m.break_all();
            }
            m.add(now, st_in, Some(st_out));
            if let Some(d) = m.drift_ppm() {
                out.push(d);
            }
        }
        out
    }

    fn worst(est: &[f64], eps: f64) -> f64 {
        est.iter()
            .map(|d| (d - eps * 1e6).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn late_callbacks_do_not_move_the_drift_but_a_clock_error_does() {
        for eps in [0.0, 150e-6, -150e-6] {
            let est = devices(eps, 30.0, 0.0, &[]);
            // Reported from about 19 s on (the xrun at 5 s, 1 s settling, 3 s lag, 10 s of
            // slopes).
            assert!(est.len() > 1500, "{} estimates", est.len());
            let w = worst(&est, eps);
            eprintln!("true {} ppm: off by up to {w:.1} ppm", eps * 1e6);
            assert!(w < 15.0, "true {} ppm: off by up to {w:.1} ppm", eps * 1e6);
        }
    }

    #[test]
    fn a_server_falling_behind_and_catching_up_is_not_drift() {
        for eps in [0.0, 80e-6] {
            let est = devices(eps, 60.0, 0.003, &[]);
            assert!(est.len() > 7000, "{} estimates", est.len());
            let w = worst(&est, eps);
            eprintln!("true {} ppm: off by up to {w:.1} ppm", eps * 1e6);
            assert!(w < 15.0, "true {} ppm: off by up to {w:.1} ppm", eps * 1e6);
        }
    }

    #[test]
    fn unreported_rebuffering_of_one_device_is_not_drift() {
        // The input alone moves its buffering by 2.5 ms, −1.5 ms, 2.9 ms and 0.9 ms (under
        // the step threshold).
        let shifts = [
            (12.0, 0.0025),
            (25.0, -0.0015),
            (40.0, 0.0029),
            (50.0, 0.0009),
        ];
        for eps in [0.0, -80e-6] {
            let est = devices(eps, 60.0, 0.0, &shifts);
            assert!(est.len() > 7000, "{} estimates", est.len());
            let w = worst(&est, eps);
            eprintln!("true {} ppm: off by up to {w:.1} ppm", eps * 1e6);
            assert!(w < 20.0, "true {} ppm: off by up to {w:.1} ppm", eps * 1e6);
        }
    }
}
