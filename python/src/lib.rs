//! `specgate._specgate`: the Rust half of the Python package. Thin glue over the library: flat,
//! interleaved `float32` arrays in and out; the Python half (`specgate/__init__.py`) checks
//! dtypes and shapes and turns complex arrays into (I, Q) pairs and back.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use specgate::engine::{Engine as Core, SignalKind};
use specgate::params::{self, Params, ParamsPatch, PRESETS};
use specgate::stream::filter::{self as sfilter, FilterOptions};
use specgate::stream::sink::OutputSpec;
use specgate::stream::source::SliceSource;
use specgate::stream::{self, process_aligned, Cancel, InputSpec, ProbeHints, Source, StreamInfo};

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

/// Samples in memory handed out as a stream (no random access), so the I/Q floor is estimated
/// from the stream's head exactly as `specgate filter -` does on a pipe.
struct AsStream<'a>(SliceSource<'a>);

impl Source for AsStream<'_> {
    fn info(&self) -> &StreamInfo {
        self.0.info()
    }
    fn read(&mut self, buf: &mut [f32]) -> stream::Result<usize> {
        self.0.read(buf)
    }
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
    // The same path as `specgate filter - -f cf32le` (floor estimate from the stream's head,
    // pre-roll, time-aligned output), from memory to memory.
    let out = py.detach(|| -> Result<Vec<u8>, stream::StreamError> {
        let mut out: Vec<u8> = Vec::with_capacity(x.len() * 4);
        let mut src = AsStream(SliceSource::new(x, rate, 2, SignalKind::Complex));
        let opts = FilterOptions::default();
        sfilter::run(
            &mut src,
            OutputSpec::Writer(Box::new(&mut out)),
            &p,
            &opts,
            &Cancel::new(),
            None,
        )?;
        Ok(out)
    });
    let out = out.map_err(value_err)?;
    let y = out
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(PyArray1::from_vec(py, y))
}

/// Every sample of a recording (WAV/RF64, SigMF, raw I/Q by extension) as interleaved `f32`,
/// with its description: the stream core's probe and source, as `specgate filter` reads it.
fn read_recording(
    path: &std::path::Path,
    iq: Option<bool>,
) -> Result<(StreamInfo, Vec<f32>), stream::StreamError> {
    let hints = ProbeHints {
        force_iq: iq,
        describe_only: true,
        ..ProbeHints::default()
    };
    let mut src = stream::open(InputSpec::Path(path.to_path_buf()), &hints)?;
    let info = src.info().clone();
    let mut buf = vec![0.0f32; 65536 * info.channels.max(1)];
    let mut x = Vec::new();
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        x.extend_from_slice(&buf[..n]);
    }
    Ok((info, x))
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
    let (info, x) = py
        .detach(|| read_recording(&path, iq))
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
    Ok((
        PyArray1::from_vec(py, x),
        info.channels,
        (info.rate > 0).then_some(info.rate),
        info.is_iq(),
        info.center_hz,
        info.format,
    ))
}

/// A streaming engine over interleaved `float32` blocks (I, Q pairs when `iq`).
#[pyclass(module = "specgate._specgate")]
struct Engine {
    core: Core,
    width: usize,
}

#[pymethods]
impl Engine {
    #[new]
    fn new(rate: u32, channels: usize, preset: &str, iq: bool, overrides: &str) -> PyResult<Self> {
        let p = resolve(preset, overrides)?;
        let width = if iq { 2 * channels } else { channels };
        let core = Core::new(&p, rate, width, kind(iq)).map_err(value_err)?;
        Ok(Engine { core, width })
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
        self.core.reset();
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
