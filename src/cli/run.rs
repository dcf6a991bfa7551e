//! `specgate run`: live filtering from a device (or a pipe, or UDP) to a device (or a pipe, or
//! a WAV file) at a fixed, reported latency, with live control and a status line.

use super::common::FilterOptions;
use crate::cancel::Cancel;
use crate::live::core::ChannelMap;
use crate::live::session::{self, parse_command, Command, Config, Input, Observer, Output, Status};
use anyhow::{bail, Context};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Mutex;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Input: a device (id, exact name, unique substring, or `default`), `-` (raw PCM on stdin),
    /// or `udp:[HOST:]PORT` (raw PCM datagrams; binds 127.0.0.1 unless HOST is given).
    #[arg(long, short = 'i', default_value = "default")]
    pub input: String,
    /// Output: a device, `-` (raw PCM on stdout), or FILE.wav.
    #[arg(long, short = 'o', default_value = "default")]
    pub output: String,
    /// Audio host (ALSA, PipeWire, JACK, PulseAudio where built); default: a running JACK
    /// server, else a running PipeWire server, else ALSA.
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

impl From<RawFormat> for crate::io::RawFormat {
    fn from(f: RawFormat) -> Self {
        match f {
            RawFormat::S16le => crate::io::RawFormat::S16Le,
            RawFormat::F32le => crate::io::RawFormat::F32Le,
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

/// `specgate run`: arguments into a [`Config`], keys or control lines into a channel, the
/// library's session, and what it says onto stderr (and `--stats`).
pub fn run(args: Box<Args>) -> anyhow::Result<()> {
    let cfg = Config {
        input: Input::parse(&args.input)?,
        output: Output::parse(&args.output),
        host: args.host.clone(),
        params: args.filter.resolve()?,
        preset: args.filter.preset_name().to_string(),
        buffer_ms: args.buffer_ms,
        period_ms: args.period_ms,
        max_latency_ms: args.max_latency_ms,
        rate: args.rate,
        raw_rate: args.raw_rate,
        raw_format: args.raw_format.into(),
        channel: parse_channel(&args.channel)?,
        status_interval_s: args.status_interval,
        duration_s: args.duration,
        no_reconnect: args.no_reconnect,
    };
    // SIGINT/TERM/HUP/…: the first ends the session normally (a recording is finished), a
    // second exits at once; either way the exit status is 128 + N.
    let cancel = Cancel::on_signals().context("cannot install the signal handler")?;
    let keys = args.control.is_none() && args.input != "-" && std::io::stdin().is_terminal();
    let _keys = KeyMode::enable(keys);
    let console = Console::new(keys);
    let stats = match &args.stats {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open the stats file {}", p.display()))?,
        ),
        None => None,
    };
    let cmds = command_source(&args, keys, &console, cancel.clone());
    let obs = Printer {
        console: &console,
        quiet: args.quiet,
        stats: Mutex::new(stats),
    };
    let r = session::run(&cfg, &cmds, &cancel, &obs);
    console.finish();
    Ok(r?)
}

/// The session's observer: messages and the status line on the console, `--stats` lines.
struct Printer<'a> {
    console: &'a Console,
    quiet: bool,
    stats: Mutex<Option<std::fs::File>>,
}

impl Observer for Printer<'_> {
    fn message(&self, text: &str) {
        self.console.message(text);
    }
    fn status(&self, s: &Status) {
        if !self.quiet {
            self.console.status(&s.line());
        }
        let mut f = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = f.as_mut() {
            let line = serde_json::to_string(s).unwrap_or_default();
            if let Err(e) = writeln!(file, "{line}") {
                self.console
                    .message(&format!("specgate: cannot write the stats file: {e}"));
                *f = None;
            }
        }
    }
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

/// Commands from `--control FILE` (lines), from single keys when stdin is a terminal (raw
/// mode, crossterm), or lines from stdin when it is a pipe that is not the audio input.
fn command_source(
    args: &Args,
    keys: bool,
    console: &Console,
    cancel: Cancel,
) -> crossbeam_channel::Receiver<Result<Command, String>> {
    let (tx, rx) = crossbeam_channel::bounded(64);
    if keys {
        console.message(&format!("keys: {}", session::COMMANDS_HELP));
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
                        cancel.cancel();
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
    fn channel_option_accepts_numbers_mean_and_all() {
        assert_eq!(parse_channel("2").unwrap(), ChannelMap::Pick(1));
        assert_eq!(parse_channel("MEAN").unwrap(), ChannelMap::Mean);
        assert_eq!(parse_channel("all").unwrap(), ChannelMap::All);
        assert!(parse_channel("0").is_err());
    }
}
