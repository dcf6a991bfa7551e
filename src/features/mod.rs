//! Features for classification: emissions detected in the gate's decisions and described.
//!
//! The engine already decides, for every time-frequency cell, whether something stands above the
//! noise floor. [`detect::Detector`] turns connected regions of those cells into emissions
//! (start, end, centre, bandwidths, level, SNR, keying, drift, flatness and a `kind` guess) in
//! stream order and constant memory. It is a consumer of the one pump
//! ([`crate::stream::pump::FrameObserver`]) beside a sink that discards the samples, so it works
//! for every input the stream core reads — WAV/RF64, SigMF, raw audio or I/Q, files and pipes,
//! real and complex — with the same priming as `specgate filter` (I/Q noise floor from the
//! recording, mirrored pre-roll).
//!
//! [`table`] writes the rows (CSV or JSON Lines). `scene` (feature `eval`) generates synthetic
//! I/Q scenes with known emitters and `score` compares detections with them.

pub mod detect;
#[cfg(feature = "eval")]
pub mod scene;
#[cfg(feature = "eval")]
pub mod score;
pub mod segment;
pub mod table;

pub use detect::{Detector, DetectorConfig, Emission, Geometry, Kind};

use crate::engine::{self, FrameView};
use crate::params::Params;
use crate::stream::filter::{self, FilterOptions};
use crate::stream::pump::{Cancel, FrameObserver, Timing};
use crate::stream::{Result, Sink, SinkReport, Source, StreamError};

/// The emission table's header — the columns `specgate features` prints, in order — with each
/// column's cell type, for typed readers (the Python package builds its numpy dtype from it).
pub fn emission_columns() -> Vec<(&'static str, table::Type)> {
    let probe = Emission {
        channel: 0,
        start_s: 0.0,
        end_s: 0.0,
        duration_s: 0.0,
        center_hz: 0.0,
        freq_ref: "offset",
        bandwidth_hz: 0.0,
        bandwidth_3db_hz: 0.0,
        peak_dbfs: 0.0,
        snr_db: 0.0,
        duty_cycle: 0.0,
        on_off_count: 0,
        freq_drift_hz_per_s: 0.0,
        spectral_flatness: 0.0,
        freq_spread_hz: 0.0,
        frame_width_hz: 0.0,
        level_cv: 0.0,
        kind: Kind::Unknown,
    };
    let types = probe.values();
    Emission::COLUMNS
        .iter()
        .zip(&types)
        .map(|(c, v)| (*c, v.type_of()))
        .collect()
}

/// The segment table's header (`specgate features --segments`): `start_s`, `end_s`, then the
/// extractor's feature columns ([`segment::SegmentExtractor::columns`]); every cell is a float.
pub fn segment_header(feature_columns: &[String]) -> Vec<String> {
    ["start_s", "end_s"]
        .iter()
        .map(|s| s.to_string())
        .chain(feature_columns.iter().cloned())
        .collect()
}

/// A segment row's values, in [`segment_header`] order.
pub fn segment_values(row: &segment::SegmentRow) -> Vec<table::Value> {
    [row.start_s, row.end_s]
        .iter()
        .chain(&row.values)
        .map(|v| table::Value::Float(*v))
        .collect()
}

impl DetectorConfig {
    /// The detector settings `specgate features` takes as flags, in the flags' units (ms, Hz),
    /// checked (the CLI and the Python package share this): the rest are the defaults.
    pub fn from_flags(
        min_duration_ms: f64,
        min_bandwidth_hz: f64,
        hold_ms: f64,
        max_open: usize,
    ) -> std::result::Result<Self, String> {
        for (name, v) in [
            ("min_duration_ms", min_duration_ms),
            ("min_bandwidth_hz", min_bandwidth_hz),
            ("hold_ms", hold_ms),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be a non-negative number (got {v})"));
            }
        }
        if hold_ms > 3_600_000.0 {
            return Err("hold_ms must be at most an hour".into());
        }
        Ok(DetectorConfig {
            min_duration_s: min_duration_ms / 1000.0,
            min_bandwidth_hz,
            hold_s: hold_ms / 1000.0,
            max_open,
            ..DetectorConfig::default()
        })
    }
}

/// A sink that keeps nothing: the detector only needs the engine's frames.
#[derive(Debug, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn write(&mut self, _buf: &[f32]) -> Result<()> {
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<SinkReport> {
        Ok(SinkReport::default())
    }
}

/// What a detection run did.
#[derive(Debug, Clone)]
pub struct FeatureSummary {
    pub rate: u32,
    pub complex: bool,
    pub center_hz: Option<f64>,
    pub frames_in: u64,
    pub emissions: u64,
    /// Regions closed early at the open-region bound.
    pub forced: u64,
    pub max_open: usize,
    pub interrupted: bool,
    pub warnings: Vec<String>,
}

/// One detector per STFT channel, fed by the pump.
struct Observer<'e> {
    dets: Vec<Detector>,
    emit: &'e mut dyn FnMut(Emission) -> std::io::Result<()>,
    error: Option<std::io::Error>,
}

impl FrameObserver for Observer<'_> {
    fn preroll(&mut self, frames: u64) {
        self.dets.iter_mut().for_each(|d| d.set_preroll(frames));
    }
    fn frame(&mut self, v: &FrameView) {
        let Some(d) = self.dets.get_mut(v.channel) else {
            return;
        };
        let (emit, error) = (&mut self.emit, &mut self.error);
        d.push(v, &mut |e| {
            if error.is_none() {
                if let Err(x) = emit(e) {
                    *error = Some(x);
                }
            }
        });
    }
}

/// Detects the emissions of `source` with the gate `params` (primed as `filter` primes it) and
/// hands each to `emit` as it closes. An error from `emit` (a full disk, a closed pipe) ends the
/// run with that error.
pub fn detect(
    source: &mut dyn Source,
    params: &Params,
    opts: &FilterOptions,
    det: &DetectorConfig,
    cancel: &Cancel,
    progress: Option<&mut dyn FnMut(u64)>,
    emit: &mut dyn FnMut(Emission) -> std::io::Result<()>,
) -> Result<FeatureSummary> {
    let info = source.info().clone();
    if info.rate == 0 {
        return Err(StreamError::Usage(
            "the input's sample rate is unknown: give --rate".into(),
        ));
    }
    if params.bypass || params.reduction_db <= 0.0 {
        return Err(StreamError::Usage(
            "features need a closing gate: bypass is on or reduction_db is 0 (every cell would \
             be signal)"
                .into(),
        ));
    }
    let cfg = engine::stft_config(params, info.rate);
    let geo = Geometry::new(&cfg, info.rate, info.is_iq(), info.center_hz);
    let n = if info.is_iq() {
        info.channels / 2
    } else {
        info.channels
    };
    let mut obs = Observer {
        dets: (0..n.max(1)).map(|c| Detector::new(*det, geo, c)).collect(),
        emit,
        error: None,
    };
    let summary = filter::run_to_sink(
        source,
        Box::new(NullSink),
        Timing::Aligned,
        params,
        opts,
        cancel,
        progress,
        Some(&mut obs),
    )?;
    if let Some(e) = obs.error.take() {
        return Err(e.into());
    }
    let Observer {
        mut dets,
        emit,
        mut error,
    } = obs;
    for d in dets.iter_mut() {
        d.finish(&mut |e| {
            if error.is_none() {
                if let Err(x) = emit(e) {
                    error = Some(x);
                }
            }
        });
    }
    if let Some(e) = error {
        return Err(e.into());
    }
    Ok(FeatureSummary {
        rate: info.rate,
        complex: info.is_iq(),
        center_hz: geo.center_hz,
        frames_in: summary.frames_in,
        emissions: dets.iter().map(|d| d.emitted()).sum(),
        forced: dets.iter().map(|d| d.forced()).sum(),
        max_open: dets.first().map(|d| d.max_open()).unwrap_or(0),
        interrupted: summary.interrupted,
        warnings: summary.warnings,
    })
}

/// [`detect`] into a vector (for tools that hold the table: eval, Python, tests).
pub fn detect_all(
    source: &mut dyn Source,
    params: &Params,
    opts: &FilterOptions,
    det: &DetectorConfig,
) -> Result<(Vec<Emission>, FeatureSummary)> {
    let mut out = Vec::new();
    let s = detect(source, params, opts, det, &Cancel::new(), None, &mut |e| {
        out.push(e);
        Ok(())
    })?;
    Ok((out, s))
}

/// The samples the pump delivers (the gate's output, time-aligned) into a
/// [`segment::SegmentExtractor`]: audio mixed down to mono, I/Q from the first pair.
struct SegmentSink<'e> {
    ex: segment::SegmentExtractor,
    channels: usize,
    complex: bool,
    buf: Vec<f32>,
    emit: &'e mut dyn FnMut(&segment::SegmentRow) -> std::io::Result<()>,
    error: Option<std::io::Error>,
}

impl SegmentSink<'_> {
    fn check(&mut self) -> Result<()> {
        match self.error.take() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

impl Sink for SegmentSink<'_> {
    fn write(&mut self, x: &[f32]) -> Result<()> {
        let ch = self.channels.max(1);
        let (emit, error) = (&mut self.emit, &mut self.error);
        let mut out = |r: &segment::SegmentRow| {
            if error.is_none() {
                if let Err(e) = emit(r) {
                    *error = Some(e);
                }
            }
        };
        self.buf.clear();
        if self.complex {
            if ch == 2 {
                self.ex.push_complex(x, &mut out);
            } else {
                self.buf
                    .extend(x.chunks_exact(ch).flat_map(|f| [f[0], f[1]]));
                self.ex.push_complex(&self.buf, &mut out);
            }
        } else if ch == 1 {
            self.ex.push(x, &mut out);
        } else {
            self.buf.extend(
                x.chunks_exact(ch)
                    .map(|f| f.iter().sum::<f32>() / ch as f32),
            );
            self.ex.push(&self.buf, &mut out);
        }
        self.check()
    }
    fn finish(mut self: Box<Self>) -> Result<SinkReport> {
        let (emit, error) = (&mut self.emit, &mut self.error);
        self.ex.finish(&mut |r| {
            if error.is_none() {
                if let Err(e) = emit(r) {
                    *error = Some(e);
                }
            }
        });
        self.check()?;
        Ok(SinkReport::default())
    }
}

/// One row per fixed segment ([`segment`]: band energies, centroid, bandwidth, flatness,
/// roll-off, MFCCs — librosa's definitions) of the gate's output, through the same priming and
/// pump as `filter` (reduction 0 gives the input's own features). `columns` receives the
/// column names (after `start_s`, `end_s`) before the first row.
#[allow(clippy::too_many_arguments)]
pub fn segments(
    source: &mut dyn Source,
    params: &Params,
    opts: &FilterOptions,
    cfg: &segment::SegmentConfig,
    cancel: &Cancel,
    progress: Option<&mut dyn FnMut(u64)>,
    columns: &mut dyn FnMut(&[String]) -> std::io::Result<()>,
    emit: &mut dyn FnMut(&segment::SegmentRow) -> std::io::Result<()>,
) -> Result<filter::Summary> {
    let info = source.info().clone();
    let ex = if info.is_iq() {
        segment::SegmentExtractor::new_complex(info.rate, cfg)
    } else {
        segment::SegmentExtractor::new(info.rate, cfg)
    }
    .map_err(|e| StreamError::Usage(e.to_string()))?;
    columns(ex.columns())?;
    let mut p = *params;
    if p.reduction_db <= 0.0 {
        p.bypass = true;
    }
    let sink = SegmentSink {
        ex,
        channels: info.channels,
        complex: info.is_iq(),
        buf: Vec::new(),
        emit,
        error: None,
    };
    filter::run_to_sink(
        source,
        Box::new(sink),
        Timing::Aligned,
        &p,
        opts,
        cancel,
        progress,
        None,
    )
}
