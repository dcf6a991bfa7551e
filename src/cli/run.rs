//! `specgate run`: live filtering from a device (or a pipe, or UDP) to a device (or a pipe, or
//! a WAV file) at a fixed, reported latency, with live control and a status line.

use super::common::FilterOptions;
use crate::dsp::gain::GainRule;
use crate::engine::{Engine, SignalKind};
use crate::live::core::{
    self, build, monotonic_ns, ChannelMap, Control, Handles, PipeConfig, Stats,
};
use crate::params::{self, Params, ParamsPatch};
use anyhow::{bail, Context};
use std::io::{BufRead, IsTerminal, Read, Write};

/// Frames the worker handles per wake-up, for its real-time request.
const CHUNK_FRAMES: u32 = core::CHUNK as u32;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Input: a device (id, exact name, unique substring, or `default`), `-` (raw PCM on stdin),
    /// or `udp:[HOST:]PORT` (raw PCM datagrams; binds 127.0.0.1 unless HOST is given).
    #[arg(long, short = 'i', default_value = "default")]
    pub input: String,
    /// Output: a device, `-` (raw PCM on stdout), or FILE.wav.
    #[arg(long, short = 'o', default_value = "default")]
    pub output: String,
    /// Audio host (e.g. ALSA, JACK, PulseAudio where available); default: the system's.
    #[arg(long)]
    pub host: Option<String>,
    #[command(flatten)]
    pub filter: FilterOptions,
    /// Jitter cushion in ms to start with (default: derived from the device periods). It grows
    /// when the machine cannot keep up and shrinks back slowly when the stream is steady.
    #[arg(long)]
    pub buffer_ms: Option<f64>,
    /// Device callback period in ms (where the host accepts a fixed size). Longer periods
    /// ride out a busier machine at the cost of latency.
    #[arg(long, default_value_t = 10.0, value_parser = parse_period)]
    pub period_ms: f64,
    /// Ceiling for the end-to-end latency in ms: the adaptive cushion never grows beyond it.
    #[arg(long, default_value_t = 300.0)]
    pub max_latency_ms: f64,
    /// Append one JSON line per status interval to FILE (latency_ms, drift_ppm, xruns per
    /// end, dropouts, cpu_percent, attenuation_db, preset, reduction_db, bypass, …).
    #[arg(long, value_name = "FILE")]
    pub stats: Option<std::path::PathBuf>,
    /// Processing rate (e.g. 48000 or 48k); default: the input rate.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<u32>,
    /// Rate of `-`/udp input and of `-`/WAV output (default 48k).
    #[arg(long, value_parser = parse_rate, default_value = "48000")]
    pub raw_rate: u32,
    /// Raw PCM format on stdin/stdout/UDP: s16le or f32le.
    #[arg(long, default_value = "s16le")]
    pub raw_format: RawFormat,
    /// Channel of a multichannel input to process: a number (1 = first), `mean`, or `all`.
    #[arg(long, default_value = "mean")]
    pub channel: String,
    /// Status line interval in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub status_interval: f64,
    /// No status line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Read control commands from this file/FIFO (one per line) instead of stdin.
    #[arg(long)]
    pub control: Option<std::path::PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Exit with an error when a device disappears instead of waiting for it to return.
    #[arg(long)]
    pub no_reconnect: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RawFormat {
    S16le,
    F32le,
}

impl RawFormat {
    fn bytes(self) -> usize {
        match self {
            RawFormat::S16le => 2,
            RawFormat::F32le => 4,
        }
    }
    fn decode(self, b: &[u8], out: &mut Vec<f32>) {
        out.clear();
        match self {
            RawFormat::S16le => out.extend(
                b.chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0),
            ),
            RawFormat::F32le => out.extend(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
        }
    }
    fn encode(self, x: &[f32], out: &mut Vec<u8>) {
        out.clear();
        for v in x {
            match self {
                RawFormat::S16le => out.extend_from_slice(
                    &((v * 32768.0).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes(),
                ),
                RawFormat::F32le => out.extend_from_slice(&v.to_le_bytes()),
            }
        }
    }
}

/// `48000`, `48k`, `44.1k`.
pub fn parse_rate(s: &str) -> Result<u32, String> {
    // The syntax (48000, 48k, 44.1k, 2.4M) is the project's one parser; only the range is ours.
    let r = crate::units::parse_rate(s)?;
    if !(1000..=1_536_000).contains(&r) {
        return Err(format!("sample rate {r} Hz is out of range"));
    }
    Ok(r)
}

fn parse_period(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (1.0..=200.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "--period-ms must be a number of ms in 1–200, not '{s}'"
        )),
    }
}

fn parse_channel(s: &str) -> anyhow::Result<ChannelMap> {
    match s.to_ascii_lowercase().as_str() {
        "mean" => Ok(ChannelMap::Mean),
        "all" => Ok(ChannelMap::All),
        n => match n.parse::<usize>() {
            Ok(k) if k >= 1 => Ok(ChannelMap::Pick(k - 1)),
            _ => {
                bail!("--channel must be a channel number (1 = first), `mean` or `all`, not '{s}'")
            }
        },
    }
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
                "unknown control command '{l}' (t/T threshold, r/R reduction, p preset, b bypass, l [N] learn, q quit)"
            )))
        }
    }))
}

#[cfg_attr(not(feature = "device"), allow(dead_code))]
enum Source {
    Device(String),
    Stdin,
    Udp(std::net::SocketAddr),
}
#[cfg_attr(not(feature = "device"), allow(dead_code))]
enum Sink {
    Device(String),
    Stdout,
    Wav(std::path::PathBuf),
}

fn parse_source(s: &str) -> anyhow::Result<Source> {
    if s == "-" {
        return Ok(Source::Stdin);
    }
    if let Some(rest) = s.strip_prefix("udp:") {
        let addr = if rest.contains(':') {
            rest.to_string()
        } else {
            format!("127.0.0.1:{rest}")
        };
        let a = std::net::ToSocketAddrs::to_socket_addrs(&addr)
            .ok()
            .and_then(|mut a| a.next())
            .with_context(|| format!("'{s}' is not a UDP address (udp:PORT or udp:HOST:PORT)"))?;
        return Ok(Source::Udp(a));
    }
    Ok(Source::Device(s.to_string()))
}

fn parse_sink(s: &str) -> Sink {
    if s == "-" {
        Sink::Stdout
    } else if s.to_ascii_lowercase().ends_with(".wav") {
        Sink::Wav(s.into())
    } else {
        Sink::Device(s.to_string())
    }
}

/// Where the clocked sink sends its samples.
type Writer = Box<dyn FnMut(&[f32]) -> std::io::Result<()> + Send>;

/// How a session ended.
enum End {
    Stop,
    Lost(String),
}

pub fn run(args: Box<Args>) -> anyhow::Result<()> {
    let params = args.filter.resolve()?;
    let map = parse_channel(&args.channel)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Relaxed))
            .context("cannot install the Ctrl-C handler")?;
    }
    let _ = monotonic_ns();
    // Before any audio thread exists, so that they all inherit it.
    if let Err(why) = core::raise_priority() {
        eprintln!("specgate: audio threads run at normal priority: {why}");
    }
    let started = Instant::now();
    let first_backoff = Duration::from_millis(500);
    let mut backoff = first_backoff;
    let keys = args.control.is_none() && args.input != "-" && std::io::stdin().is_terminal();
    let _keys = KeyMode::enable(keys);
    let console = Console::new(keys);
    let mut stats_file = match &args.stats {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open the stats file {}", p.display()))?,
        ),
        None => None,
    };
    let cmd_rx = command_source(&args, keys, &console, stop.clone());
    let mut params = params;
    let mut ui = Ui::new(&args, &params);
    let out_of_time = |t: Instant| {
        args.duration
            .is_some_and(|d| t.duration_since(started).as_secs_f64() >= d)
    };
    loop {
        let t0 = Instant::now();
        let ctx = Ctx {
            args: &args,
            map,
            stop: &stop,
            started,
            console: &console,
            cmds: &cmd_rx,
            stats_file: stats_file.as_mut(),
        };
        match session(ctx, &mut params, &mut ui) {
            Ok(End::Stop) => return Ok(()),
            Ok(End::Lost(what)) | Err(Lost(what)) => {
                if args.no_reconnect {
                    bail!("{what}");
                }
                // A session that ran properly for a while was a good reconnect: start over.
                if t0.elapsed() >= Duration::from_secs(5) {
                    backoff = first_backoff;
                }
                console.message(&format!(
                    "specgate: {what}; retrying in {:.1} s",
                    backoff.as_secs_f64()
                ));
            }
            Err(Fatal(e)) => return Err(e),
        }
        // --duration bounds every state, the retries included.
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            if stop.load(Relaxed) || out_of_time(Instant::now()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if out_of_time(Instant::now()) {
            return Ok(());
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// What every session shares with the run.
struct Ctx<'a> {
    args: &'a Args,
    map: ChannelMap,
    stop: &'a Arc<AtomicBool>,
    started: Instant,
    console: &'a Console,
    cmds: &'a crossbeam_channel::Receiver<Result<Command, String>>,
    stats_file: Option<&'a mut std::fs::File>,
}

/// Where messages and the status line go: stderr; on a terminal the status line is redrawn in
/// place (crossterm) and messages scroll above it; otherwise every status is a plain line.
struct Console {
    in_place: bool,
    /// Raw keys are on: line ends need an explicit carriage return.
    raw: bool,
    last_status: std::sync::Mutex<String>,
}

impl Console {
    fn new(raw: bool) -> Console {
        Console {
            in_place: std::io::stderr().is_terminal(),
            raw,
            last_status: std::sync::Mutex::new(String::new()),
        }
    }
    fn nl(&self) -> &'static str {
        if self.raw {
            "\r\n"
        } else {
            "\n"
        }
    }
    /// A message on its own line (above the status line on a terminal).
    fn message(&self, m: &str) {
        let mut e = std::io::stderr().lock();
        let last = self.last_status.lock().unwrap_or_else(|p| p.into_inner());
        if self.in_place {
            let _ = crossterm::queue!(
                e,
                crossterm::cursor::MoveToColumn(0),
                crossterm::terminal::Clear(crossterm::terminal::ClearType::CurrentLine)
            );
            let _ = write!(e, "{m}{}{}", self.nl(), *last);
        } else {
            let _ = write!(e, "{m}{}", self.nl());
        }
        let _ = e.flush();
    }
    fn status(&self, line: &str) {
        let mut e = std::io::stderr().lock();
        if self.in_place {
            let _ = crossterm::queue!(
                e,
                crossterm::cursor::MoveToColumn(0),
                crossterm::terminal::Clear(crossterm::terminal::ClearType::CurrentLine)
            );
            let _ = write!(e, "{line}");
            *self.last_status.lock().unwrap_or_else(|p| p.into_inner()) = line.to_string();
        } else {
            let _ = write!(e, "{line}{}", self.nl());
        }
        let _ = e.flush();
    }
    /// Ends the status line (before exiting).
    fn finish(&self) {
        let mut last = self.last_status.lock().unwrap_or_else(|p| p.into_inner());
        if self.in_place && !last.is_empty() {
            let _ = write!(std::io::stderr(), "{}", self.nl());
            last.clear();
        }
    }
}

/// What the user has asked for, kept across reconnects: the preset cycled with `p`, the bypass
/// toggled with `b`, a pending `l`.
struct Ui {
    preset_idx: usize,
    preset: String,
    user_bypass: bool,
    pending_learn: Option<f64>,
}

impl Ui {
    fn new(args: &Args, p: &Params) -> Ui {
        let name = args.filter.preset_name().to_ascii_lowercase();
        Ui {
            preset_idx: params::PRESETS
                .iter()
                .position(|(n, _)| *n == name)
                .unwrap_or(0),
            preset: name,
            user_bypass: p.bypass,
            pending_learn: None,
        }
    }
}

/// Session errors: a device that is missing now may come back; anything else is fatal.
#[cfg_attr(not(feature = "device"), allow(dead_code))]
enum SessionError {
    Lost(String),
    Fatal(anyhow::Error),
}
use SessionError::{Fatal, Lost};

impl From<anyhow::Error> for SessionError {
    fn from(e: anyhow::Error) -> Self {
        Fatal(e)
    }
}

struct Budget {
    algorithmic_ms: f64,
    resample_ms: f64,
    cushion_ms: f64,
}

fn session(ctx: Ctx, params: &mut Params, ui: &mut Ui) -> Result<End, SessionError> {
    let (args, map, stop, started, console) =
        (ctx.args, ctx.map, ctx.stop, ctx.started, ctx.console);
    let source = parse_source(&args.input)?;
    let sink = parse_sink(&args.output);
    let host = args.host.as_deref();
    #[cfg(feature = "device")]
    use crate::live::device;
    #[cfg(feature = "device")]
    let open_dev =
        |q: &str, input: bool, rate: Option<u32>| -> Result<device::Opened, SessionError> {
            device::open_with_period(host, q, input, rate, args.period_ms).map_err(|e| {
                let msg = format!("{e:#}");
                // Unknown/ambiguous names are user errors; an absent or failing device may return.
                if msg.contains("matches") || msg.contains("unknown audio host") {
                    Fatal(e)
                } else {
                    Lost(format!(
                        "{} device unavailable: {msg}",
                        if input { "input" } else { "output" }
                    ))
                }
            })
        };
    #[cfg(not(feature = "device"))]
    if matches!(source, Source::Device(_)) || matches!(sink, Sink::Device(_)) {
        return Err(Fatal(anyhow::anyhow!(
            "this build has no audio device support"
        )));
    }
    let _ = host;

    // Input side: rate, channels, period.
    #[cfg(feature = "device")]
    let in_dev = match &source {
        // Devices run at their own default rate; --rate sets only the processing rate.
        Source::Device(q) => Some(open_dev(q, true, None)?),
        _ => None,
    };
    #[cfg(feature = "device")]
    let (in_rate, in_ch, in_period) = match &in_dev {
        Some(d) => (
            d.config.sample_rate,
            d.config.channels as usize,
            d.period_frames(),
        ),
        None => (args.raw_rate, 1, Some(args.raw_rate / 100)),
    };
    #[cfg(not(feature = "device"))]
    let (in_rate, in_ch, in_period) = (args.raw_rate, 1usize, Some(args.raw_rate / 100));
    let proc_rate = args.rate.unwrap_or(in_rate);
    let proc_ch = map.proc_channels(in_ch);
    #[cfg(feature = "device")]
    let out_dev = match &sink {
        Sink::Device(q) => Some(open_dev(q, false, Some(in_rate))?),
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

    let engine =
        Engine::new(params, proc_rate, proc_ch, SignalKind::Real).map_err(|e| Fatal(e.into()))?;
    let hop_s = engine.stft_config().hop as f64 / proc_rate as f64;
    let wake = core::worker_wake_s(hop_s);
    let cushion = match args.buffer_ms {
        Some(ms) if ms > 0.0 && ms <= 2000.0 => ms / 1000.0,
        Some(ms) => {
            return Err(Fatal(anyhow::anyhow!(
                "--buffer-ms {ms} is out of range (0, 2000]"
            )))
        }
        None => core::cushion_for_devices(
            in_period.map(|p| p as f64 / in_rate as f64),
            out_period.map(|p| p as f64 / out_rate as f64),
            hop_s,
            proc_rate,
        ),
    };
    let cfg = PipeConfig {
        max_cushion_s: (args.max_latency_ms / 1000.0).clamp(cushion, 0.5f64.max(cushion)),
        in_rate,
        proc_rate,
        out_rate,
        in_device_channels: in_ch,
        out_device_channels: out_ch,
        map,
        cushion_s: cushion,
        stats_interval_s: args.status_interval.max(0.05),
    };
    let (inp, mut worker, out, handles) = build(cfg, engine).map_err(|e| Fatal(e.into()))?;
    let algorithmic = worker.processor().latency_samples() as f64 / proc_rate as f64;
    let worker_latency_s = worker.fixed_delay_s();
    let budget = Budget {
        algorithmic_ms: algorithmic * 1e3,
        resample_ms: (worker.fixed_delay_s() - algorithmic) * 1e3,
        cushion_ms: cushion * 1e3,
    };

    // Worker thread: does all available work, then sleeps a quarter hop.
    let wstop = Arc::new(AtomicBool::new(false));
    let worker_thread = {
        let wstop = wstop.clone();
        std::thread::Builder::new()
            .name("specgate-worker".into())
            .spawn(move || {
                if let Err(why) = core::promote_to_realtime(CHUNK_FRAMES, proc_rate) {
                    eprintln!("specgate: the worker runs without real-time priority: {why}");
                }
                while !wstop.load(Relaxed) {
                    worker.step(monotonic_ns());
                    std::thread::park_timeout(Duration::from_secs_f64(wake));
                }
            })
            .map_err(|e| Fatal(e.into()))?
    };
    let io_stop = Arc::new(AtomicBool::new(false));
    let mut threads = vec![];
    #[cfg(feature = "device")]
    let status = Arc::new(device::DeviceStatus::default());
    #[cfg(feature = "device")]
    let mut streams = vec![];

    // Output first, so it is pulling when input arrives.
    let wav_tmp;
    match &sink {
        #[cfg(feature = "device")]
        Sink::Device(_) => {
            let d = out_dev.as_ref().expect("opened");
            streams.push(
                device::start_output(d, out, status.clone())
                    .map_err(|e| Lost(format!("output device failed: {e:#}")))?,
            );
            wav_tmp = None;
        }
        #[cfg(not(feature = "device"))]
        Sink::Device(_) => unreachable!(),
        Sink::Stdout | Sink::Wav(_) => {
            let (writer, tmp): (Writer, _) = match &sink {
                Sink::Stdout => {
                    let fmt = args.raw_format;
                    let mut so = std::io::stdout();
                    let mut bytes = Vec::new();
                    (
                        Box::new(move |x: &[f32]| {
                            fmt.encode(x, &mut bytes);
                            so.write_all(&bytes)?;
                            so.flush()
                        }),
                        None,
                    )
                }
                Sink::Wav(path) => {
                    let dir = path
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(std::path::Path::new("."));
                    let tmp = tempfile::Builder::new()
                        .prefix(".specgate-")
                        .suffix(".wav.part")
                        .tempfile_in(dir)
                        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
                    let spec = hound::WavSpec {
                        channels: out_ch as u16,
                        sample_rate: out_rate,
                        bits_per_sample: 32,
                        sample_format: hound::SampleFormat::Float,
                    };
                    let w = hound::WavWriter::new(
                        std::io::BufWriter::new(tmp.reopen().map_err(|e| Fatal(e.into()))?),
                        spec,
                    )
                    .map_err(|e| Fatal(e.into()))?;
                    let w = Arc::new(std::sync::Mutex::new(Some(w)));
                    let w2 = w.clone();
                    (
                        Box::new(move |x: &[f32]| {
                            if let Some(w) = w2.lock().expect("wav writer").as_mut() {
                                for v in x {
                                    w.write_sample(*v).map_err(std::io::Error::other)?;
                                }
                            }
                            Ok(())
                        }),
                        Some((tmp, w, path.clone())),
                    )
                }
                Sink::Device(_) => unreachable!(),
            };
            wav_tmp = tmp;
            threads.push(clocked_sink(
                out,
                out_rate,
                out_ch,
                writer,
                io_stop.clone(),
                stop.clone(),
            ));
        }
    }
    match &source {
        #[cfg(feature = "device")]
        Source::Device(_) => {
            let d = in_dev.as_ref().expect("opened");
            streams.push(
                device::start_input(d, inp, status.clone())
                    .map_err(|e| Lost(format!("input device failed: {e:#}")))?,
            );
        }
        #[cfg(not(feature = "device"))]
        Source::Device(_) => unreachable!(),
        Source::Stdin => {
            let pace = cushion + 0.01;
            let tail = worker_latency_s + cushion + 0.1;
            threads.push(stdin_source(
                inp,
                args.raw_format,
                (in_rate, out_rate),
                pace,
                tail,
                io_stop.clone(),
                stop.clone(),
            ))
        }
        Source::Udp(a) => {
            let sock =
                std::net::UdpSocket::bind(a).with_context(|| format!("cannot bind UDP {a}"))?;
            let fmt = args.raw_format;
            threads.push(crate::live::udp::spawn_source(
                sock,
                inp,
                move |b, out| fmt.decode(b, out),
                in_rate,
                io_stop.clone(),
            ));
        }
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
        if !args.quiet {
            console.message(&format!(
                "device delays reported by the host: capture {i:.2} ms, playback {o:.2} ms"
            ));
        }
        i + o
    };
    #[cfg(not(feature = "device"))]
    let dev_ms = {
        std::thread::sleep(Duration::from_millis(300));
        0.0
    };
    // Devices by their resolved id (`host:device`), so the audio host in use is named.
    #[cfg(feature = "device")]
    let (in_name, out_name) = (
        in_dev.as_ref().map_or(args.input.clone(), |d| d.id.clone()),
        out_dev
            .as_ref()
            .map_or(args.output.clone(), |d| d.id.clone()),
    );
    #[cfg(not(feature = "device"))]
    let (in_name, out_name) = (args.input.clone(), args.output.clone());
    console.message(&format!(
        "specgate: {in_name} → {out_name} | {in_rate} Hz {in_ch} ch → {proc_rate} Hz → {out_rate} Hz {out_ch} ch"
    ));
    console.message(&format!(
        "latency budget: algorithmic {:.2} ms + resampling {:.2} ms + cushion {:.2} ms + device {:.2} ms = {:.2} ms",
        budget.algorithmic_ms,
        budget.resample_ms,
        budget.cushion_ms,
        dev_ms,
        budget.algorithmic_ms + budget.resample_ms + budget.cushion_ms + dev_ms
    ));

    let fixed_ms = budget.algorithmic_ms + budget.resample_ms + dev_ms;
    // The cushion may grow up to what --max-latency-ms leaves after the fixed delays.
    let _ = handles.control.try_send(Control::MaxCushion(
        (args.max_latency_ms - fixed_ms).max(budget.cushion_ms) / 1000.0,
    ));
    let stats_file = ctx.stats_file;
    let end = control_loop(
        Loop {
            args,
            h: &handles,
            stop,
            started,
            cmds: ctx.cmds,
            console,
            fixed_ms,
            stats_file,
        },
        params,
        ui,
        {
            #[cfg(feature = "device")]
            {
                // A device can vanish without an error callback (e.g. its server was killed):
                // a callback silent for 2 s counts as lost too.
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
        },
    );

    // Shut down: input first, then output, then the worker.
    #[cfg(feature = "device")]
    drop(streams);
    io_stop.store(true, Relaxed);
    for t in threads {
        let _ = t.join();
    }
    wstop.store(true, Relaxed);
    worker_thread.thread().unpark();
    let _ = worker_thread.join();
    if let Some((tmp, w, path)) = wav_tmp {
        if let Some(w) = w.lock().expect("wav writer").take() {
            w.finalize().context("cannot finish the WAV file")?;
        }
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let last = handles.stats.try_iter().last();
    if !args.quiet {
        if let Some(s) = last {
            console.status(&status_line(&s, fixed_ms, params, ui));
        }
    }
    console.finish();
    Ok(end)
}

/// Latency as shown: the fixed delays (algorithmic + resampling + device) plus the measured
/// buffered time, which is never negative.
fn latency_ms(s: &Stats, fixed_ms: f64) -> f64 {
    fixed_ms.max(0.0) + s.buffered_ms.max(0.0)
}

/// The status line: figures, then the filter state (preset, rule, threshold, reduction,
/// bypass).
fn status_line(s: &Stats, fixed_ms: f64, p: &Params, ui: &Ui) -> String {
    format!(
        "latency {:6.1} ms  cushion {:5.1} ms  drift {:+6.1} ppm  xruns in {} out {}  atten {:5.1} dB  in {:6.1} dBFS  out {:6.1} dBFS  | {} {} thr {:.1} dB red {:.1} dB bypass {}",
        latency_ms(s, fixed_ms),
        s.cushion_ms.max(0.0),
        s.drift_ppm,
        s.xruns_in,
        s.xruns_out,
        s.attenuation_db.max(0.0),
        s.in_peak_db,
        s.out_peak_db,
        ui.preset,
        p.rule,
        p.threshold_db,
        p.reduction_db,
        if p.bypass { "on" } else { "off" }
    )
}

/// One `--stats` line (JSON).
fn stats_json(s: &Stats, fixed_ms: f64, p: &Params, ui: &Ui, cpu: Option<f64>, t_s: f64) -> String {
    serde_json::json!({
        "t_s": (t_s * 1000.0).round() / 1000.0,
        "latency_ms": latency_ms(s, fixed_ms),
        "buffered_ms": s.buffered_ms.max(0.0),
        "cushion_ms": s.cushion_ms.max(0.0),
        "drift_ppm": s.drift_ppm,
        "xruns_in": s.xruns_in,
        "xruns_out": s.xruns_out,
        "dropouts": s.out_underruns,
        "cpu_percent": cpu,
        "attenuation_db": s.attenuation_db.max(0.0),
        "in_peak_dbfs": s.in_peak_db,
        "out_peak_dbfs": s.out_peak_db,
        "preset": ui.preset,
        "rule": p.rule.to_string(),
        "threshold_db": p.threshold_db,
        "reduction_db": p.reduction_db,
        "bypass": p.bypass,
    })
    .to_string()
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

/// Input peak below which `l` refuses to learn (digital silence or a dead input).
const SILENCE_DBFS: f64 = -90.0;

struct Loop<'a> {
    args: &'a Args,
    h: &'a Handles,
    stop: &'a Arc<AtomicBool>,
    started: Instant,
    cmds: &'a crossbeam_channel::Receiver<Result<Command, String>>,
    console: &'a Console,
    fixed_ms: f64,
    stats_file: Option<&'a mut std::fs::File>,
}

fn control_loop(
    l: Loop,
    params: &mut Params,
    ui: &mut Ui,
    device: impl Fn() -> Option<String>,
) -> End {
    let Loop {
        args,
        h,
        stop,
        started,
        cmds,
        console,
        fixed_ms,
        mut stats_file,
    } = l;
    let mut raises = 0u64;
    let mut cpu_last = (Instant::now(), cpu_time_s());
    let mut last_in_peak: Option<f64> = None;
    loop {
        if stop.load(Relaxed) {
            return End::Stop;
        }
        if let Some(d) = args.duration {
            if started.elapsed().as_secs_f64() >= d {
                return End::Stop;
            }
        }
        if let Some(what) = device() {
            return End::Lost(what);
        }
        while let Ok(s) = h.stats.try_recv() {
            last_in_peak = Some(s.in_peak_db);
            if s.cushion_raises > raises {
                raises = s.cushion_raises;
                console.message(&format!(
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
            if !args.quiet {
                console.status(&status_line(&s, fixed_ms, params, ui));
            }
            if let Some(f) = stats_file.as_mut() {
                let line = stats_json(
                    &s,
                    fixed_ms,
                    params,
                    ui,
                    cpu,
                    started.elapsed().as_secs_f64(),
                );
                if let Err(e) = writeln!(f, "{line}") {
                    console.message(&format!("specgate: cannot write the stats file: {e}"));
                    stats_file = None;
                }
            }
            if let Some(secs) = ui.pending_learn.take() {
                console.message(&learn(h, s.in_peak_db, secs));
            }
        }
        while let Ok(c) = cmds.try_recv() {
            let c = match c {
                Ok(c) => c,
                Err(e) => {
                    console.message(&format!("specgate: {e}"));
                    continue;
                }
            };
            let msg = match c {
                Command::Quit => return End::Stop,
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
                        continue;
                    }
                },
            };
            console.message(&format!("specgate: {msg}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// Commands from `--control FILE` (lines), from single keys when stdin is a terminal (raw
/// mode, crossterm), or lines from stdin when it is a pipe that is not the audio input.
fn command_source(
    args: &Args,
    keys: bool,
    console: &Console,
    stop: Arc<AtomicBool>,
) -> crossbeam_channel::Receiver<Result<Command, String>> {
    let (tx, rx) = crossbeam_channel::bounded(64);
    if keys {
        console.message(
            "keys: t/T threshold −/+1 dB, r/R reduction −/+3 dB, p next preset, b bypass, l learn 2 s, q quit",
        );
        std::thread::spawn(move || {
            use crossterm::event::{read, Event, KeyCode, KeyEventKind, KeyModifiers};
            while let Ok(ev) = read() {
                let Event::Key(k) = ev else { continue };
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                let cmd = match k.code {
                    // Raw mode turns Ctrl-C into a key: stop as the signal would.
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        stop.store(true, Relaxed);
                        break;
                    }
                    KeyCode::Char(c) => parse_command(&c.to_string()),
                    _ => None,
                };
                if let Some(c) = cmd {
                    if tx.send(c).is_err() {
                        break;
                    }
                }
            }
        });
        return rx;
    }
    let reader: Option<Box<dyn BufRead + Send>> = match &args.control {
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Some(Box::new(std::io::BufReader::new(f))),
            Err(e) => {
                console.message(&format!(
                    "specgate: cannot open control file {}: {e}",
                    p.display()
                ));
                None
            }
        },
        None if args.input != "-" => Some(Box::new(std::io::BufReader::new(std::io::stdin()))),
        None => None,
    };
    if let Some(mut r) = reader {
        std::thread::spawn(move || {
            let mut line = String::new();
            loop {
                line.clear();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if let Some(c) = parse_command(&line) {
                            if tx.send(c).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
    }
    rx
}

/// Raw terminal keys (crossterm: termios on Unix, the console API on Windows) while a run
/// reads keys; restored when dropped.
struct KeyMode {
    on: bool,
}

impl KeyMode {
    fn enable(on: bool) -> KeyMode {
        KeyMode {
            on: on && crossterm::terminal::enable_raw_mode().is_ok(),
        }
    }
}

impl Drop for KeyMode {
    fn drop(&mut self) {
        if self.on {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

/// Plays into a writer at the nominal rate on the system clock (for `-` and WAV outputs).
fn clocked_sink(
    mut out: core::OutputEnd,
    rate: u32,
    ch: usize,
    mut write: Writer,
    io_stop: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut done = 0u64;
        let mut buf = vec![0.0f32; (rate as usize / 10 + 1) * ch];
        while !io_stop.load(Relaxed) {
            let due = (t0.elapsed().as_secs_f64() * rate as f64) as u64;
            while done < due {
                let n = ((due - done) as usize).min(buf.len() / ch);
                out.pull(&mut buf[..n * ch], monotonic_ns());
                if write(&buf[..n * ch]).is_err() {
                    // A closed pipe ends the run.
                    stop.store(true, Relaxed);
                    return;
                }
                done += n as u64;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

/// Raw PCM from stdin, pushed as it arrives; a fast pipe (a file) is paced so that no more
/// than `pace` seconds wait in the rings. At the end of the input, pushes `tail` seconds of
/// silence to flush the filter, waits for it to play, and stops the run.
fn stdin_source(
    mut inp: core::InputEnd,
    fmt: RawFormat,
    (in_rate, out_rate): (u32, u32),
    pace: f64,
    tail: f64,
    io_stop: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut bytes = vec![0u8; (in_rate as usize / 100).max(64) * fmt.bytes()];
        let mut pending = Vec::new();
        let mut samples = Vec::new();
        let wait = |inp: &core::InputEnd| {
            while inp.queued_s(in_rate, out_rate) > pace && !io_stop.load(Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        while !io_stop.load(Relaxed) {
            wait(&inp);
            match stdin.read(&mut bytes) {
                Ok(0) | Err(_) => {
                    let zeros = vec![0.0f32; in_rate as usize / 100];
                    let mut left = tail;
                    while left > 0.0 && !io_stop.load(Relaxed) {
                        wait(&inp);
                        inp.push(&zeros, monotonic_ns());
                        left -= 0.01;
                    }
                    std::thread::sleep(Duration::from_secs_f64(pace + 0.05));
                    stop.store(true, Relaxed);
                    return;
                }
                Ok(n) => {
                    pending.extend_from_slice(&bytes[..n]);
                    let whole = pending.len() / fmt.bytes() * fmt.bytes();
                    fmt.decode(&pending[..whole], &mut samples);
                    pending.drain(..whole);
                    inp.push(&samples, monotonic_ns());
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_and_without_k() {
        assert_eq!(parse_rate("48000"), Ok(48_000));
        assert_eq!(parse_rate("48k"), Ok(48_000));
        assert_eq!(parse_rate("44.1k"), Ok(44_100));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
    }

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
    fn channel_option_accepts_numbers_mean_and_all() {
        assert_eq!(parse_channel("2").unwrap(), ChannelMap::Pick(1));
        assert_eq!(parse_channel("MEAN").unwrap(), ChannelMap::Mean);
        assert_eq!(parse_channel("all").unwrap(), ChannelMap::All);
        assert!(parse_channel("0").is_err());
    }
}
