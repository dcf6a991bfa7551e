//! `specgate demo`: a self-contained demonstration without a radio or a sound card. The
//! recording and its filtering are [`crate::eval::demo`]; this writes `noisy.wav`, `clean.wav`
//! and `filtered.wav` (16-bit PCM) and prints the measured gains and each preset's latency.

use crate::eval::demo::{self, CW_S, VOICE_S};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory (created if missing).
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Sample rate (48000 or 48k).
    #[arg(long, default_value = "48k", value_parser = demo_rate)]
    pub rate: u32,
    /// Seed of the synthetic recording.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Outputs are written whole at the end: a signal removes temp files and exits 128 + N.
    crate::cancel::exit_on_signals()?;
    let rate = args.rate;
    eprintln!(
        "specgate demo: {:.0} s recording at {rate} Hz: CW 0–{CW_S} s, voice {CW_S}–{} s",
        CW_S + VOICE_S,
        CW_S + VOICE_S
    );
    let d = demo::run(rate, args.seed)?;
    d.write(&args.out)?;
    println!(
        "{:<8} {:<6} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>8}",
        "part", "preset", "SNRin", "SNRout", "gain", "SISDRin", "SISDRout", "gain", "latency"
    );
    for p in d.parts() {
        let lat = match p.latency {
            None => String::from("-"),
            Some(l) => format!("{:.2} ms ({l} samples)", l as f64 * 1000.0 / rate as f64),
        };
        println!(
            "{:<8} {:<6} {:8.2} {:8.2} {:+8.2} | {:8.2} {:8.2} {:+8.2} | {lat}",
            p.part,
            p.preset,
            p.snr_in,
            p.snr_out,
            p.snr_out - p.snr_in,
            p.si_sdr_in,
            p.si_sdr_out,
            p.si_sdr_out - p.si_sdr_in
        );
    }
    println!(
        "wrote {}/{{noisy,clean,filtered}}.wav (16-bit, {rate} Hz)",
        args.out.display()
    );
    Ok(())
}

/// A demo rate: the project's rate syntax (`48k`), 1 kHz … 2 MHz (the synthetic recording is
/// held in memory).
fn demo_rate(s: &str) -> Result<u32, String> {
    let r = crate::units::parse_rate(s)?;
    if !(1_000..=2_000_000).contains(&r) {
        return Err(format!("demo rate {r} Hz: use 1k … 2M"));
    }
    Ok(r)
}
