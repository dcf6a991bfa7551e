//! `specgate filter` as one library call: an opened [`Source`] to an output, through the engine.
//!
//! The same steps for every input — audio or I/Q, file or pipe:
//! 1. the sink is chosen from the output ([`sink::open`]) and the timing from the one rule
//!    ([`Timing::for_output`]);
//! 2. the engine is built for the source's rate, channels and kind;
//! 3. it is primed: a noise clip's profile (`noise_clip`), or for I/Q the recording's floor
//!    ([`crate::dsp::floor`]) from segments spread over a file, or from the head of a stream
//!    (read ahead and replayed), and a mirrored pre-roll;
//! 4. [`pump::run_with`] moves the blocks; the sink is finished (renamed into place).

use super::pump::{self, Cancel, Timing};
use super::sink::{self, OutputRequest, OutputSpec};
use super::source::Replay;
use super::{InputSpec, ProbeHints, Result, Source, StreamError};
use crate::dsp::floor::{self, Band, Outside};
use crate::engine::{self, Engine, SignalKind};
use crate::params::Params;
use std::path::PathBuf;

/// How to filter, beyond the engine parameters.
#[derive(Debug, Clone)]
pub struct FilterOptions {
    /// Carry the latency on a stream output (live timing) instead of removing it.
    pub carry_latency: bool,
    /// The output's sample type, raw format and RF64 choice.
    pub output: OutputRequest,
    /// A WAV of noise only: its mean spectrum becomes the fixed noise profile (real signals).
    pub noise_clip: Option<PathBuf>,
    /// I/Q: gate only this band (relative to the centre).
    pub band: Option<Band>,
    pub outside: Outside,
    /// I/Q: seconds of the recording analysed for the noise floor; 0 = blind tracking.
    pub profile_s: f64,
    /// I/Q: half-width around 0 Hz excluded from the floor estimate, Hz.
    pub dc_hz: f64,
    /// An input without samples is an error (and leaves no output) instead of an empty output.
    pub require_samples: bool,
}

impl Default for FilterOptions {
    fn default() -> Self {
        FilterOptions {
            carry_latency: false,
            output: OutputRequest::default(),
            noise_clip: None,
            band: None,
            outside: Outside::Pass,
            profile_s: 1.0,
            dc_hz: 1000.0,
            require_samples: false,
        }
    }
}

/// What a filter run did.
#[derive(Debug, Clone)]
pub struct Summary {
    pub rate: u32,
    pub channels: usize,
    pub kind: SignalKind,
    /// Receiver centre frequency of an I/Q input, Hz (carried to the output).
    pub center_hz: Option<f64>,
    pub timing: Timing,
    /// Engine latency, samples (removed when aligned, carried when live).
    pub latency_samples: usize,
    pub frames_in: u64,
    pub frames_out: u64,
    pub attenuation_db: f64,
    /// NaN/Inf input values replaced by zeros.
    pub nonfinite: u64,
    /// Absurd input values (beyond ±[`engine::ABSURD_LEVEL`]) replaced by zeros.
    pub absurd: u64,
    /// Output values clipped to an integer range.
    pub clipped: u64,
    pub rf64: bool,
    /// A live input was ended by an interrupt (the output is complete up to there).
    pub interrupted: bool,
    pub warnings: Vec<String>,
}

/// The most of a noise clip that is read (it is held in memory).
pub const NOISE_CLIP_MAX_S: f64 = 120.0;

/// Reads a noise-only recording and returns its profile for `engine` (and a note when it was
/// cut to [`NOISE_CLIP_MAX_S`]).
pub fn noise_profile(path: &std::path::Path, engine: &Engine) -> Result<(Vec<f32>, Vec<String>)> {
    let name = path.display();
    let mut src = super::open(InputSpec::Path(path.to_path_buf()), &ProbeHints::default())
        .map_err(|e| StreamError::Format(format!("cannot read noise clip {name}: {e}")))?;
    let (rate, ch) = (src.info().rate, src.info().channels);
    if rate != engine.rate() {
        return Err(StreamError::Usage(format!(
            "noise clip {name} is at {rate} Hz but the input is at {} Hz: resample the clip to \
             the input rate",
            engine.rate()
        )));
    }
    let max = (NOISE_CLIP_MAX_S * rate as f64) as usize * ch;
    let mut clip = Vec::new();
    let mut buf = vec![0f32; 4096 * ch];
    let mut notes: Vec<String> = src
        .take_warnings()
        .into_iter()
        .chain(src.info().warnings.clone())
        .map(|w| format!("noise clip: {w}"))
        .collect();
    while clip.len() < max {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        clip.extend_from_slice(&buf[..n]);
    }
    if clip.is_empty() {
        return Err(StreamError::Format(format!(
            "noise clip {name} has no samples"
        )));
    }
    if clip.len() >= max {
        clip.truncate(max);
        notes.push(format!(
            "using the first {NOISE_CLIP_MAX_S} s of the noise clip"
        ));
    }
    let prof = engine::learn_profile(engine.params(), engine.rate(), ch, SignalKind::Real, &clip)
        .map_err(|e| StreamError::Format(format!("noise clip {name}: {e}")))?;
    Ok((prof, notes))
}

/// Filters `source` to `output` (see the module doc).
pub fn run(
    source: &mut dyn Source,
    output: OutputSpec<'_>,
    params: &Params,
    opts: &FilterOptions,
    cancel: &Cancel,
    progress: Option<&mut dyn FnMut(u64)>,
) -> Result<Summary> {
    let info = source.info().clone();
    if info.rate == 0 {
        return Err(StreamError::Usage(
            "the input's sample rate is unknown: give --rate".into(),
        ));
    }
    let timing = Timing::for_output(output.is_stream(), opts.carry_latency);
    let mut req = opts.output.clone();
    req.record = Some(serde_json::json!({
        "tool": format!("specgate {}", env!("CARGO_PKG_VERSION")),
        "input": info.paths.first().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()),
        "signal": if info.is_iq() { "complex" } else { "real" },
        "time_aligned": timing == Timing::Aligned,
        "latency_samples": engine::stft_config(params, info.rate).latency_samples(),
        "params": serde_json::to_value(params).ok(),
        "band": opts.band.map(|b| [b.lo_hz, b.hi_hz]),
        "outside_band": format!("{:?}", opts.outside).to_lowercase(),
    }));
    let sink = sink::open(output, &info, &req)?;
    run_to_sink(source, sink, timing, params, opts, cancel, progress, None)
}

/// [`run`] into a sink already open, with an optional observer of every analysed frame (the
/// emission detector, `specgate features`): the same priming and the same pump.
#[allow(clippy::too_many_arguments)]
pub fn run_to_sink(
    source: &mut dyn Source,
    mut sink: Box<dyn super::Sink + '_>,
    timing: Timing,
    params: &Params,
    opts: &FilterOptions,
    cancel: &Cancel,
    progress: Option<&mut dyn FnMut(u64)>,
    mut observer: Option<&mut dyn pump::FrameObserver>,
) -> Result<Summary> {
    let info = source.info().clone();
    if info.rate == 0 {
        return Err(StreamError::Usage(
            "the input's sample rate is unknown: give --rate".into(),
        ));
    }
    let mut engine = Engine::new(params, info.rate, info.channels, info.kind)?;
    let mut warnings = info.warnings.clone();
    if let Some(clip) = &opts.noise_clip {
        let (prof, notes) = noise_profile(clip, &engine)?;
        warnings.extend(notes);
        engine.set_noise_profile(&prof)?;
    }
    let iq_prime = info.is_iq() && !params.bypass;
    let report;
    if iq_prime && source.read_at(0, 0).is_some() && info.frames.is_some() {
        // A file: the floor from segments spread over it, the pre-roll from its start.
        let frames = info.frames.unwrap_or(0);
        let floor = if opts.profile_s > 0.0 {
            let segs = spread_segments(source, frames, opts.profile_s, info.rate)?;
            floor::estimate_floor(
                engine.stft_config().to_owned(),
                info.rate,
                info.channels,
                &segs,
                opts.dc_hz,
                engine::ABSURD_LEVEL,
            )
            .map_err(|e| StreamError::Engine(e.into()))?
        } else {
            None
        };
        prime_floor(&mut engine, floor, opts, &mut warnings)?;
        let k = preroll_len(&engine);
        let head = source.read_at(0, k).unwrap_or_else(|| Ok(Vec::new()))?;
        let pre = floor::mirrored_preroll(&head, info.channels, k);
        report = pump::run_observed(
            source,
            &mut engine,
            sink.as_mut(),
            timing,
            cancel,
            &pre,
            progress,
            observer.take(),
        )?;
    } else if iq_prime {
        // A stream: the head is read ahead (bounded), analysed, and replayed.
        let rate = info.rate as f64;
        let head_frames = ((opts.profile_s * rate) as usize)
            .max(info.rate as usize / 4)
            .min(1 << 25);
        let mut replay = Replay::read_ahead(source, head_frames)?;
        let head = replay.head();
        let floor = if opts.profile_s > 0.0 && !head.is_empty() {
            let n = (((opts.profile_s * rate) as usize) * info.channels).min(head.len());
            floor::estimate_floor(
                engine.stft_config().to_owned(),
                info.rate,
                info.channels,
                &[head[..n].to_vec()],
                opts.dc_hz,
                engine::ABSURD_LEVEL,
            )
            .map_err(|e| StreamError::Engine(e.into()))?
        } else {
            None
        };
        prime_floor(&mut engine, floor, opts, &mut warnings)?;
        let pre = floor::mirrored_preroll(head, info.channels, preroll_len(&engine));
        report = pump::run_observed(
            &mut replay,
            &mut engine,
            sink.as_mut(),
            timing,
            cancel,
            &pre,
            progress,
            observer.take(),
        )?;
    } else {
        report = pump::run_observed(
            source,
            &mut engine,
            sink.as_mut(),
            timing,
            cancel,
            &[],
            progress,
            observer.take(),
        )?;
    }
    warnings.extend(report.warnings.iter().cloned());
    if opts.require_samples && report.frames_in == 0 {
        return Err(StreamError::Format("no samples in the input".into()));
    }
    if info.chunks_after.is_empty() {
        // A WAV from a pipe: its chunks after the data are known only now.
        let after = source.trailing_chunks();
        if !after.is_empty() {
            sink.set_trailing_chunks(&after);
        }
    }
    let sr = sink.finish()?;
    let stats = engine.stats();
    Ok(Summary {
        rate: info.rate,
        channels: info.channels,
        kind: info.kind,
        center_hz: info.center_hz,
        timing,
        latency_samples: engine.latency_samples(),
        frames_in: report.frames_in,
        frames_out: report.frames_out,
        attenuation_db: if params.bypass {
            0.0
        } else {
            stats.attenuation_db()
        },
        nonfinite: stats.nonfinite,
        absurd: stats.absurd,
        clipped: sr.clipped,
        rf64: sr.rf64,
        interrupted: report.interrupted,
        warnings,
    })
}

/// Up to 8 segments of a recording spread evenly over it, `profile_s` seconds in all.
fn spread_segments(
    source: &dyn Source,
    frames: u64,
    profile_s: f64,
    rate: u32,
) -> Result<Vec<Vec<f32>>> {
    let k = 8u64;
    let seg = ((profile_s * rate as f64) as u64 / k)
        .max(1)
        .min(frames / k);
    let seg = if seg == 0 { frames } else { seg };
    let mut segs = Vec::new();
    for i in 0..k {
        let start = i * (frames - seg.min(frames)) / (k - 1);
        segs.push(
            source
                .read_at(start, seg as usize)
                .unwrap_or_else(|| Ok(Vec::new()))?,
        );
        if seg == frames {
            break;
        }
    }
    Ok(segs)
}

fn preroll_len(engine: &Engine) -> usize {
    let p = engine.params();
    floor::preroll_frames(
        engine.stft_config(),
        p.attack_ms,
        p.release_ms,
        engine.rate(),
    )
}

/// Sets the estimated floor (with the band applied) as the engine's noise profile.
fn prime_floor(
    engine: &mut Engine,
    floor: Option<Vec<f32>>,
    opts: &FilterOptions,
    warnings: &mut Vec<String>,
) -> Result<()> {
    match floor {
        Some(mut f) => {
            if let Some(b) = opts.band {
                floor::apply_band(&mut f, engine.rate(), b, opts.outside);
            }
            engine.set_noise_profile(&f)?;
        }
        None if opts.band.is_some() => {
            warnings.push("--band needs a noise-floor estimate (profile); ignored".into())
        }
        None => {}
    }
    Ok(())
}

/// Filters the file (or FIFO) `input` to `output`: [`super::open`] then [`run`], no cancellation.
pub fn filter_path(
    input: &std::path::Path,
    output: &std::path::Path,
    params: &Params,
    hints: &ProbeHints,
    opts: &FilterOptions,
) -> Result<Summary> {
    let mut src = super::open(InputSpec::from_path(input), hints)?;
    run(
        src.as_mut(),
        OutputSpec::from_path(output),
        params,
        opts,
        &Cancel::new(),
        None,
    )
}
