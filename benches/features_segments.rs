//! Segment feature throughput (`specgate::features::segment`): 10 s of 48 kHz mono audio (a tone
//! mix in noise) through the default extractor (n_fft 2048, hop 512, 128 mels, 13 MFCCs, 1 s
//! segments), and 1 s of 2 MS/s I/Q through the complex extractor.
//! Times are this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`; the build machine is shared, so
//! wall time is inflated), so real-time factor per core = reported elements/s ÷ the sample rate.
//! Run: `cargo bench --bench features_segments`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use specgate::features::segment::{SegmentConfig, SegmentExtractor};
use std::f32::consts::TAU;
use std::hint::black_box;
use std::time::Duration;

/// CPU time consumed by this thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Thread CPU time of `iters` runs of `f`.
fn cpu_time(iters: u64, mut f: impl FnMut() -> usize) -> Duration {
    let t0 = thread_cpu_time();
    for _ in 0..iters {
        black_box(f());
    }
    thread_cpu_time().saturating_sub(t0)
}

fn signal(n: usize, rate: f32) -> Vec<f32> {
    let mut seed = 7u32;
    (0..n)
        .map(|i| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 8) as f32 / (1 << 24) as f32 - 0.5;
            let t = i as f32 / rate;
            0.4 * (TAU * 440.0 * t).sin() + 0.2 * (TAU * 3100.0 * t).sin() + 0.05 * noise
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cfg = SegmentConfig::default();
    let mut g = c.benchmark_group("features_segments");
    g.sample_size(10);

    let rate = 48_000;
    let x = signal(10 * rate as usize, rate as f32);
    let mut ex = SegmentExtractor::new(rate, &cfg).unwrap();
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function("audio_48k_10s", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                let mut rows = 0usize;
                for block in x.chunks(1024) {
                    ex.push(block, &mut |r| rows += black_box(r.values.len()));
                }
                ex.finish(&mut |r| rows += black_box(r.values.len()));
                rows
            })
        })
    });

    let rate = 2_000_000;
    let iq = signal(2 * rate as usize, rate as f32); // 1 s of interleaved I/Q
    let mut ex = SegmentExtractor::new_complex(rate, &cfg).unwrap();
    g.throughput(Throughput::Elements(rate as u64));
    g.bench_function("iq_2msps_1s", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                let mut rows = 0usize;
                for block in iq.chunks(16_384) {
                    ex.push_complex(block, &mut |r| rows += black_box(r.values.len()));
                }
                ex.finish(&mut |r| rows += black_box(r.values.len()));
                rows
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
