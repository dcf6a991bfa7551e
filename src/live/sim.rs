//! A simulated clock for the live core: two virtual devices with their own (slightly wrong)
//! rates and periods, and the worker waking on its own timer, all driven in event order
//! without real time passing. Used by the drift and no-allocation tests.

use super::core::{InputEnd, OutputEnd, Processor, Worker};

/// A virtual device: nominal rate, actual rate (its clock error) and callback period.
#[derive(Debug, Clone, Copy)]
pub struct VirtualDevice {
    pub actual_rate: f64,
    pub period_frames: usize,
    pub channels: usize,
}

/// Drives the three parts for `seconds` of simulated time.
///
/// `source(first_frame_index, buf)` fills an input callback's interleaved frames; the frame with
/// global index `i` is *captured* at `i / input.actual_rate` seconds.
/// `sink(play_time_of_first_frame, buf)` receives each output callback's frames; frame `j` of
/// the buffer *plays* at `play_time + j / output.actual_rate`.
#[allow(clippy::too_many_arguments)]
pub fn run<P: Processor>(
    input: VirtualDevice,
    output: VirtualDevice,
    worker_interval_s: f64,
    seconds: f64,
    inp: &mut InputEnd,
    worker: &mut Worker<P>,
    out: &mut OutputEnd,
    source: impl FnMut(u64, &mut [f32]),
    sink: impl FnMut(f64, &[f32]),
) {
    run_late(
        input,
        output,
        worker_interval_s,
        seconds,
        (inp, worker, out),
        source,
        sink,
        |_, _| 0.0,
    )
}

/// [`run`] on a loaded machine: `late(device, k)` delays callback `k` of the input (`device` 0),
/// the output (1) or the worker's wake-up (2) by that many seconds of scheduling lateness. The
/// audio itself keeps its clock (capture and play times do not move); only the instants at
/// which the code runs, and the timestamps it sees, do. Each thread stays in order.
#[allow(clippy::too_many_arguments)]
pub fn run_late<P: Processor>(
    input: VirtualDevice,
    output: VirtualDevice,
    worker_interval_s: f64,
    seconds: f64,
    (inp, worker, out): (&mut InputEnd, &mut Worker<P>, &mut OutputEnd),
    mut source: impl FnMut(u64, &mut [f32]),
    mut sink: impl FnMut(f64, &[f32]),
    mut late: impl FnMut(usize, u64) -> f64,
) {
    let mut ibuf = vec![0.0f32; input.period_frames * input.channels];
    let mut obuf = vec![0.0f32; output.period_frames * output.channels];
    let (mut ki, mut ko, mut kw) = (1u64, 0u64, 0u64);
    // Start the output half a period after the input, like two unrelated devices.
    let out_phase = 0.37 * output.period_frames as f64 / output.actual_rate;
    let t_in = |k: u64| (k * input.period_frames as u64) as f64 / input.actual_rate;
    let t_out = |k: u64| out_phase + (k * output.period_frames as u64) as f64 / output.actual_rate;
    let t_w = |k: u64| 0.11e-3 + k as f64 * worker_interval_s;
    // When each thread runs next: its nominal time plus lateness, never before its last run.
    let mut last = [0.0f64; 3];
    let mut at = |dev: usize, nominal: f64, k: u64, last: &mut [f64; 3]| {
        let t = (nominal + late(dev, k).max(0.0)).max(last[dev]);
        last[dev] = t;
        t
    };
    let mut a = at(0, t_in(ki), ki, &mut last);
    let mut b = at(1, t_out(ko), ko, &mut last);
    let mut c = at(2, t_w(kw), kw, &mut last);
    loop {
        let t = a.min(b).min(c);
        if t > seconds {
            break;
        }
        if t == a {
            source((ki - 1) * input.period_frames as u64, &mut ibuf);
            inp.push(&ibuf, (t * 1e9) as u64);
            ki += 1;
            a = at(0, t_in(ki), ki, &mut last);
        } else if t == b {
            out.pull(&mut obuf, (t * 1e9) as u64);
            // The samples play on the device clock, whenever the callback ran.
            sink(t_out(ko), &obuf);
            ko += 1;
            b = at(1, t_out(ko), ko, &mut last);
        } else {
            worker.step((t * 1e9) as u64);
            kw += 1;
            c = at(2, t_w(kw), kw, &mut last);
        }
    }
}
