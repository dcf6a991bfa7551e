//! `specgate invert`: a waveform from a magnitude spectrogram by fast Griffin-Lim.
//!
//! Also holds the small WAV helpers the see/invert commands share (reading goes through
//! `io::wav`; the hound-based writer is still to be unified with `io::wav`).

use crate::dsp::griffin_lim::{griffin_lim, magnitude, GriffinLimConfig, Init};
use crate::io::atomic::AtomicFile;
use crate::io::npy;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

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
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<u32>,
    /// Print the spectral convergence every N iterations on stderr (0 = never).
    #[arg(long, default_value_t = 8)]
    pub report_every: usize,
    /// Output sample format.
    #[arg(long, default_value = "f32", value_parser = ["f32", "i16"])]
    pub format: String,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    refuse_overwrite(&[&a.input], &a.output)?;
    // The output is written only at the end: a signal removes its temp file and exits at once.
    crate::cancel::exit_on_signals()?;
    // Bounds first: nothing below is sized before these hold.
    if !(16..=MAX_N_FFT).contains(&a.n_fft) || a.n_fft % 2 != 0 {
        bail!("--n-fft must be even and between 16 and {MAX_N_FFT}");
    }
    if a.hop == 0 || a.hop > a.n_fft {
        bail!("--hop must be between 1 and --n-fft ({})", a.n_fft);
    }
    let is_npy = a
        .input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let (mag, rows, rate, length) = if is_npy {
        // The row count is checked from the header, before the data is read.
        let m = npy::read_matrix_file_rows(&a.input, a.n_fft / 2 + 1)
            .with_context(|| format!("cannot read {}", a.input.display()))?;
        let rate = a
            .rate
            .context("--rate is required for .npy input (the spectrogram does not carry it)")?;
        (m.data, m.rows, rate, None)
    } else {
        let (rate, ch, x) = read_wav_mono(&a.input)?;
        if ch > 1 {
            eprintln!("specgate: mixing {ch} channels down to mono");
        }
        check_budget(x.len(), a.n_fft, a.hop)?;
        let (rows, _, m) = magnitude(&x, a.n_fft, a.hop)?;
        (m, rows, a.rate.unwrap_or(rate), Some(x.len()))
    };
    let cfg = GriffinLimConfig {
        n_fft: a.n_fft,
        hop: a.hop,
        iterations: a.iterations,
        momentum: a.momentum,
        init: if a.init == "zero" {
            Init::Zero
        } else {
            Init::Random { seed: a.seed }
        },
        length,
    };
    let t = std::time::Instant::now();
    let iters = a.iterations;
    let r = griffin_lim(&mag, rows, &cfg, a.report_every, |i, sc| {
        eprintln!("iteration {i:>4}/{iters}: spectral convergence {sc:7.2} dB");
    })?;
    let secs = t.elapsed().as_secs_f64();
    let dur = r.signal.len() as f64 / rate as f64;
    eprintln!(
        "reconstructed {dur:.2} s of audio in {secs:.3} s ({:.4} s per second of audio); final spectral convergence {:.2} dB",
        secs / dur.max(1e-9),
        r.final_sc_db
    );
    write_wav(&a.output, rate, 1, &r.signal, a.format == "i16")
}

/// Largest `--n-fft` (1.4 s windows at 48 kHz: beyond any use, and bounded before sizing).
pub const MAX_N_FFT: usize = 1 << 16;

/// Griffin-Lim holds about 32 bytes per time-frequency cell (magnitude, estimate, previous
/// estimate, scratch). Refused above 256 MiB or 64 times the decoded input, whichever is more:
/// a small file never needs much, a long one may need what its length implies.
fn check_budget(samples: usize, n_fft: usize, hop: usize) -> anyhow::Result<()> {
    let cells = (samples / hop + 1) as u64 * (n_fft / 2 + 1) as u64;
    let need = cells.saturating_mul(32);
    let limit = (256u64 << 20).max(samples as u64 * 4 * 64);
    if need > limit {
        bail!(
            "--n-fft {n_fft} with --hop {hop} needs about {} MiB for {samples} samples \
             (limit {} MiB): use a larger --hop or a smaller --n-fft",
            need >> 20,
            limit >> 20
        );
    }
    Ok(())
}

/// Sample rate: `48000`, `48k`, `2.4M`.
pub fn parse_rate(s: &str) -> Result<u32, String> {
    let v = parse_si(s)?;
    if !(v >= 1.0 && v <= u32::MAX as f64) || v.fract() != 0.0 {
        return Err(format!("'{s}' is not a positive whole sample rate"));
    }
    Ok(v as u32)
}

pub use super::common::parse_si;

/// Refuses an output path that names one of the inputs (checked early, before any work; the
/// output's [`AtomicFile::create_checked`] checks again).
pub(crate) fn refuse_overwrite(inputs: &[&Path], output: &Path) -> anyhow::Result<()> {
    Ok(crate::io::atomic::refuse_input(output, inputs)?)
}

/// Reads a whole WAV (`-` = stdin) with the one reader, mixed down to mono:
/// `(rate, channels, samples)`.
pub(crate) fn read_wav_mono(path: &Path) -> anyhow::Result<(u32, usize, Vec<f32>)> {
    let (x, rate, ch) = crate::io::wav::read_mono(path)
        .with_context(|| format!("{} is not a readable WAV file", path.display()))?;
    Ok((rate, ch, x))
}

/// Writes interleaved samples as a WAV (float32, or 16-bit with clipping) through
/// [`AtomicFile`] (`-` = stdout; a device or FIFO is written in place).
pub(crate) fn write_wav(
    path: &Path,
    rate: u32,
    channels: u16,
    data: &[f32],
    i16_out: bool,
) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: if i16_out { 16 } else { 32 },
        sample_format: if i16_out {
            hound::SampleFormat::Int
        } else {
            hound::SampleFormat::Float
        },
    };
    fn fill<W: std::io::Write + std::io::Seek>(
        w: &mut hound::WavWriter<W>,
        data: &[f32],
        i16_out: bool,
    ) -> hound::Result<()> {
        for v in data {
            if i16_out {
                w.write_sample((v.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
            } else {
                w.write_sample(*v)?;
            }
        }
        Ok(())
    }
    // Built in memory (the samples are in memory already): hound patches the header by
    // seeking, which a pipe, FIFO or stdout cannot do.
    let mut cur = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut cur, spec)?;
    fill(&mut w, data, i16_out)?;
    w.finalize()?;
    use std::io::Write;
    if path == Path::new("-") {
        std::io::stdout().write_all(cur.get_ref())?;
        return Ok(());
    }
    let out = AtomicFile::create(path)?;
    out.file()?.write_all(cur.get_ref())?;
    out.commit()?;
    Ok(())
}
