//! The one parser for quantities people type: sample rates (`48k`, `2.4M`), frequencies
//! (`7.15M`, `-50k`), durations (`500ms`, `2s`) and frequency bands (`300:3000`, `-50k:+120k`).
//!
//! Every command-line flag, parameter override and preset value that carries one of these goes
//! through here (no clap: the library can parse what a user typed). The grammar:
//!
//! * a number as Rust reads it (`48000`, `44.1`, `1e3`, `+5`, `-50`), then
//! * an optional SI multiplier: `k`/`K` (10³), `M` (10⁶), `G`/`g` (10⁹). A lone `m` is refused
//!   (milli or mega? — write `M`).
//!
//! Results must be finite: `inf`, `NaN` and overflowing exponents are errors, never values.

use std::fmt;

/// A value that does not parse, with what was typed and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(pub String);

impl From<UnitError> for String {
    fn from(e: UnitError) -> String {
        e.0
    }
}

fn err(msg: impl fmt::Display) -> UnitError {
    UnitError(msg.to_string())
}

/// A plain number with an optional SI multiplier (`7.1M` → 7 100 000), rounded to 1 µ-unit so
/// `44.1k` is exactly 44 100.
pub fn parse_si(s: &str) -> Result<f64, UnitError> {
    let t = s.trim();
    let (num, mul) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G' | 'g') => (&t[..t.len() - 1], 1e9),
        Some('m') => {
            return Err(err(format_args!(
                "'{s}': 'm' is ambiguous (milli or mega?): write M for 10⁶"
            )))
        }
        _ => (t, 1.0),
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        err(format_args!(
            "'{s}' is not a number (examples: 48000, 48k, 7.1M)"
        ))
    })?;
    let v = v * mul;
    if !v.is_finite() {
        return Err(err(format_args!("'{s}' is not finite")));
    }
    Ok((v * 1e6).round() / 1e6)
}

/// A sample rate in Hz: `48000`, `48k`, `44.1k`, `2.4M`. A whole, positive number of Hz that fits
/// a `u32` (a WAV header's field); the limits of a command are checked by the command.
pub fn parse_rate(s: &str) -> Result<u32, UnitError> {
    let bad = || {
        err(format_args!(
            "invalid sample rate '{s}' (examples: 48000, 48k, 44.1k, 2.4M)"
        ))
    };
    let hz = parse_si(s).map_err(|_| bad())?;
    if hz <= 0.0 {
        return Err(err(format_args!(
            "sample rate must be positive (got '{s}')"
        )));
    }
    if hz.fract() != 0.0 || hz > u32::MAX as f64 {
        return Err(err(format_args!(
            "sample rate '{s}' is not a whole number of Hz below 4.3 GHz"
        )));
    }
    Ok(hz as u32)
}

/// A frequency in Hz (`7100000`, `7.1M`, `455k`, `-50k`: I/Q offsets may be negative).
pub fn parse_freq(s: &str) -> Result<f64, UnitError> {
    parse_si(s).map_err(|e| {
        if e.0.ends_with("is not finite") || e.0.contains("ambiguous") {
            e
        } else {
            err(format_args!(
                "'{s}' is not a frequency (examples: 7100000, 7.1M, 455k)"
            ))
        }
    })
}

/// A duration in seconds: `500ms`, `2s`, `1.5min`, or a bare number of seconds (`2.5`). Not
/// negative, finite.
pub fn parse_duration(s: &str) -> Result<f64, UnitError> {
    let t = s.trim();
    let (num, mul) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("min") {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t, 1.0)
    };
    let bad = || {
        err(format_args!(
            "'{s}' is not a duration (examples: 500ms, 2s, 1.5min, 0.25)"
        ))
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let v = v * mul;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok(v)
}

/// A frequency band `LOW:HIGH` in Hz (`300:3000`, `-50k:+120k`, `7.15M:7.2M`), LOW < HIGH.
/// `LOW-HIGH` is accepted where neither edge is negative (`300-3000`).
pub fn parse_band(s: &str) -> Result<(f64, f64), UnitError> {
    let t = s.trim();
    let (a, b) = match t.split_once(':') {
        Some(p) => p,
        // `300-3000`: the first '-' after a digit or suffix that is not an exponent's sign.
        None => split_dash(t).ok_or_else(|| {
            err(format_args!(
                "band '{s}': expected LOW:HIGH, e.g. 300:3000 or -50k:+120k"
            ))
        })?,
    };
    let edge = |e: &str| {
        parse_si(e).map_err(|_| {
            err(format_args!(
                "band '{s}': '{}' is not a frequency",
                e.trim()
            ))
        })
    };
    let (lo, hi) = (edge(a)?, edge(b)?);
    if lo >= hi {
        return Err(err(format_args!(
            "band '{s}': low edge must be below the high edge"
        )));
    }
    Ok((lo, hi))
}

/// Splits `300-3000` / `1e3-2e3` / `3k-4k` at the dash between two non-negative numbers.
fn split_dash(t: &str) -> Option<(&str, &str)> {
    let b = t.as_bytes();
    (1..b.len())
        .find(|&i| b[i] == b'-' && !matches!(b[i - 1], b'e' | b'E' | b'-' | b'+'))
        .map(|i| (&t[..i], &t[i + 1..]))
}

/// A value of a parameter as typed on the command line or as a string in a config file: numbers
/// take SI multipliers (`--low-hz 3k`), everything else its own `FromStr`.
pub trait UnitValue: Sized {
    fn parse_unit(s: &str) -> Result<Self, UnitError>;
}

impl UnitValue for f64 {
    fn parse_unit(s: &str) -> Result<f64, UnitError> {
        parse_si(s)
    }
}

impl UnitValue for u32 {
    fn parse_unit(s: &str) -> Result<u32, UnitError> {
        let v = parse_si(s)?;
        if v.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&v) {
            return Err(err(format_args!(
                "'{s}' is not a whole number from 0 to {}",
                u32::MAX
            )));
        }
        Ok(v as u32)
    }
}

impl UnitValue for bool {
    fn parse_unit(s: &str) -> Result<bool, UnitError> {
        s.trim()
            .parse()
            .map_err(|_| err(format_args!("'{s}' is not true or false")))
    }
}

/// Reads an optional parameter from a config file: its natural TOML form (`300`, `true`,
/// `"hann"`) or a string in the units grammar (`"3.4k"`), for `#[serde(deserialize_with)]`.
pub fn de_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: UnitValue + serde::Deserialize<'de>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Typed<T> {
        Plain(T),
        Text(String),
    }
    match <Typed<T> as serde::Deserialize>::deserialize(d) {
        Ok(Typed::Plain(v)) => Ok(Some(v)),
        Ok(Typed::Text(s)) => T::parse_unit(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
        Err(_) => Err(serde::de::Error::custom(
            "expected a number, true/false or a string such as \"3.4k\"",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_numbers_take_k_m_g_and_are_exact_for_decimal_rates() {
        assert_eq!(parse_si("48k"), Ok(48_000.0));
        assert_eq!(parse_si(" 44.1k "), Ok(44_100.0));
        assert_eq!(parse_si("7.15M"), Ok(7_150_000.0));
        assert_eq!(parse_si("1.2G"), Ok(1.2e9));
        assert_eq!(parse_si("-50k"), Ok(-50_000.0));
        assert_eq!(parse_si("+5"), Ok(5.0));
        assert_eq!(parse_si("1e3"), Ok(1000.0));
    }

    #[test]
    fn hostile_strings_are_errors_never_values_or_panics() {
        let long = "9".repeat(10_000);
        let hostile = [
            "",
            " ",
            "k",
            "M",
            "kk",
            "48kk",
            "48 k Hz",
            "48kHz",
            "inf",
            "-inf",
            "NaN",
            "nan",
            "infinity",
            "1e309",
            "1e308k",
            "0x10",
            "1_000",
            "4 8",
            "48µ",
            "４８",
            "٤٨",
            "48\0",
            "--5",
            "5-",
            ".",
            "e5",
            "48m",
            "\u{202e}48",
            &long,
        ];
        for h in hostile {
            assert!(parse_si(h).is_err(), "parse_si accepted {h:?}");
            assert!(parse_rate(h).is_err(), "parse_rate accepted {h:?}");
            assert!(parse_freq(h).is_err(), "parse_freq accepted {h:?}");
            assert!(parse_duration(h).is_err(), "parse_duration accepted {h:?}");
            assert!(parse_band(h).is_err(), "parse_band accepted {h:?}");
            assert!(f64::parse_unit(h).is_err() && u32::parse_unit(h).is_err());
        }
    }

    #[test]
    fn rates_are_whole_positive_hz_that_fit_a_wav_header() {
        assert_eq!(parse_rate("24000"), Ok(24_000));
        assert_eq!(parse_rate("2.048M"), Ok(2_048_000));
        assert_eq!(parse_rate("4294967295"), Ok(u32::MAX));
        for bad in [
            "0",
            "-48k",
            "1.00005k",
            "4294967296",
            "4.3G",
            "0.5",
            "1e-400",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert!(parse_rate("x").unwrap_err().0.contains("48k"));
    }

    #[test]
    fn durations_read_ms_s_min_and_bare_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(0.5));
        assert_eq!(parse_duration("2s"), Ok(2.0));
        assert_eq!(parse_duration("1.5min"), Ok(90.0));
        assert_eq!(parse_duration("0.25"), Ok(0.25));
        assert_eq!(parse_duration("0"), Ok(0.0));
        for bad in ["-1s", "5h", "ms", "s", "1e400s", "2 ss"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bands_take_colon_or_dash_and_negative_offsets() {
        assert_eq!(parse_band("300:3000"), Ok((300.0, 3000.0)));
        assert_eq!(parse_band("300-3000"), Ok((300.0, 3000.0)));
        assert_eq!(parse_band("-50k:+120k"), Ok((-50_000.0, 120_000.0)));
        assert_eq!(parse_band("7.15M-7.2M"), Ok((7_150_000.0, 7_200_000.0)));
        assert_eq!(parse_band("1e3-2e3"), Ok((1000.0, 2000.0)));
        assert!(parse_band("3000:300").is_err());
        assert!(parse_band("5:5").is_err());
        assert!(parse_band("-50k:x")
            .unwrap_err()
            .0
            .contains("'x' is not a frequency"));
        assert!(parse_band("300").is_err());
        assert!(parse_band(":").is_err());
        assert!(parse_band("1:2:3").is_err());
    }

    #[test]
    fn parameter_values_use_the_same_grammar() {
        assert_eq!(f64::parse_unit("3.4k"), Ok(3400.0));
        assert_eq!(u32::parse_unit("4k"), Ok(4000));
        assert!(u32::parse_unit("1.5").is_err());
        assert!(u32::parse_unit("-1").is_err());
        assert_eq!(bool::parse_unit("true"), Ok(true));
        assert!(bool::parse_unit("yes").is_err());
    }
}
