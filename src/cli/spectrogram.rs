//! `specgate spectrogram`: a PNG spectrogram of a WAV (real audio or 2-channel I/Q), optionally
//! stacked with a filtered version and the gate's mask.

use super::invert::{atomic_write, open_wav, parse_rate, parse_si, refuse_overwrite, wav_samples};
use crate::see::render::{
    accumulate, accumulate_compare, auto_range_db, render, Axes, ColorMap, Columns, Panel,
    PanelKind, SpectrogramSpec, Style,
};
use anyhow::{bail, Context};
use num_complex::Complex32;
use std::path::{Path, PathBuf};

/// Render a spectrogram image (dB, automatic range, axes in s and Hz/kHz/MHz).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Input WAV (`-` = stdin).
    pub input: PathBuf,
    /// Output PNG.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also show this filtered WAV and the per-bin gain |STFT(out)|/|STFT(in)| below the input.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// The WAV holds I/Q pairs (2 channels): show a two-sided spectrum.
    #[arg(long)]
    pub iq: bool,
    /// Centre (RF) frequency of I/Q input, e.g. `7.1M`: the frequency axis becomes absolute.
    #[arg(long, value_parser = parse_si)]
    pub center_freq: Option<f64>,
    /// Override the file's sample rate (`48k`, `2M`).
    #[arg(long, value_parser = parse_rate)]
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
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut inputs: Vec<&Path> = vec![&a.input];
    if let Some(c) = &a.compare {
        inputs.push(c);
    }
    refuse_overwrite(&inputs, &a.output)?;
    if a.output == Path::new("-") {
        bail!("the PNG must go to a file");
    }
    if !(16..=20_000).contains(&a.width) || !(16..=8_000).contains(&a.height) {
        bail!("--width must be 16…20000 and --height 16…8000 pixels");
    }
    if a.range_db.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--range-db must be a positive number of dB");
    }
    let mut r = open_wav(&a.input)?;
    let wspec = r.spec();
    let ch = wspec.channels.max(1) as usize;
    if a.iq && ch != 2 {
        bail!(
            "--iq needs a 2-channel (I, Q) WAV; {} has {ch} channel(s)",
            a.input.display()
        );
    }
    let rate = a.rate.unwrap_or(wspec.sample_rate) as f64;
    let len = r.duration() as u64;
    let n_fft = a.n_fft.unwrap_or_else(|| SpectrogramSpec::auto_n_fft(rate));
    if !(16..=1 << 20).contains(&n_fft) {
        bail!("--n-fft must be between 16 and 1048576");
    }
    let hop = a
        .hop
        .unwrap_or_else(|| SpectrogramSpec::auto_hop(n_fft, len, a.width));
    if hop == 0 || hop > n_fft {
        bail!("--hop must be between 1 and n_fft ({n_fft})");
    }
    let spec = SpectrogramSpec {
        rate,
        n_fft,
        hop,
        complex: a.iq,
        center_freq: a.center_freq,
        width: a.width,
    };
    if a.center_freq.is_some() && !a.iq {
        eprintln!("specgate: --center-freq applies to I/Q input (--iq); ignored");
    }
    let t = std::time::Instant::now();
    let name = |p: &Path| {
        p.file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "stdin".into())
    };
    let mut err_a = None;
    let panels = match &a.compare {
        None => {
            let cols = {
                let s = frames(wav_samples(&mut r, &mut err_a), ch, a.iq);
                accumulate(s, len, &spec)
            };
            check(err_a, &a.input)?;
            let (b, top) = range(&cols, a.range_db, a.top_db);
            vec![Panel {
                title: String::new(),
                columns: cols,
                kind: PanelKind::Power {
                    bottom_db: b,
                    top_db: top,
                },
            }]
        }
        Some(cmp) => {
            let mut r2 = open_wav(cmp)?;
            let s2 = r2.spec();
            if s2.channels != wspec.channels || s2.sample_rate != wspec.sample_rate {
                bail!(
                    "{} ({} ch, {} Hz) does not match {} ({} ch, {} Hz)",
                    cmp.display(),
                    s2.channels,
                    s2.sample_rate,
                    a.input.display(),
                    ch,
                    wspec.sample_rate
                );
            }
            let mut err_b = None;
            let [ci, co, cm] = {
                let si = frames(wav_samples(&mut r, &mut err_a), ch, a.iq);
                let so = frames(wav_samples(&mut r2, &mut err_b), ch, a.iq);
                accumulate_compare(si, so, len, &spec)
            };
            check(err_a, &a.input)?;
            check(err_b, cmp)?;
            let (b, top) = range(&ci, a.range_db, a.top_db);
            let kind = PanelKind::Power {
                bottom_db: b,
                top_db: top,
            };
            vec![
                Panel {
                    title: format!("input: {}", name(&a.input)),
                    columns: ci,
                    kind,
                },
                Panel {
                    title: format!("output: {}", name(cmp)),
                    columns: co,
                    kind,
                },
                Panel {
                    title: "gate mask |STFT(out)| / |STFT(in)|".into(),
                    columns: cm,
                    kind: PanelKind::Gain,
                },
            ]
        }
    };
    let axes: Axes = spec.axes(len);
    let style = Style {
        width: a.width,
        height: a.height,
        colormap: a.colormap,
        title: Some(a.title.clone().unwrap_or_else(|| {
            format!(
                "{}   {:.0} Hz{}, n_fft {n_fft}, hop {hop}",
                name(&a.input),
                rate,
                if a.iq { " I/Q" } else { "" }
            )
        })),
    };
    let img = render(&panels, &axes, &style);
    atomic_write(&a.output, |tmp| {
        let f = std::fs::File::create(tmp)?;
        img.write_png(std::io::BufWriter::new(f))?;
        Ok(())
    })?;
    eprintln!(
        "wrote {} ({}×{} px) from {:.2} s of signal in {:.2} s",
        a.output.display(),
        img.width,
        img.height,
        len as f64 / rate,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn check(err: Option<anyhow::Error>, path: &Path) -> anyhow::Result<()> {
    match err {
        Some(e) => Err(e).with_context(|| format!("cannot decode {}", path.display())),
        None => Ok(()),
    }
}

fn range(cols: &Columns, range_db: Option<f64>, top_db: Option<f64>) -> (f64, f64) {
    let (b, t) = auto_range_db(&cols.data, range_db);
    match top_db {
        Some(top) => (top - (t - b), top),
        None => (b, t),
    }
}

/// Interleaved samples → one sample per frame: the channel mean (real) or I + jQ.
fn frames<'a>(
    samples: Box<dyn Iterator<Item = f32> + 'a>,
    ch: usize,
    iq: bool,
) -> impl Iterator<Item = Complex32> + 'a {
    let mut s = samples;
    std::iter::from_fn(move || {
        if iq {
            let i = s.next()?;
            let q = s.next()?;
            Some(Complex32::new(i, q))
        } else {
            let mut acc = 0.0;
            for _ in 0..ch {
                acc += s.next()?;
            }
            Some(Complex32::new(acc / ch as f32, 0.0))
        }
    })
}
