//! Real-time enforcement for the live path: the input callback body, the worker loop body
//! (with the real engine, rate conversion, drift control, control messages — parameters,
//! bypass, learning a noise profile — and statistics)
//! and the output callback body run thousands of times under a counting allocator, which must
//! see no allocation and no deallocation.

use specgate::engine::{Engine, SignalKind};
use specgate::live::core::{build, ChannelMap, Clocks, Control, PipeConfig};
use specgate::params::{resolve, ParamsPatch};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;
thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Per thread, so tests running in parallel do not see each other's events.
    static EVENTS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    if ARMED.try_with(|a| a.get()).unwrap_or(false) {
        let _ = EVENTS.try_with(|e| e.set(e.get() + 1));
    }
}

fn events() -> u64 {
    EVENTS.with(|e| e.get())
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        note();
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn armed<R>(f: impl FnOnce() -> R) -> R {
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    r
}

fn exercise(
    clocks: Clocks,
    in_rate: u32,
    proc_rate: u32,
    out_rate: u32,
    in_ch: usize,
    out_ch: usize,
) {
    let params = resolve("voice", None, &ParamsPatch::default()).unwrap();
    let engine = Engine::new(&params, proc_rate, 1, SignalKind::Real).unwrap();
    let cfg = PipeConfig {
        in_rate,
        proc_rate,
        out_rate,
        in_device_channels: in_ch,
        out_device_channels: out_ch,
        map: ChannelMap::Mean,
        cushion_s: 0.03,
        max_cushion_s: 0.2,
        stats_interval_s: 0.1,
        clocks,
    };
    let (mut inp, mut worker, mut out, h) = build(cfg, engine).unwrap();
    let in_period = in_rate as usize / 100;
    let out_period = out_rate as usize / 100;
    let mut ibuf = vec![0.0f32; in_period * in_ch];
    let mut obuf = vec![0.0f32; out_period * out_ch];
    let mut louder = params;
    louder.reduction_db = 24.0;
    let mut t_ns = 0u64;
    let mut phase = 0.0f32;
    let before = events();
    for k in 0..3000u64 {
        // Control messages are sent from the control thread (outside the armed region).
        match k {
            500 => h.control.send(Control::Params(louder)).unwrap(),
            900 => h.control.send(Control::Bypass(true)).unwrap(),
            1300 => h.control.send(Control::Bypass(false)).unwrap(),
            1500 => h.control.send(Control::Learn(0.5)).unwrap(),
            _ => {}
        }
        for (i, x) in ibuf.iter_mut().enumerate() {
            phase += 0.05;
            *x = 0.3 * phase.sin() + 0.01 * ((i * 7919 % 101) as f32 / 101.0 - 0.5);
        }
        t_ns += 10_000_000;
        armed(|| {
            inp.push(&ibuf, t_ns);
            worker.step(t_ns + 1_000_000);
            out.pull(&mut obuf, t_ns + 2_000_000);
            if (2000..2004).contains(&k) {
                // A burst of output demand: underruns, so the cushion grows (and later shrinks).
                out.pull(&mut obuf, t_ns + 3_000_000);
                out.pull(&mut obuf, t_ns + 4_000_000);
            }
            worker.step(t_ns + 5_000_000);
        });
        // The control thread drains statistics.
        while h.stats.try_recv().is_ok() {}
    }
    let events = events() - before;
    assert_eq!(
        events, 0,
        "{events} allocations/deallocations in the real-time bodies"
    );
    assert!(obuf.iter().any(|x| *x != 0.0), "no audio came through");
}

#[test]
fn callbacks_and_worker_loop_never_allocate_at_equal_rates() {
    exercise(Clocks::Two, 48_000, 48_000, 48_000, 2, 2);
}

#[test]
fn callbacks_and_worker_loop_never_allocate_while_converting_rates() {
    exercise(Clocks::Two, 44_100, 16_000, 48_000, 1, 2);
}

#[test]
fn callbacks_and_worker_loop_never_allocate_on_one_clock_with_the_exact_copy() {
    exercise(Clocks::One, 48_000, 48_000, 48_000, 2, 2);
}

#[test]
fn callbacks_and_worker_loop_never_allocate_on_one_clock_converting_rates() {
    exercise(Clocks::One, 44_100, 16_000, 48_000, 1, 2);
}

#[test]
fn the_counting_allocator_sees_an_allocation_when_armed() {
    let before = events();
    let v = armed(|| std::hint::black_box(vec![1u8; 64]));
    drop(v);
    assert!(events() - before >= 1);
}
