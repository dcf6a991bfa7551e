//! IQ file filtering throughput: 1 s of 2 MS/s 16-bit IQ (an SDRuno-style WAV with `auxi`),
//! end to end (read, decode, complex gate with the `iq` preset, encode, write).
//! Real-time factor = reported elements/s ÷ 2 000 000. Run: `cargo bench --bench iq`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use specgate::io::auxi::{build164, SystemTime};
use specgate::io::iq_file::{filter_iq_file, IqOptions};
use specgate::io::riff::{RiffWriter, SampleFormat, WavFmt};
use specgate::params::{Params, ParamsPatch};

const RATE: u32 = 2_000_000;

fn write_input(path: &std::path::Path, frames: usize) {
    let t = SystemTime {
        year: 2024,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        millis: 0,
    };
    let fmt = WavFmt {
        tag: 1,
        channels: 2,
        rate: RATE,
        bits: 16,
        block_align: 4,
        sample: SampleFormat::I16,
    };
    let chunks = [
        fmt.to_chunk(),
        specgate::io::riff::Chunk {
            id: *b"auxi",
            data: build164(t, t, 7_150_000),
        },
    ];
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = RiffWriter::new(f, &chunks, &[], 4, frames as u64 * 4, false).unwrap();
    let mut s = 0x1234_5678u32;
    let mut buf = Vec::with_capacity(frames * 4);
    for t in 0..frames {
        // Noise plus two carriers (±): integer LCG noise keeps generation cheap.
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let n1 = ((s >> 16) as i32 - 32768) / 16;
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let n2 = ((s >> 16) as i32 - 32768) / 16;
        let ph = 2.0 * std::f64::consts::PI * 250e3 * t as f64 / RATE as f64;
        let i = n1 + (800.0 * ph.cos()) as i32 + (600.0 * (3.0 * ph).cos()) as i32;
        let q = n2 + (800.0 * ph.sin()) as i32 - (600.0 * (3.0 * ph).sin()) as i32;
        buf.extend_from_slice(&(i as i16).to_le_bytes());
        buf.extend_from_slice(&(q as i16).to_le_bytes());
    }
    w.write_data(&buf).unwrap();
    w.finish().unwrap();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("SDRuno_20240101_000000Z_7150kHz.wav");
    let output = dir.path().join("out.wav");
    let frames = RATE as usize; // 1 s
    write_input(&input, frames);
    let mut params = Params::default();
    ParamsPatch::from_toml(include_str!("../config/iq.toml"), "iq")
        .unwrap()
        .apply_to(&mut params);
    let opts = IqOptions::default();
    let mut g = c.benchmark_group("iq_file");
    g.sample_size(10);
    g.throughput(Throughput::Elements(frames as u64));
    g.bench_function("sdruno_2msps_16bit_1s", |b| {
        b.iter(|| filter_iq_file(&input, &output, &params, &opts).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
