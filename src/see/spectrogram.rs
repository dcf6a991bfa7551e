//! A spectrogram image of a recording, as a library call: the whole `specgate spectrogram`.
//!
//! The input is opened by the stream core's probe, as `filter` and `info` open it: WAV/RF64,
//! SigMF, raw I/Q (`.cu8`, `.cs16`, `.cf32`, …), a FIFO or `-`. I/Q is detected the same way
//! (`auxi` chunk, recorder file name, SigMF datatype, raw I/Q format) and drawn two-sided, on an
//! absolute axis when the centre frequency is known (`auxi`, SigMF, file name, or the request).

use super::render::{
    accumulate, accumulate_compare, auto_range_db, render, Axes, ColorMap, Columns, Image, Panel,
    PanelKind, SpectrogramSpec, Style,
};
use crate::stream::{self, InputSpec, ProbeHints, Source, StreamError};
use num_complex::Complex32;
use std::path::{Path, PathBuf};

/// Why a spectrogram could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum SpectrogramError {
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: StreamError },
    #[error("cannot decode {path}: {error}")]
    Decode { path: PathBuf, error: StreamError },
    #[error("cannot write {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The request is out of bounds or does not fit the input.
    #[error("{0}")]
    Request(String),
}

fn request_err(msg: impl Into<String>) -> SpectrogramError {
    SpectrogramError::Request(msg.into())
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct Request {
    /// WAV/RF64, SigMF, raw I/Q, a FIFO, or `-`.
    pub input: PathBuf,
    /// The PNG (a file; a device or FIFO is written in place).
    pub output: PathBuf,
    /// A filtered version of the input: drawn below it, with the per-bin gain.
    pub compare: Option<PathBuf>,
    /// `Some(true)`: I/Q, `Some(false)`: real audio, `None`: as detected.
    pub force_iq: Option<bool>,
    /// Centre frequency of I/Q input, Hz (else from the file's metadata).
    pub center_freq: Option<f64>,
    /// Overrides the file's rate, or gives a raw file's.
    pub rate: Option<u32>,
    pub n_fft: Option<usize>,
    pub hop: Option<usize>,
    pub range_db: Option<f64>,
    pub top_db: Option<f64>,
    pub colormap: ColorMap,
    pub width: usize,
    pub height: usize,
    pub title: Option<String>,
    /// Outline each emission the feature detector finds (`specgate features`, default gate
    /// preset: iq for I/Q, voice for audio) on the input panel.
    pub emissions: bool,
}

/// What was drawn.
#[derive(Debug, Clone)]
pub struct Report {
    pub width: usize,
    pub height: usize,
    pub seconds: f64,
    /// Things the user should know (I/Q detected, an option that did not apply).
    pub notes: Vec<String>,
}

/// Checks the request before any input is opened.
pub fn check(req: &Request) -> Result<(), SpectrogramError> {
    let mut inputs: Vec<&Path> = vec![&req.input];
    if let Some(c) = &req.compare {
        inputs.push(c);
    }
    if let Some(i) = inputs.iter().find(|i| same_path(i, &req.output)) {
        return Err(request_err(format!(
            "refusing to overwrite the input {}",
            i.display()
        )));
    }
    if req.output == Path::new("-") {
        return Err(request_err("the PNG must go to a file"));
    }
    if !(16..=20_000).contains(&req.width) || !(16..=8_000).contains(&req.height) {
        return Err(request_err(
            "--width must be 16…20000 and --height 16…8000 pixels",
        ));
    }
    if req.range_db.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err(request_err("--range-db must be a positive number of dB"));
    }
    Ok(())
}

/// Draws the spectrogram and writes the PNG.
pub fn run(req: &Request) -> Result<Report, SpectrogramError> {
    check(req)?;
    let mut notes = Vec::new();
    let mut r = open_input(&req.input, req.force_iq, req.rate)?;
    let info = r.info().clone();
    let ch = info.channels;
    let iq = info.is_iq();
    if iq && ch < 2 {
        return Err(request_err(format!(
            "I/Q needs 2 channels (I, Q); {} has {ch}",
            req.input.display()
        )));
    }
    let rate = req.rate.unwrap_or(info.rate) as f64;
    if rate <= 0.0 {
        return Err(request_err(format!(
            "{}: unknown sample rate (use --rate)",
            req.input.display()
        )));
    }
    let len = info.frames.ok_or_else(|| {
        request_err(format!(
            "{}: the length of the recording is unknown (a raw stream): write it to a file first",
            req.input.display()
        ))
    })?;
    let n_fft = req
        .n_fft
        .unwrap_or_else(|| SpectrogramSpec::auto_n_fft(rate));
    if !(16..=1 << 20).contains(&n_fft) {
        return Err(request_err("--n-fft must be between 16 and 1048576"));
    }
    let hop = req
        .hop
        .unwrap_or_else(|| SpectrogramSpec::auto_hop(n_fft, len, req.width));
    if hop == 0 || hop > n_fft {
        return Err(request_err(format!(
            "--hop must be between 1 and n_fft ({n_fft})"
        )));
    }
    let center_freq = if iq {
        req.center_freq.or(info.center_hz)
    } else {
        None
    };
    let spec = SpectrogramSpec {
        rate,
        n_fft,
        hop,
        complex: iq,
        center_freq,
        width: req.width,
    };
    if req.center_freq.is_some() && !iq {
        notes.push("--center-freq applies to I/Q input (--iq); ignored".into());
    }
    if iq && req.force_iq != Some(true) {
        notes.push(format!("I/Q ({}): two-sided spectrum", info.kind_reason));
    }
    let name = |p: &Path| {
        p.file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "stdin".into())
    };
    let mut err_a = None;
    let panels = match &req.compare {
        None => {
            let cols = {
                let s = frames(r.as_mut(), iq, &mut err_a);
                accumulate(s, len, &spec)
            };
            check_read(err_a, &req.input)?;
            let (b, top) = range(&cols, req.range_db, req.top_db);
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
            let mut r2 = open_input(cmp, req.force_iq, req.rate)?;
            let s2 = r2.info().clone();
            if s2.channels != ch || s2.rate != info.rate {
                return Err(request_err(format!(
                    "{} ({} ch, {} Hz) does not match {} ({} ch, {} Hz)",
                    cmp.display(),
                    s2.channels,
                    s2.rate,
                    req.input.display(),
                    ch,
                    info.rate
                )));
            }
            let mut err_b = None;
            let [ci, co, cm] = {
                let si = frames(r.as_mut(), iq, &mut err_a);
                let so = frames(r2.as_mut(), iq, &mut err_b);
                accumulate_compare(si, so, len, &spec)
            };
            check_read(err_a, &req.input)?;
            check_read(err_b, cmp)?;
            let (b, top) = range(&ci, req.range_db, req.top_db);
            let kind = PanelKind::Power {
                bottom_db: b,
                top_db: top,
            };
            vec![
                Panel {
                    title: format!("input: {}", name(&req.input)),
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
        width: req.width,
        height: req.height,
        colormap: req.colormap,
        title: Some(req.title.clone().unwrap_or_else(|| {
            format!(
                "{}   {:.0} Hz{}, n_fft {n_fft}, hop {hop}",
                name(&req.input),
                rate,
                if iq { " I/Q" } else { "" }
            )
        })),
    };
    let mut img = render(&panels, &axes, &style);
    if req.emissions {
        let boxes = emission_outlines(req, center_freq)?;
        notes.push(format!("{} emissions outlined", boxes.len()));
        crate::see::render::draw_outlines(&mut img, 0, &axes, &boxes, [0, 255, 128]);
    }
    let mut inputs: Vec<&Path> = vec![&req.input];
    if let Some(c) = &req.compare {
        inputs.push(c);
    }
    write_png(&req.output, &img, &inputs).map_err(|error| SpectrogramError::Write {
        path: req.output.clone(),
        error,
    })?;
    Ok(Report {
        width: img.width,
        height: img.height,
        seconds: len as f64 / rate,
        notes,
    })
}

/// The detected emissions of `req.input` as boxes on the spectrogram's axes.
fn emission_outlines(
    req: &Request,
    center_freq: Option<f64>,
) -> Result<Vec<crate::see::render::Outline>, SpectrogramError> {
    use crate::features::{self, DetectorConfig};
    let mut src = open_input(&req.input, req.force_iq, req.rate)?;
    let info = src.info().clone();
    let preset = if info.is_iq() {
        "iq"
    } else {
        crate::params::DEFAULT_PRESET
    };
    let params = crate::params::resolve(preset, None, &crate::params::ParamsPatch::default())
        .map_err(|e| request_err(e.to_string()))?;
    let (found, _) = features::detect_all(
        src.as_mut(),
        &params,
        &crate::stream::filter::FilterOptions::default(),
        &DetectorConfig::default(),
    )
    .map_err(|error| SpectrogramError::Decode {
        path: req.input.clone(),
        error,
    })?;
    let rf0 = info.center_hz.unwrap_or(0.0);
    let axis0 = if info.is_iq() {
        center_freq.unwrap_or(0.0)
    } else {
        0.0
    };
    Ok(found
        .iter()
        .map(|e| {
            let c = e.center_hz - if e.freq_ref == "rf" { rf0 } else { 0.0 } + axis0;
            crate::see::render::Outline {
                t0: e.start_s,
                t1: e.end_s,
                f_lo: c - e.bandwidth_hz / 2.0,
                f_hi: c + e.bandwidth_hz / 2.0,
            }
        })
        .collect())
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

fn check_read(err: Option<StreamError>, path: &Path) -> Result<(), SpectrogramError> {
    match err {
        Some(error) => Err(SpectrogramError::Decode {
            path: path.to_path_buf(),
            error,
        }),
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

/// Opens a recording through the stream core's probe (describe-only: the rate may override a
/// header, and a raw file's rate may come from the request).
fn open_input(
    path: &Path,
    force_iq: Option<bool>,
    rate: Option<u32>,
) -> Result<Box<dyn Source>, SpectrogramError> {
    let hints = ProbeHints {
        force_iq,
        rate,
        describe_only: true,
        ..ProbeHints::default()
    };
    stream::open(InputSpec::from_path(path), &hints).map_err(|error| SpectrogramError::Read {
        path: path.to_path_buf(),
        error,
    })
}

/// Writes the PNG through the one atomic output (a device or FIFO is written in place).
fn write_png(path: &Path, img: &Image, inputs: &[&Path]) -> std::io::Result<()> {
    let a = crate::io::atomic::AtomicFile::create_checked(path, inputs)?;
    let mut w = std::io::BufWriter::new(a.file()?);
    img.write_png(&mut w).map_err(std::io::Error::other)?;
    std::io::Write::flush(&mut w)?;
    drop(w);
    a.commit()
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
