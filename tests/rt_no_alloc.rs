//! `Engine::process` is real-time safe: after warm-up it never allocates or frees memory, for any
//! chunk size, preset, channel layout or signal kind.
//!
//! This binary installs a counting global allocator. Counting is per thread (tests run on
//! parallel threads) and only while a test has armed it around its `process` calls. The first
//! allocation seen while armed prints a backtrace, so a failure says where it happened.

use specgate::engine::{Engine, SignalKind};
use specgate::params::{self, Params, ParamsPatch};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static FREES: Cell<u64> = const { Cell::new(0) };
}

fn note(counter: &'static std::thread::LocalKey<Cell<u64>>) {
    // `try_with`: the allocator also runs while thread-locals are being torn down.
    if ARMED.try_with(|a| a.get()).unwrap_or(false) {
        let first = ALLOCS.with(|c| c.get()) + FREES.with(|c| c.get()) == 0;
        counter.with(|c| c.set(c.get() + 1));
        if first {
            // Capturing and printing allocate: disarm meanwhile.
            ARMED.with(|a| a.set(false));
            eprintln!(
                "allocator call in the real-time path:\n{}",
                std::backtrace::Backtrace::force_capture()
            );
            ARMED.with(|a| a.set(true));
        }
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCS);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(&ALLOCS);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(&FREES);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, deallocations) made by this thread while running `f`.
fn count<R>(f: impl FnOnce() -> R) -> (u64, u64, R) {
    ALLOCS.with(|c| c.set(0));
    FREES.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (ALLOCS.with(|c| c.get()), FREES.with(|c| c.get()), r)
}

fn preset(name: &str) -> Params {
    params::resolve(name, None, &ParamsPatch::default()).unwrap()
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn sample(&mut self) -> f32 {
        (self.next() as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    }
}

const MAX_FRAMES: usize = 4096;

/// Warms `engine` up, then runs `calls` `process` calls of random sizes (0 … 4096 frames) over
/// noise with tone bursts, optionally poking the control API between calls (`poke(engine, i)`,
/// outside the counted region). Returns (allocations, deallocations).
fn run(
    engine: &mut Engine,
    calls: usize,
    seed: u64,
    mut poke: impl FnMut(&mut Engine, usize),
) -> (u64, u64) {
    let nch = engine.channels();
    let mut rng = Lcg(seed);
    let input: Vec<f32> = (0..MAX_FRAMES * nch * 2)
        .map(|i| {
            let burst = if (i / 20_000) % 2 == 0 { 0.5 } else { 0.0 };
            0.05 * rng.sample() + burst * (i as f32 * 0.07).sin()
        })
        .collect();
    let mut output = vec![0.0f32; MAX_FRAMES * nch];
    // Warm-up: a second of audio in hop-ish chunks.
    for _ in 0..(engine.rate() as usize / 512) {
        engine.process(&input[..512 * nch], &mut output[..512 * nch]);
    }
    let (mut allocs, mut frees) = (0, 0);
    for i in 0..calls {
        let frames = (rng.next() as usize) % (MAX_FRAMES + 1);
        let off = (rng.next() as usize % MAX_FRAMES) * nch;
        let (a, f, ()) =
            count(|| engine.process(&input[off..off + frames * nch], &mut output[..frames * nch]));
        allocs += a;
        frees += f;
        poke(engine, i);
    }
    (allocs, frees)
}

fn assert_no_alloc(what: &str, (allocs, frees): (u64, u64)) {
    assert_eq!(
        (allocs, frees),
        (0, 0),
        "{what}: process() made {allocs} allocations and {frees} deallocations"
    );
}

#[test]
fn the_counting_allocator_sees_allocations_and_frees() {
    let (a, f, v) = count(|| std::hint::black_box(vec![1u8; 100]).len());
    assert_eq!((a, f, v), (1, 1, 100));
}

#[test]
fn every_preset_processes_mono_audio_without_allocating() {
    for name in ["voice", "cw", "am", "nfm", "digital"] {
        let mut e = Engine::new(&preset(name), 48_000, 1, SignalKind::Real).unwrap();
        assert_no_alloc(name, run(&mut e, 3000, 1, |_, _| {}));
    }
}

#[test]
fn every_low_delay_mode_processes_real_and_iq_streams_without_allocating() {
    for latency_ms in [1.0, 3.0, 5.0, 10.0] {
        for rate in [8_000u32, 48_000] {
            for (channels, kind) in [(1, SignalKind::Real), (2, SignalKind::Complex)] {
                let p = Params {
                    latency_ms,
                    ..preset("voice")
                };
                let mut e = Engine::new(&p, rate, channels, kind).unwrap();
                assert!(e.stft_config().is_low_delay());
                assert_no_alloc(
                    &format!("--latency-ms {latency_ms} at {rate} Hz {channels}ch {kind:?}"),
                    run(&mut e, 200, channels as u64, |_, _| {}),
                );
            }
        }
    }
}

#[test]
fn multichannel_and_complex_iq_streams_process_without_allocating() {
    for name in ["voice", "cw", "digital"] {
        for (channels, kind) in [
            (2, SignalKind::Real),
            (5, SignalKind::Real),
            (2, SignalKind::Complex),
            (4, SignalKind::Complex),
        ] {
            let mut e = Engine::new(&preset(name), 24_000, channels, kind).unwrap();
            assert_no_alloc(
                &format!("{name} {channels}ch {kind:?}"),
                run(&mut e, 1000, channels as u64, |_, _| {}),
            );
        }
    }
}

#[test]
fn learning_in_progress_processes_without_allocating() {
    // An hour of learning: the learn branch runs throughout, never completes.
    let p = Params {
        learn: 3600.0,
        ..preset("voice")
    };
    for (channels, kind) in [(1, SignalKind::Real), (2, SignalKind::Complex)] {
        let mut e = Engine::new(&p, 48_000, channels, kind).unwrap();
        assert_no_alloc("learning", run(&mut e, 2000, 7, |_, _| {}));
    }
}

#[test]
fn a_fixed_noise_profile_processes_without_allocating() {
    let mut e = Engine::new(&preset("voice"), 48_000, 1, SignalKind::Real).unwrap();
    let bins = e.bins();
    e.set_noise_profile(&vec![1e-3; bins]).unwrap();
    assert_no_alloc("fixed profile", run(&mut e, 2000, 9, |_, _| {}));
}

#[test]
fn bypass_toggles_and_parameter_updates_between_calls_do_not_make_process_allocate() {
    let voice = preset("voice");
    let cw_gains = Params {
        rule: preset("cw").rule,
        threshold_db: 9.0,
        reduction_db: 24.0,
        ..voice
    };
    let mut e = Engine::new(&voice, 48_000, 2, SignalKind::Real).unwrap();
    let result = run(&mut e, 3000, 11, |e, i| match i % 7 {
        0 => e.set_bypass(i % 2 == 0),
        3 => e.update_params(if i % 2 == 0 { &cw_gains } else { &voice }),
        _ => {}
    });
    assert_no_alloc("bypass/update", result);
}

#[test]
fn non_finite_input_is_handled_without_allocating() {
    let mut e = Engine::new(&preset("voice"), 48_000, 1, SignalKind::Real).unwrap();
    let mut y = vec![0.0f32; 480];
    let x: Vec<f32> = (0..480)
        .map(|i| match i % 5 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            _ => 0.1,
        })
        .collect();
    e.process(&x, &mut y);
    let (a, f, ()) = count(|| {
        for _ in 0..1000 {
            e.process(&x, &mut y);
        }
    });
    assert_no_alloc("non-finite", (a, f));
    assert!(y.iter().all(|v| v.is_finite()));
}

/// Learning that completes mid-stream must also switch to the learned profile without touching
/// the allocator (the audio thread is where it completes).
///
/// Known engine bug: the end of `Engine::process` builds the profile with
/// `vec![0.0f32; self.bins()]` and one `NoiseProfile::mean()` Vec per channel (2 allocations and
/// 1 free for mono).
#[test]
fn learning_that_completes_mid_stream_does_not_allocate() {
    let p = Params {
        learn: 0.5,
        ..preset("voice")
    };
    for (channels, kind) in [(1, SignalKind::Real), (2, SignalKind::Real)] {
        let mut e = Engine::new(&p, 48_000, channels, kind).unwrap();
        let mut x = vec![0.0f32; 480 * channels];
        let mut rng = Lcg(3);
        x.iter_mut().for_each(|v| *v = 0.05 * rng.sample());
        let mut y = vec![0.0f32; x.len()];
        // Construction is control-side; the whole learning period runs on the "audio thread".
        let (a, f, ()) = count(|| {
            for _ in 0..200 {
                e.process(&x, &mut y);
            }
        });
        assert!(e.has_fixed_profile(), "learning did not complete");
        assert_no_alloc(&format!("learn completion, {channels} ch"), (a, f));
    }
}
