//! `specgate spectrogram`: a PNG spectrogram of a WAV (real audio or 2-channel I/Q), optionally
//! stacked with a filtered version and the gate's mask.

use super::invert::{atomic_write, parse_rate, parse_si, refuse_overwrite};
use crate::io::{wav::WavFileReader, SampleReader};
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
    let r = open_wav(&a.input)?;
    let (ch, in_rate) = (r.channels(), r.rate());
    if a.iq && ch != 2 {
        bail!(
            "--iq needs a 2-channel (I, Q) WAV; {} has {ch} channel(s)",
            a.input.display()
        );
    }
    let rate = a.rate.unwrap_or(in_rate) as f64;
    let len = r.len_frames().unwrap_or(0);
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
            if r2.channels() != ch || r2.rate() != in_rate {
                bail!(
                    "{} ({} ch, {} Hz) does not match {} ({} ch, {} Hz)",
                    cmp.display(),
                    r2.channels(),
                    r2.rate(),
                    a.input.display(),
                    ch,
                    in_rate
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

/// Opens a WAV (`-` = stdin) with the one RIFF/RF64 reader.
fn open_wav(path: &Path) -> anyhow::Result<Box<dyn SampleReader>> {
    let r: Box<dyn SampleReader> = if path == Path::new("-") {
        Box::new(WavFileReader::new(std::io::BufReader::new(
            std::io::stdin(),
        ))?)
    } else {
        Box::new(
            WavFileReader::open(path)
                .with_context(|| format!("{} is not a readable WAV file", path.display()))?,
        )
    };
    Ok(r)
}

/// The WAV's interleaved samples as f32, decoded in blocks by the reader. Read errors end the
/// stream and are stored in `err`; the reader's repairs are printed as warnings at the end.
fn samples<'a>(
    r: Box<dyn SampleReader>,
    err: &'a mut Option<anyhow::Error>,
) -> Box<dyn Iterator<Item = f32> + 'a> {
    let ch = r.channels();
    Box::new(BlockSamples {
        inner: r,
        out: vec![0.0; (1 << 16) * ch],
        len: 0,
        pos: 0,
        done: false,
        err,
    })
}

struct BlockSamples<'a> {
    inner: Box<dyn SampleReader>,
    out: Vec<f32>,
    len: usize,
    pos: usize,
    done: bool,
    err: &'a mut Option<anyhow::Error>,
}

impl Iterator for BlockSamples<'_> {
    type Item = f32;
    #[inline]
    fn next(&mut self) -> Option<f32> {
        if self.pos == self.len {
            if self.done {
                return None;
            }
            self.pos = 0;
            self.len = match self.inner.read(&mut self.out) {
                Ok(n) => n,
                Err(e) => {
                    *self.err = Some(e.into());
                    0
                }
            };
            for w in self.inner.take_warnings() {
                eprintln!("specgate: warning: {w}");
            }
            if self.len == 0 {
                self.done = true;
                return None;
            }
        }
        let v = self.out[self.pos];
        self.pos += 1;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_decoding_matches_hound_for_16_24_bit_and_float_wavs() {
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
            // hound as the independent oracle.
            let mut h = hound::WavReader::open(&path).unwrap();
            let want: Vec<f32> = match fmt {
                hound::SampleFormat::Float => h.samples::<f32>().map(|v| v.unwrap()).collect(),
                hound::SampleFormat::Int => {
                    let k = 1.0 / (1u64 << (bits - 1)) as f32;
                    h.samples::<i32>().map(|v| v.unwrap() as f32 * k).collect()
                }
            };
            let mut e2 = None;
            let got: Vec<f32> = samples(open_wav(&path).unwrap(), &mut e2).collect();
            assert!(e2.is_none());
            assert_eq!(got.len(), 150_000);
            assert_eq!(got, want, "{bits}-bit");
        }
    }
}
