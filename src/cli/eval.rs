//! `specgate eval`: the quality evaluation. Known clean signals (built-in or WAV files) are mixed
//! with known noise at known SNRs, filtered by the real engine with blind tracking (no noise
//! clip), and scored against the truth: SI-SDR, segmental SNR, log-spectral distance and the
//! musical-noise indicator. `--noisy`/`--enhanced` score a given mixture or another tool's output
//! with the same metrics.

use super::common::FilterOptions;
use super::demo::write_wav;
use crate::eval::families::{Event, Family};
use crate::eval::metrics::{self, Scores};
use crate::eval::signals::NoiseColour;
use crate::eval::{self as ev, Builtin, CaseResult, Mixture};
use crate::params::Params;
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
    /// Drawn families (instead of --signal/--clean): cw, am, music, tones, speech. Each seed
    /// draws a new case across the family's ranges (rate, tone, speed, drift, lead-in, level);
    /// each family runs with its own preset (cw, am, am, am, voice) unless --preset is given.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["signal", "clean", "noisy"])]
    pub family: Vec<Family>,
    /// Noise events (families only): none, qsb, impulsive, change.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none",
        requires = "family"
    )]
    pub event: Vec<Event>,
    /// Input SNRs, dB. Built-ins and files: full band over the whole clip (default 0,5,10).
    /// Families: the family's reference power (CW: key-down tone power) over the full-band noise
    /// power (default: cw −10,0; am 5,15; music and tones 10,20; speech 0,5,10).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub snr: Vec<f64>,
    /// Noises: white, pink, brown, ssb (300–2700 Hz), hf (HF-tilted hiss), hum (hf hiss + mains
    /// hum), whitepink (equal power). Default: white,pink; families: cw whitepink, am/music/tones
    /// hum, speech white.
    #[arg(long, value_delimiter = ',')]
    pub noise: Vec<NoiseColour>,
    /// Sample rates (48000 or 48k). Default: 48k for built-ins; drawn per seed for families.
    #[arg(long, value_delimiter = ',', value_parser = parse_rate)]
    pub rate: Vec<u32>,
    /// Length of the built-in signals, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seeds of the signals and of the noise: a list, ranges allowed (1..5,101..110).
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = parse_seeds)]
    pub seed: Vec<Vec<u64>>,
    /// Also run every case with a profile learned from the 1 s of noise before the signal
    /// (`--learn 1`) and print its ΔSI-SDR next to the blind one.
    #[arg(long)]
    pub vs_learn: bool,
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

/// `7` or an inclusive range `1..10`.
fn parse_seeds(s: &str) -> Result<Vec<u64>, String> {
    let num = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| format!("bad seed '{t}' (a number or a range like 1..10)"))
    };
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a || b - a > 100_000 {
                return Err(format!("bad seed range '{s}'"));
            }
            Ok((a..=b).collect())
        }
        None => Ok(vec![num(s)?]),
    }
}

/// Seconds of noise a learned profile is taken from in `--vs-learn` (the issue's `--learn 1`).
pub const VS_LEARN_S: f64 = 1.0;

/// Runs one mixture blind (or as `params` says) and, with `vs_learn`, learned as well.
#[allow(clippy::too_many_arguments)]
fn run_mixture(
    params: &Params,
    vs_learn: bool,
    signal: &str,
    m: &Mixture,
    noise: &str,
    event: &str,
    detail: String,
    snr: f64,
    rate: u32,
    seed: u64,
) -> anyhow::Result<(CaseResult, Vec<f32>)> {
    let out = ev::enhance_mixture(params, rate, m)?;
    let scores = metrics::score(&m.clean, &m.noisy, &out, rate);
    let learned_si_sdr_imp = if vs_learn {
        let mut lp = *params;
        lp.learn = VS_LEARN_S;
        let lo = ev::enhance_mixture(&lp, rate, m)?;
        Some(metrics::si_sdr_improvement(&m.clean, &m.noisy, &lo))
    } else {
        None
    };
    Ok((
        CaseResult {
            signal: signal.to_string(),
            noise: noise.to_string(),
            snr_db: Some(snr),
            rate,
            seed,
            event: event.to_string(),
            detail,
            scores,
            learned_si_sdr_imp,
        },
        out,
    ))
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
            event: "none".into(),
            detail: String::new(),
            scores: metrics::score(&clean[..n], &noisy[..n], &enhanced[..n], rate),
            learned_si_sdr_imp: None,
        });
    } else if !args.family.is_empty() {
        let seeds: Vec<u64> = args.seed.iter().flatten().copied().collect();
        let mut pairs: Vec<(Option<u32>, u64)> = Vec::new();
        for &s in &seeds {
            if args.rate.is_empty() {
                pairs.push((None, s));
            } else {
                pairs.extend(args.rate.iter().map(|&r| (Some(r), s)));
            }
        }
        save_dir(&args)?;
        for &fam in &args.family {
            let params = args.filter.resolve_or(fam.preset())?;
            let noises = if args.noise.is_empty() {
                fam.default_noise().to_vec()
            } else {
                args.noise.clone()
            };
            let snrs = if args.snr.is_empty() {
                fam.default_snr().to_vec()
            } else {
                args.snr.clone()
            };
            for &(rate, seed) in &pairs {
                let d = fam.draw(rate, args.duration, seed);
                for &colour in &noises {
                    for &event in &args.event {
                        for &snr in &snrs {
                            let (m, nd) = ev::mix_family(&d, colour, event, snr, seed);
                            let detail = [d.detail.as_str(), nd.as_str()]
                                .iter()
                                .filter(|s| !s.is_empty())
                                .copied()
                                .collect::<Vec<_>>()
                                .join("; ");
                            let (res, out) = run_mixture(
                                &params,
                                args.vs_learn,
                                fam.name(),
                                &m,
                                colour.name(),
                                event.name(),
                                detail,
                                snr,
                                d.rate,
                                seed,
                            )?;
                            save_case(&args, &res, &m, &out)?;
                            results.push(res);
                        }
                    }
                }
            }
        }
    } else {
        // Clean signals: files, or built-ins.
        let mut cleans: Vec<(String, Vec<f32>, u32, u64)> = Vec::new();
        let seeds: Vec<u64> = args.seed.iter().flatten().copied().collect();
        let seeds = if seeds.is_empty() { vec![1] } else { seeds };
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
            let rates = if args.rate.is_empty() {
                vec![48_000]
            } else {
                args.rate.clone()
            };
            for b in sigs {
                for &rate in &rates {
                    for &s in &seeds {
                        cleans.push((
                            b.name().to_string(),
                            b.generate(rate, args.duration, s),
                            rate,
                            s,
                        ));
                    }
                }
            }
        }
        save_dir(&args)?;
        let noises = if args.noise.is_empty() {
            vec![NoiseColour::White, NoiseColour::Pink]
        } else {
            args.noise.clone()
        };
        let snrs = if args.snr.is_empty() {
            vec![0.0, 5.0, 10.0]
        } else {
            args.snr.clone()
        };
        for (name, clean, rate, seed) in &cleans {
            for &colour in &noises {
                for &snr in &snrs {
                    let m = ev::mix(clean, colour, *rate, snr, *seed);
                    let (res, out) = run_mixture(
                        &params,
                        args.vs_learn,
                        name,
                        &m,
                        colour.name(),
                        "none",
                        String::new(),
                        snr,
                        *rate,
                        *seed,
                    )?;
                    save_case(&args, &res, &m, &out)?;
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

fn save_dir(args: &Args) -> anyhow::Result<()> {
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    Ok(())
}

/// Writes a case's clean, noisy, noise-clip and filtered signals to `--save DIR`.
fn save_case(args: &Args, r: &CaseResult, m: &Mixture, out: &[f32]) -> anyhow::Result<()> {
    let Some(dir) = &args.save else {
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
    for (kind, x) in [
        ("clean", &m.clean[..]),
        ("noisy", &m.noisy[..]),
        ("noise", &m.noise_clip[..]),
        ("filtered", out),
    ] {
        let path = dir.join(format!("{stem}_{kind}.wav"));
        if is_input(&path, &args.clean) {
            bail!("--save would overwrite the input {}", path.display());
        }
        write_wav(&path, x, r.rate, true)?;
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
    let families = results
        .iter()
        .any(|r| !r.detail.is_empty() || r.event != "none");
    let learned = results.iter().any(|r| r.learned_si_sdr_imp.is_some());
    if families {
        println!("families (each with its own preset unless --preset; blind tracking); dB except MN and STOI");
    } else {
        println!(
            "preset {preset} (blind tracking); dB except MN (log kurtosis ratio; 0 = none), STOI and FLK‰ (isolated flecks per 1000 noise-only cells; noise itself ≈ 0.1); NR = noise reduction in those cells"
        );
    }
    let lcol = if learned { " | learned    gap" } else { "" };
    println!(
        "{:<9} {:<9} {:<9} {:>5} {:>6} {:>5} | {:>7} {:>7} {:>7} | {:>7} | {:>6} {:>6} | {:>6} | {:>5} {:>5} | {:>5} {:>5}{lcol}{}",
        "signal",
        "noise",
        "event",
        "snr",
        "rate",
        "seed",
        "SDRin",
        "SDRout",
        "ΔSI-SDR",
        "ΔsegSNR",
        "LSDin",
        "LSDout",
        "MN",
        "STOIi",
        "STOIo",
        "FLK‰",
        "NR",
        if families { " | case" } else { "" }
    );
    let row = |sig: &str,
               noise: &str,
               event: &str,
               snr: String,
               rate: String,
               seed: String,
               s: &Scores,
               learn: Option<f64>,
               detail: &str| {
        let l = match learn {
            Some(v) => format!(" | {v:+7.2} {:+6.2}", s.si_sdr_imp - v),
            None if learned => " |     n/a    n/a".to_string(),
            None => String::new(),
        };
        let d = if families {
            format!(" | {detail}")
        } else {
            String::new()
        };
        println!(
            "{:<9} {:<9} {:<9} {:>5} {:>6} {:>5} | {:7.2} {:7.2} {:+7.2} | {:+7.2} | {:6.2} {:6.2} | {} | {} {} | {} {}{l}{d}",
            sig,
            noise,
            event,
            snr,
            rate,
            seed,
            s.si_sdr_in,
            s.si_sdr_out,
            s.si_sdr_imp,
            s.seg_snr_imp,
            s.lsd_in,
            s.lsd_out,
            fmt_opt(s.musical_noise),
            fmt_stoi(s.stoi_in),
            fmt_stoi(s.stoi_out),
            s.flecks
                .map(|f| format!("{:5.1}", f.output))
                .unwrap_or_else(|| "  n/a".into()),
            s.flecks
                .map(|f| format!("{:5.1}", f.noise_reduction_db))
                .unwrap_or_else(|| "  n/a".into())
        );
    };
    for r in results {
        let sig: String = r.signal.chars().take(9).collect();
        row(
            &sig,
            &r.noise,
            &r.event,
            r.snr_db
                .map(|v| format!("{v}"))
                .unwrap_or_else(|| "-".into()),
            format!("{}", r.rate),
            format!("{}", r.seed),
            &r.scores,
            r.learned_si_sdr_imp,
            &r.detail,
        );
    }
    if let Some(m) = mean {
        let l: Vec<f64> = results
            .iter()
            .filter_map(|r| r.learned_si_sdr_imp)
            .collect();
        let lm = (!l.is_empty() && l.len() == results.len())
            .then(|| l.iter().sum::<f64>() / l.len() as f64);
        row(
            "mean",
            "",
            "",
            String::new(),
            String::new(),
            String::new(),
            m,
            lm,
            "",
        );
    }
}
