//! `specgate info FILE`: what a recording is and how `specgate filter` would treat it — the
//! stream core's probe, printed.

use crate::stream::{self, Container, InputSpec, ProbeHints};
use std::path::PathBuf;

/// Show a recording's format, rate, channels, duration, centre frequency, start/stop time
/// (from `auxi`, SigMF or the file name) and whether it would be filtered as IQ.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// WAV/RF64, SigMF (`.sigmf-meta` or `.sigmf-data`) or raw IQ (`.cu8`, `.cs8`, `.cs16`, `.cf32`).
    pub file: PathBuf,
    /// Treat the file as IQ whatever the detection says.
    #[arg(long, conflicts_with = "no_iq")]
    pub iq: bool,
    /// Treat the file as audio whatever the detection says.
    #[arg(long)]
    pub no_iq: bool,
}

fn hz(f: f64) -> String {
    if f.abs() >= 1e6 {
        format!("{:.6} MHz", f / 1e6)
    } else if f.abs() >= 1e3 {
        format!("{:.3} kHz", f / 1e3)
    } else {
        format!("{f} Hz")
    }
}

/// Prints the report on stdout; unreadable files are errors.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let force = match (args.iq, args.no_iq) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let hints = ProbeHints {
        force_iq: force,
        describe_only: true,
        ..ProbeHints::default()
    };
    let src = stream::open(InputSpec::from_path(&args.file), &hints)?;
    let p = src.info();
    println!("file:        {}", args.file.display());
    println!("format:      {}", p.format);
    match p.rate {
        0 => println!("rate:        unknown (raw file: give --rate to filter)"),
        r => println!("rate:        {r} Hz"),
    }
    println!("channels:    {}", p.channels);
    if let (Some(f), true) = (p.frames, p.rate > 0) {
        let d = f as f64 / p.rate as f64;
        println!("duration:    {d:.3} s ({f} samples per channel)");
    }
    println!(
        "centre:      {}",
        p.center_hz.map(hz).unwrap_or_else(|| "unknown".into())
    );
    if let Some(t) = p.start {
        println!("start:       {t}");
    }
    if let Some(t) = p.stop {
        println!("stop:        {t}");
    }
    if !p.meta_sources.is_empty() {
        println!("metadata:    {}", p.meta_sources.join(", "));
    }
    if p.container == Container::Wav && !p.chunks_before.is_empty() {
        let ids: Vec<String> = p
            .chunks_before
            .iter()
            .map(|c| c.id_str())
            .chain(std::iter::once("data".to_string()))
            .chain(p.chunks_after.iter().map(|c| c.id_str()))
            .collect();
        println!("chunks:      {}", ids.join(" "));
        if let Some(a) = p
            .chunks_before
            .iter()
            .chain(&p.chunks_after)
            .find(|c| &c.id == b"auxi")
        {
            println!("auxi:        {} bytes", a.data.len());
        }
    }
    println!(
        "treated as:  {} ({})",
        if p.is_iq() {
            "IQ (complex, two-sided gate)"
        } else {
            "audio (real channels)"
        },
        p.kind_reason
    );
    for w in &p.warnings {
        println!("warning:     {w}");
    }
    Ok(())
}
