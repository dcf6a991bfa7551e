//! Headerless sample streams (`--format s16le --rate 24k --channels 1`): files, stdin, stdout.
//!
//! Integers map to ±1.0 full scale by their width (`s16`: v / 32768; `u8`: (v − 128) / 128).

use super::atomic::AtomicFile;
use super::{quantize, FormatSpec, IoError, RawFormat, SampleReader, SampleWriter};
use std::io::{ErrorKind, Read, Write};

/// One integer sample from its bytes, as a signed value of `spec.bits` bits.
#[inline]
fn read_int(s: &FormatSpec, b: &[u8]) -> i32 {
    let mut u: u32 = 0;
    if s.big_endian {
        b.iter().for_each(|&x| u = (u << 8) | x as u32);
    } else {
        b.iter().rev().for_each(|&x| u = (u << 8) | x as u32);
    }
    if s.unsigned {
        u as i32 - (1i32 << (s.bits - 1))
    } else {
        let shift = 32 - s.bits;
        ((u << shift) as i32) >> shift
    }
}

#[inline]
fn write_int(s: &FormatSpec, v: i32, out: &mut Vec<u8>) {
    let u = if s.unsigned {
        (v + (1i32 << (s.bits - 1))) as u32
    } else {
        v as u32
    };
    let le = u.to_le_bytes();
    if s.big_endian {
        out.extend(le[..s.bytes].iter().rev());
    } else {
        out.extend_from_slice(&le[..s.bytes]);
    }
}

#[inline]
fn read_float(s: &FormatSpec, b: &[u8]) -> f32 {
    let a = [b[0], b[1], b[2], b[3]];
    if s.big_endian {
        f32::from_be_bytes(a)
    } else {
        f32::from_le_bytes(a)
    }
}

/// Decodes `out.len()` samples from `bytes` to full-scale `f32`.
pub fn decode_f32(fmt: RawFormat, bytes: &[u8], out: &mut [f32]) {
    let s = fmt.spec();
    let chunks = bytes.chunks_exact(s.bytes);
    if s.float {
        out.iter_mut()
            .zip(chunks)
            .for_each(|(o, b)| *o = read_float(&s, b));
    } else {
        out.iter_mut()
            .zip(chunks)
            .for_each(|(o, b)| *o = super::dequantize(read_int(&s, b), s.bits));
    }
}

/// Decodes integer samples left-justified to 32 bits. Float formats are an error.
pub fn decode_i32(fmt: RawFormat, bytes: &[u8], out: &mut [i32]) -> Result<(), IoError> {
    let s = fmt.spec();
    if s.float {
        return Err(IoError::Format(format!("{fmt} is not an integer format")));
    }
    let shift = 32 - s.bits;
    out.iter_mut()
        .zip(bytes.chunks_exact(s.bytes))
        .for_each(|(o, b)| *o = read_int(&s, b) << shift);
    Ok(())
}

/// Appends the encoding of `x` to `out`; returns how many samples were clipped.
pub fn encode_f32(fmt: RawFormat, x: &[f32], out: &mut Vec<u8>) -> u64 {
    let s = fmt.spec();
    let mut clipped = 0;
    for &v in x {
        if s.float {
            let b = if s.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            out.extend_from_slice(&b);
        } else {
            let (q, c) = quantize(v, s.bits);
            clipped += c as u64;
            write_int(&s, q, out);
        }
    }
    clipped
}

/// Appends left-justified integer samples (see [`decode_i32`]), truncated to the format width.
pub fn encode_i32(fmt: RawFormat, x: &[i32], out: &mut Vec<u8>) -> Result<(), IoError> {
    let s = fmt.spec();
    if s.float {
        return Err(IoError::Format(format!("{fmt} is not an integer format")));
    }
    let shift = 32 - s.bits;
    x.iter().for_each(|&v| write_int(&s, v >> shift, out));
    Ok(())
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
        decode_f32(self.fmt, &self.bytes[..n * self.fmt.bytes()], &mut buf[..n]);
        self.consume(frames);
        Ok(n)
    }
    fn read_i32(&mut self, buf: &mut [i32]) -> Result<usize, IoError> {
        let frames = self.fill(buf.len() / self.channels)?;
        let n = frames * self.channels;
        decode_i32(self.fmt, &self.bytes[..n * self.fmt.bytes()], &mut buf[..n])?;
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
        self.clipped += encode_f32(self.fmt, buf, &mut self.bytes);
        self.out.write_all(&self.bytes)?;
        Ok(())
    }
    fn write_i32(&mut self, buf: &[i32]) -> Result<(), IoError> {
        self.bytes.clear();
        encode_i32(self.fmt, buf, &mut self.bytes)?;
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

    #[test]
    fn integer_formats_decode_known_byte_patterns() {
        let mut out = [0f32; 2];
        decode_f32(RawFormat::S16Le, &[0x00, 0x80, 0x00, 0x40], &mut out);
        assert_eq!(out, [-1.0, 0.5]);
        decode_f32(RawFormat::S16Be, &[0x80, 0x00, 0x40, 0x00], &mut out);
        assert_eq!(out, [-1.0, 0.5]);
        decode_f32(RawFormat::U8, &[0, 192], &mut out);
        assert_eq!(out, [-1.0, 0.5]);
        decode_f32(RawFormat::S24Le, &[0, 0, 0x80, 0, 0, 0x40], &mut out);
        assert_eq!(out, [-1.0, 0.5]);
        decode_f32(
            RawFormat::F32Be,
            &[0x3f, 0, 0, 0, 0xbf, 0x80, 0, 0],
            &mut out,
        );
        assert_eq!(out, [0.5, -1.0]);
    }

    #[test]
    fn every_format_round_trips_its_own_bytes() {
        for (fmt, _, _) in RawFormat::ALL {
            let n = 64;
            // Bytes that are valid samples: for floats, encode values first.
            let bytes: Vec<u8> = if fmt.is_float() {
                let mut b = Vec::new();
                let x: Vec<f32> = (0..n).map(|i| (i as f32 - 32.0) / 37.0).collect();
                encode_f32(*fmt, &x, &mut b);
                b
            } else {
                (0..n * fmt.bytes()).map(|i| (i * 37 % 256) as u8).collect()
            };
            let mut f = vec![0f32; n];
            decode_f32(*fmt, &bytes, &mut f);
            let mut back = Vec::new();
            assert_eq!(encode_f32(*fmt, &f, &mut back), 0, "{fmt}");
            // f32 carries up to 24 bits exactly; 32-bit integers use the i32 path.
            if fmt.spec().bits <= 24 || fmt.is_float() {
                assert_eq!(back, bytes, "{fmt} via f32");
            }
            if !fmt.is_float() {
                let mut i = vec![0i32; n];
                decode_i32(*fmt, &bytes, &mut i).unwrap();
                let mut back = Vec::new();
                encode_i32(*fmt, &i, &mut back).unwrap();
                assert_eq!(back, bytes, "{fmt} via i32");
            }
        }
    }

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
