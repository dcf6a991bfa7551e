//! `specgate latency`: the engine's algorithmic latency, measured with an impulse through the
//! real [`Engine`], and its per-hop compute time against the hop deadline.
//!
//! The impulse runs with the gate open (`reduction_db = 0`): the full STFT analysis → spectrum →
//! WOLA synthesis path, with a unit mask, so the output is exactly the delayed impulse. The
//! measured delay must equal `Engine::latency_samples()`; if not, the command fails.
//!
//! With `--input DEV --output DEV` naming a loopback (an output whose audio returns on an
//! input, like a null sink and its monitor), it also measures the device round trip with a
//! chirp and reports what a `specgate run` between those devices would add up to.

use super::common::FilterOptions;
use crate::engine::{Engine, SignalKind};
use crate::params::{self, Params};
use anyhow::{bail, Context};
use serde::Serialize;
use std::time::Instant;

/// Measure latency and per-hop compute time of a preset (or of every preset with --all).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub filter: FilterOptions,
    /// Sample rate (`48000`, `48k`).
    #[arg(long, default_value = "48000", value_parser = crate::units::parse_rate)]
    pub rate: u32,
    /// Measure every preset (flags and --config still apply on top of each).
    #[arg(long)]
    pub all: bool,
    /// Hops to time (after a warm-up).
    #[arg(long, default_value_t = 5000)]
    pub hops: usize,
    /// Print JSON (one object; an array with --all) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Capture device of a loopback (e.g. a null sink's monitor): measure the device round trip.
    #[arg(long = "input", value_name = "DEV", requires = "output_device")]
    pub input_device: Option<String>,
    /// Playback device whose audio returns on --input.
    #[arg(long = "output", value_name = "DEV", requires = "input_device")]
    pub output_device: Option<String>,
}

/// Per-hop processing time, microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct ComputeTimes {
    pub p50_us: f64,
    pub p99_us: f64,
    pub p99_9_us: f64,
    pub max_us: f64,
}

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

/// Everything `latency` reports for one preset.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub preset: String,
    pub rate: u32,
    pub frame_len: usize,
    pub hop: usize,
    pub fft_len: usize,
    pub window: String,
    pub algorithmic_latency_samples: usize,
    pub algorithmic_latency_ms: f64,
    /// Where the impulse came out (equals the above, or the command fails).
    pub impulse_peak_samples: usize,
    pub hop_deadline_us: f64,
    pub hops_timed: usize,
    pub compute: ComputeTimes,
    /// Worst hop as a fraction of the deadline.
    pub max_load: f64,
    /// With `--input DEV --output DEV`: the measured loopback (see [`measure_device_round_trip`]);
    /// `null` otherwise.
    pub device_round_trip: Option<RoundTrip>,
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
#[cfg(feature = "device")]
pub fn measure_device_round_trip(
    params: &Params,
    rate: u32,
    input: &str,
    output: &str,
) -> anyhow::Result<RoundTrip> {
    use crate::live::device;
    let out = device::open(None, output, false, Some(rate))
        .with_context(|| format!("output device '{output}'"))?;
    let rate = out.config.sample_rate;
    let inp = device::open(None, input, true, Some(rate))
        .with_context(|| format!("input device '{input}'"))?;
    let chirp = log_chirp(rate, CHIRP.0, CHIRP.1.min(0.45 * rate as f64), CHIRP.2);
    let lead = (LEAD_S * rate as f64) as usize;
    let mut play = vec![0.0f32; lead];
    play.extend_from_slice(&chirp);
    eprintln!(
        "round trip: chirp {}–{} Hz on {} → {} ({} Hz, out {} ch, in {} ch)",
        CHIRP.0, CHIRP.1, out.id, inp.id, rate, out.config.channels, inp.config.channels
    );
    // Each measurement is checked: an xrun (a torn chirp or a callback clock that slipped), a
    // weak correlation, or a delay that is not positive is discarded and measured again. The
    // report is the median of GOOD clean measurements (fewer if attempts run out).
    let mut good: Vec<(f64, f64, u64, u64)> = Vec::new();
    let mut discarded: Vec<String> = Vec::new();
    for attempt in 1..=ATTEMPTS {
        if good.len() == GOOD {
            break;
        }
        let rec = device::play_and_record(&inp, &out, play.clone(), AFTER_S)?;
        let (lag, ncc) = locate(&rec.input, &chirp)
            .ok_or_else(|| anyhow::anyhow!("no loopback signal: the recording is too short"))?;
        let why = if rec.xruns > 0 {
            Some(format!("{} xrun(s)", rec.xruns))
        } else if ncc.abs() <= MIN_CORRELATION {
            // No xrun and nothing came back: not a loopback at all.
            bail!(
                "no loopback signal from {} on {} (normalised correlation {ncc:.2} ≤ {MIN_CORRELATION}): \
                 does the output's audio return on the input?",
                out.id,
                inp.id,
            );
        } else {
            None
        };
        let device_ms = why.is_none().then(|| -> Option<f64> {
            let a_in = clock_offset_ns(&rec.in_callbacks, rate)?;
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
        eprintln!("round trip: measurement {attempt} discarded ({why}); measuring again");
        discarded.push(why);
    }
    if good.is_empty() {
        bail!(
            "no clean round-trip measurement from {} on {} in {ATTEMPTS} attempts: {}",
            out.id,
            inp.id,
            discarded.join("; ")
        );
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
    RoundTrip {
        input: inp.id.clone(),
        output: out.id.clone(),
        rate,
        input_period_ms: period(&inp) * 1e3,
        output_period_ms: period(&out) * 1e3,
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
    }
    .for_params(params)
}

impl RoundTrip {
    /// The same device measurement with `p`'s algorithmic latency and `run`'s default cushion
    /// (which depends on the hop), so `--all` measures the devices once.
    pub fn for_params(mut self, p: &Params) -> anyhow::Result<RoundTrip> {
        let rate = self.rate;
        // `run`'s own default (the same function), from the two devices' periods and the hop.
        let hop = crate::engine::stft_config(p, rate).hop;
        let known = |ms: f64| (ms > 0.0).then_some(ms * 1e-3);
        let cushion_s = crate::live::core::cushion_for_devices(
            known(self.input_period_ms),
            known(self.output_period_ms),
            hop as f64 / rate as f64,
            rate,
        );
        let (_, lat) = impulse_delay(p, rate)?;
        self.algorithmic_ms = lat as f64 * 1e3 / rate as f64;
        self.cushion_ms = cushion_s * 1e3;
        self.run_total_ms = self.algorithmic_ms + self.cushion_ms + self.device_ms;
        Ok(self)
    }
}

/// Without the `device` feature there are no devices to measure.
#[cfg(not(feature = "device"))]
pub fn measure_device_round_trip(
    _params: &Params,
    _rate: u32,
    input: &str,
    output: &str,
) -> anyhow::Result<RoundTrip> {
    bail!(
        "device round trip ({output} → {input}) needs audio device support: this build has no \
         `device` feature"
    )
}

/// Prints the round-trip breakdown (stdout, after the preset table).
fn print_round_trip(preset: &str, r: &RoundTrip) {
    let opt = |v: Option<f64>| v.map_or("not reported".to_string(), |v| format!("{v:9.2} ms"));
    println!();
    println!(
        "device round trip ({preset}): {} → {} at {} Hz, periods out {:.2} ms / in {:.2} ms",
        r.output, r.input, r.rate, r.output_period_ms, r.input_period_ms
    );
    println!(
        "  {:<40} {:9.2} ms",
        "algorithmic (engine impulse)", r.algorithmic_ms
    );
    println!(
        "  {:<40} {:9.2} ms   (correlation {:.3})",
        "device round trip (measured, chirp)", r.device_ms, r.correlation
    );
    println!(
        "  {:<40} {}",
        "  host-reported capture delay",
        opt(r.host_capture_ms)
    );
    println!(
        "  {:<40} {}",
        "  host-reported playback delay",
        opt(r.host_playback_ms)
    );
    println!(
        "  {:<40} {:9.2} ms",
        "run's default jitter cushion", r.cushion_ms
    );
    println!(
        "  {:<40} {:9.2} ms",
        "total for `specgate run` (alg+dev+cushion)", r.run_total_ms
    );
    println!(
        "  {:<40} {}   ({} discarded)",
        "clean measurements (median reported)",
        r.measurements_ms
            .iter()
            .map(|m| format!("{m:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        r.discarded
    );
}

/// The delay of an impulse through an open-gate engine with `p`'s geometry.
pub fn impulse_delay(p: &Params, rate: u32) -> anyhow::Result<(usize, usize)> {
    let mut open = *p;
    // Nearly open (every gain within 1.2e-7 of 1) so the impulse goes through the STFT; exactly
    // 0 dB takes the engine's bit-exact dry path, whose delay is the API value by construction.
    open.reduction_db = 1e-6;
    open.bypass = false;
    open.learn = 0.0;
    let mut e = Engine::new(&open, rate, 1, SignalKind::Real)?;
    let lat = e.latency_samples();
    let n = 3 * lat + 4 * e.stft_config().frame_len + 64;
    let at = e.stft_config().frame_len + 7; // away from the start, not frame-aligned
    let mut x = vec![0.0f32; n];
    x[at] = 1.0;
    let mut y = vec![0.0f32; n];
    e.process(&x, &mut y);
    let (peak, v) =
        y.iter().enumerate().fold(
            (0, 0.0f32),
            |a, (i, v)| if v.abs() > a.1 { (i, v.abs()) } else { a },
        );
    if v < 0.5 {
        bail!("the impulse did not come through the open gate (peak {v})");
    }
    Ok((peak - at, lat))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Times `hops` calls of `Engine::process` with one hop of audio each (speech-band noise and a
/// tone), after a warm-up of 200 hops.
pub fn time_hops(p: &Params, rate: u32, hops: usize) -> anyhow::Result<(f64, Vec<f64>)> {
    let mut e = Engine::new(p, rate, 1, SignalKind::Real)?;
    let hop = e.stft_config().hop;
    let warm = 200;
    let total = (hops + warm) * hop;
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let x: Vec<f32> = (0..total)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let noise = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            0.05 * noise + 0.2 * (i as f32 * 0.063).sin()
        })
        .collect();
    let mut y = vec![0.0f32; hop];
    let mut times = Vec::with_capacity(hops);
    for (k, chunk) in x.chunks_exact(hop).enumerate() {
        let t = Instant::now();
        e.process(chunk, &mut y);
        let dt = t.elapsed().as_secs_f64() * 1e6;
        if k >= warm {
            times.push(dt);
        }
    }
    std::hint::black_box(&y);
    times.sort_by(|a, b| a.total_cmp(b));
    Ok((hop as f64 / rate as f64 * 1e6, times))
}

/// Measures one parameter set.
pub fn measure(name: &str, p: &Params, rate: u32, hops: usize) -> anyhow::Result<LatencyReport> {
    let cfg = crate::engine::stft_config(p, rate);
    let (delay, lat) = impulse_delay(p, rate)?;
    if delay != lat {
        bail!(
            "LATENCY MISMATCH for preset {name} at {rate} Hz: the impulse came out after {delay} \
             samples but the engine reports latency_samples() = {lat}"
        );
    }
    let (deadline, times) = time_hops(p, rate, hops.max(1))?;
    let compute = ComputeTimes {
        p50_us: percentile(&times, 0.5),
        p99_us: percentile(&times, 0.99),
        p99_9_us: percentile(&times, 0.999),
        max_us: times.last().copied().unwrap_or(0.0),
    };
    Ok(LatencyReport {
        preset: name.to_string(),
        rate,
        frame_len: cfg.frame_len,
        hop: cfg.hop,
        fft_len: cfg.fft_len,
        window: cfg.window.to_string(),
        algorithmic_latency_samples: lat,
        algorithmic_latency_ms: lat as f64 * 1000.0 / rate as f64,
        impulse_peak_samples: delay,
        hop_deadline_us: deadline,
        hops_timed: times.len(),
        max_load: compute.max_us / deadline,
        compute,
        device_round_trip: None,
    })
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let names: Vec<String> = if a.all {
        params::PRESETS.iter().map(|(n, _)| n.to_string()).collect()
    } else {
        vec![a.filter.preset_name().to_string()]
    };
    let mut reports = Vec::new();
    let mut measured: Option<RoundTrip> = None;
    for name in &names {
        let opts = FilterOptions {
            preset: Some(name.clone()),
            ..a.filter.clone()
        };
        let p = opts.resolve()?;
        let mut r = measure(name, &p, a.rate, a.hops).with_context(|| format!("preset {name}"))?;
        if let (Some(i), Some(o)) = (&a.input_device, &a.output_device) {
            // Measure the devices once; each preset adds its own latency and cushion.
            let rt = match &measured {
                None => measure_device_round_trip(&p, a.rate, i, o)?,
                Some(m) => RoundTrip::clone(m).for_params(&p)?,
            };
            measured = Some(rt.clone());
            r.device_round_trip = Some(rt);
        }
        reports.push(r);
    }
    if a.json {
        let s = if a.all {
            serde_json::to_string_pretty(&reports)?
        } else {
            serde_json::to_string_pretty(&reports[0])?
        };
        println!("{s}");
        return Ok(());
    }
    println!(
        "{:<8} {:>6} {:>5} {:>7} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}",
        "preset",
        "frame",
        "hop",
        "latency",
        "ms",
        "deadline",
        "p50",
        "p99",
        "p99.9",
        "max",
        "impulse",
        "load"
    );
    for r in &reports {
        println!(
            "{:<8} {:>6} {:>5} {:>7} {:>9.3} {:>8.0}µs {:>7.1}µs {:>7.1}µs {:>7.1}µs {:>7.1}µs {:>9} {:>5.1}%",
            r.preset,
            r.frame_len,
            r.hop,
            r.algorithmic_latency_samples,
            r.algorithmic_latency_ms,
            r.hop_deadline_us,
            r.compute.p50_us,
            r.compute.p99_us,
            r.compute.p99_9_us,
            r.compute.max_us,
            "= latency",
            100.0 * r.max_load
        );
    }
    eprintln!(
        "latency: impulse through the open-gate engine; compute: {} hops of one call each at {} Hz, mono (debug builds are far slower than release)",
        reports[0].hops_timed, a.rate
    );
    for r in &reports {
        if let Some(rt) = &r.device_round_trip {
            print_round_trip(&r.preset, rt);
        }
    }
    Ok(())
}
