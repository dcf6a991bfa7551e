//! The one stream path, end to end through the `specgate` binary: inputs that are not regular
//! files lose no byte, I/Q metadata survives a round trip, `spectrogram` detects I/Q as `filter`
//! and `info` do, and one timing rule holds on every output.

mod common;

use common::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_specgate");

fn specgate(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "specgate failed: {e}");
    e
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `specgate filter FIFO …` while a thread writes `bytes` into the FIFO.
fn filter_from_fifo(fifo: &Path, bytes: Vec<u8>, rest: &[&str]) -> Output {
    let f2 = fifo.to_path_buf();
    let feeder = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(&f2).unwrap();
        // Small writes: the reader sees many short reads, the first of them 3 bytes.
        let _ = f.write_all(&bytes[..3]);
        for c in bytes[3..].chunks(1000) {
            if f.write_all(c).is_err() {
                break;
            }
        }
    });
    let mut args = vec!["filter", p(fifo)];
    args.extend_from_slice(rest);
    let o = specgate(&args);
    feeder.join().unwrap();
    o
}

fn noise_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| (r.uniform() * 256.0) as u8).collect()
}

#[test]
fn a_fifo_input_gives_byte_for_byte_the_output_of_the_same_file_raw_and_wav() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Raw s24le: a lost byte would misalign every sample after it.
    let raw = noise_bytes(3 * 8000, 7);
    let file = d.join("x.s24");
    std::fs::write(&file, &raw).unwrap();
    let fmt = ["-f", "s24le", "-r", "8k"];
    let from_file = d.join("file.raw");
    ok(&specgate(
        &[&["filter", p(&file), "-o", p(&from_file)][..], &fmt[..]].concat(),
    ));
    let fifo = d.join("in.fifo");
    mkfifo(&fifo);
    let from_fifo = d.join("fifo.raw");
    ok(&filter_from_fifo(
        &fifo,
        raw.clone(),
        &[&["-o", p(&from_fifo)][..], &fmt[..]].concat(),
    ));
    let a = std::fs::read(&from_file).unwrap();
    assert_eq!(a.len(), raw.len());
    assert_eq!(a, std::fs::read(&from_fifo).unwrap());

    // A WAV through the FIFO (it used to fail with "no RIFF tag found").
    let samples: Vec<i16> = (0..2 * 6000)
        .map(|i| ((i * 7919) % 20000 - 10000) as i16)
        .collect();
    let wav = wav16(16_000, 2, &[], &samples, &[]);
    let wfile = d.join("w.wav");
    std::fs::write(&wfile, &wav).unwrap();
    let out_file = d.join("wfile.wav");
    let out_fifo = d.join("wfifo.wav");
    ok(&specgate(&["filter", p(&wfile), "-o", p(&out_file)]));
    ok(&filter_from_fifo(&fifo, wav, &["-o", p(&out_fifo)]));
    let a = data_i16(&std::fs::read(&out_file).unwrap());
    assert_eq!(a.len(), samples.len());
    assert_eq!(a, data_i16(&std::fs::read(&out_fifo).unwrap()));
}

#[test]
fn dev_stdin_as_a_path_loses_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    let raw = noise_bytes(3 * 4000, 8);
    let file = dir.path().join("x.s24");
    std::fs::write(&file, &raw).unwrap();
    let a = dir.path().join("a.raw");
    let b = dir.path().join("b.raw");
    ok(&specgate(&[
        "filter",
        p(&file),
        "-o",
        p(&a),
        "-f",
        "s24le",
        "-r",
        "8k",
    ]));
    let mut child = Command::new(BIN)
        .args([
            "filter",
            "/dev/stdin",
            "-o",
            p(&b),
            "-f",
            "s24le",
            "-r",
            "8k",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&raw).unwrap();
    ok(&child.wait_with_output().unwrap());
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

/// A complex carrier at `f` Hz (amplitude 0.5) in light noise, 16-bit I/Q.
fn carrier_iq(rate: f64, frames: usize, f: f64, seed: u64) -> Vec<i16> {
    let mut r = Rng::new(seed);
    let mut v = Vec::with_capacity(2 * frames);
    for n in 0..frames {
        let ph = 2.0 * std::f64::consts::PI * f * n as f64 / rate;
        v.push(to_i16(0.5 * ph.cos() + 0.01 * r.gauss()));
        v.push(to_i16(0.5 * ph.sin() + 0.01 * r.gauss()));
    }
    v
}

#[test]
fn an_sdruno_named_iq_file_filtered_to_clean_wav_stays_iq_with_its_centre_frequency() {
    let dir = tempfile::tempdir().unwrap();
    // I/Q by its name only: no auxi chunk in the input.
    let input = dir.path().join("SDRuno_20220309_140138Z_7150kHz.wav");
    std::fs::write(
        &input,
        wav16(250_000, 2, &[], &carrier_iq(250e3, 25_000, -50e3, 1), &[]),
    )
    .unwrap();
    let clean = dir.path().join("clean.wav");
    let e = ok(&specgate(&["filter", p(&input), "-o", p(&clean)]));
    assert!(e.contains("IQ (SDRuno file name)"), "{e}");
    let info = specgate(&["info", p(&clean)]);
    let text = String::from_utf8_lossy(&info.stdout).into_owned();
    ok(&info);
    assert!(text.contains("treated as:  IQ"), "{text}");
    assert!(text.contains("centre:      7.150000 MHz"), "{text}");
    assert!(text.contains("start:       2022-03-09T14:01:38"), "{text}");
    assert!(text.contains("auxi"), "{text}");
    // Filtering the output again treats it as I/Q, not as 2-channel audio.
    let again = dir.path().join("again.wav");
    let e = ok(&specgate(&["filter", p(&clean), "-o", p(&again)]));
    assert!(e.contains("IQ (auxi chunk"), "{e}");
    // SigMF output carries the centre frequency in its metadata.
    let sig = dir.path().join("clean.sigmf-meta");
    ok(&specgate(&["filter", p(&input), "-o", p(&sig)]));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sig).unwrap()).unwrap();
    assert_eq!(meta["captures"][0]["core:frequency"], 7_150_000.0);
    assert_eq!(meta["global"]["core:datatype"], "ci16_le");
}

/// The image row holding the most energy in the middle third of the columns (the carrier's
/// ridge), below the title.
fn ridge_row(png_path: &Path) -> usize {
    let dec = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let bpp = info.line_size / w;
    let row_sum = |y: usize| -> u64 {
        (w / 3..2 * w / 3)
            .map(|x| {
                let px = &buf[y * info.line_size + x * bpp..][..3];
                px.iter().map(|&c| c as u64).sum::<u64>()
            })
            .sum()
    };
    // Below the title, above the time axis and its labels.
    (50..h - 80).max_by_key(|&y| row_sum(y)).unwrap()
}

#[test]
fn spectrogram_draws_a_negative_carrier_of_an_sdruno_named_file_below_the_centre() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for (f, name) in [(-50e3, "neg"), (50e3, "pos")] {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        let input = d.join("SDRuno_20220309_140138Z_7150kHz.wav");
        std::fs::write(
            &input,
            wav16(250_000, 2, &[], &carrier_iq(250e3, 25_000, f, 2), &[]),
        )
        .unwrap();
        let png = d.join("s.png");
        let e = ok(&specgate(&[
            "spectrogram",
            p(&input),
            "-o",
            p(&png),
            "--title",
            "t",
        ]));
        assert!(e.contains("I/Q (SDRuno file name)"), "{e}");
        // Detection gives exactly the picture of an explicit --iq with the centre from the name.
        let plain = d.join("plain.wav");
        std::fs::copy(&input, &plain).unwrap();
        let png2 = d.join("explicit.png");
        ok(&specgate(&[
            "spectrogram",
            p(&plain),
            "-o",
            p(&png2),
            "--title",
            "t",
            "--iq",
            "--center-freq",
            "7150k",
        ]));
        assert_eq!(std::fs::read(&png).unwrap(), std::fs::read(&png2).unwrap());
        rows.push(ridge_row(&png));
    }
    // Image rows grow downwards: −50 kHz is drawn well below +50 kHz (a real-valued drawing
    // would put both on the same row).
    assert!(rows[0] > rows[1] + 50, "ridge rows {rows:?}");
}

#[test]
fn spectrogram_reads_cu8_and_sigmf_recordings() {
    let dir = tempfile::tempdir().unwrap();
    let cu8: Vec<u8> = carrier_iq(48e3, 9600, 6e3, 3)
        .iter()
        .map(|&v| ((v as f64 / 32768.0) * 127.5 + 127.5).round() as u8)
        .collect();
    let raw = dir.path().join("rec.cu8");
    std::fs::write(&raw, &cu8).unwrap();
    let png = dir.path().join("cu8.png");
    let e = ok(&specgate(&[
        "spectrogram",
        p(&raw),
        "-o",
        p(&png),
        "--rate",
        "48k",
    ]));
    assert!(e.contains("I/Q (raw IQ extension .cu8)"), "{e}");
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    // The same samples as SigMF (written by filter with the gate open).
    let sig = dir.path().join("rec.sigmf-meta");
    ok(&specgate(&[
        "filter",
        p(&raw),
        "-o",
        p(&sig),
        "-r",
        "48k",
        "--reduction-db",
        "0",
    ]));
    let png2 = dir.path().join("sigmf.png");
    let e = ok(&specgate(&["spectrogram", p(&sig), "-o", p(&png2)]));
    assert!(e.contains("I/Q (SigMF datatype)"), "{e}");
}

#[test]
fn unknown_output_extensions_and_live_timing_on_a_file_are_errors_that_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.wav");
    std::fs::write(&input, wav16(8000, 1, &[], &vec![100i16; 4000], &[])).unwrap();
    for (out, extra, want) in [
        ("x.flac", None, ".flac"),
        ("noext", None, "no extension"),
        ("x.wav", Some("--carry-latency"), "--carry-latency"),
    ] {
        let o = dir.path().join(out);
        let mut args = vec!["filter", p(&input), "-o", p(&o)];
        args.extend(extra);
        let r = specgate(&args);
        let e = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(!r.status.success(), "{out}: {e}");
        assert!(e.contains(want), "{out}: {e}");
        assert!(!o.exists());
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn audio_and_iq_on_stdout_follow_one_timing_rule() {
    let dir = tempfile::tempdir().unwrap();
    // Audio and I/Q, 5000 frames each: aligned by default, latency carried with --carry-latency.
    let audio = dir.path().join("a.wav");
    std::fs::write(&audio, wav16(8000, 1, &[], &vec![1000i16; 5000], &[])).unwrap();
    let iq = dir.path().join("SDRuno_20220309_140138Z_7150kHz.wav");
    std::fs::write(
        &iq,
        wav16(48_000, 2, &[], &carrier_iq(48e3, 5000, 1e3, 4), &[]),
    )
    .unwrap();
    for (input, frame_bytes) in [(&audio, 2usize), (&iq, 4)] {
        let aligned = specgate(&["filter", p(input), "-o", "-"]);
        ok(&aligned);
        assert_eq!(aligned.stdout.len(), 5000 * frame_bytes, "{input:?}");
        let live = specgate(&["filter", p(input), "-o", "-", "--carry-latency"]);
        let e = ok(&live);
        let lat: usize = e
            .split("latency ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{e}"));
        assert!(lat > 0);
        assert_eq!(live.stdout.len(), (5000 + lat) * frame_bytes, "{input:?}");
    }
}
