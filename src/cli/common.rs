//! Options shared by the commands that run the filter (`filter`, `run`, `demo`, `latency`).

use crate::params::{self, ParamFlags, Params, ParamsPatch};
use anyhow::Context;
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
