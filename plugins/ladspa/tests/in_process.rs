//! The plugin driven in-process over its C ABI, as a host drives it: real-time safety of `run()`
//! (a counting allocator), the latency port, exactness with the gate open, in-place buffers,
//! `activate()` as a reset, and any rate.

#![allow(clippy::needless_range_loop)]

mod common;
use common::{labels, noise, Host};
use specgate::engine::{Engine, SignalKind};
use specgate::params::{resolve, ParamsPatch};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

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
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        System.realloc(p, l, n)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        note();
        System.dealloc(p, l)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn planar(channels: usize, n: usize, seed: u64) -> Vec<Vec<f32>> {
    (0..channels)
        .map(|c| noise(n, 0.3, seed + c as u64))
        .collect()
}

#[test]
fn every_preset_has_a_mono_and_a_stereo_plugin() {
    let l = labels();
    for p in specgate_ladspa::PRESETS {
        assert!(l.contains(&format!("specgate_{p}_mono")), "{l:?}");
        assert!(l.contains(&format!("specgate_{p}_stereo")), "{l:?}");
    }
    assert_eq!(l.len(), 2 * specgate_ladspa::PRESETS.len());
}

#[test]
fn run_never_allocates_for_any_block_size_control_change_or_bypass() {
    for lbl in labels() {
        let mut h = Host::new(&lbl, 48_000, 4096);
        h.activate();
        let ch = h.channels;
        let input = planar(ch, 4096, 7);
        for c in 0..ch {
            h.inputs[c].copy_from_slice(&input[c]);
        }
        h.run(4096); // warm-up outside the armed region
        CALLS.with(|c| c.set(0));
        ARMED.with(|a| a.set(true));
        for (step, n) in [1usize, 7, 64, 480, 1023, 1024, 1025, 4096, 333]
            .iter()
            .enumerate()
        {
            match step {
                2 => h.controls[0] = 0.0,
                3 => h.controls[0] = 12.0,
                4 => h.controls[2] = 1.0,
                5 => h.controls[2] = 0.0,
                6 => h.controls[1] += 3.0,
                7 => h.controls[0] = f32::NAN,
                _ => {}
            }
            h.run(*n);
        }
        ARMED.with(|a| a.set(false));
        let calls = CALLS.with(|c| c.get());
        assert_eq!(calls, 0, "{lbl}: {calls} allocator calls in run()");
    }
}

#[test]
fn latency_port_reports_the_engine_latency_of_the_preset_at_the_host_rate() {
    for lbl in labels() {
        let preset = lbl.split('_').nth(1).unwrap();
        let p = resolve(preset, None, &ParamsPatch::default()).unwrap();
        for rate in [8_000u32, 44_100, 48_000, 96_000] {
            let mut h = Host::new(&lbl, rate as u64, 64);
            h.activate();
            let want = Engine::new(&p, rate, h.channels, SignalKind::Real)
                .unwrap()
                .latency_samples();
            assert_eq!(h.latency(), want, "{lbl} at {rate}");
            assert!(want > 0);
        }
    }
}

#[test]
fn with_reduction_zero_the_output_is_the_input_delayed_by_the_reported_latency_at_any_rate() {
    for lbl in [
        "specgate_voice_mono",
        "specgate_cw_stereo",
        "specgate_nfm_mono",
    ] {
        for rate in [8_000u64, 22_050, 48_000, 96_000] {
            let mut h = Host::new(lbl, rate, 1024);
            h.controls[0] = 0.0;
            h.activate();
            let lat = h.latency();
            let n = 3 * rate as usize / 2;
            let input = planar(h.channels, n, rate);
            let out = h.process(&input, &[1024, 17, 256, 1]);
            for c in 0..h.channels {
                assert!(out[c][..lat].iter().all(|v| *v == 0.0), "{lbl} {rate}");
                assert_eq!(&out[c][lat..], &input[c][..n - lat], "{lbl} {rate} ch {c}");
            }
        }
    }
}

#[test]
fn in_place_buffers_give_the_same_output_as_separate_ones() {
    for lbl in ["specgate_voice_mono", "specgate_am_stereo"] {
        let n = 48_000;
        let input = planar(if lbl.ends_with("mono") { 1 } else { 2 }, n, 3);
        let mut a = Host::new(lbl, 48_000, 512);
        a.activate();
        let want = a.process(&input, &[512, 100]);
        let mut b = Host::new(lbl, 48_000, 512);
        b.connect_in_place();
        b.activate();
        let mut got = vec![Vec::new(); b.channels];
        let (mut i, mut k) = (0, 0);
        while i < n {
            let m = [512usize, 100][k % 2].min(n - i);
            k += 1;
            for c in 0..b.channels {
                b.inputs[c][..m].copy_from_slice(&input[c][i..i + m]);
            }
            b.run(m);
            for c in 0..b.channels {
                got[c].extend_from_slice(&b.inputs[c][..m]);
            }
            i += m;
        }
        assert_eq!(got, want, "{lbl}");
        // And the filter did something: this is not the open gate.
        assert_ne!(want[0][5000..], input[0][..n - 5000]);
    }
}

#[test]
fn activate_resets_the_filter_to_a_fresh_instance() {
    let n = 24_000;
    let input = planar(2, n, 11);
    let mut fresh = Host::new("specgate_voice_stereo", 48_000, 480);
    fresh.activate();
    let want = fresh.process(&input, &[480]);
    let mut used = Host::new("specgate_voice_stereo", 48_000, 480);
    used.activate();
    used.process(&planar(2, n, 99), &[480]);
    used.activate();
    let got = used.process(&input, &[480]);
    assert_eq!(got, want);
}

#[test]
fn the_plugin_output_equals_the_engine_output_for_the_same_preset() {
    let rate = 48_000u32;
    let n = rate as usize;
    let input = planar(1, n, 5);
    let mut h = Host::new("specgate_voice_mono", rate as u64, 1024);
    h.activate();
    let got = h.process(&input, &[256, 1024, 3]);
    let p = resolve("voice", None, &ParamsPatch::default()).unwrap();
    let mut e = Engine::new(&p, rate, 1, SignalKind::Real).unwrap();
    let mut want = vec![0.0; n];
    e.process(&input[0], &mut want);
    assert_eq!(got[0], want);
}
