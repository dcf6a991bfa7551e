//! `specgate eval`: the quality evaluation. Known clean signals (built-in or WAV files) are mixed
//! with known noise at known SNRs, filtered by the real engine with blind tracking (no noise
//! clip), and scored against the truth: SI-SDR, segmental SNR, log-spectral distance and the
//! musical-noise indicator. `--noisy`/`--enhanced` score a given mixture or another tool's output
//! with the same metrics.

use super::common::FilterOptions;
use crate::eval::families::{Event, Family};
use crate::eval::metrics::Scores;
use crate::eval::plan::{Cases, ParamChoice, Plan};
use crate::eval::signals::NoiseColour;
use crate::eval::{self as ev, Builtin, CaseResult};
use anyhow::bail;
use std::path::PathBuf;

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
    let r = crate::units::parse_rate(s)?;
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

/// The library's [`Plan`] for these arguments (the config file is read here).
fn plan(args: &Args) -> anyhow::Result<Plan> {
    let config = args.filter.config_patch()?;
    let cases = if let Some(noisy) = &args.noisy {
        if args.clean.len() != 1 {
            bail!("--noisy needs exactly one --clean file");
        }
        Cases::Given {
            clean: args.clean[0].clone(),
            noisy: noisy.clone(),
            enhanced: args.enhanced.clone(),
        }
    } else if !args.family.is_empty() {
        Cases::Families {
            families: args.family.clone(),
            events: args.event.clone(),
        }
    } else if !args.clean.is_empty() {
        Cases::Files(args.clean.clone())
    } else {
        Cases::Builtins(args.signal.clone())
    };
    Ok(Plan {
        params: ParamChoice {
            preset: args.filter.preset.clone(),
            config,
            flags: args.filter.params.to_patch(),
        },
        cases,
        snr: args.snr.clone(),
        noise: args.noise.clone(),
        rate: args.rate.clone(),
        duration: args.duration,
        seeds: args.seed.iter().flatten().copied().collect(),
        vs_learn: args.vs_learn,
        save: args.save.clone(),
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Outputs are written whole at the end: a signal removes temp files and exits 128 + N.
    crate::cancel::exit_on_signals()?;
    // Parameters are checked before any work.
    let params = args.filter.resolve()?;
    let report = ev::plan::run(&plan(&args)?)?;
    for w in &report.warnings {
        eprintln!("specgate eval: {w}");
    }
    let results = report.cases;
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
