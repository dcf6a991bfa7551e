//! Streaming spectrogram images with axes, for eyes (not for measurement).
//!
//! # Pipeline
//! Samples stream through a Hann-windowed STFT ([`Analyzer`]); every frame's power spectrum is
//! folded into one of `width` image columns by maximum (or mean, for gain masks) — every frame
//! contributes, none is skipped, and memory is `columns × bins` whatever the input length.
//! Rows then take the maximum over the bins that fall in each pixel row, so a narrow tone stays
//! visible when there are more bins than pixels.
//!
//! # Levels
//! Power is shown in dBFS: a full-scale real sine (amplitude 1) reads 0 dB at its bin, as does a
//! unit complex exponential in I/Q. The colour range is automatic unless given: the top is the
//! 99.5th percentile of all cells (raised towards the peak cell when that leaves less than 40 dB
//! above the 5th percentile), the bottom is the 5th percentile but never more than 80 dB (or
//! `range_db`) below the top — so noise floors land in the dark end without the whole image
//! collapsing to black, and sparse carriers stand out of a noise floor.
//!
//! # I/Q
//! Complex input is two-sided with negative frequencies at the bottom. With a centre frequency
//! the frequency axis is absolute (RF): centre + baseband offset.

use crate::see::font;
use num_complex::Complex32;
use realfft::{RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Colour map for levels (0 = low, 1 = high).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMap {
    #[default]
    Inferno,
    Viridis,
    /// Black (low) to white (high).
    Grey,
}

impl std::str::FromStr for ColorMap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "inferno" => Ok(ColorMap::Inferno),
            "viridis" => Ok(ColorMap::Viridis),
            "grey" | "gray" | "greys" | "grays" => Ok(ColorMap::Grey),
            _ => Err(format!(
                "unknown colour map '{s}' (expected inferno, viridis or grey)"
            )),
        }
    }
}

impl ColorMap {
    /// 256-entry RGB lookup table.
    fn lut(self) -> Vec<[u8; 3]> {
        (0..256)
            .map(|i| {
                let t = i as f64 / 255.0;
                let c = match self {
                    ColorMap::Inferno => colorous::INFERNO.eval_continuous(t),
                    ColorMap::Viridis => colorous::VIRIDIS.eval_continuous(t),
                    ColorMap::Grey => {
                        let v = i as u8;
                        colorous::Color { r: v, g: v, b: v }
                    }
                };
                [c.r, c.g, c.b]
            })
            .collect()
    }
}

/// Streaming Hann-window STFT that yields power spectra in display order (lowest frequency
/// first; for I/Q that is −fs/2 … +fs/2), scaled to full-scale = 1.
pub struct Analyzer {
    n_fft: usize,
    hop: usize,
    complex: bool,
    window: Vec<f32>,
    buf: Vec<Complex32>,
    filled: usize,
    rfft: Arc<dyn RealToComplex<f32>>,
    cfft: Arc<dyn Fft<f32>>,
    rtime: Vec<f32>,
    spec: Vec<Complex32>,
    scratch: Vec<Complex32>,
    power: Vec<f32>,
    scale: f32,
    frames: u64,
}

impl Analyzer {
    /// `n_fft ≥ 2`, `1 ≤ hop ≤ n_fft`.
    pub fn new(n_fft: usize, hop: usize, complex: bool) -> Analyzer {
        let window = crate::dsp::windows::WindowKind::Hann.build(n_fft);
        let wsum: f32 = window.iter().sum();
        let rfft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let cfft = FftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let scratch_len = rfft.get_scratch_len().max(cfft.get_inplace_scratch_len());
        let bins = if complex { n_fft } else { n_fft / 2 + 1 };
        Analyzer {
            n_fft,
            hop,
            complex,
            window,
            buf: vec![Complex32::default(); n_fft],
            filled: 0,
            rfft,
            cfft,
            rtime: vec![0.0; n_fft],
            spec: vec![Complex32::default(); n_fft],
            scratch: vec![Complex32::default(); scratch_len],
            power: vec![0.0; bins],
            // Real: a sine of amplitude A peaks at A·Σw/2 → (2|X|/Σw)² = A². Complex: A·Σw.
            scale: if complex {
                1.0 / (wsum * wsum)
            } else {
                4.0 / (wsum * wsum)
            },
            frames: 0,
        }
    }

    /// Display rows (bins).
    pub fn bins(&self) -> usize {
        self.power.len()
    }

    /// Frames a signal of `len` samples yields (a short signal is zero-padded to one frame).
    pub fn frame_count(n_fft: usize, hop: usize, len: u64) -> u64 {
        if len <= n_fft as u64 {
            1
        } else {
            1 + (len - n_fft as u64).div_ceil(hop as u64)
        }
    }

    /// Adds one sample; returns the new frame's power spectrum when one completes.
    #[inline]
    pub fn push(&mut self, x: Complex32) -> Option<&[f32]> {
        self.buf[self.filled] = x;
        self.filled += 1;
        if self.filled == self.n_fft {
            self.compute();
            self.buf.copy_within(self.hop.., 0);
            self.filled = self.n_fft - self.hop;
            Some(&self.power)
        } else {
            None
        }
    }

    /// Completes a last, zero-padded frame if samples are pending that no frame has covered
    /// (or if no frame was made at all).
    pub fn flush(&mut self) -> Option<&[f32]> {
        let pending = if self.frames == 0 {
            self.filled > 0
        } else {
            self.filled > self.n_fft - self.hop
        };
        if !pending {
            return None;
        }
        self.buf[self.filled..].fill(Complex32::default());
        self.compute();
        self.filled = 0;
        Some(&self.power)
    }

    fn compute(&mut self) {
        self.frames += 1;
        if self.complex {
            for ((s, x), w) in self.spec.iter_mut().zip(&self.buf).zip(&self.window) {
                *s = x * w;
            }
            self.cfft
                .process_with_scratch(&mut self.spec, &mut self.scratch);
            let n = self.n_fft;
            let half = n / 2;
            for (d, p) in self.power.iter_mut().enumerate() {
                // Display index d ↔ frequency (d − n/2)·fs/n ↔ FFT bin (d + n − n/2) mod n.
                *p = self.spec[(d + n - half) % n].norm_sqr() * self.scale;
            }
        } else {
            for ((t, x), w) in self.rtime.iter_mut().zip(&self.buf).zip(&self.window) {
                *t = x.re * w;
            }
            let bins = self.power.len();
            let _ = self.rfft.process_with_scratch(
                &mut self.rtime,
                &mut self.spec[..bins],
                &mut self.scratch,
            );
            for (p, s) in self.power.iter_mut().zip(&self.spec[..bins]) {
                *p = s.norm_sqr() * self.scale;
            }
        }
    }
}

/// How frames falling into one image column are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// Peak hold: short events survive decimation.
    Max,
    /// Average (for gain masks).
    Mean,
}

/// `cols × bins` accumulator (column-major: `data[c * bins + b]`).
pub struct Columns {
    pub cols: usize,
    pub bins: usize,
    frames_total: u64,
    reduce: Reduce,
    pub data: Vec<f32>,
    count: Vec<u32>,
}

impl Columns {
    /// `frames_total` frames will be folded into `min(width, frames_total)` columns.
    pub fn new(width: usize, bins: usize, frames_total: u64, reduce: Reduce) -> Columns {
        let cols = (width as u64).min(frames_total.max(1)) as usize;
        Columns {
            cols,
            bins,
            frames_total: frames_total.max(1),
            reduce,
            // Powers and gains are ≥ 0, so 0 is the identity of both max and sum.
            data: vec![0.0; cols * bins],
            count: vec![0; cols],
        }
    }

    /// Adds frame number `frame` (0-based). Frames past the expected total go to the last column.
    pub fn add(&mut self, frame: u64, values: &[f32]) {
        let c = ((frame.min(self.frames_total - 1) as u128 * self.cols as u128)
            / self.frames_total as u128) as usize;
        let col = &mut self.data[c * self.bins..(c + 1) * self.bins];
        match self.reduce {
            Reduce::Max => col.iter_mut().zip(values).for_each(|(a, v)| *a = a.max(*v)),
            Reduce::Mean => col.iter_mut().zip(values).for_each(|(a, v)| *a += *v),
        }
        self.count[c] += 1;
    }

    /// Finishes means; columns that got no frame copy their left neighbour.
    pub fn finish(&mut self) {
        for c in 0..self.cols {
            if self.count[c] == 0 && c > 0 {
                let (l, r) = self.data.split_at_mut(c * self.bins);
                r[..self.bins].copy_from_slice(&l[(c - 1) * self.bins..]);
            } else if self.reduce == Reduce::Mean && self.count[c] > 0 {
                let n = self.count[c] as f32;
                self.data[c * self.bins..(c + 1) * self.bins]
                    .iter_mut()
                    .for_each(|v| *v /= n);
            }
        }
    }
}

/// What a panel shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PanelKind {
    /// Power in dBFS over `[bottom_db, top_db]`.
    Power { bottom_db: f64, top_db: f64 },
    /// Linear gain 0 … 1.
    Gain,
}

/// One image panel: accumulated columns plus its title.
pub struct Panel {
    pub title: String,
    pub columns: Columns,
    pub kind: PanelKind,
}

/// Axis extents shared by all panels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axes {
    /// Time of the left and right image edges, s.
    pub t0: f64,
    pub t1: f64,
    /// Frequency of the bottom and top display bins, Hz (absolute when a centre is given).
    pub f_lo: f64,
    pub f_hi: f64,
}

/// Layout and look.
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    /// Plot area width and per-panel height, pixels.
    pub width: usize,
    pub height: usize,
    pub colormap: ColorMap,
    pub title: Option<String>,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            width: 1000,
            height: 360,
            colormap: ColorMap::Inferno,
            title: None,
        }
    }
}

/// An RGB image and where its plot areas are.
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
    /// Plot rectangles `(x, y, w, h)`, one per panel, top to bottom.
    pub plots: Vec<(usize, usize, usize, usize)>,
}

impl Image {
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
    fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = 3 * (y * self.width + x);
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }
    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, c: [u8; 3]) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                self.put(xx, yy, c);
            }
        }
    }
    fn text(&mut self, x: i64, y: i64, s: &str, scale: usize, c: [u8; 3]) {
        font::draw(s, x, y, scale, false, &mut |px, py| {
            if px >= 0 && py >= 0 {
                self.put(px as usize, py as usize, c)
            }
        });
    }
    fn text_vertical(&mut self, x: i64, y: i64, s: &str, scale: usize, c: [u8; 3]) {
        font::draw(s, x, y, scale, true, &mut |px, py| {
            if px >= 0 && py >= 0 {
                self.put(px as usize, py as usize, c)
            }
        });
    }

    /// Encodes as an 8-bit RGB PNG.
    pub fn write_png<W: std::io::Write>(&self, w: W) -> Result<(), png::EncodingError> {
        let mut enc = png::Encoder::new(w, self.width as u32, self.height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header()?;
        wr.write_image_data(&self.rgb)?;
        wr.finish()
    }
}

/// Automatic dB range: `(bottom, top)` from percentiles of the power cells (see the module docs).
pub fn auto_range_db(cells: &[f32], range_db: Option<f64>) -> (f64, f64) {
    let mut db: Vec<f32> = cells.iter().map(|p| to_db(*p) as f32).collect();
    if db.is_empty() {
        return (-80.0, 0.0);
    }
    let pct = |v: &mut Vec<f32>, q: f64| {
        let k = ((v.len() - 1) as f64 * q).round() as usize;
        *v.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1 as f64
    };
    let max = db.iter().fold(f32::MIN, |a, b| a.max(*b)) as f64;
    let p5 = pct(&mut db, 0.05);
    // The 99.5th percentile, raised towards the peak until the scale spans at least 40 dB above
    // the floor: a weak carrier in wideband I/Q covers under 0.5 % of the cells, and without
    // this the noise alone would fill an 8 dB scale.
    let top = pct(&mut db, 0.995).max(max.min(p5 + 40.0));
    let bottom = match range_db {
        Some(r) => top - r,
        None => p5.max(top - 80.0),
    };
    // A flat image (silence, a constant) still gets a usable scale.
    let bottom = bottom.min(top - 1.0);
    (bottom, top)
}

/// Power (full scale = 1) to dB, floored at −300 dB so silence stays finite.
pub fn to_db(p: f32) -> f64 {
    10.0 * (p as f64).max(1e-30).log10()
}

const BG: [u8; 3] = [255, 255, 255];
const FG: [u8; 3] = [40, 40, 40];
const GRID: [u8; 3] = [120, 120, 120];
const TEXT_SCALE: usize = 2;
const CHAR_W: usize = 8 * TEXT_SCALE;
const LEFT: usize = 120;
const PANEL_GAP: usize = 56;
const BOTTOM: usize = 72;
const BAR_GAP: usize = 24;
const BAR_W: usize = 20;
const RIGHT: usize = 130;

/// Draws panels stacked on one time axis with frequency/time ticks, titles and colour bars.
pub fn render(panels: &[Panel], axes: &Axes, style: &Style) -> Image {
    let w = LEFT + style.width + BAR_GAP + BAR_W + RIGHT;
    // Room for the image title, plus a line for panel titles when there are any.
    let top = if panels.iter().any(|p| !p.title.is_empty()) {
        68
    } else {
        44
    };
    let h =
        top + panels.len() * style.height + (panels.len().saturating_sub(1)) * PANEL_GAP + BOTTOM;
    let mut img = Image {
        width: w,
        height: h,
        rgb: BG.repeat(w * h),
        plots: Vec::new(),
    };
    let lut = style.colormap.lut();
    if let Some(t) = &style.title {
        let x = (LEFT + style.width / 2) as i64 - (t.chars().count() * CHAR_W / 2) as i64;
        img.text(x.max(4), 10, t, TEXT_SCALE, FG);
    }
    let (fscale, funit) = freq_unit(axes.f_lo.abs().max(axes.f_hi.abs()));
    for (pi, panel) in panels.iter().enumerate() {
        let px = LEFT;
        let py = top + pi * (style.height + PANEL_GAP);
        let (pw, ph) = (style.width, style.height);
        img.plots.push((px, py, pw, ph));
        // Panel title just above the plot.
        img.text(px as i64, py as i64 - 22, &panel.title, TEXT_SCALE, FG);
        paint(&mut img, panel, &lut, px, py, pw, ph);
        frame_rect(&mut img, px, py, pw, ph);
        // Frequency ticks.
        let lo = axes.f_lo / fscale;
        let hi = axes.f_hi / fscale;
        for (v, label) in ticks(lo, hi, (ph / 40).max(2)) {
            let frac = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
            let y = py + ph - 1 - (frac * (ph - 1) as f64).round() as usize;
            img.fill(px - 6, y, 6, 1, FG);
            let tw = label.chars().count() * CHAR_W;
            img.text((px - 10 - tw) as i64, y as i64 - 7, &label, TEXT_SCALE, FG);
        }
        // The axis label, shortened until it fits the panel height.
        let ylabel = [
            format!("frequency ({funit})"),
            format!("freq ({funit})"),
            funit.to_string(),
        ]
        .into_iter()
        .find(|l| l.chars().count() * CHAR_W + 8 <= ph)
        .unwrap_or_default();
        let ly = py + ph / 2 + ylabel.chars().count() * CHAR_W / 2;
        img.text_vertical(12, ly as i64, &ylabel, TEXT_SCALE, FG);
        // Colour bar.
        let bx = px + pw + BAR_GAP;
        for y in 0..ph {
            let t = 1.0 - y as f64 / (ph - 1).max(1) as f64;
            let c = lut[(t * 255.0).round() as usize];
            img.fill(bx, py + y, BAR_W, 1, c);
        }
        frame_rect(&mut img, bx, py, BAR_W, ph);
        let (blo, bhi, bunit) = match panel.kind {
            PanelKind::Power { bottom_db, top_db } => (bottom_db, top_db, "dBFS"),
            PanelKind::Gain => (0.0, 1.0, "gain"),
        };
        for (v, label) in ticks(blo, bhi, (ph / 60).max(2)) {
            let frac = (v - blo) / (bhi - blo);
            let y = py + ph - 1 - (frac * (ph - 1) as f64).round() as usize;
            img.fill(bx + BAR_W, y, 5, 1, FG);
            img.text(
                (bx + BAR_W + 8) as i64,
                y as i64 - 7,
                &label,
                TEXT_SCALE,
                FG,
            );
        }
        img.text(bx as i64, (py + ph + 8) as i64, bunit, TEXT_SCALE, FG);
    }
    // Time axis under the last panel.
    if let Some(&(px, py, pw, ph)) = img.plots.last() {
        for (v, label) in ticks(axes.t0, axes.t1, (pw / 80).max(3)) {
            let frac = if axes.t1 > axes.t0 {
                (v - axes.t0) / (axes.t1 - axes.t0)
            } else {
                0.0
            };
            let x = px + (frac * (pw - 1) as f64).round() as usize;
            img.fill(x, py + ph, 1, 6, FG);
            let tw = label.chars().count() * CHAR_W;
            img.text(
                x as i64 - (tw / 2) as i64,
                (py + ph + 10) as i64,
                &label,
                TEXT_SCALE,
                FG,
            );
        }
        let xl = "time (s)";
        let tw = xl.chars().count() * CHAR_W;
        img.text(
            (px + pw / 2 - tw / 2) as i64,
            (py + ph + 40) as i64,
            xl,
            TEXT_SCALE,
            FG,
        );
    }
    img
}

fn frame_rect(img: &mut Image, x: usize, y: usize, w: usize, h: usize) {
    img.fill(x - 1, y - 1, w + 2, 1, GRID);
    img.fill(x - 1, y + h, w + 2, 1, GRID);
    img.fill(x - 1, y - 1, 1, h + 2, GRID);
    img.fill(x + w, y - 1, 1, h + 2, GRID);
}

/// Paints one panel's cells into the plot rectangle: columns by nearest column, rows by the
/// maximum over the display bins under each pixel row.
fn paint(
    img: &mut Image,
    panel: &Panel,
    lut: &[[u8; 3]],
    px: usize,
    py: usize,
    pw: usize,
    ph: usize,
) {
    let cols = &panel.columns;
    let nb = cols.bins;
    // Bin range per pixel row (row 0 = top = highest frequency).
    let rows: Vec<(usize, usize)> = (0..ph)
        .map(|y| {
            let hi = (nb as f64 - 1.0) * (1.0 - y as f64 / ph as f64);
            let lo = (nb as f64 - 1.0) * (1.0 - (y + 1) as f64 / ph as f64);
            let (a, b) = (lo.ceil() as usize, hi.floor() as usize);
            if a <= b {
                (a, b)
            } else {
                let m = ((lo + hi) / 2.0).round() as usize;
                (m.min(nb - 1), m.min(nb - 1))
            }
        })
        .collect();
    for x in 0..pw {
        let c = (x * cols.cols / pw).min(cols.cols - 1);
        let col = &cols.data[c * nb..(c + 1) * nb];
        for (y, (a, b)) in rows.iter().enumerate() {
            let cells = &col[*a..=*b];
            // Power: peak over the bins under the row (narrow tones stay visible); gain: mean.
            let v = match panel.kind {
                PanelKind::Power { .. } => cells.iter().fold(f32::MIN, |m, v| m.max(*v)),
                PanelKind::Gain => cells.iter().sum::<f32>() / cells.len() as f32,
            };
            let t = match panel.kind {
                PanelKind::Power { bottom_db, top_db } => {
                    (to_db(v) - bottom_db) / (top_db - bottom_db)
                }
                PanelKind::Gain => v as f64,
            };
            let i = (t.clamp(0.0, 1.0) * 255.0).round() as usize;
            img.put(px + x, py + y, lut[i]);
        }
    }
}

/// Chooses Hz, kHz or MHz for a maximum absolute frequency.
fn freq_unit(max_abs: f64) -> (f64, &'static str) {
    if max_abs >= 1e6 {
        (1e6, "MHz")
    } else if max_abs >= 2e3 {
        (1e3, "kHz")
    } else {
        (1.0, "Hz")
    }
}

/// "Nice" ticks (1, 2, 5 × 10ᵏ) inside `[lo, hi]`, about `target` of them, with labels that
/// carry just enough decimals to tell neighbours apart.
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<(f64, String)> {
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return vec![(lo, format_tick(lo, 0))];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            (v, format_tick(v, decimals))
        })
        .collect()
}

fn format_tick(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_numbers_inside_the_range() {
        let t = ticks(0.0, 8000.0, 8);
        let v: Vec<f64> = t.iter().map(|p| p.0).collect();
        assert_eq!(
            v,
            vec![0.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0]
        );
        let t = ticks(7.0995, 7.1005, 4);
        assert!(t.iter().all(|(v, _)| *v >= 7.0995 && *v <= 7.1005));
        // An RF axis in MHz needs enough decimals to tell 0.5 kHz steps apart.
        let labels: Vec<&str> = t.iter().map(|p| p.1.as_str()).collect();
        assert!(labels.contains(&"7.1000"), "{labels:?}");
        let mut uniq = labels.clone();
        uniq.dedup();
        assert_eq!(uniq.len(), labels.len(), "{labels:?}");
    }

    #[test]
    fn auto_range_never_spans_more_than_80_db_and_never_collapses() {
        let mut cells = vec![1e-20f32; 1000];
        cells[0] = 1.0;
        let (b, t) = auto_range_db(&cells, None);
        assert!(t - b <= 80.0 + 1e-9 && t - b >= 1.0, "{b} {t}");
        let (b, t) = auto_range_db(&[0.0; 10], None);
        assert!(t - b >= 1.0, "{b} {t}");
        let (b, t) = auto_range_db(&cells, Some(40.0));
        assert!((t - b - 40.0).abs() < 1e-9);
    }

    #[test]
    fn a_sparse_carrier_over_a_flat_floor_gets_40_db_of_scale() {
        // 10 000 floor cells between −70 and −67 dB and ten −20 dB carrier cells (0.1 %): the
        // 99.5th percentile is floor, so the top rises to floor + 40 dB = −30 dB.
        let mut cells: Vec<f32> = (0..10_000)
            .map(|i| 1e-7 * (1.0 + (i % 100) as f32 / 100.0))
            .collect();
        cells.extend([1e-2f32; 10]);
        let (b, t) = auto_range_db(&cells, None);
        assert!((b - -69.8).abs() < 0.3, "bottom {b}");
        assert!((t - (b + 40.0)).abs() < 1e-9, "top {t}");
    }

    #[test]
    fn analyzer_reads_a_full_scale_sine_as_zero_dbfs() {
        let n = 256;
        let mut a = Analyzer::new(n, 64, false);
        let mut peak = 0.0f32;
        for i in 0..2048 {
            let x = (2.0 * std::f32::consts::PI * 32.0 * i as f32 / n as f32).sin();
            if let Some(p) = a.push(Complex32::new(x, 0.0)) {
                peak = peak.max(p[32]);
            }
        }
        assert!(to_db(peak).abs() < 0.01, "{}", to_db(peak));
    }
}

/// Geometry of a spectrogram job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectrogramSpec {
    /// Sample rate, Hz.
    pub rate: f64,
    pub n_fft: usize,
    pub hop: usize,
    /// Complex (I/Q) input: two-sided display.
    pub complex: bool,
    /// Centre (RF) frequency of I/Q input, Hz: the axis becomes absolute. Real input ignores it.
    pub center_freq: Option<f64>,
    /// Image columns.
    pub width: usize,
}

impl SpectrogramSpec {
    /// Default FFT size: about 40 ms (a power of two between 256 and 8192).
    pub fn auto_n_fft(rate: f64) -> usize {
        ((rate * 0.04).max(1.0) as usize)
            .next_power_of_two()
            .clamp(256, 8192)
    }
    /// Default hop: a quarter frame, or half a frame (still covering every sample with Hann)
    /// when that alone would give more than 8 frames per image column.
    pub fn auto_hop(n_fft: usize, len: u64, width: usize) -> usize {
        let q = (n_fft / 4).max(1);
        if Analyzer::frame_count(n_fft, q, len) > 8 * width as u64 {
            (n_fft / 2).max(1)
        } else {
            q
        }
    }
    fn display_bins(&self) -> usize {
        if self.complex {
            self.n_fft
        } else {
            self.n_fft / 2 + 1
        }
    }
    /// Axis extents for a signal of `len` samples.
    pub fn axes(&self, len: u64) -> Axes {
        let df = self.rate / self.n_fft as f64;
        let (lo, hi) = if self.complex {
            let c = self.center_freq.unwrap_or(0.0);
            let h = (self.n_fft / 2) as f64;
            (c - h * df, c + (self.display_bins() as f64 - 1.0 - h) * df)
        } else {
            (0.0, self.rate / 2.0)
        };
        // Frame k is centred at (k·hop + n_fft/2)/rate and drawn over ±hop/2 of it, so image
        // columns sit at the times their frames describe.
        let frames = Analyzer::frame_count(self.n_fft, self.hop, len);
        let t0 = (self.n_fft as f64 / 2.0 - self.hop as f64 / 2.0) / self.rate;
        Axes {
            t0,
            t1: t0 + (frames * self.hop as u64) as f64 / self.rate,
            f_lo: lo,
            f_hi: hi,
        }
    }
}

/// Streams `samples` (`len` of them expected) into peak-hold columns of power.
pub fn accumulate<I: Iterator<Item = Complex32>>(
    samples: I,
    len: u64,
    spec: &SpectrogramSpec,
) -> Columns {
    let mut a = Analyzer::new(spec.n_fft, spec.hop, spec.complex);
    let total = Analyzer::frame_count(spec.n_fft, spec.hop, len);
    let mut cols = Columns::new(spec.width, a.bins(), total, Reduce::Max);
    let mut frame = 0u64;
    for x in samples {
        if let Some(p) = a.push(x) {
            cols.add(frame, p);
            frame += 1;
        }
    }
    if let Some(p) = a.flush() {
        cols.add(frame, p);
    }
    cols.finish();
    cols
}

/// Streams an input and its filtered output in lockstep: peak-hold power columns of both and
/// the mean per-bin gain `|STFT(out)| / |STFT(in)|`, clipped to [0, 1] (1 where the input bin is
/// below −120 dBFS: nothing there to remove).
pub fn accumulate_compare<I, O>(
    input: I,
    output: O,
    len: u64,
    spec: &SpectrogramSpec,
) -> [Columns; 3]
where
    I: Iterator<Item = Complex32>,
    O: Iterator<Item = Complex32>,
{
    let mut ai = Analyzer::new(spec.n_fft, spec.hop, spec.complex);
    let mut ao = Analyzer::new(spec.n_fft, spec.hop, spec.complex);
    let total = Analyzer::frame_count(spec.n_fft, spec.hop, len);
    let bins = ai.bins();
    let mut ci = Columns::new(spec.width, bins, total, Reduce::Max);
    let mut co = Columns::new(spec.width, bins, total, Reduce::Max);
    let mut cm = Columns::new(spec.width, bins, total, Reduce::Mean);
    let mut gain = vec![0.0f32; bins];
    let mut frame = 0u64;
    let mut add = |pi: &[f32], po: &[f32], frame: u64| {
        for ((g, a), b) in gain.iter_mut().zip(pi).zip(po) {
            *g = if *a < 1e-12 {
                1.0
            } else {
                (b / a).sqrt().min(1.0)
            };
        }
        ci.add(frame, pi);
        co.add(frame, po);
        cm.add(frame, &gain);
    };
    for (x, y) in input.zip(output) {
        let fi = ai.push(x).is_some();
        let fo = ao.push(y).is_some();
        if fi && fo {
            add(&ai.power, &ao.power, frame);
            frame += 1;
        }
    }
    if ai.flush().is_some() && ao.flush().is_some() {
        add(&ai.power, &ao.power, frame);
    }
    ci.finish();
    co.finish();
    cm.finish();
    [ci, co, cm]
}

/// A box to outline on a panel: time span (s) and frequency span (Hz, on the axes' scale).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outline {
    pub t0: f64,
    pub t1: f64,
    pub f_lo: f64,
    pub f_hi: f64,
}

/// Outlines `boxes` on panel `panel` of `img` (e.g. detected emissions), clipped to the plot
/// and at least 3 pixels on each side so a short or narrow emission stays visible.
pub fn draw_outlines(
    img: &mut Image,
    panel: usize,
    axes: &Axes,
    boxes: &[Outline],
    colour: [u8; 3],
) {
    let Some(&(px, py, pw, ph)) = img.plots.get(panel) else {
        return;
    };
    if pw < 2 || ph < 2 || axes.t1 <= axes.t0 || axes.f_hi <= axes.f_lo {
        return;
    }
    let xs = |t: f64| ((t - axes.t0) / (axes.t1 - axes.t0) * (pw - 1) as f64).round();
    let ys = |f: f64| ((axes.f_hi - f) / (axes.f_hi - axes.f_lo) * (ph - 1) as f64).round();
    let clip = |v: f64, n: usize| v.clamp(0.0, (n - 1) as f64) as usize;
    for b in boxes {
        let (mut x0, mut x1) = (xs(b.t0), xs(b.t1));
        let (mut y0, mut y1) = (ys(b.f_hi), ys(b.f_lo));
        if x1 < 0.0 || x0 > (pw - 1) as f64 || y1 < 0.0 || y0 > (ph - 1) as f64 {
            continue;
        }
        if x1 - x0 < 2.0 {
            let m = (x0 + x1) / 2.0;
            (x0, x1) = (m - 1.0, m + 1.0);
        }
        if y1 - y0 < 2.0 {
            let m = (y0 + y1) / 2.0;
            (y0, y1) = (m - 1.0, m + 1.0);
        }
        let (x0, x1, y0, y1) = (clip(x0, pw), clip(x1, pw), clip(y0, ph), clip(y1, ph));
        img.fill(px + x0, py + y0, x1 - x0 + 1, 1, colour);
        img.fill(px + x0, py + y1, x1 - x0 + 1, 1, colour);
        img.fill(px + x0, py + y0, 1, y1 - y0 + 1, colour);
        img.fill(px + x1, py + y0, 1, y1 - y0 + 1, colour);
    }
}
