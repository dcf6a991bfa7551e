//! `specgate invert`: a waveform from a magnitude spectrogram by fast Griffin-Lim — the
//! arguments of [`crate::see::invert`], and its progress printed.

use crate::dsp::griffin_lim::Init;
use crate::io::RawFormat;
use crate::see::invert::{self, Request};
use std::path::PathBuf;

/// Reconstruct audio from a magnitude spectrogram (.npy, frequency × time) or from the |STFT|
/// of a WAV (phase discarded), with fast Griffin-Lim (librosa conventions: periodic Hann,
/// centred frames, zero padding).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Magnitude spectrogram `.npy` (float32/float64, n_fft/2+1 rows × frames, C or Fortran
    /// order) or a WAV file (`-` = WAV on stdin).
    pub input: PathBuf,
    /// Output WAV (`-` = stdout).
    #[arg(short, long)]
    pub output: PathBuf,
    /// FFT and window length (even).
    #[arg(long, default_value_t = 512)]
    pub n_fft: usize,
    /// Hop between frames, samples.
    #[arg(long, default_value_t = 128)]
    pub hop: usize,
    /// Griffin-Lim iterations.
    #[arg(long, default_value_t = 32)]
    pub iterations: usize,
    /// Fast Griffin-Lim momentum (0 = classic Griffin-Lim).
    #[arg(long, default_value_t = 0.99)]
    pub momentum: f32,
    /// Initial phases: zero or random.
    #[arg(long, default_value = "random", value_parser = ["zero", "random"])]
    pub init: String,
    /// Seed for random initial phases.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output sample rate (`16000`, `16k`); required for .npy input, defaults to the WAV's rate.
    #[arg(long, value_parser = crate::units::parse_rate)]
    pub rate: Option<u32>,
    /// Print the spectral convergence every N iterations on stderr (0 = never).
    #[arg(long, default_value_t = 8)]
    pub report_every: usize,
    /// Output sample format.
    #[arg(long, default_value = "f32", value_parser = ["f32", "i16"])]
    pub format: String,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let req = Request {
        input: a.input,
        output: a.output,
        n_fft: a.n_fft,
        hop: a.hop,
        iterations: a.iterations,
        momentum: a.momentum,
        init: if a.init == "zero" {
            Init::Zero
        } else {
            Init::Random { seed: a.seed }
        },
        rate: a.rate,
        report_every: a.report_every,
        format: if a.format == "i16" {
            RawFormat::S16Le
        } else {
            RawFormat::F32Le
        },
    };
    // Bounds first: nothing is sized before these hold.
    invert::check(&req)?;
    // The output is written only at the end: a signal removes its temp file and exits at once.
    crate::cancel::exit_on_signals()?;
    let t = std::time::Instant::now();
    let iters = req.iterations;
    let r = invert::run(&req, |i, sc| {
        eprintln!("iteration {i:>4}/{iters}: spectral convergence {sc:7.2} dB");
    })?;
    if r.channels_mixed > 1 {
        eprintln!("specgate: mixed {} channels down to mono", r.channels_mixed);
    }
    let secs = t.elapsed().as_secs_f64();
    let dur = r.samples as f64 / r.rate as f64;
    eprintln!(
        "reconstructed {dur:.2} s of audio in {secs:.3} s ({:.4} s per second of audio); final spectral convergence {:.2} dB",
        secs / dur.max(1e-9),
        r.final_sc_db
    );
    Ok(())
}
