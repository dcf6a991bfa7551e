//! `specgate filter` on IQ recordings and raw IQ pipes: the real binary, inputs built here.

mod common;

use common::*;
use std::f64::consts::PI;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_specgate");

/// Latency of the `iq` preset (frame 4096): frame − 1 samples, as `filter_iq_file` reports it.
const IQ_LATENCY: usize = 4095;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    let e = stderr(o);
    assert!(o.status.success(), "specgate failed: {e}");
    e
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// An SDRuno-style IQ WAV: `auxi` before the data, LIST after it. (No odd-sized chunk: the
/// audio path's WAV reader, reached with `--no-iq`, does not skip pad bytes.)
fn sdruno_wav(samples: &[i16], with_auxi: bool) -> Vec<u8> {
    let mut pre = Vec::new();
    if with_auxi {
        pre.push((b"auxi", auxi164(7_150_000)));
    }
    wav16(
        250_000,
        2,
        &pre,
        samples,
        &[(b"LIST", b"INFOISFT\x05\0\0\0SDRun\0".to_vec())],
    )
}

#[test]
fn open_gate_returns_an_auxi_iq_wav_with_identical_chunks_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let samples = noise_iq(12_500, 1);
    // With an odd-sized chunk (and its pad byte) too.
    let wav = wav16(
        250_000,
        2,
        &[(b"auxi", auxi164(7_150_000)), (b"odd ", vec![1, 2, 3])],
        &samples,
        &[(b"LIST", b"INFOISFT\x05\0\0\0SDRun\0".to_vec())],
    );
    let input = dir.path().join("in.wav");
    let output = dir.path().join("out.wav");
    std::fs::write(&input, &wav).unwrap();
    let e = ok(&specgate(
        &["filter", p(&input), "-o", p(&output), "--reduction-db", "0"],
        None,
    ));
    assert!(e.contains("IQ (auxi chunk"), "{e}");
    assert!(e.contains("preset iq"), "{e}");
    assert!(e.contains("mean attenuation"), "{e}");
    let out = std::fs::read(&output).unwrap();
    assert_eq!(data_i16(&out), samples);
    assert_eq!(out, wav, "every chunk and byte kept");
    // No temp file is left next to the output.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2);
}

#[test]
fn the_gate_runs_on_an_auxi_iq_wav_and_keeps_its_length_and_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let samples = noise_iq(12_500, 2);
    let wav = sdruno_wav(&samples, true);
    let input = dir.path().join("in.wav");
    let output = dir.path().join("out.wav");
    std::fs::write(&input, &wav).unwrap();
    let e = ok(&specgate(&["filter", p(&input), "-o", p(&output)], None));
    assert!(e.contains(&format!("latency {IQ_LATENCY} samples")), "{e}");
    let out = std::fs::read(&output).unwrap();
    // Same header bytes up to the samples, same length, and the noise is attenuated.
    assert_eq!(out.len(), wav.len());
    let data_at = wav.windows(4).position(|w| w == b"data").unwrap() + 8;
    let data_end = data_at + 2 * samples.len();
    assert_eq!(out[..data_at], wav[..data_at], "header chunks");
    assert_eq!(out[data_end..], wav[data_end..], "LIST after the data");
    let y = data_i16(&out);
    assert_eq!(y.len(), samples.len());
    let pow = |v: &[i16]| v.iter().map(|&s| (s as f64).powi(2)).sum::<f64>();
    assert!(pow(&y) < 0.5 * pow(&samples), "noise not attenuated");
}

#[test]
fn an_iq_wav_is_detected_by_its_auxi_chunk_and_by_an_sdruno_name_only() {
    let dir = tempfile::tempdir().unwrap();
    let samples = noise_iq(12_500, 3);
    let cases = [
        ("plain.wav", true, "IQ (auxi chunk on a 2-channel WAV)"),
        (
            "SDRuno_20220309_140138Z_7150kHz.wav",
            false,
            "IQ (SDRuno file name)",
        ),
    ];
    for (name, auxi, reason) in cases {
        let input = dir.path().join(name);
        std::fs::write(&input, sdruno_wav(&samples, auxi)).unwrap();
        let output = dir.path().join(format!("out-{name}"));
        let e = ok(&specgate(
            &["filter", p(&input), "-o", p(&output), "--reduction-db", "0"],
            None,
        ));
        assert!(e.contains(reason), "{name}: {e}");
        assert_eq!(data_i16(&std::fs::read(&output).unwrap()), samples);
    }
    // Neither: an ordinary stereo WAV goes the audio way.
    let input = dir.path().join("stereo.wav");
    std::fs::write(&input, sdruno_wav(&samples, false)).unwrap();
    let output = dir.path().join("out-stereo.wav");
    let e = ok(&specgate(
        &["filter", p(&input), "-o", p(&output), "--reduction-db", "0"],
        None,
    ));
    assert!(!e.contains("IQ ("), "{e}");
    assert!(e.contains("250000 Hz, 2 ch"), "{e}");
    // Unless --iq says otherwise.
    let e = ok(&specgate(
        &[
            "filter",
            p(&input),
            "-o",
            p(&output),
            "--iq",
            "--reduction-db",
            "0",
        ],
        None,
    ));
    assert!(e.contains("IQ (--iq)"), "{e}");
}

#[test]
fn no_iq_filters_an_auxi_wav_as_stereo_audio() {
    let dir = tempfile::tempdir().unwrap();
    let samples = noise_iq(12_500, 4);
    let input = dir.path().join("SDRuno_20220309_140138Z_7150kHz.wav");
    std::fs::write(&input, sdruno_wav(&samples, true)).unwrap();
    let output = dir.path().join("out.wav");
    let e = ok(&specgate(
        &[
            "filter",
            p(&input),
            "-o",
            p(&output),
            "--no-iq",
            "--reduction-db",
            "0",
        ],
        None,
    ));
    assert!(!e.contains("IQ ("), "{e}");
    assert!(e.contains("250000 Hz, 2 ch"), "{e}");
    let out = std::fs::read(&output).unwrap();
    // One WAV writer for audio and I/Q: the samples are kept; the `auxi` chunk that marks a
    // WAV as I/Q is not carried into an audio output, so filtering it again stays audio.
    assert_eq!(data_i16(&out), samples);
    assert!(!out.windows(4).any(|w| w == b"auxi"));
}

/// cu8 bytes: x = (b − 127.5) / 127.5, rounded and clamped.
fn to_cu8(x: f64) -> u8 {
    (x * 127.5 + 127.5).round().clamp(0.0, 255.0) as u8
}

#[test]
fn a_cu8_pipe_comes_back_time_aligned_and_as_long_as_its_input() {
    // 0.1 s at 2.4 MS/s: noise (σ 0.02) and, from frame K0 on, a carrier of amplitude 0.5 at
    // +300 kHz. The stream convention of filter_iq_stream is time-aligned: same length, the
    // latency trimmed. Had the latency been carried, the first 4095 frames after K0 would be
    // gated noise.
    const RATE: f64 = 2_400_000.0;
    const N: usize = 240_000;
    const K0: usize = 120_000;
    let mut r = Rng::new(5);
    let mut input = Vec::with_capacity(2 * N);
    for k in 0..N {
        let (mut i, mut q) = (0.02 * r.gauss(), 0.02 * r.gauss());
        if k >= K0 {
            let ph = 2.0 * PI * 300_000.0 * k as f64 / RATE;
            i += 0.5 * ph.cos();
            q += 0.5 * ph.sin();
        }
        input.push(to_cu8(i));
        input.push(to_cu8(q));
    }
    let o = specgate(
        &[
            "filter", "-", "-o", "-", "--format", "cu8", "--rate", "2.4M",
        ],
        Some(&input),
    );
    let e = ok(&o);
    assert!(e.contains("IQ (--format cu8)"), "{e}");
    assert!(e.contains("raw IQ cu8, 2400000 Hz"), "{e}");
    assert!(e.contains(&format!("latency {IQ_LATENCY} samples")), "{e}");
    assert!(e.contains("mean attenuation"), "{e}");
    let y = &o.stdout;
    assert_eq!(y.len(), input.len(), "same length as the input");
    let power = |b: &[u8], from: usize, to: usize| {
        b[2 * from..2 * to]
            .iter()
            .map(|&v| ((v as f64 - 127.5) / 127.5).powi(2))
            .sum::<f64>()
            / (to - from) as f64
    };
    // Carrier power is 0.25 (|z|² summed over I and Q): right after K0 it is there already.
    // Carried latency would put gated noise (< 0.001) there; the 1 ms attack of the gain
    // smoothing lets the carrier in within ~2400 frames.
    let onset = power(y, K0 + 200, K0 + 3_000);
    assert!(onset > 0.1, "carrier power just after its onset: {onset}");
    let steady = power(y, K0 + 10_000, N - 10_000);
    assert!(
        (steady - 0.25).abs() < 0.025,
        "steady carrier power {steady}, expected 0.25"
    );
    // And the noise-only first half is attenuated (the gate is closed on it).
    let before_in = power(&input, 10_000, K0 - 10_000);
    let before_out = power(y, 10_000, K0 - 10_000);
    assert!(
        before_out < 0.5 * before_in,
        "noise {before_in} -> {before_out}"
    );
}

#[test]
fn a_cu8_pipe_with_the_gate_open_is_copied_byte_for_byte() {
    let mut r = Rng::new(6);
    let input: Vec<u8> = (0..2 * 50_000).map(|_| to_cu8(0.1 * r.gauss())).collect();
    let o = specgate(
        &[
            "filter",
            "-",
            "-o",
            "-",
            "--format",
            "cu8",
            "--rate",
            "2.4M",
            "--reduction-db",
            "0",
        ],
        Some(&input),
    );
    ok(&o);
    assert_eq!(o.stdout, input);
}

#[test]
fn audio_format_names_stay_audio_on_a_pipe() {
    // `u8` is audio (mono, 8-bit): the audio path with its stderr line, not IQ.
    let input = vec![128u8; 4_800];
    let o = specgate(
        &[
            "filter",
            "-",
            "-o",
            "-",
            "--format",
            "u8",
            "--rate",
            "48k",
            "--reduction-db",
            "0",
        ],
        Some(&input),
    );
    let e = ok(&o);
    assert!(!e.contains("IQ ("), "{e}");
    assert!(e.contains("48000 Hz, 1 ch"), "{e}");
}

#[test]
fn a_band_is_accepted_and_a_bad_band_is_a_clear_error_without_output() {
    let dir = tempfile::tempdir().unwrap();
    // 0.5 s: each of the 8 floor-estimate segments must hold a whole 4096-sample frame, or
    // the library ignores --band (with a warning).
    let samples = noise_iq(125_000, 7);
    let input = dir.path().join("in.wav");
    std::fs::write(&input, sdruno_wav(&samples, true)).unwrap();
    let output = dir.path().join("out.wav");
    let e = ok(&specgate(
        &[
            "filter",
            p(&input),
            "-o",
            p(&output),
            "--band",
            "-50k:+120k",
            "--outside",
            "blank",
        ],
        None,
    ));
    assert!(!e.contains("ignored"), "{e}");
    assert_eq!(
        data_i16(&std::fs::read(&output).unwrap()).len(),
        samples.len()
    );
    std::fs::remove_file(&output).unwrap();
    for (bad, says) in [
        ("5k:1k", "low edge must be below the high edge"),
        ("abc", "expected LOW:HIGH"),
        ("-50k:x", "'x' is not a frequency"),
    ] {
        let o = specgate(
            &["filter", p(&input), "-o", p(&output), "--band", bad],
            None,
        );
        assert!(!o.status.success(), "--band {bad} accepted");
        let e = stderr(&o);
        assert!(e.contains(says), "--band {bad}: {e}");
        assert!(!output.exists(), "--band {bad} left an output file");
    }
}

#[test]
fn an_iq_file_is_never_written_over_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let wav = sdruno_wav(&noise_iq(12_500, 8), true);
    let input = dir.path().join("in.wav");
    std::fs::write(&input, &wav).unwrap();
    let o = specgate(&["filter", p(&input), "-o", p(&input)], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("overwrite the input"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&input).unwrap(), wav);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn an_explicit_preset_wins_over_the_iq_default() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.wav");
    std::fs::write(&input, sdruno_wav(&noise_iq(12_500, 9), true)).unwrap();
    let output = dir.path().join("out.wav");
    let e = ok(&specgate(
        &["filter", p(&input), "-o", p(&output), "--preset", "voice"],
        None,
    ));
    assert!(e.contains("preset voice"), "{e}");
    assert!(!e.contains(&format!("latency {IQ_LATENCY} samples")), "{e}");
}

#[test]
fn a_sigmf_recording_goes_the_iq_way_and_keeps_its_samples_with_the_gate_open() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/iq");
    for f in ["capture.sigmf-meta", "capture.sigmf-data"] {
        std::fs::copy(data.join(f), dir.path().join(f)).unwrap();
    }
    let input = dir.path().join("capture.sigmf-meta");
    let output = dir.path().join("clean.sigmf-meta");
    let e = ok(&specgate(
        &["filter", p(&input), "-o", p(&output), "--reduction-db", "0"],
        None,
    ));
    assert!(e.contains("IQ (SigMF datatype)"), "{e}");
    assert_eq!(
        std::fs::read(dir.path().join("clean.sigmf-data")).unwrap(),
        std::fs::read(data.join("capture.sigmf-data")).unwrap()
    );
}

#[test]
fn an_iq_wav_streams_its_samples_to_stdout_as_raw_cs16le() {
    let dir = tempfile::tempdir().unwrap();
    let samples = noise_iq(12_500, 10);
    let input = dir.path().join("in.wav");
    std::fs::write(&input, sdruno_wav(&samples, true)).unwrap();
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let open = specgate(
        &["filter", p(&input), "-o", "-", "--reduction-db", "0"],
        None,
    );
    ok(&open);
    assert_eq!(open.stdout, bytes, "the data chunk, without header or LIST");
    let gated = specgate(&["filter", p(&input), "-o", "-"], None);
    let e = ok(&gated);
    assert!(e.contains("raw IQ cs16le, 250000 Hz"), "{e}");
    assert_eq!(gated.stdout.len(), bytes.len(), "time-aligned: same length");
}

#[test]
fn a_cu8_stream_from_stdin_is_written_to_a_raw_file_and_not_to_a_wav() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Rng::new(11);
    let input: Vec<u8> = (0..2 * 50_000).map(|_| to_cu8(0.1 * r.gauss())).collect();
    let out = dir.path().join("clean.cu8");
    let args = |o: &Path| {
        [
            "filter",
            "-",
            "-o",
            p(o),
            "--format",
            "cu8",
            "--rate",
            "2.4M",
            "--reduction-db",
            "0",
        ]
        .map(String::from)
    };
    let a = args(&out);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    ok(&specgate(&refs, Some(&input)));
    assert_eq!(std::fs::read(&out).unwrap(), input);
    let wav = dir.path().join("clean.wav");
    let a = args(&wav);
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = specgate(&refs, Some(&input));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("written as raw cu8"), "{}", stderr(&o));
    assert!(!wav.exists());
}

#[test]
fn interrupting_an_iq_file_leaves_no_output_and_no_temp_file() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    // A sparse 100 MB cu8 file (50 M complex samples): far longer than the time to interrupt.
    let input = dir.path().join("long.cu8");
    std::fs::File::create(&input)
        .unwrap()
        .set_len(100_000_000)
        .unwrap();
    let output = dir.path().join("out.cu8");
    let mut child = Command::new(BIN)
        .args(["filter", p(&input), "-o", p(&output), "--rate", "2.4M"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.contains("IQ ("), "{first}");
    // The handler is in place before that line; let the temp file appear.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("no output file was written"), "{rest}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("long.cu8")]);
}
