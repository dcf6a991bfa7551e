//! `specgate features IN -o OUT.csv|OUT.jsonl|-`: one row per detected emission.
//!
//! The input takes the one stream path (probe → engine primed as `filter` primes it → pump); the
//! detector ([`crate::features`]) watches the engine's frames beside a sink that keeps nothing,
//! and each emission is written as it closes through the one table writer, into the one atomic
//! output (or stdout).

use super::common::FilterOptions;
use super::common::{parse_input_format, progress_bar};
use crate::dsp::floor::{Band, Outside};
use crate::features::scene::{Family, Scene, SceneConfig};
use crate::features::score::{self, Counts, Score};
use crate::features::table::{Format, TableWriter};
use crate::features::{self, DetectorConfig, Emission, Geometry};
use crate::stream::probe::RawHint;
use crate::stream::sink::{self, OutputRequest, OutputSpec};
use crate::stream::{self, InputSpec, ProbeHints, Source};
use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const EXAMPLES: &str = "\
Examples:
  # Every emission in an SDRuno I/Q recording (centre frequency from its auxi chunk or name),
  # one CSV row each, centre_hz absolute (freq_ref = rf):
  specgate features SDRuno_20220309_140138Z_7150kHz.wav -o features.csv

  # JSON Lines on stdout, emissions of at least 50 ms and 300 Hz, gaps under 0.5 s bridged:
  specgate features capture.sigmf-meta --format jsonl --min-duration-ms 50 --min-bandwidth-hz 300 --hold-ms 500

  # rtl_sdr I/Q from a pipe:
  rtl_sdr -f 7.1M -s 2.4M - | specgate features - -f cu8 --rate 2.4M -o live.csv

  # The evaluation on synthetic scenes with known emitters (held-out seeds):
  specgate features --eval-scenes 101-110

Columns: channel, start_s, end_s, duration_s, center_hz, freq_ref (rf: absolute, the recording
knows its centre frequency; offset: from 0 Hz / the I/Q centre), bandwidth_hz (99 % power),
bandwidth_3db_hz, peak_dbfs, snr_db (over the local floor), duty_cycle, on_off_count,
freq_drift_hz_per_s, spectral_flatness, freq_spread_hz, frame_width_hz, level_cv, significance, kind, kind_rule.

Kinds (first rule that matches): burst (shorter than 250 ms); wideband (occupied bandwidth
>= 10 kHz); narrow (per-frame RMS width <= max(1 bin, 150 Hz)): unknown if its centre hops
(FSK), carrier if on >= 70 % of the time, cw if keyed (>= 3 elements); wider: voice if its
level varies (cv >= 0.25); otherwise unknown.

Emissions are written in the order they close (one hold time after their end), in constant
memory whatever the length of the recording.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input: WAV/RF64 (audio or I/Q), SigMF, a raw file (with --sample-format), a FIFO, or `-`.
    #[arg(required_unless_present_any = ["eval_scenes", "write_scene"])]
    pub input: Option<PathBuf>,
    /// Output table: a .csv or .jsonl file, or `-` for stdout.
    #[arg(short, long, default_value = "-")]
    pub output: PathBuf,
    /// Table format (default: from the output's extension; stdout: csv).
    #[arg(long, value_parser = parse_table_format)]
    pub format: Option<Format>,
    #[command(flatten)]
    pub opts: FilterOptions,
    /// Sample format of a raw input: audio s16le, f32le, …; I/Q cu8, cs8, cs16le, cf32le.
    #[arg(long, short = 'f', value_parser = parse_input_format, value_name = "FMT")]
    pub sample_format: Option<RawHint>,
    /// Sample rate of a raw input, Hz: 48k, 2.4M.
    #[arg(long, short = 'r', value_parser = crate::units::parse_rate, value_name = "HZ")]
    pub rate: Option<u32>,
    /// Interleaved channels of a raw input.
    #[arg(long, short = 'c', value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    pub channels: Option<u16>,
    /// Treat the input as I/Q whatever the detection says.
    #[arg(long, conflicts_with = "no_iq")]
    pub iq: bool,
    /// Treat the input as audio even if it looks like I/Q.
    #[arg(long)]
    pub no_iq: bool,
    /// I/Q: seconds of the recording analysed for the noise floor (0 = blind tracking).
    #[arg(long, default_value_t = 1.0)]
    pub profile_s: f64,
    /// Drop emissions shorter than this, ms.
    #[arg(long, default_value_t = 5.0, help_heading = "Detector")]
    pub min_duration_ms: f64,
    /// Drop emissions narrower (occupied bandwidth) than this, Hz.
    #[arg(long, default_value_t = 0.0, help_heading = "Detector")]
    pub min_bandwidth_hz: f64,
    /// Bridge gaps shorter than this, ms (one emission across key-up, letter and word gaps).
    #[arg(long, default_value_t = 2000.0, help_heading = "Detector")]
    pub hold_ms: f64,
    /// Most regions open at once (0: from the FFT size); at the bound the least recently active
    /// one is closed early.
    #[arg(long, default_value_t = 0, help_heading = "Detector")]
    pub max_open: usize,
    /// Evidence test over time, in standard deviations of the noise-only tail (0: off; the
    /// default 6 finds a few more weak 40–90 ms bursts the gate missed).
    #[arg(long, default_value_t = DetectorConfig::default().evidence_z, help_heading = "Detector")]
    pub evidence_z: f64,
    /// Instead of emissions: one row per fixed segment of this many seconds (band energies,
    /// spectral centroid, bandwidth, flatness, roll-off, 13 MFCCs; librosa's definitions) of the
    /// gated signal (`--reduction-db 0`: of the input itself).
    #[arg(long, value_name = "SECONDS")]
    pub segments: Option<f64>,
    /// Evaluate on synthetic I/Q scenes with these seeds (`101-110` or `1,5,9`) and print the
    /// table per family instead of reading an input.
    #[arg(long, value_name = "SEEDS", help_heading = "Evaluation")]
    pub eval_scenes: Option<String>,
    /// Scene sample rate.
    #[arg(long, default_value = "500k", value_parser = crate::units::parse_rate, help_heading = "Evaluation")]
    pub scene_rate: u32,
    /// Scene length, s.
    #[arg(long, default_value_t = 12.0, help_heading = "Evaluation")]
    pub scene_seconds: f64,
    /// Write the synthetic scene of --seed to this WAV (I/Q) and exit (no detection).
    #[arg(long, value_name = "WAV", help_heading = "Evaluation")]
    pub write_scene: Option<PathBuf>,
    /// Seed of --write-scene.
    #[arg(long, default_value_t = 1, help_heading = "Evaluation")]
    pub seed: u64,
    /// Print each missed emitter and each matched pair's errors (evaluation).
    #[arg(long, help_heading = "Evaluation")]
    pub verbose: bool,
    /// Only errors and warnings on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

fn parse_table_format(s: &str) -> Result<Format, String> {
    s.parse()
}

impl Args {
    fn detector(&self) -> anyhow::Result<DetectorConfig> {
        DetectorConfig::from_flags(
            self.min_duration_ms,
            self.min_bandwidth_hz,
            self.hold_ms,
            self.max_open,
        )
        .map_err(anyhow::Error::msg)
        .and_then(|d| {
            if !(self.evidence_z.is_finite() && self.evidence_z >= 0.0) {
                bail!("--evidence-z must be a non-negative number");
            }
            Ok(DetectorConfig {
                evidence_z: self.evidence_z,
                ..d
            })
        })
    }

    fn stream_opts(&self) -> stream::filter::FilterOptions {
        stream::filter::FilterOptions {
            profile_s: self.profile_s,
            band: None::<Band>,
            outside: Outside::Pass,
            ..Default::default()
        }
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(seeds) = &a.eval_scenes {
        return eval(&a, seeds);
    }
    if let Some(out) = &a.write_scene {
        return write_scene(&a, out);
    }
    let Some(input) = a.input.clone() else {
        bail!("give an input (or --eval-scenes)");
    };
    let det = a.detector()?;
    let cancel = crate::cancel::Cancel::on_signals()?;
    let to_stdout = a.output.as_os_str() == "-";
    if !to_stdout && input.as_os_str() != "-" && same_path(&input, &a.output) {
        bail!("refusing to overwrite the input {}", input.display());
    }
    let format = a.format.unwrap_or_else(|| Format::from_path(&a.output));
    let hints = ProbeHints {
        force_iq: match (a.iq, a.no_iq) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        format: a.sample_format,
        rate: a.rate,
        channels: a.channels.map(|c| c as usize),
        describe_only: false,
    };
    let mut src = stream::open(InputSpec::from_path(&input), &hints)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let info = src.info().clone();
    let params = a.opts.resolve_or(if info.is_iq() {
        "iq"
    } else {
        crate::params::DEFAULT_PRESET
    })?;
    if !a.quiet {
        eprintln!(
            "specgate: features of {} ({} Hz, {}{}), preset {}",
            info.format,
            info.rate,
            if info.is_iq() { "I/Q" } else { "audio" },
            info.center_hz
                .map(|c| format!(", centre {c} Hz"))
                .unwrap_or_default(),
            a.opts
                .preset
                .as_deref()
                .unwrap_or(if info.is_iq() { "iq" } else { "voice" })
        );
    }
    // The output: the one atomic file (a FIFO or device in place), or stdout.
    let inputs: Vec<&Path> = info.paths.iter().map(|p| p.as_path()).collect();
    let atomic = if to_stdout {
        None
    } else {
        Some(
            crate::io::atomic::AtomicFile::create_checked(&a.output, &inputs)
                .with_context(|| format!("cannot write {}", a.output.display()))?,
        )
    };
    let writer: Box<dyn Write> = match &atomic {
        Some(f) => Box::new(std::io::BufWriter::new(f.file()?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let pb = if a.quiet {
        None
    } else {
        progress_bar(info.frames, info.rate)
    };
    let mut tick = |n: u64| {
        if let Some(p) = &pb {
            p.inc(n)
        }
    };
    if let Some(seg) = a.segments {
        if !(seg.is_finite() && seg > 0.0 && seg <= 86_400.0) {
            bail!("--segments must be a positive number of seconds (got {seg})");
        }
        let cfg = crate::features::segment::SegmentConfig {
            segment_s: seg,
            ..Default::default()
        };
        let writer = std::cell::RefCell::new(Some(writer));
        let table = std::cell::RefCell::new(None::<TableWriter<Box<dyn Write>>>);
        let r = features::segments(
            src.as_mut(),
            &params,
            &a.stream_opts(),
            &cfg,
            &cancel,
            Some(&mut tick),
            &mut |c| {
                let header = features::segment_header(c);
                let names: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
                if let Some(w) = writer.borrow_mut().take() {
                    *table.borrow_mut() = Some(TableWriter::new(w, format, &names)?);
                }
                Ok(())
            },
            &mut |row| {
                let mut t = table.borrow_mut();
                let Some(t) = t.as_mut() else {
                    return Ok(());
                };
                t.row(&features::segment_values(row))?;
                if to_stdout {
                    t.flush()?;
                }
                Ok(())
            },
        );
        if let Some(p) = &pb {
            p.finish_and_clear();
        }
        match r {
            Ok(_) => {}
            Err(e) if e.is_broken_pipe() => {
                crate::cancel::record_broken_pipe();
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        let t = table.into_inner().context("no table")?;
        let rows = t.rows();
        t.into_inner()?;
        if let Some(f) = atomic {
            f.commit()
                .with_context(|| format!("cannot write {}", a.output.display()))?;
        }
        if !a.quiet {
            eprintln!("specgate: {rows} segments of {seg} s");
        }
        return Ok(());
    }
    let mut table = TableWriter::new(writer, format, &Emission::COLUMNS)?;
    let summary = features::detect(
        src.as_mut(),
        &params,
        &a.stream_opts(),
        &det,
        &cancel,
        Some(&mut tick),
        &mut |e| {
            table.row(&e.values())?;
            if to_stdout {
                table.flush()?;
            }
            Ok(())
        },
    );
    if let Some(p) = &pb {
        p.finish_and_clear();
    }
    let summary = match summary {
        Ok(s) => s,
        Err(e) if e.is_broken_pipe() => {
            crate::cancel::record_broken_pipe();
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let rows = table.rows();
    table.into_inner()?;
    if let Some(f) = atomic {
        f.commit()
            .with_context(|| format!("cannot write {}", a.output.display()))?;
    }
    for w in &summary.warnings {
        eprintln!("specgate: warning: {w}");
    }
    if summary.forced > 0 {
        eprintln!(
            "specgate: warning: {} regions were closed early (more than {} open at once; \
             raise --max-open)",
            summary.forced, summary.max_open
        );
    }
    if !a.quiet {
        eprintln!(
            "specgate: {rows} emissions in {:.2} s of signal{}",
            summary.frames_in as f64 / summary.rate.max(1) as f64,
            if summary.interrupted {
                " (interrupted: the table is complete up to there)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// `101-110` or `1,5,9` (or a mix).
pub fn parse_seeds(s: &str) -> anyhow::Result<Vec<u64>> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (u64, u64) = (a.trim().parse()?, b.trim().parse()?);
            if b < a || b - a > 10_000 {
                bail!("seed range {part} is empty or too long");
            }
            v.extend(a..=b);
        } else {
            v.push(part.parse()?);
        }
    }
    if v.is_empty() {
        bail!("no seeds in '{s}'");
    }
    Ok(v)
}

fn eval(a: &Args, seeds: &str) -> anyhow::Result<()> {
    let seeds = parse_seeds(seeds)?;
    let det = a.detector()?;
    let params = a.opts.resolve_or("iq")?;
    let opts = a.stream_opts();
    let mut total = Score::default();
    let mut geo = None;
    for &seed in &seeds {
        let scene = Scene::generate(SceneConfig::new(a.scene_rate, a.scene_seconds, seed));
        let mut src = scene.source();
        let (found, _) = features::detect_all(&mut src, &params, &opts, &det)?;
        let cfg = crate::engine::stft_config(&params, a.scene_rate);
        let g = Geometry::new(&cfg, a.scene_rate, true, None);
        let s = score::score(&scene, &g, &found, 6.0);
        if a.verbose {
            for (f, snr, dur, hz, t) in &s.missed {
                eprintln!(
                    "seed {seed}: missed {} at {snr:.1} dB, {t:.3} s for {dur:.3} s at {hz:.0} Hz",
                    f.name()
                );
            }
            for (c, t, d, snr, k, fam) in &s.fps {
                let of = fam.map_or("no emitter".to_string(), |f| {
                    format!("a {} emitter", f.name())
                });
                eprintln!(
                    "seed {seed}: false {k} at {c:.0} Hz, {t:.3} s for {d:.3} s, significance {snr:.1}, near {of}"
                );
            }
        }
        total.add(&s);
        geo = Some(g);
    }
    let g = geo.context("no scenes")?;
    if a.verbose {
        for p in &total.pairs {
            eprintln!(
                "{:<16} {:>6.1} dB  centre {:>+8.1} Hz  start {:>+7.4} s  end {:>+7.4} s  {}  significance {:.1}  (true {:.4}–{:.4} s)",
                p.family.name(),
                p.snr_db,
                p.centre_err_hz,
                p.start_err_s,
                p.end_err_s,
                p.kind,
                p.significance,
                p.true_start_s,
                p.true_end_s
            );
        }
    }
    println!(
        "features on synthetic I/Q scenes: {} seeds ({}), {} Hz, {} s each; bin {:.1} Hz, hop {:.2} ms; emitters >= 6 dB",
        seeds.len(),
        a.eval_scenes.as_deref().unwrap_or(""),
        a.scene_rate,
        a.scene_seconds,
        g.bin_hz(),
        g.hop as f64 * 1000.0 / g.rate as f64
    );
    println!(
        "{:<18} {:>8} {:>6} {:>9} {:>7} {:>9} {:>9} {:>9} {:>7}",
        "family", "emitters", "found", "precision", "recall", "centre", "start", "end", "kind"
    );
    let pct = |v: f64| {
        if v.is_nan() {
            "-".to_string()
        } else {
            format!("{:.3}", v)
        }
    };
    let line = |name: &str, c: &Counts| {
        println!(
            "{:<18} {:>8} {:>6} {:>9} {:>7} {:>9} {:>9} {:>9} {:>7}",
            name,
            c.emitters,
            c.detected,
            pct(c.precision()),
            pct(c.recall()),
            pct(c.centre()),
            pct(c.start()),
            pct(c.end()),
            pct(c.kind())
        );
    };
    for f in Family::ALL {
        if let Some(c) = total.by_family.get(&f) {
            line(f.name(), c);
        }
    }
    line("all", &total.total());
    println!(
        "(false positives matching no emitter: {}; centre: within one bin; start/end: within one hop)",
        total.unattributed_fp
    );
    Ok(())
}

fn write_scene(a: &Args, out: &Path) -> anyhow::Result<()> {
    crate::cancel::exit_on_signals()?;
    let mut cfg = SceneConfig::new(a.scene_rate, a.scene_seconds, a.seed);
    cfg.center_hz = Some(7_100_000.0);
    let scene = Scene::generate(cfg);
    let mut src = scene.source();
    let info = src.info().clone();
    let mut sink = sink::open(OutputSpec::from_path(out), &info, &OutputRequest::default())?;
    let mut buf = vec![0f32; 2 * 65_536];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sink.write(&buf[..n])?;
    }
    let r = sink.finish()?;
    eprintln!(
        "wrote {} ({} frames, {} emitters{})",
        out.display(),
        r.frames,
        scene.emitters.len(),
        if r.rf64 { ", RF64" } else { "" }
    );
    Ok(())
}
