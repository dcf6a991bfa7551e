//! `specgate._specgate`: the Rust half of the Python package. Thin glue over the library: flat,
//! interleaved `float32` arrays in and out; the Python half (`specgate/__init__.py`) checks
//! dtypes and shapes and turns complex arrays into (I, Q) pairs and back.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use specgate::engine::{process_aligned, Engine as Core, SignalKind};
use specgate::io::iq::{probe, Container, RawIq};
use specgate::io::iq_file::{filter_iq_stream, IqOptions};
use specgate::io::riff;
use specgate::params::{self, Params, ParamsPatch, PRESETS};
use std::io::Read;

fn value_err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Preset ← overrides (a TOML table built by the Python half from keyword arguments, checked by
/// the same parser as config files: unknown keys and out-of-range values name the key).
fn resolve(preset: &str, overrides: &str) -> PyResult<Params> {
    let patch = ParamsPatch::from_toml(overrides, "keyword arguments").map_err(value_err)?;
    params::resolve(preset, None, &patch).map_err(value_err)
}

fn kind(iq: bool) -> SignalKind {
    if iq {
        SignalKind::Complex
    } else {
        SignalKind::Real
    }
}

/// `[(name, description)]` of the shipped presets.
#[pyfunction]
fn presets() -> PyResult<Vec<(String, String)>> {
    PRESETS
        .iter()
        .map(|(n, _)| {
            let d = params::preset(n).map_err(value_err)?.description;
            Ok((n.to_string(), d.unwrap_or_default()))
        })
        .collect()
}

/// Filters a whole real signal (interleaved, `channels` wide), time-aligned: what
/// `specgate filter` does to an audio file.
#[pyfunction]
fn filter_real<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f32>,
    rate: u32,
    channels: usize,
    preset: &str,
    overrides: &str,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let p = resolve(preset, overrides)?;
    let mut e = Core::new(&p, rate, channels, SignalKind::Real).map_err(value_err)?;
    let x = x.as_slice()?;
    let y = py.detach(|| process_aligned(&mut e, x));
    Ok(PyArray1::from_vec(py, y))
}

/// Filters one complex I/Q signal (interleaved I, Q), time-aligned: what `specgate filter`
/// does to a raw IQ stream (`--format cf32le`), noise-floor estimate and pre-roll included.
#[pyfunction]
fn filter_iq<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f32>,
    rate: u32,
    preset: &str,
    overrides: &str,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let p = resolve(preset, overrides)?;
    let x = x.as_slice()?;
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let out = py.detach(|| -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(bytes.len());
        filter_iq_stream(
            &bytes[..],
            &mut out,
            RawIq::Cf32le,
            rate,
            &p,
            &IqOptions::default(),
        )?;
        Ok(out)
    });
    let out = out.map_err(|e| value_err(format!("{e:#}")))?;
    let y = out
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(PyArray1::from_vec(py, y))
}

/// Decodes `len` bytes of whole `unit`-byte frames from `r` (stops early at a short file):
/// memory follows the bytes actually read, not what a header claims.
fn decode_all(
    mut r: impl Read,
    len: u64,
    unit: usize,
    sample_bytes: usize,
    decode: impl Fn(&[u8], &mut [f32]),
) -> std::io::Result<Vec<f32>> {
    let block = unit * 65536;
    let (mut raw, mut out, mut left) = (Vec::new(), Vec::new(), len);
    while left > 0 {
        raw.clear();
        let n = (&mut r)
            .take(left.min(block as u64))
            .read_to_end(&mut raw)?;
        if n == 0 {
            break;
        }
        left -= n as u64;
        let whole = n - n % unit;
        let start = out.len();
        out.resize(start + whole / sample_bytes, 0.0);
        decode(&raw[..whole], &mut out[start..]);
        if whole < n {
            break;
        }
    }
    Ok(out)
}

/// Every sample of a recording (WAV/RF64, SigMF, raw I/Q) as interleaved `f32`, with its
/// probe. (Becomes the stream core's `Source` once that lands: one reader per format.)
fn read_recording(
    path: &std::path::Path,
    iq: Option<bool>,
) -> anyhow::Result<(specgate::io::iq::Probe, Vec<f32>)> {
    use std::fs::File;
    use std::io::BufReader;
    let pr = probe(path, iq)?;
    let x = match &pr.container {
        Container::Wav(l) => {
            let mut r = riff::SampleReader::new(BufReader::new(File::open(path)?), l)?;
            let mut buf = vec![0.0f32; 65536 * l.fmt.channels.max(1) as usize];
            let mut x = Vec::new();
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break x;
                }
                x.extend_from_slice(&buf[..n]);
            }
        }
        Container::Sigmf(s) => {
            let d = s.datatype;
            let unit = d.bytes() * d.components();
            decode_all(
                File::open(&s.data_path)?,
                s.data_len,
                unit,
                d.bytes(),
                |b, o| d.decode(b, o),
            )?
        }
        Container::Raw(raw) => {
            let len = std::fs::metadata(path)?.len();
            decode_all(
                File::open(path)?,
                len,
                2 * raw.bytes(),
                raw.bytes(),
                |b, o| raw.decode(b, o),
            )?
        }
    };
    Ok((pr, x))
}

/// Reads a recording: (interleaved samples, channels, rate or None, is_iq, centre Hz or None,
/// format text).
#[pyfunction]
#[pyo3(signature = (path, iq=None))]
#[allow(clippy::type_complexity)]
fn read<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    iq: Option<bool>,
) -> PyResult<(
    Bound<'py, PyArray1<f32>>,
    usize,
    Option<u32>,
    bool,
    Option<f64>,
    String,
)> {
    let (pr, x) = py
        .detach(|| read_recording(&path, iq))
        .map_err(|e| PyOSError::new_err(format!("{e:#}")))?;
    Ok((
        PyArray1::from_vec(py, x),
        pr.channels as usize,
        pr.rate,
        pr.detection.is_iq,
        pr.detection.meta.center_hz,
        pr.format,
    ))
}

/// A streaming engine over interleaved `float32` blocks (I, Q pairs when `iq`).
#[pyclass(module = "specgate._specgate")]
struct Engine {
    core: Core,
    params: Params,
    width: usize,
    iq: bool,
}

#[pymethods]
impl Engine {
    #[new]
    fn new(rate: u32, channels: usize, preset: &str, iq: bool, overrides: &str) -> PyResult<Self> {
        let p = resolve(preset, overrides)?;
        let width = if iq { 2 * channels } else { channels };
        let core = Core::new(&p, rate, width, kind(iq)).map_err(value_err)?;
        Ok(Engine {
            core,
            params: p,
            width,
            iq,
        })
    }

    #[getter]
    fn latency_samples(&self) -> usize {
        self.core.latency_samples()
    }

    #[getter]
    fn rate(&self) -> u32 {
        self.core.rate()
    }

    /// Interleaved samples in, the same number out (delayed by `latency_samples`).
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        x: PyReadonlyArray1<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let x = x.as_slice()?;
        if x.len() % self.width != 0 {
            return Err(value_err(format!(
                "block of {} values is not a whole number of frames of {}",
                x.len(),
                self.width
            )));
        }
        let mut y = vec![0.0f32; x.len()];
        let core = &mut self.core;
        py.detach(|| core.process(x, &mut y));
        Ok(PyArray1::from_vec(py, y))
    }

    /// Back to the state of a new engine (noise floor, gains and history forgotten).
    fn reset(&mut self) -> PyResult<()> {
        self.core = Core::new(&self.params, self.core.rate(), self.width, kind(self.iq))
            .map_err(value_err)?;
        Ok(())
    }
}

#[pymodule]
fn _specgate(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(filter_real, m)?)?;
    m.add_function(wrap_pyfunction!(filter_iq, m)?)?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_class::<Engine>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
