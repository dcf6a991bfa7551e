//! IQ file filtering throughput: 1 s of 2 MS/s 16-bit IQ (an SDRuno-style WAV with `auxi`),
//! end to end (read, decode, complex gate with the `iq` preset, encode, write).
//! Real-time factor = reported elements/s ÷ 2 000 000. Run: `cargo bench --bench iq`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use specgate::eval::signals::write_sdruno_test_recording;
use specgate::params::{Params, ParamsPatch};
use specgate::stream::filter::{filter_path, FilterOptions};
use specgate::stream::ProbeHints;

const RATE: u32 = 2_000_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("SDRuno_20240101_000000Z_7150kHz.wav");
    let output = dir.path().join("out.wav");
    let frames = RATE as usize; // 1 s
    write_sdruno_test_recording(&input, RATE, frames as u64).unwrap();
    let mut params = Params::default();
    ParamsPatch::from_toml(include_str!("../config/iq.toml"), "iq")
        .unwrap()
        .apply_to(&mut params);
    let (hints, opts) = (ProbeHints::default(), FilterOptions::default());
    let mut g = c.benchmark_group("iq_file");
    g.sample_size(10);
    g.throughput(Throughput::Elements(frames as u64));
    g.bench_function("sdruno_2msps_16bit_1s", |b| {
        b.iter(|| filter_path(&input, &output, &params, &hints, &opts).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
