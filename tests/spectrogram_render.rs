//! Spectrogram images of known signals: the ridge must sit on the pixel rows of its frequency.

use num_complex::Complex32;
use specgate::see::render::{
    accumulate, auto_range_db, render, ColorMap, Image, Panel, PanelKind, SpectrogramSpec, Style,
};
use std::f64::consts::TAU;

const W: usize = 400;
const H: usize = 300;

fn draw(samples: &[Complex32], spec: &SpectrogramSpec) -> (Image, specgate::see::render::Axes) {
    let cols = accumulate(samples.iter().copied(), samples.len() as u64, spec);
    // Top of the scale at the strongest cell (the automatic 99.5th percentile would saturate
    // a pure tone's whole main lobe and hide where its peak is).
    let top = cols.data.iter().fold(0.0f32, |a, b| a.max(*b));
    let (b, t) = if top > 0.0 {
        let t = specgate::see::render::to_db(top);
        (t - 80.0, t)
    } else {
        auto_range_db(&cols.data, None)
    };
    let panel = Panel {
        title: String::new(),
        columns: cols,
        kind: PanelKind::Power {
            bottom_db: b,
            top_db: t,
        },
    };
    let style = Style {
        width: W,
        height: H,
        colormap: ColorMap::Grey,
        title: Some("test".into()),
    };
    let axes = spec.axes(samples.len() as u64);
    (render(&[panel], &axes, &style), axes)
}

/// Brightest pixel row of plot column `x` (grey map: red channel = level).
fn ridge_row(img: &Image, x: usize) -> usize {
    let (px, py, _, ph) = img.plots[0];
    (0..ph)
        .max_by_key(|y| img.pixel(px + x, py + y)[0])
        .unwrap()
}

/// Frequency at the centre of pixel row `y`.
fn row_freq(axes: &specgate::see::render::Axes, y: usize) -> f64 {
    axes.f_hi - (y as f64 + 0.5) / H as f64 * (axes.f_hi - axes.f_lo)
}

fn real(x: impl Iterator<Item = f64>) -> Vec<Complex32> {
    x.map(|v| Complex32::new(v as f32, 0.0)).collect()
}

fn spec(rate: f64, n_fft: usize, complex: bool) -> SpectrogramSpec {
    SpectrogramSpec {
        rate,
        n_fft,
        hop: n_fft / 4,
        complex,
        center_freq: None,
        width: W,
    }
}

#[test]
fn a_tone_draws_a_horizontal_ridge_on_the_row_of_its_frequency() {
    let rate = 8000.0;
    let x = real((0..16000).map(|i| 0.5 * (TAU * 1000.0 * i as f64 / rate).sin()));
    let (img, axes) = draw(&x, &spec(rate, 512, false));
    assert_eq!((axes.f_lo, axes.f_hi), (0.0, 4000.0));
    let px_hz = 4000.0 / H as f64;
    for col in (0..W).step_by(7) {
        let f = row_freq(&axes, ridge_row(&img, col));
        assert!((f - 1000.0).abs() <= px_hz, "column {col}: ridge at {f} Hz");
    }
}

#[test]
fn a_linear_chirp_draws_its_sweep_column_by_column() {
    // 300 → 3300 Hz in 3 s at 8 kHz; the image column at time t must peak at 300 + 1000·t Hz.
    let rate = 8000.0;
    let n = 24000;
    let x = real((0..n).map(|i| {
        let t = i as f64 / rate;
        0.5 * (TAU * (300.0 * t + 500.0 * t * t)).sin()
    }));
    let (img, axes) = draw(&x, &spec(rate, 256, false));
    let (_, _, pw, _) = img.plots[0];
    for col in (10..pw - 10).step_by(9) {
        let t = axes.t0 + (col as f64 + 0.5) / pw as f64 * (axes.t1 - axes.t0);
        let want = 300.0 + 1000.0 * t;
        let f = row_freq(&axes, ridge_row(&img, col));
        // One column spans about 7.5 ms (7.5 Hz of sweep); a pixel row is 13 Hz; a bin 31 Hz.
        assert!(
            (f - want).abs() < 35.0,
            "t = {t:.3} s: ridge at {f:.0} Hz, chirp at {want:.0} Hz"
        );
    }
}

#[test]
fn iq_is_two_sided_with_negative_frequencies_below_the_centre_on_an_absolute_axis() {
    // A complex exponential at −200 kHz in 2 MS/s I/Q tuned to 7.1 MHz lies at 6.9 MHz.
    let rate = 2e6;
    let x: Vec<Complex32> = (0..100_000)
        .map(|i| {
            let ph = TAU * -200e3 * i as f64 / rate;
            Complex32::new(ph.cos() as f32 * 0.3, ph.sin() as f32 * 0.3)
        })
        .collect();
    let mut s = spec(rate, 1024, true);
    s.center_freq = Some(7.1e6);
    let (img, axes) = draw(&x, &s);
    assert!((axes.f_lo - 6.1e6).abs() < 1.0, "{}", axes.f_lo);
    assert!(
        (axes.f_hi - (8.1e6 - rate / 1024.0)).abs() < 1.0,
        "{}",
        axes.f_hi
    );
    let px_hz = (axes.f_hi - axes.f_lo) / H as f64;
    for col in (0..W).step_by(13) {
        let f = row_freq(&axes, ridge_row(&img, col));
        assert!((f - 6.9e6).abs() <= px_hz, "column {col}: ridge at {f} Hz");
    }
}

#[test]
fn a_short_burst_in_a_long_recording_survives_column_decimation() {
    // 20 ms of 1 kHz in 10 minutes of near-silence at 8 kHz: ~75 000 frames fold into 400
    // columns; peak hold keeps the burst (no frame is skipped).
    let rate = 8000.0;
    let n = 600 * 8000;
    let at = 4_321_000;
    let mut seed = 1u32;
    let x = real((0..n).map(|i| {
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        let noise = ((seed >> 8) as f64 / (1u32 << 24) as f64 - 0.5) * 1e-4;
        let burst = if (at..at + 160).contains(&i) {
            0.5 * (TAU * 1000.0 * i as f64 / rate).sin()
        } else {
            0.0
        };
        noise + burst
    }));
    let s = spec(rate, 256, false);
    let cols = accumulate(x.iter().copied(), n as u64, &s);
    assert_eq!(cols.cols, W);
    assert_eq!(cols.data.len(), W * 129, "memory is columns × bins");
    let (img, axes) = draw(&x, &s);
    let t_burst = at as f64 / rate;
    let col = ((t_burst - axes.t0) / (axes.t1 - axes.t0) * W as f64) as usize;
    let f = row_freq(&axes, ridge_row(&img, col));
    assert!(
        (f - 1000.0).abs() < 4000.0 / H as f64 + 1.0,
        "burst column {col}: {f} Hz"
    );
    let (px, py, _, ph) = img.plots[0];
    let y = (0..ph)
        .find(|y| (row_freq(&axes, *y) - 1000.0).abs() < 7.0)
        .unwrap();
    assert!(img.pixel(px + col, py + y)[0] > 200, "burst is not bright");
}

#[test]
fn automatic_range_puts_white_noise_mid_scale_instead_of_black() {
    let mut seed = 7u64;
    let x: Vec<f32> = (0..40_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32 * 0.01
        })
        .collect();
    let cols = accumulate(
        x.iter().map(|v| Complex32::new(*v, 0.0)),
        x.len() as u64,
        &spec(8000.0, 256, false),
    );
    let (b, t) = auto_range_db(&cols.data, None);
    let mut db: Vec<f64> = cols
        .data
        .iter()
        .map(|p| specgate::see::render::to_db(*p))
        .collect();
    db.sort_by(|a, b| a.total_cmp(b));
    let median = db[db.len() / 2];
    let level = (median - b) / (t - b);
    assert!(
        (0.25..=0.9).contains(&level),
        "median at {level:.2} of the scale ({b:.1}…{t:.1} dB)"
    );
}
