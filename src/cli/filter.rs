//! `specgate filter IN -o OUT`: parses the arguments, calls [`crate::stream`], prints.
//!
//! Every input — WAV/RF64 audio or I/Q, SigMF, raw audio or I/Q, file, FIFO or stdin — takes the
//! same path: `stream::open` (probe) → `stream::filter::run` (engine primed, one pump, one sink).

use super::common::{parse_input_format, progress_bar, FilterOptions};
use crate::dsp::floor::{Band, Outside};
use crate::io::RawFormat;
use crate::stream::filter::{self, Summary};
use crate::stream::probe::RawHint;
use crate::stream::sink::{self, OutputKind, OutputRequest, OutputSpec};
use crate::stream::{InputSpec, ProbeHints, StreamError, Timing};
use anyhow::{anyhow, bail, Context};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Examples shown by `specgate filter --help`.
pub const EXAMPLES: &str = "\
Examples:
  # Live NFM from an RTL-SDR, denoised and played as it comes (24 kHz mono s16le on both pipes):
  rtl_fm -f 145.500M -M fm -s 24k - | specgate filter - -o - --format s16le --rate 24k --carry-latency | aplay -r 24000 -f S16_LE -t raw -c 1

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
  # complex gate with the iq preset, every chunk kept, an auxi chunk with the centre frequency
  # added when the input had none; gate only -50…+120 kHz around the centre:
  specgate filter SDRuno_20220309_140138Z_7150kHz.wav -o clean.wav --band -50k:+120k

  # rtl_sdr I/Q through a pipe (cu8 in and out, time-aligned):
  rtl_sdr -f 7.1M -s 2.4M - | specgate filter - -o - --format cu8 --rate 2.4M > clean.cu8

Inputs: `-` is stdin; FIFOs, process substitution and /dev/stdin are read without losing a
byte. A raw input needs --format and --rate (--channels defaults to 1).

Outputs: .wav/.wave is WAV (RF64 above 4 GiB); .sigmf-meta/.sigmf-data is SigMF; .raw, .pcm,
.bin, .cu8, .cs8, .cs16, .cf32 are raw; `-` is stdout; any other name is an error. A raw output
uses --out-format, else --format, else the input's sample type; a WAV output takes the input's
sample type unless --out-format is given.

Timing: every output is time-aligned with its input (the engine latency removed, same length),
stdout included. --carry-latency makes a stream output (stdout, a FIFO, a device) live instead:
each block goes out as soon as it is filtered, delayed by the latency, the tail flushed at the end.

IQ: a file is IQ when it is complex SigMF, a 2-channel WAV with an auxi chunk or an SDR
recorder's IQ file name, or a raw .cu8/.cs8/.cs16/.cf32 file (--iq / --no-iq override). The
--format names cu8, cs8, cs16le, cf32le mean I/Q pairs. IQ output keeps the input's container
and sample type; the preset defaults to iq.";

#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// Input: a WAV/RF64 or SigMF file, a raw file (with --format), a FIFO, or `-` for stdin
    /// (raw with --format, otherwise WAV).
    pub input: PathBuf,
    /// Output: .wav, .sigmf-meta, a raw file (.raw/.pcm/.bin/.cu8/.cs16/.cf32), or `-` for a raw
    /// stream on stdout.
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
    pub format: Option<RawHint>,
    /// Sample format of the output (s16, s24, s32, f32, u8, or any --format name).
    #[arg(long, value_parser = parse_format, value_name = "FMT")]
    pub out_format: Option<RawFormat>,
    /// Sample rate of a raw input, Hz: 24000, 24k, 2.4M.
    #[arg(long, short = 'r', value_parser = crate::units::parse_rate, value_name = "HZ")]
    pub rate: Option<u32>,
    /// Interleaved channels of a raw input.
    #[arg(long, short = 'c', value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    pub channels: Option<u16>,
    /// On a stream output (stdout, FIFO, device): carry the engine latency and emit each block
    /// at once (live), instead of the time-aligned output.
    #[arg(long, alias = "live")]
    pub carry_latency: bool,
    /// Only errors and warnings on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub iq: IqFlags,
}

/// The IQ flags of `specgate filter`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct IqFlags {
    /// Treat the input as IQ (I/Q pairs → one complex signal) whatever the detection says.
    #[arg(long, conflicts_with = "no_iq", help_heading = "IQ recordings")]
    pub iq: bool,
    /// Treat the input as audio even if it looks like an IQ recording.
    #[arg(long, help_heading = "IQ recordings")]
    pub no_iq: bool,
    /// Gate only this band relative to the centre, e.g. -50k:+120k.
    #[arg(long, allow_hyphen_values = true, help_heading = "IQ recordings")]
    pub band: Option<Band>,
    /// Outside --band: pass (unchanged) or blank (full reduction).
    #[arg(long, default_value = "pass", value_parser = ["pass", "blank"], help_heading = "IQ recordings")]
    pub outside: String,
    /// Always write RF64 (otherwise only when the data exceeds 4 GiB).
    #[arg(long, help_heading = "IQ recordings")]
    pub rf64: bool,
    /// Seconds of the recording analysed for the noise floor (0 = blind tracking).
    #[arg(long, default_value_t = 1.0, help_heading = "IQ recordings")]
    pub profile_s: f64,
}

impl IqFlags {
    /// `Some(true)` for --iq, `Some(false)` for --no-iq.
    pub fn force(&self) -> Option<bool> {
        match (self.iq, self.no_iq) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

fn parse_format(s: &str) -> Result<RawFormat, String> {
    s.parse()
}

fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Flags of the audio path that mean nothing for IQ: refused rather than silently ignored.
fn check_iq_flags(a: &FilterArgs, input_is_stdin: bool) -> anyhow::Result<()> {
    if a.noise_clip.is_some() {
        bail!(
            "--noise-clip is not supported for IQ recordings: the noise floor is estimated from \
             the recording itself (see --profile-s)"
        );
    }
    if let Some(f) = a.out_format {
        bail!("--out-format {f} is not supported for IQ: the output keeps the input's format");
    }
    if input_is_stdin && !is_stdio(&a.output) && !sink::is_special(&a.output) {
        if let Ok(OutputKind::Wav | OutputKind::Sigmf) = sink::kind_of(&a.output) {
            let name = match a.format {
                Some(RawHint::Iq(r)) => r.name(),
                _ => "IQ",
            };
            bail!(
                "a raw IQ stream is written as raw {name} samples: name the output .{name} / \
                 .raw, or use -o -"
            );
        }
    }
    Ok(())
}

pub fn run(a: FilterArgs) -> anyhow::Result<()> {
    // The one cancellation path (`crate::cancel`): a first signal stops at the next block — a
    // stdin recording ends normally and keeps its output, a file run is abandoned and leaves
    // nothing; a second exits at once; the exit status is 128 + N either way.
    let cancel = crate::cancel::Cancel::on_signals()?;
    let hints = ProbeHints {
        force_iq: a.iq.force(),
        format: a.format,
        rate: a.rate,
        channels: a.channels.map(|c| c as usize),
        describe_only: false,
    };
    let stream_out = is_stdio(&a.output) || sink::is_special(&a.output);
    if stream_out {
        if is_stdio(&a.output) && std::io::stdout().is_terminal() {
            bail!(
                "refusing to write raw samples to a terminal: pipe stdout into a player or \
                 decoder, or give -o FILE"
            );
        }
    } else {
        if a.carry_latency {
            bail!(
                "--carry-latency applies to a stream output (-o -, a FIFO or a device); a file \
                 is always time-aligned"
            );
        }
        if let Some(clip) = &a.noise_clip {
            if !is_stdio(&a.input) && same_path(clip, &a.output) {
                bail!(
                    "refusing to overwrite the noise clip {}: choose another output",
                    clip.display()
                );
            }
        }
        sink::kind_of(&a.output)?;
    }
    let input = InputSpec::from_path(&a.input);
    let stdin = matches!(input, InputSpec::Stdin);
    let mut src = crate::stream::open(input, &hints)?;
    let info = src.info().clone();
    if info.frames == Some(0) && !info.is_iq() {
        bail!("no samples in the input {}", a.input.display());
    }
    let iq = info.is_iq();
    if iq {
        check_iq_flags(&a, stdin)?;
    }
    let mut params = a.opts.resolve_or(if iq {
        "iq"
    } else {
        crate::params::DEFAULT_PRESET
    })?;
    if params.reduction_db <= 0.0 {
        // An open gate is the identity: the pump copies the samples (bit-exact).
        params.bypass = true;
    }
    let timing = Timing::for_output(stream_out, a.carry_latency);
    let lat = crate::engine::stft_config(&params, info.rate).latency_samples();
    let when = match timing {
        Timing::Aligned => "removed (time-aligned)",
        Timing::Live => "carried by the live stream",
    };
    let latency = format!(
        "latency {lat} samples ({:.2} ms), {when}",
        lat as f64 * 1000.0 / info.rate.max(1) as f64
    );
    if !a.quiet {
        if iq {
            eprintln!(
                "specgate: IQ ({}), preset {}{}",
                info.kind_reason,
                a.opts.preset.as_deref().unwrap_or("iq"),
                if params.bypass {
                    "; gate open: samples copied unchanged"
                } else {
                    ""
                }
            );
            let out_desc = match (stream_out, sink::kind_of(&a.output)) {
                (false, Ok(OutputKind::Wav)) => "WAV".to_string(),
                (false, Ok(OutputKind::Sigmf)) => {
                    format!("SigMF {}", info.encoding.sigmf_complex())
                }
                _ => info
                    .encoding
                    .raw_iq()
                    .map_or_else(|| "raw IQ".to_string(), |r| format!("raw IQ {}", r.name())),
            };
            eprintln!(
                "specgate: {} -> {out_desc}, {} Hz, complex{}; {latency}",
                info.format,
                info.rate,
                info.center_hz
                    .map(|c| format!(", centre {c} Hz"))
                    .unwrap_or_default()
            );
        } else {
            let in_fmt = info
                .encoding
                .audio_format()
                .map_or_else(|| info.encoding.name(), |f| f.to_string());
            let raw_out = stream_out || matches!(sink::kind_of(&a.output), Ok(OutputKind::Raw));
            let audio_hint = match a.format {
                Some(RawHint::Audio(f)) => Some(f),
                _ => None,
            };
            let out_fmt = a
                .out_format
                .or(if raw_out { audio_hint } else { None })
                .map_or_else(|| in_fmt.clone(), |f| f.to_string());
            eprintln!(
                "specgate: {} Hz, {} ch, {in_fmt} -> {out_fmt}; {latency}",
                info.rate, info.channels
            );
            if let (Some(f), OutputKind::Wav, crate::stream::Container::Wav) = (
                audio_hint,
                sink::kind_of(&a.output).unwrap_or(OutputKind::Raw),
                info.container,
            ) {
                eprintln!(
                    "specgate: note: --format {f} is ignored: the input is a WAV file and so is \
                     the output (use --out-format to change the output's sample type)"
                );
            }
        }
        if a.noise_clip.is_some() && params.learn > 0.0 {
            eprintln!("specgate: note: --noise-clip replaces --learn");
        }
    }
    let opts = filter::FilterOptions {
        carry_latency: a.carry_latency,
        output: OutputRequest {
            out_format: a.out_format,
            raw_format: match a.format {
                Some(RawHint::Audio(f)) => Some(f),
                _ => None,
            },
            force_rf64: a.iq.rf64,
            record: None,
        },
        noise_clip: a.noise_clip.clone(),
        band: a.iq.band,
        outside: if a.iq.outside == "blank" {
            Outside::Blank
        } else {
            Outside::Pass
        },
        profile_s: a.iq.profile_s.clamp(0.0, 60.0),
        dc_hz: 1000.0,
        require_samples: true,
    };
    let pb = progress_bar(info.frames, info.rate);
    let mut tick = |n: u64| {
        if let Some(pb) = &pb {
            pb.inc(n)
        }
    };
    let t0 = Instant::now();
    let out = OutputSpec::from_path(&a.output);
    let result = filter::run(src.as_mut(), out, &params, &opts, &cancel, Some(&mut tick));
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let s = match result {
        Ok(s) => s,
        Err(StreamError::Interrupted(i)) => {
            return Err(anyhow::Error::new(i).context(format!(
                "filtering {} stopped; no output file was written",
                a.input.display()
            )))
        }
        Err(e) if stream_out && e.is_broken_pipe() => {
            if !a.quiet {
                eprintln!("specgate: the output pipe was closed; stopping");
            }
            return Ok(());
        }
        Err(e @ StreamError::Format(_)) if e.to_string().starts_with("no samples") => {
            return Err(anyhow!("no samples in the input {}", a.input.display()))
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "filtering {} failed{}",
                    a.input.display(),
                    if stream_out {
                        ""
                    } else {
                        "; no output file was written"
                    }
                )
            })
        }
    };
    report(&a, &s, t0);
    Ok(())
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn report(a: &FilterArgs, s: &Summary, t0: Instant) {
    for w in &s.warnings {
        eprintln!("specgate: warning: {w}");
    }
    if s.interrupted && !a.quiet {
        eprintln!("specgate: interrupted: the stream ends here");
    }
    if s.clipped > 0 {
        eprintln!(
            "specgate: warning: {} samples were clipped to the output's integer range \
             (consider --out-format f32)",
            s.clipped
        );
    }
    if s.nonfinite + s.absurd > 0 {
        eprintln!(
            "specgate: warning: {} NaN/Inf and {} absurd (beyond ±{}) input samples were \
             replaced by zeros",
            s.nonfinite,
            s.absurd,
            crate::engine::ABSURD_LEVEL
        );
    }
    if a.quiet {
        return;
    }
    let secs = s.frames_in as f64 / s.rate as f64;
    let wall = t0.elapsed().as_secs_f64();
    eprintln!(
        "specgate: {secs:.2} s filtered ({} {} in, {} out){}, mean attenuation {:.1} dB, \
         {:.1}x realtime",
        s.frames_in,
        if s.kind == crate::engine::SignalKind::Complex {
            "complex samples"
        } else {
            "frames"
        },
        s.frames_out,
        if s.rf64 { "; written as RF64" } else { "" },
        s.attenuation_db,
        if wall > 0.0 {
            secs / wall
        } else {
            f64::INFINITY
        }
    );
}
