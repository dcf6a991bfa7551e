//! `specgate eval`: the quality evaluation. Known clean signals (built-in or WAV files) are mixed
//! with known noise at known SNRs, filtered by the real engine with blind tracking (no noise
//! clip), and scored against the truth: SI-SDR, segmental SNR, log-spectral distance and the
//! musical-noise indicator. `--noisy`/`--enhanced` score a given mixture or another tool's output
//! with the same metrics.

use super::common::FilterOptions;
use super::demo::write_wav;
use crate::eval::metrics::{self, Scores};
use crate::eval::signals::NoiseColour;
use crate::eval::{self as ev, Builtin, CaseResult};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub filter: FilterOptions,
    /// Clean reference WAV file(s) (mixed down to mono, evaluated at their own rate).
    /// Default: the built-in synthetic signal for the preset.
    #[arg(long, num_args = 1..)]
    pub clean: Vec<PathBuf>,
    /// Built-in signals when no --clean is given: speech, cw, music (default: the preset's own:
    /// cw for cw, music for am, speech otherwise).
    #[arg(long, value_delimiter = ',')]
    pub signal: Vec<Builtin>,
    /// Input SNRs, dB (full band over the whole clip).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0,5,10",
        allow_hyphen_values = true
    )]
    pub snr: Vec<f64>,
    /// Noise colours: white, pink, brown, ssb (300–2700 Hz).
    #[arg(long, value_delimiter = ',', default_value = "white,pink")]
    pub noise: Vec<NoiseColour>,
    /// Sample rate of the built-in signals (48000 or 48k).
    #[arg(long, default_value = "48k", value_parser = parse_rate)]
    pub rate: u32,
    /// Length of the built-in signals, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seeds of the built-in signals and of the noise.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub seed: Vec<u64>,
    /// Score this noisy mixture of the one --clean file instead of mixing noise.
    #[arg(long)]
    pub noisy: Option<PathBuf>,
    /// Score this output (of any denoiser) for --clean and --noisy instead of running the filter.
    #[arg(long, requires = "noisy")]
    pub enhanced: Option<PathBuf>,
    /// Write each case's clean, noisy, noise-clip and filtered signals to DIR (float WAV).
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Parses `48000`, `48k`, `44.1k`.
pub fn parse_rate(s: &str) -> Result<u32, String> {
    // The syntax (48000, 48k, 44.1k, 2.4M) is the project's one parser; only the range is ours.
    let r = crate::io::parse_rate(s)?;
    if !(1000..=2_000_000).contains(&r) {
        return Err(format!("sample rate {s} is out of range (1k–2M)"));
    }
    Ok(r)
}

/// Reads a WAV file as mono f32 (channels averaged; integer formats scaled to ±1).
/// A WAV file mixed down to mono, with its rate.
pub fn read_wav_mono(path: &Path) -> anyhow::Result<(Vec<f32>, u32)> {
    let (x, rate, _) = crate::io::wav::read_mono(path)
        .with_context(|| format!("cannot read WAV file {}", path.display()))?;
    Ok((x, rate))
}

/// True when `path` names the same file as one of `inputs`.
fn is_input(path: &Path, inputs: &[PathBuf]) -> bool {
    let Ok(p) = path.canonicalize() else {
        return false; // does not exist yet
    };
    inputs
        .iter()
        .any(|i| i.canonicalize().map(|c| c == p).unwrap_or(false))
}

fn file_name(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Outputs are written whole at the end: a signal removes temp files and exits 128 + N.
    crate::cancel::exit_on_signals()?;
    let params = args.filter.resolve()?;
    if args.snr.iter().any(|s| !s.is_finite()) {
        bail!("--snr values must be finite numbers");
    }
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        bail!("--duration must be in (0, 3600] seconds");
    }
    let mut results: Vec<CaseResult> = Vec::new();

    if let Some(noisy_path) = &args.noisy {
        // A given mixture (and maybe a given output): one case.
        if args.clean.len() != 1 {
            bail!("--noisy needs exactly one --clean file");
        }
        let (clean, rate) = read_wav_mono(&args.clean[0])?;
        let (noisy, nrate) = read_wav_mono(noisy_path)?;
        let enhanced = match &args.enhanced {
            Some(p) => {
                let (e, erate) = read_wav_mono(p)?;
                if erate != rate {
                    bail!(
                        "{} is at {erate} Hz but the clean file at {rate} Hz",
                        p.display()
                    );
                }
                e
            }
            None => ev::enhance(&params, rate, &noisy)?,
        };
        if nrate != rate {
            bail!(
                "{} is at {nrate} Hz but the clean file at {rate} Hz",
                noisy_path.display()
            );
        }
        let n = clean.len().min(noisy.len()).min(enhanced.len());
        if n != clean.len() || n != noisy.len() || n != enhanced.len() {
            eprintln!(
                "specgate eval: lengths differ (clean {}, noisy {}, output {}); scoring the first {n} samples",
                clean.len(),
                noisy.len(),
                enhanced.len()
            );
        }
        if n == 0 {
            bail!("nothing to score: a file is empty");
        }
        results.push(CaseResult {
            signal: file_name(&args.clean[0]),
            noise: "given".into(),
            snr_db: None,
            rate,
            seed: 0,
            scores: metrics::score(&clean[..n], &noisy[..n], &enhanced[..n], rate),
        });
    } else {
        // Clean signals: files, or built-ins.
        let mut cleans: Vec<(String, Vec<f32>, u32, u64)> = Vec::new();
        let seeds = if args.seed.is_empty() {
            vec![1]
        } else {
            args.seed.clone()
        };
        if !args.clean.is_empty() {
            for p in &args.clean {
                let (x, rate) = read_wav_mono(p)?;
                if x.len() < rate as usize / 10 {
                    bail!("{} is too short to evaluate (under 0.1 s)", p.display());
                }
                if crate::eval::signals::rms(&x) == 0.0 {
                    bail!("{} is silent", p.display());
                }
                for &s in &seeds {
                    cleans.push((file_name(p), x.clone(), rate, s));
                }
            }
        } else {
            let sigs = if args.signal.is_empty() {
                vec![Builtin::for_preset(args.filter.preset_name())]
            } else {
                args.signal.clone()
            };
            for b in sigs {
                for &s in &seeds {
                    cleans.push((
                        b.name().to_string(),
                        b.generate(args.rate, args.duration, s),
                        args.rate,
                        s,
                    ));
                }
            }
        }
        if let Some(dir) = &args.save {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        for (name, clean, rate, seed) in &cleans {
            for &colour in &args.noise {
                for &snr in &args.snr {
                    let (res, mix, out) =
                        ev::run_case(&params, name, clean, colour, *rate, snr, *seed)?;
                    if let Some(dir) = &args.save {
                        let stem = format!("{name}_{}_{snr}dB_s{seed}", colour.name());
                        for (kind, x) in [
                            ("clean", &mix.clean),
                            ("noisy", &mix.noisy),
                            ("noise", &mix.noise_clip),
                            ("filtered", &out),
                        ] {
                            let path = dir.join(format!("{stem}_{kind}.wav"));
                            if is_input(&path, &args.clean) {
                                bail!("--save would overwrite the input {}", path.display());
                            }
                            write_wav(&path, x, *rate, true)?;
                        }
                    }
                    results.push(res);
                }
            }
        }
    }

    let mean = ev::mean_scores(&results);
    if args.json {
        let doc = serde_json::json!({
            "preset": args.filter.preset_name(),
            "params": params,
            "cases": results,
            "mean": mean,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_table(args.filter.preset_name(), &results, mean.as_ref());
    }
    Ok(())
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:6.2}"))
        .unwrap_or_else(|| "   n/a".into())
}

fn fmt_stoi(v: Option<f64>) -> String {
    v.map(|x| format!("{x:5.3}"))
        .unwrap_or_else(|| "  n/a".into())
}

fn print_table(preset: &str, results: &[CaseResult], mean: Option<&Scores>) {
    println!(
        "preset {preset} (blind tracking); dB except MN (log kurtosis ratio; 0 = none) and STOI"
    );
    println!(
        "{:<14} {:<6} {:>5} {:>6} | {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7} | {:>6} {:>6} | {:>6} | {:>5} {:>5}",
        "signal",
        "noise",
        "snr",
        "rate",
        "SDRin",
        "SDRout",
        "ΔSI-SDR",
        "segIn",
        "segOut",
        "ΔsegSNR",
        "LSDin",
        "LSDout",
        "MN",
        "STOIi",
        "STOIo"
    );
    let row = |sig: &str, noise: &str, snr: String, rate: String, s: &Scores| {
        println!(
            "{:<14} {:<6} {:>5} {:>6} | {:7.2} {:7.2} {:+7.2} | {:7.2} {:7.2} {:+7.2} | {:6.2} {:6.2} | {} | {} {}",
            sig,
            noise,
            snr,
            rate,
            s.si_sdr_in,
            s.si_sdr_out,
            s.si_sdr_imp,
            s.seg_snr_in,
            s.seg_snr_out,
            s.seg_snr_imp,
            s.lsd_in,
            s.lsd_out,
            fmt_opt(s.musical_noise),
            fmt_stoi(s.stoi_in),
            fmt_stoi(s.stoi_out)
        );
    };
    for r in results {
        let sig: String = r.signal.chars().take(14).collect();
        row(
            &sig,
            &r.noise,
            r.snr_db
                .map(|v| format!("{v}"))
                .unwrap_or_else(|| "-".into()),
            format!("{}", r.rate),
            &r.scores,
        );
    }
    if let Some(m) = mean {
        row("mean", "", String::new(), String::new(), m);
    }
}
