//! The whole `specgate eval` as a library call: a [`Plan`] (which cases, which noises, SNRs,
//! rates and seeds) run to a [`Report`]. The command line only builds the plan and prints.

use super::families::{Event, Family};
use super::metrics;
use super::signals::NoiseColour;
use super::{enhance, enhance_mixture, mix, mix_family, Builtin, CaseResult, Mixture};
use crate::engine::EngineError;
use crate::io::{IoError, RawFormat};
use crate::params::{self, ParamError, Params, ParamsPatch};
use std::path::{Path, PathBuf};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Params(#[from] ParamError),
    /// A file could not be read or written.
    #[error("{what} {path}: {error}")]
    File {
        what: &'static str,
        path: PathBuf,
        error: IoError,
    },
    /// The plan itself is not usable (a file too short, rates that differ, …).
    #[error("{0}")]
    Plan(String),
}

fn plan_err(msg: impl Into<String>) -> EvalError {
    EvalError::Plan(msg.into())
}

/// The parameters of a run: a preset (or each family's own), a config file's keys and flags.
#[derive(Debug, Clone, Default)]
pub struct ParamChoice {
    /// `None`: the default preset (or, for families, the family's preset).
    pub preset: Option<String>,
    pub config: Option<ParamsPatch>,
    pub flags: ParamsPatch,
}

impl ParamChoice {
    /// The preset named, else `default`.
    pub fn preset_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.preset.as_deref().unwrap_or(default)
    }

    /// The resolved parameters with `default` as the preset when none was named.
    pub fn resolve_or(&self, default: &str) -> Result<Params, ParamError> {
        params::resolve(self.preset_or(default), self.config.as_ref(), &self.flags)
    }
}

/// Where the clean signals come from.
#[derive(Debug, Clone)]
pub enum Cases {
    /// A given mixture of one clean file (and maybe another denoiser's output): one case.
    Given {
        clean: PathBuf,
        noisy: PathBuf,
        enhanced: Option<PathBuf>,
    },
    /// Drawn families, each seed a new case, with noise events.
    Families {
        families: Vec<Family>,
        events: Vec<Event>,
    },
    /// Clean WAV files (mixed down to mono).
    Files(Vec<PathBuf>),
    /// Built-in signals (empty: the preset's own).
    Builtins(Vec<Builtin>),
}

/// What to evaluate. Empty lists take the defaults documented on `specgate eval`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub params: ParamChoice,
    pub cases: Cases,
    pub snr: Vec<f64>,
    pub noise: Vec<NoiseColour>,
    pub rate: Vec<u32>,
    /// Length of built-in and drawn signals, s.
    pub duration: f64,
    pub seeds: Vec<u64>,
    /// Also run each case with a profile learned from [`VS_LEARN_S`] of noise.
    pub vs_learn: bool,
    /// Write each case's clean, noisy, noise-clip and filtered signals here (float WAV).
    pub save: Option<PathBuf>,
}

/// Seconds of noise a learned profile is taken from in `--vs-learn` (the issue's `--learn 1`).
pub const VS_LEARN_S: f64 = 1.0;

/// What an evaluation found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub cases: Vec<CaseResult>,
    /// Things the user should know (lengths that differ, …).
    pub warnings: Vec<String>,
}

/// A WAV file mixed down to mono, with its rate.
pub fn read_wav_mono(path: &Path) -> Result<(Vec<f32>, u32), EvalError> {
    let (x, rate, _) = crate::io::wav::read_mono(path).map_err(|error| EvalError::File {
        what: "cannot read WAV file",
        path: path.to_path_buf(),
        error,
    })?;
    Ok((x, rate))
}

/// Runs the plan.
pub fn run(plan: &Plan) -> Result<Report, EvalError> {
    if plan.snr.iter().any(|s| !s.is_finite()) {
        return Err(plan_err("--snr values must be finite numbers"));
    }
    if !(plan.duration > 0.0 && plan.duration <= 3600.0) {
        return Err(plan_err("--duration must be in (0, 3600] seconds"));
    }
    let mut report = Report::default();
    match &plan.cases {
        Cases::Given {
            clean,
            noisy,
            enhanced,
        } => report.cases.push(given(
            plan,
            clean,
            noisy,
            enhanced.as_deref(),
            &mut report.warnings,
        )?),
        Cases::Families { families, events } => {
            families_run(plan, families, events, &mut report.cases)?
        }
        Cases::Files(_) | Cases::Builtins(_) => clean_run(plan, &mut report.cases)?,
    }
    Ok(report)
}

fn given(
    plan: &Plan,
    clean_path: &Path,
    noisy_path: &Path,
    enhanced: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<CaseResult, EvalError> {
    let params = plan.params.resolve_or(params::DEFAULT_PRESET)?;
    let (clean, rate) = read_wav_mono(clean_path)?;
    let (noisy, nrate) = read_wav_mono(noisy_path)?;
    let enhanced = match enhanced {
        Some(p) => {
            let (e, erate) = read_wav_mono(p)?;
            if erate != rate {
                return Err(plan_err(format!(
                    "{} is at {erate} Hz but the clean file at {rate} Hz",
                    p.display()
                )));
            }
            e
        }
        None => enhance(&params, rate, &noisy)?,
    };
    if nrate != rate {
        return Err(plan_err(format!(
            "{} is at {nrate} Hz but the clean file at {rate} Hz",
            noisy_path.display()
        )));
    }
    let n = clean.len().min(noisy.len()).min(enhanced.len());
    if n != clean.len() || n != noisy.len() || n != enhanced.len() {
        warnings.push(format!(
            "lengths differ (clean {}, noisy {}, output {}); scoring the first {n} samples",
            clean.len(),
            noisy.len(),
            enhanced.len()
        ));
    }
    if n == 0 {
        return Err(plan_err("nothing to score: a file is empty"));
    }
    Ok(CaseResult {
        signal: file_name(clean_path),
        noise: "given".into(),
        snr_db: None,
        rate,
        seed: 0,
        event: "none".into(),
        detail: String::new(),
        scores: metrics::score(&clean[..n], &noisy[..n], &enhanced[..n], rate),
        learned_si_sdr_imp: None,
    })
}

fn families_run(
    plan: &Plan,
    families: &[Family],
    events: &[Event],
    results: &mut Vec<CaseResult>,
) -> Result<(), EvalError> {
    let mut pairs: Vec<(Option<u32>, u64)> = Vec::new();
    for &s in &plan.seeds {
        if plan.rate.is_empty() {
            pairs.push((None, s));
        } else {
            pairs.extend(plan.rate.iter().map(|&r| (Some(r), s)));
        }
    }
    save_dir(plan)?;
    for &fam in families {
        let params = plan.params.resolve_or(fam.preset())?;
        let noises = or_default(&plan.noise, fam.default_noise());
        let snrs = or_default(&plan.snr, fam.default_snr());
        for &(rate, seed) in &pairs {
            let d = fam.draw(rate, plan.duration, seed);
            for &colour in &noises {
                for &event in events {
                    for &snr in &snrs {
                        let (m, nd) = mix_family(&d, colour, event, snr, seed);
                        let detail = [d.detail.as_str(), nd.as_str()]
                            .iter()
                            .filter(|s| !s.is_empty())
                            .copied()
                            .collect::<Vec<_>>()
                            .join("; ");
                        let case = Case {
                            signal: fam.name(),
                            noise: colour.name(),
                            event: event.name(),
                            detail,
                            snr,
                            rate: d.rate,
                            seed,
                        };
                        results.push(run_mixture(plan, &params, case, &m)?);
                    }
                }
            }
        }
    }
    Ok(())
}

fn clean_run(plan: &Plan, results: &mut Vec<CaseResult>) -> Result<(), EvalError> {
    let params = plan.params.resolve_or(params::DEFAULT_PRESET)?;
    let mut cleans: Vec<(String, Vec<f32>, u32, u64)> = Vec::new();
    let seeds = or_default(&plan.seeds, &[1]);
    match &plan.cases {
        Cases::Files(files) => {
            for p in files {
                let (x, rate) = read_wav_mono(p)?;
                if x.len() < rate as usize / 10 {
                    return Err(plan_err(format!(
                        "{} is too short to evaluate (under 0.1 s)",
                        p.display()
                    )));
                }
                if super::signals::rms(&x) == 0.0 {
                    return Err(plan_err(format!("{} is silent", p.display())));
                }
                for &s in &seeds {
                    cleans.push((file_name(p), x.clone(), rate, s));
                }
            }
        }
        Cases::Builtins(sigs) => {
            let own = [Builtin::for_preset(
                plan.params.preset_or(params::DEFAULT_PRESET),
            )];
            for &b in or_default(sigs, &own).iter() {
                for &rate in &or_default(&plan.rate, &[48_000]) {
                    for &s in &seeds {
                        cleans.push((
                            b.name().to_string(),
                            b.generate(rate, plan.duration, s),
                            rate,
                            s,
                        ));
                    }
                }
            }
        }
        _ => unreachable!("clean_run is called for files and built-ins"),
    }
    save_dir(plan)?;
    let noises = or_default(&plan.noise, &[NoiseColour::White, NoiseColour::Pink]);
    let snrs = or_default(&plan.snr, &[0.0, 5.0, 10.0]);
    for (name, clean, rate, seed) in &cleans {
        for &colour in &noises {
            for &snr in &snrs {
                let m = mix(clean, colour, *rate, snr, *seed);
                let case = Case {
                    signal: name,
                    noise: colour.name(),
                    event: "none",
                    detail: String::new(),
                    snr,
                    rate: *rate,
                    seed: *seed,
                };
                results.push(run_mixture(plan, &params, case, &m)?);
            }
        }
    }
    Ok(())
}

fn or_default<T: Clone>(given: &[T], default: &[T]) -> Vec<T> {
    if given.is_empty() {
        default.to_vec()
    } else {
        given.to_vec()
    }
}

/// The names of one case.
struct Case<'a> {
    signal: &'a str,
    noise: &'a str,
    event: &'a str,
    detail: String,
    snr: f64,
    rate: u32,
    seed: u64,
}

/// Runs one mixture blind (or as `params` says) and, with `vs_learn`, learned as well; saves it.
fn run_mixture(
    plan: &Plan,
    params: &Params,
    c: Case<'_>,
    m: &Mixture,
) -> Result<CaseResult, EvalError> {
    let out = enhance_mixture(params, c.rate, m)?;
    let scores = metrics::score(&m.clean, &m.noisy, &out, c.rate);
    let learned_si_sdr_imp = if plan.vs_learn {
        let mut lp = *params;
        lp.learn = VS_LEARN_S;
        let lo = enhance_mixture(&lp, c.rate, m)?;
        Some(metrics::si_sdr_improvement(&m.clean, &m.noisy, &lo))
    } else {
        None
    };
    let r = CaseResult {
        signal: c.signal.to_string(),
        noise: c.noise.to_string(),
        snr_db: Some(c.snr),
        rate: c.rate,
        seed: c.seed,
        event: c.event.to_string(),
        detail: c.detail,
        scores,
        learned_si_sdr_imp,
    };
    save_case(plan, &r, m, &out)?;
    Ok(r)
}

fn save_dir(plan: &Plan) -> Result<(), EvalError> {
    match &plan.save {
        Some(dir) => create_dir(dir),
        None => Ok(()),
    }
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir(dir: &Path) -> Result<(), EvalError> {
    std::fs::create_dir_all(dir).map_err(|e| EvalError::File {
        what: "cannot create directory",
        path: dir.to_path_buf(),
        error: e.into(),
    })
}

/// Writes a mono WAV through the one writer (atomic).
pub(crate) fn write_wav(
    path: PathBuf,
    x: &[f32],
    rate: u32,
    fmt: RawFormat,
) -> Result<(), EvalError> {
    match crate::io::wav::write_mono(&path, x, rate, fmt) {
        Ok(_) => Ok(()),
        Err(error) => Err(EvalError::File {
            what: "cannot write",
            path,
            error,
        }),
    }
}

/// The clean files of the plan (never overwritten by `--save`).
fn inputs(plan: &Plan) -> Vec<&Path> {
    match &plan.cases {
        Cases::Files(f) => f.iter().map(PathBuf::as_path).collect(),
        Cases::Given {
            clean,
            noisy,
            enhanced,
        } => [Some(clean), Some(noisy), enhanced.as_ref()]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
            .collect(),
        _ => Vec::new(),
    }
}

/// Writes a case's clean, noisy, noise-clip and filtered signals to the save directory.
fn save_case(plan: &Plan, r: &CaseResult, m: &Mixture, out: &[f32]) -> Result<(), EvalError> {
    let Some(dir) = &plan.save else {
        return Ok(());
    };
    let snr = r.snr_db.unwrap_or(0.0);
    let ev = if r.event == "none" {
        String::new()
    } else {
        format!("_{}", r.event)
    };
    let stem = format!(
        "{}_{}{ev}_{snr}dB_{}Hz_s{}",
        r.signal, r.noise, r.rate, r.seed
    );
    let inputs = inputs(plan);
    for (kind, x) in [
        ("clean", &m.clean[..]),
        ("noisy", &m.noisy[..]),
        ("noise", &m.noise_clip[..]),
        ("filtered", out),
    ] {
        let path = dir.join(format!("{stem}_{kind}.wav"));
        if crate::io::atomic::refuse_input(&path, &inputs).is_err() {
            return Err(plan_err(format!(
                "--save would overwrite the input {}",
                path.display()
            )));
        }
        write_wav(path, x, r.rate, RawFormat::F32Le)?;
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}
