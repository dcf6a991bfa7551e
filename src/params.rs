//! Filter parameters, presets and their layering.
//!
//! Every parameter has a built-in default. A preset (`config/*.toml`, embedded in the binary)
//! overrides some of them, a `--config FILE` overrides the preset, and command-line flags override
//! everything: flag > config file > preset > built-in default. Files are flat TOML tables of the
//! keys below; unknown keys and out-of-range values are errors that name the key.

use crate::dsp::gain::GainRule;
use crate::dsp::windows::WindowKind;
use serde::{Deserialize, Serialize};

/// Declares `Params` (complete) and `ParamsPatch` (every key optional) from one table, with the
/// valid range of each numeric key, so the two can never disagree.
macro_rules! params {
    ($( $(#[doc = $doc:expr])* $name:ident : $ty:ty = $default:expr, range $range:expr ;)*) => {
        /// A complete parameter set.
        #[derive(Debug, Clone, Copy, PartialEq, Serialize)]
        pub struct Params { $( $(#[doc = $doc])* pub $name: $ty, )* }

        impl Default for Params {
            fn default() -> Self { Params { $( $name: $default, )* } }
        }

        /// A partial parameter set: a preset, a config file, or the command-line overrides.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct ParamsPatch {
            /// Free text shown by `specgate presets` (presets only).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            $( $(#[doc = $doc])* #[serde(default, deserialize_with = "crate::units::de_opt", skip_serializing_if = "Option::is_none")] pub $name: Option<$ty>, )*
        }

        /// The same keys as command-line overrides (`--reduction-db 12`, `--rule wiener`,
        /// `--high-hz 3.4k`, …), each read by [`crate::units`].
        #[cfg(feature = "cli")]
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct ParamFlags {
            $( $(#[doc = $doc])* #[arg(long, allow_negative_numbers = true, value_parser = <$ty as crate::units::UnitValue>::parse_unit, help_heading = "Filter parameters (override preset and config)")] pub $name: Option<$ty>, )*
        }

        #[cfg(feature = "cli")]
        impl ParamFlags {
            /// The flags that were given, as a patch.
            pub fn to_patch(&self) -> ParamsPatch {
                ParamsPatch { description: None, $( $name: self.$name.clone(), )* }
            }
        }

        impl ParamsPatch {
            /// Applies the keys this patch sets on top of `p`.
            pub fn apply_to(&self, p: &mut Params) { $( if let Some(v) = &self.$name { p.$name = v.clone(); } )* }
            /// Later patch wins key by key.
            pub fn merge(&mut self, later: &ParamsPatch) {
                if later.description.is_some() { self.description = later.description.clone(); }
                $( if later.$name.is_some() { self.$name = later.$name.clone(); } )*
            }
        }

        impl Params {
            /// Checks every key against its range.
            pub fn validate(&self) -> Result<(), ParamError> {
                $( check(stringify!($name), &self.$name, $range)?; )*
                if self.high_hz > 0.0 && self.high_hz <= self.low_hz {
                    return Err(ParamError::Range { key: "high_hz".into(),
                        msg: format!("{} Hz must be above low_hz ({} Hz)", self.high_hz, self.low_hz) });
                }
                Ok(())
            }
            /// `(key, value)` pairs for display.
            pub fn entries(&self) -> Vec<(&'static str, String)> {
                vec![ $( (stringify!($name), format!("{}", Show(&self.$name))), )* ]
            }
            /// Names of all keys.
            pub fn keys() -> &'static [&'static str] { &[ $( stringify!($name), )* ] }
        }
    };
}

params! {
    /// Frame (window) length in milliseconds; sets frequency resolution and latency.
    frame_ms: f64 = 20.0, range Range::F(1.0, 500.0);
    /// Frames per frame length: hop = frame / overlap (2 = 50 %, 4 = 75 %).
    overlap: u32 = 2, range Range::U(1, 16);
    /// Frame length in samples; overrides frame_ms when non-zero.
    frame: u32 = 0, range Range::U(0, 1 << 20);
    /// Hop in samples; overrides overlap when non-zero.
    hop: u32 = 0, range Range::U(0, 1 << 20);
    /// FFT size in samples (≥ frame, zero-pads); 0 = the frame length.
    fft_size: u32 = 0, range Range::U(0, 1 << 22);
    /// Analysis/synthesis window.
    window: WindowKind = WindowKind::SqrtHann, range Range::Any;
    /// Algorithmic latency limit, ms (0 = none: frame − 1 samples). Below the frame length it
    /// selects the low-delay STFT: the long analysis frame is kept and a synthesis window of
    /// 2·hop samples ending the frame sets the latency, 2·hop − 1 ≤ latency_ms (hop from this
    /// limit unless `hop` is given; overlap is then unused; window must be sqrt-hann).
    latency_ms: f64 = 0.0, range Range::F(0.0, 500.0);
    /// Gain rule: gate, wiener or mmse-lsa.
    rule: GainRule = GainRule::MmseLsa, range Range::Any;
    /// Gate threshold over the noise floor, dB (gate rule).
    threshold_db: f64 = 6.0, range Range::F(-20.0, 60.0);
    /// Soft-knee width of the gate, dB (0 = hard gate).
    knee_db: f64 = 6.0, range Range::F(0.0, 40.0);
    /// Maximum attenuation, dB; 0 opens the gate completely (output = input).
    reduction_db: f64 = 20.0, range Range::F(0.0, 120.0);
    /// Decision-directed a-priori SNR smoothing per 10 ms of hop (higher: less musical noise,
    /// more smearing of onsets).
    dd_alpha: f64 = 0.96, range Range::F(0.0, 0.999);
    /// Time constant for a rising gain, ms.
    attack_ms: f64 = 0.0, range Range::F(0.0, 5000.0);
    /// Time constant for a falling gain, ms.
    release_ms: f64 = 0.0, range Range::F(0.0, 5000.0);
    /// Width of the gain smoothing across frequency, Hz (0 = none).
    freq_smooth_hz: f64 = 0.0, range Range::F(0.0, 20000.0);
    /// Low cut of the passband, Hz (0 = none).
    low_hz: f64 = 0.0, range Range::F(0.0, 1e9);
    /// High cut of the passband, Hz (0 = none).
    high_hz: f64 = 0.0, range Range::F(0.0, 1e9);
    /// Learn a fixed noise profile from the first N seconds of the input (0 = blind tracking).
    learn: f64 = 0.0, range Range::F(0.0, 3600.0);
    /// Blind tracker: power smoothing time constant, s.
    smoothing_s: f64 = 0.05, range Range::F(0.0, 10.0);
    /// Blind tracker: minimum-search window, s (how long a steady signal may last).
    window_s: f64 = 1.5, range Range::F(0.1, 60.0);
    /// Blind tracker: noise averaging time constant, s.
    noise_tau_s: f64 = 0.5, range Range::F(0.0, 60.0);
    /// Blind tracker: smoothed power over its minimum that counts as signal (linear ratio).
    presence_ratio: f64 = 3.0, range Range::F(1.0, 1000.0);
    /// Blind tracker: steady-tone protection, dB. A bin's noise estimate is capped this far above
    /// the floor of its neighbours (3–8 bins away on either side), so a steady carrier, a held
    /// note or a long dash above 450 Hz is never learned as noise; below 450 Hz steady lines are
    /// mains hum and are learned. 0 = off.
    tone_protect_db: f64 = 0.0, range Range::F(0.0, 60.0);
    /// Burst guard, dB: when a frame's broadband level (the 10th percentile of power over floor
    /// across its bins) stands this far above what noise alone gives, evenly, the frame's floor is
    /// raised by the whole excess, so clicks, lightning crashes and fast fades are taken as
    /// noise. 0 = off.
    burst_db: f64 = 0.0, range Range::F(0.0, 40.0);
    /// Burst guard: equal bands judged apart (1 = the whole spectrum; more for narrowband
    /// signals such as CW, which leave most of every band to the noise).
    burst_bands: u32 = 1, range Range::U(1, 32);
    /// Weak-signal keep, dB (negative; 0 = off): in a bin whose power, averaged over `keep_s`,
    /// stands significantly above the noise floor — a weak carrier, CW or a digital-mode signal at
    /// the noise floor, which single frames cannot tell from noise — the gain never falls below
    /// the Wiener gain of that long-term SNR, up to this level. Such signals then pass as through
    /// a filter, not chopped by frame-by-frame decisions, and decoders still find them.
    keep_floor_db: f64 = 0.0, range Range::F(-60.0, 0.0);
    /// Weak-signal keep: averaging time constant, s.
    keep_s: f64 = 2.0, range Range::F(0.1, 60.0);
    /// Bit-exact bypass: output = input delayed by the latency (files: output = input). true/false.
    bypass: bool = false, range Range::Any;
}

impl crate::units::UnitValue for WindowKind {
    fn parse_unit(s: &str) -> Result<Self, crate::units::UnitError> {
        s.trim().parse().map_err(crate::units::UnitError)
    }
}

impl crate::units::UnitValue for GainRule {
    fn parse_unit(s: &str) -> Result<Self, crate::units::UnitError> {
        s.trim().parse().map_err(crate::units::UnitError)
    }
}

/// Highest sample rate accepted anywhere, S/s: above the fastest SDRs in common use (61.44 MS/s
/// AD9361/USRP B2xx, 56 MS/s LimeSDR, 20 MS/s HackRF) with margin. A header or flag above it is
/// refused before anything is sized from it.
pub const MAX_RATE: u32 = 125_000_000;

/// Most interleaved channels accepted (a real channel each, or 32 I/Q pairs): multichannel
/// audio interfaces and coherent SDR arrays stay below it.
pub const MAX_CHANNELS: usize = 64;

/// Largest memory one engine may allocate (bytes), checked in `Engine::new` from
/// `engine::memory_estimate` before anything is allocated. 20 ms frames (the voice preset) on a
/// real 61.44 MS/s stream need ~100 MiB per channel.
pub const MAX_ENGINE_BYTES: u64 = 256 << 20;

/// A parameter that is out of range, unknown, or malformed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("{key}: {msg}")]
    Range { key: String, msg: String },
    #[error("unknown preset '{0}' (available: {1})")]
    UnknownPreset(String, String),
    #[error("{0}")]
    Parse(String),
}

pub enum Range {
    F(f64, f64),
    U(u32, u32),
    Any,
}

trait Checkable {
    fn check(&self, r: &Range) -> Result<(), String>;
}
impl Checkable for f64 {
    fn check(&self, r: &Range) -> Result<(), String> {
        match r {
            Range::F(lo, hi) if !(self.is_finite() && *self >= *lo && *self <= *hi) => {
                Err(format!("{self} is out of range [{lo}, {hi}]"))
            }
            _ => Ok(()),
        }
    }
}
impl Checkable for u32 {
    fn check(&self, r: &Range) -> Result<(), String> {
        match r {
            Range::U(lo, hi) if !(*self >= *lo && *self <= *hi) => {
                Err(format!("{self} is out of range [{lo}, {hi}]"))
            }
            _ => Ok(()),
        }
    }
}
impl Checkable for bool {
    fn check(&self, _: &Range) -> Result<(), String> {
        Ok(())
    }
}
impl Checkable for WindowKind {
    fn check(&self, _: &Range) -> Result<(), String> {
        Ok(())
    }
}
impl Checkable for GainRule {
    fn check(&self, _: &Range) -> Result<(), String> {
        Ok(())
    }
}
fn check<T: Checkable>(key: &str, v: &T, r: Range) -> Result<(), ParamError> {
    v.check(&r).map_err(|msg| ParamError::Range {
        key: key.to_string(),
        msg,
    })
}

struct Show<'a, T>(&'a T);
impl<T: std::fmt::Display> std::fmt::Display for Show<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The presets shipped in `config/`, embedded at build time.
pub const PRESETS: &[(&str, &str)] = &[
    ("voice", include_str!("../config/voice.toml")),
    ("cw", include_str!("../config/cw.toml")),
    ("am", include_str!("../config/am.toml")),
    ("nfm", include_str!("../config/nfm.toml")),
    ("digital", include_str!("../config/digital.toml")),
    ("iq", include_str!("../config/iq.toml")),
];

/// The default preset.
pub const DEFAULT_PRESET: &str = "voice";

impl ParamsPatch {
    /// Parses a TOML table of parameter keys.
    pub fn from_toml(text: &str, origin: &str) -> Result<ParamsPatch, ParamError> {
        toml::from_str(text)
            .map_err(|e| ParamError::Parse(format!("{origin}: {}", e.to_string().trim())))
    }
}

/// The patch of a named preset.
pub fn preset(name: &str) -> Result<ParamsPatch, ParamError> {
    let lname = name.to_ascii_lowercase();
    let (_, text) = PRESETS.iter().find(|(n, _)| *n == lname).ok_or_else(|| {
        ParamError::UnknownPreset(
            name.to_string(),
            PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", "),
        )
    })?;
    ParamsPatch::from_toml(text, &format!("preset {lname}"))
}

/// Resolves the layers: built-in default ← preset ← config file ← flags; validates the result.
pub fn resolve(
    preset_name: &str,
    config: Option<&ParamsPatch>,
    flags: &ParamsPatch,
) -> Result<Params, ParamError> {
    let mut p = Params::default();
    preset(preset_name)?.apply_to(&mut p);
    if let Some(c) = config {
        c.apply_to(&mut p);
    }
    flags.apply_to(&mut p);
    p.validate()?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_validates() {
        for (name, _) in PRESETS {
            let p = resolve(name, None, &ParamsPatch::default()).unwrap();
            assert!(
                preset(name).unwrap().description.is_some(),
                "{name} lacks a description"
            );
            p.validate().unwrap();
        }
    }

    #[test]
    fn flag_beats_config_beats_preset() {
        let cfg = ParamsPatch::from_toml("reduction_db = 9\nthreshold_db = 3", "cfg").unwrap();
        let flags = ParamsPatch {
            reduction_db: Some(4.0),
            ..Default::default()
        };
        let p = resolve("cw", Some(&cfg), &flags).unwrap();
        assert_eq!(p.reduction_db, 4.0);
        assert_eq!(p.threshold_db, 3.0);
        let cw = resolve("cw", None, &ParamsPatch::default()).unwrap();
        assert_eq!(p.frame_ms, cw.frame_ms);
    }

    #[test]
    fn unknown_keys_and_out_of_range_values_are_errors_naming_the_key() {
        let e = ParamsPatch::from_toml("reducton_db = 3", "my.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("reducton_db") && e.contains("my.toml"), "{e}");
        let flags = ParamsPatch {
            reduction_db: Some(500.0),
            ..Default::default()
        };
        let e = resolve("voice", None, &flags).unwrap_err().to_string();
        assert!(e.contains("reduction_db") && e.contains("500"), "{e}");
        assert!(resolve("nope", None, &ParamsPatch::default()).is_err());
        let e = ParamsPatch::from_toml("rule = \"fancy\"", "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fancy"), "{e}");
    }

    #[test]
    fn config_files_and_flags_read_values_with_the_one_units_parser() {
        let cfg = ParamsPatch::from_toml("high_hz = \"3.4k\"\nlow_hz = 300\nframe = \"1k\"", "c")
            .unwrap();
        assert_eq!(cfg.high_hz, Some(3400.0));
        assert_eq!(cfg.low_hz, Some(300.0));
        assert_eq!(cfg.frame, Some(1000));
        for bad in [
            "high_hz = \"3.4x\"",
            "high_hz = \"inf\"",
            "frame = \"1.5\"",
            "high_hz = [1]",
        ] {
            let e = ParamsPatch::from_toml(bad, "c").unwrap_err().to_string();
            assert!(e.contains("c:"), "{bad}: {e}");
        }
        let e = ParamsPatch::from_toml("high_hz = \"3.4x\"", "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("high_hz") && e.contains("3.4x"), "{e}");
    }
}
