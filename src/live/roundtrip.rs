//! Measuring a device round trip: a chirp played on an output that returns on an input (a
//! loopback cable, a null sink and its monitor), found again by cross-correlation, with both
//! streams' callbacks put on one monotonic clock. `specgate latency --input --output` reports
//! it; the probe and the clock arithmetic are here so they can be tested without devices.

#[cfg(feature = "device")]
use crate::live::device::DeviceError;
use serde::Serialize;

/// A device round trip (output → input loopback, measured with a chirp) and the latency a
/// `specgate run` between the same two devices would have. Times in ms.
#[derive(Debug, Clone, Serialize)]
pub struct RoundTrip {
    pub input: String,
    pub output: String,
    pub rate: u32,
    /// Callback periods the devices were opened with (10 ms when the host picks).
    pub input_period_ms: f64,
    pub output_period_ms: f64,
    /// The streams measured: the ones `run` opens between these devices (e.g. `specgate's own
    /// PipeWire streams`, `cpal's ALSA streams`; see `device::stream_layer`).
    pub streams: String,
    /// Both devices' callbacks come in lock-step on one clock (PipeWire, JACK): `run` then
    /// needs one period of cushion, not two.
    pub lock_step: bool,
    /// Output callback → (devices, loopback) → input callback, measured on one clock.
    pub device_ms: f64,
    /// Normalised correlation of the returned chirp with the one played (1 = identical shape).
    pub correlation: f64,
    /// What the host reports (capture → input callback, output callback → playback), if any.
    pub host_capture_ms: Option<f64>,
    pub host_playback_ms: Option<f64>,
    pub algorithmic_ms: f64,
    /// The jitter cushion `run` holds by default between the two callbacks.
    pub cushion_ms: f64,
    /// algorithmic + cushion + device: `specgate run --input IN --output OUT` end to end.
    pub run_total_ms: f64,
    /// Xruns in the measurement reported (always 0: one with xruns is discarded).
    pub xruns: u64,
    /// The clean measurements of `device_ms` (the report is their median), ms.
    pub measurements_ms: Vec<f64>,
    /// Measurements discarded (xruns, weak correlation, a delay that is not positive).
    pub discarded: usize,
}

impl RoundTrip {
    /// Completes the report for a pipeline with `algorithmic_ms` of latency and a hop of
    /// `hop_s`: the cushion `run` would hold between these devices (the same function `run`
    /// uses) and the end-to-end total.
    pub fn with_algorithmic(mut self, algorithmic_ms: f64, hop_s: f64) -> RoundTrip {
        let known = |ms: f64| (ms > 0.0).then_some(ms * 1e-3);
        let cushion_s = crate::live::core::cushion_for_devices(
            known(self.input_period_ms),
            known(self.output_period_ms),
            self.lock_step,
            hop_s,
            self.rate,
        );
        self.algorithmic_ms = algorithmic_ms;
        self.cushion_ms = cushion_s * 1e3;
        self.run_total_ms = self.algorithmic_ms + self.cushion_ms + self.device_ms;
        self
    }
}

/// The probe: a logarithmic sweep, `f0` → `f1` Hz over `dur_s`, amplitude 0.5, with 5 ms
/// raised-cosine fades so the ends do not click.
pub fn log_chirp(rate: u32, f0: f64, f1: f64, dur_s: f64) -> Vec<f32> {
    let n = (dur_s * rate as f64).round() as usize;
    let k = (f1 / f0).ln();
    let fade = (0.005 * rate as f64) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let phase = std::f64::consts::TAU * f0 * dur_s / k * ((t / dur_s * k).exp() - 1.0);
            let edge = i.min(n - 1 - i);
            let g = if edge < fade {
                0.5 - 0.5 * (std::f64::consts::PI * edge as f64 / fade as f64).cos()
            } else {
                1.0
            };
            (0.5 * g * phase.sin()) as f32
        })
        .collect()
}

/// Where `pat` best matches in `sig` (FFT cross-correlation, largest |value|), and the
/// normalised correlation there: Σ pat·sig[lag..] / (‖pat‖ ‖sig[lag..lag+len]‖), in [−1, 1].
pub fn locate(sig: &[f32], pat: &[f32]) -> Option<(usize, f64)> {
    use rustfft::{num_complex::Complex, FftPlanner};
    if pat.is_empty() || sig.len() < pat.len() {
        return None;
    }
    let n = (sig.len() + pat.len()).next_power_of_two();
    let mut planner = FftPlanner::<f64>::new();
    let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let mut a: Vec<Complex<f64>> = (0..n)
        .map(|i| Complex::new(sig.get(i).map_or(0.0, |v| *v as f64), 0.0))
        .collect();
    let mut b: Vec<Complex<f64>> = (0..n)
        .map(|i| Complex::new(pat.get(i).map_or(0.0, |v| *v as f64), 0.0))
        .collect();
    fwd.process(&mut a);
    fwd.process(&mut b);
    for (x, y) in a.iter_mut().zip(&b) {
        *x *= y.conj();
    }
    inv.process(&mut a);
    let lags = sig.len() - pat.len() + 1;
    let lag = (0..lags).max_by(|&i, &j| a[i].re.abs().total_cmp(&a[j].re.abs()))?;
    let dot: f64 = pat
        .iter()
        .zip(&sig[lag..])
        .map(|(p, s)| *p as f64 * *s as f64)
        .sum();
    let e = |x: &[f32]| x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    let den = e(pat) * e(&sig[lag..lag + pat.len()]);
    Some((lag, if den > 0.0 { dot / den } else { 0.0 }))
}

/// The stream-start time (ns) that maps callbacks to frames: the median over the settled
/// callbacks (the first quarter, with the start-up fill, is skipped) of `t − frame/rate`.
pub fn clock_offset_ns(callbacks: &[(u64, u64)], rate: u32) -> Option<f64> {
    let mut v: Vec<f64> = callbacks[callbacks.len() / 4..]
        .iter()
        .map(|(f, t)| *t as f64 - *f as f64 * 1e9 / rate as f64)
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

/// Input callbacks as (frames before this block, callback time): for devices in lock-step
/// (one graph cycle), where a block's frames come from the same cycle as the output written
/// beside it, so there is no capture time a block length before the callback. Timed by their
/// ends instead, a chirp that returns within the cycle it was played in (specgate's own PipeWire
/// streams through a sink's monitor) would read one period *before* it was sent.
pub fn block_starts(callbacks: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut before = 0;
    callbacks
        .iter()
        .map(|&(end, t)| (std::mem::replace(&mut before, end), t))
        .collect()
}

/// Silence before the chirp and the chirp's band and length.
#[cfg(feature = "device")]
const LEAD_S: f64 = 0.3;
#[cfg(feature = "device")]
const CHIRP: (f64, f64, f64) = (100.0, 8000.0, 0.2);
/// Recording kept after the chirp starts: room for a round trip of about a second.
#[cfg(feature = "device")]
const AFTER_S: f64 = 1.2;
/// Clean measurements wanted (the median is reported), and attempts allowed for them.
#[cfg(feature = "device")]
const GOOD: usize = 3;
#[cfg(feature = "device")]
const ATTEMPTS: usize = 20;
/// Normalised correlation at or below which the chirp did not come back.
#[cfg(feature = "device")]
const MIN_CORRELATION: f64 = 0.5;

/// Plays a chirp on `output` after 300 ms of silence, records `input`, and finds the chirp by
/// cross-correlation. The delay is measured from the output callback that wrote the chirp's
/// first sample to the input callback that delivered it, with both streams' callbacks put on
/// one monotonic clock, so it is what the devices (and the loopback) add between `run`'s
/// callbacks.
/// The device part of the report: `algorithmic_ms`, `cushion_ms` and `run_total_ms` are 0 until
/// [`RoundTrip::with_algorithmic`] fills them. Progress lines go to `log`.
#[cfg(feature = "device")]
pub fn measure(
    rate: u32,
    input: &str,
    output: &str,
    log: &mut dyn FnMut(&str),
) -> Result<RoundTrip, DeviceError> {
    use crate::live::device;
    let out = device::open(None, output, false, Some(rate))?;
    let rate = out.config.sample_rate;
    let inp = device::open(None, input, true, Some(rate))?;
    let chirp = log_chirp(rate, CHIRP.0, CHIRP.1.min(0.45 * rate as f64), CHIRP.2);
    let lead = (LEAD_S * rate as f64) as usize;
    let mut play = vec![0.0f32; lead];
    play.extend_from_slice(&chirp);
    log(&format!(
        "round trip: chirp {}–{} Hz on {} → {} ({} Hz, out {} ch, in {} ch)",
        CHIRP.0, CHIRP.1, out.id, inp.id, rate, out.config.channels, inp.config.channels
    ));
    // Each measurement is checked: an xrun (a torn chirp or a callback clock that slipped), a
    // weak correlation, or a delay that is not positive is discarded and measured again. The
    // report is the median of GOOD clean measurements (fewer if attempts run out).
    let lock_step = device::one_clock(&inp, &out);
    let mut good: Vec<(f64, f64, u64, u64)> = Vec::new();
    let mut discarded: Vec<String> = Vec::new();
    for attempt in 1..=ATTEMPTS {
        if good.len() == GOOD {
            break;
        }
        let rec = device::play_and_record(&inp, &out, play.clone(), AFTER_S)?;
        let (lag, ncc) = locate(&rec.input, &chirp).ok_or_else(|| {
            DeviceError::RoundTrip("no loopback signal: the recording is too short".into())
        })?;
        let why = if rec.xruns > 0 {
            Some(format!("{} xrun(s)", rec.xruns))
        } else if ncc.abs() <= MIN_CORRELATION {
            // No xrun and nothing came back: not a loopback at all.
            return Err(DeviceError::RoundTrip(format!(
                "no loopback signal from {} on {} (normalised correlation {ncc:.2} ≤ {MIN_CORRELATION}): \
                 does the output's audio return on the input?",
                out.id, inp.id,
            )));
        } else {
            None
        };
        let device_ms = why.is_none().then(|| -> Option<f64> {
            let a_in = if lock_step {
                clock_offset_ns(&block_starts(&rec.in_callbacks), rate)?
            } else {
                clock_offset_ns(&rec.in_callbacks, rate)?
            };
            let a_out = clock_offset_ns(&rec.out_callbacks, rate)?;
            let sent = (rec.play_start_frame + lead as u64) as f64;
            let t_out = a_out + sent * 1e9 / rate as f64;
            let t_in = a_in + lag as f64 * 1e9 / rate as f64;
            Some((t_in - t_out) * 1e-6)
        });
        let why = match (why, device_ms.flatten()) {
            (Some(w), _) => w,
            (None, None) => "a stream ran no callbacks".into(),
            (None, Some(d)) if d <= 0.0 => format!("a device delay of {d:.2} ms (not positive)"),
            (None, Some(d)) => {
                good.push((d, ncc, rec.host_capture_ns, rec.host_playback_ns));
                continue;
            }
        };
        log(&format!(
            "round trip: measurement {attempt} discarded ({why}); measuring again"
        ));
        discarded.push(why);
    }
    if good.is_empty() {
        return Err(DeviceError::RoundTrip(format!(
            "no clean round-trip measurement from {} on {} in {ATTEMPTS} attempts: {}",
            out.id,
            inp.id,
            discarded.join("; ")
        )));
    }
    good.sort_by(|a, b| a.0.total_cmp(&b.0));
    let measurements_ms: Vec<f64> = good.iter().map(|g| g.0).collect();
    let (device_ms, ncc, host_capture_ns, host_playback_ns) = good[good.len() / 2];
    let period = |o: &device::Opened| {
        o.period_frames()
            .map_or(0.010, |p| p as f64 / rate as f64)
            .max(0.001)
    };
    let host = |ns: u64| (ns > 0).then_some(ns as f64 * 1e-6);
    Ok(RoundTrip {
        input: inp.id.clone(),
        output: out.id.clone(),
        rate,
        input_period_ms: period(&inp) * 1e3,
        output_period_ms: period(&out) * 1e3,
        streams: match (device::stream_layer(&inp), device::stream_layer(&out)) {
            (i, o) if i == o => o,
            (i, o) => format!("{i} (input), {o} (output)"),
        },
        lock_step,
        device_ms,
        correlation: ncc,
        host_capture_ms: host(host_capture_ns),
        host_playback_ms: host(host_playback_ns),
        algorithmic_ms: 0.0,
        cushion_ms: 0.0,
        run_total_ms: 0.0,
        xruns: 0,
        measurements_ms,
        discarded: discarded.len(),
    })
}
