//! Whole commands as a user runs them: the release `specgate` binary spawned on generated files,
//! timed end to end (process start, WAV read and decode, engine, encode, write, rename).
//!
//! - `voice_10min_48k_s16_mono`: `specgate filter in.wav -o out.wav --preset voice` on 10 minutes
//!   of 48 kHz 16-bit mono; next to it `sox in.wav out.wav noisered prof 0.21` on the same file
//!   when `sox` is installed (issue 8's target: specgate at least 3× faster).
//! - `iq_2msps_s16_5s`: `specgate filter SDRuno_….wav -o out.wav` on 5 s of 2 MS/s 16-bit I/Q
//!   (target: ≥ 25× real time, i.e. under 200 ms per run).
//!
//! Run: `cargo bench --bench file_to_file` (criterion reports time per run; the machine should
//! be otherwise idle, wall time is what is measured). `SPECGATE_BENCH_SECONDS` shortens the
//! audio file for a quick check.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use specgate::eval::signals::write_sdruno_test_recording;
use specgate::io::{wav::WavFileWriter, RawFormat, SampleWriter};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_specgate");

/// Speech-band tones in pink-ish noise: deterministic, cheap to make, not silent.
fn write_audio(path: &Path, rate: u32, seconds: usize) {
    let mut w = Box::new(WavFileWriter::create(path, RawFormat::S16Le, rate, 1).unwrap());
    let mut s = 0x9E37_79B9_7F4A_7C15_u64;
    let mut lp = 0.0f32;
    let block = rate as usize;
    let mut buf = vec![0f32; block];
    for sec in 0..seconds {
        for (i, v) in buf.iter_mut().enumerate() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let white = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            lp = 0.97 * lp + 0.03 * white;
            let t = (sec * block + i) as f32 / rate as f32;
            let tone = if sec % 3 == 0 {
                0.0
            } else {
                0.2 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
            };
            *v = 0.5 * lp + 0.05 * white + tone;
        }
        w.write(&buf).unwrap();
    }
    w.finish().unwrap();
}

fn run(cmd: &mut Command) {
    let st = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{cmd:?} failed");
}

fn has_sox() -> bool {
    Command::new("sox")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let seconds: usize = std::env::var("SPECGATE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let voice = dir.path().join("voice.wav");
    write_audio(&voice, 48_000, seconds);
    let out = dir.path().join("out.wav");

    let mut g = c.benchmark_group("file_to_file");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(60));
    g.throughput(Throughput::Elements((seconds * 48_000) as u64));
    let name = format!("voice_{seconds}s_48k_s16_mono");
    g.bench_function(format!("{name}/specgate_filter_voice"), |b| {
        b.iter(|| {
            run(Command::new(BIN)
                .args(["filter", "-q", "--preset", "voice", "-o"])
                .arg(&out)
                .arg(&voice))
        })
    });
    if has_sox() {
        let noise = dir.path().join("noise.wav");
        write_audio(&noise, 48_000, 2);
        let prof = dir.path().join("noise.prof");
        run(Command::new("sox")
            .arg(&noise)
            .args(["-n", "noiseprof"])
            .arg(&prof));
        let sox_out = dir.path().join("sox.wav");
        g.bench_function(format!("{name}/sox_noisered_0.21"), |b| {
            b.iter(|| {
                run(Command::new("sox")
                    .arg(&voice)
                    .arg(&sox_out)
                    .arg("noisered")
                    .arg(&prof)
                    .arg("0.21"))
            })
        });
    } else {
        eprintln!("sox is not installed: the side-by-side sox noisered run is skipped");
    }
    g.finish();

    let rate = 2_000_000u32;
    let iq_s = 5u64;
    let iq = dir.path().join("SDRuno_20240101_000000Z_7150kHz.wav");
    write_sdruno_test_recording(&iq, rate, rate as u64 * iq_s).unwrap();
    let iq_out = dir.path().join("iq-out.wav");
    let mut g = c.benchmark_group("file_to_file");
    g.sample_size(10);
    g.throughput(Throughput::Elements(rate as u64 * iq_s));
    g.bench_function("iq_2msps_s16_5s/specgate_filter", |b| {
        b.iter(|| {
            run(Command::new(BIN)
                .args(["filter", "-q", "-o"])
                .arg(&iq_out)
                .arg(&iq))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
