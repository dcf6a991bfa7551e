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
    mut source: impl FnMut(u64, &mut [f32]),
    mut sink: impl FnMut(f64, &[f32]),
) {
    let mut ibuf = vec![0.0f32; input.period_frames * input.channels];
    let mut obuf = vec![0.0f32; output.period_frames * output.channels];
    let (mut ki, mut ko, mut kw) = (1u64, 0u64, 0u64);
    // Start the output half a period after the input, like two unrelated devices.
    let out_phase = 0.37 * output.period_frames as f64 / output.actual_rate;
    let t_in = |k: u64| (k * input.period_frames as u64) as f64 / input.actual_rate;
    let t_out = |k: u64| out_phase + (k * output.period_frames as u64) as f64 / output.actual_rate;
    let t_w = |k: u64| 0.11e-3 + k as f64 * worker_interval_s;
    loop {
        let (a, b, c) = (t_in(ki), t_out(ko), t_w(kw));
        let t = a.min(b).min(c);
        if t > seconds {
            break;
        }
        if t == a {
            source((ki - 1) * input.period_frames as u64, &mut ibuf);
            inp.push(&ibuf, (t * 1e9) as u64);
            ki += 1;
        } else if t == b {
            out.pull(&mut obuf, (t * 1e9) as u64);
            sink(t, &obuf);
            ko += 1;
        } else {
            worker.step((t * 1e9) as u64);
            kw += 1;
        }
    }
}
