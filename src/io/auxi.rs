//! The `auxi` RIFF chunk of SDR recorders (SpectraVue → Winrad/HDSDR, SDRuno, SDR Console).
//!
//! Binary layout (little-endian, packed): StartTime and StopTime as Win32 SYSTEMTIME (8 × u16:
//! year, month, day-of-week, day, hour, minute, second, millisecond; UTC), then u32 centre
//! frequency Hz, A/D rate, IF frequency, bandwidth, IQ offset, four unused words, and in the
//! 164-byte variant a 96-byte NUL-terminated next-file name. The 68-byte variant stops before the
//! name. SDR Console writes a UTF-16LE XML document (`<SDR-XML-Root><Definition … />`) instead.
//! An input's chunk is always copied verbatim to outputs; [`build`] writes one for I/Q outputs
//! whose input had none.

/// A UTC calendar time as stored in a SYSTEMTIME (no time-zone conversion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemTime {
    pub year: u16,
    pub month: u16,
    pub day: u16,
    pub hour: u16,
    pub minute: u16,
    pub second: u16,
    pub millis: u16,
}

impl SystemTime {
    /// Decodes 16 bytes; `None` for an all-zero or out-of-range time.
    pub fn from_bytes(b: &[u8]) -> Option<SystemTime> {
        if b.len() < 16 {
            return None;
        }
        let w = |i: usize| u16::from_le_bytes([b[2 * i], b[2 * i + 1]]);
        let t = SystemTime {
            year: w(0),
            month: w(1),
            day: w(3),
            hour: w(4),
            minute: w(5),
            second: w(6),
            millis: w(7),
        };
        t.is_valid().then_some(t)
    }

    pub fn is_valid(&self) -> bool {
        (1601..=30827).contains(&self.year)
            && (1..=12).contains(&self.month)
            && (1..=31).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 61
            && self.millis < 1000
    }

    /// Encodes to the 16-byte SYSTEMTIME (day of week computed).
    pub fn to_bytes(&self) -> [u8; 16] {
        let dow = day_of_week(self.year, self.month, self.day);
        let words = [
            self.year,
            self.month,
            dow,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.millis,
        ];
        let mut b = [0u8; 16];
        for (i, w) in words.iter().enumerate() {
            b[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes());
        }
        b
    }
}

impl std::fmt::Display for SystemTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.millis > 0 {
            write!(f, ".{:03}", self.millis)?;
        }
        write!(f, "Z")
    }
}

/// 0 = Sunday (Sakamoto's method).
fn day_of_week(y: u16, m: u16, d: u16) -> u16 {
    const T: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let mut y = y as i32;
    if m < 3 {
        y -= 1;
    }
    let m = (m.clamp(1, 12) - 1) as usize;
    ((y + y / 4 - y / 100 + y / 400 + T[m] + d as i32).rem_euclid(7)) as u16
}

/// Which `auxi` flavour a chunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuxiKind {
    /// 164 bytes with next-file name (HDSDR, SDRuno).
    Full,
    /// 68 bytes, no next-file name.
    Short,
    /// Another binary size ≥ 40 bytes (the fixed fields are read).
    Other(usize),
    /// SDR Console: UTF-16LE XML.
    Xml,
}

/// The decoded fields (all optional: recorders leave many zero).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Auxi {
    pub kind: Option<AuxiKind>,
    pub start: Option<SystemTime>,
    pub stop: Option<SystemTime>,
    /// Receiver centre frequency, Hz.
    pub center_hz: Option<f64>,
    /// A/D rate before decimation (not the stream rate), Hz.
    pub ad_rate_hz: Option<u32>,
    pub if_hz: Option<u32>,
    pub bandwidth_hz: Option<u32>,
    pub next_file: Option<String>,
    /// SDR Console XML: declared sample rate.
    pub xml_rate: Option<f64>,
}

/// Decodes an `auxi` payload; `None` if it is too short to be one.
pub fn parse(d: &[u8]) -> Option<Auxi> {
    if d.len() >= 12 && is_utf16_xml(d) {
        return Some(parse_xml(d));
    }
    if d.len() < 40 {
        return None;
    }
    let u32at = |o: usize| u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
    let nz = |v: u32| (v != 0).then_some(v);
    let kind = match d.len() {
        164 => AuxiKind::Full,
        68 => AuxiKind::Short,
        n => AuxiKind::Other(n),
    };
    let next_file = if d.len() >= 164 {
        let name = &d[68..164];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        let s = String::from_utf8_lossy(&name[..end]).trim().to_string();
        (!s.is_empty()).then_some(s)
    } else {
        None
    };
    Some(Auxi {
        kind: Some(kind),
        start: SystemTime::from_bytes(&d[0..16]),
        stop: SystemTime::from_bytes(&d[16..32]),
        center_hz: nz(u32at(32)).map(|v| v as f64),
        ad_rate_hz: nz(u32at(36)),
        if_hz: if d.len() >= 44 { nz(u32at(40)) } else { None },
        bandwidth_hz: if d.len() >= 48 { nz(u32at(44)) } else { None },
        next_file,
        xml_rate: None,
    })
}

/// Builds a 164-byte `auxi` payload from what is known (unknown fields stay zero, as recorders
/// leave them): written into I/Q WAV outputs whose input had no `auxi` chunk (a recording known
/// as I/Q by its file name, SigMF or a raw format), so the output stays I/Q with its centre
/// frequency. An input's own `auxi` chunk is always copied verbatim instead.
pub fn build(
    start: Option<SystemTime>,
    stop: Option<SystemTime>,
    center_hz: Option<f64>,
) -> Vec<u8> {
    let mut d = vec![0u8; 164];
    if let Some(t) = start {
        d[0..16].copy_from_slice(&t.to_bytes());
    }
    if let Some(t) = stop {
        d[16..32].copy_from_slice(&t.to_bytes());
    }
    if let Some(f) = center_hz.filter(|f| *f >= 1.0 && *f <= u32::MAX as f64) {
        d[32..36].copy_from_slice(&(f.round() as u32).to_le_bytes());
    }
    d
}

/// Builds a 164-byte `auxi` payload (used by tests and fixtures).
pub fn build164(start: SystemTime, stop: SystemTime, center_hz: u32) -> Vec<u8> {
    let mut d = vec![0u8; 164];
    d[0..16].copy_from_slice(&start.to_bytes());
    d[16..32].copy_from_slice(&stop.to_bytes());
    d[32..36].copy_from_slice(&center_hz.to_le_bytes());
    d[52..56].copy_from_slice(&0xE49B_72A9u32.to_le_bytes()); // SDRuno's constant
    d
}

fn is_utf16_xml(d: &[u8]) -> bool {
    let body = d.strip_prefix(&[0xFF, 0xFE]).unwrap_or(d);
    body.len() >= 12 && body[..12] == *b"<\0?\0x\0m\0l\0 \0"
}

fn utf16le(d: &[u8]) -> String {
    let body = d.strip_prefix(&[0xFF, 0xFE]).unwrap_or(d);
    let units: Vec<u16> = body
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

/// Value of `name="…"` (or `'…'`) in an XML text, first occurrence, without a full XML parser:
/// SDR Console's document is one flat element with attributes.
fn xml_attr<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = text[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || text[..at].ends_with(|c: char| c.is_whitespace());
        let rest = text[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        let q = rest.chars().next()?;
        if q != '"' && q != '\'' {
            return None;
        }
        let end = rest[1..].find(q)?;
        return Some(&rest[1..1 + end]);
    }
    None
}

fn parse_xml(d: &[u8]) -> Auxi {
    let text = utf16le(d);
    let num = |k: &str| xml_attr(&text, k).and_then(|v| v.trim().parse::<f64>().ok());
    let start = num("UTCSeconds").and_then(|s| from_unix(s as i64));
    Auxi {
        kind: Some(AuxiKind::Xml),
        start,
        stop: None,
        center_hz: num("RadioCenterFreq").filter(|v| *v > 0.0),
        xml_rate: num("SampleRate").filter(|v| *v > 0.0),
        ..Auxi::default()
    }
}

/// Calendar time of a Unix timestamp (UTC), years 1970–9999.
pub fn from_unix(secs: i64) -> Option<SystemTime> {
    if !(0..253_402_300_800).contains(&secs) {
        return None;
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    Some(SystemTime {
        year: year as u16,
        month: month as u16,
        day: day as u16,
        hour: (rem / 3600) as u16,
        minute: (rem / 60 % 60) as u16,
        second: (rem % 60) as u16,
        millis: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(y: u16, mo: u16, d: u16, h: u16, mi: u16, s: u16) -> SystemTime {
        SystemTime {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
            millis: 0,
        }
    }

    #[test]
    fn full_auxi_decodes_centre_and_times() {
        let d = build164(t(2022, 3, 9, 14, 1, 38), t(2022, 3, 9, 14, 2, 0), 7_150_000);
        let a = parse(&d).unwrap();
        assert_eq!(a.kind, Some(AuxiKind::Full));
        assert_eq!(a.center_hz, Some(7_150_000.0));
        assert_eq!(a.start.unwrap().to_string(), "2022-03-09T14:01:38Z");
        assert_eq!(a.stop.unwrap().second, 0);
        // 2022-03-09 was a Wednesday (3).
        assert_eq!(u16::from_le_bytes([d[4], d[5]]), 3);
        let short = parse(&d[..68]).unwrap();
        assert_eq!(short.kind, Some(AuxiKind::Short));
        assert_eq!(short.center_hz, Some(7_150_000.0));
    }

    #[test]
    fn sdr_console_xml_auxi_gives_centre_rate_and_start() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><SDR-XML-Root><Definition \
                   RadioCenterFreq=\"14074000\" SampleRate=\"192000\" UTCSeconds=\"1700000000\"/>\
                   </SDR-XML-Root>";
        let d: Vec<u8> = xml.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let a = parse(&d).unwrap();
        assert_eq!(a.kind, Some(AuxiKind::Xml));
        assert_eq!(a.center_hz, Some(14_074_000.0));
        assert_eq!(a.xml_rate, Some(192_000.0));
        // 1700000000 = 2023-11-14T22:13:20Z (date -u -d @1700000000).
        assert_eq!(a.start.unwrap().to_string(), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn short_or_garbage_auxi_is_rejected_without_panic() {
        assert!(parse(&[0; 10]).is_none());
        let a = parse(&[0xFF; 40]).unwrap();
        assert!(a.start.is_none());
    }
}
