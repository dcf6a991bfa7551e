//! Scores detections against a scene's known emitters.
//!
//! An emission *matches* an emitter when their times overlap and their centres are within
//! 2 kHz (slots are 8 kHz apart, so a match is never a neighbour). Emitters ≥ `min_snr_db`
//! (6 dB) count for recall; each takes the overlapping emission with the most time overlap.
//! An emission that matches no emitter, or only one already taken (a fragment), is a false
//! positive; one that matches only emitters under `min_snr_db` counts neither way. Of the
//! matched pairs: centre within one analysis bin, start and end within one hop of the middle of
//! the first rising and last falling edge ([`Emitter::edges_s`]), and the kind.

#[cfg(doc)]
use super::scene::Emitter;

use super::detect::{Emission, Geometry};
use super::scene::{Family, Scene};
use std::collections::BTreeMap;

/// Counts for one family (or all).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Emitters at or above the SNR limit.
    pub emitters: usize,
    pub detected: usize,
    pub false_pos: usize,
    pub centre_ok: usize,
    pub start_ok: usize,
    pub end_ok: usize,
    pub kind_ok: usize,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.emitters += o.emitters;
        self.detected += o.detected;
        self.false_pos += o.false_pos;
        self.centre_ok += o.centre_ok;
        self.start_ok += o.start_ok;
        self.end_ok += o.end_ok;
        self.kind_ok += o.kind_ok;
    }
    fn ratio(a: usize, b: usize) -> f64 {
        if b == 0 {
            f64::NAN
        } else {
            a as f64 / b as f64
        }
    }
    pub fn precision(&self) -> f64 {
        Self::ratio(self.detected, self.detected + self.false_pos)
    }
    pub fn recall(&self) -> f64 {
        Self::ratio(self.detected, self.emitters)
    }
    pub fn centre(&self) -> f64 {
        Self::ratio(self.centre_ok, self.detected)
    }
    pub fn start(&self) -> f64 {
        Self::ratio(self.start_ok, self.detected)
    }
    pub fn end(&self) -> f64 {
        Self::ratio(self.end_ok, self.detected)
    }
    pub fn kind(&self) -> f64 {
        Self::ratio(self.kind_ok, self.detected)
    }
}

/// One matched pair's errors (for inspection).
#[derive(Debug, Clone)]
pub struct Pair {
    pub family: Family,
    pub snr_db: f64,
    pub centre_err_hz: f64,
    pub start_err_s: f64,
    pub end_err_s: f64,
    pub kind: super::detect::Kind,
    pub significance: f64,
    /// The emitter's true start and end (edge middles), s.
    pub true_start_s: f64,
    pub true_end_s: f64,
}

/// A scene's score, per family; false positives that match no emitter are under `None`.
#[derive(Debug, Clone, Default)]
pub struct Score {
    pub by_family: BTreeMap<Family, Counts>,
    pub unattributed_fp: usize,
    pub pairs: Vec<Pair>,
    /// Missed emitters: (family, SNR dB, duration s, offset centre Hz, start s).
    pub missed: Vec<(Family, f64, f64, f64, f64)>,
    /// False positives: (offset centre Hz, start s, duration s, significance, kind, the
    /// family of the emitter it is a fragment of — `None`: near no emitter).
    pub fps: Vec<(f64, f64, f64, f64, super::detect::Kind, Option<Family>)>,
}

impl Score {
    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        self.by_family.values().for_each(|c| t.add(c));
        t.false_pos += self.unattributed_fp;
        t
    }
    pub fn add(&mut self, o: &Score) {
        for (f, c) in &o.by_family {
            self.by_family.entry(*f).or_default().add(c);
        }
        self.unattributed_fp += o.unattributed_fp;
        self.pairs.extend(o.pairs.iter().cloned());
        self.missed.extend(o.missed.iter().cloned());
        self.fps.extend(o.fps.iter().cloned());
    }
}

/// Scores `found` (offsets: `center_hz` minus the scene's centre when it has one) against
/// `scene`.
pub fn score(scene: &Scene, geo: &Geometry, found: &[Emission], min_snr_db: f64) -> Score {
    let bin = geo.bin_hz();
    let hop_s = geo.hop as f64 / geo.rate as f64;
    let c0 = scene.cfg.center_hz.unwrap_or(0.0);
    let off = |e: &Emission| e.center_hz - if e.freq_ref == "rf" { c0 } else { 0.0 };
    let overlaps = |e: &Emission, m: &super::scene::Emitter| {
        (off(e) - m.center_hz).abs() <= 2000.0 + m.bw_hz / 2.0
            && e.start_s < m.end_s + 0.01
            && e.end_s > m.start_s - 0.01
    };
    let mut s = Score::default();
    let mut taken = vec![false; found.len()];
    for m in &scene.emitters {
        if m.snr_db < min_snr_db {
            continue;
        }
        let c = s.by_family.entry(m.family).or_default();
        c.emitters += 1;
        let best = found
            .iter()
            .enumerate()
            .filter(|(i, e)| !taken[*i] && overlaps(e, m))
            .max_by(|a, b| {
                let ov = |e: &Emission| e.end_s.min(m.end_s) - e.start_s.max(m.start_s);
                ov(a.1).total_cmp(&ov(b.1))
            });
        let Some((i, e)) = best else {
            s.missed.push((
                m.family,
                m.snr_db,
                m.end_s - m.start_s,
                m.center_hz,
                m.start_s,
            ));
            continue;
        };
        taken[i] = true;
        c.detected += 1;
        let ce = off(e) - m.center_hz;
        let (m0, m1) = m.edges_s();
        let (se, ee) = (e.start_s - m0, e.end_s - m1);
        c.centre_ok += usize::from(ce.abs() <= bin);
        c.start_ok += usize::from(se.abs() <= hop_s);
        c.end_ok += usize::from(ee.abs() <= hop_s);
        c.kind_ok += usize::from(e.kind == m.family.expected_kind());
        s.pairs.push(Pair {
            family: m.family,
            snr_db: m.snr_db,
            centre_err_hz: ce,
            start_err_s: se,
            end_err_s: ee,
            kind: e.kind,
            significance: e.significance,
            true_start_s: m0,
            true_end_s: m1,
        });
    }
    for (i, e) in found.iter().enumerate() {
        if taken[i] {
            continue;
        }
        let near: Vec<&super::scene::Emitter> =
            scene.emitters.iter().filter(|m| overlaps(e, m)).collect();
        let fp = (off(e), e.start_s, e.duration_s, e.significance, e.kind);
        if near.is_empty() {
            s.unattributed_fp += 1;
            s.fps.push((fp.0, fp.1, fp.2, fp.3, fp.4, None));
        } else if near.iter().all(|m| m.snr_db < min_snr_db) {
            // A weak emitter found: neither a hit nor a false alarm.
        } else {
            let f = near[0].family;
            s.by_family.entry(f).or_default().false_pos += 1;
            s.fps.push((fp.0, fp.1, fp.2, fp.3, fp.4, Some(f)));
        }
    }
    s
}
