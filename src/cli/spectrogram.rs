//! `specgate spectrogram`: a PNG spectrogram of a recording (real audio or I/Q), optionally
//! stacked with a filtered version and the gate's mask — the arguments of
//! [`crate::see::spectrogram`], and its notes printed.

use crate::see::render::ColorMap;
use crate::see::spectrogram::{self, Request};
use crate::units::parse_freq;
use std::path::PathBuf;

/// Render a spectrogram image (dB, automatic range, axes in s and Hz/kHz/MHz).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Input: WAV/RF64, SigMF, raw I/Q (.cu8/.cs16/.cf32), a FIFO, or `-` for stdin.
    pub input: PathBuf,
    /// Output PNG.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also show this filtered recording and the per-bin gain |STFT(out)|/|STFT(in)| below the
    /// input.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Treat the input as I/Q (two-sided spectrum) whatever the detection says.
    #[arg(long, conflicts_with = "no_iq")]
    pub iq: bool,
    /// Treat the input as real audio even if it looks like an I/Q recording.
    #[arg(long)]
    pub no_iq: bool,
    /// Centre (RF) frequency of I/Q input, e.g. `7.1M` (default: from the `auxi` chunk, SigMF or
    /// the recorder's file name): the frequency axis becomes absolute.
    #[arg(long, value_parser = parse_freq)]
    pub center_freq: Option<f64>,
    /// Override the file's sample rate, or give a raw file's (`48k`, `2M`).
    #[arg(long, value_parser = crate::units::parse_rate)]
    pub rate: Option<u32>,
    /// FFT length (default: about 40 ms, a power of two).
    #[arg(long)]
    pub n_fft: Option<usize>,
    /// Hop, samples (default: n_fft/4, or n_fft/2 for very long inputs).
    #[arg(long)]
    pub hop: Option<usize>,
    /// Dynamic range shown, dB below the top (default: automatic, at most 80 dB).
    #[arg(long)]
    pub range_db: Option<f64>,
    /// Level at the top of the colour scale, dBFS (default: 99.5th percentile).
    #[arg(long)]
    pub top_db: Option<f64>,
    /// Colour map: inferno, viridis or grey.
    #[arg(long, default_value = "inferno")]
    pub colormap: ColorMap,
    /// Plot width in pixels (image columns).
    #[arg(long, default_value_t = 1000)]
    pub width: usize,
    /// Height of each panel in pixels.
    #[arg(long, default_value_t = 360)]
    pub height: usize,
    /// Title (default: the input file name).
    #[arg(long)]
    pub title: Option<String>,
    /// Outline each emission `specgate features` detects (default gate preset: iq for I/Q,
    /// voice for audio) on the input panel.
    #[arg(long)]
    pub emissions: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let req = Request {
        force_iq: match (a.iq, a.no_iq) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        input: a.input,
        output: a.output,
        compare: a.compare,
        center_freq: a.center_freq,
        rate: a.rate,
        n_fft: a.n_fft,
        hop: a.hop,
        range_db: a.range_db,
        top_db: a.top_db,
        colormap: a.colormap,
        width: a.width,
        height: a.height,
        title: a.title,
        emissions: a.emissions,
    };
    spectrogram::check(&req)?;
    // The output is written only at the end: a signal removes its temp file and exits at once.
    crate::cancel::exit_on_signals()?;
    let t = std::time::Instant::now();
    let r = spectrogram::run(&req)?;
    for n in &r.notes {
        eprintln!("specgate: {n}");
    }
    eprintln!(
        "wrote {} ({}×{} px) from {:.2} s of signal in {:.2} s",
        req.output.display(),
        r.width,
        r.height,
        r.seconds,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
