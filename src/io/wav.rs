//! WAV files through hound: 8/16/24/32-bit integer and 32-bit float, any channel count.

use super::atomic::AtomicFile;
use super::{dequantize, quantize, IoError, RawFormat, SampleReader, SampleWriter};
use std::io::{BufWriter, ErrorKind, Read, Seek, Write};
use std::path::Path;

/// Streams the samples of a WAV file. A data chunk shorter than its header says (a
/// truncated recording) ends the stream where the data ends, with a warning.
pub struct WavFileReader<R: Read> {
    inner: hound::WavReader<R>,
    fmt: RawFormat,
    rate: u32,
    channels: usize,
    frames_read: u64,
    ended: bool,
    warnings: Vec<String>,
}

impl WavFileReader<std::io::BufReader<std::fs::File>> {
    pub fn open(path: &Path) -> Result<Self, IoError> {
        let f = std::fs::File::open(path)?;
        Self::new(std::io::BufReader::with_capacity(1 << 16, f))
    }
}

impl<R: Read> WavFileReader<R> {
    pub fn new(inner: R) -> Result<Self, IoError> {
        let inner = hound::WavReader::new(inner)?;
        let spec = inner.spec();
        let float = spec.sample_format == hound::SampleFormat::Float;
        let fmt = RawFormat::from_wav(spec.bits_per_sample, float).ok_or_else(|| {
            IoError::Format(format!(
                "unsupported WAV sample type: {}-bit {}",
                spec.bits_per_sample,
                if float { "float" } else { "integer" }
            ))
        })?;
        if spec.sample_rate == 0 {
            return Err(IoError::Format(
                "WAV header gives a sample rate of 0".into(),
            ));
        }
        if spec.channels == 0 {
            return Err(IoError::Format("WAV header gives 0 channels".into()));
        }
        Ok(WavFileReader {
            inner,
            fmt,
            rate: spec.sample_rate,
            channels: spec.channels as usize,
            frames_read: 0,
            ended: false,
            warnings: Vec::new(),
        })
    }

    /// Reads up to `buf.len()` samples with `conv`; stops cleanly at a truncated data chunk.
    fn read_with<S: hound::Sample, T>(
        &mut self,
        buf: &mut [T],
        conv: impl Fn(S) -> T,
    ) -> Result<usize, IoError> {
        if self.ended {
            return Ok(0);
        }
        let want = buf.len() - buf.len() % self.channels;
        let mut n = 0;
        let mut samples = self.inner.samples::<S>();
        while n < want {
            match samples.next() {
                None => {
                    self.ended = true;
                    break;
                }
                Some(Ok(s)) => {
                    buf[n] = conv(s);
                    n += 1;
                }
                Some(Err(hound::Error::IoError(e)))
                    if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::Other) =>
                {
                    self.ended = true;
                    let whole = n - n % self.channels;
                    let claimed = self.inner.duration() as u64;
                    self.warnings.push(format!(
                        "the WAV data chunk is shorter than its header says (truncated \
                         recording?): processed the {} of {} frames present",
                        self.frames_read + (whole / self.channels) as u64,
                        claimed
                    ));
                    n = whole;
                    break;
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
        self.frames_read += (n / self.channels) as u64;
        Ok(n)
    }
}

impl<R: Read> SampleReader for WavFileReader<R> {
    fn rate(&self) -> u32 {
        self.rate
    }
    fn channels(&self) -> usize {
        self.channels
    }
    fn len_frames(&self) -> Option<u64> {
        Some(self.inner.duration() as u64)
    }
    fn format(&self) -> RawFormat {
        self.fmt
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, IoError> {
        if self.fmt.is_float() {
            self.read_with(buf, |s: f32| s)
        } else {
            let bits = self.fmt.spec().bits;
            self.read_with(buf, |s: i32| dequantize(s, bits))
        }
    }
    fn read_i32(&mut self, buf: &mut [i32]) -> Result<usize, IoError> {
        if self.fmt.is_float() {
            return Err(IoError::Format("float WAV has no integer samples".into()));
        }
        let shift = 32 - self.fmt.spec().bits;
        self.read_with(buf, |s: i32| s << shift)
    }
    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// Writes a WAV file whose sample type is that of `fmt` (byte order is always little-endian).
pub struct WavFileWriter<W: Write + Seek> {
    inner: Option<hound::WavWriter<W>>,
    fmt: RawFormat,
    clipped: u64,
    commit: Option<AtomicFile>,
}

impl WavFileWriter<BufWriter<std::fs::File>> {
    /// Writes to a temporary file next to `path`, renamed to `path` by `finish`.
    pub fn create(
        path: &Path,
        fmt: RawFormat,
        rate: u32,
        channels: usize,
    ) -> Result<Self, IoError> {
        let atomic = AtomicFile::create(path)?;
        let file = BufWriter::with_capacity(1 << 16, atomic.file()?);
        Self::new(file, fmt, rate, channels, Some(atomic))
    }
}

impl<W: Write + Seek> WavFileWriter<W> {
    pub fn new(
        out: W,
        fmt: RawFormat,
        rate: u32,
        channels: usize,
        commit: Option<AtomicFile>,
    ) -> Result<Self, IoError> {
        let (bits, float) = fmt.wav_type();
        let channels = u16::try_from(channels)
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| IoError::Format(format!("cannot write {channels} channels to WAV")))?;
        if rate == 0 {
            return Err(IoError::Format("sample rate must be positive".into()));
        }
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        Ok(WavFileWriter {
            inner: Some(hound::WavWriter::new(out, spec)?),
            fmt,
            clipped: 0,
            commit,
        })
    }

    fn writer(&mut self) -> &mut hound::WavWriter<W> {
        self.inner.as_mut().expect("writer used after finish")
    }
}

impl<W: Write + Seek> SampleWriter for WavFileWriter<W> {
    fn format(&self) -> RawFormat {
        self.fmt
    }
    fn write(&mut self, buf: &[f32]) -> Result<(), IoError> {
        if self.fmt.is_float() {
            let w = self.writer();
            for &x in buf {
                w.write_sample(x)?;
            }
        } else {
            let bits = self.fmt.spec().bits;
            let mut clipped = 0;
            let w = self.writer();
            for &x in buf {
                let (q, c) = quantize(x, bits);
                clipped += c as u64;
                w.write_sample(q)?;
            }
            self.clipped += clipped;
        }
        Ok(())
    }
    fn write_i32(&mut self, buf: &[i32]) -> Result<(), IoError> {
        if self.fmt.is_float() {
            return Err(IoError::Format("float WAV has no integer samples".into()));
        }
        let shift = 32 - self.fmt.spec().bits;
        let w = self.writer();
        for &x in buf {
            w.write_sample(x >> shift)?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IoError> {
        // The header is written once, by `finish`.
        Ok(())
    }
    fn clipped(&self) -> u64 {
        self.clipped
    }
    fn finish(mut self: Box<Self>) -> Result<(), IoError> {
        if let Some(w) = self.inner.take() {
            w.finalize()?;
        }
        if let Some(a) = self.commit.take() {
            a.commit()?;
        }
        Ok(())
    }
}

/// Reads a whole WAV file mixed down to mono (the mean of its channels): `(samples, rate,
/// channels)`. For tools that need the whole signal at once (eval, demo); streaming commands use
/// [`WavFileReader`].
pub fn read_mono(path: &Path) -> Result<(Vec<f32>, u32, usize), IoError> {
    let mut r = WavFileReader::open(path)?;
    let ch = r.channels();
    let mut all = Vec::new();
    let mut buf = vec![0.0f32; 4096 * ch];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        all.extend(
            buf[..n]
                .chunks_exact(ch)
                .map(|f| f.iter().sum::<f32>() / ch as f32),
        );
    }
    Ok((all, r.rate(), ch))
}

/// Writes a whole mono signal to `path` in `fmt` (integer formats rounded and clipped), through
/// a temporary file renamed on success. Returns the number of clipped samples.
pub fn write_mono(path: &Path, x: &[f32], rate: u32, fmt: RawFormat) -> Result<u64, IoError> {
    let mut w = Box::new(WavFileWriter::create(path, fmt, rate, 1)?);
    w.write(x)?;
    let clipped = w.clipped();
    w.finish()?;
    Ok(clipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wav_type_round_trips_through_the_i32_path_exactly() {
        for fmt in [
            RawFormat::U8,
            RawFormat::S16Le,
            RawFormat::S24Le,
            RawFormat::S32Le,
        ] {
            let bits = fmt.spec().bits;
            let shift = 32 - bits;
            let lo = -(1i64 << (bits - 1));
            let hi = (1i64 << (bits - 1)) - 1;
            let vals: Vec<i32> = [lo, lo + 1, -1, 0, 1, hi - 1, hi]
                .iter()
                .map(|&v| (v as i32) << shift)
                .collect();
            let mut cur = std::io::Cursor::new(Vec::new());
            let mut w = Box::new(WavFileWriter::new(&mut cur, fmt, 8000, 1, None).unwrap());
            w.write_i32(&vals).unwrap();
            w.finish().unwrap();
            let bytes = cur.into_inner();
            let mut r = WavFileReader::new(&bytes[..]).unwrap();
            assert_eq!(r.format(), fmt);
            assert_eq!(r.len_frames(), Some(vals.len() as u64));
            let mut back = vec![0i32; 16];
            let n = r.read_i32(&mut back).unwrap();
            assert_eq!(&back[..n], &vals[..], "{fmt}");
        }
    }

    #[test]
    fn whole_mono_files_round_trip_within_one_lsb_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wav");
        let x: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.01).sin() * 0.9).collect();
        assert_eq!(write_mono(&path, &x, 16_000, RawFormat::S16Le).unwrap(), 0);
        let (y, rate, ch) = read_mono(&path).unwrap();
        assert_eq!((rate, ch, y.len()), (16_000, 1, x.len()));
        assert!(x
            .iter()
            .zip(&y)
            .all(|(a, b)| (a - b).abs() <= 1.0 / 32768.0));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
