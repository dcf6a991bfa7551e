//! WAV files and streams, audio or I/Q, through the one RIFF/RF64 reader and writer
//! ([`riff`](super::riff)): 8/16/24/32-bit integer and 32/64-bit float, any channel count,
//! metadata chunks carried, sizes repaired, RF64 beyond 4 GiB.

use super::atomic::AtomicFile;
use super::codec::Encoding;
use super::riff::{self, Chunk, DataReader, RiffLayout, RiffWriter, SampleFormat, WavFmt};
use super::{IoError, RawFormat, SampleReader, SampleWriter};
use std::io::{BufWriter, Read, Seek, Write};
use std::path::Path;

/// Streams the samples of a WAV (RIFF or RF64) from a file or from any stream (a pipe, stdin:
/// no `Seek` needed). A `data` size of 0, 0xFFFFFFFF or past the end is repaired to "read to
/// the end", and a data chunk shorter than its header says ends the stream where the data
/// ends; both with a warning ([`take_warnings`](SampleReader::take_warnings)).
pub struct WavFileReader<R: Read> {
    data: DataReader<R>,
    layout: RiffLayout,
    fmt: RawFormat,
    warnings: Vec<String>,
}

impl WavFileReader<std::io::BufReader<std::fs::File>> {
    /// Opens a WAV file: its length repairs broken sizes, and the chunks after the data are
    /// read up front. A path that is not a regular file (a FIFO, `/dev/stdin`) is streamed.
    pub fn open(path: &Path) -> Result<Self, IoError> {
        let mut f = std::fs::File::open(path)?;
        let regular = f.metadata().map(|m| m.is_file()).unwrap_or(false);
        if !regular {
            return Self::new(std::io::BufReader::with_capacity(1 << 16, f));
        }
        let layout = riff::read_layout(&mut f)?;
        let data = DataReader::new(std::io::BufReader::with_capacity(1 << 16, f), &layout)?;
        Self::build(data, layout)
    }
}

impl<R: Read> WavFileReader<R> {
    /// Reads a WAV from a stream positioned at its first byte, forward only.
    pub fn new(mut inner: R) -> Result<Self, IoError> {
        let layout = riff::read_head(&mut inner, None)?;
        let data = DataReader::from_stream(inner, &layout);
        Self::build(data, layout)
    }

    fn build(data: DataReader<R>, layout: RiffLayout) -> Result<Self, IoError> {
        let fmt = layout.fmt.sample.raw();
        Ok(WavFileReader {
            data,
            fmt,
            warnings: layout.warnings.clone(),
            layout,
        })
    }

    /// The layout: form, `fmt `, chunks before (and, for files, after) the data, repairs.
    pub fn layout(&self) -> &RiffLayout {
        &self.layout
    }

    /// The chunks before the data, in file order (`fmt ` included, `ds64` and `data` not),
    /// byte for byte: what a writer carries with
    /// [`WavFileWriter::create_with_chunks`].
    pub fn chunks(&self) -> &[Chunk] {
        &self.layout.before_data
    }

    /// The chunks after the data. A stream knows them only once its data has been read.
    pub fn trailing_chunks(&self) -> &[Chunk] {
        if self.layout.after_data.is_empty() {
            self.data.trailing_chunks()
        } else {
            &self.layout.after_data
        }
    }
}

impl<R: Read> SampleReader for WavFileReader<R> {
    fn rate(&self) -> u32 {
        self.layout.fmt.rate
    }
    fn channels(&self) -> usize {
        self.layout.fmt.channels as usize
    }
    fn len_frames(&self) -> Option<u64> {
        (!self.layout.to_eof).then(|| self.layout.frames())
    }
    fn format(&self) -> RawFormat {
        self.fmt
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, IoError> {
        let n = self.data.read(buf)?;
        self.warnings.extend(self.data.take_warnings());
        Ok(n)
    }
    fn read_i32(&mut self, buf: &mut [i32]) -> Result<usize, IoError> {
        let n = self
            .data
            .read_i32(buf)?
            .ok_or_else(|| IoError::Format("float WAV has no integer samples".into()))?;
        self.warnings.extend(self.data.take_warnings());
        Ok(n)
    }
    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
    fn chunks(&self) -> (&[Chunk], &[Chunk]) {
        (&self.layout.before_data, self.trailing_chunks())
    }
}

/// Writes a WAV file whose sample type is that of `fmt` (byte order is always little-endian).
/// RIFF, becoming RF64 in [`finish`](SampleWriter::finish) if it outgrows 4 GiB.
pub struct WavFileWriter<W: Write + Seek> {
    inner: Option<RiffWriter<W>>,
    fmt: RawFormat,
    enc: Encoding,
    bytes: Vec<u8>,
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
        Self::create_with_chunks(path, fmt, rate, channels, &[], &[])
    }

    /// As [`create`](Self::create), carrying metadata chunks of an input (e.g.
    /// [`WavFileReader::chunks`]) byte for byte: `before` the data and `after` it. The input's
    /// container chunks (`fmt `, `fact`, `ds64`, `JUNK`, see [`riff::is_container_chunk`]) are
    /// replaced by this file's own.
    pub fn create_with_chunks(
        path: &Path,
        fmt: RawFormat,
        rate: u32,
        channels: usize,
        before: &[Chunk],
        after: &[Chunk],
    ) -> Result<Self, IoError> {
        let wav = wav_fmt(fmt, rate, channels)?;
        let atomic = AtomicFile::create(path)?;
        let file = BufWriter::with_capacity(1 << 16, atomic.file()?);
        Self::build(file, fmt, wav, before, after, Some(atomic))
    }
}

/// The `fmt ` of a WAV holding `fmt` samples, checked.
fn wav_fmt(fmt: RawFormat, rate: u32, channels: usize) -> Result<WavFmt, IoError> {
    let sample = SampleFormat::from_raw(fmt).ok_or_else(|| {
        IoError::Format(format!(
            "WAV cannot hold {fmt} samples (use u8, s16le, s24le, s32le, f32le or f64le)"
        ))
    })?;
    let block_align = u16::try_from(channels * sample.bytes())
        .ok()
        .filter(|_| channels > 0)
        .ok_or_else(|| IoError::Format(format!("cannot write {channels} channels to WAV")))?;
    if rate == 0 {
        return Err(IoError::Format("sample rate must be positive".into()));
    }
    Ok(WavFmt {
        tag: if fmt.is_float() { 3 } else { 1 },
        channels: channels as u16,
        rate,
        bits: 8 * sample.bytes() as u16,
        block_align,
        sample,
    })
}

impl<W: Write + Seek> WavFileWriter<W> {
    pub fn new(
        out: W,
        fmt: RawFormat,
        rate: u32,
        channels: usize,
        commit: Option<AtomicFile>,
    ) -> Result<Self, IoError> {
        let wav = wav_fmt(fmt, rate, channels)?;
        Self::build(out, fmt, wav, &[], &[], commit)
    }

    fn build(
        out: W,
        fmt: RawFormat,
        wav: WavFmt,
        before: &[Chunk],
        after: &[Chunk],
        commit: Option<AtomicFile>,
    ) -> Result<Self, IoError> {
        let mut chunks = vec![wav.to_chunk()];
        chunks.extend(
            before
                .iter()
                .filter(|c| !riff::is_container_chunk(&c.id))
                .cloned(),
        );
        let w = RiffWriter::new_auto(out, &chunks, after, wav.frame_bytes())?;
        Ok(WavFileWriter {
            inner: Some(w),
            fmt,
            enc: fmt.encoding(),
            bytes: Vec::new(),
            clipped: 0,
            commit,
        })
    }

    /// Sets the chunks written after the data (those of a streamed input are known only at
    /// its end: [`WavFileReader::trailing_chunks`]).
    pub fn set_trailing_chunks(&mut self, after: &[Chunk]) {
        if let Some(w) = self.inner.as_mut() {
            w.set_trailing_chunks(after);
        }
    }

    fn writer(&mut self) -> Result<&mut RiffWriter<W>, IoError> {
        self.inner
            .as_mut()
            .ok_or_else(|| IoError::Format("WAV writer used after finish".into()))
    }
}

impl<W: Write + Seek> SampleWriter for WavFileWriter<W> {
    fn format(&self) -> RawFormat {
        self.fmt
    }
    fn write(&mut self, buf: &[f32]) -> Result<(), IoError> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.resize(buf.len() * self.enc.bytes(), 0);
        self.clipped += self.enc.encode(buf, &mut bytes);
        let r = self.writer().and_then(|w| Ok(w.write_data(&bytes)?));
        self.bytes = bytes;
        r
    }
    fn write_i32(&mut self, buf: &[i32]) -> Result<(), IoError> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.resize(buf.len() * self.enc.bytes(), 0);
        let r = match self.enc.encode_i32(buf, &mut bytes) {
            None => Err(IoError::Format("float WAV has no integer samples".into())),
            Some(_) => self.writer().and_then(|w| Ok(w.write_data(&bytes)?)),
        };
        self.bytes = bytes;
        r
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
            w.finish()?;
        }
        if let Some(a) = self.commit.take() {
            a.commit()?;
        }
        Ok(())
    }
}

/// Reads a whole WAV file (`-` = stdin) mixed down to mono (the mean of its channels):
/// `(samples, rate, channels)`. For tools that need the whole signal at once (eval, demo,
/// invert); streaming commands use [`WavFileReader`].
pub fn read_mono(path: &Path) -> Result<(Vec<f32>, u32, usize), IoError> {
    let mut r: Box<dyn SampleReader> = if path == Path::new("-") {
        Box::new(WavFileReader::new(std::io::BufReader::new(
            std::io::stdin(),
        ))?)
    } else {
        Box::new(WavFileReader::open(path)?)
    };
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

/// Writes a whole mono signal to `path` in `fmt`: [`write_interleaved`] with one channel.
pub fn write_mono(path: &Path, x: &[f32], rate: u32, fmt: RawFormat) -> Result<u64, IoError> {
    write_interleaved(path, x, rate, 1, fmt)
}

/// Writes a whole interleaved signal as a WAV in `fmt` (integer formats rounded and clipped)
/// with the one RIFF writer: to a file through [`AtomicFile`] (a temporary file renamed on
/// success), or — built in memory first, since a pipe cannot be seeked back to patch the header —
/// to stdout for `-` and in place to a device or FIFO. Returns the number of clipped samples.
pub fn write_interleaved(
    path: &Path,
    x: &[f32],
    rate: u32,
    channels: usize,
    fmt: RawFormat,
) -> Result<u64, IoError> {
    let atomic = if path == Path::new("-") {
        None
    } else {
        Some(AtomicFile::create(path)?)
    };
    match atomic {
        Some(a) if !a.is_direct() => {
            let file = BufWriter::with_capacity(1 << 16, a.file()?);
            let mut w = Box::new(WavFileWriter::new(file, fmt, rate, channels, Some(a))?);
            w.write(x)?;
            let clipped = w.clipped();
            w.finish()?;
            Ok(clipped)
        }
        stream => {
            let mut cur = std::io::Cursor::new(Vec::new());
            let mut w = Box::new(WavFileWriter::new(&mut cur, fmt, rate, channels, None)?);
            w.write(x)?;
            let clipped = w.clipped();
            w.finish()?;
            match stream {
                Some(a) => {
                    a.file()?.write_all(cur.get_ref())?;
                    a.commit()?;
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(cur.get_ref())?;
                    out.flush()?;
                }
            }
            Ok(clipped)
        }
    }
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
