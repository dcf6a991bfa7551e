//! The live pipeline core, free of any audio API so that real device callbacks and simulated
//! ones drive the same code:
//!
//! ```text
//! InputEnd::push (input callback) → SPSC ring → Worker::step (thread) → SPSC ring → OutputEnd::pull
//!                                   [rate conv A] → Processor → [drift resampler B]
//! ```
//!
//! Rings carry f32 frames of the *processing* channel layout. Resampler A (sinc, fixed ratio)
//! exists only when the input and processing rates differ. Stage B depends on the clocks
//! ([`Clocks`]): on one clock it is an exact copy (or a fixed-ratio sinc converter when the
//! output rate differs), so an open gate or the bypass is bit-exact end to end; on two clocks
//! it is a sinc resampler that carries the drift correction (flat within 0.1 dB to 0.45·fs, see
//! [`drift_resampler`]).
//!
//! Real time: `push`, `pull` and `step` never allocate, lock, block or print; everything is sized
//! in [`build`]. Control messages arrive with `try_recv`, statistics leave with `try_send`.

use super::drift::{Action, DriftController, DriftMeter};
use crate::engine::Engine;
use crate::params::Params;
use crossbeam_channel::{Receiver, Sender};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Adjustable, Async, FixedAsync, Resampler, SincInterpolationParameters, WindowFunction,
};
use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::Arc;

/// Frames per worker processing chunk (at the processing rate).
pub const CHUNK: usize = 64;
/// Largest device callback handled in one piece (bigger callbacks are split).
pub const MAX_CALLBACK_FRAMES: usize = 8192;
/// Fade length on an underrun, frames.
const FADE: usize = 32;

/// What the worker runs: the engine, or a stand-in in tests.
pub trait Processor: Send {
    fn process(&mut self, input: &[f32], output: &mut [f32]);
    /// Algorithmic latency, frames at the processing rate.
    fn latency_frames(&self) -> usize;
    /// Applies a control message (parameters, bypass, learn).
    fn control(&mut self, _c: &Control) {}
    /// Cumulative (energy in, energy out) for the attenuation readout.
    fn energy(&self) -> (f64, f64) {
        (0.0, 0.0)
    }
}

impl Processor for Engine {
    fn process(&mut self, input: &[f32], output: &mut [f32]) {
        Engine::process(self, input, output)
    }
    fn latency_frames(&self) -> usize {
        self.latency_samples()
    }
    fn control(&mut self, c: &Control) {
        match c {
            Control::Params(p) => self.update_params(p),
            Control::Bypass(on) => self.set_bypass(*on),
            Control::Learn(s) => self.learn(*s),
            Control::Target(_) | Control::MaxCushion(_) => {}
        }
    }
    fn energy(&self) -> (f64, f64) {
        let s = self.stats();
        (s.energy_in, s.energy_out)
    }
}

/// Control messages for the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Params(Params),
    Bypass(bool),
    /// Learn the noise profile over the next N seconds.
    Learn(f64),
    /// New target for the capture-to-playback time held by the drift loop (excluding fixed
    /// delays), seconds; handled by the worker itself.
    Target(f64),
    /// New ceiling for the adaptive cushion, seconds (handled by the worker itself).
    MaxCushion(f64),
}

/// A statistics snapshot, sent by the worker about once per `stats_interval`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Peak levels over the interval, dBFS.
    pub in_peak_db: f64,
    pub out_peak_db: f64,
    /// Mean gate attenuation over the interval, dB.
    pub attenuation_db: f64,
    pub drift_ppm: f64,
    pub correction_ppm: f64,
    /// Smoothed buffered time between the callbacks, ms (never negative).
    pub buffered_ms: f64,
    /// The cushion the drift loop holds now (it grows when the machine cannot keep up), ms.
    pub cushion_ms: f64,
    /// Times the cushion grew.
    pub cushion_raises: u64,
    /// Xruns at the input end (ring overruns + host-reported input xruns).
    pub xruns_in: u64,
    /// Xruns at the output end (ring underruns and overruns + host-reported output xruns).
    pub xruns_out: u64,
    /// Output ring fill now, ms.
    pub fill_ms: f64,
    pub in_overruns: u64,
    pub out_underruns: u64,
    pub out_overruns: u64,
    /// Silence inserted / frames dropped by the controller (start-up and xrun recovery).
    pub snaps: u64,
    pub frames_out: u64,
}

/// How device channels map onto processing channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelMap {
    /// Process one channel (0-based) of the device.
    Pick(usize),
    /// Process the mean of all device channels.
    Mean,
    /// Process every channel.
    All,
}

impl ChannelMap {
    pub fn proc_channels(self, device_channels: usize) -> usize {
        match self {
            ChannelMap::All => device_channels,
            _ => 1,
        }
    }
}

/// Asks for real-time scheduling of the calling thread, which processes `period_frames` at
/// `rate` per wake-up: SCHED_FIFO (priority 50) on Linux — permitted for root or with an
/// `rtprio` limit; MMCSS on Windows and a time-constraint thread on macOS through the
/// `audio_thread_priority` crate. `Err` says why not (the audio still runs, with more risk of
/// xruns under load). Call it once, from the thread itself, outside the real-time loop.
pub fn promote_to_realtime(period_frames: u32, rate: u32) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    {
        match promote_linux(period_frames, rate) {
            0 => Ok(()),
            r => Err(format!(
                "SCHED_FIFO not permitted ({}); run as root or allow rtprio in limits.conf",
                std::io::Error::from_raw_os_error(r)
            )),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        match audio_thread_priority::promote_current_thread_to_real_time(period_frames, rate) {
            Ok(handle) => {
                // The thread stays promoted until it ends.
                std::mem::forget(handle);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// [`promote_to_realtime`] for a thread that must not allocate (an audio callback's, promoted
/// from its first callback): `true` when it is now real-time. Linux: SCHED_FIFO 50 (a syscall,
/// nothing else) unless the thread is real-time already (PipeWire's data thread runs at the
/// audio server's own priority, usually higher: it is left alone); elsewhere `false` (those
/// hosts promote their own callback threads).
pub fn promote_current_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscall on the calling thread.
        let policy = unsafe { libc::sched_getscheduler(0) };
        policy == libc::SCHED_FIFO || policy == libc::SCHED_RR || promote_linux(0, 0) == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// SCHED_FIFO at priority 50 for the calling thread; 0 or the error number. No allocation.
#[cfg(target_os = "linux")]
fn promote_linux(_period_frames: u32, _rate: u32) -> i32 {
    // SAFETY: plain syscall on the calling thread with an initialised sched_param.
    unsafe {
        let p = libc::sched_param { sched_priority: 50 };
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &p)
    }
}

/// Raises the scheduling weight of the calling thread and of every thread it starts later
/// (audio host threads included) to nice −10: not real-time, so a host thread that spins can
/// never lock other work out, but it wins the CPU against ordinary busy processes. Not −20:
/// that outranks the PulseAudio server itself (nice −11), and on the loaded rig it turned a
/// few dropouts per minute into 60–100 output xruns (10–15 % silence). Permitted for root or
/// with a `nice` limit; `Err` says why not. Unix only (elsewhere: `Ok`, nothing).
pub fn raise_priority() -> Result<(), String> {
    #[cfg(unix)]
    {
        // SAFETY: setpriority on the calling thread (Linux: PRIO_PROCESS with 0 = this thread).
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) };
        if r == 0 {
            Ok(())
        } else {
            Err(format!(
                "nice −10 not permitted ({}); run as root or allow it in limits.conf",
                std::io::Error::last_os_error()
            ))
        }
    }
    #[cfg(not(unix))]
    {
        Ok(())
    }
}

/// Monotonic nanoseconds since the first call: the clock callbacks and the worker share.
/// Lock-free after the first call (make it before starting streams).
pub fn monotonic_ns() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

/// Default jitter cushion: the time from capture to playback that the drift loop holds,
/// excluding fixed delays. A sample waits up to one input period to be delivered, the output
/// device takes a whole period at once, the worker may wake up to one interval late and needs a
/// full chunk; plus one wake interval and 2 ms of margin for scheduling jitter.
/// How often the worker wakes when idle: a quarter hop, clamped to 0.5–5 ms.
pub fn worker_wake_s(hop_s: f64) -> f64 {
    (hop_s / 4.0).clamp(0.0005, 0.005)
}

/// `specgate run`'s default cushion for two devices: their periods in seconds (`None` when the
/// host does not say: 10 ms is assumed; at least 1 ms), whether their callbacks come in
/// lock-step on one clock (see [`lock_step_cushion_s`]), the hop in seconds and the processing
/// rate. `specgate latency` uses the same function, so its predicted total matches `run`.
pub fn cushion_for_devices(
    in_period_s: Option<f64>,
    out_period_s: Option<f64>,
    lock_step: bool,
    hop_s: f64,
    proc_rate: u32,
) -> f64 {
    let period = |p: Option<f64>| p.unwrap_or(0.010).max(0.001);
    let wake = worker_wake_s(hop_s);
    if lock_step {
        return lock_step_cushion_s(
            period(in_period_s).max(period(out_period_s)),
            wake,
            proc_rate,
        );
    }
    default_cushion_s(period(in_period_s), period(out_period_s), wake, proc_rate)
}

/// The cushion when both callbacks come in the same graph cycle (PipeWire, JACK): a block
/// captured in one cycle can be played from the next, so one period replaces the two of
/// [`default_cushion_s`] (whose input and output periods are unrelated in phase); the worker's
/// wake-ups, its chunk and the 2 ms margin stay.
pub fn lock_step_cushion_s(period_s: f64, worker_interval_s: f64, proc_rate: u32) -> f64 {
    period_s + 2.0 * worker_interval_s + CHUNK as f64 / proc_rate as f64 + 0.002
}

pub fn default_cushion_s(
    in_period_s: f64,
    out_period_s: f64,
    worker_interval_s: f64,
    proc_rate: u32,
) -> f64 {
    in_period_s + out_period_s + 2.0 * worker_interval_s + CHUNK as f64 / proc_rate as f64 + 0.002
}

/// A callback's running frame total and the time of its last update, published as a pair with
/// a sequence lock (one writer: the callback; the reader retries on a torn read). Lock-free.
#[derive(Debug, Default)]
pub struct Stamp {
    seq: AtomicU64,
    t_ns: AtomicU64,
    total: AtomicU64,
}

impl Stamp {
    fn add(&self, t_ns: u64, frames: u64) {
        self.seq.fetch_add(1, AcqRel);
        self.t_ns.store(t_ns, Release);
        self.total.fetch_add(frames, Release);
        self.seq.fetch_add(1, AcqRel);
    }
    /// (time of last update in ns, total frames).
    /// Bounded: a reader with real-time priority must not spin on a writer it preempted, so
    /// after 256 torn tries it returns the last try (off by at most one callback).
    pub fn read(&self) -> (u64, u64) {
        let mut last = (0, 0);
        for _ in 0..256 {
            let s0 = self.seq.load(Acquire);
            let t = self.t_ns.load(Acquire);
            let n = self.total.load(Acquire);
            if s0 % 2 == 0 && self.seq.load(Acquire) == s0 {
                return (t, n);
            }
            last = (t, n);
            std::hint::spin_loop();
        }
        last
    }
}

/// Counters shared between the callbacks and the worker (atomics only).
#[derive(Debug, Default)]
pub struct Shared {
    /// Processing frames pushed into the input ring.
    pub input: Stamp,
    /// Frames taken from the output ring.
    pub output: Stamp,
    pub in_overruns: AtomicU64,
    pub out_underruns: AtomicU64,
    /// Time of the last output callback (ns, `monotonic_ns`), whether or not it played audio:
    /// a watchdog sees a device that stopped calling back without reporting an error.
    pub out_alive_ns: AtomicU64,
    /// Xruns reported by the audio host for the input and the output stream (counted by the
    /// device adapter's error callbacks).
    pub host_in_xruns: AtomicU64,
    pub host_out_xruns: AtomicU64,
    /// Frames the worker has pushed into the output ring in total (for pacing unclocked sources).
    pub out_pushed: AtomicU64,
    /// Set by the input side once data flows; the output side plays silence until then.
    pub started: AtomicBool,
    /// Peak |x| of the input since the worker last read it (f32 bits).
    in_peak: AtomicU32,
}

/// Whether the input and the output run on one clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clocks {
    /// The input is paced by the output (a pipe or a file, read only as fast as the output
    /// plays) and the output by the system clock (stdout, a file): nothing drifts, and the
    /// source's pacing holds the buffered time. Stage B is an exact copy (a fixed-ratio
    /// converter if the output rate differs); the drift loop never moves the ratio nor drops
    /// audio, it only pads after the source fell behind. (A real-time producer on stdin with
    /// its own clock is followed by such padding, not by resampling.)
    One,
    /// Separate clocks (an audio device at either end, or UDP, paced by its sender's clock):
    /// stage B resamples and follows the mismatch.
    Two,
}

/// Geometry of one pipeline.
#[derive(Debug, Clone, Copy)]
pub struct PipeConfig {
    pub in_rate: u32,
    pub proc_rate: u32,
    pub out_rate: u32,
    pub in_device_channels: usize,
    pub out_device_channels: usize,
    pub map: ChannelMap,
    /// Target buffered time between callbacks (the jitter cushion), seconds: where the
    /// adaptive cushion starts and the floor it shrinks back to.
    pub cushion_s: f64,
    /// Ceiling of the adaptive cushion, seconds (at most half a second: the rings hold one).
    pub max_cushion_s: f64,
    /// Statistics interval, seconds of output.
    pub stats_interval_s: f64,
    pub clocks: Clocks,
}

impl PipeConfig {
    pub fn proc_channels(&self) -> usize {
        self.map.proc_channels(self.in_device_channels)
    }
}

/// The input-callback side.
pub struct InputEnd {
    prod: HeapProd<f32>,
    dev_ch: usize,
    map: ChannelMap,
    scratch: Vec<f32>,
    shared: Arc<Shared>,
}

impl InputEnd {
    /// The counters this pipeline shares (for the device adapter's error callback).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Frames waiting in the input ring.
    pub fn queued_frames(&self) -> usize {
        self.prod.occupied_len() / self.map.proc_channels(self.dev_ch)
    }
    /// Seconds of audio waiting in both rings (used to pace unclocked sources such as a pipe).
    pub fn queued_s(&self, in_rate: u32, out_rate: u32) -> f64 {
        self.queued_frames() as f64 / in_rate as f64
            + self
                .shared
                .out_pushed
                .load(Relaxed)
                .saturating_sub(self.shared.output.read().1) as f64
                / out_rate as f64
    }

    /// Takes interleaved device frames (f32) captured up to `now_ns` (monotonic). Real-time safe.
    pub fn push(&mut self, data: &[f32], now_ns: u64) {
        let dev = self.dev_ch;
        let mut peak = 0.0f32;
        for block in data.chunks(MAX_CALLBACK_FRAMES * dev) {
            let frames = block.len() / dev;
            let n = match self.map {
                ChannelMap::All => {
                    self.scratch[..block.len()].copy_from_slice(block);
                    block.len()
                }
                ChannelMap::Pick(c) => {
                    for (o, f) in self.scratch.iter_mut().zip(block.chunks_exact(dev)) {
                        *o = f[c.min(dev - 1)];
                    }
                    frames
                }
                ChannelMap::Mean => {
                    let k = 1.0 / dev as f32;
                    for (o, f) in self.scratch.iter_mut().zip(block.chunks_exact(dev)) {
                        *o = f.iter().sum::<f32>() * k;
                    }
                    frames
                }
            };
            for x in &self.scratch[..n] {
                peak = peak.max(x.abs());
            }
            let pushed = self.prod.push_slice(&self.scratch[..n]);
            if pushed < n {
                self.shared.in_overruns.fetch_add(1, Relaxed);
            }
            let pc = n / frames.max(1);
            self.shared.input.add(now_ns, (pushed / pc.max(1)) as u64);
        }
        let old = f32::from_bits(self.shared.in_peak.load(Relaxed));
        if peak > old {
            self.shared.in_peak.store(peak.to_bits(), Relaxed);
        }
        self.shared.started.store(true, Relaxed);
    }
}

/// The output-callback side.
pub struct OutputEnd {
    cons: HeapCons<f32>,
    dev_ch: usize,
    proc_ch: usize,
    rate: u32,
    scratch: Vec<f32>,
    /// Fade in the next samples after an underrun.
    fade_in: bool,
    shared: Arc<Shared>,
}

impl OutputEnd {
    /// The counters this pipeline shares (for the device adapter's error callback).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Fills interleaved device frames (f32) that start playing at about `now_ns` (monotonic).
    /// Real-time safe. Before the input has started, plays silence without counting underruns.
    pub fn pull(&mut self, out: &mut [f32], now_ns: u64) {
        let (dev, pc) = (self.dev_ch, self.proc_ch);
        self.shared.out_alive_ns.store(now_ns, Relaxed);
        let started = self.shared.started.load(Relaxed);
        for block in out.chunks_mut(MAX_CALLBACK_FRAMES * dev) {
            let frames = block.len() / dev;
            let want = frames * pc;
            let got = if started {
                self.cons.pop_slice(&mut self.scratch[..want])
            } else {
                0
            };
            let got_frames = got / pc;
            if self.fade_in && got_frames > 0 {
                let n = got_frames.min(FADE);
                for f in 0..n {
                    let g = (f + 1) as f32 / (n + 1) as f32;
                    self.scratch[f * pc..(f + 1) * pc]
                        .iter_mut()
                        .for_each(|x| *x *= g);
                }
                self.fade_in = false;
            }
            if got < want {
                if started {
                    self.shared.out_underruns.fetch_add(1, Relaxed);
                    // Fade out what we have, then silence.
                    let n = got_frames.min(FADE);
                    for k in 0..n {
                        let f = got_frames - 1 - k;
                        let g = (k + 1) as f32 / (n + 1) as f32;
                        self.scratch[f * pc..(f + 1) * pc]
                            .iter_mut()
                            .for_each(|x| *x *= g);
                    }
                    self.fade_in = true;
                }
                self.scratch[got_frames * pc..want].fill(0.0);
            }
            let src = &self.scratch[..want];
            if dev == pc {
                block.copy_from_slice(src);
            } else {
                for (f, o) in block.chunks_exact_mut(dev).enumerate() {
                    for (c, x) in o.iter_mut().enumerate() {
                        *x = src[f * pc + c % pc];
                    }
                }
            }
            if started {
                // Stamp the time this block finishes playing: "played up to" time.
                let end = now_ns + (got_frames as u64 * 1_000_000_000) / self.rate as u64;
                self.shared.output.add(end, got_frames as u64);
            }
        }
    }
}

/// The worker: rate conversion, processing, drift control.
pub struct Worker<P: Processor> {
    cons: HeapCons<f32>,
    prod: HeapProd<f32>,
    proc: P,
    conv_in: Option<Async<f32>>,
    /// Stage B: `None` = exact copy (one clock, equal rates).
    drift_rs: Option<Async<f32>>,
    ch: usize,
    buf_in: Vec<f32>,
    buf_proc: Vec<f32>,
    buf_eng: Vec<f32>,
    buf_out: Vec<f32>,
    ctl: DriftController,
    /// The devices' frame rates, measured from their callbacks (the drift estimate).
    drift_meter: DriftMeter,
    seen_in_overruns: u64,
    control_rx: Receiver<Control>,
    stats_tx: Sender<Stats>,
    shared: Arc<Shared>,
    cfg: PipeConfig,
    drop_pending: usize,
    /// Frames popped from the input ring / pushed into the output ring.
    popped_in: u64,
    pushed_out: u64,
    now_ns: u64,
    seen_underruns: u64,
    seen_host_xruns: u64,
    grow_pending: bool,
    resync_at: Option<u64>,
    /// The adaptive cushion: now, and when it last grew or shrank (ns).
    cushion_s: f64,
    max_cushion_s: f64,
    cushion_changed_ns: u64,
    cushion_raises: u64,
    out_overruns: u64,
    snaps: u64,
    out_peak: f32,
    energy0: (f64, f64),
    next_stats: u64,
}

/// Handles the controlling thread keeps.
pub struct Handles {
    pub control: Sender<Control>,
    pub stats: Receiver<Stats>,
    pub shared: Arc<Shared>,
}

/// Why a pipeline cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("resampler: {0}")]
    Resampler(#[from] rubato::ResamplerConstructionError),
    #[error("invalid pipeline: {0}")]
    Invalid(String),
}

/// Stage B for two clocks, its ratio free to move by ±1 %. At equal rates (a drift of at most
/// ±1000 ppm to follow) a windowed sinc of 128 taps (Blackman-Harris, cutoff 0.95 of Nyquist,
/// cubic interpolation between 128 sub-phases, 1.33 ms delay at 48 kHz): flat within 0.1 dB
/// up to 0.45·fs (tested; −0.005 dB there). The 7th-order polynomial it replaced took about
/// 1 dB off the top octave; rubato's default cutoff for this length (0.85) took 7.7 dB off
/// 0.45·fs. Between different rates: the converter's sinc (default cutoff, against aliasing).
/// `ratio` = output rate / processing rate.
pub fn drift_resampler(ratio: f64, ch: usize) -> Result<Async<f32>, BuildError> {
    if ratio == 1.0 {
        let p =
            SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris).f_cutoff(0.95);
        Ok(Async::new_sinc(
            ratio,
            1.01,
            &p,
            CHUNK,
            ch,
            FixedAsync::Input,
        )?)
    } else {
        sinc(ratio, 1.01, CHUNK, ch, FixedAsync::Input)
    }
}

fn sinc(
    ratio: f64,
    max_rel: f64,
    chunk: usize,
    ch: usize,
    fixed: FixedAsync,
) -> Result<Async<f32>, BuildError> {
    let p = SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris2);
    Ok(Async::new_sinc(ratio, max_rel, &p, chunk, ch, fixed)?)
}

/// Builds the three parts. Ring capacities: one second each (far above any cushion).
pub fn build<P: Processor>(
    cfg: PipeConfig,
    proc: P,
) -> Result<(InputEnd, Worker<P>, OutputEnd, Handles), BuildError> {
    if cfg.in_device_channels == 0 || cfg.out_device_channels == 0 {
        return Err(BuildError::Invalid("zero channels".into()));
    }
    if let ChannelMap::Pick(c) = cfg.map {
        if c >= cfg.in_device_channels {
            return Err(BuildError::Invalid(format!(
                "channel {} does not exist: the input device has {} channel(s)",
                c + 1,
                cfg.in_device_channels
            )));
        }
    }
    let ch = cfg.proc_channels();
    let shared = Arc::new(Shared::default());
    let in_cap = (cfg.in_rate as usize).max(4 * MAX_CALLBACK_FRAMES) * ch;
    let out_cap = (cfg.out_rate as usize).max(4 * MAX_CALLBACK_FRAMES) * ch;
    let (in_prod, in_cons) = HeapRb::<f32>::new(in_cap).split();
    let (mut out_prod, out_cons) = HeapRb::<f32>::new(out_cap).split();
    // Pre-fill the cushion so the first output callbacks play silence from the ring.
    let prefill = (cfg.cushion_s * cfg.out_rate as f64).round() as usize * ch;
    for _ in 0..prefill.min(out_cap) {
        let _ = out_prod.try_push(0.0);
    }
    let conv_in = if cfg.in_rate != cfg.proc_rate {
        Some(sinc(
            cfg.proc_rate as f64 / cfg.in_rate as f64,
            1.01,
            CHUNK,
            ch,
            FixedAsync::Output,
        )?)
    } else {
        None
    };
    let ratio = cfg.out_rate as f64 / cfg.proc_rate as f64;
    let drift_rs = match cfg.clocks {
        Clocks::One if cfg.out_rate == cfg.proc_rate => None,
        _ => Some(drift_resampler(ratio, ch)?),
    };
    let in_max = conv_in.as_ref().map_or(CHUNK, |r| r.input_frames_max());
    let out_max = drift_rs.as_ref().map_or(CHUNK, |r| r.output_frames_max());
    let (control_tx, control_rx) = crossbeam_channel::bounded(16);
    let (stats_tx, stats_rx) = crossbeam_channel::bounded(4);
    let input = InputEnd {
        prod: in_prod,
        dev_ch: cfg.in_device_channels,
        map: cfg.map,
        scratch: vec![0.0; MAX_CALLBACK_FRAMES * cfg.in_device_channels],
        shared: shared.clone(),
    };
    let output = OutputEnd {
        cons: out_cons,
        dev_ch: cfg.out_device_channels,
        proc_ch: ch,
        rate: cfg.out_rate,
        scratch: vec![0.0; MAX_CALLBACK_FRAMES * ch],
        fade_in: false,
        shared: shared.clone(),
    };
    let energy0 = proc.energy();
    let worker = Worker {
        cons: in_cons,
        prod: out_prod,
        proc,
        conv_in,
        drift_rs,
        ch,
        buf_in: vec![0.0; in_max * ch],
        buf_proc: vec![0.0; CHUNK * ch],
        buf_eng: vec![0.0; CHUNK * ch],
        buf_out: vec![0.0; out_max * ch],
        ctl: DriftController::new(cfg.cushion_s, cfg.out_rate as f64),
        drift_meter: DriftMeter::new(cfg.in_rate as f64, cfg.out_rate as f64),
        seen_in_overruns: 0,
        control_rx,
        stats_tx,
        shared: shared.clone(),
        cfg,
        drop_pending: 0,
        popped_in: 0,
        pushed_out: (prefill / ch) as u64,
        now_ns: 0,
        seen_underruns: 0,
        seen_host_xruns: 0,
        grow_pending: false,
        resync_at: None,
        cushion_s: cfg.cushion_s,
        max_cushion_s: cfg
            .max_cushion_s
            .clamp(cfg.cushion_s, 0.5f64.max(cfg.cushion_s)),
        cushion_changed_ns: 0,
        cushion_raises: 0,
        out_overruns: 0,
        snaps: 0,
        out_peak: 0.0,
        energy0,
        next_stats: (cfg.stats_interval_s * cfg.out_rate as f64) as u64,
    };
    Ok((
        input,
        worker,
        output,
        Handles {
            control: control_tx,
            stats: stats_rx,
            shared,
        },
    ))
}

impl<P: Processor> Worker<P> {
    /// Fixed delay of the worker's conversions and processor, seconds (resampler delays and
    /// algorithmic latency): part of the latency budget.
    pub fn fixed_delay_s(&self) -> f64 {
        let a = self
            .conv_in
            .as_ref()
            .map_or(0.0, |r| r.output_delay() as f64 / self.cfg.proc_rate as f64);
        let p = self.proc.latency_frames() as f64 / self.cfg.proc_rate as f64;
        let b = self
            .drift_rs
            .as_ref()
            .map_or(0.0, |r| r.output_delay() as f64 / self.cfg.out_rate as f64);
        a + p + b
    }

    /// Estimated clock drift, ppm (input faster than output is positive); `None` until
    /// measured (the first 15 s or so; the statistics show 0 until then).
    pub fn drift_ppm(&self) -> Option<f64> {
        self.drift_meter.drift_ppm()
    }
    /// Output-ring overruns (produced audio dropped because the ring was full).
    pub fn out_overruns(&self) -> u64 {
        self.out_overruns
    }
    /// Silence insertions and drops made by the drift controller.
    pub fn snaps(&self) -> u64 {
        self.snaps
    }
    /// The cushion held now, seconds (it grows under load, see [`Worker::step`]).
    pub fn cushion_s(&self) -> f64 {
        self.cushion_s
    }

    pub fn processor(&self) -> &P {
        &self.proc
    }

    /// Does all the work available now (`now_ns`: the same monotonic clock the callbacks use).
    /// Returns true if any chunk was processed.
    /// Real-time safe (no allocation, lock, blocking or I/O).
    pub fn step(&mut self, now_ns: u64) -> bool {
        self.now_ns = now_ns;
        while let Ok(c) = self.control_rx.try_recv() {
            match c {
                Control::Target(s) => {
                    self.ctl.set_target(s);
                    self.ctl.resync();
                }
                Control::MaxCushion(s) => {
                    self.max_cushion_s =
                        s.clamp(self.cfg.cushion_s, 0.5f64.max(self.cfg.cushion_s));
                }
                c => self.proc.control(&c),
            }
        }
        let ch = self.ch;
        let mut did = false;
        loop {
            let need = self
                .conv_in
                .as_ref()
                .map_or(CHUNK, |r| r.input_frames_next());
            if self.cons.occupied_len() < need * ch {
                break;
            }
            self.cons.pop_slice(&mut self.buf_in[..need * ch]);
            self.popped_in += need as u64;
            if let Some(a) = self.conv_in.as_mut() {
                let i = InterleavedSlice::new(&self.buf_in[..need * ch], ch, need).expect("sized");
                let mut o =
                    InterleavedSlice::new_mut(&mut self.buf_proc[..], ch, CHUNK).expect("sized");
                let _ = a.process_into_buffer(&i, &mut o, None);
            } else {
                self.buf_proc.copy_from_slice(&self.buf_in[..CHUNK * ch]);
            }
            self.proc.process(&self.buf_proc, &mut self.buf_eng);
            for x in &self.buf_eng {
                self.out_peak = self.out_peak.max(x.abs());
            }
            let n = match self.drift_rs.as_mut() {
                None => {
                    self.buf_out[..CHUNK * ch].copy_from_slice(&self.buf_eng);
                    CHUNK
                }
                Some(rs) => {
                    let i = InterleavedSlice::new(&self.buf_eng[..], ch, CHUNK).expect("sized");
                    let cap = self.buf_out.len() / ch;
                    let mut o =
                        InterleavedSlice::new_mut(&mut self.buf_out[..], ch, cap).expect("sized");
                    match rs.process_into_buffer(&i, &mut o, None) {
                        Ok((_, n)) => n,
                        Err(_) => 0,
                    }
                }
            };
            let mut out = &self.buf_out[..n * ch];
            if self.drop_pending > 0 {
                let d = self.drop_pending.min(n);
                self.drop_pending -= d;
                out = &out[d * ch..];
            }
            let pushed = self.prod.push_slice(out);
            self.pushed_out += (pushed / ch) as u64;
            self.shared.out_pushed.store(self.pushed_out, Relaxed);
            if pushed < out.len() {
                self.out_overruns += 1;
            }
            did = true;
            self.control();
        }
        if !did {
            self.control();
        }
        self.maybe_stats();
        did
    }

    /// Seconds of audio between capture and playback now, excluding fixed delays: both rings,
    /// plus what the input device has captured since its last callback, minus what the output
    /// device has played since its last callback. Unlike the ring fills alone this has no
    /// sawtooth, so sampling it at any instant gives the same value.
    fn buffered_s(&self) -> f64 {
        let (tin, nin) = self.shared.input.read();
        let (tout, nout) = self.shared.output.read();
        let now = self.now_ns as i64;
        let since = |t: u64| ((now - t as i64) as f64 * 1e-9).clamp(-0.2, 0.05);
        let b = (nin as f64 - self.popped_in as f64) / self.cfg.in_rate as f64
            + since(tin)
            + (self.pushed_out as f64 - nout as f64 - self.drop_pending as f64)
                / self.cfg.out_rate as f64
            - since(tout);
        // Two rings of one second each hold at most 2 s; anything outside is a torn reading.
        b.clamp(-0.5, 2.0)
    }

    /// The adaptive cushion. After a dropout (the machine could not keep up) it grows in one
    /// step to the delay the dropout left plus 10 ms (at least +50 %), up to the ceiling; after
    /// 20 s without one it shrinks by 1 ms every 2 s, down to where it started — slowly enough
    /// that the resampler absorbs it (no snap).
    fn adapt_cushion(&mut self, dropout: bool) {
        let now = self.now_ns;
        if self.cushion_changed_ns == 0 {
            self.cushion_changed_ns = now;
        }
        if dropout {
            let measured = self.buffered_s();
            let grown = (measured + 0.010)
                .max(self.cushion_s * 1.5)
                .min(self.max_cushion_s);
            if grown > self.cushion_s + 1e-4 {
                self.cushion_s = grown;
                self.cushion_raises += 1;
                self.ctl.set_target(grown);
            }
            self.cushion_changed_ns = now;
        } else if self.cushion_s > self.cfg.cushion_s
            && now.saturating_sub(self.cushion_changed_ns) > 20_000_000_000
        {
            self.cushion_s = (self.cushion_s - 0.001).max(self.cfg.cushion_s);
            self.ctl.set_target_smoothly(self.cushion_s);
            self.cushion_changed_ns = now - 18_000_000_000;
        }
    }

    fn control(&mut self) {
        if !self.shared.started.load(Relaxed) {
            return;
        }
        let t = self.now_ns as f64 * 1e-9;
        // After an underrun, let the fast filter see the new level, then re-align at once.
        // Ring underruns are ours: the cushion was too small for the scheduling jitter. Host
        // xruns happen inside the device path (a callback thread ran too late): a bigger ring
        // cannot prevent those, so they only re-align.
        let dropouts = self.shared.out_underruns.load(Relaxed);
        let host =
            self.shared.host_in_xruns.load(Relaxed) + self.shared.host_out_xruns.load(Relaxed);
        if dropouts != self.seen_underruns || host != self.seen_host_xruns {
            self.grow_pending |= dropouts != self.seen_underruns;
            self.seen_underruns = dropouts;
            self.seen_host_xruns = host;
            self.resync_at = Some(self.now_ns + 150_000_000);
            self.drift_meter.break_all();
        }
        let overruns = self.shared.in_overruns.load(Relaxed);
        if overruns != self.seen_in_overruns {
            self.seen_in_overruns = overruns;
            self.drift_meter.break_input();
        }
        let (ti, ni) = self.shared.input.read();
        let (to, no) = self.shared.output.read();
        self.drift_meter.add(
            t,
            (ti as f64 * 1e-9, ni),
            (no > 0).then_some((to as f64 * 1e-9, no)),
        );
        if let Some(at) = self.resync_at {
            if self.now_ns >= at {
                self.resync_at = None;
                let grow = std::mem::take(&mut self.grow_pending);
                self.adapt_cushion(grow);
                self.ctl.resync();
            }
        } else {
            self.adapt_cushion(false);
        }
        let action = self.ctl.update(t, self.buffered_s());
        let one_clock = self.cfg.clocks == Clocks::One;
        match action {
            // On one clock nothing drifts and the source is read only as fast as the output
            // plays (its pacing holds the buffered time): the copy is never resampled and
            // nothing is dropped. Silence is still inserted when the source falls behind (a
            // burst came late: the cushion grows, the gap has already broken the stream).
            Action::Ratio(_) | Action::Drop(_) if one_clock => {}
            Action::Ratio(r) => {
                if let Some(rs) = self.drift_rs.as_mut() {
                    let _ = rs.set_resample_ratio_relative(r, true);
                }
            }
            Action::Insert(n) => {
                self.snaps += 1;
                let z = [0.0f32; 64];
                let mut left = n * self.ch;
                while left > 0 {
                    let k = left.min(z.len());
                    let pushed = self.prod.push_slice(&z[..k]);
                    self.pushed_out += (pushed / self.ch) as u64;
                    if pushed < k {
                        break;
                    }
                    left -= k;
                }
            }
            Action::Drop(n) => {
                self.snaps += 1;
                // Never more than is buffered: a bursty source must not wind the drop up.
                let held = (self.prod.occupied_len() / self.ch
                    + self.cons.occupied_len() / self.ch)
                    .saturating_sub(self.drop_pending);
                self.drop_pending += n.min(held);
            }
        }
    }

    fn maybe_stats(&mut self) {
        let frames_out = self.shared.output.read().1;
        if frames_out < self.next_stats {
            return;
        }
        self.next_stats =
            frames_out + (self.cfg.stats_interval_s * self.cfg.out_rate as f64) as u64;
        let db = |x: f32| 20.0 * (x.max(1e-10) as f64).log10();
        let in_peak = f32::from_bits(self.shared.in_peak.swap(0, Relaxed));
        let (ei, eo) = self.proc.energy();
        let (dei, deo) = (ei - self.energy0.0, eo - self.energy0.1);
        self.energy0 = (ei, eo);
        let s = Stats {
            in_peak_db: db(in_peak),
            out_peak_db: db(self.out_peak),
            attenuation_db: if dei > 0.0 && deo > 0.0 {
                10.0 * (dei / deo).log10()
            } else {
                0.0
            },
            drift_ppm: self.drift_ppm().unwrap_or(0.0),
            correction_ppm: match self.cfg.clocks {
                Clocks::One => 0.0,
                Clocks::Two => self.ctl.correction_ppm(),
            },
            buffered_ms: self.ctl.buffered_s().max(0.0) * 1e3,
            cushion_ms: self.cushion_s * 1e3,
            cushion_raises: self.cushion_raises,
            xruns_in: self.shared.in_overruns.load(Relaxed)
                + self.shared.host_in_xruns.load(Relaxed),
            xruns_out: self.shared.out_underruns.load(Relaxed)
                + self.out_overruns
                + self.shared.host_out_xruns.load(Relaxed),
            fill_ms: self.prod.occupied_len() as f64 / self.ch as f64 / self.cfg.out_rate as f64
                * 1e3,
            in_overruns: self.shared.in_overruns.load(Relaxed),
            out_underruns: self.shared.out_underruns.load(Relaxed),
            out_overruns: self.out_overruns,
            snaps: self.snaps,
            frames_out,
        };
        self.out_peak = 0.0;
        let _ = self.stats_tx.try_send(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gain of `rs` for a sine at `f` (fraction of the rate), its ratio held `rel` off nominal:
    /// output RMS over input RMS in dB, measured after the filter has filled.
    fn gain_db(rs: &mut Async<f32>, f: f64, rel: f64) -> f64 {
        rs.set_resample_ratio_relative(rel, false).unwrap();
        let mut out = vec![0.0f32; rs.output_frames_max()];
        let (mut e_in, mut e_out, mut n_in, mut n_out) = (0.0, 0.0, 0usize, 0usize);
        let mut k = 0usize;
        for chunk in 0..1500 {
            let x: Vec<f32> = (0..CHUNK)
                .map(|i| (0.5 * (std::f64::consts::TAU * f * (k + i) as f64).sin()) as f32)
                .collect();
            k += CHUNK;
            let i = InterleavedSlice::new(&x[..], 1, CHUNK).unwrap();
            let cap = out.len();
            let mut o = InterleavedSlice::new_mut(&mut out[..], 1, cap).unwrap();
            let (_, n) = rs.process_into_buffer(&i, &mut o, None).unwrap();
            if chunk >= 100 {
                e_in += x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
                n_in += CHUNK;
                e_out += out[..n].iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
                n_out += n;
            }
        }
        10.0 * ((e_out / n_out as f64) / (e_in / n_in as f64)).log10()
    }

    #[test]
    fn the_two_clock_resampler_is_flat_within_a_tenth_of_a_db_to_045_fs_while_following_drift() {
        let mut rs = drift_resampler(1.0, 1).unwrap();
        for rel in [1.0 - 1e-3, 1.0 - 2e-4, 1.0 + 2e-4, 1.0 + 1e-3] {
            for f in [0.01, 0.1, 0.25, 0.4, 0.45] {
                let g = gain_db(&mut rs, f, rel);
                assert!(g.abs() < 0.1, "{g:+.3} dB at {f}·fs, ratio {rel}");
            }
        }
    }

    /// Copies its input, no delay.
    struct Wire;
    impl Processor for Wire {
        fn process(&mut self, input: &[f32], output: &mut [f32]) {
            output.copy_from_slice(input);
        }
        fn latency_frames(&self) -> usize {
            0
        }
    }

    fn config(clocks: Clocks) -> PipeConfig {
        PipeConfig {
            in_rate: 48_000,
            proc_rate: 48_000,
            out_rate: 48_000,
            in_device_channels: 1,
            out_device_channels: 1,
            map: ChannelMap::Pick(0),
            cushion_s: 0.02,
            max_cushion_s: 0.2,
            stats_interval_s: 1.0,
            clocks,
        }
    }

    /// Runs 3 s of noise through the pipeline on a simulated shared clock (10 ms callbacks)
    /// and returns (input, output, snaps).
    fn run(clocks: Clocks) -> (Vec<f32>, Vec<f32>, u64) {
        let (mut inp, mut w, mut out, _h) = build(config(clocks), Wire).unwrap();
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let x: Vec<f32> = (0..48_000 * 3)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect();
        let mut y = vec![0.0f32; x.len()];
        for (k, (a, b)) in x.chunks(480).zip(y.chunks_mut(480)).enumerate() {
            let t = k as u64 * 10_000_000 + 1;
            inp.push(a, t);
            w.step(t);
            out.pull(b, t);
        }
        (x, y, w.snaps())
    }

    #[test]
    fn on_one_clock_the_output_is_the_input_bit_for_bit_after_a_constant_delay() {
        let (x, y, snaps) = run(Clocks::One);
        // No re-alignment: the delay is set once, by the cushion the output ring starts with.
        assert_eq!(snaps, 0, "{snaps} snaps");
        let at = 0;
        let lag = (0..4_800)
            .find(|&l| y[at + l..at + l + 64] == x[at..at + 64])
            .expect("the input is not found in the output");
        let n = y.len() - at - lag;
        let bad = (0..n).filter(|&i| y[at + lag + i] != x[at + i]).count();
        assert_eq!(
            bad, 0,
            "{bad} of {n} samples differ at a delay of {lag} frames"
        );
        assert!(n > 140_000, "only {n} samples compared");
        assert_eq!(lag, 960, "the delay is the 20 ms cushion");
    }

    #[test]
    fn on_two_clocks_the_output_is_resampled_so_the_one_clock_copy_is_not_vacuous() {
        let (x, y, _) = run(Clocks::Two);
        let at = 72_000;
        let exact = (0..4_800)
            .filter(|&l| y[at + l..at + l + 64] == x[at..at + 64])
            .count();
        assert_eq!(exact, 0, "two clocks gave a bit-exact copy");
    }
}
