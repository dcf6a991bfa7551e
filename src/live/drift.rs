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
//! The reported drift is the applied correction averaged over 10 s.
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
    /// Applied correction, low-passed over 10 s: the drift estimate.
    avg_corr: f64,
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
            avg_corr: 0.0,
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

    /// Estimated clock drift in ppm: positive when the input delivers faster than the output
    /// consumes (the resampler then shortens the stream by this much).
    pub fn drift_ppm(&self) -> f64 {
        -self.avg_corr * 1e6
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
        if self.settled {
            self.avg_corr += (self.corr - self.avg_corr) * (1.0 - (-dt / 10.0).exp());
        }
        Action::Ratio(1.0 + self.corr)
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
            assert!((c.drift_ppm() - d * 1e6).abs() < 1.0, "{}", c.drift_ppm());
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
}
