//! A chunk-preserving RIFF/RF64 WAVE reader and writer.
//!
//! Why not hound: SDR recordings carry metadata chunks (`auxi`, `rcvr`, `LIST`, `JUNK`) that other
//! tools need, exceed 4 GiB (RF64/ds64), and often have broken size fields. This module keeps every
//! chunk other than `ds64` and `data` byte for byte, in order (before and after `data`), and reads
//! the sample data as a byte range of the file so it can be streamed in constant memory.
//!
//! This is the one WAV reader and writer of specgate — audio and I/Q, files and pipes — and the
//! one the fuzz target `wav_riff` exercises. The reader walks forward only ([`read_head`] +
//! [`DataReader::from_stream`]), so it reads a WAV from a pipe; on a file, [`read_layout`] also
//! reads the chunks after `data`. No chunk is allocated at the size its header claims: payloads
//! grow with the bytes that really arrive, up to [`MAX_META_CHUNK`].
//!
//! Reader rules (tolerant, see `shared/notes/sdr-formats.md` §1.2): a `data` size of 0,
//! 0xFFFFFFFF (without a usable `ds64`), or larger than the rest of the file means "to end of file"
//! (with a warning); unknown chunks are kept, skipping the pad byte of odd sizes, also after `data`.
//!
//! Writer: RF64 when forced, when the expected size does not fit RIFF, or — for a stream of unknown
//! length ([`RiffWriter::new_auto`]) — when the file outgrows 4 GiB: a 28-byte `JUNK` chunk
//! reserved after the header becomes the `ds64` chunk (the EBU Tech 3306 upgrade path).
//! Sample normalisation: integers map to [-1, 1) by dividing by 2^(bits-1) (8-bit WAV is unsigned
//! with 128 = zero); floats are taken as they are.

use super::codec::Encoding;
use super::RawFormat;
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

    /// Decodes little-endian samples into f32 through the one [`codec`](super::codec).
    /// `bytes.len()` must be `out.len() * self.bytes()`.
    pub fn decode(self, bytes: &[u8], out: &mut [f32]) {
        debug_assert_eq!(bytes.len(), out.len() * self.bytes());
        Encoding::from(self).decode(bytes, out);
    }

    /// Encodes f32 samples (rounded half away from zero, clipped; NaN → 0) into little-endian
    /// bytes; the exact inverse of [`decode`](Self::decode) for every value `decode` can
    /// produce (except 32-bit integers, which f32 cannot hold exactly).
    pub fn encode(self, input: &[f32], bytes: &mut [u8]) {
        debug_assert_eq!(bytes.len(), input.len() * self.bytes());
        Encoding::from(self).encode(input, bytes);
    }

    /// The WAV sample type of a raw format (WAV integers wider than 8 bits are signed
    /// little-endian; 8-bit is unsigned).
    pub fn from_raw(f: RawFormat) -> Option<SampleFormat> {
        Some(match f {
            RawFormat::U8 => SampleFormat::U8,
            RawFormat::S16Le => SampleFormat::I16,
            RawFormat::S24Le => SampleFormat::I24,
            RawFormat::S32Le => SampleFormat::I32,
            RawFormat::F32Le => SampleFormat::F32,
            RawFormat::F64Le => SampleFormat::F64,
            RawFormat::S8 | RawFormat::S16Be | RawFormat::F32Be => return None,
        })
    }

    /// The raw format with the same bytes.
    pub fn raw(self) -> RawFormat {
        match self {
            SampleFormat::U8 => RawFormat::U8,
            SampleFormat::I16 => RawFormat::S16Le,
            SampleFormat::I24 => RawFormat::S24Le,
            SampleFormat::I32 => RawFormat::S32Le,
            SampleFormat::F32 => RawFormat::F32Le,
            SampleFormat::F64 => RawFormat::F64Le,
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
    /// Usable sample bytes (whole frames); 0 when [`to_eof`](Self::to_eof).
    pub data_len: u64,
    /// Bytes of the `data` chunk as used (declared, or repaired to the end of the file), before
    /// a trailing partial frame was dropped; the next chunk starts after it and its pad byte.
    pub data_chunk_len: u64,
    /// The data runs to the end of a stream whose length is unknown (a pipe with a `data` size
    /// of 0 or 0xFFFFFFFF): `data_len` and [`frames`](Self::frames) are unknown.
    pub to_eof: bool,
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

/// Discards `n` bytes of a stream; returns how many there were.
fn skip<R: Read>(r: &mut R, n: u64) -> io::Result<u64> {
    io::copy(&mut r.take(n), &mut io::sink())
}

/// The chunk walker shared by the seekable and the streaming readers. It reads forward only,
/// so it works on pipes; `total` (the stream length, when known) lets it repair sizes.
struct Walker<'a, R> {
    r: &'a mut R,
    /// Bytes consumed so far.
    pos: u64,
    total: Option<u64>,
    warnings: &'a mut Vec<String>,
}

/// What the walker found next.
enum Item {
    /// A chunk kept in memory (not `data`).
    Chunk(Chunk),
    /// The header of the `data` chunk: its 32-bit size field; the walker stands at its body.
    Data(u32),
    /// The end of the stream (or of the usable part).
    End,
}

impl<R: Read> Walker<'_, R> {
    fn remain(&self) -> Option<u64> {
        self.total.map(|t| t.saturating_sub(self.pos))
    }

    fn next(&mut self) -> Result<Item, RiffError> {
        let mut ch = [0u8; 8];
        let n = read_exact_or_eof(self.r, &mut ch)?;
        self.pos += n as u64;
        if n < 8 {
            if n > 0 {
                self.warnings
                    .push(format!("{n} stray bytes at end of file"));
            }
            return Ok(Item::End);
        }
        let id = [ch[0], ch[1], ch[2], ch[3]];
        let size = u32le(&ch, 4);
        if &id == b"data" {
            return Ok(Item::Data(size));
        }
        let size = size as u64;
        let name = String::from_utf8_lossy(&id).into_owned();
        if let Some(remain) = self.remain().filter(|&r| size > r) {
            self.warnings.push(format!(
                "chunk '{name}' claims {size} bytes but only {remain} remain; ignored"
            ));
            return Ok(Item::End);
        }
        if size > MAX_META_CHUNK {
            return Err(RiffError::ChunkTooLarge(name, size));
        }
        // Grows with the bytes that really arrive: a forged size allocates nothing up front.
        let mut data = Vec::new();
        let got = self.r.take(size).read_to_end(&mut data)? as u64;
        self.pos += got;
        if got < size {
            self.warnings.push(format!(
                "chunk '{name}' claims {size} bytes but the stream ends after {got}; ignored"
            ));
            return Ok(Item::End);
        }
        if size & 1 == 1 {
            self.pos += skip(self.r, 1)?;
        }
        Ok(Item::Chunk(Chunk { id, data }))
    }

    /// Chunks up to the end of the stream (those after `data`).
    fn rest(&mut self, out: &mut Vec<Chunk>) -> Result<(), RiffError> {
        loop {
            match self.next()? {
                Item::Chunk(c) if &c.id == b"ds64" => {}
                Item::Chunk(c) => out.push(c),
                Item::Data(_) => {
                    self.warnings.push("second `data` chunk ignored".into());
                    return Ok(());
                }
                Item::End => return Ok(()),
            }
        }
    }
}

/// Reads a WAVE header from any stream, up to the first sample byte of `data`, and leaves `r`
/// there. `total` is the stream length when known (a regular file): then a `data` size of 0,
/// 0xFFFFFFFF or past the end is repaired to "the rest of the file"; without it (a pipe) such a
/// size means "to the end of the stream" ([`RiffLayout::to_eof`]). Chunks after `data` are not
/// read here (see [`read_layout`] and [`DataReader::trailing_chunks`]).
pub fn read_head<R: Read>(r: &mut R, total: Option<u64>) -> Result<RiffLayout, RiffError> {
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
    let mut fmt: Option<WavFmt> = None;
    let mut ds64_data: Option<u64> = None;
    let mut w = Walker {
        r,
        pos: 12,
        total,
        warnings: &mut warnings,
    };
    let size32 = loop {
        match w.next()? {
            Item::Chunk(c) if &c.id == b"ds64" => {
                if c.data.len() >= 24 {
                    ds64_data = Some(u64le(&c.data, 8));
                } else {
                    w.warnings.push("short `ds64` chunk".into());
                }
            }
            Item::Chunk(c) => {
                if &c.id == b"fmt " && fmt.is_none() {
                    fmt = Some(parse_fmt(&c.data)?);
                }
                before.push(c);
            }
            Item::Data(s) => break s,
            Item::End => return Err(RiffError::NoData),
        }
    };
    let data_offset = w.pos;
    let remain = w.remain();
    let fmt = fmt.ok_or(RiffError::NoFmt)?;
    let mut size = size32 as u64;
    if form == Form::Rf64 && size32 == 0xFFFF_FFFF {
        size = ds64_data.unwrap_or(0);
    }
    let unusable = size == 0 || (size32 == 0xFFFF_FFFF && form == Form::Riff);
    let why = if size == 0 {
        "`data` size field is 0 (a recorder that never finished its header?)".to_string()
    } else if unusable {
        "`data` size field is 0xFFFFFFFF (length unknown)".to_string()
    } else {
        format!(
            "the WAV data chunk is shorter than its header says (truncated recording?): \
             {size} bytes claimed"
        )
    };
    let mut to_eof = false;
    match remain {
        Some(remain) if unusable || size > remain => {
            if size != remain {
                warnings.push(format!("{why}; reading to end of file ({remain} bytes)"));
            }
            size = remain;
        }
        Some(_) => {}
        None if unusable => {
            warnings.push(format!("{why}; reading to end of stream"));
            to_eof = true;
        }
        None => {}
    }
    let fb = fmt.frame_bytes() as u64;
    let data_chunk_len = if to_eof { 0 } else { size };
    if !to_eof && size % fb != 0 {
        warnings.push(format!(
            "`data` holds {} bytes of a partial frame; dropped",
            size % fb
        ));
        size -= size % fb;
    }
    Ok(RiffLayout {
        form,
        before_data: before,
        after_data: Vec::new(),
        fmt,
        data_offset,
        data_len: if to_eof { 0 } else { size },
        data_chunk_len,
        to_eof,
        warnings,
    })
}

/// Reads the chunk layout of a WAVE file (everything but the samples), including the chunks
/// after `data`. Sizes are repaired against the file length (see [`read_head`]).
pub fn read_layout<R: Read + Seek>(r: &mut R) -> Result<RiffLayout, RiffError> {
    let file_len = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(0))?;
    let mut l = read_head(r, Some(file_len))?;
    let end = l.data_offset + l.data_chunk_len + (l.data_chunk_len & 1);
    if end < file_len {
        r.seek(SeekFrom::Start(end))?;
        let mut w = Walker {
            r,
            pos: end,
            total: Some(file_len),
            warnings: &mut l.warnings,
        };
        let mut after = Vec::new();
        w.rest(&mut after)?;
        l.after_data = after;
    }
    Ok(l)
}

/// Streams the samples of the `data` chunk, decoded by the one [`codec`](super::codec), from a
/// file or from a pipe (forward reads only). A pipe returns what is available as soon as one
/// whole frame is there. A stream that ends before the size its header gave ends the data with
/// a warning, never an error.
pub struct DataReader<R> {
    r: R,
    fmt: WavFmt,
    enc: Encoding,
    /// Sample bytes still to come; `None`: to the end of the stream.
    remaining: Option<u64>,
    /// The declared data size (for the truncation warning).
    declared: u64,
    bytes: Vec<u8>,
    /// Bytes buffered in `bytes` (less than one frame between calls).
    have: usize,
    ended: bool,
    /// Read the chunks after `data` from the stream when the data ends (streams only).
    read_trailing: bool,
    /// Bytes between the last whole frame and the next chunk (partial frame, pad byte).
    skip_after: u64,
    trailing: Vec<Chunk>,
    warnings: Vec<String>,
    frames_read: u64,
}

impl<R: Read + Seek> DataReader<R> {
    /// Positions `r` at the data of `layout` (read by [`read_layout`], which already has the
    /// trailing chunks).
    pub fn new(mut r: R, layout: &RiffLayout) -> io::Result<Self> {
        r.seek(SeekFrom::Start(layout.data_offset))?;
        Ok(Self::build(r, layout, false))
    }
}

impl<R: Read> DataReader<R> {
    /// Reads the data of `layout` from `r`, which stands at its first byte (after
    /// [`read_head`]); the chunks after the data are read from the stream at its end.
    pub fn from_stream(r: R, layout: &RiffLayout) -> Self {
        Self::build(r, layout, true)
    }

    fn build(r: R, layout: &RiffLayout, read_trailing: bool) -> Self {
        DataReader {
            r,
            fmt: layout.fmt,
            enc: layout.fmt.sample.into(),
            remaining: (!layout.to_eof).then_some(layout.data_len),
            declared: layout.data_len,
            bytes: Vec::new(),
            have: 0,
            ended: false,
            read_trailing,
            skip_after: layout.data_chunk_len.saturating_sub(layout.data_len)
                + (layout.data_chunk_len & 1),
            trailing: Vec::new(),
            warnings: Vec::new(),
            frames_read: 0,
        }
    }

    /// The `fmt ` of the data.
    pub fn fmt(&self) -> &WavFmt {
        &self.fmt
    }

    /// Chunks found after the data in a stream (filled when the data has been read).
    pub fn trailing_chunks(&self) -> &[Chunk] {
        &self.trailing
    }

    /// Repairs and truncations noticed while reading, drained.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Frames handed out so far.
    pub fn frames_read(&self) -> u64 {
        self.frames_read
    }

    /// Makes whole frames (at most `max_frames`, at least one unless at the end) available in
    /// `bytes`; returns their count.
    fn fill(&mut self, max_frames: usize) -> io::Result<usize> {
        let fb = self.fmt.frame_bytes();
        if self.ended || max_frames == 0 {
            return Ok(0);
        }
        let cap = max_frames * fb;
        if self.bytes.len() < cap {
            self.bytes.resize(cap, 0);
        }
        let mut eof = false;
        while self.have < fb {
            let mut lim = cap;
            if let Some(rem) = self.remaining {
                lim = lim.min(
                    self.have
                        .saturating_add(usize::try_from(rem).unwrap_or(usize::MAX)),
                );
            }
            if lim == self.have {
                break;
            }
            match self.r.read(&mut self.bytes[self.have..lim]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(k) => {
                    self.have += k;
                    if let Some(rem) = self.remaining.as_mut() {
                        *rem -= k as u64;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let frames = (self.have / fb).min(max_frames);
        if frames == 0 {
            self.end(eof)?;
        }
        Ok(frames)
    }

    /// The data is over: note a truncation or a partial frame, read the trailing chunks of a
    /// stream.
    fn end(&mut self, eof: bool) -> io::Result<()> {
        self.ended = true;
        let fb = self.fmt.frame_bytes();
        if self.have > 0 {
            self.warnings.push(format!(
                "ignored {} trailing byte(s): the data ends inside a frame ({fb} bytes each)",
                self.have
            ));
            self.have = 0;
        }
        match self.remaining {
            Some(rem) if rem > 0 && eof => self.warnings.push(format!(
                "the WAV data chunk is shorter than its header says (truncated recording?): \
                 processed the {} of {} frames present",
                self.frames_read,
                self.declared / fb as u64
            )),
            Some(_) if self.read_trailing => {
                skip(&mut self.r, self.skip_after)?;
                let mut w = Walker {
                    r: &mut self.r,
                    pos: 0,
                    total: None,
                    warnings: &mut self.warnings,
                };
                if let Err(e) = w.rest(&mut self.trailing) {
                    self.warnings
                        .push(format!("chunks after the data ignored: {e}"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn consume(&mut self, frames: usize) {
        let used = frames * self.fmt.frame_bytes();
        self.bytes.copy_within(used..self.have, 0);
        self.have -= used;
        self.frames_read += frames as u64;
    }

    /// Reads up to `out.len() / channels` frames; returns the number of samples written
    /// (0 at the end).
    pub fn read(&mut self, out: &mut [f32]) -> io::Result<usize> {
        let ch = self.fmt.channels as usize;
        let frames = self.fill(out.len() / ch)?;
        let n = frames * ch;
        self.enc
            .decode(&self.bytes[..n * self.enc.bytes()], &mut out[..n]);
        self.consume(frames);
        Ok(n)
    }

    /// As [`read`](Self::read), integer data left-justified to 32 bits (lossless); `None` for
    /// float data.
    pub fn read_i32(&mut self, out: &mut [i32]) -> io::Result<Option<usize>> {
        if self.enc.is_float() {
            return Ok(None);
        }
        let ch = self.fmt.channels as usize;
        let frames = self.fill(out.len() / ch)?;
        let n = frames * ch;
        self.enc
            .decode_i32(&self.bytes[..n * self.enc.bytes()], &mut out[..n]);
        self.consume(frames);
        Ok(Some(n))
    }

    /// Reads raw sample bytes (whole frames) into `out`; returns the byte count.
    pub fn read_raw(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let fb = self.fmt.frame_bytes();
        let frames = self.fill(out.len() / fb)?;
        let n = frames * fb;
        out[..n].copy_from_slice(&self.bytes[..n]);
        self.consume(frames);
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
    /// A `JUNK` chunk reserved at byte 12 to become `ds64` if the file outgrows
    /// `rf64_threshold` ([`new_auto`](Self::new_auto)).
    reserved: bool,
    /// Largest RIFF size (file length − 8) kept as RIFF; `u32::MAX` except in tests.
    rf64_threshold: u64,
}

/// Chunks a writer never copies from an input: they describe the old container (`fmt `,
/// `data`, sizes in `ds64`, sample count in `fact`) or are padding (`JUNK`, `PAD `).
pub fn is_container_chunk(id: &[u8; 4]) -> bool {
    matches!(
        id,
        b"fmt " | b"data" | b"ds64" | b"fact" | b"JUNK" | b"junk" | b"PAD "
    )
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
        w: W,
        before: &[Chunk],
        after: &[Chunk],
        frame_bytes: usize,
        expected_data_len: u64,
        force_rf64: bool,
    ) -> io::Result<Self> {
        let keep = |c: &&Chunk| &c.id != b"ds64" && &c.id != b"data";
        let before: Vec<Chunk> = before.iter().filter(keep).cloned().collect();
        let after: Vec<Chunk> = after.iter().filter(keep).cloned().collect();
        let total = overhead(&before, &after) + expected_data_len + (expected_data_len & 1);
        let form = if force_rf64 || total - 8 > u32::MAX as u64 {
            Form::Rf64
        } else {
            Form::Riff
        };
        Self::start(w, form, false, before, after, frame_bytes, u32::MAX as u64)
    }

    /// A writer for data of unknown length: RIFF, with a 28-byte `JUNK` chunk reserved after
    /// the header that [`finish`](Self::finish) turns into `ds64` (and the file into RF64) if
    /// the file outgrows 4 GiB. `before` must contain the `fmt ` chunk; container chunks of an
    /// input (see [`is_container_chunk`]) other than `fmt ` are dropped.
    pub fn new_auto(
        w: W,
        before: &[Chunk],
        after: &[Chunk],
        frame_bytes: usize,
    ) -> io::Result<Self> {
        let keep = |c: &&Chunk| &c.id == b"fmt " || !is_container_chunk(&c.id);
        let before: Vec<Chunk> = before.iter().filter(keep).cloned().collect();
        let after: Vec<Chunk> = after
            .iter()
            .filter(|c| !is_container_chunk(&c.id))
            .cloned()
            .collect();
        Self::start(
            w,
            Form::Riff,
            true,
            before,
            after,
            frame_bytes,
            MAX_META_CHUNK,
        )
    }

    /// Writes the header (`RIFF`/`RF64`, `ds64` or the reserved `JUNK`), the chunks before the
    /// data and the `data` header; `max_chunk` bounds each metadata chunk.
    fn start(
        mut w: W,
        form: Form,
        reserved: bool,
        before: Vec<Chunk>,
        after: Vec<Chunk>,
        frame_bytes: usize,
        max_chunk: u64,
    ) -> io::Result<Self> {
        if before
            .iter()
            .chain(&after)
            .any(|c| c.data.len() as u64 > max_chunk)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "metadata chunk too large to carry",
            ));
        }
        w.write_all(match form {
            Form::Rf64 => b"RF64\xFF\xFF\xFF\xFFWAVE",
            Form::Riff => b"RIFF\0\0\0\0WAVE",
        })?;
        // 28 bytes for the RF64 sizes: `ds64` now, or `JUNK` that may become `ds64` in `finish`.
        let sizes = match (form, reserved) {
            (Form::Rf64, _) => Some(*b"ds64"),
            (Form::Riff, true) => Some(*b"JUNK"),
            (Form::Riff, false) => None,
        };
        if let Some(id) = sizes {
            write_chunk(
                &mut w,
                &Chunk {
                    id,
                    data: vec![0; 28],
                },
            )?;
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
            reserved,
            rf64_threshold: u32::MAX as u64,
        })
    }

    /// Bytes of sample data written so far.
    pub fn data_written(&self) -> u64 {
        self.written
    }

    /// Replaces the chunks written after the data (e.g. those a streamed input had after its
    /// data, known only at its end). Container chunks are dropped.
    pub fn set_trailing_chunks(&mut self, after: &[Chunk]) {
        self.after = after
            .iter()
            .filter(|c| !is_container_chunk(&c.id))
            .cloned()
            .collect();
    }

    /// The form the file has now (a [`new_auto`](Self::new_auto) writer may still become RF64
    /// in `finish`).
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
        if self.reserved && riff_size > self.rf64_threshold {
            // Upgrade in place: the reserved JUNK at byte 12 becomes ds64.
            self.form = Form::Rf64;
            self.w.seek(SeekFrom::Start(0))?;
            self.w.write_all(b"RF64\xFF\xFF\xFF\xFFWAVEds64")?;
        }
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

    /// Writes `n` data bytes through an auto writer whose RF64 threshold is `threshold`.
    fn auto_file(threshold: u64, n: usize) -> Vec<u8> {
        let before = vec![
            fmt16(1, 8000),
            Chunk {
                id: *b"LIST",
                data: b"INFOx".to_vec(),
            },
        ];
        let after = vec![Chunk {
            id: *b"auxi",
            data: vec![5; 3],
        }];
        let mut w = RiffWriter::new_auto(Cursor::new(Vec::new()), &before, &after, 2).unwrap();
        w.rf64_threshold = threshold;
        w.write_data(&vec![3; n]).unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn an_auto_writer_becomes_rf64_only_past_the_threshold_and_both_read_back() {
        // Below (and at) the threshold: RIFF with the JUNK reserve, sizes in the u32 fields.
        let small = auto_file(10_000, 100);
        let riff_size = small.len() as u64 - 8;
        assert_eq!(&small[0..4], b"RIFF");
        assert_eq!(&small[12..16], b"JUNK");
        assert_eq!(u32le(&small, 4) as u64, riff_size);
        let at = auto_file(riff_size, 100);
        assert_eq!(&at[0..4], b"RIFF");
        // One byte past: RF64, JUNK turned into ds64 with the 64-bit sizes.
        let big = auto_file(riff_size - 1, 100);
        assert_eq!(big.len(), small.len());
        assert_eq!(&big[0..4], b"RF64");
        assert_eq!(u32le(&big, 4), u32::MAX);
        assert_eq!(&big[12..16], b"ds64");
        assert_eq!(u64le(&big, 20), riff_size);
        assert_eq!(u64le(&big, 28), 100);
        assert_eq!(u64le(&big, 36), 50);
        for f in [&small, &big] {
            let l = read_layout(&mut Cursor::new(f)).unwrap();
            assert_eq!(l.data_len, 100);
            assert!(l.warnings.is_empty(), "{:?}", l.warnings);
            assert_eq!(l.chunk(b"LIST").unwrap().data, b"INFOx");
            assert_eq!(l.after_data[0].data, vec![5; 3]);
        }
        let data_at = big.windows(4).position(|w| w == b"data").unwrap();
        assert_eq!(u32le(&big, data_at + 4), u32::MAX);
    }

    /// A reader that hands out one byte per call and cannot seek: a pipe.
    struct Pipe<'a>(&'a [u8]);
    impl Read for Pipe<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = 1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn read_stream(bytes: &[u8]) -> (RiffLayout, Vec<f32>, Vec<Chunk>, Vec<String>) {
        let mut p = Pipe(bytes);
        let l = read_head(&mut p, None).unwrap();
        let mut r = DataReader::from_stream(p, &l);
        let mut out = Vec::new();
        let mut buf = [0f32; 6];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let w = r.take_warnings();
        (l, out, r.trailing_chunks().to_vec(), w)
    }

    #[test]
    fn a_stream_reads_every_frame_and_the_trailing_chunks_without_seeking() {
        let file = auto_file(u32::MAX as u64, 98);
        let (l, x, after, w) = read_stream(&file);
        assert_eq!((l.data_len, l.to_eof), (98, false));
        assert_eq!(x.len(), 49);
        assert!(x.iter().all(|&v| v == 771.0 / 32768.0));
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].id, *b"auxi");
        assert!(w.is_empty(), "{w:?}");
        // A size of 0xFFFFFFFF on a stream: read to its end (the trailing chunk's bytes become
        // frames, as they would for any reader that cannot know better).
        let mut unknown = file.clone();
        let data_at = unknown.windows(4).position(|w| w == b"data").unwrap();
        unknown[data_at + 4..data_at + 8].copy_from_slice(&[0xFF; 4]);
        let (l, x, _, _) = read_stream(&unknown[..file.len() - 12]);
        assert!(l.to_eof);
        assert!(
            l.warnings[0].contains("reading to end of stream"),
            "{:?}",
            l.warnings
        );
        assert_eq!(x.len(), 49);
        // A stream that ends before its declared size: a warning, no error.
        let (_, x, _, w) = read_stream(&file[..data_at + 8 + 41]);
        assert_eq!(x.len(), 20);
        assert!(w.iter().any(|m| m.contains("truncated")), "{w:?}");
    }

    #[test]
    fn a_forged_chunk_size_on_a_stream_is_an_error_or_a_warning_never_an_allocation() {
        // 4 GB claimed before `data`: refused before anything is read into memory.
        let mut b = b"RIFF\0\0\0\0WAVELIST".to_vec();
        b.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        b.extend_from_slice(&[0; 64]);
        assert!(matches!(
            read_head(&mut Pipe(&b), None),
            Err(RiffError::ChunkTooLarge(_, 0xFFFF_FFF0))
        ));
        // 1 MB claimed, 64 bytes present: the stream ends inside the chunk.
        b[16..20].copy_from_slice(&(1u32 << 20).to_le_bytes());
        assert!(matches!(
            read_head(&mut Pipe(&b), None),
            Err(RiffError::NoData)
        ));
    }
}
