//! A chunk-preserving RIFF/RF64 WAVE reader and writer.
//!
//! Why not hound: SDR recordings carry metadata chunks (`auxi`, `rcvr`, `LIST`, `JUNK`) that other
//! tools need, exceed 4 GiB (RF64/ds64), and often have broken size fields. This module keeps every
//! chunk other than `ds64` and `data` byte for byte, in order (before and after `data`), and reads
//! the sample data as a byte range of the file so it can be streamed in constant memory.
//!
//! Reader rules (tolerant, see `shared/notes/sdr-formats.md` §1.2): a `data` size of 0,
//! 0xFFFFFFFF (without a usable `ds64`), or larger than the rest of the file means "to end of file";
//! unknown chunks are skipped by their size plus the pad byte of odd sizes, also after `data`.
//! Sample normalisation: integers map to [-1, 1) by dividing by 2^(bits-1) (8-bit WAV is unsigned
//! with 128 = zero); floats are taken as they are.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// RIFF (sizes in u32 fields) or RF64 (sizes in the `ds64` chunk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Riff,
    Rf64,
}

/// One chunk kept verbatim: its id and payload (without the pad byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub id: [u8; 4],
    pub data: Vec<u8>,
}

impl Chunk {
    pub fn id_str(&self) -> String {
        String::from_utf8_lossy(&self.id).into_owned()
    }
}

/// Sample encoding of the `data` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    U8,
    I16,
    I24,
    I32,
    F32,
    F64,
}

impl SampleFormat {
    pub fn bytes(self) -> usize {
        match self {
            SampleFormat::U8 => 1,
            SampleFormat::I16 => 2,
            SampleFormat::I24 => 3,
            SampleFormat::I32 | SampleFormat::F32 => 4,
            SampleFormat::F64 => 8,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::U8 => "8-bit unsigned PCM",
            SampleFormat::I16 => "16-bit PCM",
            SampleFormat::I24 => "24-bit PCM",
            SampleFormat::I32 => "32-bit PCM",
            SampleFormat::F32 => "32-bit float",
            SampleFormat::F64 => "64-bit float",
        }
    }

    /// Decodes little-endian samples into f32 (see the module doc for the scaling).
    /// `bytes.len()` must be `out.len() * self.bytes()`.
    pub fn decode(self, bytes: &[u8], out: &mut [f32]) {
        debug_assert_eq!(bytes.len(), out.len() * self.bytes());
        match self {
            SampleFormat::U8 => {
                for (o, b) in out.iter_mut().zip(bytes) {
                    *o = (*b as f32 - 128.0) * (1.0 / 128.0);
                }
            }
            SampleFormat::I16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = i16::from_le_bytes([b[0], b[1]]) as f32 * (1.0 / 32768.0);
                }
            }
            SampleFormat::I24 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(3)) {
                    let v = i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8;
                    *o = v as f32 * (1.0 / 8_388_608.0);
                }
            }
            SampleFormat::I32 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    *o = (v as f64 * (1.0 / 2_147_483_648.0)) as f32;
                }
            }
            SampleFormat::F32 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            SampleFormat::F64 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    *o = f64::from_le_bytes(a) as f32;
                }
            }
        }
    }

    /// Encodes f32 samples (rounded to nearest, clipped; NaN → 0) into little-endian bytes; the exact
    /// inverse of [`decode`](Self::decode) for every value `decode` can produce (except 32-bit
    /// integers, which f32 cannot hold exactly).
    pub fn encode(self, input: &[f32], bytes: &mut [u8]) {
        debug_assert_eq!(bytes.len(), input.len() * self.bytes());
        fn q(x: f32, scale: f32, lo: f32, hi: f32) -> f32 {
            let v = (x * scale).round();
            if v.is_nan() {
                0.0
            } else {
                v.clamp(lo, hi)
            }
        }
        match self {
            SampleFormat::U8 => {
                for (b, x) in bytes.iter_mut().zip(input) {
                    *b = (q(*x, 128.0, -128.0, 127.0) + 128.0) as u8;
                }
            }
            SampleFormat::I16 => {
                // The hot path of 16-bit IQ files: round-half-even vectorises, and the float →
                // integer `as` cast saturates (NaN → 0), so no explicit clamp is needed.
                for (b, x) in bytes.chunks_exact_mut(2).zip(input) {
                    b.copy_from_slice(&((*x * 32768.0).round_ties_even() as i16).to_le_bytes());
                }
            }
            SampleFormat::I24 => {
                for (b, x) in bytes.chunks_exact_mut(3).zip(input) {
                    let v = q(*x, 8_388_608.0, -8_388_608.0, 8_388_607.0) as i32;
                    b.copy_from_slice(&v.to_le_bytes()[..3]);
                }
            }
            SampleFormat::I32 => {
                for (b, x) in bytes.chunks_exact_mut(4).zip(input) {
                    let v = (*x as f64 * 2_147_483_648.0).round();
                    let v = if v.is_nan() {
                        0
                    } else {
                        v.clamp(-2_147_483_648.0, 2_147_483_647.0) as i32
                    };
                    b.copy_from_slice(&v.to_le_bytes());
                }
            }
            SampleFormat::F32 => {
                for (b, x) in bytes.chunks_exact_mut(4).zip(input) {
                    b.copy_from_slice(&x.to_le_bytes());
                }
            }
            SampleFormat::F64 => {
                for (b, x) in bytes.chunks_exact_mut(8).zip(input) {
                    b.copy_from_slice(&(*x as f64).to_le_bytes());
                }
            }
        }
    }
}

/// The decoded `fmt ` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavFmt {
    /// Format tag as written (1 PCM, 3 float, 0xFFFE extensible).
    pub tag: u16,
    pub channels: u16,
    pub rate: u32,
    pub bits: u16,
    pub block_align: u16,
    pub sample: SampleFormat,
}

impl WavFmt {
    /// Bytes per frame (all channels).
    pub fn frame_bytes(&self) -> usize {
        self.sample.bytes() * self.channels as usize
    }

    /// A canonical 16-byte (PCM/float) or 40-byte (extensible) `fmt ` payload.
    pub fn to_chunk(&self) -> Chunk {
        let (tag, bits) = match self.sample {
            SampleFormat::F32 | SampleFormat::F64 => (3u16, self.sample.bytes() as u16 * 8),
            s => (1u16, s.bytes() as u16 * 8),
        };
        let ba = self.frame_bytes() as u16;
        let mut d = Vec::with_capacity(16);
        d.extend_from_slice(&tag.to_le_bytes());
        d.extend_from_slice(&self.channels.to_le_bytes());
        d.extend_from_slice(&self.rate.to_le_bytes());
        d.extend_from_slice(&(self.rate.wrapping_mul(ba as u32)).to_le_bytes());
        d.extend_from_slice(&ba.to_le_bytes());
        d.extend_from_slice(&bits.to_le_bytes());
        Chunk {
            id: *b"fmt ",
            data: d,
        }
    }
}

/// Why a file cannot be read as WAVE.
#[derive(Debug, thiserror::Error)]
pub enum RiffError {
    #[error("not a RIFF/RF64 WAVE file")]
    NotWave,
    #[error("no `fmt ` chunk before the `data` chunk")]
    NoFmt,
    #[error("no `data` chunk")]
    NoData,
    #[error("malformed `fmt ` chunk: {0}")]
    BadFmt(String),
    #[error("unsupported sample format: {0}")]
    Unsupported(String),
    #[error("chunk '{0}' claims {1} bytes, more than this reader keeps in memory")]
    ChunkTooLarge(String, u64),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Largest non-`data` chunk kept in memory (metadata chunks are a few hundred bytes).
pub const MAX_META_CHUNK: u64 = 16 << 20;

/// Everything about a WAVE file except the sample data, which stays on disk.
#[derive(Debug, Clone)]
pub struct RiffLayout {
    pub form: Form,
    /// Chunks before `data`, in file order, including `fmt ` and excluding `ds64`.
    pub before_data: Vec<Chunk>,
    /// Chunks after `data`, in file order.
    pub after_data: Vec<Chunk>,
    pub fmt: WavFmt,
    /// Byte offset of the first sample.
    pub data_offset: u64,
    /// Usable sample bytes (whole frames).
    pub data_len: u64,
    /// Repairs made while reading (bad sizes, truncation), for the user.
    pub warnings: Vec<String>,
}

impl RiffLayout {
    /// Frames (samples per channel) in the data.
    pub fn frames(&self) -> u64 {
        self.data_len / self.fmt.frame_bytes() as u64
    }
    /// The first chunk with this id (before or after `data`).
    pub fn chunk(&self, id: &[u8; 4]) -> Option<&Chunk> {
        self.before_data
            .iter()
            .chain(&self.after_data)
            .find(|c| &c.id == id)
    }
}

fn u16le(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32le(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64le(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// Parses a `fmt ` payload.
pub fn parse_fmt(d: &[u8]) -> Result<WavFmt, RiffError> {
    if d.len() < 16 {
        return Err(RiffError::BadFmt(format!("{} bytes, need 16", d.len())));
    }
    let tag = u16le(d, 0);
    let channels = u16le(d, 2);
    let rate = u32le(d, 4);
    let block_align = u16le(d, 12);
    let bits = u16le(d, 14);
    let eff_tag = if tag == 0xFFFE {
        if d.len() < 40 {
            return Err(RiffError::BadFmt(
                "WAVE_FORMAT_EXTENSIBLE with a short extension".into(),
            ));
        }
        // The sub-format GUID starts with the plain format tag.
        u16le(d, 24)
    } else {
        tag
    };
    if channels == 0 {
        return Err(RiffError::BadFmt("zero channels".into()));
    }
    if rate == 0 {
        return Err(RiffError::BadFmt("zero sample rate".into()));
    }
    // Container size comes from block_align when it is consistent (24-in-32 etc. are rejected).
    let sample = match (eff_tag, bits) {
        (1, 8) => SampleFormat::U8,
        (1, 16) => SampleFormat::I16,
        (1, 24) => SampleFormat::I24,
        (1, 32) => SampleFormat::I32,
        (3, 32) => SampleFormat::F32,
        (3, 64) => SampleFormat::F64,
        _ => {
            return Err(RiffError::Unsupported(format!(
                "format tag {eff_tag:#06x} with {bits} bits"
            )))
        }
    };
    let expect = sample.bytes() * channels as usize;
    if block_align as usize != expect {
        return Err(RiffError::Unsupported(format!(
            "block align {block_align} for {channels} × {bits}-bit samples (expected {expect})"
        )));
    }
    Ok(WavFmt {
        tag,
        channels,
        rate,
        bits,
        block_align,
        sample,
    })
}

fn read_exact_or_eof<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads the chunk layout of a WAVE file (everything but the samples).
pub fn read_layout<R: Read + Seek>(r: &mut R) -> Result<RiffLayout, RiffError> {
    let file_len = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(0))?;
    let mut hdr = [0u8; 12];
    if read_exact_or_eof(r, &mut hdr)? < 12 || &hdr[8..12] != b"WAVE" {
        return Err(RiffError::NotWave);
    }
    let form = match &hdr[0..4] {
        b"RIFF" => Form::Riff,
        b"RF64" | b"BW64" => Form::Rf64,
        _ => return Err(RiffError::NotWave),
    };
    let mut warnings = Vec::new();
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut fmt: Option<WavFmt> = None;
    let mut ds64_data: Option<u64> = None;
    let mut data: Option<(u64, u64)> = None;
    let mut data_to_eof = false;
    let mut pos = 12u64;
    loop {
        if pos + 8 > file_len {
            if pos < file_len {
                warnings.push(format!("{} stray bytes at end of file", file_len - pos));
            }
            break;
        }
        r.seek(SeekFrom::Start(pos))?;
        let mut ch = [0u8; 8];
        r.read_exact(&mut ch)?;
        let id = [ch[0], ch[1], ch[2], ch[3]];
        let size32 = u32le(&ch, 4);
        let body = pos + 8;
        let remain = file_len - body;
        if &id == b"data" {
            if data.is_some() {
                warnings.push("second `data` chunk ignored".into());
                break;
            }
            let mut size = size32 as u64;
            if form == Form::Rf64 && size32 == 0xFFFF_FFFF {
                size = ds64_data.unwrap_or(0);
            }
            if size == 0 || size32 == 0xFFFF_FFFF && form == Form::Riff || size > remain {
                if size != remain {
                    warnings.push(format!(
                        "`data` size field {size} is unusable; reading to end of file ({remain} bytes)"
                    ));
                }
                size = remain;
                data_to_eof = true;
            }
            data = Some((body, size));
            if data_to_eof {
                break;
            }
            pos = body + size + (size & 1);
            continue;
        }
        let size = size32 as u64;
        if size > remain {
            warnings.push(format!(
                "chunk '{}' claims {size} bytes but only {remain} remain; ignored",
                String::from_utf8_lossy(&id)
            ));
            break;
        }
        if size > MAX_META_CHUNK {
            return Err(RiffError::ChunkTooLarge(
                String::from_utf8_lossy(&id).into_owned(),
                size,
            ));
        }
        let mut payload = vec![0u8; size as usize];
        r.read_exact(&mut payload)?;
        if &id == b"ds64" {
            if payload.len() >= 24 {
                ds64_data = Some(u64le(&payload, 8));
            } else {
                warnings.push("short `ds64` chunk".into());
            }
        } else {
            if &id == b"fmt " && fmt.is_none() && data.is_none() {
                fmt = Some(parse_fmt(&payload)?);
            }
            let c = Chunk { id, data: payload };
            if data.is_some() {
                after.push(c);
            } else {
                before.push(c);
            }
        }
        pos = body + size + (size & 1);
    }
    let (data_offset, mut data_len) = data.ok_or(RiffError::NoData)?;
    let fmt = fmt.ok_or(RiffError::NoFmt)?;
    let fb = fmt.frame_bytes() as u64;
    if data_len % fb != 0 {
        warnings.push(format!(
            "`data` holds {} bytes of a partial frame; dropped",
            data_len % fb
        ));
        data_len -= data_len % fb;
    }
    Ok(RiffLayout {
        form,
        before_data: before,
        after_data: after,
        fmt,
        data_offset,
        data_len,
        warnings,
    })
}

/// Streams frames out of the data chunk as f32 (interleaved), in blocks.
pub struct SampleReader<R> {
    r: R,
    fmt: WavFmt,
    remaining: u64,
    buf: Vec<u8>,
}

impl<R: Read + Seek> SampleReader<R> {
    /// Positions `r` at the data of `layout`.
    pub fn new(mut r: R, layout: &RiffLayout) -> io::Result<Self> {
        r.seek(SeekFrom::Start(layout.data_offset))?;
        Ok(SampleReader {
            r,
            fmt: layout.fmt,
            remaining: layout.data_len,
            buf: Vec::new(),
        })
    }
}

impl<R: Read> SampleReader<R> {
    /// Reads up to `out.len() / channels` frames; returns the number of samples written
    /// (0 at the end). A file shorter than its header says ends early without error.
    pub fn read(&mut self, out: &mut [f32]) -> io::Result<usize> {
        let ch = self.fmt.channels as usize;
        let frames = out.len() / ch;
        let bytes = (frames * self.fmt.frame_bytes()).min(self.remaining as usize);
        self.buf.resize(bytes, 0);
        let n = self.read_raw_into_buf(bytes)?;
        let fb = self.fmt.frame_bytes();
        let whole = n - n % fb;
        let samples = whole / self.fmt.sample.bytes();
        self.fmt
            .sample
            .decode(&self.buf[..whole], &mut out[..samples]);
        Ok(samples)
    }

    /// Reads raw sample bytes (whole frames) into `out`; returns the byte count.
    pub fn read_raw(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let fb = self.fmt.frame_bytes();
        let want = ((out.len() / fb) * fb).min(self.remaining as usize);
        let n = read_exact_or_eof(&mut self.r, &mut out[..want])?;
        self.remaining = if n < want {
            0
        } else {
            self.remaining - n as u64
        };
        Ok(n - n % fb)
    }

    fn read_raw_into_buf(&mut self, bytes: usize) -> io::Result<usize> {
        let n = read_exact_or_eof(&mut self.r, &mut self.buf[..bytes])?;
        self.remaining = if n < bytes {
            0
        } else {
            self.remaining - n as u64
        };
        Ok(n)
    }
}

/// Writes a WAVE file: the given chunks, then `data` streamed, then the trailing chunks;
/// sizes are patched in [`finish`](Self::finish). RF64 (with `ds64` first) is chosen up front when
/// forced or when `expected_data_len` does not fit a RIFF size field.
pub struct RiffWriter<W: Write + Seek> {
    w: W,
    form: Form,
    frame_bytes: u64,
    data_size_pos: u64,
    written: u64,
    after: Vec<Chunk>,
}

/// Bytes of everything but the data in a RIFF file with these chunks (for the 4 GiB decision).
fn overhead(before: &[Chunk], after: &[Chunk]) -> u64 {
    let c = |v: &[Chunk]| -> u64 {
        v.iter()
            .map(|c| 8 + c.data.len() as u64 + (c.data.len() as u64 & 1))
            .sum()
    };
    12 + 8 + c(before) + c(after)
}

fn write_chunk<W: Write>(w: &mut W, c: &Chunk) -> io::Result<()> {
    w.write_all(&c.id)?;
    w.write_all(&(c.data.len() as u32).to_le_bytes())?;
    w.write_all(&c.data)?;
    if c.data.len() % 2 == 1 {
        w.write_all(&[0])?;
    }
    Ok(())
}

impl<W: Write + Seek> RiffWriter<W> {
    /// `before` must contain the `fmt ` chunk; `ds64` and `data` chunks in it are dropped.
    pub fn new(
        mut w: W,
        before: &[Chunk],
        after: &[Chunk],
        frame_bytes: usize,
        expected_data_len: u64,
        force_rf64: bool,
    ) -> io::Result<Self> {
        let keep = |c: &&Chunk| &c.id != b"ds64" && &c.id != b"data";
        let before: Vec<Chunk> = before.iter().filter(keep).cloned().collect();
        let after: Vec<Chunk> = after.iter().filter(keep).cloned().collect();
        if before
            .iter()
            .chain(&after)
            .any(|c| c.data.len() > u32::MAX as usize)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "metadata chunk over 4 GiB",
            ));
        }
        let total = overhead(&before, &after) + expected_data_len + (expected_data_len & 1);
        let form = if force_rf64 || total - 8 > u32::MAX as u64 {
            Form::Rf64
        } else {
            Form::Riff
        };
        match form {
            Form::Riff => w.write_all(b"RIFF\0\0\0\0WAVE")?,
            Form::Rf64 => {
                w.write_all(b"RF64\xFF\xFF\xFF\xFFWAVE")?;
                write_chunk(
                    &mut w,
                    &Chunk {
                        id: *b"ds64",
                        data: vec![0; 28],
                    },
                )?;
            }
        }
        for c in &before {
            write_chunk(&mut w, c)?;
        }
        w.write_all(b"data")?;
        let data_size_pos = w.stream_position()?;
        w.write_all(&[0; 4])?;
        Ok(RiffWriter {
            w,
            form,
            frame_bytes: frame_bytes.max(1) as u64,
            data_size_pos,
            written: 0,
            after,
        })
    }

    pub fn form(&self) -> Form {
        self.form
    }

    /// Appends sample bytes.
    pub fn write_data(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes the pad byte and trailing chunks, patches the sizes, returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.written & 1 == 1 {
            self.w.write_all(&[0])?;
        }
        for c in &self.after {
            write_chunk(&mut self.w, c)?;
        }
        let end = self.w.stream_position()?;
        let riff_size = end - 8;
        match self.form {
            Form::Riff => {
                if riff_size > u32::MAX as u64 {
                    return Err(io::Error::other(
                        "data grew past 4 GiB in a RIFF file (RF64 was not chosen up front)",
                    ));
                }
                self.w.seek(SeekFrom::Start(4))?;
                self.w.write_all(&(riff_size as u32).to_le_bytes())?;
                self.w.seek(SeekFrom::Start(self.data_size_pos))?;
                self.w.write_all(&(self.written as u32).to_le_bytes())?;
            }
            Form::Rf64 => {
                self.w.seek(SeekFrom::Start(20))?;
                self.w.write_all(&riff_size.to_le_bytes())?;
                self.w.write_all(&self.written.to_le_bytes())?;
                self.w
                    .write_all(&(self.written / self.frame_bytes).to_le_bytes())?;
                self.w.write_all(&0u32.to_le_bytes())?;
                self.w.seek(SeekFrom::Start(self.data_size_pos))?;
                self.w.write_all(&0xFFFF_FFFFu32.to_le_bytes())?;
            }
        }
        self.w.seek(SeekFrom::End(0))?;
        self.w.flush()?;
        Ok(self.w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn fmt16(ch: u16, rate: u32) -> Chunk {
        WavFmt {
            tag: 1,
            channels: ch,
            rate,
            bits: 16,
            block_align: 2 * ch,
            sample: SampleFormat::I16,
        }
        .to_chunk()
    }

    #[test]
    fn writer_output_reads_back_with_chunks_in_order() {
        let before = vec![
            fmt16(2, 8000),
            Chunk {
                id: *b"auxi",
                data: (0..164u8).collect(),
            },
            Chunk {
                id: *b"odd ",
                data: vec![1, 2, 3],
            },
        ];
        let after = vec![Chunk {
            id: *b"LIST",
            data: b"INFOabc".to_vec(),
        }];
        let mut w =
            RiffWriter::new(Cursor::new(Vec::new()), &before, &after, 4, 12, false).unwrap();
        w.write_data(&[1; 12]).unwrap();
        let buf = w.finish().unwrap().into_inner();
        // Independent check of the RIFF size: file length − 8.
        assert_eq!(u32le(&buf, 4) as usize, buf.len() - 8);
        let l = read_layout(&mut Cursor::new(&buf)).unwrap();
        assert_eq!(l.form, Form::Riff);
        assert_eq!(l.before_data, before);
        assert_eq!(l.after_data, after);
        assert_eq!(l.data_len, 12);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    }

    #[test]
    fn forced_rf64_has_ds64_sizes_and_reads_back() {
        let before = vec![fmt16(2, 8000)];
        let mut w = RiffWriter::new(Cursor::new(Vec::new()), &before, &[], 4, 8, true).unwrap();
        w.write_data(&[7; 8]).unwrap();
        let buf = w.finish().unwrap().into_inner();
        assert_eq!(&buf[0..4], b"RF64");
        assert_eq!(&buf[12..16], b"ds64");
        assert_eq!(u64le(&buf, 20), buf.len() as u64 - 8);
        assert_eq!(u64le(&buf, 28), 8);
        assert_eq!(u64le(&buf, 36), 2);
        let l = read_layout(&mut Cursor::new(&buf)).unwrap();
        assert_eq!(
            (l.form, l.data_len, l.before_data.len()),
            (Form::Rf64, 8, 1)
        );
    }

    #[test]
    fn extensible_32_bit_int_and_float_formats_decode_to_known_values() {
        // WAVE_FORMAT_EXTENSIBLE, 2 ch, 32-bit PCM sub-format (GUID starts with tag 1).
        let mut ext = Vec::new();
        for v in [0xFFFEu16, 2] {
            ext.extend_from_slice(&v.to_le_bytes());
        }
        ext.extend_from_slice(&48_000u32.to_le_bytes());
        ext.extend_from_slice(&(48_000u32 * 8).to_le_bytes());
        for v in [8u16, 32, 22, 32] {
            ext.extend_from_slice(&v.to_le_bytes());
        }
        ext.extend_from_slice(&3u32.to_le_bytes());
        ext.extend_from_slice(&1u16.to_le_bytes());
        ext.extend_from_slice(&[0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]);
        let f = parse_fmt(&ext).unwrap();
        assert_eq!(
            (f.sample, f.channels, f.tag),
            (SampleFormat::I32, 2, 0xFFFE)
        );
        let mut x = [0.0f32; 2];
        f.sample.decode(&[0, 0, 0, 0x40, 0, 0, 0, 0x80], &mut x);
        assert_eq!(x, [0.5, -1.0]);
        // Float: tag 3.
        let mut fl = fmt16(2, 8000).data;
        fl[0] = 3;
        fl[12] = 8;
        fl[14] = 32;
        assert_eq!(parse_fmt(&fl).unwrap().sample, SampleFormat::F32);
        // Mismatched block align and unknown tags are errors, not panics.
        fl[12] = 5;
        assert!(parse_fmt(&fl).is_err());
        assert!(parse_fmt(&[1, 0]).is_err());
    }

    #[test]
    fn sample_codecs_round_trip_every_decodable_value() {
        for (f, n) in [
            (SampleFormat::U8, 256usize),
            (SampleFormat::I16, 65536),
            (SampleFormat::I24, 4096),
        ] {
            let bytes: Vec<u8> = (0..n * f.bytes()).map(|i| (i * 37 + i / 3) as u8).collect();
            let mut x = vec![0.0; n];
            f.decode(&bytes, &mut x);
            let mut back = vec![0; bytes.len()];
            f.encode(&x, &mut back);
            assert_eq!(back, bytes, "{f:?}");
        }
    }
}
