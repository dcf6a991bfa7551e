//! The stream core: one path from a source to a sink through the engine.
//!
//! ```text
//!   path or "-" ──probe──▶ Source ──blocks of interleaved f32──▶ pump ──▶ Engine ──▶ Sink
//!                 (describes itself once: StreamInfo)              (aligned or live, cancellable)
//! ```
//!
//! * [`probe`] decides what an input is (WAV/RF64 audio or I/Q, SigMF, raw by `--format`, raw I/Q
//!   by extension or recorder file name) by peeking through a buffer that hands back every byte it
//!   read: FIFOs, `/dev/stdin` and process substitution lose nothing.
//! * A [`Source`] yields interleaved `f32` blocks and a [`StreamInfo`] (rate, channels, real or
//!   complex, centre frequency and times, chunks and SigMF metadata to carry).
//! * A [`Sink`] takes the same blocks and the same description ([`sink::open`] chooses it from the
//!   output path: WAV/RF64 with the input's chunks and an `auxi` for I/Q, SigMF, raw, a stream).
//! * [`pump::run`] is the one loop. [`Timing`] says whether the engine latency is removed
//!   (aligned: files, and stdout by default) or carried (live streams).
//! * [`filter::run`] is the whole `specgate filter` as a library call: prime the engine (noise
//!   floor, pre-roll), pump, finish.

pub mod encoding;
pub mod filter;
pub mod probe;
pub mod pump;
pub mod sink;
pub mod source;

pub use encoding::Encoding;
pub use probe::{open, InputSpec, Opened, ProbeHints};
pub use pump::{run, run_with, Cancel, PumpReport, Timing};

use crate::engine::SignalKind;
use crate::io::auxi::SystemTime;
use crate::io::riff::Chunk;
use std::path::PathBuf;

/// Why a stream could not be read, processed or written.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// An operating-system error (a missing file, a closed pipe…), shown once.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The input is not what it claims to be, or cannot be read as asked.
    #[error("{0}")]
    Format(String),
    /// The request itself is contradictory (flags, output name).
    #[error("{0}")]
    Usage(String),
    /// The engine refused the parameters.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// A cancellation request (signal) abandoned the run; no output file was written.
    #[error(transparent)]
    Interrupted(#[from] crate::cancel::Interrupted),
}

impl StreamError {
    /// Whether the error is a closed output pipe (the reader went away): the end of a stream.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, StreamError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl From<crate::io::IoError> for StreamError {
    fn from(e: crate::io::IoError) -> Self {
        match e {
            crate::io::IoError::Io(e) => StreamError::Io(e),
            other => StreamError::Format(other.to_string()),
        }
    }
}

impl From<crate::io::riff::RiffError> for StreamError {
    fn from(e: crate::io::riff::RiffError) -> Self {
        match e {
            crate::io::riff::RiffError::Io(e) => StreamError::Io(e),
            other => StreamError::Format(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, StreamError>;

/// The container an input came in (and the default for the output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// RIFF/RF64 WAVE.
    Wav,
    /// A SigMF recording (`.sigmf-meta` + `.sigmf-data`).
    Sigmf,
    /// Headerless samples.
    Raw,
}

/// Everything a stream says about itself, once, before its first block.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// Samples (frames) per second.
    pub rate: u32,
    /// Interleaved values per frame (2 per I/Q pair).
    pub channels: usize,
    /// Real channels or I/Q pairs.
    pub kind: SignalKind,
    /// Frames in the whole stream, when known before reading (files).
    pub frames: Option<u64>,
    /// How the values are stored.
    pub encoding: Encoding,
    pub container: Container,
    /// Container description for people ("RIFF WAVE, 16-bit PCM", "raw IQ cu8").
    pub format: String,
    /// Receiver centre frequency, Hz (I/Q).
    pub center_hz: Option<f64>,
    pub start: Option<SystemTime>,
    pub stop: Option<SystemTime>,
    /// Where the metadata came from (`auxi`, `SigMF`, `SDRuno file name`).
    pub meta_sources: Vec<String>,
    /// Why the stream is real or complex ("auxi chunk on a 2-channel WAV", "--iq", …).
    pub kind_reason: String,
    /// WAV chunks to carry to a WAV output, in order, before and after `data` (`fmt ` included).
    pub chunks_before: Vec<Chunk>,
    pub chunks_after: Vec<Chunk>,
    /// The SigMF metadata document, carried to a SigMF output.
    pub sigmf_meta: Option<serde_json::Value>,
    /// The file(s) the samples come from, so an output never overwrites them.
    pub paths: Vec<PathBuf>,
    /// Repairs made while opening (bad sizes, truncation).
    pub warnings: Vec<String>,
}

impl StreamInfo {
    /// A plain description: no metadata, no chunks.
    pub fn new(rate: u32, channels: usize, kind: SignalKind, encoding: Encoding) -> StreamInfo {
        StreamInfo {
            rate,
            channels,
            kind,
            frames: None,
            encoding,
            container: Container::Raw,
            format: format!("raw {}", encoding.name()),
            center_hz: None,
            start: None,
            stop: None,
            meta_sources: Vec::new(),
            kind_reason: String::new(),
            chunks_before: Vec::new(),
            chunks_after: Vec::new(),
            sigmf_meta: None,
            paths: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn is_iq(&self) -> bool {
        self.kind == SignalKind::Complex
    }

    pub fn duration_s(&self) -> Option<f64> {
        Some(self.frames? as f64 / self.rate as f64)
    }
}

/// A source of interleaved `f32` blocks (full scale ±1.0).
pub trait Source {
    /// The description, fixed before the first block.
    fn info(&self) -> &StreamInfo;
    /// Reads whole frames into `buf` and returns the number of values; 0 is the end. A pipe
    /// returns what is available as soon as one frame is there.
    fn read(&mut self, buf: &mut [f32]) -> Result<usize>;
    /// As [`read`](Self::read), as integers left-justified to 32 bits: lossless for integer
    /// encodings. `None` when the encoding has no integer form.
    fn read_i32(&mut self, _buf: &mut [i32]) -> Option<Result<usize>> {
        None
    }
    /// `n` frames starting at frame `start`, without disturbing the stream position (seekable
    /// files only): for estimates spread over a recording.
    fn read_at(&self, _start: u64, _n: usize) -> Option<Result<Vec<f32>>> {
        None
    }
    /// Whether an interrupt should end the stream normally (a live recording on stdin) rather
    /// than abandon the output.
    fn is_live(&self) -> bool {
        false
    }
    /// Warnings gathered while reading (a truncated file), drained.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Metadata chunks found after the samples once the stream has ended (a WAV read from a
    /// pipe learns its trailing `LIST` only there); a file describes them in [`StreamInfo`].
    fn trailing_chunks(&self) -> Vec<Chunk> {
        Vec::new()
    }
}

/// What a sink did, when finished.
#[derive(Debug, Clone, Default)]
pub struct SinkReport {
    /// Frames written.
    pub frames: u64,
    /// Values clipped to an integer range.
    pub clipped: u64,
    /// Written as RF64.
    pub rf64: bool,
}

/// A destination for interleaved `f32` blocks.
pub trait Sink {
    /// Writes whole frames.
    fn write(&mut self, buf: &[f32]) -> Result<()>;
    /// Writes integers left-justified to 32 bits; `None` when the encoding has no integer form.
    fn write_i32(&mut self, _buf: &[i32]) -> Option<Result<()>> {
        None
    }
    /// Pushes written blocks to a stream's reader (no-op for files).
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    /// The encoding written, when the sink stores samples (for the lossless integer copy).
    fn encoding(&self) -> Option<Encoding> {
        None
    }
    /// A stream (stdout, FIFO, device): flushed after every block.
    fn is_stream(&self) -> bool {
        false
    }
    /// The chunks to write after the samples, learned at the source's end
    /// ([`Source::trailing_chunks`]); sinks without a container ignore them.
    fn set_trailing_chunks(&mut self, _after: &[Chunk]) {}
    /// Completes the output (headers, rename into place). Dropping a sink without finishing
    /// leaves no output file.
    fn finish(self: Box<Self>) -> Result<SinkReport>;
}

/// A whole signal in memory through the engine, time-aligned (the file convention: as long as
/// the input, no leading delay) — the pump with a memory source and sink, for tools that hold
/// the whole signal (eval, demo, tests).
pub fn process_aligned(engine: &mut crate::engine::Engine, input: &[f32]) -> Vec<f32> {
    let mut src = source::SliceSource::new(input, engine.rate(), engine.channels(), engine.kind());
    let mut out = sink::VecSink::default();
    // A memory source and sink cannot fail, and nothing cancels this run.
    let _ = pump::run(&mut src, engine, &mut out, Timing::Aligned, &Cancel::new());
    out.samples
}
