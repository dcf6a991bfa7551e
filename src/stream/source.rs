//! The sources: bytes in a known encoding (files, pipes, WAV data ranges, SigMF data), a WAV
//! parsed on the fly from a pipe, samples in memory, and a head replayed after it was analysed.

use super::{Encoding, Result, Source, StreamError, StreamInfo};
use crate::io::{RawFormat, SampleReader};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Where a file source's samples lie, so that [`Source::read_at`] can reopen them.
#[derive(Debug, Clone)]
pub struct FileRange {
    pub path: PathBuf,
    /// Byte offset of the first frame.
    pub offset: u64,
    /// Bytes of whole frames.
    pub len: u64,
}

/// Interleaved samples in `info.encoding`, read from any byte stream. Short reads (pipes) are
/// returned at once in whole frames; a partial frame is kept for the next read.
pub struct ByteSource<R: Read> {
    inner: R,
    info: StreamInfo,
    /// Bytes still to read, when the data has a known end (a WAV `data` chunk).
    remaining: Option<u64>,
    bytes: Vec<u8>,
    have: usize,
    eof: bool,
    live: bool,
    range: Option<FileRange>,
    warnings: Vec<String>,
}

impl<R: Read> ByteSource<R> {
    /// `limit`: bytes to read at most; `range`: the same bytes on disk, for `read_at`;
    /// `live`: a live recording (stdin), which an interrupt ends normally.
    pub fn new(
        inner: R,
        info: StreamInfo,
        limit: Option<u64>,
        range: Option<FileRange>,
        live: bool,
    ) -> Result<Self> {
        check_shape(&info)?;
        Ok(ByteSource {
            inner,
            info,
            remaining: limit,
            bytes: Vec::new(),
            have: 0,
            eof: false,
            live,
            range,
            warnings: Vec::new(),
        })
    }

    fn frame_bytes(&self) -> usize {
        self.info.encoding.bytes() * self.info.channels
    }

    /// Makes at least one whole frame available (unless at the end); returns the whole frames
    /// buffered, at most `max_frames`.
    fn fill(&mut self, max_frames: usize) -> Result<usize> {
        let fb = self.frame_bytes();
        let want = max_frames.max(1) * fb;
        if self.bytes.len() < want {
            self.bytes.resize(want, 0);
        }
        // Regular files are read in whole blocks, pipes as soon as a frame is there.
        let enough = if self.range.is_some() { want } else { fb };
        while self.have < enough && !self.eof {
            let mut end = want;
            if let Some(r) = self.remaining {
                end = end.min(self.have + r.min(usize::MAX as u64) as usize);
            }
            if end == self.have {
                self.eof = true;
                break;
            }
            match self.inner.read(&mut self.bytes[self.have..end]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.have += n;
                    if let Some(r) = self.remaining.as_mut() {
                        *r -= n as u64;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if self.eof && self.have < fb && self.have > 0 {
            self.warnings.push(format!(
                "ignored {} trailing byte(s): the input ends inside a frame ({fb} bytes each)",
                self.have
            ));
            self.have = 0;
        }
        Ok((self.have / fb).min(max_frames))
    }

    fn consume(&mut self, frames: usize) {
        let used = frames * self.frame_bytes();
        self.bytes.copy_within(used..self.have, 0);
        self.have -= used;
    }
}

/// The limits of rate and channel count are the engine's ([`crate::params::MAX_RATE`],
/// [`crate::params::MAX_CHANNELS`]), checked here before anything is sized by them.
use crate::params::{MAX_CHANNELS, MAX_RATE};

fn check_shape(info: &StreamInfo) -> Result<()> {
    if info.rate > MAX_RATE {
        return Err(StreamError::Format(format!(
            "sample rate {} Hz is above the limit of {MAX_RATE} Hz",
            info.rate
        )));
    }
    if info.channels == 0 || info.channels > MAX_CHANNELS {
        return Err(StreamError::Format(format!(
            "{} channels is more than the limit of {MAX_CHANNELS} (or none)",
            info.channels
        )));
    }
    if info.is_iq() && info.channels % 2 != 0 {
        return Err(StreamError::Format(format!(
            "IQ needs I/Q pairs (a 2-channel recording); the input has {} channel(s)",
            info.channels
        )));
    }
    Ok(())
}

impl<R: Read> Source for ByteSource<R> {
    fn info(&self) -> &StreamInfo {
        &self.info
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize> {
        let frames = self.fill(buf.len() / self.info.channels)?;
        let n = frames * self.info.channels;
        let b = self.info.encoding.bytes();
        self.info
            .encoding
            .decode(&self.bytes[..n * b], &mut buf[..n]);
        self.consume(frames);
        Ok(n)
    }
    fn read_i32(&mut self, buf: &mut [i32]) -> Option<Result<usize>> {
        self.info
            .encoding
            .audio_format()
            .filter(|f| !f.is_float())?;
        let frames = match self.fill(buf.len() / self.info.channels) {
            Ok(f) => f,
            Err(e) => return Some(Err(e)),
        };
        let n = frames * self.info.channels;
        let b = self.info.encoding.bytes();
        self.info
            .encoding
            .decode_i32(&self.bytes[..n * b], &mut buf[..n]);
        self.consume(frames);
        Some(Ok(n))
    }
    fn read_at(&self, start: u64, n: usize) -> Option<Result<Vec<f32>>> {
        let r = self.range.as_ref()?;
        let fb = self.frame_bytes() as u64;
        Some((|| {
            let mut f = std::fs::File::open(&r.path)?;
            let from = (start * fb).min(r.len);
            let len = (n as u64 * fb).min(r.len - from);
            f.seek(SeekFrom::Start(r.offset + from))?;
            let mut b = Vec::with_capacity(len as usize);
            f.take(len).read_to_end(&mut b)?;
            let whole = b.len() - b.len() % fb as usize;
            let mut x = vec![0.0; whole / self.info.encoding.bytes()];
            self.info.encoding.decode(&b[..whole], &mut x);
            Ok(x)
        })())
    }
    fn is_live(&self) -> bool {
        self.live
    }
    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// A source over an `io::SampleReader` (the WAV reader that parses a header from a pipe).
pub struct ReaderSource<R: SampleReader> {
    inner: R,
    info: StreamInfo,
    live: bool,
}

impl<R: SampleReader> ReaderSource<R> {
    pub fn new(inner: R, info: StreamInfo, live: bool) -> Result<Self> {
        check_shape(&info)?;
        Ok(ReaderSource { inner, info, live })
    }
}

impl<R: SampleReader> Source for ReaderSource<R> {
    fn info(&self) -> &StreamInfo {
        &self.info
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize> {
        Ok(self.inner.read(buf)?)
    }
    fn read_i32(&mut self, buf: &mut [i32]) -> Option<Result<usize>> {
        if self.inner.format().is_float() {
            return None;
        }
        Some(self.inner.read_i32(buf).map_err(Into::into))
    }
    fn is_live(&self) -> bool {
        self.live
    }
    fn take_warnings(&mut self) -> Vec<String> {
        self.inner.take_warnings()
    }
    fn trailing_chunks(&self) -> Vec<crate::io::riff::Chunk> {
        self.inner.chunks().1.to_vec()
    }
}

/// Samples in memory (tests, eval, demo, embedding).
pub struct SliceSource<'a> {
    x: &'a [f32],
    pos: usize,
    info: StreamInfo,
}

impl<'a> SliceSource<'a> {
    /// `x`: interleaved values, `channels` per frame, stored as `f32`.
    pub fn new(x: &'a [f32], rate: u32, channels: usize, kind: crate::engine::SignalKind) -> Self {
        // Stored as f32: `cf32le` for I/Q pairs, `f32le` for real channels (what a raw sink
        // writes by default).
        let encoding = match kind {
            crate::engine::SignalKind::Complex => Encoding::Iq(crate::io::iq::RawIq::Cf32le),
            crate::engine::SignalKind::Real => Encoding::Audio(RawFormat::F32Le),
        };
        let mut info = StreamInfo::new(rate, channels, kind, encoding);
        info.frames = Some((x.len() / channels.max(1)) as u64);
        info.format = "samples in memory".into();
        SliceSource { x, pos: 0, info }
    }
}

impl Source for SliceSource<'_> {
    fn info(&self) -> &StreamInfo {
        &self.info
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize> {
        let ch = self.info.channels;
        let n = (buf.len() / ch * ch).min(self.x.len() - self.pos);
        let n = n - n % ch;
        buf[..n].copy_from_slice(&self.x[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
    fn read_at(&self, start: u64, n: usize) -> Option<Result<Vec<f32>>> {
        let ch = self.info.channels;
        let a = (start as usize * ch).min(self.x.len());
        let b = (a + n * ch).min(self.x.len());
        Some(Ok(self.x[a..b].to_vec()))
    }
}

/// A source whose first values were read ahead (to estimate a noise floor from a stream) and
/// are handed out again before the rest.
pub struct Replay<'a> {
    head: Vec<f32>,
    pos: usize,
    inner: &'a mut dyn Source,
}

impl<'a> Replay<'a> {
    /// Reads up to `frames` frames of `inner` ahead.
    pub fn read_ahead(inner: &'a mut dyn Source, frames: usize) -> Result<Self> {
        let ch = inner.info().channels;
        let mut head = vec![0.0f32; frames * ch];
        let mut have = 0;
        while have < head.len() {
            let n = inner.read(&mut head[have..])?;
            if n == 0 {
                break;
            }
            have += n;
        }
        head.truncate(have);
        Ok(Replay {
            head,
            pos: 0,
            inner,
        })
    }

    /// The values read ahead.
    pub fn head(&self) -> &[f32] {
        &self.head
    }
}

impl Source for Replay<'_> {
    fn info(&self) -> &StreamInfo {
        self.inner.info()
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize> {
        if self.pos < self.head.len() {
            let ch = self.info().channels;
            let n = (self.head.len() - self.pos).min(buf.len() / ch * ch);
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
    fn is_live(&self) -> bool {
        self.inner.is_live()
    }
    fn take_warnings(&mut self) -> Vec<String> {
        self.inner.take_warnings()
    }
    fn trailing_chunks(&self) -> Vec<crate::io::riff::Chunk> {
        self.inner.trailing_chunks()
    }
}
