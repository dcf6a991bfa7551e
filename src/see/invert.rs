//! A waveform from a magnitude spectrogram, as a library call: the whole `specgate invert`
//! (read a `.npy` spectrogram or a WAV's |STFT|, fast Griffin-Lim, write a WAV).

use crate::dsp::griffin_lim::{griffin_lim, magnitude, GriffinLimConfig, GriffinLimError, Init};
use crate::io::{npy, IoError, RawFormat};
use std::path::PathBuf;

/// Largest `n_fft` (1.4 s windows at 48 kHz: beyond any use, and bounded before sizing).
pub const MAX_N_FFT: usize = 1 << 16;

/// Why an inversion could not run.
#[derive(Debug, thiserror::Error)]
pub enum InvertError {
    #[error("cannot read {path}: {error}")]
    Npy { path: PathBuf, error: npy::NpyError },
    #[error("{path} is not a readable WAV file: {error}")]
    Wav { path: PathBuf, error: IoError },
    #[error("cannot write {path}: {error}")]
    Write { path: PathBuf, error: IoError },
    #[error(transparent)]
    GriffinLim(#[from] GriffinLimError),
    /// The request is out of bounds (sizes, memory, a missing rate, an output that is an input).
    #[error("{0}")]
    Request(String),
}

/// What to invert and how.
#[derive(Debug, Clone)]
pub struct Request {
    /// `.npy` magnitudes (n_fft/2+1 rows × frames) or a WAV (`-` = stdin).
    pub input: PathBuf,
    /// Output WAV (`-` = stdout).
    pub output: PathBuf,
    pub n_fft: usize,
    pub hop: usize,
    pub iterations: usize,
    pub momentum: f32,
    pub init: Init,
    /// Output rate; required for `.npy` input, else the WAV's.
    pub rate: Option<u32>,
    /// Call the progress callback every this many iterations (0 = never).
    pub report_every: usize,
    /// `F32Le` or `S16Le`.
    pub format: RawFormat,
}

/// What an inversion did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub rate: u32,
    pub samples: usize,
    /// Channels of a WAV input mixed down to mono (1 when nothing was mixed).
    pub channels_mixed: usize,
    pub final_sc_db: f64,
}

/// Checks the request's bounds before anything is sized or read.
pub fn check(req: &Request) -> Result<(), InvertError> {
    crate::io::atomic::refuse_input(&req.output, &[&req.input])
        .map_err(|e| InvertError::Request(e.to_string()))?;
    if !(16..=MAX_N_FFT).contains(&req.n_fft) || req.n_fft % 2 != 0 {
        return Err(InvertError::Request(format!(
            "--n-fft must be even and between 16 and {MAX_N_FFT}"
        )));
    }
    if req.hop == 0 || req.hop > req.n_fft {
        return Err(InvertError::Request(format!(
            "--hop must be between 1 and --n-fft ({})",
            req.n_fft
        )));
    }
    if !matches!(req.format, RawFormat::F32Le | RawFormat::S16Le) {
        return Err(InvertError::Request(
            "the output format is f32 or i16".into(),
        ));
    }
    Ok(())
}

/// Runs the inversion; `progress(iteration, spectral convergence dB)` as Griffin-Lim goes.
pub fn run(req: &Request, progress: impl FnMut(usize, f64)) -> Result<Report, InvertError> {
    check(req)?;
    let is_npy = req
        .input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let (mag, rows, rate, length, channels_mixed) = if is_npy {
        // The row count is checked from the header, before the data is read.
        let m = npy::read_matrix_file_rows(&req.input, req.n_fft / 2 + 1).map_err(|error| {
            InvertError::Npy {
                path: req.input.clone(),
                error,
            }
        })?;
        let rate = req.rate.ok_or_else(|| {
            InvertError::Request(
                "--rate is required for .npy input (the spectrogram does not carry it)".into(),
            )
        })?;
        (m.data, m.rows, rate, None, 1)
    } else {
        let (x, rate, ch) =
            crate::io::wav::read_mono(&req.input).map_err(|error| InvertError::Wav {
                path: req.input.clone(),
                error,
            })?;
        check_budget(x.len(), req.n_fft, req.hop)?;
        let (rows, _, m) = magnitude(&x, req.n_fft, req.hop)?;
        (m, rows, req.rate.unwrap_or(rate), Some(x.len()), ch)
    };
    let cfg = GriffinLimConfig {
        n_fft: req.n_fft,
        hop: req.hop,
        iterations: req.iterations,
        momentum: req.momentum,
        init: req.init,
        length,
    };
    let r = griffin_lim(&mag, rows, &cfg, req.report_every, progress)?;
    crate::io::wav::write_interleaved(&req.output, &r.signal, rate, 1, req.format).map_err(
        |error| InvertError::Write {
            path: req.output.clone(),
            error,
        },
    )?;
    Ok(Report {
        rate,
        samples: r.signal.len(),
        channels_mixed,
        final_sc_db: r.final_sc_db,
    })
}

/// Griffin-Lim holds about 32 bytes per time-frequency cell (magnitude, estimate, previous
/// estimate, scratch). Refused above 256 MiB or 64 times the decoded input, whichever is more:
/// a small file never needs much, a long one may need what its length implies.
fn check_budget(samples: usize, n_fft: usize, hop: usize) -> Result<(), InvertError> {
    let cells = (samples / hop + 1) as u64 * (n_fft / 2 + 1) as u64;
    let need = cells.saturating_mul(32);
    let limit = (256u64 << 20).max(samples as u64 * 4 * 64);
    if need > limit {
        return Err(InvertError::Request(format!(
            "--n-fft {n_fft} with --hop {hop} needs about {} MiB for {samples} samples \
             (limit {} MiB): use a larger --hop or a smaller --n-fft",
            need >> 20,
            limit >> 20
        )));
    }
    Ok(())
}
