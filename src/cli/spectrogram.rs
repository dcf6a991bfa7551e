//! `specgate spectrogram`: a PNG spectrogram of a recording (real audio or I/Q), optionally
//! stacked with a filtered version and the gate's mask.
//!
//! The input is opened by the stream core's probe, as `filter` and `info` open it: WAV/RF64,
//! SigMF, raw I/Q (`.cu8`, `.cs16`, `.cf32`, …), a FIFO or `-`. I/Q is detected the same way
//! (`auxi` chunk, recorder file name, SigMF datatype, raw I/Q format) and drawn two-sided, on an
//! absolute axis when the centre frequency is known (`auxi`, SigMF, file name, `--center-freq`).

use super::common::parse_freq;
use crate::see::render::{
    accumulate, accumulate_compare, auto_range_db, render, Axes, ColorMap, Columns, Panel,
    PanelKind, SpectrogramSpec, Style,
};
use crate::stream::{self, InputSpec, ProbeHints, Source, StreamError};
use anyhow::{bail, Context};
use num_complex::Complex32;
use std::path::{Path, PathBuf};

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
    #[arg(long, value_parser = crate::io::parse_rate)]
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
    let mut inputs: Vec<&Path> = vec![&a.input];
    if let Some(c) = &a.compare {
        inputs.push(c);
    }
    if let Some(i) = inputs.iter().find(|i| same_path(i, &a.output)) {
        bail!("refusing to overwrite the input {}", i.display());
    }
    if a.output == Path::new("-") {
        bail!("the PNG must go to a file");
    }
    // The output is written only at the end: a signal removes its temp file and exits at once.
    crate::cancel::exit_on_signals()?;
    if !(16..=20_000).contains(&a.width) || !(16..=8_000).contains(&a.height) {
        bail!("--width must be 16…20000 and --height 16…8000 pixels");
    }
    if a.range_db.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--range-db must be a positive number of dB");
    }
    let force = match (a.iq, a.no_iq) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let mut r = open_input(&a.input, force, a.rate)?;
    let info = r.info().clone();
    let ch = info.channels;
    let iq = info.is_iq();
    if iq && ch < 2 {
        bail!(
            "I/Q needs 2 channels (I, Q); {} has {ch}",
            a.input.display()
        );
    }
    let rate = a.rate.unwrap_or(info.rate) as f64;
    if rate <= 0.0 {
        bail!("{}: unknown sample rate (use --rate)", a.input.display());
    }
    let len = info.frames.with_context(|| {
        format!(
            "{}: the length of the recording is unknown (a raw stream): write it to a file first",
            a.input.display()
        )
    })?;
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
    let center_freq = if iq {
        a.center_freq.or(info.center_hz)
    } else {
        None
    };
    let spec = SpectrogramSpec {
        rate,
        n_fft,
        hop,
        complex: iq,
        center_freq,
        width: a.width,
    };
    if a.center_freq.is_some() && !iq {
        eprintln!("specgate: --center-freq applies to I/Q input (--iq); ignored");
    }
    if iq && !a.iq {
        eprintln!("specgate: I/Q ({}): two-sided spectrum", info.kind_reason);
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
                let s = frames(r.as_mut(), iq, &mut err_a);
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
            let mut r2 = open_input(cmp, force, a.rate)?;
            let s2 = r2.info().clone();
            if s2.channels != ch || s2.rate != info.rate {
                bail!(
                    "{} ({} ch, {} Hz) does not match {} ({} ch, {} Hz)",
                    cmp.display(),
                    s2.channels,
                    s2.rate,
                    a.input.display(),
                    ch,
                    info.rate
                );
            }
            let mut err_b = None;
            let [ci, co, cm] = {
                let si = frames(r.as_mut(), iq, &mut err_a);
                let so = frames(r2.as_mut(), iq, &mut err_b);
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
                if iq { " I/Q" } else { "" }
            )
        })),
    };
    let mut img = render(&panels, &axes, &style);
    if a.emissions {
        let boxes = super::features::emission_outlines(&a.input, force, a.rate, center_freq)?;
        eprintln!("{} emissions outlined", boxes.len());
        crate::see::render::draw_outlines(&mut img, 0, &axes, &boxes, [0, 255, 128]);
    }
    write_png(&a.output, &img, &inputs)?;
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

fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

fn check(err: Option<StreamError>, path: &Path) -> anyhow::Result<()> {
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

/// Opens a recording through the stream core's probe (describe-only: `--rate` may override a
/// header, and a raw file's rate may come from `--rate`).
fn open_input(
    path: &Path,
    force_iq: Option<bool>,
    rate: Option<u32>,
) -> anyhow::Result<Box<dyn Source>> {
    let hints = ProbeHints {
        force_iq,
        rate,
        describe_only: true,
        ..ProbeHints::default()
    };
    stream::open(InputSpec::from_path(path), &hints)
        .with_context(|| format!("cannot read {}", path.display()))
}

/// Writes the PNG through the one atomic output (a device or FIFO is written in place).
fn write_png(path: &Path, img: &crate::see::render::Image, inputs: &[&Path]) -> anyhow::Result<()> {
    let ctx = || format!("cannot write {}", path.display());
    let a = crate::io::atomic::AtomicFile::create_checked(path, inputs).with_context(ctx)?;
    let mut w = std::io::BufWriter::new(a.file().with_context(ctx)?);
    img.write_png(&mut w).with_context(ctx)?;
    std::io::Write::flush(&mut w).with_context(ctx)?;
    drop(w);
    a.commit().with_context(ctx)
}

/// The source's blocks as one sample per frame: the channel mean (real) or I + jQ (the first
/// pair). A read error ends the samples and is stored in `err`.
fn frames<'a>(
    src: &'a mut dyn Source,
    iq: bool,
    err: &'a mut Option<StreamError>,
) -> impl Iterator<Item = Complex32> + 'a {
    let ch = src.info().channels;
    let mut buf = vec![0f32; (1 << 16) / ch * ch];
    let (mut pos, mut end) = (0usize, 0usize);
    std::iter::from_fn(move || {
        if pos == end {
            match src.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => (pos, end) = (0, n),
                Err(e) => {
                    *err = Some(e);
                    return None;
                }
            }
        }
        let f = &buf[pos..pos + ch];
        pos += ch;
        Some(if iq {
            Complex32::new(f[0], f[1])
        } else {
            Complex32::new(f.iter().sum::<f32>() / ch as f32, 0.0)
        })
    })
}
