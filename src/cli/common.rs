//! Options shared by the commands that run the filter (`filter`, `run`, `demo`, `latency`).

use crate::io::iq::RawIq;
use crate::io::RawFormat;
use crate::params::{self, ParamFlags, Params, ParamsPatch};
use crate::stream::probe::RawHint;
use anyhow::Context;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Preset, config file and per-key overrides: flag > config file > preset > built-in default.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterOptions {
    /// Preset: voice (default; iq for IQ recordings), cw, am, nfm, digital, iq.
    /// See `specgate presets`.
    #[arg(long, short = 'p')]
    pub preset: Option<String>,
    /// TOML file of parameter keys (same keys as the flags, with underscores).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub params: ParamFlags,
}

impl FilterOptions {
    /// The preset given, else the default ([`params::DEFAULT_PRESET`]).
    pub fn preset_name(&self) -> &str {
        self.preset.as_deref().unwrap_or(params::DEFAULT_PRESET)
    }

    /// The keys of `--config FILE`, read and parsed.
    pub fn config_patch(&self) -> anyhow::Result<Option<ParamsPatch>> {
        let Some(path) = &self.config else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Ok(Some(ParamsPatch::from_toml(
            &text,
            &path.display().to_string(),
        )?))
    }

    /// The resolved, validated parameter set (default preset when none was given).
    pub fn resolve(&self) -> anyhow::Result<Params> {
        self.resolve_or(params::DEFAULT_PRESET)
    }

    /// As [`resolve`](Self::resolve), with `default` as the preset when `--preset` was not given
    /// (`filter` uses `iq` for IQ recordings).
    pub fn resolve_or(&self, default: &str) -> anyhow::Result<Params> {
        let cfg = self.config_patch()?;
        Ok(params::resolve(
            self.preset.as_deref().unwrap_or(default),
            cfg.as_ref(),
            &self.params.to_patch(),
        )?)
    }
}

/// `specgate presets`: every preset with its description and the keys it sets.
pub fn print_presets() -> anyhow::Result<()> {
    for (name, _) in params::PRESETS {
        let patch = params::preset(name)?;
        let p = params::resolve(name, None, &ParamsPatch::default())?;
        let lat48 = crate::engine::stft_config(&p, 48_000).latency_samples();
        println!(
            "{name:<8} {}\n         latency {:.2} ms at 48 kHz ({} samples)",
            patch.description.as_deref().unwrap_or(""),
            lat48 as f64 / 48.0,
            lat48
        );
        let set = toml::to_string(&ParamsPatch {
            description: None,
            ..patch
        })?;
        let keys: Vec<String> = set.lines().map(|l| l.replace(" = ", "=")).collect();
        println!("         {}", keys.join(" "));
    }
    Ok(())
}

/// Audio names first (`u8`, `s16le` stay audio); the complex names (`cu8`, `cs16le`, `ci16_le`,
/// `cf32`, `fc32`…) are IQ.
pub fn parse_input_format(s: &str) -> Result<RawHint, String> {
    if let Ok(f) = s.parse::<RawFormat>() {
        return Ok(RawHint::Audio(f));
    }
    RawIq::parse(s.trim()).map(RawHint::Iq).ok_or_else(|| {
        let names: Vec<&str> = RawFormat::ALL.iter().map(|(_, n, _)| *n).collect();
        format!(
            "unknown sample format '{s}' (audio: {}; IQ: cu8, cs8, cs16le, cf32le)",
            names.join(", ")
        )
    })
}

/// Inputs longer than this (seconds) get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_S: f64 = 10.0;

pub fn progress_bar(frames: Option<u64>, rate: u32) -> Option<indicatif::ProgressBar> {
    frames
        .filter(|&n| n as f64 > PROGRESS_MIN_S * rate as f64 && std::io::stderr().is_terminal())
        .map(|n| {
            let pb = indicatif::ProgressBar::new(n);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {percent:>3}% {elapsed_precise} eta {eta}",
            ) {
                pb.set_style(style);
            }
            pb
        })
}
