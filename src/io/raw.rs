//! Headerless sample streams (`--format s16le --rate 24k --channels 1`): files, stdin, stdout.
//!
//! Integers map to ±1.0 full scale by their width (`s16`: v / 32768; `u8`: (v − 128) / 128);
//! the bytes are converted by the one bulk [`codec`](super::codec).

use super::atomic::AtomicFile;
use super::{IoError, RawFormat, SampleReader, SampleWriter};
use std::io::{ErrorKind, Read, Write};

fn not_integer(fmt: RawFormat) -> IoError {
    IoError::Format(format!("{fmt} is not an integer format"))
}

/// Reads a raw stream. Short reads (pipes) are returned at once, in whole frames.
pub struct RawReader<R: Read> {
    inner: R,
    fmt: RawFormat,
    rate: u32,
    channels: usize,
    len_frames: Option<u64>,
    bytes: Vec<u8>,
    have: usize,
    eof: bool,
    warnings: Vec<String>,
}

impl<R: Read> RawReader<R> {
    /// `len_bytes`: the stream length when known (a file), to report `len_frames`.
    pub fn new(
        inner: R,
        fmt: RawFormat,
        rate: u32,
        channels: usize,
        len_bytes: Option<u64>,
    ) -> Result<Self, IoError> {
        if rate == 0 {
            return Err(IoError::Format("sample rate must be positive".into()));
        }
        if channels == 0 {
            return Err(IoError::Format("channel count must be at least 1".into()));
        }
        let fb = (fmt.bytes() * channels) as u64;
        Ok(RawReader {
            inner,
            fmt,
            rate,
            channels,
            len_frames: len_bytes.map(|n| n / fb),
            bytes: Vec::new(),
            have: 0,
            eof: false,
            warnings: Vec::new(),
        })
    }

    fn frame_bytes(&self) -> usize {
        self.fmt.bytes() * self.channels
    }

    /// Makes at least one whole frame available (unless at the end); returns the whole frames
    /// buffered, at most `max_frames`.
    fn fill(&mut self, max_frames: usize) -> Result<usize, IoError> {
        let fb = self.frame_bytes();
        let want = max_frames.max(1) * fb;
        if self.bytes.len() < want {
            self.bytes.resize(want, 0);
        }
        while self.have < fb && !self.eof {
            match self.inner.read(&mut self.bytes[self.have..want]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.have += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if self.have < fb && self.eof && self.have > 0 {
            self.warnings.push(format!(
                "ignored {} trailing byte(s): the input ends inside a frame ({} bytes each)",
                self.have, fb
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

impl<R: Read> SampleReader for RawReader<R> {
    fn rate(&self) -> u32 {
        self.rate
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn len_frames(&self) -> Option<u64> {
        self.len_frames
    }
    fn format(&self) -> RawFormat {
        self.fmt
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, IoError> {
        let frames = self.fill(buf.len() / self.channels)?;
        let n = frames * self.channels;
        self.fmt
            .encoding()
            .decode(&self.bytes[..n * self.fmt.bytes()], &mut buf[..n]);
        self.consume(frames);
        Ok(n)
    }
    fn read_i32(&mut self, buf: &mut [i32]) -> Result<usize, IoError> {
        let frames = self.fill(buf.len() / self.channels)?;
        let n = frames * self.channels;
        self.fmt
            .encoding()
            .decode_i32(&self.bytes[..n * self.fmt.bytes()], &mut buf[..n])
            .ok_or_else(|| not_integer(self.fmt))?;
        self.consume(frames);
        Ok(n)
    }
    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// Writes a raw stream; with an [`AtomicFile`] it becomes the target file on `finish`.
pub struct RawWriter<W: Write> {
    out: W,
    fmt: RawFormat,
    bytes: Vec<u8>,
    clipped: u64,
    commit: Option<AtomicFile>,
}

impl<W: Write> RawWriter<W> {
    pub fn new(out: W, fmt: RawFormat, commit: Option<AtomicFile>) -> Self {
        RawWriter {
            out,
            fmt,
            bytes: Vec::new(),
            clipped: 0,
            commit,
        }
    }
}

impl<W: Write> SampleWriter for RawWriter<W> {
    fn format(&self) -> RawFormat {
        self.fmt
    }
    fn write(&mut self, buf: &[f32]) -> Result<(), IoError> {
        self.bytes.clear();
        self.clipped += self.fmt.encoding().encode_append(buf, &mut self.bytes);
        self.out.write_all(&self.bytes)?;
        Ok(())
    }
    fn write_i32(&mut self, buf: &[i32]) -> Result<(), IoError> {
        self.bytes.clear();
        self.bytes.resize(buf.len() * self.fmt.bytes(), 0);
        self.fmt
            .encoding()
            .encode_i32(buf, &mut self.bytes)
            .ok_or_else(|| not_integer(self.fmt))?;
        self.out.write_all(&self.bytes)?;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.out.flush()?;
        Ok(())
    }
    fn clipped(&self) -> u64 {
        self.clipped
    }
    fn finish(mut self: Box<Self>) -> Result<(), IoError> {
        self.out.flush()?;
        drop(self.out);
        if let Some(f) = self.commit.take() {
            f.commit()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per call, like a pipe.
    struct Trickle(Vec<u8>, usize, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len() - self.2);
            buf[..n].copy_from_slice(&self.0[self.2..self.2 + n]);
            self.2 += n;
            Ok(n)
        }
    }

    #[test]
    fn short_reads_return_whole_frames_at_once_and_keep_the_remainder() {
        // Stereo s16: 4 bytes per frame; the pipe delivers 7 bytes per read.
        let samples: Vec<i16> = (0..20).map(|i| i * 100 - 900).collect();
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut r = RawReader::new(Trickle(bytes, 7, 0), RawFormat::S16Le, 8000, 2, None).unwrap();
        let mut buf = [0f32; 4096];
        let mut got = Vec::new();
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            // At most the whole frames of two 7-byte reads: nothing waits for a full buffer.
            assert!(n == 2 || n == 4, "{n} samples from a trickle");
            got.extend_from_slice(&buf[..n]);
        }
        let want: Vec<f32> = samples.iter().map(|&s| s as f32 / 32768.0).collect();
        assert_eq!(got, want);
        assert!(r.take_warnings().is_empty());
    }

    #[test]
    fn a_partial_last_frame_is_dropped_with_a_warning() {
        let bytes = [0u8, 1, 2, 3, 4];
        let mut r = RawReader::new(&bytes[..], RawFormat::S16Le, 8000, 2, None).unwrap();
        let mut buf = [0f32; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        assert_eq!(r.take_warnings().len(), 1);
    }
}
