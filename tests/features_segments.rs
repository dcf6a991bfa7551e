//! `specgate::features::segment` against librosa 0.11, and its streaming properties.
//!
//! The reference vectors in `tests/data/librosa/` are written by `tools/gen_librosa_refs.py`
//! (librosa's own feature functions on the same float32 input). Tolerance: a value `got` matches
//! librosa's `want` when `|got − want| ≤ 1e-3·|want| + floor`, the absolute floor being 1e-6 of
//! the column's unit (Hz, dB, or the unitless flatness / RMS / ZCR), for values near zero (an
//! MFCC or a standard deviation that happens to be ≈ 0).
//!
//! The comparison can fail: `the_comparison_rejects_mfccs_of_a_mel_bank_without_slaney_norm`
//! feeds it librosa's MFCCs computed with `norm=None` and requires a mismatch.
//!
//! This binary installs a counting global allocator (per thread, armed only around the calls
//! under test) to check that `push`/`finish` never allocate.

use proptest::prelude::*;
use serde_json::Value;
use specgate::features::segment::{
    FeatureError, FrameRow, SegmentConfig, SegmentExtractor, SegmentRow,
};
use specgate::io::npy;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

const REL: f64 = 1e-3;
const FLOOR: f64 = 1e-6;

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    if ARMED.try_with(|a| a.get()).unwrap_or(false) {
        CALLS.with(|c| c.set(c.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocator calls made by this thread while running `f`.
fn allocator_calls(f: impl FnOnce()) -> u64 {
    CALLS.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    CALLS.with(|c| c.get())
}

struct Case {
    name: String,
    rate: u32,
    complex: bool,
    cfg: SegmentConfig,
    /// Mono samples, or interleaved I/Q.
    x: Vec<f32>,
    json: Value,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/librosa")
}

fn cases() -> Vec<Case> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/librosa")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().ends_with(".x.json")
        })
        .collect();
    names.sort();
    assert!(names.len() >= 9, "reference cases missing: {names:?}");
    names
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            let json: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let m = npy::read_matrix_file(&data_dir().join(format!("{name}.x.npy"))).unwrap();
            let complex = json["complex"].as_bool().unwrap();
            let x = if complex {
                assert_eq!(m.rows, 2);
                (0..m.cols).flat_map(|c| [m.at(0, c), m.at(1, c)]).collect()
            } else {
                assert_eq!(m.rows, 1);
                m.data.clone()
            };
            let c = &json["config"];
            let cfg = SegmentConfig {
                n_fft: c["n_fft"].as_u64().unwrap() as usize,
                hop: c["hop"].as_u64().unwrap() as usize,
                n_mels: c["n_mels"].as_u64().unwrap() as usize,
                n_mfcc: c["n_mfcc"].as_u64().unwrap() as usize,
                center: c["center"].as_bool().unwrap(),
                segment_s: c["segment_s"].as_f64().unwrap(),
                top_db: c["top_db"].as_f64(),
                roll_percent: c["roll_percent"].as_f64().unwrap(),
                band_edges_hz: floats(&json["band_edges_hz"]),
                ..SegmentConfig::default()
            };
            Case {
                name,
                rate: json["rate"].as_u64().unwrap() as u32,
                complex,
                cfg,
                x,
                json,
            }
        })
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn extractor(c: &Case) -> SegmentExtractor {
    if c.complex {
        SegmentExtractor::new_complex(c.rate, &c.cfg).unwrap()
    } else {
        SegmentExtractor::new(c.rate, &c.cfg).unwrap()
    }
}

/// Runs the whole case through a fresh extractor in pieces of `chunks` (cycled; in samples or
/// I/Q pairs), collecting frames and segments.
fn run(c: &Case, chunks: &[usize]) -> (Vec<FrameRow>, Vec<SegmentRow>) {
    let mut ex = extractor(c);
    let (mut frames, mut segs) = (Vec::new(), Vec::new());
    let width = if c.complex { 2 } else { 1 };
    let mut at = 0;
    let mut i = 0;
    while at < c.x.len() {
        let n = (chunks[i % chunks.len()].max(1) * width).min(c.x.len() - at);
        let piece = &c.x[at..at + n];
        if c.complex {
            ex.push_complex_frames(piece, &mut |f| frames.push(f.clone()), &mut |s| {
                segs.push(s.clone())
            });
        } else {
            ex.push_frames(piece, &mut |f| frames.push(f.clone()), &mut |s| {
                segs.push(s.clone())
            });
        }
        at += n;
        i += 1;
    }
    ex.finish_frames(&mut |f| frames.push(f.clone()), &mut |s| {
        segs.push(s.clone())
    });
    (frames, segs)
}

/// The first mismatch of `got` against librosa's `want`, if any.
fn mismatch(got: &[f64], want: &[f64]) -> Option<(usize, f64, f64)> {
    if got.len() != want.len() {
        return Some((usize::MAX, got.len() as f64, want.len() as f64));
    }
    got.iter()
        .zip(want)
        .enumerate()
        .find(|(_, (g, w))| {
            let d = (*g - *w).abs();
            d.is_nan() || d > REL * w.abs() + FLOOR
        })
        .map(|(i, (g, w))| (i, *g, *w))
}

fn columns(c: &Case) -> Vec<String> {
    c.json["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn frame_features_equal_librosa_within_1e_3_relative_in_every_reference_case() {
    for c in cases() {
        let ex = extractor(&c);
        let cols = columns(&c);
        assert_eq!(ex.frame_columns(), cols.as_slice(), "{}: columns", c.name);
        let (frames, _) = run(&c, &[4096]);
        let want = c.json["frames"].as_array().unwrap();
        assert_eq!(frames.len(), want.len(), "{}: frame count", c.name);
        let mut worst = (0.0f64, String::new());
        for (t, (f, w)) in frames.iter().zip(want).enumerate() {
            assert_eq!(f.index, t as u64);
            let w = floats(w);
            if let Some((i, g, w)) = mismatch(&f.values, &w) {
                panic!("{}: frame {t} {}: ours {g}, librosa {w}", c.name, cols[i]);
            }
            for (i, (g, w)) in f.values.iter().zip(&w).enumerate() {
                let rel = (g - w).abs() / w.abs().max(1e-3);
                if rel > worst.0 {
                    worst = (rel, cols[i].clone());
                }
            }
        }
        // Shown with --nocapture: the largest deviation, relative to max(|librosa|, 1e-3).
        eprintln!(
            "{}: largest deviation {:.1e} ({})",
            c.name, worst.0, worst.1
        );
    }
}

#[test]
fn segment_means_and_standard_deviations_equal_those_of_librosa_frames() {
    for c in cases() {
        let ex = extractor(&c);
        let (_, segs) = run(&c, &[1000]);
        let want = c.json["segments"].as_array().unwrap();
        assert_eq!(segs.len(), want.len(), "{}: segment count", c.name);
        for (k, (s, w)) in segs.iter().zip(want).enumerate() {
            let w = floats(w);
            assert!(
                (s.start_s - w[0]).abs() < 1e-12 && (s.end_s - w[1]).abs() < 1e-12,
                "{} segment {k}: {}..{} vs {}..{}",
                c.name,
                s.start_s,
                s.end_s,
                w[0],
                w[1]
            );
            if let Some((i, g, wv)) = mismatch(&s.values, &w[2..]) {
                panic!(
                    "{}: segment {k} {}: ours {g}, librosa frames {wv}",
                    c.name,
                    ex.columns()[i]
                );
            }
        }
    }
}

#[test]
fn mfccs_equal_plain_librosa_mfcc_when_the_running_and_global_80_db_clips_agree() {
    let mut compared = 0;
    for c in cases() {
        if !c.json["mfcc_direct_same"].as_bool().unwrap_or(false) {
            continue;
        }
        let (frames, _) = run(&c, &[777]);
        let first = columns(&c).iter().position(|n| n == "mfcc0").unwrap();
        for (t, (f, w)) in frames
            .iter()
            .zip(c.json["mfcc_direct"].as_array().unwrap())
            .enumerate()
        {
            let got = &f.values[first..first + c.cfg.n_mfcc];
            if let Some((i, g, w)) = mismatch(got, &floats(w)) {
                panic!(
                    "{}: frame {t} mfcc{i}: ours {g}, librosa.feature.mfcc {w}",
                    c.name
                );
            }
        }
        compared += 1;
    }
    assert!(compared >= 3, "only {compared} cases compared");
}

#[test]
fn a_stream_growing_louder_keeps_early_detail_that_librosa_clips_at_the_whole_input_maximum() {
    // The documented streaming rule: each frame is clipped 80 dB below the running maximum.
    // On a crescendo librosa's whole-input maximum clips the quiet start harder, so plain
    // librosa.feature.mfcc differs there (the frame test matches the running-clip reference).
    let c = cases()
        .into_iter()
        .find(|c| c.name == "rising_16k")
        .unwrap();
    assert_eq!(c.json["mfcc_direct_same"].as_bool(), Some(false));
    let (frames, _) = run(&c, &[4096]);
    let first = columns(&c).iter().position(|n| n == "mfcc0").unwrap();
    let direct = c.json["mfcc_direct"].as_array().unwrap();
    let differ: Vec<usize> = frames
        .iter()
        .zip(direct)
        .enumerate()
        .filter(|(_, (f, w))| {
            mismatch(&f.values[first..first + c.cfg.n_mfcc], &floats(w)).is_some()
        })
        .map(|(t, _)| t)
        .collect();
    assert!(!differ.is_empty());
    // Only early frames can differ: once the loudest frame has passed, the clips are equal.
    assert!(differ.iter().all(|t| *t < frames.len() - 1), "{differ:?}");
}

#[test]
fn the_comparison_rejects_mfccs_of_a_mel_bank_without_slaney_norm() {
    let mut rejected = 0;
    for c in cases().into_iter().filter(|c| !c.complex) {
        let (frames, _) = run(&c, &[4096]);
        let first = columns(&c).iter().position(|n| n == "mfcc0").unwrap();
        let wrong = c.json["mfcc_wrong_norm"].as_array().unwrap();
        let any = frames
            .iter()
            .zip(wrong)
            .any(|(f, w)| mismatch(&f.values[first..first + c.cfg.n_mfcc], &floats(w)).is_some());
        assert!(any, "{}: norm=None MFCCs were accepted", c.name);
        rejected += 1;
    }
    assert!(rejected >= 6);
}

#[test]
fn complex_extractors_have_two_sided_bands_and_no_zcr_or_mfcc_columns() {
    let cfg = SegmentConfig::default();
    let ex = SegmentExtractor::new_complex(48_000, &cfg).unwrap();
    let cols = ex.frame_columns();
    assert_eq!(cols[0], "band_m24000_m8000_db");
    assert!(cols.iter().any(|c| c == "band_0_250_db"));
    assert!(!cols.iter().any(|c| c == "zcr" || c.starts_with("mfcc")));
    assert_eq!(ex.columns().len(), 2 * cols.len());
    assert!(ex.is_complex());
    let real = SegmentExtractor::new(48_000, &cfg).unwrap();
    assert_eq!(
        real.frame_columns()
            .iter()
            .filter(|c| c.starts_with("mfcc"))
            .count(),
        13
    );
    assert_eq!(real.columns()[0], "band_0_250_db_mean");
    assert_eq!(real.columns()[1], "band_0_250_db_std");
}

fn cfg_with(f: impl FnOnce(&mut SegmentConfig)) -> SegmentConfig {
    let mut c = SegmentConfig::default();
    f(&mut c);
    c
}

#[test]
fn bad_configurations_are_typed_errors_checked_before_allocating() {
    let bad: Vec<(u32, SegmentConfig)> = vec![
        (0, SegmentConfig::default()),
        (200_000_000, SegmentConfig::default()),
        (48_000, cfg_with(|c| c.n_fft = 8)),
        (48_000, cfg_with(|c| c.n_fft = usize::MAX)),
        (48_000, cfg_with(|c| c.hop = 0)),
        (48_000, cfg_with(|c| c.hop = 4096)),
        (48_000, cfg_with(|c| c.n_mels = 0)),
        (48_000, cfg_with(|c| c.n_mels = usize::MAX)),
        (48_000, cfg_with(|c| c.n_mfcc = 129)),
        (48_000, cfg_with(|c| c.fmax = Some(30_000.0))),
        (48_000, cfg_with(|c| c.fmin = f64::NAN)),
        (48_000, cfg_with(|c| c.roll_percent = 0.0)),
        (48_000, cfg_with(|c| c.band_edges_hz = vec![100.0, 100.0])),
        (
            48_000,
            cfg_with(|c| c.band_edges_hz = vec![f64::INFINITY, 1.0]),
        ),
        (48_000, cfg_with(|c| c.band_edges_hz = vec![0.0; 1000])),
        (48_000, cfg_with(|c| c.top_db = Some(-1.0))),
        (48_000, cfg_with(|c| c.segment_s = 0.001)),
        (48_000, cfg_with(|c| c.segment_s = f64::NAN)),
        (48_000, cfg_with(|c| c.segment_s = 1e300)),
        (
            48_000,
            cfg_with(|c| {
                c.n_fft = 65536;
                c.n_mels = 1024;
            }),
        ),
    ];
    for (rate, cfg) in bad {
        let e = SegmentExtractor::new(rate, &cfg).err();
        assert!(e.is_some(), "{rate} {cfg:?} accepted");
        assert!(!e.unwrap().to_string().is_empty());
    }
    assert!(matches!(
        SegmentExtractor::new(48_000, &cfg_with(|c| c.segment_s = 0.001)),
        Err(FeatureError::Segment { .. })
    ));
    assert!(matches!(
        SegmentExtractor::new(
            48_000,
            &cfg_with(|c| {
                c.n_fft = 65536;
                c.n_mels = 1024
            })
        ),
        Err(FeatureError::TooLarge { .. })
    ));
}

#[test]
fn push_and_finish_never_allocate() {
    for c in cases() {
        let mut ex = extractor(&c);
        let mut rows = 0;
        let calls = allocator_calls(|| {
            for piece in c.x.chunks(1002) {
                if c.complex {
                    ex.push_complex(piece, &mut |_| rows += 1);
                } else {
                    ex.push(piece, &mut |_| rows += 1);
                }
            }
            ex.finish(&mut |_| rows += 1);
        });
        assert_eq!(calls, 0, "{}: {calls} allocator calls", c.name);
        assert!(rows > 0, "{}", c.name);
    }
}

#[test]
fn finish_resets_so_a_second_stream_gives_the_same_rows() {
    let c = cases().into_iter().next().unwrap();
    let mut ex = extractor(&c);
    let mut once = Vec::new();
    for _ in 0..2 {
        let mut rows = Vec::new();
        if c.complex {
            ex.push_complex(&c.x, &mut |s| rows.push(s.clone()));
        } else {
            ex.push(&c.x, &mut |s| rows.push(s.clone()));
        }
        ex.finish(&mut |s| rows.push(s.clone()));
        once.push(rows);
    }
    assert_eq!(once[0], once[1]);
    assert!(!once[0].is_empty());
}

#[test]
fn an_empty_stream_gives_no_rows_and_bad_samples_are_zeroed_and_counted() {
    let cfg = SegmentConfig::default();
    let mut ex = SegmentExtractor::new(16_000, &cfg).unwrap();
    let mut n = 0;
    ex.finish(&mut |_| n += 1);
    assert_eq!(n, 0);

    // A NaN, an infinity and a 1e9 spike give the same rows as zeros in their place.
    let clean: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.3).sin() * 0.5).collect();
    let mut dirty = clean.clone();
    let mut zeroed = clean.clone();
    for (i, v) in [(100, f32::NAN), (5000, f32::INFINITY), (9000, 1e9)] {
        dirty[i] = v;
        zeroed[i] = 0.0;
    }
    let rows = |x: &[f32]| {
        let mut ex = SegmentExtractor::new(16_000, &cfg).unwrap();
        let mut r = Vec::new();
        ex.push(x, &mut |s| r.push(s.clone()));
        ex.finish(&mut |s| r.push(s.clone()));
        (r, ex.replaced_samples())
    };
    let (a, na) = rows(&dirty);
    let (b, nb) = rows(&zeroed);
    assert_eq!(a, b);
    assert_eq!((na, nb), (3, 0));
    assert!(a.iter().all(|r| r.values.iter().all(|v| v.is_finite())));
}

#[test]
fn segments_tile_the_stream_and_the_last_one_ends_with_it() {
    let cfg = cfg_with(|c| c.segment_s = 0.25);
    for len in [1usize, 300, 4000, 4096, 16_000, 16_384, 16_385] {
        let mut ex = SegmentExtractor::new(16_000, &cfg).unwrap();
        let x: Vec<f32> = (0..len)
            .map(|i| ((i * 7919) % 200) as f32 / 200.0 - 0.5)
            .collect();
        let mut rows = Vec::new();
        ex.push(&x, &mut |s| rows.push(s.clone()));
        ex.finish(&mut |s| rows.push(s.clone()));
        assert!(!rows.is_empty(), "{len}");
        for (k, r) in rows.iter().enumerate() {
            assert!((r.start_s - k as f64 * 0.25).abs() < 1e-12, "{len}: {r:?}");
        }
        let last = rows.last().unwrap();
        assert!(
            (last.end_s - len as f64 / 16_000.0).abs() < 1e-12,
            "{len}: {last:?}"
        );
        assert!(last.end_s > last.start_s);
    }
}

fn rows_of(c: &Case, chunks: &[usize]) -> Vec<SegmentRow> {
    run(c, chunks).1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn rows_do_not_depend_on_how_the_input_is_chunked(
        case in 0usize..9,
        chunks in proptest::collection::vec(1usize..3000, 1..6),
    ) {
        let all = cases();
        let c = &all[case % all.len()];
        let whole = rows_of(c, &[usize::MAX / 4]);
        let pieces = rows_of(c, &chunks);
        prop_assert_eq!(whole, pieces);
    }
}
