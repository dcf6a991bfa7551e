//! IQ recordings: the file-name patterns of SDR recorders and the headerless raw IQ formats of
//! SDR pipes. What an input *is* (WAV, SigMF, raw; I/Q or audio) is decided in one place, the
//! stream core's probe (`crate::stream::probe`), which uses these.
//!
//! File names: SDRuno, HDSDR, SDR#, HackRF/AirSpy, SDRconnect, SDR++, gqrx and KiwiSDR (see
//! `shared/notes/sdr-formats.md` §1.1). Audio-recording names of the same programs (`_AF`,
//! `audio_`) count as "not IQ".

use super::auxi::SystemTime;

/// Headerless interleaved I/Q sample formats (little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawIq {
    /// Unsigned 8-bit, offset 127.5 (rtl_sdr): x = (b − 127.5) / 127.5.
    Cu8,
    /// Signed 8-bit: x = b / 128.
    Cs8,
    /// Signed 16-bit: x = v / 32768.
    Cs16le,
    /// 32-bit float, taken as is.
    Cf32le,
}

impl RawIq {
    /// Parses `cu8`, `cs8`, `cs16le`, `cf32le` and the SigMF/csdr aliases.
    pub fn parse(s: &str) -> Option<RawIq> {
        Some(match s.to_ascii_lowercase().as_str() {
            "cu8" | "u8" => RawIq::Cu8,
            "cs8" | "ci8" | "s8" => RawIq::Cs8,
            "cs16le" | "cs16" | "ci16_le" | "ci16" | "s16le" => RawIq::Cs16le,
            "cf32le" | "cf32" | "cf32_le" | "fc32" | "f32le" => RawIq::Cf32le,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            RawIq::Cu8 => "cu8",
            RawIq::Cs8 => "cs8",
            RawIq::Cs16le => "cs16le",
            RawIq::Cf32le => "cf32le",
        }
    }
    /// Bytes per real component.
    pub fn bytes(self) -> usize {
        match self {
            RawIq::Cu8 | RawIq::Cs8 => 1,
            RawIq::Cs16le => 2,
            RawIq::Cf32le => 4,
        }
    }
    /// From a file extension (`.cu8`, `.cs16`, `.cfile`, …).
    pub fn from_extension(ext: &str) -> Option<RawIq> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "cu8" => RawIq::Cu8,
            "cs8" => RawIq::Cs8,
            "cs16" | "cs16le" => RawIq::Cs16le,
            "cf32" | "cfile" | "fc32" => RawIq::Cf32le,
            _ => return None,
        })
    }

    /// Decodes `bytes` (a whole number of components) into f32 components, through the one
    /// [`codec`](super::codec).
    pub fn decode(self, bytes: &[u8], out: &mut [f32]) {
        super::codec::Encoding::from(self).decode(bytes, out);
    }

    /// Encodes (rounding, clipping); the exact inverse of [`decode`](Self::decode).
    pub fn encode(self, input: &[f32], bytes: &mut [u8]) {
        super::codec::Encoding::from(self).encode(input, bytes);
    }
}

/// What a file-name pattern says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NameInfo {
    /// The recording program the pattern belongs to.
    pub program: &'static str,
    /// `Some(true)` for an IQ recording, `Some(false)` for an audio recording.
    pub iq: Option<bool>,
    pub center_hz: Option<f64>,
    pub start: Option<SystemTime>,
    pub rate_hint: Option<u32>,
}

/// `<number>[k|M]Hz` (case-insensitive) → Hz.
fn parse_freq_token(t: &str) -> Option<f64> {
    let l = t.to_ascii_lowercase();
    let (num, mul) = if let Some(n) = l.strip_suffix("khz") {
        (n, 1e3)
    } else if let Some(n) = l.strip_suffix("mhz") {
        (n, 1e6)
    } else if let Some(n) = l.strip_suffix("hz") {
        (n, 1.0)
    } else {
        return None;
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    num.parse::<f64>().ok().map(|v| v * mul)
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYYMMDD` + `HHMMSS[Z]` → time.
fn parse_date_time(d: &str, t: &str) -> Option<SystemTime> {
    let t = t.strip_suffix(['Z', 'z']).unwrap_or(t);
    if !digits(d, 8) || !digits(t, 6) {
        return None;
    }
    let n = |s: &str| s.parse::<u16>().ok();
    let st = SystemTime {
        year: n(&d[0..4])?,
        month: n(&d[4..6])?,
        day: n(&d[6..8])?,
        hour: n(&t[0..2])?,
        minute: n(&t[2..4])?,
        second: n(&t[4..6])?,
        millis: 0,
    };
    st.is_valid().then_some(st)
}

/// Reads the program, IQ/audio kind, centre frequency and start time from a recording's name.
pub fn parse_file_name(name: &str) -> Option<NameInfo> {
    let stem = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = stem.rsplit_once('.').map(|(s, _)| s).unwrap_or(stem);
    let tok: Vec<&str> = stem.split('_').collect();
    let lower: Vec<String> = tok.iter().map(|t| t.to_ascii_lowercase()).collect();
    let first = lower.first()?.as_str();
    let last = lower.last()?.as_str();
    let freq = tok.iter().find_map(|t| parse_freq_token(t));
    let time_at = |i: usize| {
        tok.get(i)
            .zip(tok.get(i + 1))
            .and_then(|(d, t)| parse_date_time(d, t))
    };
    let mut info = NameInfo {
        center_hz: freq,
        ..NameInfo::default()
    };
    match first {
        "sdruno" => {
            info.program = "SDRuno";
            info.iq = Some(!lower.iter().any(|t| t == "af"));
            info.start = time_at(1);
        }
        "hdsdr" | "sdrsharp" | "hackrf" | "airspy" => {
            info.program = match first {
                "hdsdr" => "HDSDR",
                "sdrsharp" => "SDR#",
                "hackrf" => "hackrf_transfer",
                _ => "airspy_rx",
            };
            info.iq = match last {
                "rf" | "iq" => Some(true),
                "af" => Some(false),
                _ => None,
            };
            info.start = time_at(1);
        }
        "sdrconnect" => {
            info.program = "SDRconnect";
            info.iq = Some(lower.get(1).map(|s| s == "iq").unwrap_or(false));
            info.start = time_at(2);
        }
        "baseband" | "audio" if freq.is_some() => {
            info.program = "SDR++";
            info.iq = Some(first == "baseband");
            // `$t_$f_$h-$m-$s_$d-$M-$y`
            if let (Some(hms), Some(dmy)) = (tok.get(2), tok.get(3)) {
                let h: Vec<&str> = hms.split('-').collect();
                let d: Vec<&str> = dmy.split('-').collect();
                if h.len() == 3 && d.len() == 3 && digits(d[2], 4) {
                    let t = format!("{}{}{}", h[0], h[1], h[2]);
                    let dd = format!("{}{}{}", d[2], d[1], d[0]);
                    info.start = parse_date_time(&dd, &t);
                }
            }
        }
        "gqrx" => {
            info.program = "gqrx";
            info.start = time_at(1);
            // gqrx_yyyyMMdd_hhmmss_<freq>_<rate>_fc (IQ) or gqrx_yyyyMMdd_hhmmss_<freq> (audio)
            let num = |i: usize| tok.get(i).and_then(|s| s.parse::<f64>().ok());
            info.center_hz = num(3);
            if last == "fc" {
                info.iq = Some(true);
                info.rate_hint = num(4).filter(|r| *r >= 1.0 && *r < 4.3e9).map(|r| r as u32);
            } else {
                info.iq = Some(false);
            }
        }
        _ => {
            // KiwiSDR: 20190226T183722Z_1440000_iq
            let (d, t) = tok.first()?.split_once(['T', 't'])?;
            let start = parse_date_time(d, t)?;
            info.program = "KiwiSDR";
            info.start = Some(start);
            info.center_hz = tok.get(1).and_then(|s| s.parse::<f64>().ok());
            info.iq = Some(last == "iq");
        }
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_file_names_give_program_kind_and_centre() {
        let cases: &[(&str, &str, Option<bool>, f64)] = &[
            (
                "SDRuno_20220309_140138Z_7150kHz.wav",
                "SDRuno",
                Some(true),
                7_150_000.0,
            ),
            (
                "SDRuno_20220309_140138Z_7150.5kHz.wav",
                "SDRuno",
                Some(true),
                7_150_500.0,
            ),
            (
                "HDSDR_20180225_174354Z_7255kHz_RF.wav",
                "HDSDR",
                Some(true),
                7_255_000.0,
            ),
            (
                "HDSDR_20180225_174354Z_7255kHz_AF.wav",
                "HDSDR",
                Some(false),
                7_255_000.0,
            ),
            (
                "SDRSharp_20160101_231914Z_12kHz_IQ.wav",
                "SDR#",
                Some(true),
                12_000.0,
            ),
            (
                "SDRSharp_20160101_231914Z_14074000Hz_IQ.wav",
                "SDR#",
                Some(true),
                14_074_000.0,
            ),
            (
                "SDRconnect_IQ_20250520_164031_137110000HZ.wav",
                "SDRconnect",
                Some(true),
                137_110_000.0,
            ),
            (
                "baseband_7074000Hz_12-34-56_01-02-2025.wav",
                "SDR++",
                Some(true),
                7_074_000.0,
            ),
            (
                "audio_7074000Hz_12-34-56_01-02-2025.wav",
                "SDR++",
                Some(false),
                7_074_000.0,
            ),
            (
                "gqrx_20240327_110612_100900000_1800000_fc.raw",
                "gqrx",
                Some(true),
                100_900_000.0,
            ),
            (
                "20190226T183722Z_1440000_iq.wav",
                "KiwiSDR",
                Some(true),
                1_440_000.0,
            ),
        ];
        for (name, prog, iq, f) in cases {
            let n = parse_file_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(
                (n.program, n.iq, n.center_hz),
                (*prog, *iq, Some(*f)),
                "{name}"
            );
            assert!(n.start.is_some(), "{name}: no start time");
        }
        let g = parse_file_name("gqrx_20240327_110612_100900000_1800000_fc.raw").unwrap();
        assert_eq!(g.rate_hint, Some(1_800_000));
        let s = parse_file_name("baseband_7074000Hz_12-34-56_01-02-2025.wav").unwrap();
        assert_eq!(s.start.unwrap().to_string(), "2025-02-01T12:34:56Z");
        assert!(parse_file_name("holiday.wav").is_none());
        assert!(parse_file_name("").is_none());
    }

    #[test]
    fn raw_formats_round_trip_every_code() {
        for f in [RawIq::Cu8, RawIq::Cs8] {
            let bytes: Vec<u8> = (0..=255).collect();
            let mut x = vec![0.0; 256];
            f.decode(&bytes, &mut x);
            let mut back = vec![0; 256];
            f.encode(&x, &mut back);
            assert_eq!(back, bytes, "{f:?}");
        }
        // rtl_sdr's convention: 0 → −1, 255 → +1, 127/128 straddle zero.
        let mut x = [0.0; 4];
        RawIq::Cu8.decode(&[0, 255, 127, 128], &mut x);
        assert_eq!(x, [-1.0, 1.0, -0.5 / 127.5, 0.5 / 127.5]);
    }
}
