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
pub mod table;

pub use detect::{Detector, DetectorConfig, Emission, Geometry, Kind};

use crate::engine::{self, FrameView};
use crate::params::Params;
use crate::stream::filter::{self, FilterOptions};
use crate::stream::pump::{Cancel, FrameObserver, Timing};
use crate::stream::{Result, Sink, SinkReport, Source, StreamError};

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
