//! File and pipe adapters: WAV files (RIFF/RF64, [`riff`]) and raw sample streams, read and
//! written as interleaved `f32` blocks at full scale ±1.0 through the one bulk [`codec`].
//!
//! Every source implements [`SampleReader`], every destination [`SampleWriter`], so a command
//! can stream any of them through an [`Engine`](crate::engine::Engine) in constant memory.
//! Integer formats also have a lossless `i32` path (samples left-justified to 32 bits), which
//! the bit-exact bypass uses: `f32` carries 8/16/24-bit samples exactly but not 32-bit ones.

pub mod atomic;
pub mod auxi;
pub mod codec;
pub mod iq;
pub mod npy;
pub mod raw;
pub mod riff;
pub mod sigmf;
pub mod wav;

use std::fmt;
use std::str::FromStr;

/// Why a read or write failed.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    // Transparent: displaying it *and* naming it as the source would print the OS error twice.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("WAV: {0}")]
    Wav(#[from] riff::RiffError),
    #[error("{0}")]
    Format(String),
}

/// The encoding of one sample. Raw streams name it with `--format`; WAV files map onto it
/// (8-bit WAV = `u8`, 16 = `s16le`, 24 = `s24le`, 32 = `s32le`, float = `f32le`/`f64le`).
///
/// To add a format, add a variant, one row to [`RawFormat::ALL`] and its
/// [`codec::Encoding`]; the bytes are converted by [`codec::Encoding`] alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RawFormat {
    U8,
    S8,
    S16Le,
    S16Be,
    S24Le,
    S32Le,
    F32Le,
    F32Be,
    F64Le,
}

/// How a [`RawFormat`] is laid out in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatSpec {
    /// Bytes per sample.
    pub bytes: usize,
    /// Significant bits (integer) or 32 (float).
    pub bits: u32,
    pub float: bool,
    pub big_endian: bool,
    /// Unsigned with an offset of half the range (u8).
    pub unsigned: bool,
}

impl RawFormat {
    /// Every format with its canonical name and accepted aliases.
    pub const ALL: &'static [(RawFormat, &'static str, &'static [&'static str])] = &[
        (RawFormat::U8, "u8", &[]),
        (RawFormat::S8, "s8", &[]),
        (RawFormat::S16Le, "s16le", &["s16"]),
        (RawFormat::S16Be, "s16be", &[]),
        (RawFormat::S24Le, "s24le", &["s24"]),
        (RawFormat::S32Le, "s32le", &["s32"]),
        (RawFormat::F32Le, "f32le", &["f32"]),
        (RawFormat::F32Be, "f32be", &[]),
        (RawFormat::F64Le, "f64le", &["f64"]),
    ];

    pub fn spec(self) -> FormatSpec {
        let int = |bytes: usize, big_endian: bool| FormatSpec {
            bytes,
            bits: 8 * bytes as u32,
            float: false,
            big_endian,
            unsigned: false,
        };
        match self {
            RawFormat::U8 => FormatSpec {
                unsigned: true,
                ..int(1, false)
            },
            RawFormat::S8 => int(1, false),
            RawFormat::S16Le => int(2, false),
            RawFormat::S16Be => int(2, true),
            RawFormat::S24Le => int(3, false),
            RawFormat::S32Le => int(4, false),
            RawFormat::F32Le | RawFormat::F32Be => FormatSpec {
                bytes: 4,
                bits: 32,
                float: true,
                big_endian: self == RawFormat::F32Be,
                unsigned: false,
            },
            RawFormat::F64Le => FormatSpec {
                bytes: 8,
                bits: 64,
                float: true,
                big_endian: false,
                unsigned: false,
            },
        }
    }

    /// The byte codec of this format.
    pub fn encoding(self) -> codec::Encoding {
        self.into()
    }

    pub fn name(self) -> &'static str {
        RawFormat::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map(|(_, n, _)| *n)
            .unwrap_or("?")
    }

    pub fn bytes(self) -> usize {
        self.spec().bytes
    }

    pub fn is_float(self) -> bool {
        self.spec().float
    }

    /// The WAV sample type that carries this format: (bits per sample, float).
    pub fn wav_type(self) -> (u16, bool) {
        let s = self.spec();
        (s.bits as u16, s.float)
    }

    /// The format that describes a WAV sample type, if specgate can read it.
    pub fn from_wav(bits: u16, float: bool) -> Option<RawFormat> {
        match (bits, float) {
            (8, false) => Some(RawFormat::U8),
            (16, false) => Some(RawFormat::S16Le),
            (24, false) => Some(RawFormat::S24Le),
            (32, false) => Some(RawFormat::S32Le),
            (32, true) => Some(RawFormat::F32Le),
            (64, true) => Some(RawFormat::F64Le),
            _ => None,
        }
    }

    /// True when both formats store the same numbers (they may differ in byte order or in
    /// the u8/s8 offset), so an `i32` copy between them is lossless.
    pub fn same_values(self, other: RawFormat) -> bool {
        let (a, b) = (self.spec(), other.spec());
        a.float == b.float && a.bits == b.bits
    }
}

impl fmt::Display for RawFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RawFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let l = s.trim().to_ascii_lowercase();
        RawFormat::ALL
            .iter()
            .find(|(_, n, aliases)| *n == l || aliases.contains(&l.as_str()))
            .map(|(f, _, _)| *f)
            .ok_or_else(|| {
                let names: Vec<&str> = RawFormat::ALL.iter().map(|(_, n, _)| *n).collect();
                format!(
                    "unknown sample format '{s}' (available: {})",
                    names.join(", ")
                )
            })
    }
}

/// A source of interleaved samples (full scale ±1.0).
pub trait SampleReader {
    /// Sample rate, Hz.
    fn rate(&self) -> u32;
    /// Interleaved channels per frame.
    fn channels(&self) -> usize;
    /// Frames in the whole stream, when known in advance (files).
    fn len_frames(&self) -> Option<u64>;
    /// The sample encoding of the source.
    fn format(&self) -> RawFormat;
    /// Reads whole frames into `buf` (whose length must be a multiple of `channels()`) and
    /// returns the number of samples read; 0 means the end. A pipe returns what is available
    /// as soon as at least one frame is there, without waiting to fill `buf`.
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, IoError>;
    /// As [`read`](Self::read), for integer formats only, with samples left-justified to 32 bits
    /// (`s16` value `v` is `v << 16`): lossless for every integer width.
    fn read_i32(&mut self, buf: &mut [i32]) -> Result<usize, IoError>;
    /// Warnings gathered so far (e.g. a truncated file), drained.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Metadata chunks of the container to carry to an output (WAV: `LIST`, `auxi`, … in file
    /// order, container chunks included — writers drop those): before and after the samples.
    /// A stream knows the chunks after its samples only at its end.
    fn chunks(&self) -> (&[riff::Chunk], &[riff::Chunk]) {
        (&[], &[])
    }
}

/// A destination for interleaved samples (full scale ±1.0).
pub trait SampleWriter {
    /// The sample encoding written.
    fn format(&self) -> RawFormat;
    /// Writes whole frames. Integer formats are rounded and clipped (see [`clipped`](Self::clipped)).
    fn write(&mut self, buf: &[f32]) -> Result<(), IoError>;
    /// Writes left-justified `i32` samples (see [`SampleReader::read_i32`]); integer formats only.
    fn write_i32(&mut self, buf: &[i32]) -> Result<(), IoError>;
    /// Pushes buffered output to its destination (pipes: once per block, for live use).
    fn flush(&mut self) -> Result<(), IoError>;
    /// Samples that were out of range for an integer format and were clipped.
    fn clipped(&self) -> u64;
    /// Completes the output (WAV header, rename of the temporary file). Dropping a writer
    /// without calling this leaves no output file.
    fn finish(self: Box<Self>) -> Result<(), IoError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_and_aliases_round_trip() {
        for (f, name, aliases) in RawFormat::ALL {
            assert_eq!(name.parse::<RawFormat>(), Ok(*f));
            for a in *aliases {
                assert_eq!(a.parse::<RawFormat>(), Ok(*f));
            }
            assert_eq!(f.to_string(), *name);
        }
        let e = "s17le".parse::<RawFormat>().unwrap_err();
        assert!(e.contains("s17le") && e.contains("s16le"), "{e}");
    }
}
