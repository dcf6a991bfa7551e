//! The one loop: source → engine → sink, in blocks, in constant memory.
//!
//! Timing is one rule ([`Timing`]): **aligned** output has the input's length and no leading
//! delay (the first `latency` output frames are dropped, `latency` zero frames flush the tail);
//! **live** output carries the latency (each block goes out as soon as it is processed) and ends
//! with the flushed tail, `latency` frames longer than the input. Files are always aligned;
//! stdout is aligned by default and live on request.
//!
//! An open gate (`params.bypass`) is a copy: integers are copied losslessly (as left-justified
//! `i32`) when source and sink store the same integers, otherwise as `f32`; a live copy starts
//! with `latency` zero frames, as the engine would give.

use super::{Result, Sink, Source, StreamError};
use crate::engine::Engine;

/// Whether the engine latency is removed or carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Output as long as the input, time-aligned with it.
    Aligned,
    /// Output as it is produced: delayed by the latency, the tail flushed at the end.
    Live,
}

impl Timing {
    /// The rule: a file is aligned; a stream output (stdout, FIFO, device) is aligned too unless
    /// `carry_latency` asks for live timing.
    pub fn for_output(stream_output: bool, carry_latency: bool) -> Timing {
        if stream_output && carry_latency {
            Timing::Live
        } else {
            Timing::Aligned
        }
    }
}

pub use crate::cancel::Cancel;

/// What the pump did.
#[derive(Debug, Clone, Default)]
pub struct PumpReport {
    /// Frames read from the source.
    pub frames_in: u64,
    /// Frames handed to the sink.
    pub frames_out: u64,
    /// A live source was ended by a cancellation request (its output is complete up to there).
    pub interrupted: bool,
    /// Warnings from the source.
    pub warnings: Vec<String>,
}

/// Frames per block: large enough for throughput, small enough for constant memory.
pub const BLOCK_FRAMES: usize = 16_384;

/// [`run_with`] without pre-roll or progress.
pub fn run(
    source: &mut dyn Source,
    engine: &mut Engine,
    sink: &mut dyn Sink,
    timing: Timing,
    cancel: &Cancel,
) -> Result<PumpReport> {
    run_with(source, engine, sink, timing, cancel, &[], None)
}

/// Streams `source` through `engine` into `sink` (see the module doc). `preroll`: interleaved
/// frames fed to the engine before the input, their output discarded (the engine starts in its
/// steady state); `progress` is called with the frames of each block read. The sink is not
/// finished.
pub fn run_with(
    source: &mut dyn Source,
    engine: &mut Engine,
    sink: &mut dyn Sink,
    timing: Timing,
    cancel: &Cancel,
    preroll: &[f32],
    progress: Option<&mut dyn FnMut(u64)>,
) -> Result<PumpReport> {
    run_observed(
        source, engine, sink, timing, cancel, preroll, progress, None,
    )
}

/// Watches every frame the engine analyses while the pump runs (a detector, a measurement):
/// a consumer of the one loop beside the sink.
pub trait FrameObserver {
    /// Called once before the first frame: `frames` per channel of pre-roll come first (their
    /// analysis frames precede the input's).
    fn preroll(&mut self, _frames: u64) {}
    /// One analysed frame (see [`Engine::process_with_frames`]).
    fn frame(&mut self, view: &crate::engine::FrameView);
}

/// [`run_with`], with `observer` shown every analysed frame (pre-roll and flushed tail included;
/// the observer maps frames to input time). The open gate is not analysed: no frames.
#[allow(clippy::too_many_arguments)]
pub fn run_observed(
    source: &mut dyn Source,
    engine: &mut Engine,
    sink: &mut dyn Sink,
    timing: Timing,
    cancel: &Cancel,
    preroll: &[f32],
    mut progress: Option<&mut dyn FnMut(u64)>,
    mut observer: Option<&mut dyn FrameObserver>,
) -> Result<PumpReport> {
    if let Some(o) = observer.as_mut() {
        o.preroll((preroll.len() / engine.channels().max(1)) as u64);
    }
    let mut process = |engine: &mut Engine, x: &[f32], y: &mut [f32]| match observer.as_mut() {
        Some(o) => engine.process_with_frames(x, y, |v| o.frame(v)),
        None => engine.process(x, y),
    };
    let ch = engine.channels();
    if source.info().channels != ch {
        return Err(StreamError::Usage(format!(
            "the engine has {ch} channels, the source {}",
            source.info().channels
        )));
    }
    let block = BLOCK_FRAMES * ch;
    let mut st = State {
        report: PumpReport::default(),
        ch,
        stream: sink.is_stream(),
        cancel,
    };
    if engine.params().bypass {
        let lat = if timing == Timing::Live {
            engine.latency_samples()
        } else {
            0
        };
        st.copy(source, sink, lat, block, &mut progress)?;
        return Ok(st.report);
    }
    let lat = engine.latency_samples() * ch;
    let mut skip = preroll.len() + if timing == Timing::Aligned { lat } else { 0 };
    let mut inb = vec![0f32; block];
    let mut outb = vec![0f32; block];
    for p in preroll.chunks(block) {
        process(engine, p, &mut outb[..p.len()]);
        skip -= p.len();
    }
    if !preroll.is_empty() {
        // The pre-roll is a warm-up: the input's own samples are counted from here.
        engine.reset_stats();
    }
    loop {
        let n = source.read(&mut inb)?;
        st.report.warnings.extend(source.take_warnings());
        if n == 0 {
            break;
        }
        let n = n - n % ch;
        process(engine, &inb[..n], &mut outb[..n]);
        st.emit(sink, &outb[..n], &mut skip)?;
        if !st.advance(source, n, &mut progress)? {
            break;
        }
    }
    if st.report.frames_in == 0 {
        return Ok(st.report);
    }
    // The tail: `latency` zero frames push the last input frames out.
    inb.fill(0.0);
    let mut left = lat;
    while left > 0 {
        let n = left.min(block);
        process(engine, &inb[..n], &mut outb[..n]);
        st.emit(sink, &outb[..n], &mut skip)?;
        left -= n;
    }
    Ok(st.report)
}

struct State<'c> {
    report: PumpReport,
    ch: usize,
    stream: bool,
    cancel: &'c Cancel,
}

impl State<'_> {
    /// Writes what is left of `out` after `skip` values.
    fn emit(&mut self, sink: &mut dyn Sink, out: &[f32], skip: &mut usize) -> Result<()> {
        let drop = (*skip).min(out.len());
        *skip -= drop;
        let rest = &out[drop..];
        if !rest.is_empty() {
            sink.write(rest)?;
            self.report.frames_out += (rest.len() / self.ch) as u64;
            if self.stream {
                sink.flush()?;
            }
        }
        Ok(())
    }

    /// Counts a block in; false when a live source should end here (cancelled); an error when a
    /// file run is cancelled.
    fn advance(
        &mut self,
        source: &dyn Source,
        n: usize,
        progress: &mut Option<&mut dyn FnMut(u64)>,
    ) -> Result<bool> {
        let frames = (n / self.ch) as u64;
        self.report.frames_in += frames;
        if let Some(p) = progress.as_mut() {
            p(frames);
        }
        match self.cancel.check() {
            Ok(()) => Ok(true),
            Err(_) if source.is_live() => {
                self.report.interrupted = true;
                Ok(false)
            }
            Err(i) => Err(StreamError::Interrupted(i)),
        }
    }

    /// The open gate: a copy, `lead` zero frames first.
    fn copy(
        &mut self,
        source: &mut dyn Source,
        sink: &mut dyn Sink,
        lead: usize,
        block: usize,
        progress: &mut Option<&mut dyn FnMut(u64)>,
    ) -> Result<()> {
        let src_int = source
            .info()
            .encoding
            .audio_format()
            .filter(|f| !f.is_float());
        let sink_int = sink
            .encoding()
            .and_then(|e| e.audio_format())
            .filter(|f| !f.is_float());
        let ints = matches!((src_int, sink_int), (Some(a), Some(b)) if a.same_values(b));
        let mut fbuf = vec![0f32; if ints { 0 } else { block }];
        let mut ibuf = vec![0i32; if ints { block } else { 0 }];
        let mut lead = lead * self.ch;
        loop {
            let n = if ints {
                source
                    .read_i32(&mut ibuf)
                    .unwrap_or_else(|| Err(StreamError::Format("no integer samples".into())))?
            } else {
                source.read(&mut fbuf)?
            };
            self.report.warnings.extend(source.take_warnings());
            if n == 0 {
                break;
            }
            if lead > 0 {
                let z = vec![0f32; lead];
                sink.write(&z)?;
                self.report.frames_out += (lead / self.ch) as u64;
                lead = 0;
            }
            if ints {
                sink.write_i32(&ibuf[..n])
                    .unwrap_or_else(|| Err(StreamError::Format("no integer samples".into())))?;
            } else {
                sink.write(&fbuf[..n])?;
            }
            self.report.frames_out += (n / self.ch) as u64;
            if self.stream {
                sink.flush()?;
            }
            if !self.advance(source, n, progress)? {
                break;
            }
        }
        Ok(())
    }
}
