//! The engine's own protections: limits checked before anything is sized, non-finite and
//! absurd samples contained to the frames that hold them, and `Engine::reset` (exactly a fresh
//! engine, allocation-free).

mod common;

use proptest::prelude::*;
use specgate::engine::{memory_estimate, EngineError, ABSURD_LEVEL};
use specgate::params::{resolve, Params, ParamsPatch, MAX_CHANNELS, MAX_ENGINE_BYTES, MAX_RATE};
use specgate::{Engine, SignalKind};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Counts allocations on threads that opted in (this test binary's allocator).
struct Counting;
static COUNT: AtomicUsize = AtomicUsize::new(0);
thread_local!(static ON: AtomicBool = const { AtomicBool::new(false) });
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.with(|o| o.load(Ordering::Relaxed)) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static A: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = COUNT.load(Ordering::SeqCst);
    ON.with(|o| o.store(true, Ordering::SeqCst));
    f();
    ON.with(|o| o.store(false, Ordering::SeqCst));
    COUNT.load(Ordering::SeqCst) - before
}

fn preset(name: &str) -> Params {
    resolve(name, None, &ParamsPatch::default()).unwrap()
}

/// Noise plus a keyed tone: the gate has work to do.
fn signal(n: usize, seed: u64) -> Vec<f32> {
    common::keyed_tone_in_noise(n, seed, 0.05)
}

fn run(e: &mut Engine, x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    e.process(x, &mut y);
    y
}

#[test]
fn forged_rates_and_channel_counts_are_refused_before_anything_is_sized() {
    let p = preset("voice");
    let cases: [(u32, usize, SignalKind); 5] = [
        (u32::MAX, 1, SignalKind::Real),
        (1_000_000_000, 1, SignalKind::Real),
        (MAX_RATE + 1, 2, SignalKind::Complex),
        (48_000, 65_535, SignalKind::Real),
        (48_000, MAX_CHANNELS + 2, SignalKind::Complex),
    ];
    for (rate, ch, kind) in cases {
        let used = allocations_in(|| {
            let e = Engine::new(&p, rate, ch, kind);
            assert!(
                matches!(
                    e,
                    Err(EngineError::RateTooHigh(_)) | Err(EngineError::TooManyChannels(_))
                ),
                "{rate} Hz × {ch}: {:?}",
                e.err()
            );
        });
        assert!(
            used <= 2,
            "{rate} Hz × {ch}: {used} allocations before refusing"
        );
    }
}

#[test]
fn configurations_beyond_the_memory_budget_are_refused_with_the_estimate() {
    // Legal rate, legal channel count, absurd geometry: 500 ms frames at 100 MS/s × 64.
    let mut p = preset("voice");
    p.frame_ms = 500.0;
    let e = Engine::new(&p, 100_000_000, 64, SignalKind::Real);
    match e {
        Err(EngineError::Memory {
            need_mib,
            limit_mib,
        }) => {
            assert!(need_mib > limit_mib);
            assert_eq!(limit_mib, MAX_ENGINE_BYTES >> 20);
        }
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn real_sdr_rates_fit_the_budget_and_build() {
    // The fastest common SDR rate, as I/Q with the iq preset and as real audio with 20 ms
    // frames: both must be accepted.
    for (name, ch, kind) in [
        ("iq", 2, SignalKind::Complex),
        ("voice", 1, SignalKind::Real),
    ] {
        let mut p = preset(name);
        if name == "voice" {
            // Symmetric 20 ms frames (the preset's low-delay mode analyses 28 ms).
            p.latency_ms = 0.0;
            p.frame_ms = 20.0;
        }
        let need = memory_estimate(&p, 61_440_000, ch, kind);
        assert!(need <= MAX_ENGINE_BYTES, "{name}: {need} bytes");
        Engine::new(&p, 61_440_000, ch, kind).unwrap();
    }
}

#[test]
fn the_memory_estimate_covers_the_stream_and_tracker_buffers() {
    // The estimate is at least the two largest per-channel buffers, whatever the frame.
    let mut p = preset("voice");
    for ms in [10.0, 50.0, 200.0] {
        p.frame_ms = ms;
        let frame = (ms * 48_000.0 / 1000.0) as u64;
        let need = memory_estimate(&p, 48_000, 2, SignalKind::Real);
        // Two channels: input + accumulator (2 × frame × 4 B) and 6 sub-window minima of
        // frame/2 bins each, at least.
        assert!(
            need >= 2 * (8 * frame + 6 * 4 * frame / 2),
            "{ms} ms: {need}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn one_absurd_sample_changes_only_the_frames_that_contain_it(
        pos in 2_000usize..40_000,
        which in 0usize..7,
        stereo in any::<bool>(),
        complex in any::<bool>(),
    ) {
        let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3.0e38, -3.4e38, 1.0e20, 2.0 * ABSURD_LEVEL][which];
        let ch = if complex || stereo { 2 } else { 1 };
        let kind = if complex { SignalKind::Complex } else { SignalKind::Real };
        let p = preset(if complex { "iq" } else { "voice" });
        let clean = signal(48_000 * ch, 7);
        let mut hit = clean.clone();
        let at = pos * ch + (which % ch);
        hit[at] = bad;
        // "The file without it": the bad value replaced by silence (for I/Q the whole complex
        // sample, since one bad component spoils the pair).
        let mut zeroed = clean.clone();
        if complex {
            zeroed[pos * 2] = 0.0;
            zeroed[pos * 2 + 1] = 0.0;
        } else {
            zeroed[at] = 0.0;
        }
        let mut e1 = Engine::new(&p, 48_000, ch, kind).unwrap();
        let y_hit = run(&mut e1, &hit);
        let mut e2 = Engine::new(&p, 48_000, ch, kind).unwrap();
        let y_zero = run(&mut e2, &zeroed);
        prop_assert!(y_hit.iter().all(|v| v.is_finite()), "non-finite output");
        prop_assert_eq!(e1.stats().replaced(), 1);
        // Every output sample equals the output for the file without it: the bad value cannot
        // reach any frame but its own, and there it acts as silence.
        prop_assert!(
            y_hit.iter().zip(&y_zero).all(|(a, b)| a.to_bits() == b.to_bits()),
            "output differs from the file without the bad sample"
        );
    }
}

#[test]
fn absurd_and_non_finite_samples_are_counted_separately() {
    let p = preset("voice");
    let mut e = Engine::new(&p, 8_000, 1, SignalKind::Real).unwrap();
    let mut x = signal(8_000, 3);
    x[10] = f32::NAN;
    x[20] = 1e20;
    x[30] = -ABSURD_LEVEL; // at the bound: kept
    x[40] = f32::NEG_INFINITY;
    let y = run(&mut e, &x);
    assert!(y.iter().all(|v| v.is_finite()));
    let s = e.stats();
    assert_eq!((s.nonfinite, s.absurd, s.replaced()), (2, 1, 3));
}

#[test]
fn reset_gives_exactly_a_fresh_engine_without_allocating() {
    let mut learn = preset("voice");
    learn.learn = 0.3;
    let mut bypassed = preset("cw");
    bypassed.bypass = true;
    let cases = [
        (preset("voice"), 1, SignalKind::Real),
        (preset("cw"), 2, SignalKind::Real),
        (preset("iq"), 2, SignalKind::Complex),
        (learn, 1, SignalKind::Real),
        (bypassed, 1, SignalKind::Real),
    ];
    for (p, ch, kind) in cases {
        let a = signal(24_000 * ch, 11);
        let b = signal(20_000 * ch, 12);
        let mut e = Engine::new(&p, 16_000, ch, kind).unwrap();
        let _ = run(&mut e, &a);
        // Leave some state that reset must undo: a given profile and a bypass ramp.
        if p.learn == 0.0 {
            e.set_noise_profile(&vec![1e-3; e.bins()]).unwrap();
        }
        e.set_bypass(!p.bypass);
        e.set_bypass(p.bypass);
        let _ = run(&mut e, &a[..1000 * ch]);
        let n = allocations_in(|| e.reset());
        assert_eq!(n, 0, "reset allocated");
        let got = run(&mut e, &b);
        let mut fresh = Engine::new(&p, 16_000, ch, kind).unwrap();
        let want = run(&mut fresh, &b);
        assert!(
            got.iter()
                .zip(&want)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{kind:?} × {ch}, learn {}: reset differs from a fresh engine",
            p.learn
        );
        assert_eq!(e.stats(), fresh.stats());
    }
}
