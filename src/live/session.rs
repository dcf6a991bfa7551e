//! A live session as a library call: a device, stdin or a UDP socket in; a device, stdout or a
//! file out; the engine in between at a fixed, reported latency; control commands in, status
//! reports and messages out. `specgate run` only parses its arguments into a [`Config`], reads
//! keys or control lines into a channel, calls [`run`] and prints what the [`Observer`] hears.
//!
//! ```text
//!   device callback ─┐                                                    ┌─ device callback
//!   stream::Source ──┴▶ InputEnd → ring → Worker (Engine) → ring → OutputEnd ┴▶ stream::Sink (clocked)
//!   (stdin: the probe; UDP: UdpSource)                          (stdout, WAV/raw: stream::sink::open)
//! ```
//!
//! The non-device ends are the stream core's [`Source`]s and [`Sink`]s: stdin is opened by the
//! one probe, a recording is written by the one sink (an [`crate::io::atomic::AtomicFile`]: no
//! partial file, ever), and the [`Cancel`] token ends the session (the first signal finishes the
//! recording normally; a second removes the temp file and exits 128 + N).
//!
//! A device that fails or disappears ends the session with a reason; [`run`] then retries with a
//! growing back-off (reset after a session that ran properly), bounded by `duration_s`.

use crate::cancel::Cancel;
use crate::dsp::gain::GainRule;
use crate::engine::{Engine, SignalKind};
use crate::io::RawFormat;
use crate::live::core::{
    self, build, monotonic_ns, ChannelMap, Control, Handles, InputEnd, OutputEnd, PipeConfig, Stats,
};
use crate::params::{self, Params, ParamsPatch};
use crate::stream::{self, Sink, Source, StreamError, StreamInfo};
use crossbeam_channel::Receiver;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames the worker handles per wake-up, for its real-time request.
const CHUNK_FRAMES: u32 = core::CHUNK as u32;

/// Where the audio comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A device query: id, exact name, unique substring, or `default`.
    Device(String),
    /// Raw PCM on standard input (`-`).
    Stdin,
    /// Raw PCM datagrams (`udp:[HOST:]PORT`).
    Udp(std::net::SocketAddr),
}

impl Input {
    /// `-`, `udp:PORT` (127.0.0.1), `udp:HOST:PORT`, or a device query.
    pub fn parse(s: &str) -> Result<Input, SessionError> {
        if s == "-" {
            return Ok(Input::Stdin);
        }
        if let Some(rest) = s.strip_prefix("udp:") {
            let addr = if rest.contains(':') {
                rest.to_string()
            } else {
                format!("127.0.0.1:{rest}")
            };
            return std::net::ToSocketAddrs::to_socket_addrs(&addr)
                .ok()
                .and_then(|mut a| a.next())
                .map(Input::Udp)
                .ok_or_else(|| {
                    SessionError::Usage(format!(
                        "'{s}' is not a UDP address (udp:PORT or udp:HOST:PORT)"
                    ))
                });
        }
        Ok(Input::Device(s.to_string()))
    }
}

/// Where the audio goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A device query.
    Device(String),
    /// Raw PCM on standard output (`-`).
    Stdout,
    /// A file (WAV, raw, SigMF: the stream core's rule) or an existing FIFO.
    File(PathBuf),
}

impl Output {
    /// `-`; a name with a path separator or an extension the stream core writes (`.wav`,
    /// `.raw`, …), or an existing FIFO: a file; anything else: a device query.
    pub fn parse(s: &str) -> Output {
        let p = std::path::Path::new(s);
        if s == "-" {
            Output::Stdout
        } else if stream::sink::kind_of(p).is_ok()
            || s.contains(std::path::MAIN_SEPARATOR)
            || stream::sink::is_special(p)
        {
            Output::File(p.to_path_buf())
        } else {
            Output::Device(s.to_string())
        }
    }
}

/// Everything a session needs to know (the command line of `specgate run`, without clap).
#[derive(Debug, Clone)]
pub struct Config {
    pub input: Input,
    pub output: Output,
    /// Audio host (ALSA, JACK, PulseAudio…); `None`: the system's.
    pub host: Option<String>,
    /// The filter's parameters to start with, and the name of their preset.
    pub params: Params,
    pub preset: String,
    /// Jitter cushion to start with, ms (`None`: from the device periods).
    pub buffer_ms: Option<f64>,
    /// Device callback period, ms.
    pub period_ms: f64,
    /// Ceiling for the end-to-end latency, ms.
    pub max_latency_ms: f64,
    /// Processing rate (`None`: the input's).
    pub rate: Option<u32>,
    /// Rate and sample format of raw stdin/UDP input and of stdout/file output.
    pub raw_rate: u32,
    pub raw_format: RawFormat,
    pub channel: ChannelMap,
    /// Seconds between status reports.
    pub status_interval_s: f64,
    /// Stop after this many seconds, whatever state the session is in (retries included).
    pub duration_s: Option<f64>,
    /// A lost device ends the run with an error instead of a retry.
    pub no_reconnect: bool,
}

/// Why a session could not run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The request itself is wrong (a bad address, an unknown device name, an option).
    #[error("{0}")]
    Usage(String),
    /// A device failed or went away (with `no_reconnect`).
    #[error("{0}")]
    Device(String),
    /// A stream end (stdin, a socket, a file) failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// A live control command (keys on a terminal, lines on a FIFO).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Threshold(f64),
    Reduction(f64),
    NextPreset,
    ToggleBypass,
    Learn(f64),
    Quit,
}

/// What every control command does, for help texts.
pub const COMMANDS_HELP: &str =
    "t/T threshold −/+1 dB, r/R reduction −/+3 dB, p next preset, b bypass, l [N] learn N s (2), q quit";

/// Parses one command line: `t`/`T` threshold −/+1 dB, `r`/`R` reduction −/+3 dB, `p` next
/// preset, `b` bypass, `l [N]` learn N seconds (default 2), `q` quit. `None` for a blank line,
/// `Some(Err(message))` for anything else.
pub fn parse_command(line: &str) -> Option<Result<Command, String>> {
    let l = line.trim();
    let mut it = l.split_whitespace();
    let head = it.next()?;
    Some(Ok(match head {
        "t" => Command::Threshold(-1.0),
        "T" => Command::Threshold(1.0),
        "r" => Command::Reduction(-3.0),
        "R" => Command::Reduction(3.0),
        "p" | "P" => Command::NextPreset,
        "b" | "B" => Command::ToggleBypass,
        "l" | "L" => Command::Learn(
            it.next()
                .and_then(|n| n.parse().ok())
                .filter(|n: &f64| *n > 0.0 && *n <= 3600.0)
                .unwrap_or(2.0),
        ),
        "q" | "Q" => Command::Quit,
        _ => {
            return Some(Err(format!(
                "unknown control command '{l}' ({COMMANDS_HELP})"
            )))
        }
    }))
}

/// One status report: the figures (never negative) and the filter state. Serialises to the
/// `--stats` JSON line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub t_s: f64,
    pub latency_ms: f64,
    pub buffered_ms: f64,
    pub cushion_ms: f64,
    pub drift_ppm: f64,
    pub xruns_in: u64,
    pub xruns_out: u64,
    pub dropouts: u64,
    pub cpu_percent: Option<f64>,
    pub attenuation_db: f64,
    pub in_peak_dbfs: f64,
    pub out_peak_dbfs: f64,
    pub preset: String,
    pub rule: String,
    pub threshold_db: f64,
    pub reduction_db: f64,
    pub bypass: bool,
}

impl Status {
    fn new(s: &Stats, fixed_ms: f64, p: &Params, preset: &str, cpu: Option<f64>, t_s: f64) -> Self {
        Status {
            t_s: (t_s * 1000.0).round() / 1000.0,
            latency_ms: fixed_ms.max(0.0) + s.buffered_ms.max(0.0),
            buffered_ms: s.buffered_ms.max(0.0),
            cushion_ms: s.cushion_ms.max(0.0),
            drift_ppm: s.drift_ppm,
            xruns_in: s.xruns_in,
            xruns_out: s.xruns_out,
            dropouts: s.out_underruns,
            cpu_percent: cpu,
            attenuation_db: s.attenuation_db.max(0.0),
            in_peak_dbfs: s.in_peak_db,
            out_peak_dbfs: s.out_peak_db,
            preset: preset.to_string(),
            rule: p.rule.to_string(),
            threshold_db: p.threshold_db,
            reduction_db: p.reduction_db,
            bypass: p.bypass,
        }
    }

    /// The status line: figures, then the filter state.
    pub fn line(&self) -> String {
        format!(
            "latency {:6.1} ms  cushion {:5.1} ms  drift {:+6.1} ppm  xruns in {} out {}  atten {:5.1} dB  in {:6.1} dBFS  out {:6.1} dBFS  | {} {} thr {:.1} dB red {:.1} dB bypass {}",
            self.latency_ms,
            self.cushion_ms,
            self.drift_ppm,
            self.xruns_in,
            self.xruns_out,
            self.attenuation_db,
            self.in_peak_dbfs,
            self.out_peak_dbfs,
            self.preset,
            self.rule,
            self.threshold_db,
            self.reduction_db,
            if self.bypass { "on" } else { "off" }
        )
    }
}

/// Hears what a session says: one-off messages (start-up, latency budget, answers to commands,
/// device loss and retries) and the periodic status.
pub trait Observer {
    fn message(&self, text: &str);
    fn status(&self, status: &Status);
}

/// Input peak below which `l` refuses to learn (digital silence or a dead input).
pub const SILENCE_DBFS: f64 = -90.0;

/// What the user has asked for, kept across reconnects: the parameters, the preset cycled with
/// `p`, the bypass toggled with `b`, a pending `l`.
struct Ui {
    params: Params,
    preset_idx: usize,
    preset: String,
    user_bypass: bool,
    pending_learn: Option<f64>,
}

/// How a session ended.
enum End {
    Stop,
    Lost(String),
}

/// Session errors: a device that is missing now may come back; anything else is fatal.
#[cfg_attr(not(feature = "device"), allow(dead_code))]
enum Failure {
    Lost(String),
    Fatal(SessionError),
}

impl From<SessionError> for Failure {
    fn from(e: SessionError) -> Self {
        Failure::Fatal(e)
    }
}

impl From<StreamError> for Failure {
    fn from(e: StreamError) -> Self {
        Failure::Fatal(e.into())
    }
}

fn usage(m: impl Into<String>) -> Failure {
    Failure::Fatal(SessionError::Usage(m.into()))
}

/// Runs sessions until `commands` says quit, `cancel` trips, the input ends, the output's reader
/// goes away or `duration_s` passes; a lost device is retried (unless `no_reconnect`).
pub fn run(
    cfg: &Config,
    commands: &Receiver<Result<Command, String>>,
    cancel: &Cancel,
    obs: &dyn Observer,
) -> Result<(), SessionError> {
    let _ = monotonic_ns();
    // Before any audio thread exists, so that they all inherit it.
    if let Err(why) = core::raise_priority() {
        obs.message(&format!(
            "specgate: audio threads run at normal priority: {why}"
        ));
    }
    let started = Instant::now();
    let mut backoff = Backoff::default();
    let name = cfg.preset.to_ascii_lowercase();
    let mut ui = Ui {
        params: cfg.params,
        preset_idx: params::PRESETS
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or(0),
        preset: name,
        user_bypass: cfg.params.bypass,
        pending_learn: None,
    };
    let out_of_time = |t: Instant| {
        cfg.duration_s
            .is_some_and(|d| t.duration_since(started).as_secs_f64() >= d)
    };
    loop {
        let t0 = Instant::now();
        match session(cfg, commands, cancel, obs, started, &mut ui) {
            Ok(End::Stop) => return Ok(()),
            Ok(End::Lost(what)) | Err(Failure::Lost(what)) => {
                if cfg.no_reconnect {
                    return Err(SessionError::Device(what));
                }
                let wait = backoff.after_session(t0.elapsed());
                obs.message(&format!(
                    "specgate: {what}; retrying in {:.1} s",
                    wait.as_secs_f64()
                ));
            }
            Err(Failure::Fatal(e)) => return Err(e),
        }
        // `duration_s` bounds every state, the retries included.
        let until = Instant::now() + backoff.current();
        while Instant::now() < until {
            if cancel.is_cancelled() || out_of_time(Instant::now()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if out_of_time(Instant::now()) {
            return Ok(());
        }
    }
}

/// The wait before reopening a lost device: 0.5 s, doubling up to 10 s while sessions keep
/// failing, and back to 0.5 s after a session that ran properly (≥ 5 s): a good reconnect.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
    current: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Backoff::FIRST,
            current: Backoff::FIRST,
        }
    }
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(500);
    pub const MAX: Duration = Duration::from_secs(10);
    /// A session that ran this long was a good one.
    pub const GOOD: Duration = Duration::from_secs(5);

    /// After a session that ran for `ran` and then lost a device: how long to wait now.
    pub fn after_session(&mut self, ran: Duration) -> Duration {
        if ran >= Backoff::GOOD {
            self.next = Backoff::FIRST;
        }
        self.current = self.next;
        self.next = (self.next * 2).min(Backoff::MAX);
        self.current
    }

    /// The wait chosen by the last [`Backoff::after_session`].
    pub fn current(&self) -> Duration {
        self.current
    }
}

/// The input as the pipeline sees it: its rate, channels and callback period.
struct InSide {
    rate: u32,
    ch: usize,
    period: Option<u32>,
}

/// A stream source read on its own thread (stdin and sockets block), fed into the pipeline.
struct Feeder {
    info: StreamInfo,
    go: crossbeam_channel::Sender<FeedPlan>,
    thread: std::thread::JoinHandle<()>,
}

/// What the feeder needs once the pipeline is built.
struct FeedPlan {
    inp: InputEnd,
    out_rate: u32,
    /// Hold at most this many seconds in the rings (a fast pipe, a file): `None` for sources
    /// that arrive in real time (UDP), which are never held back.
    pace_s: Option<f64>,
    /// Silence pushed after the end of the input to flush the filter, seconds.
    tail_s: f64,
}

/// Opens a source on a new thread with `open`, and returns its description; the thread then
/// waits for its [`FeedPlan`].
fn spawn_feeder<F>(
    open: F,
    io_stop: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Result<Feeder, StreamError>
where
    F: FnOnce() -> Result<Box<dyn Source>, StreamError> + Send + 'static,
{
    let (info_tx, info_rx) = crossbeam_channel::bounded(1);
    let (go, go_rx) = crossbeam_channel::bounded::<FeedPlan>(1);
    let thread = std::thread::Builder::new()
        .name("specgate-input".into())
        .spawn(move || {
            let mut src = match open() {
                Ok(s) => s,
                Err(e) => {
                    let _ = info_tx.send(Err(e));
                    return;
                }
            };
            let _ = info_tx.send(Ok(src.info().clone()));
            if let Ok(plan) = go_rx.recv() {
                feed(&mut *src, plan, &io_stop, &stop);
            }
        })?;
    let info = info_rx.recv().unwrap_or_else(|_| {
        Err(StreamError::Format(
            "the input thread ended before it opened".into(),
        ))
    })?;
    Ok(Feeder { info, go, thread })
}

/// Reads `src` into the pipeline until the end (then flushes the filter with silence and stops
/// the session) or `io_stop`. A read that times out (`WouldBlock`: no datagram) is a gap: after
/// 30 ms without data, once the pipeline has run dry, silence is pushed in 10 ms steps so the
/// output keeps playing at the fixed latency and picks the signal up again when data returns.
fn feed(src: &mut dyn Source, plan: FeedPlan, io_stop: &AtomicBool, stop: &AtomicBool) {
    let FeedPlan {
        mut inp,
        out_rate,
        pace_s,
        tail_s,
    } = plan;
    let info = src.info().clone();
    let (rate, ch) = (info.rate, info.channels);
    let step = (rate as usize / 100).max(1);
    let mut buf = vec![0.0f32; step.max(64) * ch];
    let silence = vec![0.0f32; step * ch];
    let wait = |inp: &InputEnd| {
        if let Some(pace) = pace_s {
            while inp.queued_s(rate, out_rate) > pace && !io_stop.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    };
    let mut last = Instant::now();
    while !io_stop.load(Relaxed) {
        wait(&inp);
        match src.read(&mut buf) {
            Ok(0) => {
                let mut left = tail_s;
                while left > 0.0 && !io_stop.load(Relaxed) {
                    wait(&inp);
                    inp.push(&silence, monotonic_ns());
                    left -= step as f64 / rate as f64;
                }
                std::thread::sleep(Duration::from_secs_f64(pace_s.unwrap_or(0.0) + 0.05));
                stop.store(true, Relaxed);
                return;
            }
            Ok(n) => {
                inp.push(&buf[..n], monotonic_ns());
                last = Instant::now();
            }
            Err(StreamError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                while last.elapsed() > Duration::from_millis(30) && inp.queued_frames() < step {
                    inp.push(&silence, monotonic_ns());
                    last += Duration::from_millis(10);
                }
            }
            // A failing input ends like a closed one.
            Err(_) => {
                stop.store(true, Relaxed);
                return;
            }
        }
    }
}

/// A stream sink played into at the nominal rate on the system clock, on its own thread.
struct Player {
    thread: std::thread::JoinHandle<Result<(), StreamError>>,
}

/// Opens the sink with `open` on a new thread (stdout and files are written by one thread) and
/// plays `out` into it at `rate` until `io_stop`, then finishes it (a file is renamed into
/// place). A closed output pipe stops the session.
fn spawn_player<F>(
    open: F,
    mut out: OutputEnd,
    rate: u32,
    ch: usize,
    io_stop: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Result<Player, StreamError>
where
    F: FnOnce() -> Result<Box<dyn Sink>, StreamError> + Send + 'static,
{
    let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
    let thread = std::thread::Builder::new()
        .name("specgate-output".into())
        .spawn(move || {
            let mut sink = match open() {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return Ok(());
                }
            };
            let t0 = Instant::now();
            let mut done = 0u64;
            let mut buf = vec![0.0f32; (rate as usize / 10 + 1) * ch];
            while !io_stop.load(Relaxed) {
                let due = (t0.elapsed().as_secs_f64() * rate as f64) as u64;
                while done < due {
                    let n = ((due - done) as usize).min(buf.len() / ch);
                    out.pull(&mut buf[..n * ch], monotonic_ns());
                    let r = sink.write(&buf[..n * ch]).and_then(|_| {
                        if sink.is_stream() {
                            sink.flush()
                        } else {
                            Ok(())
                        }
                    });
                    if let Err(e) = r {
                        stop.store(true, Relaxed);
                        if e.is_broken_pipe() {
                            // The reader went away: the end of the stream (exit 141).
                            crate::cancel::record_broken_pipe();
                            return Ok(());
                        }
                        return Err(e);
                    }
                    done += n as u64;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            sink.finish().map(drop)
        })?;
    ready_rx.recv().unwrap_or_else(|_| {
        Err(StreamError::Format(
            "the output thread ended before it opened".into(),
        ))
    })?;
    Ok(Player { thread })
}

/// A raw encoding for stdin/UDP/stdout, as the stream core names it.
fn raw_hints(cfg: &Config) -> stream::ProbeHints {
    stream::ProbeHints {
        format: Some(stream::probe::RawHint::Audio(cfg.raw_format)),
        rate: Some(cfg.raw_rate),
        channels: Some(1),
        ..Default::default()
    }
}

fn session(
    cfg: &Config,
    commands: &Receiver<Result<Command, String>>,
    cancel: &Cancel,
    obs: &dyn Observer,
    started: Instant,
    ui: &mut Ui,
) -> Result<End, Failure> {
    let host = cfg.host.as_deref();
    #[cfg(feature = "device")]
    use crate::live::device;
    #[cfg(feature = "device")]
    let open_dev = |q: &str, input: bool, rate: Option<u32>| -> Result<device::Opened, Failure> {
        device::open_with_period(host, q, input, rate, cfg.period_ms).map_err(|e| {
            let msg = e.to_string();
            // Unknown/ambiguous names are user errors; an absent or failing device may return.
            if e.is_usage() {
                usage(msg)
            } else {
                Failure::Lost(format!(
                    "{} device unavailable: {msg}",
                    if input { "input" } else { "output" }
                ))
            }
        })
    };
    #[cfg(not(feature = "device"))]
    if matches!(cfg.input, Input::Device(_)) || matches!(cfg.output, Output::Device(_)) {
        return Err(usage("this build has no audio device support"));
    }
    let _ = host;
    let stop = Arc::new(AtomicBool::new(false));
    let io_stop = Arc::new(AtomicBool::new(false));

    // Input side: rate, channels, period.
    #[cfg(feature = "device")]
    let in_dev = match &cfg.input {
        // Devices run at their own default rate; `rate` sets only the processing rate.
        Input::Device(q) => Some(open_dev(q, true, None)?),
        _ => None,
    };
    let feeder = match &cfg.input {
        Input::Device(_) => None,
        Input::Stdin => {
            let hints = raw_hints(cfg);
            Some(spawn_feeder(
                move || {
                    stream::open(stream::InputSpec::Stdin, &hints).map(|s| s as Box<dyn Source>)
                },
                io_stop.clone(),
                stop.clone(),
            )?)
        }
        Input::Udp(a) => {
            let sock = std::net::UdpSocket::bind(a)
                .map_err(|e| usage(format!("cannot bind UDP {a}: {e}")))?;
            let info = StreamInfo::new(
                cfg.raw_rate,
                1,
                SignalKind::Real,
                stream::Encoding::Audio(cfg.raw_format),
            );
            Some(spawn_feeder(
                move || {
                    Ok(Box::new(crate::live::udp::UdpSource::new(sock, info)?) as Box<dyn Source>)
                },
                io_stop.clone(),
                stop.clone(),
            )?)
        }
    };
    let stream_side = |f: &Feeder| InSide {
        rate: f.info.rate,
        ch: f.info.channels,
        period: Some(f.info.rate / 100),
    };
    #[cfg(feature = "device")]
    let inside = match (&feeder, &in_dev) {
        (Some(f), _) => stream_side(f),
        (None, Some(d)) => InSide {
            rate: d.config.sample_rate,
            ch: d.config.channels as usize,
            period: d.period_frames(),
        },
        (None, None) => unreachable!("an input is a device or a stream"),
    };
    #[cfg(not(feature = "device"))]
    let inside = stream_side(feeder.as_ref().expect("devices were refused above"));
    let (in_rate, in_ch, in_period) = (inside.rate, inside.ch, inside.period);
    let proc_rate = cfg.rate.unwrap_or(in_rate);
    let proc_ch = cfg.channel.proc_channels(in_ch);
    #[cfg(feature = "device")]
    let out_dev = match &cfg.output {
        Output::Device(q) => Some(open_dev(q, false, Some(in_rate))?),
        _ => None,
    };
    #[cfg(feature = "device")]
    let (out_rate, out_ch, out_period) = match &out_dev {
        Some(d) => (
            d.config.sample_rate,
            d.config.channels as usize,
            d.period_frames(),
        ),
        None => (proc_rate, proc_ch, Some(proc_rate / 100)),
    };
    #[cfg(not(feature = "device"))]
    let (out_rate, out_ch, out_period) = (proc_rate, proc_ch, Some(proc_rate / 100));

    // Two devices of one graph (PipeWire, JACK) run in lock-step on one clock.
    #[cfg(feature = "device")]
    let lock_step = match (&in_dev, &out_dev) {
        (Some(i), Some(o)) => device::one_clock(i, o),
        _ => false,
    };
    #[cfg(not(feature = "device"))]
    let lock_step = false;

    let engine =
        Engine::new(&ui.params, proc_rate, proc_ch, SignalKind::Real).map_err(StreamError::from)?;
    let hop_s = engine.stft_config().hop as f64 / proc_rate as f64;
    let wake = core::worker_wake_s(hop_s);
    let cushion = match cfg.buffer_ms {
        Some(ms) if ms > 0.0 && ms <= 2000.0 => ms / 1000.0,
        Some(ms) => return Err(usage(format!("--buffer-ms {ms} is out of range (0, 2000]"))),
        None => core::cushion_for_devices(
            in_period.map(|p| p as f64 / in_rate as f64),
            out_period.map(|p| p as f64 / out_rate as f64),
            lock_step,
            hop_s,
            proc_rate,
        ),
    };
    let pcfg = PipeConfig {
        max_cushion_s: (cfg.max_latency_ms / 1000.0).clamp(cushion, 0.5f64.max(cushion)),
        in_rate,
        proc_rate,
        out_rate,
        in_device_channels: in_ch,
        out_device_channels: out_ch,
        map: cfg.channel,
        cushion_s: cushion,
        stats_interval_s: cfg.status_interval_s.max(0.05),
        // A pipe or file is read only as fast as stdout or a file is written, both on the
        // system clock; a device, or UDP (paced by its sender), brings a second clock. (Two
        // devices of one graph share a clock too, but `Clocks::One` relies on the source being
        // paced by the output; the drift loop simply reads 0 ppm there.)
        clocks: match (&cfg.input, &cfg.output) {
            (Input::Stdin, Output::Stdout | Output::File(_)) => core::Clocks::One,
            _ => core::Clocks::Two,
        },
    };
    let (inp, mut worker, out, handles) = build(pcfg, engine).map_err(|e| usage(e.to_string()))?;
    let algorithmic = worker.processor().latency_samples() as f64 / proc_rate as f64;
    let worker_latency_s = worker.fixed_delay_s();
    let algorithmic_ms = algorithmic * 1e3;
    let resample_ms = (worker_latency_s - algorithmic) * 1e3;
    let cushion_ms = cushion * 1e3;

    // Worker thread: does all available work, then sleeps a quarter hop.
    let wstop = Arc::new(AtomicBool::new(false));
    let (rt_tx, rt_rx) = crossbeam_channel::bounded(1);
    let worker_thread = {
        let wstop = wstop.clone();
        std::thread::Builder::new()
            .name("specgate-worker".into())
            .spawn(move || {
                let _ = rt_tx.send(core::promote_to_realtime(CHUNK_FRAMES, proc_rate));
                while !wstop.load(Relaxed) {
                    worker.step(monotonic_ns());
                    std::thread::park_timeout(Duration::from_secs_f64(wake));
                }
            })
            .map_err(StreamError::from)?
    };
    if let Ok(Err(why)) = rt_rx.recv_timeout(Duration::from_secs(1)) {
        obs.message(&format!(
            "specgate: the worker runs without real-time priority: {why}"
        ));
    }
    #[cfg(feature = "device")]
    let status = Arc::new(device::DeviceStatus::default());
    #[cfg(feature = "device")]
    let mut streams = vec![];

    // Output first, so it is pulling when input arrives.
    let player = match &cfg.output {
        #[cfg(feature = "device")]
        Output::Device(_) => {
            let d = out_dev.as_ref().expect("opened");
            streams.push(
                device::start_output(d, out, status.clone())
                    .map_err(|e| Failure::Lost(format!("output device failed: {e:#}")))?,
            );
            None
        }
        #[cfg(not(feature = "device"))]
        Output::Device(_) => unreachable!(),
        Output::Stdout | Output::File(_) => {
            let mut info = StreamInfo::new(
                out_rate,
                out_ch,
                SignalKind::Real,
                stream::Encoding::Audio(cfg.raw_format),
            );
            info.format = "live stream".into();
            let path = match &cfg.output {
                Output::File(p) => Some(p.clone()),
                _ => None,
            };
            // Recordings are 32-bit float WAVs (no clipping); raw outputs use the raw format.
            let req = stream::sink::OutputRequest {
                out_format: matches!(&cfg.output, Output::File(p)
                    if stream::sink::kind_of(p).ok() == Some(stream::sink::OutputKind::Wav))
                .then_some(RawFormat::F32Le),
                raw_format: Some(cfg.raw_format),
                ..Default::default()
            };
            Some(spawn_player(
                move || {
                    let spec = match path {
                        Some(p) => stream::sink::OutputSpec::Path(p),
                        None => stream::sink::OutputSpec::Stdout,
                    };
                    stream::sink::open(spec, &info, &req)
                },
                out,
                out_rate,
                out_ch,
                io_stop.clone(),
                stop.clone(),
            )?)
        }
    };
    match (&cfg.input, &feeder) {
        #[cfg(feature = "device")]
        (Input::Device(_), _) => {
            let d = in_dev.as_ref().expect("opened");
            streams.push(
                device::start_input(d, inp, status.clone())
                    .map_err(|e| Failure::Lost(format!("input device failed: {e:#}")))?,
            );
        }
        (_, Some(f)) => {
            let _ = f.go.send(FeedPlan {
                inp,
                out_rate,
                pace_s: matches!(cfg.input, Input::Stdin).then_some(cushion + 0.01),
                tail_s: worker_latency_s + cushion + 0.1,
            });
        }
        _ => unreachable!("an input is a device or a stream"),
    }

    // Budget: the devices' own delays (capture → input callback, output callback → playback)
    // are known once the callbacks have run; they add to what the drift loop holds.
    #[cfg(feature = "device")]
    let dev_ms = {
        let (mut si, mut so, mut n) = (0u64, 0u64, 0u64);
        for _ in 0..25 {
            std::thread::sleep(Duration::from_millis(20));
            si += status.in_latency_ns.load(Relaxed);
            so += status.out_latency_ns.load(Relaxed);
            n += 1;
        }
        let (i, o) = (si as f64 / n as f64 * 1e-6, so as f64 * 1e-6 / n as f64);
        if in_dev.is_some() || out_dev.is_some() {
            obs.message(&format!(
                "device delays reported by the host: capture {i:.2} ms, playback {o:.2} ms"
            ));
        }
        if status.rt_refused.load(Relaxed) {
            obs.message(
                "specgate: the audio callbacks run without real-time priority: SCHED_FIFO not \
                 permitted; run as root or allow rtprio in limits.conf",
            );
        }
        i + o
    };
    #[cfg(not(feature = "device"))]
    let dev_ms = {
        std::thread::sleep(Duration::from_millis(300));
        0.0
    };
    #[cfg(feature = "device")]
    let (in_name, out_name) = (
        in_dev.as_ref().map(|d| d.id.clone()),
        out_dev.as_ref().map(|d| d.id.clone()),
    );
    #[cfg(not(feature = "device"))]
    let (in_name, out_name) = (None::<String>, None::<String>);
    // Devices by their resolved id (`host:device`), so the audio host in use is named.
    let in_name = in_name.unwrap_or_else(|| match &cfg.input {
        Input::Stdin => "stdin".to_string(),
        Input::Udp(a) => format!("udp:{a}"),
        Input::Device(q) => q.clone(),
    });
    let out_name = out_name.unwrap_or_else(|| match &cfg.output {
        Output::Stdout => "stdout".to_string(),
        Output::File(p) => p.display().to_string(),
        Output::Device(q) => q.clone(),
    });
    #[cfg(feature = "device")]
    let hosts = {
        let mut h: Vec<&str> = vec![];
        for d in [&in_dev, &out_dev].into_iter().flatten() {
            if !h.contains(&d.host.name()) {
                h.push(d.host.name());
            }
        }
        if h.is_empty() {
            String::new()
        } else {
            format!(
                " (host {}{})",
                h.join(" + "),
                if lock_step { ", lock-step" } else { "" }
            )
        }
    };
    #[cfg(feature = "device")]
    if [&in_dev, &out_dev]
        .into_iter()
        .flatten()
        .any(|d| d.host.name() == "PulseAudio")
    {
        obs.message(
            "specgate: note: cpal's native PulseAudio client makes the server wake every 0.5 ms \
             with fixed buffers (high CPU); the ALSA host (its `pulse` plugin) is cheaper",
        );
    }
    #[cfg(not(feature = "device"))]
    let hosts = "";
    obs.message(&format!(
        "specgate: {in_name} → {out_name}{hosts} | {in_rate} Hz {in_ch} ch → {proc_rate} Hz → {out_rate} Hz {out_ch} ch"
    ));
    obs.message(&format!(
        "latency budget: algorithmic {algorithmic_ms:.2} ms + resampling {resample_ms:.2} ms + cushion {cushion_ms:.2} ms + device {dev_ms:.2} ms = {:.2} ms",
        algorithmic_ms + resample_ms + cushion_ms + dev_ms
    ));

    let fixed_ms = algorithmic_ms + resample_ms + dev_ms;
    // The cushion may grow up to what `max_latency_ms` leaves after the fixed delays.
    let _ = handles.control.try_send(Control::MaxCushion(
        (cfg.max_latency_ms - fixed_ms).max(cushion_ms) / 1000.0,
    ));
    let watch = {
        #[cfg(feature = "device")]
        {
            // A device can vanish without an error callback (e.g. its server was killed): a
            // callback silent for 2 s counts as lost too.
            let s = status.clone();
            let sh = handles.shared.clone();
            let (watch_in, watch_out) = (in_dev.is_some(), out_dev.is_some());
            move || {
                let now = monotonic_ns();
                let stale = |t: u64| t > 0 && now.saturating_sub(t) > 2_000_000_000;
                if s.lost.load(Relaxed) {
                    let end = if s.lost_input.load(Relaxed) {
                        "input"
                    } else {
                        "output"
                    };
                    return Some(format!("the {end} device was lost"));
                }
                if watch_in && stale(sh.input.read().0) {
                    return Some("the input device stopped delivering audio for 2 s".into());
                }
                if watch_out && stale(sh.out_alive_ns.load(Relaxed)) {
                    return Some("the output device stopped asking for audio for 2 s".into());
                }
                None
            }
        }
        #[cfg(not(feature = "device"))]
        {
            || None::<String>
        }
    };
    let end = control_loop(
        Loop {
            cfg,
            h: &handles,
            stop: &stop,
            cancel,
            started,
            commands,
            obs,
            fixed_ms,
        },
        ui,
        watch,
    );

    // Shut down: input first, then output, then the worker. A feeder blocked reading stdin is
    // left behind (it holds nothing that needs finishing).
    #[cfg(feature = "device")]
    drop(streams);
    io_stop.store(true, Relaxed);
    if let Some(f) = feeder {
        drop(f.go);
        if f.thread.is_finished() {
            let _ = f.thread.join();
        }
    }
    let written = player.map(|p| p.thread.join());
    wstop.store(true, Relaxed);
    worker_thread.thread().unpark();
    let _ = worker_thread.join();
    match written {
        Some(Ok(Err(e))) => return Err(Failure::Fatal(e.into())),
        Some(Err(_)) => {
            return Err(usage("the output thread failed"));
        }
        _ => {}
    }
    if let Some(s) = handles.stats.try_iter().last() {
        obs.status(&Status::new(
            &s,
            fixed_ms,
            &ui.params,
            &ui.preset,
            None,
            started.elapsed().as_secs_f64(),
        ));
    }
    Ok(end)
}

/// Process CPU time (user + system), seconds; `None` where not available.
fn cpu_time_s() -> Option<f64> {
    #[cfg(unix)]
    {
        // SAFETY: getrusage fills a zeroed struct for this process.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
            return None;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        Some(tv(u.ru_utime) + tv(u.ru_stime))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

struct Loop<'a> {
    cfg: &'a Config,
    h: &'a Handles,
    stop: &'a AtomicBool,
    cancel: &'a Cancel,
    started: Instant,
    commands: &'a Receiver<Result<Command, String>>,
    obs: &'a dyn Observer,
    fixed_ms: f64,
}

fn control_loop(l: Loop, ui: &mut Ui, device: impl Fn() -> Option<String>) -> End {
    let Loop {
        cfg,
        h,
        stop,
        cancel,
        started,
        commands,
        obs,
        fixed_ms,
    } = l;
    let mut raises = 0u64;
    let mut cpu_last = (Instant::now(), cpu_time_s());
    let mut last_in_peak: Option<f64> = None;
    loop {
        if stop.load(Relaxed) || cancel.is_cancelled() {
            return End::Stop;
        }
        if cfg
            .duration_s
            .is_some_and(|d| started.elapsed().as_secs_f64() >= d)
        {
            return End::Stop;
        }
        if let Some(what) = device() {
            return End::Lost(what);
        }
        while let Ok(s) = h.stats.try_recv() {
            last_in_peak = Some(s.in_peak_db);
            if s.cushion_raises > raises {
                raises = s.cushion_raises;
                obs.message(&format!(
                    "specgate: the machine could not keep up: cushion raised to {:.1} ms, latency now {:.1} ms",
                    s.cushion_ms,
                    fixed_ms + s.cushion_ms
                ));
            }
            let now = Instant::now();
            let cpu_now = cpu_time_s();
            let cpu = match (cpu_last.1, cpu_now) {
                (Some(a), Some(b)) => {
                    let wall = now.duration_since(cpu_last.0).as_secs_f64();
                    (wall > 0.0).then(|| ((b - a) / wall * 100.0).max(0.0))
                }
                _ => None,
            };
            cpu_last = (now, cpu_now);
            obs.status(&Status::new(
                &s,
                fixed_ms,
                &ui.params,
                &ui.preset,
                cpu,
                started.elapsed().as_secs_f64(),
            ));
            if let Some(secs) = ui.pending_learn.take() {
                obs.message(&learn(h, s.in_peak_db, secs));
            }
        }
        while let Ok(c) = commands.try_recv() {
            let c = match c {
                Ok(c) => c,
                Err(e) => {
                    obs.message(&format!("specgate: {e}"));
                    continue;
                }
            };
            if c == Command::Quit {
                return End::Stop;
            }
            if let Some(msg) = apply(c, h, ui, last_in_peak) {
                obs.message(&format!("specgate: {msg}"));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Applies one command (not `Quit`) to the running pipeline; returns what to tell the user
/// (`None` when the answer waits for the first level measurement).
fn apply(c: Command, h: &Handles, ui: &mut Ui, last_in_peak: Option<f64>) -> Option<String> {
    let params = &mut ui.params;
    Some(match c {
        Command::Quit => return None,
        Command::Threshold(d) => {
            params.threshold_db = (params.threshold_db + d).clamp(-20.0, 60.0);
            let _ = h.control.try_send(Control::Params(*params));
            if params.rule == GainRule::Gate {
                format!("threshold {:.1} dB", params.threshold_db)
            } else {
                format!(
                    "threshold {:.1} dB — it applies to the gate rule only; this preset uses {}, so the output does not change (r/R change the reduction)",
                    params.threshold_db, params.rule
                )
            }
        }
        Command::Reduction(d) => {
            params.reduction_db = (params.reduction_db + d).clamp(0.0, 120.0);
            let _ = h.control.try_send(Control::Params(*params));
            format!("reduction {:.1} dB", params.reduction_db)
        }
        Command::ToggleBypass => {
            ui.user_bypass = !ui.user_bypass;
            let preset_bypass = preset_params(&ui.preset).is_some_and(|p| p.bypass);
            params.bypass = ui.user_bypass || preset_bypass;
            let _ = h.control.try_send(Control::Bypass(params.bypass));
            if preset_bypass && !ui.user_bypass {
                format!("bypass stays on: preset {} is a bypass", ui.preset)
            } else {
                format!("bypass {}", if params.bypass { "on" } else { "off" })
            }
        }
        Command::NextPreset => {
            ui.preset_idx = (ui.preset_idx + 1) % params::PRESETS.len();
            let name = params::PRESETS[ui.preset_idx].0;
            match params::resolve(name, None, &ParamsPatch::default()) {
                Ok(mut p) => {
                    // The preset's own bypass (digital) holds; `b` adds to it.
                    p.bypass = p.bypass || ui.user_bypass;
                    *params = p;
                    ui.preset = name.to_string();
                    let _ = h.control.try_send(Control::Params(*params));
                    if p.bypass {
                        format!("preset {name}: bypass (output = input, delayed)")
                    } else {
                        format!("preset {name} (gain keys; frame geometry needs a restart)")
                    }
                }
                Err(e) => format!("preset {name}: {e}"),
            }
        }
        Command::Learn(s) => match last_in_peak {
            Some(peak) => learn(h, peak, s),
            None => {
                // No level measured yet: decide on the first status interval.
                ui.pending_learn = Some(s);
                return None;
            }
        },
    })
}

/// `l`: learns the noise profile unless the input is silent (a zero profile would switch the
/// filter off until the next `l`).
fn learn(h: &Handles, in_peak_db: f64, secs: f64) -> String {
    if in_peak_db < SILENCE_DBFS {
        format!(
            "specgate: not learning: the input is silent (peak {in_peak_db:.0} dBFS); press l while the noise plays"
        )
    } else {
        let _ = h.control.try_send(Control::Learn(secs));
        format!("specgate: learning the noise profile for {secs} s")
    }
}

fn preset_params(name: &str) -> Option<Params> {
    params::resolve(name, None, &ParamsPatch::default()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_lines_map_to_commands() {
        assert_eq!(parse_command("T\n"), Some(Ok(Command::Threshold(1.0))));
        assert_eq!(parse_command("r"), Some(Ok(Command::Reduction(-3.0))));
        assert_eq!(parse_command("l 5"), Some(Ok(Command::Learn(5.0))));
        assert_eq!(parse_command("l"), Some(Ok(Command::Learn(2.0))));
        assert_eq!(parse_command("l -3"), Some(Ok(Command::Learn(2.0))));
        assert_eq!(parse_command("b"), Some(Ok(Command::ToggleBypass)));
        assert_eq!(parse_command(""), None);
        assert_eq!(parse_command("  "), None);
    }

    #[test]
    fn an_unknown_control_line_is_an_error_naming_it() {
        let e = parse_command("x 3").unwrap().unwrap_err();
        assert!(e.contains("unknown control command 'x 3'"), "{e}");
    }

    #[test]
    fn outputs_are_files_by_extension_or_path_and_devices_otherwise() {
        assert_eq!(Output::parse("-"), Output::Stdout);
        assert_eq!(Output::parse("rec.wav"), Output::File("rec.wav".into()));
        assert_eq!(Output::parse("rec.raw"), Output::File("rec.raw".into()));
        assert_eq!(
            Output::parse("alsa:rig_playback"),
            Output::Device("alsa:rig_playback".into())
        );
        assert_eq!(
            Output::parse("CABLE Input (VB-Audio Virtual Cable)"),
            Output::Device("CABLE Input (VB-Audio Virtual Cable)".into())
        );
        assert_eq!(
            Output::parse("pulseaudio:rig_out.monitor"),
            Output::Device("pulseaudio:rig_out.monitor".into())
        );
    }

    #[test]
    fn the_back_off_doubles_while_sessions_fail_and_resets_after_a_good_one() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(100);
        let waits: Vec<f64> = (0..7)
            .map(|_| b.after_session(short).as_secs_f64())
            .collect();
        assert_eq!(waits, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
        // A session that ran properly, then a loss: the first wait again, then doubling.
        assert_eq!(b.after_session(Duration::from_secs(6)).as_secs_f64(), 0.5);
        assert_eq!(b.after_session(short).as_secs_f64(), 1.0);
        assert_eq!(b.current().as_secs_f64(), 1.0);
    }

    #[test]
    fn inputs_are_stdin_udp_or_devices() {
        assert_eq!(Input::parse("-").unwrap(), Input::Stdin);
        assert_eq!(
            Input::parse("udp:7355").unwrap(),
            Input::Udp("127.0.0.1:7355".parse().unwrap())
        );
        assert!(Input::parse("udp:not-a-port").is_err());
        assert_eq!(
            Input::parse("default").unwrap(),
            Input::Device("default".into())
        );
    }
}
