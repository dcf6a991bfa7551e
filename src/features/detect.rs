//! The streaming emission detector: connected time-frequency regions of the gate's "signal"
//! cells become emissions, measured and classified as they close.
//!
//! # Cells
//! A cell (one frame, one bin) is *signal* when the engine passed it (gain ≥
//! [`DetectorConfig::open_gain`]) and its power stands [`DetectorConfig::min_ratio_db`] over the
//! frame's noise floor (this cuts the gate's release tail, so ends are where the signal ends).
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
    /// A region with fewer active frames than this is tentative: it closes after two silent
    /// frames instead of the hold time, and is never emitted (noise flecks).
    pub min_frames: u64,
    /// Runs this many bins apart (or closer) join one region.
    pub join_bins: usize,
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
            min_frames: 3,
            join_bins: 2,
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
    pub kind: Kind,
}

impl Emission {
    /// Column names, in table order.
    pub const COLUMNS: [&'static str; 19] = [
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
}

impl Geometry {
    /// From an engine configuration.
    pub fn new(
        cfg: &crate::dsp::stft::StftConfig,
        rate: u32,
        complex: bool,
        center_hz: Option<f64>,
    ) -> Geometry {
        let (a, _) = cfg.windows();
        Geometry {
            rate,
            hop: cfg.hop,
            frame_len: cfg.frame_len,
            fft_len: cfg.fft_len,
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
    /// Offset frequency of the `j`-th bin in frequency order (may be fractional).
    pub fn offset_hz(&self, j: f64) -> f64 {
        let k = if self.complex {
            j - (self.fft_len / 2) as f64
        } else {
            j
        };
        k * self.bin_hz()
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
}

impl Region {
    fn start(&mut self, now: u64) {
        let spec = std::mem::take(&mut self.spec);
        *self = Region {
            live: true,
            first: now,
            last: now,
            spec,
            ..Region::default()
        };
        self.spec.clear();
        self.cur.frame = u64::MAX;
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
        for j in 0..bins {
            let k = self.geo.fft_bin(j);
            let (p, f) = (v.power[k], v.floor[k]);
            self.sig[j] =
                (v.mask[k] >= og && p >= f * self.min_ratio) || p >= f * self.strong_ratio;
        }
        let mut j = 0;
        while j < bins {
            if !self.sig[j] {
                j += 1;
                continue;
            }
            let a = j;
            while j < bins && self.sig[j] {
                j += 1;
            }
            self.run(now, a, j, v, emit);
        }
        self.close_stale(now, emit);
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
        let slot = match self.touched.len() {
            0 => self.new_region(now, emit),
            1 => self.touched[0] - 1,
            _ => self.merge_touched(),
        };
        let r = &mut self.regions[slot as usize];
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
        let tol = self.cfg.join_bins;
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
        a.merge(&mut b);
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

    fn close(&mut self, slot: u32, emit: &mut dyn FnMut(Emission)) {
        let r = &mut self.regions[slot as usize];
        r.flush_frame();
        r.live = false;
        self.free.push(slot);
        if let Some(e) = measure(r, &self.geo, &self.cfg, self.channel, |f| {
            ((f + 1) * self.geo.hop as u64) as f64
                - self.geo.frame_len as f64 / 2.0
                - self.preroll_samples as f64
        }) {
            self.emitted += 1;
            emit(e);
        }
    }
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
    if r.active < cfg.min_frames {
        return None;
    }
    // The gate opens about a hop late on an onset: the start is the first frame's centre less
    // one hop, the end the last frame's centre plus half a hop.
    let start_s = ((centre(r.first) - 2.0 * half_hop) / rate).max(0.0);
    let end_s = (centre(r.last) + half_hop) / rate;
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
        kind,
    })
}
