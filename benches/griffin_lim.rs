//! Fast Griffin-Lim throughput: one second of 16 kHz speech-like audio, n_fft 512, hop 128,
//! 32 iterations (the `specgate invert` defaults). librosa 0.11 needs about 0.05 s for this on
//! a desktop core; see tools/librosa_griffinlim.py for the same measurement in Python.

use criterion::{criterion_group, criterion_main, Criterion};
use specgate::dsp::griffin_lim::{griffin_lim, magnitude, GriffinLimConfig, Init};
use std::hint::black_box;

fn speech_like(n: usize) -> Vec<f32> {
    let rate = 16_000.0f32;
    let mut phase = 0.0f32;
    let mut st = [0.0f32; 2];
    (0..n)
        .map(|i| {
            let t = i as f32 / rate;
            phase = (phase + (110.0 + 40.0 * t) / rate).fract();
            let src = 2.0 * phase - 1.0;
            let fc = 700.0 + 500.0 * (std::f32::consts::TAU * 1.3 * t).sin();
            let r = 0.97f32;
            let v = (1.0 - r) * src + 2.0 * r * (std::f32::consts::TAU * fc / rate).cos() * st[0]
                - r * r * st[1];
            st[1] = st[0];
            st[0] = v;
            v * (std::f32::consts::TAU * 2.0 * t).sin().max(0.0)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let x = speech_like(16_000);
    let (bins, _, s) = magnitude(&x, 512, 128).unwrap();
    let cfg = GriffinLimConfig {
        n_fft: 512,
        hop: 128,
        iterations: 32,
        momentum: 0.99,
        init: Init::Random { seed: 0 },
        length: Some(x.len()),
    };
    c.bench_function("griffin_lim_1s_16k_512_128_32it", |b| {
        b.iter(|| griffin_lim(black_box(&s), bins, &cfg, 0, |_, _| {}).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
