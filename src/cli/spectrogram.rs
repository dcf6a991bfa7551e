//! `specgate spectrogram`: a PNG spectrogram of a WAV (real audio or 2-channel I/Q), optionally
//! stacked with a filtered version and the gate's mask.

use super::invert::{open_wav, parse_rate, parse_si, refuse_overwrite};
use crate::io::atomic::AtomicFile;
use crate::see::render::{
    accumulate, accumulate_compare, auto_range_db, render, Axes, ColorMap, Columns, Panel,
    PanelKind, SpectrogramSpec, Style,
};
use anyhow::{bail, Context};
use num_complex::Complex32;
use std::io::Read;
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
    // The output is written only at the end: a signal removes its temp file and exits at once.
    crate::cancel::exit_on_signals()?;
    if !(16..=20_000).contains(&a.width) || !(16..=8_000).contains(&a.height) {
        bail!("--width must be 16…20000 and --height 16…8000 pixels");
    }
    if a.range_db.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--range-db must be a positive number of dB");
    }
    let r = open_wav(&a.input)?;
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
                let s = frames(samples(r, &mut err_a), ch, a.iq);
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
            let r2 = open_wav(cmp)?;
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
                let si = frames(samples(r, &mut err_a), ch, a.iq);
                let so = frames(samples(r2, &mut err_b), ch, a.iq);
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
    let out = AtomicFile::create_checked(&a.output, &inputs)?;
    let mut w = std::io::BufWriter::new(out.file()?);
    img.write_png(&mut w)?;
    std::io::Write::flush(&mut w)?;
    drop(w);
    out.commit()?;
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

/// The WAV's interleaved samples as f32. 16-bit PCM and 32-bit float — the common formats —
/// are decoded in blocks straight from the data chunk (hound's per-sample reads cost about
/// 20 ns a sample, which dominated hour-long renders); other formats go through hound.
/// Decoding errors end the stream and are stored in `err`.
fn samples<'a>(
    r: hound::WavReader<Box<dyn Read>>,
    err: &'a mut Option<anyhow::Error>,
) -> Box<dyn Iterator<Item = f32> + 'a> {
    let spec = r.spec();
    let kind = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => Some(Raw::I16),
        (hound::SampleFormat::Float, 32) => Some(Raw::F32),
        _ => None,
    };
    match kind {
        Some(kind) => {
            let remaining = r.len() as u64;
            Box::new(BlockSamples {
                inner: r.into_inner(),
                kind,
                remaining,
                bytes: Vec::new(),
                out: Vec::new(),
                pos: 0,
                err,
            })
        }
        None => match spec.sample_format {
            hound::SampleFormat::Float => Box::new(
                r.into_samples::<f32>()
                    .map_while(|v| v.map_err(|e| *err = Some(e.into())).ok()),
            ),
            hound::SampleFormat::Int => {
                let k = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
                Box::new(r.into_samples::<i32>().map_while(move |v| {
                    v.map(|v| v as f32 * k)
                        .map_err(|e| *err = Some(e.into()))
                        .ok()
                }))
            }
        },
    }
}

#[derive(Clone, Copy)]
enum Raw {
    I16,
    F32,
}

struct BlockSamples<'a> {
    inner: Box<dyn Read>,
    kind: Raw,
    /// Samples still to read.
    remaining: u64,
    bytes: Vec<u8>,
    out: Vec<f32>,
    pos: usize,
    err: &'a mut Option<anyhow::Error>,
}

impl Iterator for BlockSamples<'_> {
    type Item = f32;
    #[inline]
    fn next(&mut self) -> Option<f32> {
        if self.pos == self.out.len() {
            if self.remaining == 0 {
                return None;
            }
            let n = self.remaining.min(1 << 16) as usize;
            let width = match self.kind {
                Raw::I16 => 2,
                Raw::F32 => 4,
            };
            self.bytes.resize(n * width, 0);
            if let Err(e) = self.inner.read_exact(&mut self.bytes) {
                *self.err = Some(anyhow::Error::new(e).context("the WAV data ends early"));
                self.remaining = 0;
                return None;
            }
            self.remaining -= n as u64;
            self.out.clear();
            match self.kind {
                Raw::I16 => self.out.extend(
                    self.bytes
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0),
                ),
                Raw::F32 => self.out.extend(
                    self.bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                ),
            }
            self.pos = 0;
        }
        let v = self.out[self.pos];
        self.pos += 1;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::invert::wav_samples;

    #[test]
    fn block_decoding_matches_hound_for_16_bit_and_float_wavs() {
        let dir = tempfile::tempdir().unwrap();
        for (bits, fmt) in [
            (16, hound::SampleFormat::Int),
            (32, hound::SampleFormat::Float),
            (24, hound::SampleFormat::Int),
        ] {
            let path = dir.path().join(format!("t{bits}.wav"));
            let spec = hound::WavSpec {
                channels: 2,
                sample_rate: 8000,
                bits_per_sample: bits,
                sample_format: fmt,
            };
            let mut w = hound::WavWriter::create(&path, spec).unwrap();
            for i in 0..150_000i32 {
                let v = ((i * 7919) % 65536 - 32768) as f32 / 32768.0;
                match (fmt, bits) {
                    (hound::SampleFormat::Float, _) => w.write_sample(v).unwrap(),
                    (_, 16) => w.write_sample((v * 32767.0) as i16).unwrap(),
                    _ => w.write_sample((v * 8_388_607.0) as i32).unwrap(),
                }
            }
            w.finalize().unwrap();
            let mut e1 = None;
            let mut r = open_wav(&path).unwrap();
            let want: Vec<f32> = wav_samples(&mut r, &mut e1).collect();
            let mut e2 = None;
            let got: Vec<f32> = samples(open_wav(&path).unwrap(), &mut e2).collect();
            assert!(e1.is_none() && e2.is_none());
            assert_eq!(got.len(), 150_000);
            assert_eq!(got, want, "{bits}-bit");
        }
    }
}
