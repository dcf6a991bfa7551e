//! `specgate filter` end to end: the real binary on WAV files and raw pipes made here.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_specgate");
/// A gate that is not open (so the STFT path runs) but whose gains are all within 1.2e-7 of 1.
const NEARLY_OPEN: &str = "0.000001";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fmt {
    U8,
    S16,
    S24,
    S32,
    F32,
}
const ALL: [Fmt; 5] = [Fmt::U8, Fmt::S16, Fmt::S24, Fmt::S32, Fmt::F32];

impl Fmt {
    fn bits(self) -> u16 {
        match self {
            Fmt::U8 => 8,
            Fmt::S16 => 16,
            Fmt::S24 => 24,
            Fmt::S32 | Fmt::F32 => 32,
        }
    }
    fn float(self) -> bool {
        self == Fmt::F32
    }
    /// One LSB in full-scale units.
    fn lsb(self) -> f64 {
        if self.float() {
            0.0
        } else {
            1.0 / (1u64 << (self.bits() - 1)) as f64
        }
    }
}

/// Writes `x` (full scale ±1) as a WAV of the given type; integers rounded here, clipped.
fn write_wav(path: &Path, fmt: Fmt, rate: u32, ch: u16, x: &[f64]) {
    let spec = hound::WavSpec {
        channels: ch,
        sample_rate: rate,
        bits_per_sample: fmt.bits(),
        sample_format: if fmt.float() {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &v in x {
        if fmt.float() {
            w.write_sample(v as f32).unwrap();
        } else {
            let s = (1i64 << (fmt.bits() - 1)) as f64;
            let q = (v * s).round().clamp(-s, s - 1.0) as i32;
            w.write_sample(q).unwrap();
        }
    }
    w.finalize().unwrap();
}

/// The samples of a WAV exactly: integers as read, floats as their bit patterns.
fn read_exact(path: &Path) -> (hound::WavSpec, Vec<i64>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let v = if spec.sample_format == hound::SampleFormat::Float {
        r.samples::<f32>()
            .map(|s| s.unwrap().to_bits() as i64)
            .collect()
    } else {
        r.samples::<i32>().map(|s| s.unwrap() as i64).collect()
    };
    (spec, v)
}

/// The samples of a WAV at full scale ±1.
fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f64>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let v = if spec.sample_format == hound::SampleFormat::Float {
        r.samples::<f32>().map(|s| s.unwrap() as f64).collect()
    } else {
        let s = (1u64 << (spec.bits_per_sample - 1)) as f64;
        r.samples::<i32>().map(|x| x.unwrap() as f64 / s).collect()
    };
    (spec, v)
}

/// A deterministic test signal: a tone plus uniform noise from an LCG, peak below 0.8.
fn signal(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            0.5 * (i as f64 * 0.3).sin() + 0.5 * u
        })
        .collect()
}

/// `specgate filter ARGS`, stdin fed from `stdin` (or null).
fn run(args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    common::specgate(&[&["filter"], args].concat(), stdin.as_deref())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "specgate failed: {}", stderr(o));
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The engine latency at `rate` for the voice preset (the contract the CLI must honour).
fn voice_latency(rate: u32) -> usize {
    preset_latency("voice", rate)
}

fn preset_latency(name: &str, rate: u32) -> usize {
    let params = specgate::params::resolve(name, None, &Default::default()).unwrap();
    specgate::engine::stft_config(&params, rate).latency_samples()
}

#[test]
fn gate_open_round_trip_returns_the_input_for_every_wav_format() {
    let dir = tempfile::tempdir().unwrap();
    let x = signal(8000, 1);
    for fmt in ALL {
        let inp = dir.path().join(format!("in-{fmt:?}.wav"));
        let out = dir.path().join(format!("out-{fmt:?}.wav"));
        write_wav(&inp, fmt, 8000, 1, &x);
        let o = run(&[p(&inp), "-o", p(&out), "--reduction-db", "0"], None);
        ok(&o);
        let (si, a) = read_wav(&inp);
        let (so, b) = read_wav(&out);
        assert_eq!(si, so, "{fmt:?}: the output keeps the input's format");
        assert_eq!(a.len(), b.len(), "{fmt:?}: same length");
        // f32 WAV within 1e-5; integers (32-bit included) within 1 LSB.
        let tol = match fmt {
            Fmt::F32 => 1e-5,
            _ => fmt.lsb() * 1.000001,
        };
        let worst = a
            .iter()
            .zip(&b)
            .map(|(u, v)| (u - v).abs())
            .fold(0.0, f64::max);
        assert!(worst <= tol, "{fmt:?}: max error {worst} > {tol}");
    }
}

#[test]
fn a_nearly_open_gate_reconstructs_through_the_stft_within_float_precision() {
    let dir = tempfile::tempdir().unwrap();
    let x = signal(8000, 21);
    for (fmt, tol) in [(Fmt::F32, 1e-5), (Fmt::S16, Fmt::S16.lsb() * 1.000001)] {
        let inp = dir.path().join(format!("in-{fmt:?}.wav"));
        let out = dir.path().join(format!("out-{fmt:?}.wav"));
        write_wav(&inp, fmt, 8000, 1, &x);
        ok(&run(
            &[p(&inp), "-o", p(&out), "--reduction-db", NEARLY_OPEN],
            None,
        ));
        let (_, a) = read_wav(&inp);
        let (_, b) = read_wav(&out);
        assert_eq!(a.len(), b.len());
        let worst = a
            .iter()
            .zip(&b)
            .map(|(u, v)| (u - v).abs())
            .fold(0.0, f64::max);
        assert!(worst <= tol, "{fmt:?}: max error {worst} > {tol}");
    }
}

#[test]
fn digital_preset_is_bit_exact_for_every_wav_format_mono_and_stereo() {
    let dir = tempfile::tempdir().unwrap();
    for ch in [1u16, 2] {
        let x = signal(6000 * ch as usize, 7);
        for fmt in ALL {
            let inp = dir.path().join(format!("in-{fmt:?}-{ch}.wav"));
            let out = dir.path().join(format!("out-{fmt:?}-{ch}.wav"));
            write_wav(&inp, fmt, 12000, ch, &x);
            ok(&run(&[p(&inp), "-o", p(&out), "--preset", "digital"], None));
            let (si, a) = read_exact(&inp);
            let (so, b) = read_exact(&out);
            assert_eq!(si, so, "{fmt:?}");
            assert!(a == b, "{fmt:?} x{ch}: samples differ");
        }
    }
}

fn s16le(v: &[i16]) -> Vec<u8> {
    v.iter().flat_map(|s| s.to_le_bytes()).collect()
}
fn from_s16le(b: &[u8]) -> Vec<i16> {
    b.chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn raw_pipe_output_is_aligned_by_default_and_carries_exactly_the_latency_when_live() {
    let rate = 24_000;
    let n = 6000;
    let k = 1234;
    let mut x = vec![0i16; n];
    x[k] = 16384;
    for preset in [
        &["--reduction-db", "0"][..],
        &["--reduction-db", NEARLY_OPEN][..],
        &["--preset", "digital"][..],
    ] {
        let lat = preset_latency(
            preset
                .get(1)
                .filter(|_| preset[0] == "--preset")
                .unwrap_or(&"voice"),
            rate,
        );
        assert!(lat > 0);
        // Live (--carry-latency): the input delayed by the latency, tail included.
        // Default: the file rule on stdout too, as long as the input and not delayed.
        for (live, delay, len) in [(true, lat, n + lat), (false, 0, n)] {
            let mut args = vec!["-", "-o", "-", "--format", "s16le", "--rate", "24k"];
            args.extend_from_slice(preset);
            if live {
                args.push("--carry-latency");
            }
            let o = run(&args, Some(s16le(&x)));
            ok(&o);
            let y = from_s16le(&o.stdout);
            assert_eq!(y.len(), len, "{preset:?} live {live}");
            let peak = (0..y.len()).max_by_key(|&i| y[i].abs()).unwrap();
            assert_eq!(
                peak,
                k + delay,
                "{preset:?} live {live}: impulse delayed by {delay}"
            );
            assert!(
                (y[peak] as i32 - 16384).abs() <= 1,
                "{preset:?}: {}",
                y[peak]
            );
            let others = y
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != peak)
                .map(|(_, v)| v.abs())
                .max()
                .unwrap();
            assert!(others <= 1, "{preset:?}: stray samples up to {others}");
            assert!(
                stderr(&o).contains(&format!("latency {lat} samples")),
                "{}",
                stderr(&o)
            );
        }
    }
}

#[test]
fn wav_output_has_the_input_length_and_no_delay() {
    let dir = tempfile::tempdir().unwrap();
    let n = 9000;
    let k = 777;
    let mut x = vec![0.0; n];
    x[k] = 0.5;
    let inp = dir.path().join("imp.wav");
    write_wav(&inp, Fmt::F32, 16000, 1, &x);
    let out = dir.path().join("imp-out.wav");
    ok(&run(
        &[p(&inp), "-o", p(&out), "--reduction-db", NEARLY_OPEN],
        None,
    ));
    let (_, y) = read_wav(&out);
    assert_eq!(y.len(), n);
    let peak = (0..n)
        .max_by(|&a, &b| y[a].abs().total_cmp(&y[b].abs()))
        .unwrap();
    assert_eq!(peak, k);
    assert!((y[k] - 0.5).abs() < 1e-5, "{}", y[k]);
    // The gate active (default preset) still keeps the length.
    let out2 = dir.path().join("imp-out2.wav");
    ok(&run(&[p(&inp), "-o", p(&out2)], None));
    assert_eq!(read_wav(&out2).1.len(), n);
}

#[test]
fn an_impulse_at_the_very_end_survives_in_a_file() {
    // The latency tail is flushed: the last input sample reaches the file.
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let mut x = vec![0.0; n];
    x[n - 1] = 0.25;
    let inp = dir.path().join("end.wav");
    write_wav(&inp, Fmt::F32, 8000, 1, &x);
    let out = dir.path().join("end-out.wav");
    ok(&run(
        &[p(&inp), "-o", p(&out), "--reduction-db", NEARLY_OPEN],
        None,
    ));
    let (_, y) = read_wav(&out);
    assert_eq!(y.len(), n);
    assert!((y[n - 1] - 0.25).abs() < 1e-5, "{}", y[n - 1]);
}

#[test]
fn refuses_to_overwrite_the_input_or_the_noise_clip() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("a.wav");
    write_wav(&inp, Fmt::S16, 8000, 1, &signal(4000, 3));
    let before = std::fs::read(&inp).unwrap();
    // Same file through another spelling of the path.
    let alias = dir.path().join(".").join("a.wav");
    let o = run(&[p(&inp), "-o", p(&alias)], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("overwrite"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&inp).unwrap(), before);

    let clip = dir.path().join("noise.wav");
    write_wav(&clip, Fmt::S16, 8000, 1, &signal(4000, 4));
    let clip_before = std::fs::read(&clip).unwrap();
    let o = run(&[p(&inp), "-o", p(&clip), "--noise-clip", p(&clip)], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("noise clip"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&clip).unwrap(), clip_before);
    assert_eq!(files_in(dir.path()).len(), 2);
}

#[test]
fn errors_leave_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.wav");

    let corrupt = d.join("corrupt.wav");
    std::fs::write(&corrupt, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
    let garbage = d.join("garbage.wav");
    std::fs::write(&garbage, vec![0x5au8; 1000]).unwrap();
    let empty_file = d.join("empty-file.wav");
    std::fs::write(&empty_file, b"").unwrap();
    let empty = d.join("empty.wav");
    write_wav(&empty, Fmt::S16, 8000, 1, &[]);
    let good = d.join("good.wav");
    write_wav(&good, Fmt::S16, 8000, 1, &signal(2000, 5));
    let clip44 = d.join("clip44.wav");
    write_wav(&clip44, Fmt::S16, 44100, 1, &signal(2000, 6));

    let nodir = d.join("no/such/dir/o.wav");
    let missing = d.join("missing.wav");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![p(&corrupt), "-o", p(&out)], "corrupt"),
        (vec![p(&garbage), "-o", p(&out)], "garbage"),
        (vec![p(&empty_file), "-o", p(&out)], "empty-file"),
        (vec![p(&empty), "-o", p(&out)], "no samples"),
        (
            vec![p(&good), "-o", p(&out), "--out-format", "s12"],
            "unknown",
        ),
        (
            vec!["-", "-o", p(&out), "--format", "s17le", "--rate", "8k"],
            "unknown",
        ),
        (vec!["-", "-o", p(&out), "--format", "s16le"], "--rate"),
        (
            vec!["-", "-o", p(&out), "--format", "s16le", "--rate", "0"],
            "rate",
        ),
        (
            vec![
                "-",
                "-o",
                p(&out),
                "--format",
                "s16le",
                "--rate",
                "8k",
                "--channels",
                "0",
            ],
            "channels",
        ),
        (
            vec![p(&good), "-o", p(&out), "--noise-clip", p(&clip44)],
            "44100",
        ),
        (
            vec![p(&good), "-o", p(&out), "--reduction-db=-3"],
            "reduction",
        ),
        (vec![p(&good), "-o", p(&out), "--preset", "nope"], "nope"),
        (vec![p(&good), "-o", p(&nodir)], "o.wav"),
        (vec![p(&missing), "-o", p(&out)], "missing"),
    ];
    let before = files_in(d);
    for (args, what) in cases {
        let o = run(&args, Some(Vec::new()));
        assert!(!o.status.success(), "{args:?} should fail");
        let e = stderr(&o);
        assert!(e.contains(what), "{args:?}: message lacks '{what}': {e}");
        assert!(!e.contains("panicked"), "{args:?}: {e}");
        assert_eq!(files_in(d), before, "{args:?} left a file behind");
    }
}

#[test]
fn nan_input_succeeds_with_a_warning_and_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = signal(8000, 9);
    let bad = [100usize, 2500, 2501, 7000];
    let inp = dir.path().join("nan.wav");
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&inp, spec).unwrap();
        for (i, v) in x.iter().enumerate() {
            let s = match bad.iter().position(|&b| b == i) {
                Some(0) => f32::NAN,
                Some(1) => f32::INFINITY,
                Some(2) => f32::NEG_INFINITY,
                Some(_) => f32::NAN,
                None => *v as f32,
            };
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }
    let out = dir.path().join("nan-out.wav");
    let o = run(
        &[p(&inp), "-o", p(&out), "--reduction-db", NEARLY_OPEN],
        None,
    );
    ok(&o);
    let e = stderr(&o);
    assert!(e.contains("NaN"), "{e}");
    assert!(e.contains("4 NaN/Inf"), "count reported: {e}");
    let (_, y) = read_wav(&out);
    for &b in &bad {
        x[b] = 0.0;
    }
    assert_eq!(y.len(), x.len());
    for (i, (a, b)) in x.iter().zip(&y).enumerate() {
        assert!(
            b.is_finite() && (a - b).abs() < 1e-5,
            "sample {i}: {a} vs {b}"
        );
    }
}

#[test]
fn raw_input_rates_accept_k_suffixes_and_become_the_wav_rate() {
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<i16> = signal(4410, 2)
        .iter()
        .map(|v| (v * 20000.0) as i16)
        .collect();
    for (arg, hz) in [("24k", 24_000), ("44.1k", 44_100), ("16000", 16_000)] {
        let out = dir.path().join(format!("r{hz}.wav"));
        ok(&run(
            &["-", "-o", p(&out), "--format", "s16le", "--rate", arg],
            Some(s16le(&x)),
        ));
        let (spec, y) = read_exact(&out);
        assert_eq!(spec.sample_rate, hz);
        assert_eq!(
            spec.bits_per_sample, 16,
            "WAV output takes the raw sample type"
        );
        assert_eq!(y.len(), x.len());
    }
}

#[test]
fn stereo_channels_stay_independent() {
    let dir = tempfile::tempdir().unwrap();
    let left = signal(16000, 11);
    let x: Vec<f64> = left.iter().flat_map(|&l| [l, 0.0]).collect();
    let inp = dir.path().join("st.wav");
    write_wav(&inp, Fmt::F32, 16000, 2, &x);
    let out = dir.path().join("st-out.wav");
    ok(&run(&[p(&inp), "-o", p(&out)], None));
    let (spec, y) = read_wav(&out);
    assert_eq!(spec.channels, 2);
    assert_eq!(y.len(), x.len());
    let right_peak = y
        .iter()
        .skip(1)
        .step_by(2)
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let left_rms = (y.iter().step_by(2).map(|v| v * v).sum::<f64>() / left.len() as f64).sqrt();
    assert_eq!(right_peak, 0.0, "the silent channel stays silent");
    assert!(
        left_rms > 0.05,
        "the left channel carries the signal: {left_rms}"
    );
}

#[test]
fn three_channel_s24_files_pass_through_with_the_gate_open() {
    let dir = tempfile::tempdir().unwrap();
    let x = signal(3 * 5000, 12);
    let inp = dir.path().join("3ch.wav");
    write_wav(&inp, Fmt::S24, 22050, 3, &x);
    let out = dir.path().join("3ch-out.wav");
    ok(&run(&[p(&inp), "-o", p(&out), "--reduction-db", "0"], None));
    let (spec, y) = read_exact(&out);
    let (_, a) = read_exact(&inp);
    assert_eq!(spec.channels, 3);
    assert_eq!(y.len(), a.len());
    let worst = a.iter().zip(&y).map(|(u, v)| (u - v).abs()).max().unwrap();
    assert!(worst <= 1, "{worst} LSB");
}

#[test]
fn wav_input_streams_to_stdout_in_its_own_sample_type() {
    let dir = tempfile::tempdir().unwrap();
    let x = signal(5000, 13);
    let inp = dir.path().join("w.wav");
    write_wav(&inp, Fmt::F32, 24000, 1, &x);
    let o = run(&[p(&inp), "-o", "-", "--preset", "digital"], None);
    ok(&o);
    let y: Vec<f32> = o
        .stdout
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // Time-aligned on stdout, as in a file: the same samples, no leading latency.
    assert_eq!(y.len(), x.len());
    assert!(y.iter().zip(&x).all(|(a, b)| *a == *b as f32));
    // And as s16 big-endian when asked.
    let o = run(
        &[
            p(&inp),
            "-o",
            "-",
            "--preset",
            "digital",
            "--out-format",
            "s16be",
        ],
        None,
    );
    ok(&o);
    assert_eq!(o.stdout.len(), 2 * x.len());
    let v = i16::from_be_bytes([o.stdout[20], o.stdout[21]]);
    assert_eq!(v as i32, ((x[10] as f32 as f64) * 32768.0).round() as i32);
}

#[test]
fn truncated_wav_is_processed_up_to_its_end_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("full.wav");
    write_wav(&inp, Fmt::S16, 8000, 2, &signal(2 * 4000, 14));
    let mut bytes = std::fs::read(&inp).unwrap();
    // Keep the header (44 bytes) and 1000.5 frames of data.
    bytes.truncate(44 + 1000 * 4 + 2);
    let cut = dir.path().join("cut.wav");
    std::fs::write(&cut, &bytes).unwrap();
    let out = dir.path().join("cut-out.wav");
    let o = run(&[p(&cut), "-o", p(&out), "--preset", "digital"], None);
    ok(&o);
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
    let (_, y) = read_exact(&out);
    let (_, a) = read_exact(&inp);
    assert_eq!(y.len(), 2 * 1000);
    assert_eq!(y[..], a[..2000]);
}

#[test]
fn a_noise_clip_with_another_channel_count_sets_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("sig.wav");
    write_wav(&inp, Fmt::S16, 8000, 1, &signal(8000, 15));
    let clip = dir.path().join("clip.wav");
    write_wav(&clip, Fmt::S16, 8000, 2, &signal(2 * 8000, 16));
    let out = dir.path().join("sig-out.wav");
    ok(&run(
        &[p(&inp), "-o", p(&out), "--noise-clip", p(&clip)],
        None,
    ));
    assert_eq!(read_wav(&out).1.len(), 8000);
}

#[test]
fn integer_output_clips_and_reports_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let x: Vec<f64> = (0..4000)
        .map(|i| if (1000..1010).contains(&i) { 1.5 } else { 0.1 })
        .collect();
    let inp = dir.path().join("hot.wav");
    write_wav(&inp, Fmt::F32, 8000, 1, &x);
    let out = dir.path().join("hot16.wav");
    let o = run(
        &[
            p(&inp),
            "-o",
            p(&out),
            "--preset",
            "digital",
            "--out-format",
            "s16",
        ],
        None,
    );
    ok(&o);
    assert!(
        stderr(&o).contains("10 samples were clipped"),
        "{}",
        stderr(&o)
    );
    let (spec, y) = read_exact(&out);
    assert_eq!(spec.bits_per_sample, 16);
    assert_eq!(y[1005], 32767);
    assert_eq!(y[0], (0.1f32 as f64 * 32768.0).round() as i64);
}

#[test]
fn a_live_pipe_emits_each_short_read_without_waiting_for_more_input() {
    use std::io::Read;
    let mut child = Command::new(BIN)
        .args([
            "filter",
            "-",
            "-o",
            "-",
            "--format",
            "s16le",
            "--rate",
            "8k",
            "-q",
            "--carry-latency",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // 1000 frames: far less than a processing block; stdin stays open.
    let x: Vec<i16> = signal(1000, 31)
        .iter()
        .map(|v| (v * 9000.0) as i16)
        .collect();
    stdin.write_all(&s16le(&x)).unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 2 * 1000];
        let r = stdout.read_exact(&mut buf);
        tx.send(r.is_ok()).unwrap();
        stdout
    });
    // A guard against hanging, not a speed requirement.
    let got = rx.recv_timeout(std::time::Duration::from_secs(60));
    drop(stdin);
    let mut stdout = reader.join().unwrap();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(got, Ok(true), "no output while the input pipe stayed open");
    assert!(status.success());
    assert_eq!(
        rest.len(),
        2 * voice_latency(8000),
        "then the latency tail at EOF"
    );
}

/// Sends SIGINT to one child by its id.
fn interrupt(child: &std::process::Child) {
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Spawns `specgate filter` and waits for its first stderr line (printed once the input is open
/// and the interrupt handler is in place).
fn spawn_and_wait_ready(
    args: &[&str],
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
) {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .arg("filter")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("latency"), "{line}");
    (child, err)
}

#[test]
fn interrupting_a_stdin_recording_keeps_what_was_recorded() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.wav");
    let (mut child, mut err) =
        spawn_and_wait_ready(&["-", "-o", p(&out), "--format", "s16le", "--rate", "8k"]);
    let mut stdin = child.stdin.take().unwrap();
    let x: Vec<i16> = signal(4000, 41)
        .iter()
        .map(|v| (v * 9000.0) as i16)
        .collect();
    stdin.write_all(&s16le(&x)).unwrap();
    interrupt(&child);
    // The source keeps streaming until specgate stops reading (then the pipe breaks).
    let mut sent = 4000;
    while sent < 4000 * 10_000 && stdin.write_all(&s16le(&x)).is_ok() {
        sent += 4000;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(stdin);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    // The recording is kept, and the exit status still tells the signal (128 + SIGINT).
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    let n = read_wav(&out).1.len();
    assert!(n >= 4000 && n <= sent, "{n} of {sent} frames kept");
}

#[test]
fn interrupting_a_file_input_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    // A FIFO is a file input whose pace the test controls.
    let fifo = dir.path().join("in.fifo");
    common::mkfifo(&fifo);
    let out = dir.path().join("out.wav");
    let fifo2 = fifo.clone();
    let feeder = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo2)
            .unwrap();
        let block = vec![0u8; 8000];
        // Keeps writing until the reader is gone (EPIPE).
        for _ in 0..10_000 {
            if f.write_all(&block).is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    let args = [p(&fifo), "-o", p(&out), "--format", "s16le", "--rate", "8k"];
    let (mut child, mut err) = spawn_and_wait_ready(&args);
    interrupt(&child);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    feeder.join().unwrap();
    assert!(!status.success());
    assert!(
        rest.contains("interrupted") && rest.contains("no output"),
        "{rest}"
    );
    assert_eq!(files_in(dir.path()), vec![fifo]);
}

#[test]
fn a_device_output_is_written_in_place_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("d.wav");
    write_wav(&inp, Fmt::S16, 8000, 1, &signal(3000, 51));
    ok(&run(&[p(&inp), "-o", "/dev/null"], None));
    use std::os::unix::fs::FileTypeExt;
    let m = std::fs::metadata("/dev/null").unwrap();
    assert!(
        m.file_type().is_char_device(),
        "/dev/null is still a device"
    );
}

#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("long.wav");
    // 1.9 MB of samples: far more than a pipe buffer holds.
    write_wav(&inp, Fmt::S16, 48000, 2, &signal(2 * 480_000, 61));
    let mut child = Command::new(BIN)
        .args(["filter", p(&inp), "-o", "-", "--preset", "digital"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 1000];
    out.read_exact(&mut first).unwrap();
    drop(out); // the player quits
    let o = child.wait_with_output().unwrap();
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("pipe was closed"), "{e}");
}

#[test]
fn a_missing_input_is_named_with_its_os_reason_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.wav");
    let out = dir.path().join("out.wav");
    let o = run(&[p(&missing), "-o", p(&out)], None);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("nope.wav"), "{e}");
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    assert!(files_in(dir.path()).is_empty());
}

/// Filter parameters that may be negative take a negative number as a value (clap would read
/// `-3` as a flag): `--threshold-db -3`, `--keep-floor-db -6`; out-of-range values are refused.
#[test]
fn negative_parameter_values_are_values_not_flags() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.wav");
    let out = dir.path().join("out.wav");
    write_wav(&inp, Fmt::S16, 8000, 1, &signal(8000, 3));
    let o = run(
        &[
            p(&inp),
            "-o",
            p(&out),
            "--threshold-db",
            "-3",
            "--keep-floor-db",
            "-6",
        ],
        None,
    );
    ok(&o);
    let o = run(&[p(&inp), "-o", p(&out), "--keep-floor-db", "-70"], None);
    assert!(!o.status.success(), "keep_floor_db -70 accepted");
    assert!(stderr(&o).contains("keep_floor_db"), "{}", stderr(&o));
}
