//! `specgate filter IN -o OUT`: files and pipes through the engine in constant memory.
//!
//! A file output is time-aligned with its input (the engine latency is removed: same length,
//! no leading delay). Standard output is a live stream: it carries the latency, is flushed
//! after every block, and ends with the last input sample (the latency tail is flushed).
//!
//! IQ recordings and raw IQ streams (detected, or `--iq`, or an IQ `--format`) go through
//! `io::iq_file` instead: one complex signal per I/Q pair, the `iq` preset by default, and the
//! output time-aligned on pipes too (that module's convention: same length as the input).

use super::common::FilterOptions;
use crate::engine::{self, Engine, SignalKind};
use crate::io::iq::{self as iq, Container, Probe, RawIq};
use crate::io::iq_file::{filter_iq_file, filter_iq_stream, IqFlags, IqSummary};
use crate::io::raw::{RawReader, RawWriter};
use crate::io::wav::{WavFileReader, WavFileWriter};
use crate::io::{self, atomic::AtomicFile, IoError, RawFormat, SampleReader, SampleWriter};
use anyhow::{anyhow, bail, Context};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Set by Ctrl-C / SIGTERM / SIGHUP; checked once per block.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// A first signal stops at the next block: a stream from stdin (a live recording) then ends
/// normally and its output is kept; a file input is abandoned and leaves no output. A second
/// signal exits at once.
fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
}

/// Whether to stop reading: `Err` abandons the output, `Ok(true)` ends the stream normally.
fn check_interrupt(stream_input: bool) -> Result<bool, IoError> {
    if !INTERRUPTED.load(Ordering::Relaxed) {
        Ok(false)
    } else if stream_input {
        Ok(true)
    } else {
        Err(IoError::Format("interrupted".into()))
    }
}

/// Frames per processing block: a few thousand keeps memory constant and pipes responsive.
const BLOCK_FRAMES: usize = 4096;
/// Inputs longer than this get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_S: f64 = 10.0;
/// The most of a noise clip that is read (it is held in memory).
const NOISE_CLIP_MAX_S: f64 = 120.0;

/// Examples shown by `specgate filter --help`.
pub const EXAMPLES: &str = "\
Examples:
  # Live NFM from an RTL-SDR, denoised and played (24 kHz mono s16le on both pipes):
  rtl_fm -f 145.500M -M fm -s 24k - | specgate filter - -o - --format s16le --rate 24k | aplay -r 24000 -f S16_LE -t raw -c 1

  # AM airband from rtl_fm, recorded to a WAV (Ctrl-C ends the recording and keeps it):
  rtl_fm -f 118.1M -M am -s 12k - | specgate filter - -o tower.wav --format s16le --rate 12k --preset am

  # A recording, time-aligned output in the same sample format:
  specgate filter recording.wav -o clean.wav

  # CW with a narrow passband, written as 32-bit float:
  specgate filter cw.wav -o cw-clean.wav --preset cw --low-hz 400 --high-hz 1000 --out-format f32

  # A fixed noise profile from a clip of band noise only (same sample rate as the input):
  specgate filter qso.wav -o qso-clean.wav --noise-clip band-noise.wav

  # A WAV file to a raw pipe (e.g. into a decoder), bit-exact with the digital preset:
  specgate filter ft8.wav -o - --preset digital | my-decoder

  # An IQ recording (SDRuno/HDSDR/SDR#… by its auxi chunk or file name, SigMF, .cu8/.cs16/.cf32):
  # complex gate with the iq preset, every chunk kept; gate only -50…+120 kHz around the centre:
  specgate filter SDRuno_20220309_140138Z_7150kHz.wav -o clean.wav --band -50k:+120k

  # rtl_sdr I/Q through a pipe (cu8 in and out, time-aligned):
  rtl_sdr -f 7.1M -s 2.4M - | specgate filter - -o - --format cu8 --rate 2.4M > clean.cu8

Raw streams: `-` is stdin/stdout. A raw input needs --format and --rate (--channels defaults
to 1); a raw output uses --out-format, else --format, else the input's sample type. A WAV
output takes the input's sample type unless --out-format is given. An output file whose name
ends in .raw, .pcm or .bin is written raw; any other output file is WAV.

IQ: a file is IQ when it is complex SigMF, a 2-channel WAV with an auxi chunk or an SDR
recorder's IQ file name, or a raw .cu8/.cs8/.cs16/.cf32 file (--iq / --no-iq override). The
--format names cu8, cs8, cs16le, cf32le mean I/Q pairs. IQ output keeps the input's container
and sample type and is time-aligned on files and pipes alike; the preset defaults to iq.";

#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// Input: a WAV file, a raw file (with --format), or `-` for stdin (raw with --format,
    /// otherwise WAV).
    pub input: PathBuf,
    /// Output: a WAV file (time-aligned with the input), a .raw/.pcm/.bin file, or `-` for a
    /// live raw stream on stdout.
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub opts: FilterOptions,
    /// A WAV of noise only (no signal): its mean spectrum becomes the fixed noise profile.
    /// Same sample rate as the input; any channel count.
    #[arg(long, value_name = "FILE")]
    pub noise_clip: Option<PathBuf>,
    /// Sample format of a raw input (and of a raw output unless --out-format):
    /// audio u8, s8, s16le, s16be, s24le, s32le, f32le, f32be; or complex I/Q pairs
    /// cu8, cs8, cs16le, cf32le (an IQ stream or recording).
    #[arg(long, short = 'f', value_parser = parse_input_format, value_name = "FMT")]
    pub format: Option<InputFormat>,
    /// Sample format of the output (s16, s24, s32, f32, u8, or any --format name).
    #[arg(long, value_parser = parse_format, value_name = "FMT")]
    pub out_format: Option<RawFormat>,
    /// Sample rate of a raw input, Hz: 24000, 24k, 2.4M.
    #[arg(long, short = 'r', value_parser = io::parse_rate, value_name = "HZ")]
    pub rate: Option<u32>,
    /// Interleaved channels of a raw input.
    #[arg(long, short = 'c', value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    pub channels: Option<u16>,
    /// Only errors and warnings on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub iq: IqFlags,
}

/// `--format`: an audio sample type, or a raw IQ type (interleaved I/Q pairs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Audio(RawFormat),
    Iq(RawIq),
}

impl std::fmt::Display for InputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputFormat::Audio(a) => a.fmt(f),
            InputFormat::Iq(r) => f.write_str(r.name()),
        }
    }
}

impl FilterArgs {
    /// `--format` when it names an audio sample type.
    fn audio_format(&self) -> Option<RawFormat> {
        match self.format {
            Some(InputFormat::Audio(f)) => Some(f),
            _ => None,
        }
    }
}

fn parse_format(s: &str) -> Result<RawFormat, String> {
    s.parse()
}

/// Audio names first (`u8`, `s16le` stay audio); the complex names (`cu8`, `cs16le`, `ci16_le`,
/// `cf32`, `fc32`…) are IQ.
fn parse_input_format(s: &str) -> Result<InputFormat, String> {
    if let Ok(f) = s.parse::<RawFormat>() {
        return Ok(InputFormat::Audio(f));
    }
    RawIq::parse(s.trim()).map(InputFormat::Iq).ok_or_else(|| {
        let names: Vec<&str> = RawFormat::ALL.iter().map(|(_, n, _)| *n).collect();
        format!(
            "unknown sample format '{s}' (audio: {}; IQ: cu8, cs8, cs16le, cf32le)",
            names.join(", ")
        )
    })
}

fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

fn has_ext(p: &Path, exts: &[&str]) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The canonical form of a path that may not exist yet (its directory must).
fn canonical(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(p.file_name()?))
}

/// An existing output that is neither a regular file nor a directory (a device, a FIFO).
fn is_special(p: &Path) -> bool {
    !is_stdio(p) && std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (canonical(a), canonical(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn is_broken_pipe(e: &IoError) -> bool {
    matches!(e, IoError::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// A raw input is `-` or a file not named .wav, with --format given.
fn input_is_raw(a: &FilterArgs) -> bool {
    a.audio_format().is_some() && (is_stdio(&a.input) || !has_ext(&a.input, &["wav", "wave"]))
}

/// Opens the input as WAV or raw, following the rules in [`EXAMPLES`].
fn open_input(a: &FilterArgs) -> anyhow::Result<Box<dyn SampleReader>> {
    let stdin = is_stdio(&a.input);
    let raw = input_is_raw(a);
    let name = if stdin {
        "stdin".to_string()
    } else {
        a.input.display().to_string()
    };
    if raw {
        let fmt = a.audio_format().expect("raw implies --format");
        let rate = a
            .rate
            .ok_or_else(|| anyhow!("a raw input needs --rate (e.g. --rate 24k)"))?;
        let ch = a.channels.unwrap_or(1) as usize;
        let r: Box<dyn SampleReader> = if stdin {
            Box::new(RawReader::new(
                std::io::stdin().lock(),
                fmt,
                rate,
                ch,
                None,
            )?)
        } else {
            let f = std::fs::File::open(&a.input).with_context(|| format!("cannot open {name}"))?;
            let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            Box::new(RawReader::new(f, fmt, rate, ch, len)?)
        };
        return Ok(r);
    }
    let r: Box<dyn SampleReader> = if stdin {
        Box::new(
            WavFileReader::new(std::io::BufReader::new(std::io::stdin().lock())).with_context(
                || "cannot read a WAV from stdin (for raw samples give --format and --rate)",
            )?,
        )
    } else {
        Box::new(WavFileReader::open(&a.input).with_context(|| {
            format!("cannot read {name} as WAV (for raw samples give --format and --rate)")
        })?)
    };
    if let Some(rate) = a.rate.filter(|&r0| r0 != r.rate()) {
        bail!(
            "--rate {rate} contradicts the WAV header of {name} ({} Hz)",
            r.rate()
        );
    }
    if let Some(ch) = a.channels.filter(|&c| c as usize != r.channels()) {
        bail!(
            "--channels {ch} contradicts the WAV header of {name} ({} channels)",
            r.channels()
        );
    }
    Ok(r)
}

/// Reads a noise-only WAV and returns the profile for `engine`.
fn noise_profile(path: &Path, engine: &Engine) -> anyhow::Result<Vec<f32>> {
    let name = path.display();
    let mut r =
        WavFileReader::open(path).with_context(|| format!("cannot read noise clip {name}"))?;
    if r.rate() != engine.rate() {
        bail!(
            "noise clip {name} is at {} Hz but the input is at {} Hz: resample the clip to the \
             input rate",
            r.rate(),
            engine.rate()
        );
    }
    let ch = r.channels();
    let max = (NOISE_CLIP_MAX_S * r.rate() as f64) as usize * ch;
    let mut clip = Vec::new();
    let mut buf = vec![0f32; BLOCK_FRAMES * ch];
    while clip.len() < max {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        clip.extend_from_slice(&buf[..n]);
    }
    for w in r.take_warnings() {
        eprintln!("specgate: warning: noise clip: {w}");
    }
    if clip.is_empty() {
        bail!("noise clip {name} has no samples");
    }
    if clip.len() >= max {
        clip.truncate(max);
        eprintln!("specgate: note: using the first {NOISE_CLIP_MAX_S} s of the noise clip");
    }
    engine::learn_profile(engine.params(), engine.rate(), ch, SignalKind::Real, &clip)
        .with_context(|| format!("noise clip {name}"))
}

/// Opens the output as a live stdout stream, a raw file or a WAV file.
fn open_output(
    a: &FilterArgs,
    fmt: RawFormat,
    rate: u32,
    ch: usize,
    chunks: (&[io::riff::Chunk], &[io::riff::Chunk]),
) -> anyhow::Result<Box<dyn SampleWriter>> {
    if is_stdio(&a.output) {
        return Ok(Box::new(RawWriter::new(
            std::io::stdout().lock(),
            fmt,
            None,
        )));
    }
    let name = a.output.display();
    if is_special(&a.output) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&a.output)
            .with_context(|| format!("cannot write {name}"))?;
        if f.is_terminal() {
            bail!("refusing to write raw samples to the terminal {name}");
        }
        return Ok(Box::new(RawWriter::new(f, fmt, None)));
    }
    if has_ext(&a.output, &["raw", "pcm", "bin"]) {
        let f = AtomicFile::create(&a.output).with_context(|| format!("cannot write {name}"))?;
        let w = std::io::BufWriter::with_capacity(1 << 16, f.file()?);
        return Ok(Box::new(RawWriter::new(w, fmt, Some(f))));
    }
    Ok(Box::new({
        // An audio output must not look like I/Q to the next reader: `auxi` stays behind.
        let audio = |v: &[io::riff::Chunk]| -> Vec<io::riff::Chunk> {
            v.iter().filter(|c| &c.id != b"auxi").cloned().collect()
        };
        WavFileWriter::create_with_chunks(
            &a.output,
            fmt,
            rate,
            ch,
            &audio(chunks.0),
            &audio(chunks.1),
        )
        .with_context(|| format!("cannot write {name}"))?
    }))
}

/// Drops the first `skip` frames of what the engine emits (file alignment), writes the rest.
struct Emitter {
    writer: Box<dyn SampleWriter>,
    channels: usize,
    skip: usize,
    live: bool,
    written: u64,
}

impl Emitter {
    fn emit(&mut self, out: &[f32]) -> Result<(), IoError> {
        let frames = out.len() / self.channels;
        let drop = self.skip.min(frames);
        self.skip -= drop;
        let rest = &out[drop * self.channels..];
        if !rest.is_empty() {
            self.writer.write(rest)?;
            self.written += (rest.len() / self.channels) as u64;
            if self.live {
                self.writer.flush()?;
            }
        }
        Ok(())
    }
}

/// Moves blocks from the reader through the engine (or the integer copy) to the emitter.
struct Pump<'a> {
    reader: &'a mut dyn SampleReader,
    em: Emitter,
    progress: Option<&'a indicatif::ProgressBar>,
    /// Input from stdin: an interrupt ends the stream normally.
    stream_input: bool,
    frames_in: u64,
}

impl Pump<'_> {
    /// Counts a block in; false when the stream should stop (interrupt on a stdin stream).
    fn advance(&mut self, frames: usize) -> Result<bool, IoError> {
        if let Some(pb) = self.progress {
            pb.inc(frames as u64);
        }
        Ok(!check_interrupt(self.stream_input)?)
    }

    /// The engine path. At the end `latency` zero frames flush the tail: a file gets its last
    /// frames (the emitter dropped as many at the start), a stream ends complete.
    fn filter(&mut self, engine: &mut Engine) -> Result<(), IoError> {
        let ch = engine.channels();
        let mut inb = vec![0f32; BLOCK_FRAMES * ch];
        let mut outb = vec![0f32; BLOCK_FRAMES * ch];
        let mut warned_nonfinite = false;
        loop {
            let n = self.reader.read(&mut inb)?;
            report_warnings(self.reader);
            if n == 0 {
                break;
            }
            self.frames_in += (n / ch) as u64;
            engine.process(&inb[..n], &mut outb[..n]);
            if !warned_nonfinite && engine.stats().nonfinite > 0 {
                warned_nonfinite = true;
                eprintln!(
                    "specgate: warning: the input has NaN/Inf samples (first near {:.3} s); \
                     they are replaced by zeros",
                    self.frames_in as f64 / engine.rate() as f64
                );
            }
            self.em.emit(&outb[..n])?;
            if !self.advance(n / ch)? {
                break;
            }
        }
        if self.frames_in == 0 {
            return Ok(());
        }
        inb.fill(0.0);
        let mut left = engine.latency_samples();
        while left > 0 {
            let f = left.min(BLOCK_FRAMES);
            engine.process(&inb[..f * ch], &mut outb[..f * ch]);
            self.em.emit(&outb[..f * ch])?;
            left -= f;
        }
        Ok(())
    }

    /// The bit-exact bypass for integer samples (f32 cannot carry 32-bit ones exactly): a copy.
    /// A live stream still gets `latency` leading zero frames, as the engine's bypass gives.
    fn copy_integers(&mut self, latency: usize) -> Result<(), IoError> {
        let ch = self.em.channels;
        let mut buf = vec![0i32; BLOCK_FRAMES * ch];
        loop {
            let n = self.reader.read_i32(&mut buf)?;
            report_warnings(self.reader);
            if n == 0 {
                break;
            }
            let w = &mut self.em.writer;
            if self.frames_in == 0 && self.em.live && latency > 0 {
                w.write_i32(&vec![0; latency * ch])?;
                self.em.written += latency as u64;
            }
            self.frames_in += (n / ch) as u64;
            w.write_i32(&buf[..n])?;
            self.em.written += (n / ch) as u64;
            if self.em.live {
                self.em.writer.flush()?;
            }
            if !self.advance(n / ch)? {
                break;
            }
        }
        Ok(())
    }
}

pub fn run(a: FilterArgs) -> anyhow::Result<()> {
    match route(&a)? {
        Route::Audio => {}
        Route::IqFile(probe) => return run_iq_file(&a, probe),
        Route::IqStream(fmt) => return run_iq_stream(&a, fmt),
    }
    install_interrupt_handler();
    let mut params = a.opts.resolve()?;
    if params.reduction_db <= 0.0 {
        // An open gate is the identity mask; the engine's dry path gives it bit-exactly
        // instead of through the STFT's f32 round-off (~2 LSB at 24 bits).
        params.bypass = true;
    }
    // A device or FIFO (`-o /dev/null`, `-o /tmp/fifo`) is a stream like stdout: written in
    // place, never replaced by a rename.
    let live = is_stdio(&a.output) || is_special(&a.output);
    if !live {
        if !is_stdio(&a.input) && same_file(&a.input, &a.output) {
            bail!(
                "refusing to overwrite the input {}: choose another output",
                a.input.display()
            );
        }
        if let Some(clip) = &a.noise_clip {
            if same_file(clip, &a.output) {
                bail!(
                    "refusing to overwrite the noise clip {}: choose another output",
                    clip.display()
                );
            }
        }
        if a.output.is_dir() {
            bail!("output {} is a directory", a.output.display());
        }
    } else if is_stdio(&a.output) && std::io::stdout().is_terminal() {
        bail!("refusing to write raw samples to a terminal: pipe stdout into a player or decoder, or give -o FILE");
    }

    let mut reader = open_input(&a)?;
    let (rate, ch) = (reader.rate(), reader.channels());
    if reader.len_frames() == Some(0) {
        bail!("no samples in the input {}", a.input.display());
    }
    let in_fmt = reader.format();
    let raw_out = live || has_ext(&a.output, &["raw", "pcm", "bin"]);
    let out_fmt = if raw_out {
        a.out_format.or(a.audio_format()).unwrap_or(in_fmt)
    } else {
        a.out_format.unwrap_or(in_fmt)
    };
    if let (Some(f), false, false) = (a.audio_format(), input_is_raw(&a), raw_out) {
        eprintln!(
            "specgate: note: --format {f} is ignored: the input is a WAV file and so is the \
             output (use --out-format to change the output's sample type)"
        );
    }

    let mut engine = Engine::new(&params, rate, ch, SignalKind::Real)?;
    if let Some(clip) = &a.noise_clip {
        let prof = noise_profile(clip, &engine)?;
        if params.learn > 0.0 {
            eprintln!("specgate: note: --noise-clip replaces --learn");
        }
        engine.set_noise_profile(&prof)?;
    }
    let lat = engine.latency_samples();
    if !a.quiet {
        eprintln!(
            "specgate: {rate} Hz, {ch} ch, {in_fmt} -> {out_fmt}; latency {lat} samples ({:.2} ms){}",
            lat as f64 * 1000.0 / rate as f64,
            if live {
                ", carried by the live stream"
            } else {
                ", removed in the file (time-aligned)"
            }
        );
    }

    let writer = open_output(&a, out_fmt, rate, ch, reader.chunks())?;
    let progress = reader
        .len_frames()
        .filter(|&n| n as f64 > PROGRESS_MIN_S * rate as f64 && std::io::stderr().is_terminal())
        .map(|n| {
            let pb = indicatif::ProgressBar::new(n);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {percent:>3}% {elapsed_precise} eta {eta}",
            ) {
                pb.set_style(style);
            }
            pb
        });
    let em = Emitter {
        writer,
        channels: ch,
        skip: if live { 0 } else { lat },
        live,
        written: 0,
    };

    let mut pump = Pump {
        reader: reader.as_mut(),
        em,
        progress: progress.as_ref(),
        stream_input: is_stdio(&a.input),
        frames_in: 0,
    };
    let t0 = Instant::now();
    let result = if params.bypass && !in_fmt.is_float() && in_fmt.same_values(out_fmt) {
        pump.copy_integers(lat)
    } else {
        pump.filter(&mut engine)
    };
    let Pump { em, frames_in, .. } = pump;
    if let Some(pb) = &progress {
        pb.finish_and_clear();
    }
    let Emitter {
        writer, written, ..
    } = em;
    match result {
        Err(e) if live && is_broken_pipe(&e) => {
            if !a.quiet {
                eprintln!("specgate: the output pipe was closed; stopping");
            }
            return Ok(());
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "filtering {} failed{}",
                    a.input.display(),
                    if live {
                        ""
                    } else {
                        "; no output file was written"
                    }
                )
            })
        }
        Ok(()) => {}
    }
    if frames_in == 0 {
        bail!("no samples in the input {}", a.input.display());
    }
    if INTERRUPTED.load(Ordering::Relaxed) && !a.quiet {
        eprintln!("specgate: interrupted: the stream ends here");
    }
    let clipped = writer.clipped();
    match writer.finish() {
        Err(e) if live && is_broken_pipe(&e) => return Ok(()),
        r => r.with_context(|| format!("cannot finish {}", a.output.display()))?,
    }
    let stats = engine.stats();
    if clipped > 0 {
        eprintln!(
            "specgate: warning: {clipped} samples were clipped to the {out_fmt} range \
             (consider --out-format f32)"
        );
    }
    if stats.nonfinite > 0 {
        eprintln!(
            "specgate: warning: {} NaN/Inf input samples were replaced by zeros",
            stats.nonfinite
        );
    }
    if !a.quiet {
        let secs = frames_in as f64 / rate as f64;
        let wall = t0.elapsed().as_secs_f64();
        eprintln!(
            "specgate: {secs:.2} s filtered ({frames_in} frames in, {written} out), mean \
             attenuation {:.1} dB, {:.1}x realtime",
            stats.attenuation_db(),
            if wall > 0.0 {
                secs / wall
            } else {
                f64::INFINITY
            }
        );
    }
    Ok(())
}

fn report_warnings(r: &mut dyn SampleReader) {
    for w in r.take_warnings() {
        eprintln!("specgate: warning: {w}");
    }
}

// ---------------------------------------------------------------------------------------------
// IQ recordings and streams: one complex signal per I/Q pair, through `io::iq_file`.

/// Which path an invocation takes.
enum Route {
    Audio,
    /// An IQ recording file (its probe when the header could be read).
    IqFile(Option<Box<Probe>>),
    /// A raw IQ stream on stdin.
    IqStream(RawIq),
}

/// The raw IQ type of an audio `--format` under `--iq` (`s16le` → `cs16le`).
fn iq_of_audio(f: RawFormat) -> anyhow::Result<RawIq> {
    match f {
        RawFormat::U8 => Ok(RawIq::Cu8),
        RawFormat::S8 => Ok(RawIq::Cs8),
        RawFormat::S16Le => Ok(RawIq::Cs16le),
        RawFormat::F32Le => Ok(RawIq::Cf32le),
        _ => bail!("--format {f} has no IQ equivalent: use cu8, cs8, cs16le or cf32le"),
    }
}

fn is_sigmf_name(p: &Path) -> bool {
    has_ext(p, &["sigmf-meta", "sigmf-data", "sigmf"])
}

/// Detection: `--no-iq` → audio; an IQ `--format` → IQ; stdin is audio unless told otherwise;
/// a file is IQ when [`iq::probe`] says so (SigMF complex datatype, `auxi` chunk, recorder file
/// name, raw IQ extension). A file the probe cannot read goes the audio way, whose reader gives
/// the error.
fn route(a: &FilterArgs) -> anyhow::Result<Route> {
    let force = a.iq.force();
    if force == Some(false) {
        if let Some(InputFormat::Iq(r)) = a.format {
            bail!(
                "--format {} is an IQ format but --no-iq was given: use an audio format \
                 (u8, s8, s16le, …)",
                r.name()
            );
        }
        return Ok(Route::Audio);
    }
    if is_stdio(&a.input) {
        return Ok(match (a.format, force) {
            (Some(InputFormat::Iq(r)), _) => Route::IqStream(r),
            (Some(InputFormat::Audio(f)), Some(true)) => Route::IqStream(iq_of_audio(f)?),
            (None, Some(true)) => {
                bail!("an IQ stream on stdin needs --format (cu8, cs8, cs16le, cf32le) and --rate")
            }
            _ => Route::Audio,
        });
    }
    let probe = iq::probe(&a.input, force);
    match a.format {
        Some(InputFormat::Iq(_)) => return Ok(Route::IqFile(probe.ok().map(Box::new))),
        Some(InputFormat::Audio(_)) if input_is_raw(a) && !is_sigmf_name(&a.input) => {
            return Ok(if force == Some(true) {
                Route::IqFile(None)
            } else {
                Route::Audio
            });
        }
        _ => {}
    }
    match probe {
        Ok(p) if p.detection.is_iq => Ok(Route::IqFile(Some(Box::new(p)))),
        Ok(p) if matches!(p.container, Container::Sigmf(_)) => bail!(
            "{} is a real-valued SigMF recording ({}); only complex (IQ) SigMF is supported",
            a.input.display(),
            p.format
        ),
        Ok(_) => Ok(Route::Audio),
        Err(e) if force == Some(true) || is_sigmf_name(&a.input) => Err(e),
        Err(_) => Ok(Route::Audio),
    }
}

/// Flags of the audio path that mean nothing for IQ: refused rather than silently ignored.
fn check_iq_flags(a: &FilterArgs) -> anyhow::Result<()> {
    if a.noise_clip.is_some() {
        bail!(
            "--noise-clip is not supported for IQ recordings: the noise floor is estimated from \
             the recording itself (see --profile-s)"
        );
    }
    if let Some(f) = a.out_format {
        bail!("--out-format {f} is not supported for IQ: the output keeps the input's format");
    }
    if let Some(c) = a.channels.filter(|&c| c != 2) {
        bail!("--channels {c}: an IQ stream is one I/Q pair (2 channels)");
    }
    Ok(())
}

/// The `iq` preset unless `--preset` was given; an open gate is the byte copy.
fn iq_params(a: &FilterArgs) -> anyhow::Result<crate::params::Params> {
    let mut params = a.opts.resolve_or("iq")?;
    if params.reduction_db <= 0.0 {
        params.bypass = true;
    }
    Ok(params)
}

fn iq_options(a: &FilterArgs) -> anyhow::Result<crate::io::iq_file::IqOptions> {
    let mut o = a.iq.to_options();
    o.raw_format = match a.format {
        Some(InputFormat::Iq(r)) => Some(r),
        Some(InputFormat::Audio(f)) if a.iq.iq && input_is_raw(a) => Some(iq_of_audio(f)?),
        _ => None,
    };
    o.raw_rate = a.rate;
    Ok(o)
}

/// `filter_iq_file` has no cancellation hook: on Ctrl-C / SIGTERM its temporary files (named
/// `.NAME.specgate-PID.tmp` next to each output, see `TempOut` in `io::iq_file`) are removed
/// and the process exits, so an interrupted run leaves no output.
fn install_iq_file_interrupt(output: Option<&Path>) {
    let temps: Vec<PathBuf> = match output {
        None => Vec::new(),
        Some(o) => {
            let targets = if is_sigmf_name(o) {
                let (m, d) = crate::io::sigmf::pair(o);
                vec![m, d]
            } else {
                vec![o.to_path_buf()]
            };
            targets
                .iter()
                .filter_map(|t| {
                    let name = t.file_name()?.to_string_lossy().into_owned();
                    Some(t.with_file_name(format!(".{name}.specgate-{}.tmp", std::process::id())))
                })
                .collect()
        }
    };
    let _ = ctrlc::set_handler(move || {
        for t in &temps {
            let _ = std::fs::remove_file(t);
        }
        eprintln!("specgate: interrupted; no output file was written");
        std::process::exit(130);
    });
}

/// Whether an error chain holds a closed pipe (the reader of stdout went away).
fn chain_has_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn print_iq_header(a: &FilterArgs, what: &str, params: &crate::params::Params) {
    if !a.quiet {
        eprintln!(
            "specgate: IQ ({what}), preset {}{}",
            a.opts.preset.as_deref().unwrap_or("iq"),
            if params.bypass {
                "; gate open: samples copied unchanged"
            } else {
                ""
            }
        );
    }
}

fn print_iq_summary(a: &FilterArgs, s: &IqSummary, live: bool, t0: Instant) {
    for w in &s.warnings {
        eprintln!("specgate: warning: {w}");
    }
    if a.quiet {
        return;
    }
    let lat = s.latency_samples;
    eprintln!(
        "specgate: {}, {} Hz, complex; latency {lat} samples ({:.2} ms), removed in the {} \
         (time-aligned){}",
        s.format,
        s.rate,
        lat as f64 * 1000.0 / s.rate.max(1) as f64,
        if live { "stream" } else { "file" },
        if s.rf64 { "; written as RF64" } else { "" }
    );
    let secs = s.frames as f64 / s.rate.max(1) as f64;
    let wall = t0.elapsed().as_secs_f64();
    eprintln!(
        "specgate: {secs:.2} s filtered ({} complex samples), mean attenuation {:.1} dB, \
         {:.1}x realtime",
        s.frames,
        s.attenuation_db,
        if wall > 0.0 {
            secs / wall
        } else {
            f64::INFINITY
        }
    );
}

/// Opens stdout or a device/FIFO for a live IQ stream.
fn open_live_output(a: &FilterArgs) -> anyhow::Result<Box<dyn std::io::Write>> {
    if is_stdio(&a.output) {
        return Ok(Box::new(std::io::stdout().lock()));
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&a.output)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    if f.is_terminal() {
        bail!(
            "refusing to write raw samples to the terminal {}",
            a.output.display()
        );
    }
    Ok(Box::new(f))
}

/// Runs a stream, treating a closed output pipe as the end.
fn finish_stream(
    a: &FilterArgs,
    r: anyhow::Result<IqSummary>,
    t0: Instant,
    live: bool,
) -> anyhow::Result<()> {
    match r {
        Ok(s) => {
            print_iq_summary(a, &s, live, t0);
            Ok(())
        }
        Err(e) if live && chain_has_broken_pipe(&e) => {
            if !a.quiet {
                eprintln!("specgate: the output pipe was closed; stopping");
            }
            Ok(())
        }
        Err(e) => Err(e.context(format!("filtering {} failed", a.input.display()))),
    }
}

/// An IQ recording file. To a file: [`filter_iq_file`] (container and chunks kept, temp file +
/// rename). To stdout or a device: the sample data streamed as raw IQ of the same type.
fn run_iq_file(a: &FilterArgs, probe: Option<Box<Probe>>) -> anyhow::Result<()> {
    check_iq_flags(a)?;
    let params = iq_params(a)?;
    let opts = iq_options(a)?;
    if let (Some(p), Some(r)) = (&probe, a.rate) {
        if let Some(pr) = p
            .rate
            .filter(|&pr| pr != r && !matches!(p.container, Container::Raw(_)))
        {
            bail!(
                "--rate {r} contradicts the header of {} ({pr} Hz)",
                a.input.display()
            );
        }
    }
    let reason = probe
        .as_ref()
        .map(|p| p.detection.reason.clone())
        .unwrap_or_else(|| "--format".into());
    let live = is_stdio(&a.output) || is_special(&a.output);
    install_iq_file_interrupt(if live { None } else { Some(&a.output) });
    print_iq_header(a, &reason, &params);
    let t0 = Instant::now();
    if !live {
        let s = filter_iq_file(&a.input, &a.output, &params, &opts).with_context(|| {
            format!(
                "filtering {} failed; no output file was written",
                a.input.display()
            )
        })?;
        print_iq_summary(a, &s, false, t0);
        return Ok(());
    }
    // Live output: locate the sample bytes and stream them.
    let (path, offset, len, fmt, rate) = match probe.as_deref().map(|p| (&p.container, p.rate)) {
        Some((Container::Wav(l), rate)) => {
            use crate::io::riff::SampleFormat as S;
            let fmt = match (l.fmt.channels, l.fmt.sample) {
                (2, S::U8) => RawIq::Cu8,
                (2, S::I16) => RawIq::Cs16le,
                (2, S::F32) => RawIq::Cf32le,
                (c, s) => bail!(
                    "streaming this IQ WAV ({c} channels, {}) to {} is not supported: write \
                     it to a file (-o out.wav)",
                    s.name(),
                    a.output.display()
                ),
            };
            (a.input.clone(), l.data_offset, l.data_len, fmt, rate)
        }
        Some((Container::Sigmf(s), rate)) => {
            let fmt = RawIq::parse(&s.datatype.to_string()).ok_or_else(|| {
                anyhow!(
                    "streaming SigMF {} to {} is not supported: write it to a file",
                    s.datatype,
                    a.output.display()
                )
            })?;
            (s.data_path.clone(), 0, s.data_len, fmt, rate)
        }
        other => {
            let fmt = match (opts.raw_format, other) {
                (Some(r), _) => r,
                (None, Some((Container::Raw(r), _))) => *r,
                _ => bail!(
                    "the raw IQ format of {} is unknown: give --format",
                    a.input.display()
                ),
            };
            let rate = a.rate.or(other.and_then(|(_, r)| r));
            (a.input.clone(), 0, u64::MAX, fmt, rate)
        }
    };
    let rate =
        rate.ok_or_else(|| anyhow!("{}: unknown sample rate (use --rate)", a.input.display()))?;
    let mut f =
        std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset))?;
    let input = std::io::BufReader::with_capacity(1 << 20, std::io::Read::take(f, len));
    let out = open_live_output(a)?;
    let r = filter_iq_stream(input, out, fmt, rate, &params, &opts);
    finish_stream(a, r, t0, true)
}

/// A raw IQ stream from stdin, to stdout/a device (live) or to a raw file (temp + rename).
fn run_iq_stream(a: &FilterArgs, fmt: RawIq) -> anyhow::Result<()> {
    check_iq_flags(a)?;
    let params = iq_params(a)?;
    let opts = iq_options(a)?;
    let rate = a
        .rate
        .ok_or_else(|| anyhow!("a raw IQ stream needs --rate (e.g. --rate 2.4M)"))?;
    let live = is_stdio(&a.output) || is_special(&a.output);
    if !live {
        if a.output.is_dir() {
            bail!("output {} is a directory", a.output.display());
        }
        if has_ext(
            &a.output,
            &["wav", "wave", "sigmf-meta", "sigmf-data", "sigmf"],
        ) {
            bail!(
                "a raw IQ stream is written as raw {} samples: name the output .{} / .raw, or \
                 use -o -",
                fmt.name(),
                fmt.name()
            );
        }
    }
    // As for audio: a first signal does not stop a stdin stream; the upstream program gets it
    // too and closes the pipe, and the stream then ends normally with its tail flushed.
    install_interrupt_handler();
    print_iq_header(a, &format!("--format {}", fmt.name()), &params);
    let input = std::io::stdin().lock();
    let t0 = Instant::now();
    if live {
        let out = open_live_output(a)?;
        let r = filter_iq_stream(input, out, fmt, rate, &params, &opts);
        return finish_stream(a, r, t0, true);
    }
    let name = a.output.display();
    let file = AtomicFile::create(&a.output).with_context(|| format!("cannot write {name}"))?;
    let w = std::io::BufWriter::with_capacity(1 << 20, file.file()?);
    let s = filter_iq_stream(input, w, fmt, rate, &params, &opts)
        .context("filtering stdin failed; no output file was written")?;
    file.commit()
        .with_context(|| format!("cannot finish {name}"))?;
    print_iq_summary(a, &s, false, t0);
    Ok(())
}
