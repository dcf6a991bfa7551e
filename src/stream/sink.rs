//! The sinks, and the one rule that chooses a sink from an output path.
//!
//! | output | sink |
//! |---|---|
//! | `-`, a FIFO, a device | a stream of raw samples, written in place and flushed per block |
//! | `.wav`/`.wave` | WAV (RF64 above 4 GiB or on request) with the input's chunks; I/Q outputs get an `auxi` chunk when the input had none |
//! | `.sigmf-meta`/`.sigmf-data`/`.sigmf` | SigMF: data + the input's metadata with a processing record |
//! | `.raw`/`.pcm`/`.bin`, `.cu8`/`.cs8`/`.cs16`/`.cf32`/`.cfile` | raw samples |
//! | anything else | an error (never a WAV under another name) |
//!
//! Files are written to a temporary file renamed into place by [`Sink::finish`]
//! ([`AtomicFile`]); dropping an unfinished sink leaves nothing.

use super::{Container, Encoding, Result, Sink, SinkReport, StreamError, StreamInfo};
use crate::io::atomic::AtomicFile;
use crate::io::iq::RawIq;
use crate::io::riff::{Chunk, Form, RiffWriter, SampleFormat, WavFmt};
use crate::io::{sigmf, RawFormat};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where the samples go.
pub enum OutputSpec<'a> {
    /// Standard output.
    Stdout,
    /// A path: a file (written atomically) or an existing FIFO/device (written in place).
    Path(PathBuf),
    /// Any writer, taken as a stream of raw samples (embedding, tests).
    Writer(Box<dyn Write + 'a>),
}

impl OutputSpec<'_> {
    /// `-` is standard output.
    pub fn from_path(p: &Path) -> OutputSpec<'static> {
        if p.as_os_str() == "-" {
            OutputSpec::Stdout
        } else {
            OutputSpec::Path(p.to_path_buf())
        }
    }

    /// Whether the output is a stream (stdout, a writer, an existing FIFO or device) rather than
    /// a file that is replaced atomically.
    pub fn is_stream(&self) -> bool {
        match self {
            OutputSpec::Stdout | OutputSpec::Writer(_) => true,
            OutputSpec::Path(p) => is_special(p),
        }
    }
}

/// An existing path that is neither a regular file nor a directory (a device, a FIFO).
pub fn is_special(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// How the output should be written beyond what the input says.
#[derive(Debug, Clone, Default)]
pub struct OutputRequest {
    /// The sample type of an audio output (`--out-format`).
    pub out_format: Option<RawFormat>,
    /// The raw format named for the input (`--format`): a raw output's default.
    pub raw_format: Option<RawFormat>,
    /// Always write RF64.
    pub force_rf64: bool,
    /// The processing record added to a SigMF output's metadata.
    pub record: Option<serde_json::Value>,
}

/// What kind of file an output name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Wav,
    Sigmf,
    Raw,
}

/// The container asked for by an output file name; unknown extensions are an error.
pub fn kind_of(path: &Path) -> Result<OutputKind> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "wav" | "wave" => OutputKind::Wav,
        "sigmf-meta" | "sigmf-data" | "sigmf" => OutputKind::Sigmf,
        "raw" | "pcm" | "bin" | "cu8" | "cs8" | "cs16" | "cs16le" | "cf32" | "cfile" | "fc32" => {
            OutputKind::Raw
        }
        _ => {
            return Err(StreamError::Usage(format!(
                "cannot tell the output format of {}{}: name it .wav, .raw/.pcm/.bin, \
                 .sigmf-meta, .cu8/.cs16/.cf32, or use - for stdout",
                path.display(),
                if ext.is_empty() {
                    " (no extension)".to_string()
                } else {
                    format!(" (.{ext} is not written by specgate)")
                }
            )))
        }
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = p.canonicalize() {
            return Some(c);
        }
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(dir.canonicalize().ok()?.join(p.file_name()?))
    };
    matches!((canon(a), canon(b)), (Some(x), Some(y)) if x == y)
}

/// Refuses an output that is one of the input's files.
fn check_target(target: &Path, info: &StreamInfo) -> Result<()> {
    if target.is_dir() {
        return Err(StreamError::Usage(format!(
            "output {} is a directory",
            target.display()
        )));
    }
    if let Some(p) = info.paths.iter().find(|p| same_file(p, target)) {
        return Err(StreamError::Usage(format!(
            "refusing to overwrite the input {}: choose another output",
            p.display()
        )));
    }
    Ok(())
}

/// The encoding of a raw output for `info`.
fn raw_encoding(info: &StreamInfo, req: &OutputRequest) -> Result<Encoding> {
    if info.is_iq() {
        return info.encoding.raw_iq().map(Encoding::Iq).ok_or_else(|| {
            StreamError::Usage(format!(
                "this IQ input ({}) has no raw I/Q equivalent (cu8, cs8, cs16le, cf32le): write \
                 it to a .wav or .sigmf-meta file",
                info.format
            ))
        });
    }
    Ok(Encoding::Audio(
        req.out_format
            .or(req.raw_format)
            .or(info.encoding.audio_format())
            .unwrap_or(RawFormat::F32Le),
    ))
}

/// Opens the sink for `out`, described by the input's `info`.
pub fn open<'a>(
    out: OutputSpec<'a>,
    info: &StreamInfo,
    req: &OutputRequest,
) -> Result<Box<dyn Sink + 'a>> {
    match out {
        OutputSpec::Stdout => {
            let enc = raw_encoding(info, req)?;
            Ok(Box::new(ByteSink::new(
                Box::new(std::io::stdout().lock()),
                enc,
                info.channels,
                None,
                true,
            )))
        }
        OutputSpec::Writer(w) => {
            let enc = raw_encoding(info, req)?;
            Ok(Box::new(ByteSink::new(w, enc, info.channels, None, true)))
        }
        OutputSpec::Path(p) if is_special(&p) => {
            let enc = raw_encoding(info, req)?;
            let f = std::fs::OpenOptions::new().write(true).open(&p)?;
            Ok(Box::new(ByteSink::new(
                Box::new(f),
                enc,
                info.channels,
                None,
                true,
            )))
        }
        OutputSpec::Path(p) => open_file(&p, info, req).map_err(|e| match e {
            StreamError::Io(io) => StreamError::Io(std::io::Error::new(
                io.kind(),
                format!("cannot write {}: {io}", p.display()),
            )),
            e => e,
        }),
    }
}

fn open_file(p: &Path, info: &StreamInfo, req: &OutputRequest) -> Result<Box<dyn Sink + 'static>> {
    match kind_of(p)? {
        OutputKind::Raw => {
            check_target(p, info)?;
            let enc = raw_encoding(info, req)?;
            let a = AtomicFile::create(p)?;
            let w = BufWriter::with_capacity(1 << 20, a.file()?);
            Ok(Box::new(ByteSink::new(
                Box::new(w),
                enc,
                info.channels,
                Some(a),
                false,
            )))
        }
        OutputKind::Wav => {
            check_target(p, info)?;
            Ok(Box::new(WavSink::create(p, info, req)?))
        }
        OutputKind::Sigmf => Ok(Box::new(SigmfSink::create(p, info, req)?)),
    }
}

/// Raw samples to a writer (stdout, a FIFO, a device, a raw file).
pub struct ByteSink<'a> {
    out: Box<dyn Write + 'a>,
    enc: Encoding,
    channels: usize,
    bytes: Vec<u8>,
    clipped: u64,
    frames: u64,
    commit: Option<AtomicFile>,
    stream: bool,
}

impl<'a> ByteSink<'a> {
    pub fn new(
        out: Box<dyn Write + 'a>,
        enc: Encoding,
        channels: usize,
        commit: Option<AtomicFile>,
        stream: bool,
    ) -> Self {
        ByteSink {
            out,
            enc,
            channels,
            bytes: Vec::new(),
            clipped: 0,
            frames: 0,
            commit,
            stream,
        }
    }
}

impl Sink for ByteSink<'_> {
    fn write(&mut self, buf: &[f32]) -> Result<()> {
        self.clipped += self.enc.encode(buf, &mut self.bytes);
        self.out.write_all(&self.bytes)?;
        self.frames += (buf.len() / self.channels) as u64;
        Ok(())
    }
    fn write_i32(&mut self, buf: &[i32]) -> Option<Result<()>> {
        self.bytes.clear();
        if !self.enc.encode_i32(buf, &mut self.bytes) {
            return None;
        }
        self.frames += (buf.len() / self.channels) as u64;
        Some(self.out.write_all(&self.bytes).map_err(Into::into))
    }
    fn encoding(&self) -> Option<Encoding> {
        Some(self.enc)
    }
    fn flush(&mut self) -> Result<()> {
        Ok(self.out.flush()?)
    }
    fn is_stream(&self) -> bool {
        self.stream
    }
    fn finish(mut self: Box<Self>) -> Result<SinkReport> {
        self.out.flush()?;
        drop(self.out);
        if let Some(a) = self.commit.take() {
            a.commit()?;
        }
        Ok(SinkReport {
            frames: self.frames,
            clipped: self.clipped,
            rf64: false,
        })
    }
}

/// A WAV/RF64 file: the input's chunks carried, `fmt ` rewritten when the sample type changes,
/// an `auxi` chunk added to I/Q outputs that have none.
pub struct WavSink {
    w: Option<RiffWriter<BufWriter<File>>>,
    file: AtomicFile,
    enc: Encoding,
    channels: usize,
    bytes: Vec<u8>,
    clipped: u64,
    frames: u64,
    iq: bool,
}

/// The WAV sample type of an output for `info`.
fn wav_format(info: &StreamInfo, req: &OutputRequest) -> Result<SampleFormat> {
    if let Some(f) = req.out_format {
        return Encoding::Audio(f)
            .wav_format()
            .ok_or_else(|| StreamError::Usage(format!("{f} cannot be written to WAV")));
    }
    Ok(match info.encoding {
        Encoding::Iq(RawIq::Cu8 | RawIq::Cs8) => SampleFormat::I16,
        Encoding::Sigmf(d) => match (d.base, d.big_endian) {
            (crate::io::sigmf::Base::I16, false) => SampleFormat::I16,
            (crate::io::sigmf::Base::U8 | crate::io::sigmf::Base::I8, _) => SampleFormat::I16,
            _ => SampleFormat::F32,
        },
        e => e.wav_format().unwrap_or(SampleFormat::F32),
    })
}

/// The chunks of an output WAV: the input's, with `fmt ` replaced when the sample type or
/// channel count changes, an `auxi` added to I/Q outputs without one and dropped from real ones.
pub fn wav_chunks(info: &StreamInfo, sample: SampleFormat) -> (Vec<Chunk>, Vec<Chunk>) {
    let same = info.container == Container::Wav && info.encoding == Encoding::Wav(sample);
    let mut before: Vec<Chunk> = Vec::new();
    let fmt = WavFmt {
        tag: 1,
        channels: info.channels as u16,
        rate: info.rate,
        bits: sample.bytes() as u16 * 8,
        block_align: (sample.bytes() * info.channels) as u16,
        sample,
    }
    .to_chunk();
    if same {
        before.extend(info.chunks_before.iter().cloned());
    } else {
        before.push(fmt.clone());
        before.extend(
            info.chunks_before
                .iter()
                .filter(|c| &c.id != b"fmt " && &c.id != b"fact")
                .cloned(),
        );
    }
    if !before.iter().any(|c| &c.id == b"fmt ") {
        before.insert(0, fmt);
    }
    let has_auxi = before
        .iter()
        .chain(&info.chunks_after)
        .any(|c| &c.id == b"auxi");
    if info.is_iq() && !has_auxi {
        let at = before
            .iter()
            .position(|c| &c.id == b"fmt ")
            .map_or(0, |i| i + 1);
        before.insert(
            at,
            Chunk {
                id: *b"auxi",
                data: crate::io::auxi::build(info.start, info.stop, info.center_hz),
            },
        );
    }
    let mut after = info.chunks_after.clone();
    if !info.is_iq() {
        // An `auxi` marks a WAV as I/Q: a real (e.g. --no-iq) output must not be re-detected.
        before.retain(|c| &c.id != b"auxi");
        after.retain(|c| &c.id != b"auxi");
    }
    (before, after)
}

impl WavSink {
    /// A plain audio WAV of `channels` real channels at `rate` (a recorder's output, e.g.
    /// `specgate run --output rec.wav`): RIFF that becomes RF64 past 4 GiB, written through the
    /// atomic output (renamed into place by [`Sink::finish`]; dropped unfinished, it leaves
    /// nothing). The one WAV writer — use it instead of another crate's.
    pub fn audio(path: &Path, rate: u32, channels: usize, sample: SampleFormat) -> Result<WavSink> {
        let info = StreamInfo::new(
            rate,
            channels,
            crate::engine::SignalKind::Real,
            Encoding::Wav(sample),
        );
        WavSink::create(path, &info, &OutputRequest::default())
    }

    pub fn create(path: &Path, info: &StreamInfo, req: &OutputRequest) -> Result<WavSink> {
        let sample = wav_format(info, req)?;
        let (before, after) = wav_chunks(info, sample);
        let fb = sample.bytes() * info.channels;
        let file = AtomicFile::create(path)?;
        let out = BufWriter::with_capacity(1 << 20, file.file()?);
        // A known length decides RIFF or RF64 up front (the output is as long as the input);
        // a stream of unknown length gets RIFF that becomes RF64 if it outgrows 4 GiB.
        let w = match info.frames {
            Some(n) => RiffWriter::new(out, &before, &after, fb, n * fb as u64, req.force_rf64)?,
            None if req.force_rf64 => RiffWriter::new(out, &before, &after, fb, 0, true)?,
            None => RiffWriter::new_auto(out, &before, &after, fb)?,
        };
        Ok(WavSink {
            w: Some(w),
            file,
            enc: Encoding::Wav(sample),
            channels: info.channels,
            bytes: Vec::new(),
            clipped: 0,
            frames: 0,
            iq: info.is_iq(),
        })
    }

    fn writer(&mut self) -> &mut RiffWriter<BufWriter<File>> {
        self.w.as_mut().expect("WAV sink used after finish")
    }
}

impl Sink for WavSink {
    fn write(&mut self, buf: &[f32]) -> Result<()> {
        let mut bytes = std::mem::take(&mut self.bytes);
        self.clipped += self.enc.encode(buf, &mut bytes);
        let r = self.writer().write_data(&bytes);
        self.bytes = bytes;
        self.frames += (buf.len() / self.channels) as u64;
        Ok(r?)
    }
    fn write_i32(&mut self, buf: &[i32]) -> Option<Result<()>> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        if !self.enc.encode_i32(buf, &mut bytes) {
            return None;
        }
        let r = self.writer().write_data(&bytes);
        self.bytes = bytes;
        self.frames += (buf.len() / self.channels) as u64;
        Some(r.map_err(Into::into))
    }
    fn encoding(&self) -> Option<Encoding> {
        Some(self.enc)
    }
    fn set_trailing_chunks(&mut self, after: &[Chunk]) {
        // The same rule as `wav_chunks`: an `auxi` marks a WAV as I/Q.
        let iq = self.iq;
        let after: Vec<Chunk> = after
            .iter()
            .filter(|c| iq || &c.id != b"auxi")
            .cloned()
            .collect();
        self.writer().set_trailing_chunks(&after);
    }
    fn finish(mut self: Box<Self>) -> Result<SinkReport> {
        let w = self.w.take().expect("finished once");
        let rf64 = w.form() == Form::Rf64;
        w.finish()?.flush()?;
        self.file.commit()?;
        Ok(SinkReport {
            frames: self.frames,
            clipped: self.clipped,
            rf64,
        })
    }
}

/// A SigMF recording: `.sigmf-data` samples and `.sigmf-meta` with the input's metadata (or new
/// metadata from what is known) and a processing record.
pub struct SigmfSink {
    data: ByteSink<'static>,
    meta_file: AtomicFile,
    meta: serde_json::Value,
}

impl SigmfSink {
    pub fn create(path: &Path, info: &StreamInfo, req: &OutputRequest) -> Result<SigmfSink> {
        let (meta_path, data_path) = sigmf::pair(path);
        check_target(&meta_path, info)?;
        check_target(&data_path, info)?;
        let dt = if info.is_iq() {
            info.encoding.sigmf_complex()
        } else {
            match info.encoding {
                Encoding::Sigmf(d) => d,
                _ => sigmf::DataType::parse("rf32_le").expect("valid datatype"),
            }
        };
        let original = match (&info.sigmf_meta, info.encoding) {
            (Some(m), Encoding::Sigmf(d)) if d == dt => m.clone(),
            _ => new_meta(dt, info),
        };
        let meta = match &req.record {
            Some(r) => sigmf::processed_meta(&original, r.clone()),
            None => original,
        };
        let a = AtomicFile::create(&data_path)?;
        let w = BufWriter::with_capacity(1 << 20, a.file()?);
        let meta_file = AtomicFile::create(&meta_path)?;
        Ok(SigmfSink {
            data: ByteSink::new(
                Box::new(w),
                Encoding::Sigmf(dt),
                info.channels,
                Some(a),
                false,
            ),
            meta_file,
            meta,
        })
    }
}

fn new_meta(dt: sigmf::DataType, info: &StreamInfo) -> serde_json::Value {
    let mut cap = serde_json::json!({"core:sample_start": 0});
    if let Some(f) = info.center_hz {
        cap["core:frequency"] = f.into();
    }
    if let Some(t) = info.start {
        cap["core:datetime"] = t.to_string().into();
    }
    serde_json::json!({
        "global": {"core:datatype": dt.to_string(), "core:sample_rate": info.rate,
                   "core:version": "1.0.0"},
        "captures": [cap],
        "annotations": []
    })
}

impl Sink for SigmfSink {
    fn write(&mut self, buf: &[f32]) -> Result<()> {
        self.data.write(buf)
    }
    fn write_i32(&mut self, buf: &[i32]) -> Option<Result<()>> {
        self.data.write_i32(buf)
    }
    fn encoding(&self) -> Option<Encoding> {
        self.data.encoding()
    }
    fn finish(self: Box<Self>) -> Result<SinkReport> {
        let text = serde_json::to_string_pretty(&self.meta)
            .map_err(|e| StreamError::Format(e.to_string()))?
            + "\n";
        let mut f = self.meta_file.file()?;
        f.write_all(text.as_bytes())?;
        drop(f);
        let r = Box::new(self.data).finish()?;
        self.meta_file.commit()?;
        Ok(r)
    }
}

/// Samples collected in memory.
#[derive(Debug, Default)]
pub struct VecSink {
    pub samples: Vec<f32>,
}

impl Sink for VecSink {
    fn write(&mut self, buf: &[f32]) -> Result<()> {
        self.samples.extend_from_slice(buf);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<SinkReport> {
        Ok(SinkReport::default())
    }
}
