//! `specgate demo`: a self-contained demonstration without a radio or a sound card.
//!
//! It synthesises an SDR-like recording — a Morse CW call, then a voice over, both in SSB-shaped
//! receiver noise (300–2700 Hz) with a little 50 Hz mains hum — and filters it. The split is in
//! time, as an operator would do it: each preset runs over the whole recording (so its noise
//! tracker has seen everything before), and the output takes the `cw` engine's output for the CW
//! part and the `voice` engine's for the voice part, joined by a 20 ms raised-cosine crossfade in
//! the silent gap between them. It writes `noisy.wav`, `clean.wav` and `filtered.wav` (16-bit PCM)
//! and prints the measured gains and each preset's latency.

use crate::eval::metrics;
use crate::eval::signals::{self, NoiseColour};
use crate::eval::{enhance, Builtin};
use crate::io::RawFormat;
use crate::params::{self, ParamsPatch};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

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

/// Length of the CW part and of the voice part, seconds.
const CW_S: f64 = 9.0;
const VOICE_S: f64 = 11.0;

/// Writes mono samples to `path` atomically: a temporary file in the same directory, renamed
/// over the target when complete (no partial file on error). `float`: 32-bit float, else 16-bit
/// PCM (clipped to ±1).
/// Writes a mono WAV (32-bit float or 16-bit) atomically.
pub(crate) fn write_wav(path: &Path, x: &[f32], rate: u32, float: bool) -> anyhow::Result<()> {
    let fmt = if float {
        RawFormat::F32Le
    } else {
        RawFormat::S16Le
    };
    crate::io::wav::write_mono(path, x, rate, fmt)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The synthetic recording: (clean, noisy, sample index where the voice part starts).
pub fn recording(rate: u32, seed: u64) -> (Vec<f32>, Vec<f32>, usize) {
    let split = (CW_S * rate as f64).round() as usize;
    let mut cw = signals::morse(rate, CW_S, signals::CQ_TEXT, 20.0, 700.0, 0.12, 0.5);
    // The CW part ends with its last full element: fade the cut over 5 ms.
    let fade = ((0.005 * rate as f64) as usize).min(cw.len());
    let n = cw.len();
    for (i, v) in cw[n - fade..].iter_mut().enumerate() {
        *v *= 1.0 - (i + 1) as f32 / fade as f32;
    }
    let voice = Builtin::Speech.generate(rate, VOICE_S, seed);
    let mut clean = cw;
    clean.extend_from_slice(&voice);
    let total = clean.len();
    let ssb = signals::noise(NoiseColour::Ssb, rate, total, seed ^ 0xD3);
    let hum = signals::hum(rate, total, 50.0, 0.008);
    // Receiver noise 5 dB under the voice (RMS 0.1 → 0.056).
    let g = 0.1 / 10f32.powf(5.0 / 20.0);
    let noisy = clean
        .iter()
        .zip(&ssb)
        .zip(&hum)
        .map(|((c, n), h)| c + g * n + h)
        .collect();
    (clean, noisy, split)
}

fn preset_params(name: &str) -> anyhow::Result<crate::params::Params> {
    Ok(params::resolve(name, None, &ParamsPatch::default())?)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // Outputs are written whole at the end: a signal removes temp files and exits 128 + N.
    crate::cancel::exit_on_signals()?;
    let rate = args.rate;
    let (clean, noisy, split) = recording(rate, args.seed);
    let cw_p = preset_params("cw")?;
    let voice_p = preset_params("voice")?;
    eprintln!(
        "specgate demo: {:.0} s recording at {rate} Hz: CW 0–{CW_S} s, voice {CW_S}–{} s",
        clean.len() as f64 / rate as f64,
        CW_S + VOICE_S
    );
    let out_cw = enhance(&cw_p, rate, &noisy)?;
    let out_voice = enhance(&voice_p, rate, &noisy)?;
    // Splice with a 20 ms raised-cosine crossfade centred on the split (silent gap there).
    let xf = ((0.02 * rate as f64) as usize).max(1);
    let a = split.saturating_sub(xf / 2);
    let filtered: Vec<f32> = (0..clean.len())
        .map(|i| {
            let w = if i < a {
                0.0
            } else if i >= a + xf {
                1.0
            } else {
                let t = (i - a) as f64 / xf as f64;
                (0.5 - 0.5 * (std::f64::consts::PI * t).cos()) as f32
            };
            out_cw[i] * (1.0 - w) + out_voice[i] * w
        })
        .collect();

    if args.out.exists() && !args.out.is_dir() {
        bail!("{} exists and is not a directory", args.out.display());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create directory {}", args.out.display()))?;
    for (name, x) in [
        ("noisy.wav", &noisy),
        ("clean.wav", &clean),
        ("filtered.wav", &filtered),
    ] {
        write_wav(&args.out.join(name), x, rate, false)?;
    }

    println!(
        "{:<8} {:<6} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>8}",
        "part", "preset", "SNRin", "SNRout", "gain", "SISDRin", "SISDRout", "gain", "latency"
    );
    let parts = [
        ("CW", "cw", 0..split, &cw_p),
        ("voice", "voice", split..clean.len(), &voice_p),
        ("whole", "split", 0..clean.len(), &voice_p),
    ];
    for (part, preset, r, p) in parts {
        let (c, x, y) = (&clean[r.clone()], &noisy[r.clone()], &filtered[r]);
        let (si, so) = (metrics::snr(c, x), metrics::snr(c, y));
        let (di, d) = (metrics::si_sdr(c, x), metrics::si_sdr(c, y));
        let lat = if preset == "split" {
            String::from("-")
        } else {
            let l = crate::engine::stft_config(p, rate).latency_samples();
            format!("{:.2} ms ({l} samples)", l as f64 * 1000.0 / rate as f64)
        };
        println!(
            "{part:<8} {preset:<6} {si:8.2} {so:8.2} {:+8.2} | {di:8.2} {d:8.2} {:+8.2} | {lat}",
            so - si,
            d - di
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
    let r = crate::io::parse_rate(s)?;
    if !(1_000..=2_000_000).contains(&r) {
        return Err(format!("demo rate {r} Hz: use 1k … 2M"));
    }
    Ok(r)
}
