//! The emission detector on synthetic scenes with known emitters, fed by the one pump.

use specgate::engine::FrameView;
use specgate::features::scene::{Family, Scene, SceneConfig};
use specgate::features::{self, score, Detector, DetectorConfig, Emission, Geometry, Kind};
use specgate::params::{self, ParamsPatch};
use specgate::stream::filter::FilterOptions;
use specgate::stream::{Result as SResult, Source, StreamInfo};

fn iq_params() -> specgate::Params {
    params::resolve("iq", None, &ParamsPatch::default()).unwrap()
}

fn geometry(rate: u32) -> Geometry {
    let cfg = specgate::engine::stft_config(&iq_params(), rate);
    Geometry::new(&cfg, rate, true, None)
}

fn strong(counts: [usize; 6], seed: u64, seconds: f64) -> Scene {
    let mut c = SceneConfig::new(250_000, seconds, seed);
    c.counts = counts;
    c.snr_lo_db = 12.0;
    c.snr_hi_db = 20.0;
    Scene::generate(c)
}

fn detect(scene: &Scene) -> Vec<Emission> {
    let mut src = scene.source();
    features::detect_all(
        &mut src,
        &iq_params(),
        &FilterOptions::default(),
        &DetectorConfig::default(),
    )
    .unwrap()
    .0
}

#[test]
fn steady_carriers_at_positive_and_negative_offsets_are_found_at_their_frequency_as_carriers() {
    let scene = strong([4, 0, 0, 0, 0, 0], 7, 4.0);
    assert!(scene.emitters.iter().any(|e| e.center_hz < 0.0));
    assert!(scene.emitters.iter().any(|e| e.center_hz > 0.0));
    let found = detect(&scene);
    let g = geometry(250_000);
    for m in &scene.emitters {
        let e = found
            .iter()
            .find(|e| (e.center_hz - m.center_hz).abs() <= g.bin_hz())
            .unwrap_or_else(|| panic!("carrier at {} Hz not found in {found:?}", m.center_hz));
        assert_eq!(e.kind, Kind::Carrier, "{e:?}");
        assert_eq!(e.freq_ref, "offset");
        assert!(e.duty_cycle > 0.9, "{e:?}");
        let hop_s = g.hop as f64 / g.rate as f64;
        assert!(
            (e.start_s - m.start_s).abs() <= 3.0 * hop_s,
            "{e:?} vs {m:?}"
        );
        assert!((e.end_s - m.end_s).abs() <= 3.0 * hop_s, "{e:?} vs {m:?}");
    }
}

#[test]
fn every_family_of_a_strong_scene_is_found_and_named() {
    let scene = strong([1, 2, 2, 1, 1, 1], 11, 10.0);
    let found = detect(&scene);
    let s = score::score(&scene, &geometry(250_000), &found, 6.0);
    let t = s.total();
    assert!(t.recall() >= 0.9, "{s:?}");
    // Measured 13 of 16 (0.81) on this scene at 250 kS/s: short noise regions near strong
    // emitters remain (see the README's evaluation for the held-out numbers at 500 kS/s).
    assert!(t.precision() >= 0.75, "{s:?}");
    assert!(t.kind() >= 0.8, "{s:?}");
    assert!(s.by_family.contains_key(&Family::Cw));
}

#[test]
fn a_drifting_carrier_reports_its_drift_with_the_right_sign() {
    let scene = strong([0, 0, 0, 0, 0, 2], 5, 8.0);
    let found = detect(&scene);
    for m in &scene.emitters {
        let specgate::features::scene::Signal::Tone { drift, .. } = m.signal else {
            panic!("not a tone")
        };
        let e = found
            .iter()
            .max_by(|a, b| {
                let d = |e: &Emission| -(e.center_hz - m.center_hz).abs();
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        assert!(
            (e.freq_drift_hz_per_s - drift).abs() < 0.2 * drift.abs() + 5.0,
            "drift {drift} Hz/s measured {}",
            e.freq_drift_hz_per_s
        );
    }
}

/// A source that hands out blocks of varying, odd sizes.
struct Choppy<'a> {
    inner: specgate::features::scene::SceneSource<'a>,
    step: usize,
}
impl Source for Choppy<'_> {
    fn info(&self) -> &StreamInfo {
        self.inner.info()
    }
    fn read(&mut self, buf: &mut [f32]) -> SResult<usize> {
        self.step = (self.step * 7 + 3) % 997 + 1;
        let n = (2 * self.step).min(buf.len());
        self.inner.read(&mut buf[..n])
    }
    fn read_at(&self, start: u64, n: usize) -> Option<SResult<Vec<f32>>> {
        self.inner.read_at(start, n)
    }
}

#[test]
fn the_emissions_do_not_depend_on_how_the_input_is_chunked() {
    let scene = strong([1, 1, 2, 1, 0, 0], 3, 6.0);
    let whole = detect(&scene);
    let mut src = Choppy {
        inner: scene.source(),
        step: 1,
    };
    let (chopped, _) = features::detect_all(
        &mut src,
        &iq_params(),
        &FilterOptions::default(),
        &DetectorConfig::default(),
    )
    .unwrap();
    assert!(!whole.is_empty());
    assert_eq!(whole, chopped);
}

#[test]
fn emissions_come_out_in_the_order_they_close() {
    let scene = strong([2, 2, 3, 1, 1, 1], 9, 10.0);
    let found = detect(&scene);
    // Each is handed out one hold time after its end: ends never go back by more than that.
    let hold = DetectorConfig::default().hold_s;
    let mut latest: f64 = 0.0;
    for e in &found {
        assert!(e.end_s + hold + 0.05 >= latest, "{e:?} after {latest}");
        latest = latest.max(e.end_s);
    }
}

/// Frames of a fabricated spectrogram: a new short emission every 40 frames at a moving bin.
fn fabricated(frames: u64, bins: usize, mut f: impl FnMut(&FrameView)) {
    let floor = vec![1.0f32; bins];
    let mut power = vec![1.0f32; bins];
    let mut mask = vec![0.03f32; bins];
    for i in 0..frames {
        power.fill(1.0);
        mask.fill(0.03);
        let phase = i % 40;
        if phase < 10 {
            let b = ((i / 40) * 37 % (bins as u64 - 4)) as usize;
            for k in b..b + 3 {
                power[k] = 100.0;
                mask[k] = 1.0;
            }
        }
        f(&FrameView {
            channel: 0,
            mask: &mask,
            power: &power,
            floor: &floor,
        });
    }
}

/// Feeds one fabricated frame (channel 0) to `d`, collecting what it emits into `out`.
fn push(d: &mut Detector, power: &[f32], mask: &[f32], floor: &[f32], out: &mut Vec<Emission>) {
    d.push(
        &FrameView {
            channel: 0,
            mask,
            power,
            floor,
        },
        &mut |e| out.push(e),
    );
}

/// The geometry of the fabricated frames: 100 kS/s complex, hop 100.
fn fabricated_geometry(bins: usize) -> Geometry {
    // A periodic Hann window of 200 samples (Σw = 100).
    let w: Vec<f32> = (0..200)
        .map(|n| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / 200.0).cos()) as f32)
        .collect();
    Geometry::from_window(&w, 100_000, 100, bins, true, None)
}

#[test]
fn the_detector_state_stays_bounded_however_many_emissions_pass() {
    let bins = 512;
    let g = fabricated_geometry(bins);
    let cfg = DetectorConfig {
        hold_s: 0.05,
        max_open: 8,
        ..DetectorConfig::default()
    };
    let mut d = Detector::new(cfg, g, 0);
    let mut n = 0u64;
    let mut most_open = 0;
    fabricated(200_000, bins, |v| {
        d.push(v, &mut |_| n += 1);
        most_open = most_open.max(d.open_regions());
    });
    assert!(n >= 4_900, "{n} emissions");
    assert!(most_open <= 8);
    assert!(d.slots() <= 8 + 1, "{} slots", d.slots());
}

#[test]
fn at_the_open_region_bound_the_oldest_region_is_closed_and_counted() {
    let bins = 256;
    let g = fabricated_geometry(bins);
    let cfg = DetectorConfig {
        hold_s: 10.0,
        max_open: 4,
        ..DetectorConfig::default()
    };
    let mut d = Detector::new(cfg, g, 0);
    let mut out = Vec::new();
    // Ten emissions at separate bins, each 10 frames, all within the hold time.
    fabricated(400, bins, |v| d.push(v, &mut |e| out.push(e)));
    assert!(d.forced() > 0);
    assert!(d.open_regions() <= 4);
    d.finish(&mut |e| out.push(e));
    assert_eq!(out.len(), 10, "{out:?}");
}

/// A scene of hand-placed bursts (complex tones keyed with 1 ms edges) at `snr_db` in one bin.
fn bursts(rate: u32, seconds: f64, snr_db: f64, at: &[(f64, f64, f64)]) -> Scene {
    use specgate::features::scene::{Emitter, Signal};
    let mut cfg = SceneConfig::new(rate, seconds, 7);
    cfg.counts = [0; 6];
    let n0 = cfg.noise_power / rate as f64;
    let p = 10f64.powf(snr_db / 10.0) * n0 * cfg.bin_hz;
    let emitters = at
        .iter()
        .map(|&(t, len, f)| Emitter {
            family: Family::Burst,
            start_s: t,
            end_s: t + len + 0.0005,
            center_hz: f,
            bw_hz: cfg.bin_hz,
            snr_db,
            amp: p.sqrt(),
            signal: Signal::Keyed {
                f,
                elements: vec![(t, t + len)],
                edge: 0.001,
            },
        })
        .collect();
    Scene { cfg, emitters }
}

#[test]
fn strong_bursts_start_and_end_within_about_a_hop_of_their_edges() {
    // The gate opens about a hop late and its release lingers; the edges come from fitting the
    // band's excess power frame by frame.
    let at = [
        (0.7, 0.012, 20_000.0),
        (2.2, 0.035, -60_000.0),
        (4.05, 0.050, 90_000.0),
        (5.9, 0.095, -100_000.0),
    ];
    let scene = bursts(500_000, 7.0, 16.0, &at);
    let g = geometry(500_000);
    let found = detect(&scene);
    let s = score::score(&scene, &g, &found, 6.0);
    let t = s.total();
    assert_eq!((t.detected, t.false_pos), (4, 0), "{s:?}");
    let hop_s = g.hop as f64 / g.rate as f64;
    for p in &s.pairs {
        assert!(p.start_err_s.abs() <= 1.5 * hop_s, "{p:?} (hop {hop_s} s)");
        assert!(p.end_err_s.abs() <= 1.5 * hop_s, "{p:?} (hop {hop_s} s)");
    }
    assert!(t.start_ok >= 3 && t.end_ok >= 3, "{s:?}");
}

/// Real audio (not I/Q): 12 s at 8 kHz of white noise with a CW call at 700 Hz (20 WPM,
/// 5 ms edges) from 2 s and a steady 1500 Hz tone from 5.5 to 10 s, both 15 dB over the
/// noise in one bin of the cw preset.
#[test]
fn in_real_audio_a_cw_call_and_a_steady_tone_are_found_at_their_frequencies_and_edges() {
    use specgate::engine::SignalKind;
    use specgate::stream::source::SliceSource;
    let rate = 8000u32;
    let params = params::resolve("cw", None, &ParamsPatch::default()).unwrap();
    let cfg = specgate::engine::stft_config(&params, rate);
    let g = Geometry::new(&cfg, rate, false, None);
    let (bin, hop_s) = (g.bin_hz(), g.hop as f64 / rate as f64);
    let sigma = 0.01f64;
    // Per-bin SNR 15 dB: a real tone of amplitude a has power a²/2 against σ²·bin/(rate/2).
    let a = (2.0 * 10f64.powf(1.5) * sigma * sigma * bin / (rate as f64 / 2.0)).sqrt();
    let dit = 1.2 / 20.0;
    let (on, _) = specgate::eval::signals::morse_timing("CQ CQ");
    let elements: Vec<(f64, f64)> = on
        .iter()
        .map(|&(x, y)| (2.0 + x as f64 * dit, 2.0 + y as f64 * dit))
        .collect();
    let edge = 0.005;
    let env = |t: f64, s: f64, e: f64| {
        if t < s || t > e + edge {
            0.0
        } else if t < s + edge {
            0.5 - 0.5 * (std::f64::consts::PI * (t - s) / edge).cos()
        } else if t > e {
            0.5 + 0.5 * (std::f64::consts::PI * (t - e) / edge).cos()
        } else {
            1.0
        }
    };
    let mut rng = specgate::eval::signals::Rng::new(11);
    let n = 12 * rate as usize;
    let x: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let cw: f64 = elements.iter().map(|&(s, e)| env(t, s, e)).sum();
            let tone = env(t, 5.5, 10.0 - edge);
            let w = 2.0 * std::f64::consts::PI * t;
            (a * (cw * (700.0 * w).sin() + tone * (1500.0 * w).sin()) + sigma * rng.gauss()) as f32
        })
        .collect();
    let mut src = SliceSource::new(&x, rate, 1, SignalKind::Real);
    let (found, _) = features::detect_all(
        &mut src,
        &params,
        &FilterOptions::default(),
        &DetectorConfig::default(),
    )
    .unwrap();
    let near = |hz: f64| found.iter().find(|e| (e.center_hz - hz).abs() <= bin);
    let cw = near(700.0).unwrap_or_else(|| panic!("no CW at 700 Hz: {found:?}"));
    assert_eq!(cw.kind, Kind::Cw, "{cw:?}");
    assert_eq!(cw.freq_ref, "offset");
    let (s0, e0) = (
        elements[0].0 + edge / 2.0,
        elements[elements.len() - 1].1 + edge / 2.0,
    );
    assert!((cw.start_s - s0).abs() <= hop_s, "{cw:?} vs {s0}");
    assert!((cw.end_s - e0).abs() <= hop_s, "{cw:?} vs {e0}");
    let tone = near(1500.0).unwrap_or_else(|| panic!("no tone at 1500 Hz: {found:?}"));
    assert_eq!(tone.kind, Kind::Carrier, "{tone:?}");
    assert!(
        (tone.start_s - (5.5 + edge / 2.0)).abs() <= hop_s,
        "{tone:?}"
    );
    assert!(
        (tone.end_s - (10.0 - edge / 2.0)).abs() <= hop_s,
        "{tone:?}"
    );
    // Nothing else in the noise.
    assert_eq!(found.len(), 2, "{found:?}");
}

/// A burst of 11–15 ms is in two analysis frames (hop 4.1 ms, frame 8.2 ms at 500 kS/s): fewer
/// than a region needs to stand by its length, so it stands by its strength (12 σ) when nothing
/// else is near it. Noise alone, over the same 12 s, reaches nothing like that strength.
#[test]
fn short_strong_bursts_alone_in_their_band_are_found_and_noise_alone_is_not_taken_for_one() {
    let at = [
        (0.7, 0.011, 20_000.0),
        (2.2, 0.012, -60_000.0),
        (4.05, 0.015, 90_000.0),
        (5.9, 0.011, -100_000.0),
        (8.3, 0.013, 150_000.0),
    ];
    let g = geometry(500_000);
    let scene = bursts(500_000, 12.0, 14.0, &at);
    let s = score::score(&scene, &g, &detect(&scene), 6.0);
    let t = s.total();
    assert_eq!(t.detected, 5, "{s:?}");
    assert!(s.fps.iter().all(|f| f.3 < 12.0), "{s:?}");
    let noise = bursts(500_000, 12.0, 14.0, &[]);
    let found = detect(&noise);
    assert!(found.len() <= 1, "noise alone: {found:?}");
    assert!(
        found.iter().all(|e| e.significance < 12.0),
        "noise alone: {found:?}"
    );
}

/// A scene of hand-placed FSK pairs (continuous phase, 50 baud, `shift` Hz) at `snr_db`.
fn fsk_pairs(seconds: f64, snr_db: f64, at: &[(f64, f64, f64, f64)]) -> Scene {
    use specgate::features::scene::{Emitter, Signal};
    let rate = 500_000;
    let mut cfg = SceneConfig::new(rate, seconds, 11);
    cfg.counts = [0; 6];
    let n0 = cfg.noise_power / rate as f64;
    let p = 10f64.powf(snr_db / 10.0) * n0 * cfg.bin_hz;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let emitters = at
        .iter()
        .map(|&(t, len, f, shift)| {
            let baud = 50.0;
            let nb = (len * baud).ceil() as usize + 1;
            let bits: Vec<bool> = (0..nb)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state & 1 == 1
                })
                .collect();
            let mut phase = Vec::with_capacity(nb);
            let mut ph = 0.0;
            for &b in &bits {
                phase.push(ph);
                let fb = f + if b { shift / 2.0 } else { -shift / 2.0 };
                ph = (ph + fb / baud).rem_euclid(1.0);
            }
            Emitter {
                family: Family::Fsk,
                start_s: t,
                end_s: t + len,
                center_hz: f,
                bw_hz: cfg.bin_hz,
                snr_db,
                amp: p.sqrt(),
                signal: Signal::Fsk {
                    f,
                    shift,
                    baud,
                    bits,
                    phase,
                },
            }
        })
        .collect();
    Scene { cfg, emitters }
}

/// The two tones of a weak FSK pair 425 Hz apart (3.5 bins at 500 kS/s) are seldom in one
/// frame together and their runs are a bin wide, so they never touch: without joining
/// confirmed regions across the shift, each tone came out as an emission of its own.
#[test]
fn the_two_tones_of_a_weak_fsk_pair_are_one_emission() {
    let at = [
        (0.5, 2.0, 20_000.0, 425.0),
        (1.0, 2.0, -60_000.0, 425.0),
        (3.0, 2.0, 90_000.0, 425.0),
        (4.0, 2.0, -120_000.0, 170.0),
    ];
    let scene = fsk_pairs(7.0, 9.0, &at);
    let g = geometry(500_000);
    let s = score::score(&scene, &g, &detect(&scene), 6.0);
    let t = s.total();
    assert_eq!((t.detected, t.false_pos), (4, 0), "{s:?}");
    assert!(s.pairs.iter().all(|p| p.kind == Kind::Unknown), "{s:?}");
}

/// A long emission whose first part is weak and later part strong: its kept onset is the weak
/// first part's (under the significance a row needs), yet it is no noise fleck — it stands by
/// the significance of the strong part it joined.
#[test]
fn a_long_emission_with_a_weak_first_part_stands_by_its_strong_later_part() {
    let bins = 64;
    let g = fabricated_geometry(bins);
    let mut d = Detector::new(DetectorConfig::default(), g, 0);
    let mut out = Vec::new();
    let floor = vec![1.0f32; bins];
    let mut power = vec![1.0f32; bins];
    let mut mask = vec![0.03f32; bins];
    for i in 0..1500u64 {
        power.fill(1.0);
        mask.fill(0.03);
        let level = match i {
            100..=109 => 2.5,
            400..=899 => 1000.0,
            _ => 0.0,
        };
        if level > 0.0 {
            power[20] = level;
            mask[20] = 1.0;
        }
        push(&mut d, &power, &mask, &floor, &mut out);
    }
    d.finish(&mut |e| out.push(e));
    assert_eq!(out.len(), 1, "{out:?}");
    let e = &out[0];
    assert!(e.start_s < 0.15 && (e.end_s - 0.9).abs() < 0.01, "{e:?}");
    assert!(e.significance >= 7.5, "{e:?}");
}

/// What makes a noise fleck short is how many hops it spans, not its length in seconds: at
/// 250 kS/s (hop 8.2 ms) flecks of 20–30 ms span as few hops as 10–15 ms ones at 500 kS/s, and
/// must reach the short-emission significance (12) too.
#[test]
fn at_250_ks_per_s_noise_flecks_of_a_few_hops_are_not_taken_for_bursts() {
    let mut found = Vec::new();
    for seed in 1..=6 {
        let mut cfg = SceneConfig::new(250_000, 12.0, seed);
        cfg.counts = [0; 6];
        found.extend(detect(&Scene::generate(cfg)));
    }
    let hop_s = geometry(250_000).hop as f64 / 250_000.0;
    assert!(
        found
            .iter()
            .all(|e| e.duration_s >= 3.5 * hop_s || e.significance >= 12.0),
        "{found:#?}"
    );
    assert!(found.len() <= 3, "{found:#?}");
}

/// A weak burst the gate never passed (mask closed throughout): 16 frames at 6 × the floor in
/// one bin of exponential noise. Its evidence over time — summed over its cells against the
/// noise-only tail for that many cells — makes it an emission, at its bin and its time, with
/// the default settings; noise alone, over 40 000 frames of 64 bins, gives none.
#[test]
fn a_weak_burst_the_gate_missed_stands_by_its_evidence_over_time_and_noise_alone_does_not() {
    use specgate::eval::signals::Rng;
    let bins = 64;
    let g = fabricated_geometry(bins);
    let run = |cfg: DetectorConfig, burst: bool| -> Vec<Emission> {
        let mut d = Detector::new(cfg, g, 0);
        let mut rng = Rng::new(11);
        let floor = vec![1.0f32; bins];
        let mut power = vec![1.0f32; bins];
        let mask = vec![0.03f32; bins];
        let mut out = Vec::new();
        for i in 0..40_000u64 {
            for p in power.iter_mut() {
                *p = -(1.0 - rng.uniform()).ln() as f32;
            }
            if burst && (20_000..20_016).contains(&i) {
                power[30] += 6.0 * -(1.0 - rng.uniform()).ln() as f32;
            }
            push(&mut d, &power, &mask, &floor, &mut out);
        }
        d.finish(&mut |e| out.push(e));
        out
    };
    // On by default.
    let on = DetectorConfig::default();
    let noise = run(on, false);
    assert!(noise.is_empty(), "{noise:#?}");
    let found = run(on, true);
    assert_eq!(found.len(), 1, "{found:#?}");
    let e = &found[0];
    // Frame i is centred at (i + 1)·100 − 100 samples at 100 kS/s: the burst is 20.0–20.016 s.
    // FFT bin 30 of 64 (complex): +30 bins.
    assert!(
        (e.center_hz - 30.0 * g.bin_hz()).abs() <= g.bin_hz(),
        "{e:?}"
    );
    assert!(e.start_s > 19.99 && e.end_s < 20.03, "{e:?}");
    let off = DetectorConfig {
        evidence_z: 0.0,
        ..on
    };
    assert!(run(off, true).is_empty());
}
