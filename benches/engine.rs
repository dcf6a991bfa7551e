//! Engine speed at 48 kHz mono: nanoseconds per hop for every preset, and the real-time factor
//! (audio seconds per wall second) of filtering one minute of audio.
//!
//! Run: `cargo bench --bench engine -- --warm-up-time 1 --measurement-time 3`.
//! After criterion's report a summary table gives ns/hop, the share of the hop deadline used and
//! the real-time factor (RTF), computed from the same timed samples criterion analysed (median of
//! the per-sample means). Target: voice ≥ 1000× real time on one core (≈ 10 µs per 480-sample
//! hop; SpeexDSP's preprocessor manages ≈ 550×).

use criterion::{Criterion, Throughput};
use specgate::engine::{Engine, SignalKind};
use specgate::params::{self, Params, ParamsPatch};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const RATE: u32 = 48_000;
const PRESETS: [&str; 5] = ["voice", "cw", "am", "nfm", "digital"];
/// Chunk size for the one-minute run (a typical file/pipe read).
const FILE_CHUNK: usize = 4096;

/// Per benchmark: audio samples per iteration, and per criterion sample the wall and thread-CPU
/// ns per iteration.
struct Record {
    id: String,
    samples_per_iter: usize,
    wall_ns: Vec<f64>,
    cpu_ns: Vec<f64>,
}
static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());

fn record(id: &str, samples_per_iter: usize, iters: u64, wall: Duration, cpu: Duration) {
    let mut all = RECORDS.lock().unwrap();
    let per = |d: Duration| d.as_nanos() as f64 / iters.max(1) as f64;
    let i = match all.iter().position(|r| r.id == id) {
        Some(i) => i,
        None => {
            all.push(Record {
                id: id.to_string(),
                samples_per_iter,
                wall_ns: Vec::new(),
                cpu_ns: Vec::new(),
            });
            all.len() - 1
        }
    };
    all[i].wall_ns.push(per(wall));
    all[i].cpu_ns.push(per(cpu));
}

/// CPU time consumed by this thread: unlike wall time, it does not count time spent waiting for
/// a core on a loaded machine.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Times `iters` runs of `f`, records them under `id`, and returns the wall time to criterion.
fn timed(id: &str, samples_per_iter: usize, iters: u64, mut f: impl FnMut()) -> Duration {
    let (cpu0, wall0) = (thread_cpu_time(), Instant::now());
    for _ in 0..iters {
        f();
    }
    let wall = wall0.elapsed();
    let cpu = thread_cpu_time().saturating_sub(cpu0);
    record(id, samples_per_iter, iters, wall, cpu);
    wall
}

fn preset(name: &str) -> Params {
    params::resolve(name, None, &ParamsPatch::default()).unwrap()
}

/// Noise at about −30 dBFS with speech-like tone bursts (250 ms on, 250 ms off), so the gain rule
/// sees both signal and noise frames.
fn scene(n: usize) -> Vec<f32> {
    let mut s = 0x1234_5678_u64;
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
            let t = i as f32 / RATE as f32;
            let on = ((t * 4.0) as usize) % 2 == 1;
            let tone = if on {
                0.3 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                    + 0.2 * (2.0 * std::f32::consts::PI * 1320.0 * t).sin()
            } else {
                0.0
            };
            0.03 * noise + tone
        })
        .collect()
}

/// One hop of samples per iteration: each call completes exactly one frame.
fn per_hop(c: &mut Criterion) {
    let x = scene(RATE as usize * 20);
    let mut g = c.benchmark_group("hop_48k_mono");
    for name in PRESETS {
        let mut e = Engine::new(&preset(name), RATE, 1, SignalKind::Real).unwrap();
        let hop = e.stft_config().hop;
        let mut y = vec![0.0f32; hop];
        // Warm-up: 2 s of audio in whole hops (keeps calls aligned to frame boundaries and
        // lets the noise tracker settle).
        let mut pos = 0;
        while pos + hop <= 2 * RATE as usize {
            e.process(&x[pos..pos + hop], &mut y);
            pos += hop;
        }
        g.throughput(Throughput::Elements(hop as u64));
        let id = format!("hop/{name}");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(&id, hop, iters, || {
                    if pos + hop > x.len() {
                        pos = 0;
                    }
                    e.process(black_box(&x[pos..pos + hop]), black_box(&mut y));
                    pos += hop;
                })
            })
        });
    }
    g.finish();
}

/// One minute of audio per iteration, streamed in file-sized chunks through a warm engine.
fn one_minute(c: &mut Criterion) {
    let n = RATE as usize * 60;
    let x = scene(n);
    let mut y = vec![0.0f32; FILE_CHUNK];
    let mut g = c.benchmark_group("minute_48k_mono");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    for name in PRESETS {
        let mut e = Engine::new(&preset(name), RATE, 1, SignalKind::Real).unwrap();
        let id = format!("minute/{name}");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(&id, n, iters, || {
                    for chunk in x.chunks(FILE_CHUNK) {
                        let m = chunk.len();
                        e.process(black_box(chunk), black_box(&mut y[..m]));
                    }
                })
            })
        });
    }
    g.finish();
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    }
}

fn pretty(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} µs", ns / 1e3)
    }
}

/// Prints time per iteration, deadline share and real-time factor for every benchmark that ran,
/// by wall clock and by thread CPU time (the two agree on an idle machine).
fn summary() {
    let all = RECORDS.lock().unwrap();
    if all.is_empty() {
        return;
    }
    println!("\nspecgate engine speed, {RATE} Hz mono, one core (medians over criterion samples)");
    println!(
        "{:<16} {:>8} {:>11} {:>9} {:>9} {:>11} {:>9} {:>9}",
        "benchmark", "samples", "wall/iter", "deadline", "RTF", "cpu/iter", "deadline", "RTF"
    );
    for r in all.iter() {
        let audio_ns = r.samples_per_iter as f64 * 1e9 / RATE as f64;
        let (w, c) = (median(&r.wall_ns), median(&r.cpu_ns));
        println!(
            "{:<16} {:>8} {:>11} {:>8.3}% {:>8.0}× {:>11} {:>8.3}% {:>8.0}×",
            r.id,
            r.samples_per_iter,
            pretty(w),
            100.0 * w / audio_ns,
            audio_ns / w,
            pretty(c),
            100.0 * c / audio_ns,
            audio_ns / c
        );
    }
    println!("target: hop/voice RTF ≥ 1000× (≈ 10 µs per 480-sample hop)");
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    per_hop(&mut c);
    one_minute(&mut c);
    c.final_summary();
    summary();
}
