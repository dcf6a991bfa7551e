//! `specgate info FILE`: what a recording is and how `specgate filter` would treat it.

use crate::io::iq::{probe, Container};
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
    let p = probe(&args.file, force)?;
    let m = &p.detection.meta;
    println!("file:        {}", args.file.display());
    println!("format:      {}", p.format);
    match p.rate {
        Some(r) => println!("rate:        {r} Hz"),
        None => println!("rate:        unknown (raw file: give --rate to filter)"),
    }
    println!("channels:    {}", p.channels);
    if let (Some(f), Some(d)) = (p.frames, p.duration_s()) {
        println!("duration:    {d:.3} s ({f} samples per channel)");
    }
    println!(
        "centre:      {}",
        m.center_hz.map(hz).unwrap_or_else(|| "unknown".into())
    );
    if let Some(t) = m.start {
        println!("start:       {t}");
    }
    if let Some(t) = m.stop {
        println!("stop:        {t}");
    }
    if !m.sources.is_empty() {
        println!("metadata:    {}", m.sources.join(", "));
    }
    if let Container::Wav(l) = &p.container {
        let ids: Vec<String> = l
            .before_data
            .iter()
            .map(|c| c.id_str())
            .chain(std::iter::once("data".to_string()))
            .chain(l.after_data.iter().map(|c| c.id_str()))
            .collect();
        println!("chunks:      {}", ids.join(" "));
        if let Some(a) = l.chunk(b"auxi") {
            println!("auxi:        {} bytes", a.data.len());
        }
    }
    println!(
        "treated as:  {} ({})",
        if p.detection.is_iq {
            "IQ (complex, two-sided gate)"
        } else {
            "audio (real channels)"
        },
        p.detection.reason
    );
    for w in &p.warnings {
        println!("warning:     {w}");
    }
    Ok(())
}
