//! What an input is, decided once, without losing a byte.
//!
//! Regular files are opened by path (a WAV's chunk layout is read with seeks, the samples then
//! streamed from the data offset). Everything else — `-`, FIFOs, process substitution,
//! `/dev/stdin`, character devices — is read once, through [`Peeked`]: the bytes looked at to
//! decide the format are handed back to the reader, so the first sample is the first sample.
//!
//! Order: SigMF by name; `RIFF`/`RF64`/`BW64` magic → WAV; `--format` → raw (audio, or I/Q for
//! the complex names); a raw I/Q extension (`.cu8`, `.cs16`, `.cf32`, gqrx `_fc.raw`) → raw I/Q.
//! A WAV is I/Q when it has two channels and an `auxi` chunk or an SDR recorder's I/Q file name;
//! `--iq`/`--no-iq` override every detection.

use super::source::{ByteSource, FileRange, ReaderSource};
use super::{Container, Encoding, Result, Source, StreamError, StreamInfo};
use crate::engine::SignalKind;
use crate::io::iq::{parse_file_name, NameInfo, RawIq};
use crate::io::{auxi, riff, sigmf, RawFormat};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A reader that can look ahead: [`peek`](Self::peek) reads bytes into a buffer that
/// [`Read`] hands out again before reading further. Nothing is lost, whatever the input is.
pub struct Peeked<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> Peeked<R> {
    pub fn new(inner: R) -> Self {
        Peeked {
            inner,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Up to `n` bytes from the current position without consuming them (fewer at the end).
    pub fn peek(&mut self, n: usize) -> std::io::Result<&[u8]> {
        while self.buf.len() - self.pos < n {
            let mut chunk = [0u8; 512];
            let want = (n - (self.buf.len() - self.pos)).min(chunk.len());
            match self.inner.read(&mut chunk[..want]) {
                Ok(0) => break,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let end = (self.pos + n).min(self.buf.len());
        Ok(&self.buf[self.pos..end])
    }
}

impl<R: Read> Read for Peeked<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.buf.len() {
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
            }
            return Ok(n);
        }
        self.inner.read(out)
    }
}

/// Where the samples come from.
pub enum InputSpec<'a> {
    /// Standard input: a live stream (an interrupt ends it normally).
    Stdin,
    /// A path: a regular file, a FIFO, a device, `/dev/stdin`.
    Path(PathBuf),
    /// Any reader, taken as a stream (embedding, tests).
    Reader(Box<dyn Read + 'a>),
}

impl InputSpec<'_> {
    /// `-` is standard input.
    pub fn from_path(p: &Path) -> InputSpec<'static> {
        if p.as_os_str() == "-" {
            InputSpec::Stdin
        } else {
            InputSpec::Path(p.to_path_buf())
        }
    }

    /// The name used in messages.
    pub fn name(&self) -> String {
        match self {
            InputSpec::Stdin => "stdin".into(),
            InputSpec::Path(p) => p.display().to_string(),
            InputSpec::Reader(_) => "the input stream".into(),
        }
    }
}

/// The raw format named for an input (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawHint {
    Audio(RawFormat),
    Iq(RawIq),
}

/// What the user said about the input.
#[derive(Debug, Clone, Default)]
pub struct ProbeHints {
    /// `--iq` (`Some(true)`) / `--no-iq` (`Some(false)`).
    pub force_iq: Option<bool>,
    /// `--format`: the input is raw (unless it is a WAV file named `.wav`).
    pub format: Option<RawHint>,
    /// `--rate`: a raw input's rate; must agree with a header.
    pub rate: Option<u32>,
    /// `--channels`: a raw input's channel count; must agree with a header.
    pub channels: Option<usize>,
    /// Describe only (`specgate info`): an unknown raw rate is reported as 0, not an error.
    pub describe_only: bool,
}

/// An opened input.
pub type Opened<'a> = Box<dyn Source + 'a>;

fn fmt_err(s: String) -> StreamError {
    StreamError::Format(s)
}

fn ext_of(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The raw I/Q type of an audio `--format` under `--iq` (`s16le` → `cs16le`).
pub fn iq_of_audio(f: RawFormat) -> Result<RawIq> {
    match f {
        RawFormat::U8 => Ok(RawIq::Cu8),
        RawFormat::S8 => Ok(RawIq::Cs8),
        RawFormat::S16Le => Ok(RawIq::Cs16le),
        RawFormat::F32Le => Ok(RawIq::Cf32le),
        _ => Err(StreamError::Usage(format!(
            "--format {f} has no IQ equivalent: use cu8, cs8, cs16le or cf32le"
        ))),
    }
}

/// Opens an input and describes it (see the module doc).
pub fn open<'a>(input: InputSpec<'a>, hints: &ProbeHints) -> Result<Opened<'a>> {
    match input {
        InputSpec::Stdin => open_stream(Box::new(std::io::stdin()), None, hints, true),
        InputSpec::Reader(r) => open_stream(r, None, hints, false),
        InputSpec::Path(p) => open_path(&p, hints),
    }
}

fn open_path(p: &Path, hints: &ProbeHints) -> Result<Opened<'static>> {
    let name = p.display().to_string();
    let ext = ext_of(p);
    if matches!(ext.as_str(), "sigmf-meta" | "sigmf-data" | "sigmf") {
        return open_sigmf(p, hints);
    }
    let with_name = |e: std::io::Error| {
        StreamError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot open {name}: {e}"),
        ))
    };
    let meta = std::fs::metadata(p).map_err(with_name)?;
    if meta.is_dir() {
        return Err(fmt_err(format!("{name} is a directory")));
    }
    let mut f = std::fs::File::open(p).map_err(with_name)?;
    if !meta.is_file() {
        return open_stream(Box::new(f), Some(p), hints, false);
    }
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut f, &mut magic)?;
    let is_riff = got == 4 && matches!(&magic, b"RIFF" | b"RF64" | b"BW64");
    let raw_named = hints.format.is_some() && !matches!(ext.as_str(), "wav" | "wave");
    if is_riff && !raw_named {
        f.seek(SeekFrom::Start(0))?;
        return open_wav_file(p, f, hints);
    }
    f.seek(SeekFrom::Start(0))?;
    let range = FileRange {
        path: p.to_path_buf(),
        offset: 0,
        len: meta.len(),
    };
    let info = raw_info(p, hints, Some(meta.len()))?;
    let len = range.len - range.len % (info.encoding.bytes() * info.channels) as u64;
    let range = FileRange { len, ..range };
    Ok(Box::new(ByteSource::new(
        BufReader::with_capacity(1 << 20, f),
        info,
        Some(len),
        Some(range),
        false,
    )?))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// I/Q or not, with the reason: `--iq`/`--no-iq`, then `detected`, then the file name.
fn decide_kind(
    hints: &ProbeHints,
    channels: usize,
    detected: Option<(bool, String)>,
    name: Option<&NameInfo>,
) -> (SignalKind, String) {
    let (iq, reason) = match hints.force_iq {
        Some(true) => (true, "--iq".to_string()),
        Some(false) => (false, "--no-iq".to_string()),
        None => detected
            .or_else(|| {
                let n = name?;
                (channels == 2)
                    .then_some(n.iq?)
                    .map(|iq| (iq, format!("{} file name", n.program)))
            })
            .unwrap_or_else(|| {
                (
                    false,
                    if channels == 2 {
                        "no auxi chunk or recorder file name (use --iq)".into()
                    } else {
                        format!("{channels} channel(s)")
                    },
                )
            }),
    };
    let kind = if iq {
        SignalKind::Complex
    } else {
        SignalKind::Real
    };
    (kind, reason)
}

/// Fills centre frequency and start time from the file name where nothing better said them.
fn apply_name(info: &mut StreamInfo, name: Option<&NameInfo>) {
    let Some(n) = name else { return };
    let mut used = false;
    if info.center_hz.is_none() && n.center_hz.is_some() {
        info.center_hz = n.center_hz;
        used = true;
    }
    if info.start.is_none() && n.start.is_some() {
        info.start = n.start;
        used = true;
    }
    if n.rate_hint.is_some() {
        used = true;
    }
    if used {
        info.meta_sources.push(format!("{} file name", n.program));
    }
}

fn name_info(p: Option<&Path>) -> Option<NameInfo> {
    parse_file_name(&p?.file_name()?.to_string_lossy())
}

fn check_header_agrees(hints: &ProbeHints, info: &StreamInfo, name: &str) -> Result<()> {
    if let Some(r) = hints.rate.filter(|&r| r != info.rate) {
        return Err(StreamError::Usage(format!(
            "--rate {r} contradicts the header of {name} ({} Hz)",
            info.rate
        )));
    }
    if let Some(c) = hints.channels.filter(|&c| c != info.channels) {
        if !(info.is_iq() && c == 2) {
            return Err(StreamError::Usage(format!(
                "--channels {c} contradicts the header of {name} ({} channels)",
                info.channels
            )));
        }
    }
    Ok(())
}

/// The description of a WAV from its chunk layout: I/Q by `auxi` or name, metadata, chunks.
fn wav_info(l: &riff::RiffLayout, path: Option<&Path>, hints: &ProbeHints) -> StreamInfo {
    let ni = name_info(path);
    let mut info = StreamInfo::new(
        l.fmt.rate,
        l.fmt.channels as usize,
        SignalKind::Real,
        Encoding::Wav(l.fmt.sample),
    );
    info.container = Container::Wav;
    let form = match l.form {
        riff::Form::Riff => "RIFF WAVE",
        riff::Form::Rf64 => "RF64 WAVE",
    };
    let ext = if l.fmt.tag == 0xFFFE {
        " (extensible)"
    } else {
        ""
    };
    info.format = format!("{form}, {}{ext}", l.fmt.sample.name());
    info.frames = Some(l.frames());
    let mut detected = None;
    if let Some(a) = l.chunk(b"auxi").and_then(|c| auxi::parse(&c.data)) {
        info.center_hz = a.center_hz;
        info.start = a.start;
        info.stop = a.stop;
        info.meta_sources.push("auxi".into());
        if l.fmt.channels == 2 {
            detected = Some((true, "auxi chunk on a 2-channel WAV".to_string()));
        }
    }
    (info.kind, info.kind_reason) = decide_kind(hints, info.channels, detected, ni.as_ref());
    apply_name(&mut info, ni.as_ref());
    info.chunks_before = l.before_data.clone();
    info.chunks_after = l.after_data.clone();
    info.paths = path.map(|p| vec![p.to_path_buf()]).unwrap_or_default();
    info.warnings = l
        .warnings
        .iter()
        .map(|w| {
            if w.contains("reading to end of file") {
                format!("{w} (truncated recording?)")
            } else {
                w.clone()
            }
        })
        .collect();
    info
}

fn open_wav_file(p: &Path, mut f: std::fs::File, hints: &ProbeHints) -> Result<Opened<'static>> {
    let name = p.display().to_string();
    let l = riff::read_layout(&mut f).map_err(|e| {
        fmt_err(format!(
            "cannot read {name} as WAV (for raw samples give --format and --rate): {e}"
        ))
    })?;
    let info = wav_info(&l, Some(p), hints);
    if !hints.describe_only {
        check_header_agrees(hints, &info, &name)?;
    }
    f.seek(SeekFrom::Start(l.data_offset))?;
    let range = FileRange {
        path: p.to_path_buf(),
        offset: l.data_offset,
        len: l.data_len,
    };
    Ok(Box::new(ByteSource::new(
        BufReader::with_capacity(1 << 20, f),
        info,
        Some(l.data_len),
        Some(range),
        false,
    )?))
}

fn open_sigmf(p: &Path, hints: &ProbeHints) -> Result<Opened<'static>> {
    let s = sigmf::SigmfFile::open(p).map_err(|e| fmt_err(e.to_string()))?;
    let channels = s.datatype.components();
    let mut info = StreamInfo::new(
        s.rate,
        channels,
        SignalKind::Real,
        Encoding::Sigmf(s.datatype),
    );
    info.container = Container::Sigmf;
    info.format = format!("SigMF {}", s.datatype);
    info.frames = Some(s.frames());
    info.center_hz = s.center_hz;
    info.start = s.start;
    info.meta_sources.push("SigMF".into());
    let detected = Some((s.datatype.complex, "SigMF datatype".to_string()));
    (info.kind, info.kind_reason) = decide_kind(hints, channels, detected, None);
    info.sigmf_meta = Some(s.meta.clone());
    info.paths = vec![s.meta_path.clone(), s.data_path.clone()];
    if !hints.describe_only {
        check_header_agrees(hints, &info, &p.display().to_string())?;
    }
    let f = std::fs::File::open(&s.data_path)?;
    let range = FileRange {
        path: s.data_path.clone(),
        offset: 0,
        len: s.data_len,
    };
    Ok(Box::new(ByteSource::new(
        BufReader::with_capacity(1 << 20, f),
        info,
        Some(s.data_len),
        Some(range),
        false,
    )?))
}

/// The description of a headerless input (`--format`, a raw I/Q extension or gqrx name).
fn raw_info(p: &Path, hints: &ProbeHints, len: Option<u64>) -> Result<StreamInfo> {
    let name = p.display().to_string();
    let ni = name_info(Some(p));
    let ext = ext_of(p);
    let ext_iq = RawIq::from_extension(&ext)
        .or_else(|| (ni.as_ref()?.program == "gqrx" && ext == "raw").then_some(RawIq::Cf32le));
    let (enc, reason) = match (hints.format, hints.force_iq) {
        (Some(RawHint::Iq(_)), Some(false)) => {
            return Err(StreamError::Usage(
                "--format names an IQ format but --no-iq was given: use an audio format (u8, \
                 s8, s16le, …)"
                    .into(),
            ))
        }
        (Some(RawHint::Iq(r)), _) => (Encoding::Iq(r), format!("--format {}", r.name())),
        (Some(RawHint::Audio(f)), Some(true)) => (Encoding::Iq(iq_of_audio(f)?), "--iq".into()),
        (Some(RawHint::Audio(f)), _) => (Encoding::Audio(f), String::new()),
        (None, Some(false)) => {
            return Err(fmt_err(format!(
                "{name}: a raw input needs --format and --rate"
            )))
        }
        (None, _) => match ext_iq {
            Some(r) => (Encoding::Iq(r), format!("raw IQ extension .{ext}")),
            None => {
                return Err(fmt_err(format!(
                    "cannot read {name}: not a WAV/RF64 or SigMF file, and the raw format is \
                     unknown (give --format and --rate, or use a .cu8/.cs8/.cs16/.cf32 name)"
                )))
            }
        },
    };
    let iq = matches!(enc, Encoding::Iq(_));
    let channels = if iq {
        if let Some(c) = hints.channels.filter(|&c| c != 2) {
            return Err(StreamError::Usage(format!(
                "--channels {c}: an IQ stream is one I/Q pair (2 channels)"
            )));
        }
        2
    } else {
        hints.channels.unwrap_or(1)
    };
    let rate = hints
        .rate
        .or(ni.as_ref().and_then(|n| n.rate_hint))
        .unwrap_or(0);
    if rate == 0 && !hints.describe_only {
        return Err(StreamError::Usage(format!(
            "{name}: a raw input needs --rate (e.g. --rate 24k, --rate 2.4M)"
        )));
    }
    let kind = if iq {
        SignalKind::Complex
    } else {
        SignalKind::Real
    };
    let mut info = StreamInfo::new(rate, channels, kind, enc);
    info.format = if iq {
        format!("raw IQ {}", enc.name())
    } else {
        format!("raw {}", enc.name())
    };
    info.kind_reason = if iq {
        reason
    } else {
        format!("{channels} channel(s)")
    };
    info.frames = len.map(|l| l / (enc.bytes() * channels) as u64);
    if iq {
        apply_name(&mut info, ni.as_ref());
    }
    info.paths = vec![p.to_path_buf()];
    Ok(info)
}

/// A non-seekable input: peeked, never re-opened.
fn open_stream<'a>(
    r: Box<dyn Read + 'a>,
    path: Option<&Path>,
    hints: &ProbeHints,
    live: bool,
) -> Result<Opened<'a>> {
    let name = path.map_or_else(|| "stdin".to_string(), |p| p.display().to_string());
    let mut r = Peeked::new(r);
    let ext = path.map(ext_of).unwrap_or_default();
    let raw_named = hints.format.is_some() && !matches!(ext.as_str(), "wav" | "wave");
    let is_riff = !raw_named && {
        let m = r.peek(4)?;
        m.len() == 4 && matches!(m, b"RIFF" | b"RF64" | b"BW64")
    };
    if !is_riff {
        let p = path.unwrap_or(Path::new("stdin"));
        if path.is_none() && hints.format.is_none() {
            return Err(fmt_err(format!(
                "{name} is not a WAV stream (for raw samples give --format and --rate)"
            )));
        }
        let mut info = raw_info(p, hints, None)?;
        info.paths.clear();
        return Ok(Box::new(ByteSource::new(r, info, None, None, live)?));
    }
    // A WAV from a pipe: the header is parsed on the fly; chunks cannot be carried yet.
    let w = crate::io::wav::WavFileReader::new(r).map_err(|e| {
        fmt_err(format!(
            "cannot read a WAV from {name} (for raw samples give --format and --rate): {e}"
        ))
    })?;
    let mut info = wav_info(w.layout(), path, hints);
    info.format = info.format.replacen("WAVE", "WAVE stream", 1);
    // The length of a streamed WAV is what its header claims (unknown when it claims nothing).
    info.frames = crate::io::SampleReader::len_frames(&w);
    info.paths.clear();
    if !hints.describe_only {
        check_header_agrees(hints, &info, &name)?;
    }
    Ok(Box::new(ReaderSource::new(w, info, live)?))
}
