//! `specgate::dsp::analysis` against scipy 1.17 (`scipy.signal.stft` / `spectrogram`).
//!
//! The fixtures in `tests/data/scipy/` are written by `tools/gen_scipy_reference.py`; each holds
//! the input, the parameters and scipy's frequency/time vectors and result. Values must agree to
//! 1e-5 of the reference's largest magnitude (the fixtures carry 8 significant digits).

use num_complex::Complex64;
use serde_json::Value;
use specgate::dsp::analysis::{
    spectrogram, spectrogram_complex, stft, stft_complex, AnalysisOptions, Detrend, Scaling, Window,
};
use specgate::dsp::windows::WindowKind;
use std::path::Path;

const TOL: f64 = 1e-5;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn opt_usize(v: &Value) -> Option<usize> {
    v.as_u64().map(|n| n as usize)
}

fn options(case: &Value) -> AnalysisOptions {
    let nperseg = case["nperseg"].as_u64().unwrap() as usize;
    let window = match case["window"].as_str().unwrap() {
        "tukey" => Window::Tukey(0.25),
        name => Window::Kind(name.parse::<WindowKind>().unwrap()),
    };
    AnalysisOptions {
        fs: case["fs"].as_f64().unwrap(),
        window,
        nperseg,
        noverlap: opt_usize(&case["noverlap"]),
        nfft: opt_usize(&case["nfft"]),
        scaling: match case["scaling"].as_str().unwrap() {
            "spectrum" => Scaling::Spectrum,
            "psd" | "density" => Scaling::Density,
            s => panic!("unknown scaling {s}"),
        },
        detrend: match case["detrend"].as_str().unwrap() {
            "constant" => Detrend::Constant,
            _ => Detrend::None,
        },
    }
}

fn assert_close(what: &str, name: &str, got: &[f64], want: &[f64], scale: f64) {
    assert_eq!(got.len(), want.len(), "{name}: {what} length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= TOL * scale,
            "{name}: {what}[{i}] = {g}, scipy {w} (scale {scale})"
        );
    }
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |a, b| a.max(b.abs())).max(1e-300)
}

fn check_case(path: &Path) {
    let name = path.file_stem().unwrap().to_string_lossy().to_string();
    let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let o = options(&case);
    let re = floats(&case["x_re"]);
    let complex = !case["x_im"].is_null();
    let xc: Vec<Complex64> = if complex {
        re.iter()
            .zip(floats(&case["x_im"]))
            .map(|(a, b)| Complex64::new(*a, b))
            .collect()
    } else {
        Vec::new()
    };
    let shape: Vec<usize> = floats(&case["shape"]).iter().map(|v| *v as usize).collect();
    let f_ref = floats(&case["f"]);
    let t_ref = floats(&case["t"]);
    let (f, t, got_parts, want_parts) = match case["func"].as_str().unwrap() {
        "stft" => {
            let z = if complex {
                stft_complex(&xc, &o)
            } else {
                stft(&re, &o)
            }
            .unwrap();
            let (zr, zi): (Vec<f64>, Vec<f64>) = z.data.iter().map(|c| (c.re, c.im)).unzip();
            let wr = floats(&case["z_re"]);
            let wi = floats(&case["z_im"]);
            let scale = wr
                .iter()
                .zip(&wi)
                .map(|(a, b)| a.hypot(*b))
                .fold(0.0, f64::max);
            assert_close("Re Z", &name, &zr, &wr, scale);
            assert_close("Im Z", &name, &zi, &wi, scale);
            (z.freqs, z.times, z.data.len(), wr.len())
        }
        "spectrogram" => {
            let s = if complex {
                spectrogram_complex(&xc, &o)
            } else {
                spectrogram(&re, &o)
            }
            .unwrap();
            let want = floats(&case["s"]);
            assert_close("Sxx", &name, &s.data, &want, max_abs(&want));
            (s.freqs, s.times, s.data.len(), want.len())
        }
        other => panic!("unknown func {other}"),
    };
    assert_eq!(got_parts, want_parts, "{name}: result size");
    assert_eq!([f.len(), t.len()], [shape[0], shape[1]], "{name}: shape");
    assert_close("f", &name, &f, &f_ref, max_abs(&f_ref));
    assert_close("t", &name, &t, &t_ref, max_abs(&t_ref));
}

fn fixtures(prefix: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/scipy");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name().unwrap().to_string_lossy().starts_with(prefix)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn stft_matches_scipy_for_every_fixture() {
    let cases = fixtures("stft_");
    assert!(cases.len() >= 10, "fixtures missing: {cases:?}");
    for p in cases {
        check_case(&p);
    }
}

#[test]
fn spectrogram_matches_scipy_for_every_fixture() {
    let cases = fixtures("spectrogram_");
    assert!(cases.len() >= 5, "fixtures missing: {cases:?}");
    for p in cases {
        check_case(&p);
    }
}
