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
use crate::live::roundtrip::{self, RoundTrip};
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

/// The device round trip between `input` and `output`, completed for `params` (see
/// [`RoundTrip::with_algorithmic`]).
#[cfg(feature = "device")]
pub fn measure_device_round_trip(
    params: &Params,
    rate: u32,
    input: &str,
    output: &str,
) -> anyhow::Result<RoundTrip> {
    let rt = roundtrip::measure(rate, input, output, &mut |l| eprintln!("{l}"))
        .with_context(|| format!("round trip {output} → {input}"))?;
    for_params(rt, params)
}

/// The same device measurement with `p`'s algorithmic latency and `run`'s default cushion
/// (which depends on the hop), so `--all` measures the devices once.
pub fn for_params(rt: RoundTrip, p: &Params) -> anyhow::Result<RoundTrip> {
    let rate = rt.rate;
    let hop = crate::engine::stft_config(p, rate).hop;
    let (_, lat) = impulse_delay(p, rate)?;
    Ok(rt.with_algorithmic(lat as f64 * 1e3 / rate as f64, hop as f64 / rate as f64))
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
    println!("  through {} (as `run` opens them)", r.streams);
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
                Some(m) => for_params(m.clone(), &p)?,
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
