//! `specgate._specgate`: the Rust half of the Python package. Thin glue over the library: flat,
//! interleaved `float32` arrays in and out; the Python half (`specgate/__init__.py`) checks
//! dtypes and shapes and turns complex arrays into (I, Q) pairs and back.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use specgate::engine::{self, Engine as Core, SignalKind};
use specgate::features::segment::SegmentConfig;
use specgate::features::table::{Type, Value};
use specgate::features::{self, DetectorConfig, Geometry};
use specgate::params::{self, Params, ParamsPatch, PRESETS};
use specgate::stream::filter::{self as sfilter, FilterOptions};
use specgate::stream::sink::OutputSpec;
use specgate::stream::source::SliceSource;
use specgate::stream::{self, process_aligned, Cancel, InputSpec, ProbeHints, Source, StreamInfo};

fn value_err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// An operating-system error (a missing file, a failed read) is an `OSError`; anything else the
/// stream core refuses (a malformed file, contradictory options) a `ValueError`.
fn stream_err(e: stream::StreamError) -> PyErr {
    match e {
        stream::StreamError::Io(e) => PyOSError::new_err(e.to_string()),
        e => value_err(e),
    }
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

/// Opens a recording (WAV/RF64, SigMF, raw I/Q by extension) through the stream core's probe,
/// as `specgate filter` / `specgate features` open it. `rate`: the rate of a raw file whose name
/// does not give it.
fn open_recording(
    path: &std::path::Path,
    iq: Option<bool>,
    rate: Option<u32>,
    describe_only: bool,
) -> Result<Box<dyn Source>, stream::StreamError> {
    let hints = ProbeHints {
        force_iq: iq,
        rate,
        describe_only,
        ..ProbeHints::default()
    };
    stream::open(InputSpec::Path(path.to_path_buf()), &hints)
}

/// Every sample of a recording as interleaved `f32`, with its description.
fn read_recording(
    path: &std::path::Path,
    iq: Option<bool>,
) -> Result<(StreamInfo, Vec<f32>), stream::StreamError> {
    let mut src = open_recording(path, iq, None, true)?;
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

/// Samples in memory with a description of our own (a centre frequency), random access kept.
struct Described<'a> {
    inner: SliceSource<'a>,
    info: StreamInfo,
}

impl Source for Described<'_> {
    fn info(&self) -> &StreamInfo {
        &self.info
    }
    fn read(&mut self, buf: &mut [f32]) -> stream::Result<usize> {
        self.inner.read(buf)
    }
    fn read_at(&self, start: u64, n: usize) -> Option<stream::Result<Vec<f32>>> {
        self.inner.read_at(start, n)
    }
}

/// The input of a feature run: samples in memory (random access, like a file: the I/Q floor is
/// estimated from segments spread over the whole signal, as `specgate features FILE` does) or a
/// recording opened by the one reader.
enum Input<'a> {
    Samples {
        x: &'a [f32],
        rate: u32,
        channels: usize,
        iq: bool,
        center_hz: Option<f64>,
    },
    Path {
        path: std::path::PathBuf,
        iq: Option<bool>,
        rate: Option<u32>,
    },
}

impl Input<'_> {
    fn open(&self) -> PyResult<Box<dyn Source + '_>> {
        match self {
            Input::Samples {
                x,
                rate,
                channels,
                iq,
                center_hz,
            } => {
                let width = if *iq { 2 * channels } else { *channels };
                let inner = SliceSource::new(x, *rate, width, kind(*iq));
                let mut info = inner.info().clone();
                info.center_hz = *center_hz;
                Ok(Box::new(Described { inner, info }))
            }
            Input::Path { path, iq, rate } => {
                open_recording(path, *iq, *rate, false).map_err(|e| match e {
                    stream::StreamError::Io(e) => {
                        PyOSError::new_err(format!("cannot read {}: {e}", path.display()))
                    }
                    e => value_err(format!("cannot read {}: {e}", path.display())),
                })
            }
        }
    }

    /// The gate: the preset (default "iq" for I/Q, else the CLI's default) with the overrides.
    fn params(&self, src: &dyn Source, preset: Option<&str>, overrides: &str) -> PyResult<Params> {
        let default = if src.info().is_iq() {
            "iq"
        } else {
            params::DEFAULT_PRESET
        };
        resolve(preset.unwrap_or(default), overrides)
    }
}

fn samples_input<'a>(
    x: &'a PyReadonlyArray1<'a, f32>,
    rate: u32,
    channels: usize,
    iq: bool,
    center_hz: Option<f64>,
) -> PyResult<Input<'a>> {
    if channels == 0 {
        return Err(value_err("no channels"));
    }
    Ok(Input::Samples {
        x: x.as_slice()?,
        rate,
        channels,
        iq,
        center_hz,
    })
}

/// A table as `(columns, types, cells)`: the column names in table order, each column's type
/// (`"f"` float64, `"i"` integer, `"U"` text) and its cells, one Python list per column.
type Table = (Vec<String>, Vec<&'static str>, Vec<Py<PyAny>>);

fn type_code(t: Type) -> &'static str {
    match t {
        Type::Float => "f",
        Type::Int => "i",
        Type::Text => "U",
    }
}

fn table(py: Python<'_>, columns: &[(String, Type)], rows: &[Vec<Value>]) -> PyResult<Table> {
    let mut cells = Vec::with_capacity(columns.len());
    for (j, (name, t)) in columns.iter().enumerate() {
        // Column j of every row, each cell taken out by `pick` (None: a cell of another type).
        fn column<'a, T>(
            rows: &'a [Vec<Value>],
            j: usize,
            name: &str,
            pick: impl Fn(&'a Value) -> Option<T>,
        ) -> PyResult<Vec<T>> {
            rows.iter()
                .map(|r| {
                    r.get(j)
                        .and_then(&pick)
                        .ok_or_else(|| value_err(format!("column {name}: a cell of another type")))
                })
                .collect()
        }
        let col: Py<PyAny> = match t {
            Type::Float => {
                let v = column(rows, j, name, |c| match c {
                    Value::Float(f) => Some(*f),
                    _ => None,
                })?;
                PyArray1::from_vec(py, v).into_any().unbind()
            }
            Type::Int => {
                let v = column(rows, j, name, |c| match c {
                    Value::Int(i) => Some(*i),
                    _ => None,
                })?;
                PyArray1::from_vec(py, v).into_any().unbind()
            }
            Type::Text => {
                let v = column(rows, j, name, |c| match c {
                    Value::Text(s) => Some(s.as_str()),
                    _ => None,
                })?;
                v.into_pyobject(py)?.into_any().unbind()
            }
        };
        cells.push(col);
    }
    Ok((
        columns.iter().map(|(c, _)| c.clone()).collect(),
        columns.iter().map(|(_, t)| type_code(*t)).collect(),
        cells,
    ))
}

/// Emissions (`specgate features`): the table and the run's warnings.
#[allow(clippy::too_many_arguments)]
fn emissions(
    py: Python<'_>,
    input: Input<'_>,
    preset: Option<&str>,
    overrides: &str,
    min_duration_ms: Option<f64>,
    min_bandwidth_hz: Option<f64>,
    hold_ms: Option<f64>,
    max_open: Option<usize>,
    profile_s: Option<f64>,
) -> PyResult<(Table, Vec<String>)> {
    // Unset settings are the library's defaults (the CLI's flag defaults).
    let d = DetectorConfig::default();
    let det = DetectorConfig::from_flags(
        min_duration_ms.unwrap_or(d.min_duration_s * 1000.0),
        min_bandwidth_hz.unwrap_or(d.min_bandwidth_hz),
        hold_ms.unwrap_or(d.hold_s * 1000.0),
        max_open.unwrap_or(d.max_open),
    )
    .map_err(value_err)?;
    let opts = stream_opts(profile_s)?;
    let (rows, summary) = py.detach(|| -> PyResult<_> {
        let mut src = input.open()?;
        let p = input.params(src.as_ref(), preset, overrides)?;
        features::detect_all(src.as_mut(), &p, &opts, &det).map_err(stream_err)
    })?;
    let mut warnings = summary.warnings.clone();
    if summary.forced > 0 {
        warnings.push(format!(
            "{} regions were closed early (more than {} open at once; raise max_open)",
            summary.forced, summary.max_open
        ));
    }
    let columns: Vec<(String, Type)> = features::emission_columns()
        .into_iter()
        .map(|(c, t)| (c.to_string(), t))
        .collect();
    let rows: Vec<Vec<Value>> = rows.iter().map(|e| e.values()).collect();
    Ok((table(py, &columns, &rows)?, warnings))
}

/// Segment rows (`specgate features --segments`): the table.
fn segments(
    py: Python<'_>,
    input: Input<'_>,
    seconds: f64,
    preset: Option<&str>,
    overrides: &str,
    profile_s: Option<f64>,
) -> PyResult<Table> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0) {
        return Err(value_err(format!(
            "seconds must be a positive number of seconds, at most a day (got {seconds})"
        )));
    }
    let cfg = SegmentConfig {
        segment_s: seconds,
        ..Default::default()
    };
    let opts = stream_opts(profile_s)?;
    let mut header = Vec::new();
    let mut rows = Vec::new();
    py.detach(|| -> PyResult<_> {
        let mut src = input.open()?;
        let p = input.params(src.as_ref(), preset, overrides)?;
        features::segments(
            src.as_mut(),
            &p,
            &opts,
            &cfg,
            &Cancel::new(),
            None,
            &mut |c| {
                header = features::segment_header(c);
                Ok(())
            },
            &mut |r| {
                rows.push(features::segment_values(r));
                Ok(())
            },
        )
        .map_err(stream_err)
    })?;
    let columns: Vec<(String, Type)> = header.into_iter().map(|c| (c, Type::Float)).collect();
    table(py, &columns, &rows)
}

/// The CLI's stream options of `specgate features` (`--profile-s`; unset: the default).
fn stream_opts(profile_s: Option<f64>) -> PyResult<FilterOptions> {
    let Some(profile_s) = profile_s else {
        return Ok(FilterOptions::default());
    };
    if !(profile_s.is_finite() && profile_s >= 0.0) {
        return Err(value_err(format!(
            "profile_s must be a non-negative number of seconds (got {profile_s})"
        )));
    }
    Ok(FilterOptions {
        profile_s,
        ..FilterOptions::default()
    })
}

/// Emissions of samples in memory: interleaved `float32` (I, Q pairs when `iq`).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn emissions_of_samples(
    py: Python<'_>,
    x: PyReadonlyArray1<'_, f32>,
    rate: u32,
    channels: usize,
    iq: bool,
    center_hz: Option<f64>,
    preset: Option<&str>,
    overrides: &str,
    min_duration_ms: Option<f64>,
    min_bandwidth_hz: Option<f64>,
    hold_ms: Option<f64>,
    max_open: Option<usize>,
    profile_s: Option<f64>,
) -> PyResult<(Table, Vec<String>)> {
    let input = samples_input(&x, rate, channels, iq, center_hz)?;
    emissions(
        py,
        input,
        preset,
        overrides,
        min_duration_ms,
        min_bandwidth_hz,
        hold_ms,
        max_open,
        profile_s,
    )
}

/// Emissions of a recording.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn emissions_of_path(
    py: Python<'_>,
    path: std::path::PathBuf,
    iq: Option<bool>,
    rate: Option<u32>,
    preset: Option<&str>,
    overrides: &str,
    min_duration_ms: Option<f64>,
    min_bandwidth_hz: Option<f64>,
    hold_ms: Option<f64>,
    max_open: Option<usize>,
    profile_s: Option<f64>,
) -> PyResult<(Table, Vec<String>)> {
    emissions(
        py,
        Input::Path { path, iq, rate },
        preset,
        overrides,
        min_duration_ms,
        min_bandwidth_hz,
        hold_ms,
        max_open,
        profile_s,
    )
}

/// Segment rows of samples in memory.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn segments_of_samples(
    py: Python<'_>,
    x: PyReadonlyArray1<'_, f32>,
    rate: u32,
    channels: usize,
    iq: bool,
    seconds: f64,
    preset: Option<&str>,
    overrides: &str,
    profile_s: Option<f64>,
) -> PyResult<Table> {
    let input = samples_input(&x, rate, channels, iq, None)?;
    segments(py, input, seconds, preset, overrides, profile_s)
}

/// Segment rows of a recording.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn segments_of_path(
    py: Python<'_>,
    path: std::path::PathBuf,
    iq: Option<bool>,
    rate: Option<u32>,
    seconds: f64,
    preset: Option<&str>,
    overrides: &str,
    profile_s: Option<f64>,
) -> PyResult<Table> {
    segments(
        py,
        Input::Path { path, iq, rate },
        seconds,
        preset,
        overrides,
        profile_s,
    )
}

/// `(bin_hz, hop_s)`: the frequency and time resolution the detector measures with for this
/// gate at this rate (centre frequencies are power-weighted over bins of `bin_hz`; starts and
/// ends are frame boundaries, `hop_s` apart).
#[pyfunction]
fn resolution(rate: u32, iq: bool, preset: Option<&str>, overrides: &str) -> PyResult<(f64, f64)> {
    let p = resolve(
        preset.unwrap_or(if iq { "iq" } else { params::DEFAULT_PRESET }),
        overrides,
    )?;
    if rate == 0 {
        return Err(value_err("rate must be positive"));
    }
    let g = Geometry::new(&engine::stft_config(&p, rate), rate, iq, None);
    Ok((g.bin_hz(), g.hop as f64 / rate as f64))
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
    m.add_function(wrap_pyfunction!(emissions_of_samples, m)?)?;
    m.add_function(wrap_pyfunction!(emissions_of_path, m)?)?;
    m.add_function(wrap_pyfunction!(segments_of_samples, m)?)?;
    m.add_function(wrap_pyfunction!(segments_of_path, m)?)?;
    m.add_function(wrap_pyfunction!(resolution, m)?)?;
    m.add_class::<Engine>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
