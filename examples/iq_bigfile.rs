//! Constant memory on a multi-GiB IQ recording: generates an SDRuno-style 16-bit IQ WAV of the
//! requested size (default 5 GiB, so the output must switch to RF64), filters it with the `iq`
//! preset, and reports wall time, CPU time, real-time factor and peak RSS (VmHWM).
//!
//! Run: `cargo run --release --example iq_bigfile -- [GiB] [dir]` (needs 2 × GiB of free disk).
//! Peak RSS must not grow with the file size: compare `-- 0.25` with `-- 5`.

use specgate::eval::signals::write_sdruno_test_recording;
use specgate::params::{Params, ParamsPatch};
use specgate::stream::filter::{filter_path, FilterOptions};
use specgate::stream::ProbeHints;
use std::time::Instant;

const RATE: u32 = 2_000_000;

fn status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .map(|l| l.to_string())
        })
        .unwrap_or_else(|| format!("{key} n/a"))
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 Hz on Linux).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let gib: f64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(5.0);
    let dir = std::path::PathBuf::from(args.get(2).cloned().unwrap_or_else(|| ".".into()));
    let frames = (gib * (1u64 << 30) as f64 / 4.0) as u64;
    let input = dir.join("SDRuno_20240101_000000Z_7150kHz.wav");
    let output = dir.join("SDRuno_20240101_000000Z_7150kHz_clean.wav");
    eprintln!(
        "generating {} ({frames} IQ samples, {gib} GiB)…",
        input.display()
    );
    write_sdruno_test_recording(&input, RATE, frames)?;
    eprintln!("after generation: {}", status("VmHWM"));
    let mut params = Params::default();
    ParamsPatch::from_toml(include_str!("../config/iq.toml"), "iq")?.apply_to(&mut params);
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let sum = filter_path(
        &input,
        &output,
        &params,
        &ProbeHints::default(),
        &FilterOptions::default(),
    )?;
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let audio_s = frames as f64 / RATE as f64;
    println!(
        "filtered {:.1} s of 2 MS/s 16-bit IQ ({gib} GiB): wall {wall:.1} s ({:.1}× real time), \
         CPU {cpu:.1} s ({:.1}× real time per core); output RF64: {}; attenuation {:.1} dB",
        audio_s,
        audio_s / wall,
        audio_s / cpu.max(1e-9),
        sum.rf64,
        sum.attenuation_db
    );
    println!("peak RSS: {}", status("VmHWM"));
    std::fs::remove_file(&input)?;
    std::fs::remove_file(&output)?;
    Ok(())
}
