//! How samples are stored, for every container the stream core reads or writes: audio raw
//! formats, WAV sample types, raw I/Q pairs and SigMF datatypes. One enum, one bulk decode and
//! one bulk encode per block.
//!
//! The bytes are decoded and encoded by the one bulk codec, [`io::codec`]; this type adds what
//! the container says (which names, which WAV/SigMF/raw equivalents) for choosing an output.
//! SigMF datatypes the codec has no encoding for (unsigned 16/32-bit, big-endian integers) use
//! `io::sigmf::DataType`'s own conversion.

use crate::io::codec::Encoding as Codec;
use crate::io::iq::RawIq;
use crate::io::riff::SampleFormat;
use crate::io::sigmf::DataType;
use crate::io::RawFormat;

/// A sample encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A headerless audio format (`--format s16le`).
    Audio(RawFormat),
    /// The samples of a WAV `data` chunk.
    Wav(SampleFormat),
    /// A headerless I/Q format (`cu8`, `cs8`, `cs16le`, `cf32le`): one value per component.
    Iq(RawIq),
    /// A SigMF datatype (one value per component).
    Sigmf(DataType),
}

impl Encoding {
    /// Bytes per value (per component for I/Q).
    pub fn bytes(self) -> usize {
        match self {
            Encoding::Audio(f) => f.bytes(),
            Encoding::Wav(s) => s.bytes(),
            Encoding::Iq(r) => r.bytes(),
            Encoding::Sigmf(d) => d.bytes(),
        }
    }

    /// A short name for messages.
    pub fn name(self) -> String {
        match self {
            Encoding::Audio(f) => f.name().to_string(),
            Encoding::Wav(s) => s.name().to_string(),
            Encoding::Iq(r) => r.name().to_string(),
            Encoding::Sigmf(d) => d.to_string(),
        }
    }

    /// The bulk codec for these values, when it has one.
    pub fn codec(self) -> Option<Codec> {
        use crate::io::sigmf::Base;
        Some(match self {
            Encoding::Audio(f) => f.into(),
            Encoding::Wav(s) => s.into(),
            Encoding::Iq(r) => r.into(),
            Encoding::Sigmf(d) => match (d.base, d.big_endian) {
                (Base::I8, _) => Codec::S8,
                (Base::I16, false) => Codec::S16Le,
                (Base::I16, true) => Codec::S16Be,
                (Base::I32, false) => Codec::S32Le,
                (Base::F32, false) => Codec::F32Le,
                (Base::F32, true) => Codec::F32Be,
                (Base::F64, false) => Codec::F64Le,
                _ => return None,
            },
        })
    }

    /// Decodes `out.len()` values from `bytes` (`out.len() * self.bytes()` of them).
    pub fn decode(self, bytes: &[u8], out: &mut [f32]) {
        match (self.codec(), self) {
            (Some(c), _) => {
                c.decode(bytes, out);
            }
            (None, Encoding::Sigmf(d)) => d.decode(bytes, out),
            (None, _) => unreachable!("every other encoding has a codec"),
        }
    }

    /// Encodes `x` into `out` (replacing its contents); returns how many values were clipped to
    /// the integer range (NaN included).
    pub fn encode(self, x: &[f32], out: &mut Vec<u8>) -> u64 {
        out.clear();
        match (self.codec(), self) {
            (Some(c), _) => c.encode_append(x, out),
            (None, Encoding::Sigmf(d)) => {
                out.resize(x.len() * d.bytes(), 0);
                d.encode(x, out);
                x.iter().filter(|v| v.is_nan() || v.abs() > 1.0).count() as u64
            }
            (None, _) => unreachable!("every other encoding has a codec"),
        }
    }

    /// Whether values are floating point (no clipping, no integer path).
    pub fn is_float(self) -> bool {
        match self {
            Encoding::Audio(f) => f.is_float(),
            Encoding::Wav(s) => matches!(s, SampleFormat::F32 | SampleFormat::F64),
            Encoding::Iq(r) => r == RawIq::Cf32le,
            Encoding::Sigmf(d) => {
                matches!(
                    d.base,
                    crate::io::sigmf::Base::F32 | crate::io::sigmf::Base::F64
                )
            }
        }
    }

    /// The audio format with the same values, when there is one: the key of the lossless
    /// integer copy (`f32` cannot hold 32-bit integers exactly).
    pub fn audio_format(self) -> Option<RawFormat> {
        match self {
            Encoding::Audio(f) => Some(f),
            Encoding::Wav(s) => Some(match s {
                SampleFormat::U8 => RawFormat::U8,
                SampleFormat::I16 => RawFormat::S16Le,
                SampleFormat::I24 => RawFormat::S24Le,
                SampleFormat::I32 => RawFormat::S32Le,
                SampleFormat::F32 => RawFormat::F32Le,
                SampleFormat::F64 => RawFormat::F64Le,
            }),
            _ => None,
        }
    }

    /// The WAV sample type that stores these values (8-bit signed and big-endian formats map to
    /// their WAV equivalent).
    pub fn wav_format(self) -> Option<SampleFormat> {
        Some(match self {
            Encoding::Wav(s) => s,
            Encoding::Audio(f) => match f {
                RawFormat::U8 | RawFormat::S8 => SampleFormat::U8,
                RawFormat::S16Le | RawFormat::S16Be => SampleFormat::I16,
                RawFormat::S24Le => SampleFormat::I24,
                RawFormat::S32Le => SampleFormat::I32,
                RawFormat::F32Le | RawFormat::F32Be => SampleFormat::F32,
                RawFormat::F64Le => SampleFormat::F64,
            },
            Encoding::Iq(RawIq::Cs16le) => SampleFormat::I16,
            Encoding::Iq(RawIq::Cf32le) => SampleFormat::F32,
            _ => return None,
        })
    }

    /// The headerless I/Q format that stores these values exactly, when there is one.
    pub fn raw_iq(self) -> Option<RawIq> {
        match self {
            Encoding::Iq(r) => Some(r),
            Encoding::Wav(SampleFormat::I16) => Some(RawIq::Cs16le),
            Encoding::Wav(SampleFormat::F32) => Some(RawIq::Cf32le),
            Encoding::Sigmf(d) => RawIq::parse(&d.to_string()),
            _ => None,
        }
    }

    /// The SigMF datatype for these values stored as complex samples.
    pub fn sigmf_complex(self) -> DataType {
        let s = match self {
            Encoding::Sigmf(d) => return d,
            Encoding::Iq(RawIq::Cu8) => "cu8",
            Encoding::Iq(RawIq::Cs8) => "ci8",
            Encoding::Wav(SampleFormat::I16) | Encoding::Iq(RawIq::Cs16le) => "ci16_le",
            Encoding::Wav(SampleFormat::I24 | SampleFormat::I32) => "ci32_le",
            Encoding::Wav(SampleFormat::F64) => "cf64_le",
            Encoding::Wav(SampleFormat::U8) => "cu8",
            _ => "cf32_le",
        };
        DataType::parse(s).expect("valid datatype")
    }

    /// Integer values left-justified to 32 bits (lossless), for the formats that have them.
    pub fn decode_i32(self, bytes: &[u8], out: &mut [i32]) -> bool {
        self.codec()
            .and_then(|c| c.decode_i32(bytes, out))
            .is_some()
    }

    /// The inverse of [`decode_i32`](Self::decode_i32), appending to `out`.
    pub fn encode_i32(self, x: &[i32], out: &mut Vec<u8>) -> bool {
        let Some(c) = self.codec().filter(|c| !c.is_float()) else {
            return false;
        };
        let start = out.len();
        out.resize(start + x.len() * c.bytes(), 0);
        c.encode_i32(x, &mut out[start..]).is_some()
    }
}
