//! The streaming emission detector: connected time-frequency regions of the gate's "signal"
//! cells become emissions, measured and classified as they close.
//!
//! # Cells
//! A cell (one frame, one bin) is *signal* when the engine passed it (gain ≥
//! [`DetectorConfig::open_gain`]) and its power stands [`DetectorConfig::min_ratio_db`] over the
//! frame's noise floor (this cuts the gate's release tail, so ends are where the signal ends).
//! A cell is also signal by its *evidence over time*, whatever the gate did (the gate is slow to
//! open on weak, short signals): when a pair of adjacent bins' power over the floor, summed over
//! the last 4, 8 or 16 frames, passes the noise-only tail for that sum
//! ([`DetectorConfig::evidence_z`]), the pair's current cells holding at least
//! [`DetectorConfig::evidence_cell`] times the floor are signal — unless the gate's signal was
//! near in those frames (the sums run on after an emission ends and would stretch it). A region
//! with such cells stands by that evidence instead of its onset significance and length.
//! Bins are taken in frequency order: I/Q from −rate/2 to +rate/2, audio from 0 to rate/2.
//!
//! # Regions
//! Each frame's runs of signal cells join the open regions they touch: a run connects to a region
//! when one of its bins, or a bin up to [`DetectorConfig::join_bins`] away, belonged to that region
//! in the last `hold` (the hold time, in frames). A run touching two regions merges them. A region
//! no cell has joined for longer than the hold time is closed: measured, filtered by minimum
//! duration and bandwidth, classified, and handed out at once — emissions come out in the order
//! they close (stream order of their ends, one hold time late).
//!
//! # Memory
//! Constant: one label and one "last seen" frame per bin, and at most
//! [`DetectorConfig::max_open`] open regions, each with a power spectrum over at most every bin
//! (slots and their buffers are reused). Nothing grows with the length of the stream or the
//! number of emissions. At the bound, a run that needs a new region closes the least recently
//! active open region first (emitted as it is, counted in [`Detector::forced`]).
//!
//! # Kind rules (first match wins)
//! * `burst` — shorter than [`DetectorConfig::burst_max_s`] (250 ms).
//! * `wideband` — occupied bandwidth ≥ [`DetectorConfig::wide_hz`] (10 kHz).
//! * narrow (mean per-frame RMS width ≤ max(1 bin, 150 Hz)):
//!   * `unknown` — the per-frame centre hops about its trend by ≥ max(½ bin, 40 Hz) RMS
//!     (FSK and other frequency-keyed modes: not one of the named kinds);
//!   * `carrier` — on for ≥ 70 % of its duration (duty cycle);
//!   * `cw` — keyed: at least 3 on/off elements;
//!   * `unknown` otherwise.
//! * wider than narrow, under `wide_hz`: `voice` when its level moves (per-frame power
//!   coefficient of variation ≥ 0.25 — syllables), else `unknown`.

use crate::engine::FrameView;

/// Detector settings (all times in seconds, frequencies in Hz).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// An emission shorter than this is dropped.
    pub min_duration_s: f64,
    /// An emission narrower (occupied bandwidth) than this is dropped.
    pub min_bandwidth_hz: f64,
    /// Gaps shorter than this (in time) are bridged: the region stays open.
    pub hold_s: f64,
    /// Gain at or above which the gate passed a cell.
    pub open_gain: f32,
    /// Power over the floor a cell the gate passed needs to be signal, dB.
    pub min_ratio_db: f64,
    /// Power over the floor that makes a cell signal whatever the gate did, dB (the gate's
    /// decision-directed smoothing is slow to open on weak, short signals). Default 99: off —
    /// single strong noise cells then join emissions and chain them together.
    pub strong_ratio_db: f64,
    /// An emission whose onset significance (see [`Emission::significance`]) is under this is
    /// dropped (noise flecks); shorter than `short_s`, than one analysis frame or than
    /// `short_hops` hops it needs `short_factor` times as much (a short fleck is the best of
    /// many chances, and one noise event spans several overlapping frames: what makes a fleck
    /// short is the hops it spans, so at 250 kS/s, hop 8.2 ms, flecks of 20–30 ms are short).
    /// 0 = off.
    pub min_significance: f64,
    pub short_s: f64,
    pub short_hops: f64,
    pub short_factor: f64,
    /// A region with fewer than `min_frames` active frames (at least two) is still an
    /// emission when its onset significance reaches `min_significance · short_factor ·
    /// short_confirm` (a 10 ms burst spans two frames).
    pub short_confirm: f64,
    /// Evidence test over time (0 = off): a pair of adjacent bins whose power over the floor,
    /// summed over the last 4, 8 or 16 frames, exceeds the noise-only gamma quantile at this
    /// many standard deviations (Wilson–Hilferty), makes the pair's current cells signal when
    /// they hold at least `evidence_cell` times the floor — whatever the gate did (the gate is
    /// slow to open on weak, short signals) — and the region that gets them stands by that
    /// evidence instead of its onset significance (see [`Emission::significance`]) and length.
    /// Default 6: it finds a few more weak 40–90 ms bursts (recall 0.913 → 0.932 on seeds
    /// 1–20, precision unchanged; 5.5 lets noise through). It runs on every bin of every frame
    /// (4096 bins at 2 MS/s), in fixed point over whole rows: about 0.2 s of CPU per 20 s of
    /// 2 MS/s I/Q.
    pub evidence_z: f64,
    pub evidence_cell: f64,
    /// ... and when no other emission was within this distance (Hz) during the hold time (a
    /// short region near another emission is a fragment of it: an FSK pair's first symbols).
    pub isolation_hz: f64,
    /// A region with fewer active frames than this is tentative: it closes after two silent
    /// frames instead of the hold time and joins nothing across a gap; it is emitted only as
    /// a short emission (see `short_confirm`), otherwise dropped (noise flecks).
    pub min_frames: u64,
    /// Runs this many bins apart (or closer) join one region.
    pub join_bins: usize,
    /// A region, when it is confirmed, also joins the confirmed regions up to this far (Hz)
    /// from its bins within the hold time (at least `join_bins`): the two tones of an FSK pair
    /// (170–425 Hz shift) are seldom on in one frame, and a weak pair's runs are one bin wide,
    /// so they never touch — each tone would be an emission of its own.
    pub confirm_join_hz: f64,
    /// Most regions open at once (0: chosen from the bin count, see the module doc).
    pub max_open: usize,
    /// Kind rules: longest `burst`, s.
    pub burst_max_s: f64,
    /// Kind rules: narrowest `wideband`, Hz.
    pub wide_hz: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_duration_s: 0.005,
            min_bandwidth_hz: 0.0,
            hold_s: 2.0,
            open_gain: 0.5,
            min_ratio_db: 3.0,
            strong_ratio_db: 99.0,
            min_significance: 7.5,
            short_s: 0.015,
            short_hops: 3.5,
            short_factor: 1.6,
            isolation_hz: 1000.0,
            short_confirm: 1.0,
            evidence_z: 6.0,
            evidence_cell: 2.0,
            min_frames: 3,
            join_bins: 2,
            confirm_join_hz: 450.0,
            max_open: 0,
            burst_max_s: 0.25,
            wide_hz: 10_000.0,
        }
    }
}

/// What an emission looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Carrier,
    Cw,
    Burst,
    Voice,
    Wideband,
    Unknown,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Carrier,
        Kind::Cw,
        Kind::Burst,
        Kind::Voice,
        Kind::Wideband,
        Kind::Unknown,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Kind::Carrier => "carrier",
            Kind::Cw => "cw",
            Kind::Burst => "burst",
            Kind::Voice => "voice",
            Kind::Wideband => "wideband",
            Kind::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One detected emission (a row of the table).
#[derive(Debug, Clone, PartialEq)]
pub struct Emission {
    /// STFT channel (a real channel or an I/Q pair).
    pub channel: usize,
    pub start_s: f64,
    pub end_s: f64,
    pub duration_s: f64,
    /// Power-weighted centre: RF (`freq_ref` = "rf") when the stream knows its centre
    /// frequency, else the offset from 0 Hz / the I/Q centre (`freq_ref` = "offset").
    pub center_hz: f64,
    pub freq_ref: &'static str,
    /// Occupied bandwidth: the band holding 99 % of the emission's power.
    pub bandwidth_hz: f64,
    /// Contiguous band around the peak bin within 3 dB of it.
    pub bandwidth_3db_hz: f64,
    /// Strongest cell, dB relative to a full-scale tone.
    pub peak_dbfs: f64,
    /// Signal over the local noise floor, dB (mean over the emission's cells).
    pub snr_db: f64,
    /// Frames with signal over frames spanned.
    pub duty_cycle: f64,
    /// On-elements (key-down stretches; a gap of at least 2 frames and 3 ms separates two).
    pub on_off_count: u64,
    /// Slope of the per-frame centre over time, Hz/s.
    pub freq_drift_hz_per_s: f64,
    /// Geometric over arithmetic mean of the power spectrum across the occupied band (0 tonal,
    /// 1 flat).
    pub spectral_flatness: f64,
    /// RMS of the per-frame centre about its linear trend, Hz (frequency keying).
    pub freq_spread_hz: f64,
    /// Mean per-frame RMS width, Hz.
    pub frame_width_hz: f64,
    /// Coefficient of variation of the per-frame power (amplitude modulation).
    pub level_cv: f64,
    /// Matched-filter significance of the onset, in standard deviations of the noise: the
    /// fitted on-interval's energy in the onset band over the spread noise alone would give
    /// there (a confidence for the row; see [`DetectorConfig::min_significance`]).
    pub significance: f64,
    pub kind: Kind,
}

impl Emission {
    /// Column names, in table order.
    pub const COLUMNS: [&'static str; 20] = [
        "channel",
        "start_s",
        "end_s",
        "duration_s",
        "center_hz",
        "freq_ref",
        "bandwidth_hz",
        "bandwidth_3db_hz",
        "peak_dbfs",
        "snr_db",
        "duty_cycle",
        "on_off_count",
        "freq_drift_hz_per_s",
        "spectral_flatness",
        "freq_spread_hz",
        "frame_width_hz",
        "level_cv",
        "significance",
        "kind",
        "kind_rule",
    ];

    /// The row's values, in [`Emission::COLUMNS`] order.
    pub fn values(&self) -> Vec<super::table::Value> {
        use super::table::Value::{Float, Int, Text};
        vec![
            Int(self.channel as u64),
            Float(self.start_s),
            Float(self.end_s),
            Float(self.duration_s),
            Float(self.center_hz),
            Text(self.freq_ref.into()),
            Float(self.bandwidth_hz),
            Float(self.bandwidth_3db_hz),
            Float(self.peak_dbfs),
            Float(self.snr_db),
            Float(self.duty_cycle),
            Int(self.on_off_count),
            Float(self.freq_drift_hz_per_s),
            Float(self.spectral_flatness),
            Float(self.freq_spread_hz),
            Float(self.frame_width_hz),
            Float(self.level_cv),
            Float(self.significance),
            Text(self.kind.name().into()),
            Text(kind_rule(self.kind).into()),
        ]
    }
}

/// The rule text behind each kind (a column, so a reader of the table sees why).
pub fn kind_rule(k: Kind) -> &'static str {
    match k {
        Kind::Burst => "duration < burst_max",
        Kind::Wideband => "bandwidth >= wide_hz",
        Kind::Carrier => "narrow; duty >= 0.7",
        Kind::Cw => "narrow; keyed (>= 3 elements)",
        Kind::Voice => "wider than narrow; level varies (cv >= 0.25)",
        Kind::Unknown => "none of the rules (e.g. FSK: centre hops)",
    }
}

/// How the stream's frames map to time and frequency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    pub rate: u32,
    pub hop: usize,
    pub frame_len: usize,
    pub fft_len: usize,
    pub complex: bool,
    /// Σ analysis window: a full-scale tone's bin power is (Σw)² (I/Q) or (Σw/2)² (real).
    pub window_sum: f64,
    /// Receiver centre frequency (I/Q), added to the offsets.
    pub center_hz: Option<f64>,
    /// Cumulative energy of the analysis window: `energy_cdf[i]` is the share of Σw² in the
    /// first `i·frame_len/CDF_STEPS` samples (for sub-hop edge timing, see [`Geometry::energy_before`]).
    pub energy_cdf: [f32; CDF_STEPS + 1],
    /// How much overlapping frames inflate the variance of a sum of a bin's noise powers over
    /// frames: Σ over frame lags k of ρ_k², ρ_k = Σ w[n]·w[n+k·hop] / Σ w² (1 without overlap).
    pub noise_corr: f64,
    /// Correlation of the noise powers of two adjacent bins: |Σ w²·e^{−2πin/N}|² / (Σ w²)².
    pub bin_corr: f64,
}

/// Resolution of [`Geometry::energy_cdf`].
pub const CDF_STEPS: usize = 64;

impl Geometry {
    /// From an engine configuration.
    pub fn new(
        cfg: &crate::dsp::stft::StftConfig,
        rate: u32,
        complex: bool,
        center_hz: Option<f64>,
    ) -> Geometry {
        let (a, _) = cfg.windows();
        Geometry::from_window(&a, rate, cfg.hop, cfg.fft_len, complex, center_hz)
    }

    /// From the analysis window itself (its length is the frame length).
    pub fn from_window(
        a: &[f32],
        rate: u32,
        hop: usize,
        fft_len: usize,
        complex: bool,
        center_hz: Option<f64>,
    ) -> Geometry {
        let total: f64 = a
            .iter()
            .map(|&v| (v as f64) * (v as f64))
            .sum::<f64>()
            .max(1e-30);
        let mut energy_cdf = [0f32; CDF_STEPS + 1];
        let mut acc = 0.0;
        let mut n = 0usize;
        for (i, c) in energy_cdf.iter_mut().enumerate() {
            let end = (i * a.len()).div_ceil(CDF_STEPS).min(a.len());
            while n < end {
                acc += (a[n] as f64) * (a[n] as f64);
                n += 1;
            }
            *c = (acc / total) as f32;
        }
        let noise_corr = crate::dsp::windows::overlap_noise_corr(a, hop);
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &v) in a.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * i as f64 / fft_len.max(1) as f64;
            let w2 = v as f64 * v as f64;
            re += w2 * ph.cos();
            im -= w2 * ph.sin();
        }
        let bin_corr = (re * re + im * im) / (total * total);
        Geometry {
            energy_cdf,
            noise_corr,
            bin_corr,
            rate,
            hop,
            frame_len: a.len(),
            fft_len,
            complex,
            window_sum: a.iter().map(|&v| v as f64).sum(),
            center_hz: if complex { center_hz } else { None },
        }
    }

    pub fn bins(&self) -> usize {
        if self.complex {
            self.fft_len
        } else {
            self.fft_len / 2 + 1
        }
    }
    pub fn bin_hz(&self) -> f64 {
        self.rate as f64 / self.fft_len as f64
    }
    /// FFT bin of the `j`-th bin in frequency order.
    #[inline]
    fn fft_bin(&self, j: usize) -> usize {
        if self.complex {
            (j + self.fft_len / 2) % self.fft_len
        } else {
            j
        }
    }
    /// The first `bins` bins in frequency order as contiguous stretches of FFT bins:
    /// `(first bin in frequency order, first FFT bin, length)` (two for I/Q, one for audio;
    /// a stretch may be empty).
    #[inline]
    fn stretches(&self, bins: usize) -> [(usize, usize, usize); 2] {
        let half = if self.complex { self.fft_len / 2 } else { 0 };
        let lo = bins.min(self.fft_len - half);
        [(0, half, lo), (lo, 0, bins - lo)]
    }
    /// Offset frequency of the `j`-th bin in frequency order (may be fractional).
    pub fn offset_hz(&self, j: f64) -> f64 {
        let k = if self.complex {
            j - (self.fft_len / 2) as f64
        } else {
            j
        };
        k * self.bin_hz()
    }
    /// Share of the analysis window's energy in its first `u` samples (0 for u ≤ 0, 1 for
    /// u ≥ frame_len): the part of a steady signal that a frame starting `u` samples before the
    /// signal's end still holds.
    pub fn energy_before(&self, u: f64) -> f64 {
        let x = u / self.frame_len.max(1) as f64 * CDF_STEPS as f64;
        if x <= 0.0 {
            return 0.0;
        }
        if x >= CDF_STEPS as f64 {
            return 1.0;
        }
        let i = x as usize;
        let f = x - i as f64;
        let (a, b) = (self.energy_cdf[i] as f64, self.energy_cdf[i + 1] as f64);
        a + (b - a) * f
    }

    /// Power of a full-scale tone in its bin.
    fn full_scale(&self) -> f64 {
        let s = if self.complex {
            self.window_sum
        } else {
            self.window_sum / 2.0
        };
        (s * s).max(1e-30)
    }
}

/// Frame-level partial sums of one region in the current frame.
#[derive(Debug, Clone, Default)]
struct FrameAcc {
    frame: u64,
    sp: f64,
    sjp: f64,
    sjjp: f64,
    cells: u32,
}

/// An open region's accumulators (a reusable slot).
#[derive(Debug, Clone, Default)]
struct Region {
    live: bool,
    /// Has reached `min_frames` active frames (tentative before).
    confirmed: bool,
    /// The best onset significance of the confirmed regions merged into this one whose onsets
    /// were not kept (the kept onset is the earliest, which may be the weakest).
    part_z: f64,
    /// Got cells by the evidence test (see [`DetectorConfig::evidence_z`]): stands by it.
    evident: bool,
    /// Got cells the gate passed (not only by the evidence test).
    gated: bool,
    first: u64,
    last: u64,
    active: u64,
    elements: u64,
    /// Power per bin (frequency order) from `spec_lo`.
    spec: Vec<f64>,
    spec_lo: usize,
    peak: f64,
    sum_p: f64,
    sum_floor: f64,
    // Per-frame centre regression (t in frames, f in bins) and widths, levels.
    n: f64,
    st: f64,
    sf: f64,
    stt: f64,
    stf: f64,
    sff: f64,
    width_sum: f64,
    lvl: f64,
    lvl2: f64,
    cur: FrameAcc,
    /// Onset band (bins in frequency order) and its excess power over the floor for frames
    /// `first − LOOK + 1 ..= first + ON − 1` (NaN: not seen).
    on_lo: usize,
    on_hi: usize,
    /// Σ floor² over the onset band (the variance of its excess power under noise).
    on_floor2: f64,
    on_x: Vec<f32>,
    /// Bins of the latest frame with signal, for the excess power after it.
    band_frame: u64,
    band_lo: usize,
    band_hi: usize,
    /// Ring (by frame % TAIL) of the excess power in that band and the frame it belongs to.
    tail_x: Vec<f32>,
    tail_f: Vec<u64>,
}

/// Frames before a region's first signal frame kept for its onset (the gate opens late on
/// weak signals: up to this many hops).
const LOOK: usize = 32;
/// Frames from the first signal frame on kept for the onset fit, and before the last one for
/// the end fit.
const ON: usize = 8;
/// Frames after the last signal frame kept for the end fit.
const AFTER: usize = 16;
const TAIL: usize = ON + AFTER;

impl Region {
    fn start(&mut self, now: u64) {
        let spec = std::mem::take(&mut self.spec);
        let on_x = std::mem::take(&mut self.on_x);
        let tail_x = std::mem::take(&mut self.tail_x);
        let tail_f = std::mem::take(&mut self.tail_f);
        *self = Region {
            live: true,
            first: now,
            last: now,
            spec,
            on_x,
            tail_x,
            tail_f,
            ..Region::default()
        };
        self.spec.clear();
        self.on_x.clear();
        self.on_x.resize(LOOK + ON - 1, f32::NAN);
        self.tail_x.clear();
        self.tail_x.resize(TAIL, f32::NAN);
        self.tail_f.clear();
        self.tail_f.resize(TAIL, u64::MAX);
        self.band_frame = u64::MAX;
        self.cur.frame = u64::MAX;
    }

    /// The bins `[a, b)` had signal in frame `now`.
    fn note_band(&mut self, now: u64, a: usize, b: usize) {
        if self.band_frame != now {
            (self.band_frame, self.band_lo, self.band_hi) = (now, a, b);
        } else {
            self.band_lo = self.band_lo.min(a);
            self.band_hi = self.band_hi.max(b);
        }
    }

    /// Folds the current frame's partial sums into the region.
    fn flush_frame(&mut self) {
        let c = std::mem::take(&mut self.cur);
        self.cur.frame = u64::MAX;
        if c.cells == 0 || c.sp <= 0.0 {
            return;
        }
        let mean = c.sjp / c.sp;
        let var = (c.sjjp / c.sp - mean * mean).max(0.0);
        let t = (c.frame - self.first) as f64;
        self.n += 1.0;
        self.st += t;
        self.sf += mean;
        self.stt += t * t;
        self.stf += t * mean;
        self.sff += mean * mean;
        self.width_sum += var.sqrt();
        self.lvl += c.sp;
        self.lvl2 += c.sp * c.sp;
    }

    fn add_cell(&mut self, now: u64, j: usize, p: f64, floor: f64, key_gap: u64) {
        if self.cur.frame != now {
            if self.cur.frame != u64::MAX {
                self.flush_frame();
            }
            if self.active == 0 || now > self.last + key_gap {
                self.elements += 1;
            }
            self.active += 1;
            self.cur.frame = now;
        }
        self.last = now;
        let jf = j as f64;
        self.cur.sp += p;
        self.cur.sjp += jf * p;
        self.cur.sjjp += jf * jf * p;
        self.cur.cells += 1;
        self.peak = self.peak.max(p);
        self.sum_p += p;
        self.sum_floor += floor;
        // The spectrum, grown to cover j.
        if self.spec.is_empty() {
            self.spec_lo = j;
            self.spec.push(0.0);
        } else if j < self.spec_lo {
            let add = self.spec_lo - j;
            self.spec.splice(0..0, std::iter::repeat_n(0.0, add));
            self.spec_lo = j;
        } else if j >= self.spec_lo + self.spec.len() {
            self.spec.resize(j - self.spec_lo + 1, 0.0);
        }
        self.spec[j - self.spec_lo] += p;
    }

    /// Adds `o` into `self` (both flushed).
    fn merge(&mut self, o: &mut Region) {
        let shift = self.first as f64 - o.first as f64; // o's t → self's t: t + (o.first − first)
        let d = -shift;
        // Regression sums with o's times shifted by d.
        self.st += o.st + d * o.n;
        self.stt += o.stt + 2.0 * d * o.st + d * d * o.n;
        self.stf += o.stf + d * o.sf;
        self.n += o.n;
        self.sf += o.sf;
        self.sff += o.sff;
        self.width_sum += o.width_sum;
        self.lvl += o.lvl;
        self.lvl2 += o.lvl2;
        self.confirmed |= o.confirmed;
        self.evident |= o.evident;
        self.gated |= o.gated;
        self.part_z = self.part_z.max(o.part_z);
        if o.last > self.last {
            // The end is o's: its band and the excess after it.
            std::mem::swap(&mut self.tail_x, &mut o.tail_x);
            std::mem::swap(&mut self.tail_f, &mut o.tail_f);
            (self.band_frame, self.band_lo, self.band_hi) = (o.band_frame, o.band_lo, o.band_hi);
        } else if o.last == self.last && o.band_frame == self.band_frame {
            self.band_lo = self.band_lo.min(o.band_lo);
            self.band_hi = self.band_hi.max(o.band_hi);
        }
        if o.first < self.first {
            std::mem::swap(&mut self.on_x, &mut o.on_x);
            (self.on_lo, self.on_hi, self.on_floor2) = (o.on_lo, o.on_hi, o.on_floor2);
        }
        if o.first > self.last || self.first > o.last {
            // One after the other (a new element joining across a gap): counts add up.
            self.active += o.active;
            self.elements += o.elements;
        } else {
            // Side by side in time: the longer one's counts.
            self.active = self.active.max(o.active);
            self.elements = self.elements.max(o.elements);
        }
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.peak = self.peak.max(o.peak);
        self.sum_p += o.sum_p;
        self.sum_floor += o.sum_floor;
        if !o.spec.is_empty() {
            if self.spec.is_empty() {
                self.spec_lo = o.spec_lo;
                self.spec.extend_from_slice(&o.spec);
            } else {
                let lo = self.spec_lo.min(o.spec_lo);
                let hi = (self.spec_lo + self.spec.len()).max(o.spec_lo + o.spec.len());
                if lo < self.spec_lo {
                    self.spec
                        .splice(0..0, std::iter::repeat_n(0.0, self.spec_lo - lo));
                    self.spec_lo = lo;
                }
                self.spec.resize(hi - lo, 0.0);
                for (i, v) in o.spec.iter().enumerate() {
                    self.spec[o.spec_lo - lo + i] += v;
                }
            }
        }
        o.live = false;
    }
}

/// The streaming detector for one STFT channel (see the module doc).
pub struct Detector {
    cfg: DetectorConfig,
    geo: Geometry,
    channel: usize,
    hold: u64,
    key_gap: u64,
    min_ratio: f32,
    strong_ratio: f32,
    max_open: usize,
    /// Frames seen (pre-roll included) and pre-roll frames to skip in time.
    frames: u64,
    preroll_samples: u64,
    /// Per bin (frequency order): region slot + 1 (0 = none) and last frame it was signal.
    label: Vec<u32>,
    seen: Vec<u64>,
    /// The same for confirmed regions only: what a new region may join across a gap.
    hold_label: Vec<u32>,
    hold_seen: Vec<u64>,
    regions: Vec<Region>,
    open: Vec<u32>,
    free: Vec<u32>,
    sig: Vec<bool>,
    touched: Vec<u32>,
    forced: u64,
    emitted: u64,
    /// The last LOOK frames' excess power over the floor (frequency order), by frame % LOOK,
    /// and the first frame of the input (frames before it are pre-roll).
    hist: Vec<f32>,
    first_frame: Option<u64>,
    /// The evidence test: the last EV_RING frames' power over floor per bin (by frame %
    /// EV_RING), its running sums over the last `EV_LENS[i]` frames (`i·bins + j`), the
    /// thresholds for a pair of bins, frames summed so far, and which cells it made signal.
    /// Values are power over floor in fixed point ([`ev_fixed`]): integer running sums are
    /// exact (no drift over an endless stream) and cheap.
    ev_x: Vec<i32>,
    ev_sum: Vec<i32>,
    ev_thr: [i32; EV_LENS.len()],
    ev_frames: u64,
    ev_sig: Vec<bool>,
    ev_new: Vec<i32>,
}

/// Frames the evidence test sums over (see [`DetectorConfig::evidence_z`]).
const EV_LENS: [usize; 3] = [4, 8, 16];
const EV_RING: usize = 16;
/// Fixed point of the evidence test: power over floor times `EV_ONE`, at most `EV_MAX` times
/// the floor (a cell that strong passes every window's threshold by itself; the bound keeps a
/// pair's 16-frame sum within `i32`).
const EV_ONE: f32 = 32768.0;
const EV_MAX: f32 = 256.0;
/// 2²³: a float in [2²³, 2²⁴] holds an integer in its mantissa bits.
const EV_MAGIC: f32 = 8_388_608.0;

/// Power over floor in the evidence test's fixed point (0 for a zero floor), rounded.
#[inline]
fn ev_fixed(p: f32, f: f32) -> i32 {
    let x = p / f;
    let x = if x < EV_MAX { x } else { EV_MAX };
    let x = if f > 0.0 && x > 0.0 { x } else { 0.0 };
    // x·EV_ONE ≤ 2²³: adding 2²³ leaves the integer in the mantissa; bit arithmetic instead
    // of a saturating conversion, which does not vectorise.
    (x * EV_ONE + EV_MAGIC).to_bits() as i32 - EV_MAGIC.to_bits() as i32
}

/// The noise-only threshold for a sum over `frames` frames of two adjacent bins' power over
/// the floor (each cell 1 on average): a gamma law with the sum's mean and variance (frames
/// overlap, neighbouring bins correlate), its quantile at `z` standard deviations by
/// Wilson–Hilferty.
fn evidence_threshold(g: &Geometry, frames: usize, z: f64) -> f64 {
    let mean = 2.0 * frames as f64;
    let var = mean * g.noise_corr * (1.0 + g.bin_corr);
    let k = mean * mean / var;
    let c = 1.0 / (9.0 * k);
    mean * (1.0 - c + z * c.sqrt()).powi(3)
}

impl Detector {
    pub fn new(cfg: DetectorConfig, geo: Geometry, channel: usize) -> Detector {
        let bins = geo.bins();
        let hop_s = geo.hop as f64 / geo.rate as f64;
        let max_open = if cfg.max_open > 0 {
            cfg.max_open
        } else {
            ((1usize << 22) / bins.max(1)).clamp(16, 1024)
        };
        Detector {
            cfg,
            geo,
            channel,
            hold: (cfg.hold_s / hop_s).round().max(0.0) as u64,
            key_gap: ((0.003 / hop_s).ceil() as u64).max(2) - 1,
            min_ratio: 10f32.powf(cfg.min_ratio_db as f32 / 10.0),
            strong_ratio: 10f32.powf(cfg.strong_ratio_db as f32 / 10.0),
            max_open,
            frames: 0,
            preroll_samples: 0,
            label: vec![0; bins],
            seen: vec![0; bins],
            hold_label: vec![0; bins],
            hold_seen: vec![0; bins],
            regions: Vec::new(),
            open: Vec::with_capacity(max_open),
            free: Vec::new(),
            sig: vec![false; bins],
            touched: Vec::new(),
            forced: 0,
            emitted: 0,
            hist: vec![0.0; LOOK * bins],
            first_frame: None,
            ev_x: vec![0; EV_RING * bins],
            ev_sum: vec![0; EV_LENS.len() * bins],
            ev_thr: EV_LENS.map(|l| {
                let t = evidence_threshold(&geo, l, cfg.evidence_z) * EV_ONE as f64;
                t.min(i32::MAX as f64) as i32
            }),
            ev_frames: 0,
            ev_sig: vec![false; bins],
            ev_new: vec![0; bins],
        }
    }

    /// Pre-roll samples (per channel) fed before the input: their frames are not the input's.
    pub fn set_preroll(&mut self, samples: u64) {
        self.preroll_samples = samples;
    }

    /// Regions closed early because [`DetectorConfig::max_open`] were open.
    pub fn forced(&self) -> u64 {
        self.forced
    }
    /// Emissions handed out so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }
    /// Open regions now (bounded by `max_open`).
    pub fn open_regions(&self) -> usize {
        self.open.len()
    }
    /// Region slots allocated (their buffers are reused; at most `max_open` + 1).
    pub fn slots(&self) -> usize {
        self.regions.len()
    }
    /// Most regions that can be open at once.
    pub fn max_open(&self) -> usize {
        self.max_open
    }

    /// Centre of frame `f` in input samples (negative: pre-roll).
    fn centre_sample(&self, f: u64) -> f64 {
        ((f + 1) * self.geo.hop as u64) as f64
            - self.geo.frame_len as f64 / 2.0
            - self.preroll_samples as f64
    }

    /// One analysed frame; closed emissions go to `emit`.
    pub fn push(&mut self, v: &FrameView, emit: &mut dyn FnMut(Emission)) {
        let now = self.frames;
        self.frames += 1;
        if self.centre_sample(now) < 0.0 {
            return;
        }
        let bins = self.label.len().min(v.mask.len());
        let og = self.cfg.open_gain;
        self.first_frame.get_or_insert(now);
        let row = (now as usize % LOOK) * self.label.len();
        let (mr, sr) = (self.min_ratio, self.strong_ratio);
        let hist = &mut self.hist[row..row + bins];
        // Frequency order is FFT order rotated by half the FFT for I/Q: two contiguous
        // stretches, so the per-bin loop (every bin of every frame) vectorises.
        for (j0, k0, n) in self.geo.stretches(bins) {
            let (p, f, m) = (
                &v.power[k0..k0 + n],
                &v.floor[k0..k0 + n],
                &v.mask[k0..k0 + n],
            );
            let (s, h) = (&mut self.sig[j0..j0 + n], &mut hist[j0..j0 + n]);
            for i in 0..n {
                let (p, f) = (p[i], f[i]);
                s[i] = ((m[i] >= og) & (p >= f * mr)) | (p >= f * sr);
                h[i] = p - f;
            }
        }
        if self.cfg.evidence_z > 0.0 {
            self.evidence(now, v, bins);
        }
        if !self.geo.complex {
            // A real signal's 0 Hz and Nyquist bins are real-valued: their noise power has
            // twice the relative spread of the others (one degree of freedom, not two), and
            // nothing is transmitted there. They are never signal.
            self.sig[0] = false;
            if bins == self.geo.fft_len / 2 + 1 {
                self.sig[bins - 1] = false;
            }
        }
        let mut j = 0;
        while j < bins {
            if !self.sig[j] {
                // Most cells are not signal: skip whole blocks without one (branch-free inside).
                const SKIP: usize = 32;
                while j % SKIP != 0 && j < bins && !self.sig[j] {
                    j += 1;
                }
                while j + SKIP <= bins && !self.sig[j..j + SKIP].iter().fold(false, |a, &s| a | s) {
                    j += SKIP;
                }
                while j < bins && !self.sig[j] {
                    j += 1;
                }
                continue;
            }
            let a = j;
            while j < bins && self.sig[j] {
                j += 1;
            }
            self.run(now, a, j, v, emit);
        }
        self.track_edges(now);
        self.close_stale(now, emit);
    }

    /// The evidence test (see [`DetectorConfig::evidence_z`]) on frame `now`: adds to `sig`.
    /// Runs on every bin of every frame: whole rows at a time, in fixed point, so it vectorises.
    fn evidence(&mut self, now: u64, v: &FrameView, bins: usize) {
        let nb = self.label.len();
        let row = (now as usize % EV_RING) * nb;
        self.ev_frames += 1;
        for (j0, k0, n) in self.geo.stretches(bins) {
            let (p, f) = (&v.power[k0..k0 + n], &v.floor[k0..k0 + n]);
            for ((d, &p), &f) in self.ev_new[j0..j0 + n].iter_mut().zip(p).zip(f) {
                *d = ev_fixed(p, f);
            }
        }
        let new = &self.ev_new[..bins];
        // The ring starts at zero: a window's sum is partial (and not tested) until it is full.
        for (i, &l) in EV_LENS.iter().enumerate() {
            if l == EV_RING {
                continue;
            }
            let old = ((now as usize + EV_RING - l) % EV_RING) * nb;
            let old = &self.ev_x[old..old + bins];
            let sums = &mut self.ev_sum[i * nb..i * nb + bins];
            for ((s, &x), &o) in sums.iter_mut().zip(new).zip(old) {
                *s += x - o;
            }
        }
        // The full ring's window: its oldest row is the one this frame overwrites.
        let i = EV_LENS.iter().position(|&l| l == EV_RING).unwrap_or(0);
        let sums = &mut self.ev_sum[i * nb..i * nb + bins];
        let cur = &mut self.ev_x[row..row + bins];
        for ((s, &x), o) in sums.iter_mut().zip(new).zip(cur.iter_mut()) {
            *s += x - *o;
            *o = x;
        }
        self.ev_sig[..bins].fill(false);
        // A window counts once it is full.
        let thr = |i: usize| {
            if self.ev_frames >= EV_LENS[i] as u64 {
                self.ev_thr[i]
            } else {
                i32::MAX
            }
        };
        let (t0, t1, t2) = (thr(0), thr(1), thr(2));
        let (s0, rest) = self.ev_sum.split_at(nb);
        let (s1, s2) = rest.split_at(nb);
        let hit = |j: usize| {
            (s0[j] + s0[j + 1] > t0) | (s1[j] + s1[j + 1] > t1) | (s2[j] + s2[j + 1] > t2)
        };
        let cell = (self.cfg.evidence_cell as f32 * EV_ONE) as i32;
        let n = bins.saturating_sub(1);
        // Hits are rare: test a block of pairs branch-free, look closer only when one hit.
        const BLOCK: usize = 64;
        for c in (0..n).step_by(BLOCK) {
            let end = (c + BLOCK).min(n);
            if !(c..end).fold(false, |any, j| any | hit(j)) {
                continue;
            }
            for j in c..end {
                if hit(j) {
                    for b in [j, j + 1] {
                        if self.ev_x[row + b] >= cell && !self.sig[b] && !self.near_gated(now, b) {
                            self.sig[b] = true;
                            self.ev_sig[b] = true;
                        }
                    }
                }
            }
        }
    }

    /// Whether the gate's signal was within the join tolerance of bin `b` in the last
    /// `EV_RING` frames: the evidence test leaves the gate's emissions alone (its sums run on
    /// for up to 16 frames after an emission ends, and would stretch the emission's end).
    fn near_gated(&self, now: u64, b: usize) -> bool {
        let (lo, hi) = self.widen(b, b + 1);
        (lo..hi).any(|j| {
            let l = self.label[j];
            l != 0 && self.seen[j] + EV_RING as u64 >= now && self.regions[(l - 1) as usize].gated
        })
    }

    /// Excess power over the floor in bins `[lo, hi)` of frame `f` (NaN when not in the
    /// history: older than LOOK frames, or pre-roll).
    fn excess(&self, now: u64, f: u64, lo: usize, hi: usize) -> f32 {
        let ok = f <= now
            && now - f < LOOK as u64
            && self.first_frame.is_some_and(|f0| f >= f0)
            && hi <= self.label.len();
        if !ok {
            return f32::NAN;
        }
        let row = (f as usize % LOOK) * self.label.len();
        self.hist[row + lo..row + hi].iter().sum()
    }

    /// Bins `[a, b)` widened by the join tolerance.
    fn widen(&self, a: usize, b: usize) -> (usize, usize) {
        let t = self.cfg.join_bins;
        (a.saturating_sub(t), (b + t).min(self.label.len()))
    }

    /// Records, for every open region, the excess power in its onset band while its onset is
    /// recent and in its latest band while its end is recent (for [`fit_interval`]).
    fn track_edges(&mut self, now: u64) {
        for i in 0..self.open.len() {
            let s = self.open[i] as usize;
            let r = &self.regions[s];
            if now < r.first + ON as u64 {
                let x = self.excess(now, now, r.on_lo, r.on_hi);
                let idx = LOOK - 1 + (now - r.first) as usize;
                self.regions[s].on_x[idx] = x;
            }
            let r = &self.regions[s];
            if now <= r.last + AFTER as u64 && r.band_frame != u64::MAX {
                let (lo, hi) = self.widen(r.band_lo, r.band_hi);
                let x = self.excess(now, now, lo, hi);
                let r = &mut self.regions[s];
                let k = now as usize % TAIL;
                r.tail_x[k] = x;
                r.tail_f[k] = now;
            }
        }
    }

    /// A run of signal cells `[a, b)` in frame `now`.
    fn run(&mut self, now: u64, a: usize, b: usize, v: &FrameView, emit: &mut dyn FnMut(Emission)) {
        let tol = self.cfg.join_bins;
        let lo = a.saturating_sub(tol);
        let hi = (b + tol).min(self.label.len());
        self.touched.clear();
        // Across frames a run joins only what was there up to two frames ago; longer gaps are
        // bridged when the new region is confirmed (see `confirm`), so noise flecks never join.
        for j in lo..hi {
            let l = self.label[j];
            if l != 0
                && self.seen[j] + 2 >= now
                && self.regions[(l - 1) as usize].live
                && !self.touched.contains(&l)
            {
                self.touched.push(l);
            }
        }
        let fresh = self.touched.is_empty();
        let slot = match self.touched.len() {
            0 => self.new_region(now, emit),
            1 => self.touched[0] - 1,
            _ => self.merge_touched(),
        };
        if fresh {
            // The onset band's excess over the frames before this one.
            let (lo, hi) = self.widen(a, b);
            let mut on_x = std::mem::take(&mut self.regions[slot as usize].on_x);
            for (i, x) in on_x.iter_mut().enumerate().take(LOOK) {
                let back = (LOOK - 1 - i) as u64;
                *x = if back <= now {
                    self.excess(now, now - back, lo, hi)
                } else {
                    f32::NAN
                };
            }
            let f2: f64 = (lo..hi)
                .map(|j| {
                    let f = v.floor[self.geo.fft_bin(j)] as f64;
                    f * f
                })
                .sum();
            let r = &mut self.regions[slot as usize];
            r.on_x = on_x;
            (r.on_lo, r.on_hi, r.on_floor2) = (lo, hi, f2);
        }
        let ev = self.ev_sig[a..b].iter().any(|&e| e);
        let gated = self.ev_sig[a..b].iter().any(|&e| !e);
        let r = &mut self.regions[slot as usize];
        r.evident |= ev;
        r.gated |= gated;
        r.note_band(now, a, b);
        let confirmed = r.confirmed;
        for j in a..b {
            let k = self.geo.fft_bin(j);
            r.add_cell(now, j, v.power[k] as f64, v.floor[k] as f64, self.key_gap);
            self.label[j] = slot + 1;
            self.seen[j] = now;
            if confirmed {
                self.hold_label[j] = slot + 1;
                self.hold_seen[j] = now;
            }
        }
        if !confirmed && r.active >= self.cfg.min_frames {
            self.confirm(slot, now);
        }
    }

    /// A region has just been confirmed: it joins the confirmed regions it touches within the
    /// hold time (CW elements across key-up, syllables across pauses).
    fn confirm(&mut self, slot: u32, now: u64) {
        let r = &mut self.regions[slot as usize];
        r.confirmed = true;
        let (lo, hi) = (r.spec_lo, r.spec_lo + r.spec.len());
        let tol = self
            .cfg
            .join_bins
            .max((self.cfg.confirm_join_hz / self.geo.bin_hz()).ceil() as usize);
        let (a, b) = (lo.saturating_sub(tol), (hi + tol).min(self.label.len()));
        self.touched.clear();
        for j in a..b {
            let l = self.hold_label[j];
            if l != 0
                && l != slot + 1
                && self.hold_seen[j] + self.hold >= now
                && self.regions[(l - 1) as usize].live
                && self.regions[(l - 1) as usize].confirmed
                && !self.touched.contains(&l)
            {
                self.touched.push(l);
            }
        }
        for j in lo..hi {
            if self.label[j] == slot + 1 {
                self.hold_label[j] = slot + 1;
                self.hold_seen[j] = self.seen[j];
            }
        }
        if self.touched.is_empty() {
            return;
        }
        self.touched.push(slot + 1);
        self.merge_touched();
    }

    /// Merges every region in `touched` (labels, ≥ 2 of them) into the oldest one and returns
    /// its slot. No allocation: `merge_into` does not change `touched`.
    fn merge_touched(&mut self) -> u32 {
        let keep = *self
            .touched
            .iter()
            .min_by_key(|&&l| self.regions[(l - 1) as usize].first)
            .unwrap_or(&self.touched[0]);
        for i in 0..self.touched.len() {
            let l = self.touched[i];
            if l != keep {
                self.merge_into(keep - 1, l - 1);
            }
        }
        keep - 1
    }

    fn merge_into(&mut self, keep: u32, gone: u32) {
        let (k, g) = (keep as usize, gone as usize);
        let (mut a, mut b) = (
            std::mem::take(&mut self.regions[k]),
            std::mem::take(&mut self.regions[g]),
        );
        if a.cur.frame != u64::MAX && a.cur.frame != b.cur.frame {
            a.flush_frame();
        }
        if b.cur.frame != u64::MAX {
            if b.cur.frame == a.cur.frame {
                // Same frame: fold b's partial sums into a's.
                a.cur.sp += b.cur.sp;
                a.cur.sjp += b.cur.sjp;
                a.cur.sjjp += b.cur.sjjp;
                a.cur.cells += b.cur.cells;
                b.cur = FrameAcc {
                    frame: u64::MAX,
                    ..FrameAcc::default()
                };
            } else {
                b.flush_frame();
            }
        }
        // The merged region keeps the earlier onset; the other one's significance still
        // counts (a long emission whose first element was weak stands by a later one).
        let dropped = if b.first < a.first { &a } else { &b };
        let z = if dropped.confirmed {
            onset(dropped, &self.geo, &|f| self.centre_sample(f)).1
        } else {
            0.0
        };
        a.merge(&mut b);
        a.part_z = a.part_z.max(z);
        self.regions[k] = a;
        self.regions[g] = b;
        for l in self.label.iter_mut().chain(self.hold_label.iter_mut()) {
            if *l == gone + 1 {
                *l = keep + 1;
            }
        }
        self.open.retain(|&s| s != gone);
        self.free.push(gone);
    }

    fn new_region(&mut self, now: u64, emit: &mut dyn FnMut(Emission)) -> u32 {
        if self.open.len() >= self.max_open {
            // At the bound: the least recently active region is closed now.
            if let Some((i, _)) = self
                .open
                .iter()
                .enumerate()
                .min_by_key(|(_, &s)| self.regions[s as usize].last)
            {
                let s = self.open.swap_remove(i);
                self.forced += 1;
                self.close(s, emit);
            }
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.regions.push(Region::default());
                (self.regions.len() - 1) as u32
            }
        };
        self.regions[slot as usize].start(now);
        self.open.push(slot);
        slot
    }

    fn close_stale(&mut self, now: u64, emit: &mut dyn FnMut(Emission)) {
        let mut i = 0;
        while i < self.open.len() {
            let s = self.open[i];
            let r = &self.regions[s as usize];
            let hold = if r.active < self.cfg.min_frames {
                2
            } else {
                self.hold
            };
            if r.last + hold < now {
                if !r.confirmed
                    && r.active >= 2
                    && self.isolated(s, now)
                    && self.significant_onset(s)
                {
                    // A short emission (a 10 ms burst spans two frames), alone in its band
                    // for the hold time: it stands by its strength instead of its length. (Near
                    // another emission, a short region is a fragment of it: dropped as before.)
                    self.regions[s as usize].confirmed = true;
                }
                self.open.swap_remove(i);
                self.close(s, emit);
            } else {
                i += 1;
            }
        }
    }

    /// Closes every open region (end of stream), oldest end first.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Emission)) {
        let mut open = std::mem::take(&mut self.open);
        open.sort_by_key(|&s| {
            (
                self.regions[s as usize].last,
                self.regions[s as usize].first,
            )
        });
        for s in open.drain(..) {
            self.close(s, emit);
        }
        self.open = open;
    }

    /// Whether no other emission was in a region's bins, widened by `isolation_hz` (at least
    /// the join tolerance), within the hold time.
    fn isolated(&self, slot: u32, now: u64) -> bool {
        let r = &self.regions[slot as usize];
        let t = self
            .cfg
            .join_bins
            .max((self.cfg.isolation_hz / self.geo.bin_hz()).ceil() as usize);
        let (lo, hi) = (
            r.spec_lo.saturating_sub(t),
            (r.spec_lo + r.spec.len() + t).min(self.label.len()),
        );
        (lo..hi).all(|j| {
            let l = self.hold_label[j];
            l == 0 || l == slot + 1 || self.hold_seen[j] + self.hold < now
        }) && (lo..hi).all(|j| {
            let l = self.label[j];
            l == 0 || l == slot + 1 || self.seen[j] + self.hold < now
        })
    }

    /// Whether a tentative region's onset is strong enough to stand for a short emission: the
    /// significance a short emission needs, times `short_confirm`.
    fn significant_onset(&self, slot: u32) -> bool {
        let cfg = &self.cfg;
        if self.regions[slot as usize].evident {
            return true;
        }
        if cfg.min_significance <= 0.0 {
            return false;
        }
        let (_, z) = onset(&self.regions[slot as usize], &self.geo, &|f| {
            self.centre_sample(f)
        });
        z >= cfg.min_significance * cfg.short_factor * cfg.short_confirm
    }

    fn close(&mut self, slot: u32, emit: &mut dyn FnMut(Emission)) {
        let r = &mut self.regions[slot as usize];
        r.flush_frame();
        r.live = false;
        self.free.push(slot);
        let (hop, frame_len, pre) = (
            self.geo.hop as u64,
            self.geo.frame_len as f64,
            self.preroll_samples as f64,
        );
        if let Some(e) = measure(r, &self.geo, &self.cfg, self.channel, |f| {
            ((f + 1) * hop) as f64 - frame_len / 2.0 - pre
        }) {
            self.emitted += 1;
            emit(e);
        }
    }
}

/// Fits one on-interval `[t0, t1]` (in samples) to frames' excess power over the floor: a
/// frame whose window starts at sample `s` holds `S·(C(t1 − s) − C(t0 − s))` of a signal of
/// level `S` that is on during the interval, `C` being the window's cumulative energy
/// ([`Geometry::energy_before`]). Least squares over `S` in closed form, over `t0 < t1` on a
/// grid of half a hop, then of 1/32 hop around the best; the interval must overlap `must` (a
/// frame that had signal). `obs`: (window start, excess). For a step the fitted edge sits where
/// the window holds half the signal's energy; for a ramped edge, near its middle.
fn fit_interval(g: &Geometry, obs: &[(f64, f64)], must: (f64, f64)) -> Option<(f64, f64, f64)> {
    if obs.len() < 3 {
        return None;
    }
    let n = g.frame_len as f64;
    let lo = obs.iter().map(|o| o.0).fold(f64::INFINITY, f64::min) - n;
    let hi = obs.iter().map(|o| o.0).fold(f64::NEG_INFINITY, f64::max) + 2.0 * n;
    let score = |t0: f64, t1: f64| -> f64 {
        if !(t0 < t1 && t0 < must.1 && t1 > must.0) {
            return f64::NEG_INFINITY;
        }
        let (mut eh, mut hh) = (0.0, 0.0);
        for &(s, e) in obs {
            let h = g.energy_before(t1 - s) - g.energy_before(t0 - s);
            eh += e * h;
            hh += h * h;
        }
        if eh <= 0.0 || hh <= 0.0 {
            f64::NEG_INFINITY
        } else {
            eh * eh / hh
        }
    };
    let search = |a0: f64, a1: f64, b0: f64, b1: f64, step: f64, best: &mut (f64, f64, f64)| {
        let mut t0 = a0;
        while t0 <= a1 {
            let mut t1 = b0.max(t0 + step);
            while t1 <= b1 {
                let v = score(t0, t1);
                if v > best.2 {
                    *best = (t0, t1, v);
                }
                t1 += step;
            }
            t0 += step;
        }
    };
    let hop = g.hop.max(1) as f64;
    let mut best = (0.0, 0.0, f64::NEG_INFINITY);
    search(lo, hi, lo, hi, hop / 2.0, &mut best);
    if !best.2.is_finite() {
        return None;
    }
    let (c0, c1) = (best.0, best.1);
    search(
        c0 - hop / 2.0,
        c0 + hop / 2.0,
        c1 - hop / 2.0,
        c1 + hop / 2.0,
        hop / 32.0,
        &mut best,
    );
    Some(best)
}

/// The onset fit of a region (see [`fit_interval`]: start, end, fitted energy) and its
/// matched-filter significance: the fitted energy over the onset band's noise spread, in σ.
fn onset(r: &Region, g: &Geometry, centre: &impl Fn(u64) -> f64) -> (Option<(f64, f64, f64)>, f64) {
    let n = g.frame_len as f64;
    let frame_start = |f: u64| centre(f) - n / 2.0;
    let mut obs = [(0.0, 0.0); LOOK + ON];
    let mut k = 0;
    for (i, &x) in r.on_x.iter().enumerate() {
        let f = r.first as i64 - (LOOK as i64 - 1) + i as i64;
        if f >= 0 && x.is_finite() {
            obs[k] = (frame_start(f as u64), x as f64);
            k += 1;
        }
    }
    let s0 = frame_start(r.first);
    let on_fit = fit_interval(g, &obs[..k], (s0, s0 + n));
    let z = on_fit.map_or(0.0, |f| {
        (f.2 / (r.on_floor2 * g.noise_corr).max(1e-30)).sqrt()
    });
    (on_fit, z)
}

/// Measures a closed region; `None` when it is below the minimum duration or bandwidth.
fn measure(
    r: &Region,
    g: &Geometry,
    cfg: &DetectorConfig,
    channel: usize,
    centre: impl Fn(u64) -> f64,
) -> Option<Emission> {
    let rate = g.rate as f64;
    let half_hop = g.hop as f64 / 2.0;
    if !r.confirmed {
        return None;
    }
    // Edges to a fraction of a hop: the excess power in the emission's band, frame by frame
    // around its first and last signal frames, fitted with an on-interval (see
    // `fit_interval`). Without enough history: the first frame's centre less one hop (the gate
    // opens about a hop late) and the last frame's centre plus half a hop.
    let n = g.frame_len as f64;
    let frame_start = |f: u64| centre(f) - n / 2.0;
    let (on_fit, onset_z) = onset(r, g, &centre);
    let start = on_fit.map(|f| f.0);
    let mut obs = [(0.0, 0.0); LOOK + ON];
    let mut k = 0;
    let lo = r.last.saturating_sub(ON as u64 - 1);
    for f in lo..=r.last + AFTER as u64 {
        let i = f as usize % TAIL;
        if r.tail_f.get(i) == Some(&f) && r.tail_x[i].is_finite() {
            obs[k] = (frame_start(f), r.tail_x[i] as f64);
            k += 1;
        }
    }
    let s1 = frame_start(r.last);
    // A region of the evidence test alone: its last cells may come up to 16 frames after the
    // end (its sums run on); the end may be anywhere in its last frames.
    let e0 = if r.gated {
        s1
    } else {
        frame_start(r.first.max(lo))
    };
    let end = fit_interval(g, &obs[..k], (e0, s1 + n)).map(|f| f.1);
    let start_s = (start.unwrap_or(centre(r.first) - 2.0 * half_hop) / rate).max(0.0);
    let end_s = (end.unwrap_or(centre(r.last) + half_hop) / rate).max(start_s);
    let need = cfg.min_significance
        * if end_s - start_s
            < cfg
                .short_s
                .max(n / rate)
                .max(cfg.short_hops * g.hop as f64 / rate)
        {
            cfg.short_factor
        } else {
            1.0
        };
    let onset_z = onset_z.max(r.part_z);
    if on_fit.is_some() && onset_z < need && !r.evident {
        return None;
    }
    let duration_s = end_s - start_s;
    if duration_s < cfg.min_duration_s || r.spec.is_empty() || r.sum_p <= 0.0 {
        return None;
    }
    let bin_hz = g.bin_hz();
    let total: f64 = r.spec.iter().sum();
    // Occupied bandwidth: 0.5 % cut from each side.
    let cut = 0.005 * total;
    let (mut lo, mut acc) = (0usize, 0.0);
    while lo + 1 < r.spec.len() && acc + r.spec[lo] < cut {
        acc += r.spec[lo];
        lo += 1;
    }
    let (mut hi, mut acc) = (r.spec.len() - 1, 0.0);
    while hi > lo && acc + r.spec[hi] < cut {
        acc += r.spec[hi];
        hi -= 1;
    }
    let bandwidth_hz = (hi - lo + 1) as f64 * bin_hz;
    if bandwidth_hz < cfg.min_bandwidth_hz {
        return None;
    }
    // Centre: power-weighted, in bins (frequency order).
    let cj: f64 = r
        .spec
        .iter()
        .enumerate()
        .map(|(i, p)| (r.spec_lo + i) as f64 * p)
        .sum::<f64>()
        / total;
    let offset = g.offset_hz(cj);
    let (center_hz, freq_ref) = match g.center_hz {
        Some(c) => (c + offset, "rf"),
        None => (offset, "offset"),
    };
    // 3 dB band around the peak bin.
    let (pk, pv) = r.spec.iter().enumerate().fold(
        (0, 0.0),
        |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
    );
    let (mut a, mut b) = (pk, pk);
    while a > 0 && r.spec[a - 1] >= pv / 2.0 {
        a -= 1;
    }
    while b + 1 < r.spec.len() && r.spec[b + 1] >= pv / 2.0 {
        b += 1;
    }
    let bandwidth_3db_hz = (b - a + 1) as f64 * bin_hz;
    // Flatness over the occupied band.
    let band = &r.spec[lo..=hi];
    let eps = total * 1e-9;
    let ln_mean = band.iter().map(|v| (v + eps).ln()).sum::<f64>() / band.len() as f64;
    let ar_mean = band.iter().map(|v| v + eps).sum::<f64>() / band.len() as f64;
    let spectral_flatness = (ln_mean.exp() / ar_mean).clamp(0.0, 1.0);
    let peak_dbfs = 10.0 * (r.peak / g.full_scale()).max(1e-30).log10();
    let ratio = r.sum_p / r.sum_floor.max(1e-30);
    let snr_db = 10.0 * (ratio - 1.0).max(1e-3).log10();
    let span = (r.last - r.first + 1) as f64;
    let duty_cycle = (r.active as f64 / span).min(1.0);
    // Per-frame centre trend and spread.
    let hop_s = g.hop as f64 / rate;
    let (mut drift, mut spread) = (0.0, 0.0);
    if r.n >= 3.0 {
        let vt = r.stt - r.st * r.st / r.n;
        let cov = r.stf - r.st * r.sf / r.n;
        let vf = r.sff - r.sf * r.sf / r.n;
        let slope = if vt > 0.0 { cov / vt } else { 0.0 };
        drift = slope * bin_hz / hop_s;
        let resid = (vf - slope * cov).max(0.0) / r.n;
        spread = resid.sqrt() * bin_hz;
    }
    let frame_width_hz = if r.n > 0.0 {
        r.width_sum / r.n * bin_hz
    } else {
        0.0
    };
    let level_cv = if r.n > 1.0 {
        let m = r.lvl / r.n;
        ((r.lvl2 / r.n - m * m).max(0.0)).sqrt() / m.max(1e-30)
    } else {
        0.0
    };
    let narrow = frame_width_hz <= bin_hz.max(150.0);
    let kind = if duration_s < cfg.burst_max_s {
        Kind::Burst
    } else if bandwidth_hz >= cfg.wide_hz {
        Kind::Wideband
    } else if narrow {
        if spread >= (0.5 * bin_hz).max(40.0) {
            Kind::Unknown
        } else if duty_cycle >= 0.7 {
            Kind::Carrier
        } else if r.elements >= 3 {
            Kind::Cw
        } else {
            Kind::Unknown
        }
    } else if level_cv >= 0.25 {
        Kind::Voice
    } else {
        Kind::Unknown
    };
    Some(Emission {
        channel,
        start_s,
        end_s,
        duration_s,
        center_hz,
        freq_ref,
        bandwidth_hz,
        bandwidth_3db_hz,
        peak_dbfs,
        snr_db,
        duty_cycle,
        on_off_count: r.elements,
        freq_drift_hz_per_s: drift,
        spectral_flatness,
        freq_spread_hz: spread,
        frame_width_hz,
        level_cv,
        significance: onset_z,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hann_geometry(n: usize, hop: usize) -> Geometry {
        let w: Vec<f32> = (0..n)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
            .collect();
        Geometry::from_window(&w, 500_000, hop, n, true, None)
    }

    #[test]
    fn the_evidence_fixed_point_is_the_rounded_ratio_and_bounded() {
        for (p, f) in [
            (1.0f32, 1.0f32),
            (3.3, 1.7),
            (1e-3, 2.0),
            (255.9, 1.0),
            (5e-8, 1e-7),
        ] {
            let want = ((p / f) * EV_ONE).round() as i32;
            assert!(
                (ev_fixed(p, f) - want).abs() <= 1,
                "{p}/{f}: {} vs {want}",
                ev_fixed(p, f)
            );
        }
        let top = (EV_MAX * EV_ONE) as i32;
        for (p, f) in [
            (1e30f32, 1.0f32),
            (f32::INFINITY, 1.0),
            (f32::NAN, 1.0),
            (1.0, 1e-30),
        ] {
            assert_eq!(ev_fixed(p, f), top, "{p}/{f}");
        }
        for (p, f) in [(1.0f32, 0.0f32), (0.0, 0.0), (0.0, 1.0), (-1.0, 1.0)] {
            assert_eq!(ev_fixed(p, f), 0, "{p}/{f}");
        }
    }

    #[test]
    fn the_evidence_sums_stay_exact_over_a_long_stream_of_wild_levels() {
        // Running sums (add the new frame, drop the oldest) drift in floating point when a
        // huge value passes through; in fixed point they equal the ring's sums exactly.
        let g = hann_geometry(64, 32);
        let bins = g.bins();
        let mut d = Detector::new(DetectorConfig::default(), g, 0);
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let (mut power, floor, mask) = (vec![0f32; 64], vec![1f32; 64], vec![0f32; 64]);
        for _ in 0..20_000 {
            for p in power.iter_mut() {
                let r = next();
                *p = (r % 1000) as f32 / 300.0 * 10f32.powi(((r >> 20) % 13) as i32 - 3);
            }
            let v = FrameView {
                channel: 0,
                power: &power,
                floor: &floor,
                mask: &mask,
            };
            d.push(&v, &mut |_| {});
        }
        let now = d.frames - 1;
        for (i, &l) in EV_LENS.iter().enumerate() {
            for j in 0..bins {
                let want: i64 = (0..l as u64)
                    .map(|b| d.ev_x[((now - b) as usize % EV_RING) * bins + j] as i64)
                    .sum();
                assert_eq!(d.ev_sum[i * bins + j] as i64, want, "window {l} bin {j}");
            }
        }
    }

    #[test]
    fn the_window_energy_share_runs_from_zero_to_one_and_is_half_at_the_middle_of_a_hann() {
        let g = hann_geometry(4096, 2048);
        assert_eq!(g.energy_before(-5.0), 0.0);
        assert_eq!(g.energy_before(5000.0), 1.0);
        assert!((g.energy_before(2048.0) - 0.5).abs() < 1e-3);
        let mut last = 0.0;
        for u in 0..=4096 {
            let e = g.energy_before(u as f64);
            assert!(e >= last - 1e-9, "not monotone at {u}");
            last = e;
        }
    }

    #[test]
    fn an_on_interval_is_recovered_from_noiseless_frames_to_a_sixteenth_of_a_hop() {
        let g = hann_geometry(4096, 2048);
        let (t0, t1, level) = (40_000.3, 61_234.7, 5.0);
        let obs: Vec<(f64, f64)> = (10..40)
            .map(|k| {
                let s = (k * 2048) as f64;
                let h = g.energy_before(t1 - s) - g.energy_before(t0 - s);
                (s, level * h)
            })
            .collect();
        // Must overlap the frame starting at 40960 (the first frame with signal).
        let (a, b, _) = fit_interval(&g, &obs, (40_960.0 - 4096.0, 40_960.0)).unwrap();
        assert!((a - t0).abs() <= 2048.0 / 16.0, "start {a} vs {t0}");
        assert!((b - t1).abs() <= 2048.0 / 16.0, "end {b} vs {t1}");
    }

    #[test]
    fn the_fitted_end_is_that_of_the_pulse_in_the_required_frame_not_of_a_stronger_one() {
        let g = hann_geometry(4096, 2048);
        // Two pulses; the end must be the end of the one overlapping the required frame.
        let pulse = |s: f64, a: f64, b: f64| g.energy_before(b - s) - g.energy_before(a - s);
        let obs: Vec<(f64, f64)> = (0..40)
            .map(|k| {
                let s = (k * 2048) as f64;
                (
                    s,
                    9.0 * pulse(s, 10_000.0, 20_000.0) + 3.0 * pulse(s, 50_000.0, 60_000.0),
                )
            })
            .collect();
        let (a, b, _) = fit_interval(&g, &obs, (49_152.0, 53_248.0)).unwrap();
        assert!((b - 60_000.0).abs() < 2048.0 / 2.0, "end {b}");
        assert!(a <= 50_000.0 + 2048.0 / 4.0, "start {a}");
    }
}
