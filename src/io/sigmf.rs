//! SigMF recordings: a `.sigmf-meta` JSON document beside a headerless `.sigmf-data` file.
//!
//! Read: `global.core:datatype` (`[c|r]` + `f32|f64|i32|i16|i8|u32|u16|u8` + `_le|_be` for multi-byte
//! types), `core:sample_rate`, the first capture's `core:frequency` and `core:datetime`.
//! Normalisation: signed integers divide by 2^(bits−1); unsigned subtract the mid code first,
//! `u8` uses rtl_sdr's (x − 127.5)/127.5 so `cu8` matches the raw pipe format.
//! Write: the original document with a `specgate:processing` record appended to `global` (and
//! `specgate` declared in `core:extensions`), so provenance survives; every other key is kept.

use super::auxi::SystemTime;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Why a SigMF recording could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SigmfError {
    /// A file of the pair could not be read (`what`: "read" or "open").
    // The cause is shown in the message, not chained as a source: a chain printer
    // (`{:#}`) would print it twice.
    #[error("cannot {what} {path}: {error}")]
    File {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The metadata is not JSON.
    #[error("invalid SigMF metadata JSON: {0}")]
    Json(serde_json::Error),
    /// The metadata lacks a required key or has an unusable value.
    #[error("{0}")]
    Meta(String),
    /// An error in the metadata file at `path`.
    #[error("{path}: {error}")]
    In {
        path: PathBuf,
        error: Box<SigmfError>,
    },
}

/// Component type of a SigMF datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    F32,
    F64,
    I32,
    I16,
    I8,
    U32,
    U16,
    U8,
}

/// A parsed `core:datatype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataType {
    pub complex: bool,
    pub base: Base,
    pub big_endian: bool,
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = match self.base {
            Base::F32 => "f32",
            Base::F64 => "f64",
            Base::I32 => "i32",
            Base::I16 => "i16",
            Base::I8 => "i8",
            Base::U32 => "u32",
            Base::U16 => "u16",
            Base::U8 => "u8",
        };
        let e = if self.bytes() == 1 {
            ""
        } else if self.big_endian {
            "_be"
        } else {
            "_le"
        };
        write!(f, "{}{b}{e}", if self.complex { "c" } else { "r" })
    }
}

impl DataType {
    pub fn parse(s: &str) -> Option<DataType> {
        let s = s.trim().to_ascii_lowercase();
        let (complex, rest) = match s.as_bytes().first()? {
            b'c' => (true, &s[1..]),
            b'r' => (false, &s[1..]),
            _ => return None,
        };
        let (ty, big_endian) = if let Some(t) = rest.strip_suffix("_le") {
            (t, false)
        } else if let Some(t) = rest.strip_suffix("_be") {
            (t, true)
        } else {
            (rest, false)
        };
        let base = match ty {
            "f32" => Base::F32,
            "f64" => Base::F64,
            "i32" => Base::I32,
            "i16" => Base::I16,
            "i8" => Base::I8,
            "u32" => Base::U32,
            "u16" => Base::U16,
            "u8" => Base::U8,
            _ => return None,
        };
        let dt = DataType {
            complex,
            base,
            big_endian,
        };
        // Multi-byte types must name their byte order; one-byte types must not.
        let has_suffix = ty.len() != rest.len();
        (has_suffix == (dt.bytes() > 1)).then_some(dt)
    }

    /// Bytes per component.
    pub fn bytes(&self) -> usize {
        match self.base {
            Base::F64 => 8,
            Base::F32 | Base::I32 | Base::U32 => 4,
            Base::I16 | Base::U16 => 2,
            Base::I8 | Base::U8 => 1,
        }
    }

    /// Components per sample (2 for complex).
    pub fn components(&self) -> usize {
        if self.complex {
            2
        } else {
            1
        }
    }

    pub fn decode(&self, bytes: &[u8], out: &mut [f32]) {
        let n = self.bytes();
        let be = self.big_endian;
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(n)) {
            let mut a = [0u8; 8];
            if be {
                for (i, b) in c.iter().rev().enumerate() {
                    a[i] = *b;
                }
            } else {
                a[..n].copy_from_slice(c);
            }
            *o = match self.base {
                Base::F32 => f32::from_le_bytes([a[0], a[1], a[2], a[3]]),
                Base::F64 => f64::from_le_bytes(a) as f32,
                Base::I32 => {
                    (i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64 / 2_147_483_648.0) as f32
                }
                Base::I16 => i16::from_le_bytes([a[0], a[1]]) as f32 / 32768.0,
                Base::I8 => a[0] as i8 as f32 / 128.0,
                Base::U32 => {
                    ((u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64 - 2_147_483_648.0)
                        / 2_147_483_648.0) as f32
                }
                Base::U16 => (u16::from_le_bytes([a[0], a[1]]) as f32 - 32768.0) / 32768.0,
                Base::U8 => (a[0] as f32 - 127.5) / 127.5,
            };
        }
    }

    /// The inverse of [`decode`](Self::decode) (rounding, clipping).
    pub fn encode(&self, input: &[f32], bytes: &mut [u8]) {
        let n = self.bytes();
        for (c, x) in bytes.chunks_exact_mut(n).zip(input) {
            let x = if x.is_nan() { 0.0 } else { *x as f64 };
            let q =
                |scale: f64, off: f64, lo: f64, hi: f64| (x * scale + off).round().clamp(lo, hi);
            let a: [u8; 8] = match self.base {
                Base::F32 => pad((x as f32).to_le_bytes()),
                Base::F64 => x.to_le_bytes(),
                Base::I32 => pad((q(2_147_483_648.0, 0.0, -2_147_483_648.0, 2_147_483_647.0)
                    as i32)
                    .to_le_bytes()),
                Base::I16 => pad((q(32768.0, 0.0, -32768.0, 32767.0) as i16).to_le_bytes()),
                Base::I8 => pad([q(128.0, 0.0, -128.0, 127.0) as i8 as u8]),
                Base::U32 => pad((q(2_147_483_648.0, 2_147_483_648.0, 0.0, 4_294_967_295.0)
                    as u32)
                    .to_le_bytes()),
                Base::U16 => pad((q(32768.0, 32768.0, 0.0, 65535.0) as u16).to_le_bytes()),
                Base::U8 => pad([q(127.5, 127.5, 0.0, 255.0) as u8]),
            };
            if self.big_endian {
                for (i, b) in c.iter_mut().enumerate() {
                    *b = a[n - 1 - i];
                }
            } else {
                c.copy_from_slice(&a[..n]);
            }
        }
    }
}

fn pad<const N: usize>(b: [u8; N]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a[..N].copy_from_slice(&b);
    a
}

/// A SigMF recording (metadata in memory, samples on disk).
#[derive(Debug, Clone)]
pub struct SigmfFile {
    pub meta_path: PathBuf,
    pub data_path: PathBuf,
    /// The whole metadata document, kept to be written back.
    pub meta: Value,
    pub datatype: DataType,
    /// Samples per second (rounded to whole Hz).
    pub rate: u32,
    pub center_hz: Option<f64>,
    pub start: Option<SystemTime>,
    /// Usable bytes of `.sigmf-data` (whole samples).
    pub data_len: u64,
}

impl SigmfFile {
    /// Frames (complex samples for complex types).
    pub fn frames(&self) -> u64 {
        self.data_len / (self.datatype.bytes() * self.datatype.components()) as u64
    }

    /// Opens from either file of the pair (or the shared base name).
    pub fn open(path: &Path) -> Result<SigmfFile, SigmfError> {
        let (meta_path, data_path) = pair(path);
        let text = std::fs::read_to_string(&meta_path).map_err(|error| SigmfError::File {
            what: "read",
            path: meta_path.clone(),
            error,
        })?;
        let meta = parse_meta(&text).map_err(|e| SigmfError::In {
            path: meta_path.clone(),
            error: Box::new(e),
        })?;
        let data_len = std::fs::metadata(&data_path)
            .map_err(|error| SigmfError::File {
                what: "open",
                path: data_path.clone(),
                error,
            })?
            .len();
        let mut s = SigmfFile {
            meta_path,
            data_path,
            ..meta
        };
        let unit = (s.datatype.bytes() * s.datatype.components()) as u64;
        s.data_len = data_len - data_len % unit;
        Ok(s)
    }
}

/// The `.sigmf-meta` / `.sigmf-data` paths for any of the pair's names.
pub fn pair(path: &Path) -> (PathBuf, PathBuf) {
    let s = path.to_string_lossy();
    let base = s
        .strip_suffix(".sigmf-meta")
        .or_else(|| s.strip_suffix(".sigmf-data"))
        .or_else(|| s.strip_suffix(".sigmf"))
        .unwrap_or(&s)
        .to_string();
    (
        PathBuf::from(format!("{base}.sigmf-meta")),
        PathBuf::from(format!("{base}.sigmf-data")),
    )
}

/// Parses a metadata document (paths left empty, `data_len` 0).
pub fn parse_meta(text: &str) -> Result<SigmfFile, SigmfError> {
    let meta: Value = serde_json::from_str(text).map_err(SigmfError::Json)?;
    let missing = |what: &str| SigmfError::Meta(format!("SigMF metadata has no {what}"));
    let global = meta
        .get("global")
        .and_then(Value::as_object)
        .ok_or_else(|| missing("`global` object"))?;
    let dt_s = global
        .get("core:datatype")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("`core:datatype`"))?;
    let datatype = DataType::parse(dt_s)
        .ok_or_else(|| SigmfError::Meta(format!("unsupported SigMF datatype '{dt_s}'")))?;
    let rate_f = global
        .get("core:sample_rate")
        .and_then(Value::as_f64)
        .ok_or_else(|| missing("`core:sample_rate`"))?;
    if !(1.0..4.295e9).contains(&rate_f) {
        return Err(SigmfError::Meta(format!(
            "SigMF sample rate {rate_f} is out of range"
        )));
    }
    let cap0 = meta
        .get("captures")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    let center_hz = cap0
        .and_then(|c| c.get("core:frequency"))
        .and_then(Value::as_f64)
        .filter(|f| f.is_finite());
    let start = cap0
        .and_then(|c| c.get("core:datetime"))
        .and_then(Value::as_str)
        .and_then(parse_iso8601);
    Ok(SigmfFile {
        meta_path: PathBuf::new(),
        data_path: PathBuf::new(),
        meta: meta.clone(),
        datatype,
        rate: rate_f.round() as u32,
        center_hz,
        start,
        data_len: 0,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fff…]Z` → time (UTC only, as SigMF requires).
pub fn parse_iso8601(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<u16>().ok();
    let millis = if b.get(19) == Some(&b'.') {
        let frac: String = s[20..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .chain("000".chars())
            .take(3)
            .collect();
        frac.parse::<u16>().ok()?
    } else {
        0
    };
    let t = SystemTime {
        year: n(0..4)?,
        month: n(5..7)?,
        day: n(8..10)?,
        hour: n(11..13)?,
        minute: n(14..16)?,
        second: n(17..19)?,
        millis,
    };
    t.is_valid().then_some(t)
}

/// The metadata document to write beside a processed `.sigmf-data`: the original with a
/// processing record (free-form JSON from the caller) appended to `global.specgate:processing`.
pub fn processed_meta(original: &Value, record: Value) -> Value {
    let mut m = original.clone();
    if let Some(g) = m.get_mut("global").and_then(Value::as_object_mut) {
        let list = g
            .entry("specgate:processing")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        if let Some(a) = list.as_array_mut() {
            a.push(record);
        }
        let ext = g
            .entry("core:extensions")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(a) = ext.as_array_mut() {
            if !a.iter().any(|e| e.get("name") == Some(&json!("specgate"))) {
                a.push(json!({"name": "specgate", "version": env!("CARGO_PKG_VERSION"), "optional": true}));
            }
        }
        // The data file content changed: its hash no longer holds.
        g.remove("core:sha512");
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datatypes_parse_and_reject_malformed_names() {
        let c = DataType::parse("cf32_le").unwrap();
        assert!(c.complex && c.base == Base::F32 && !c.big_endian);
        assert_eq!(DataType::parse("ci16_le").unwrap().to_string(), "ci16_le");
        assert_eq!(DataType::parse("cu8").unwrap().bytes(), 1);
        assert!(!DataType::parse("ri16_be").unwrap().complex);
        assert!(DataType::parse("cf32").is_none());
        assert!(DataType::parse("ci8_le").is_none());
        assert!(DataType::parse("x").is_none());
        assert!(DataType::parse("").is_none());
    }

    #[test]
    fn every_datatype_round_trips_its_codes() {
        for s in [
            "ci8", "cu8", "ci16_le", "ci16_be", "cu16_le", "cf32_le", "cf32_be", "rf64_le",
            "ri32_le",
        ] {
            let dt = DataType::parse(s).unwrap();
            let bytes: Vec<u8> = (0..64 * dt.bytes()).map(|i| (i * 29 + 3) as u8).collect();
            let mut x = vec![0.0; 64];
            dt.decode(&bytes, &mut x);
            if matches!(dt.base, Base::F32 | Base::F64 | Base::I32) {
                continue; // arbitrary bytes may be NaN or exceed f32 precision
            }
            let mut back = vec![0; bytes.len()];
            dt.encode(&x, &mut back);
            assert_eq!(back, bytes, "{s}");
        }
        // Big-endian i16: 0x4000 = 16384 → 0.5.
        let mut x = [0.0];
        DataType::parse("ri16_be")
            .unwrap()
            .decode(&[0x40, 0x00], &mut x);
        assert_eq!(x, [0.5]);
    }

    #[test]
    fn meta_gives_rate_centre_and_start_and_processing_is_appended() {
        let text = r#"{"global":{"core:datatype":"ci16_le","core:sample_rate":2000000,
            "core:version":"1.0.0","core:sha512":"ab"},
            "captures":[{"core:sample_start":0,"core:frequency":100900000,
            "core:datetime":"2024-03-27T11:06:12.5Z"}],"annotations":[]}"#;
        let s = parse_meta(text).unwrap();
        assert_eq!(s.rate, 2_000_000);
        assert_eq!(s.center_hz, Some(100_900_000.0));
        assert_eq!(s.start.unwrap().to_string(), "2024-03-27T11:06:12.500Z");
        let m = processed_meta(&s.meta, json!({"preset": "iq"}));
        assert_eq!(m["global"]["specgate:processing"][0]["preset"], "iq");
        assert_eq!(m["global"]["core:version"], "1.0.0");
        assert!(m["global"].get("core:sha512").is_none());
        assert_eq!(m["captures"], s.meta["captures"]);
        assert!(parse_meta("{}").is_err());
        assert!(
            parse_meta(r#"{"global":{"core:datatype":"cf32_le","core:sample_rate":-1}}"#).is_err()
        );
    }
}
