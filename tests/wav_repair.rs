//! The one RIFF/RF64 reader as users meet it, through `specgate filter` and `specgate info`:
//! RF64 audio, broken `data` sizes repaired with a warning, padded odd-sized chunks, `LIST`
//! carried byte for byte, WAVs from a pipe, forged headers refused without a panic.
//!
//! Every input is assembled byte by byte here (not with specgate's writer), and outputs are read
//! back by the small chunk walker below (hound cannot be the oracle: it rejects padded odd-sized
//! chunks, one of the defects fixed here).

mod common;

use common::{chunk, fmt16, specgate, wav16_chunks};
use std::io::Write;
use std::path::Path;
use std::process::Output;

/// 16-bit samples of a fixed pseudo-random signal.
fn samples(n: usize) -> Vec<i16> {
    let mut s = 0x2545_f491_u32;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 16) as i16 / 4
        })
        .collect()
}

fn pcm(x: &[i16]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A RIFF WAVE at 8 kHz: `before` chunks (after `fmt `), `data` with the given size field,
/// `after`.
fn riff(
    ch: u16,
    x: &[i16],
    size_field: Option<u32>,
    before: &[Vec<u8>],
    after: &[Vec<u8>],
) -> Vec<u8> {
    wav16_chunks(8000, ch, before, x, after, size_field)
}

/// An RF64 WAVE (EBU Tech 3306): `ds64` first, 0xFFFFFFFF in the RIFF and `data` size fields.
fn rf64(ch: u16, x: &[i16]) -> Vec<u8> {
    let d = pcm(x);
    let mut ds64 = Vec::new();
    let riff_size = 4 + (8 + 28) + (8 + 16) + 8 + d.len() as u64;
    ds64.extend(riff_size.to_le_bytes());
    ds64.extend((d.len() as u64).to_le_bytes());
    ds64.extend((x.len() as u64 / ch as u64).to_le_bytes());
    ds64.extend(0u32.to_le_bytes());
    let mut v = b"RF64".to_vec();
    v.extend(u32::MAX.to_le_bytes());
    v.extend_from_slice(b"WAVE");
    v.extend(chunk(b"ds64", &ds64));
    v.extend(fmt16(8000, ch));
    v.extend_from_slice(b"data");
    v.extend(u32::MAX.to_le_bytes());
    v.extend(d);
    assert_eq!(v.len() as u64 - 8, riff_size);
    v
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    specgate(args, stdin)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(o));
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

/// The 16-bit samples of a RIFF WAVE written by specgate, by walking its chunks (pad bytes
/// included) to `data`; checks the RIFF size and the `fmt ` on the way.
fn read_out(path: &Path) -> Vec<i16> {
    let b = std::fs::read(path).unwrap();
    let u32at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!(&b[0..4], b"RIFF");
    assert_eq!(&b[8..12], b"WAVE");
    assert_eq!(u32at(4) as usize, b.len() - 8, "RIFF size");
    let mut pos = 12;
    let mut bits = 0;
    while pos + 8 <= b.len() {
        let size = u32at(pos + 4) as usize;
        let body = &b[pos + 8..pos + 8 + size];
        match &b[pos..pos + 4] {
            b"fmt " => bits = u16::from_le_bytes([body[14], body[15]]),
            b"data" => {
                assert_eq!(bits, 16);
                return body
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
            }
            _ => {}
        }
        pos += 8 + size + size % 2;
    }
    panic!("no data chunk in {}", path.display());
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Filters `input` with the bit-exact `digital` preset to a WAV; returns its samples (hound).
fn filter_exact(input: &Path, out: &Path) -> (Output, Vec<i16>) {
    let o = run(
        &["filter", p(input), "-o", p(out), "--preset", "digital"],
        None,
    );
    ok(&o);
    (o, read_out(out))
}

/// The frame count `specgate info` reports.
fn info_frames(path: &Path) -> (u64, String) {
    let o = run(&["info", p(path)], None);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let n = text
        .lines()
        .find(|l| l.starts_with("duration:"))
        .and_then(|l| l.split('(').nth(1))
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in: {text}"));
    (n, text)
}

#[test]
fn an_rf64_audio_file_is_filtered_exactly_like_its_samples() {
    let dir = tempfile::tempdir().unwrap();
    let x = samples(2 * 3000);
    let inp = dir.path().join("in.rf64.wav");
    std::fs::write(&inp, rf64(2, &x)).unwrap();
    let (o, y) = filter_exact(&inp, &dir.path().join("out.wav"));
    assert_eq!(y, x);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    assert_eq!(info_frames(&inp).0, 3000);
}

#[test]
fn data_sizes_of_zero_and_all_ones_are_read_to_the_end_with_a_warning_and_info_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let x = samples(4000);
    for (name, size) in [("zero", 0u32), ("ones", u32::MAX), ("past_eof", 1 << 30)] {
        let inp = dir.path().join(format!("{name}.wav"));
        std::fs::write(&inp, riff(1, &x, Some(size), &[], &[])).unwrap();
        let (o, y) = filter_exact(&inp, &dir.path().join(format!("{name}-out.wav")));
        assert_eq!(y, x, "{name}");
        let err = stderr(&o);
        assert!(
            err.contains("warning") && err.contains("reading to end of file"),
            "{name}: {err}"
        );
        let (frames, text) = info_frames(&inp);
        assert_eq!(frames, x.len() as u64, "{name}: {text}");
        assert!(text.contains("reading to end of file"), "{name}: {text}");
    }
}

#[test]
fn a_padded_odd_sized_auxi_chunk_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let x = samples(1000);
    let auxi: Vec<u8> = (0..39u8).collect();
    let inp = dir.path().join("odd.wav");
    std::fs::write(&inp, riff(1, &x, None, &[chunk(b"auxi", &auxi)], &[])).unwrap();
    let (o, y) = filter_exact(&inp, &dir.path().join("odd-out.wav"));
    assert_eq!(y, x);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

#[test]
fn filter_keeps_list_chunks_before_and_after_the_data_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let x = samples(1500);
    // Odd sizes, so the pad bytes are exercised too.
    let list1 = chunk(b"LIST", b"INFOINAM\x07\0\0\0Night 1\0");
    let list2 = chunk(b"LIST", b"INFOICMT\x05\0\0\0QRM!!\0");
    let inp = dir.path().join("list.wav");
    std::fs::write(
        &inp,
        riff(
            1,
            &x,
            None,
            std::slice::from_ref(&list1),
            std::slice::from_ref(&list2),
        ),
    )
    .unwrap();
    let out = dir.path().join("list-out.wav");
    let (_, y) = filter_exact(&inp, &out);
    assert_eq!(y, x);
    let bytes = std::fs::read(&out).unwrap();
    let at = |c: &[u8]| bytes.windows(c.len()).position(|w| w == c);
    let data_at = at(b"data").unwrap();
    let a = at(&list1).expect("first LIST kept");
    let b = at(&list2).expect("second LIST kept");
    assert!(a < data_at && b > data_at, "order: {a} {data_at} {b}");
}

#[test]
fn a_wav_from_a_fifo_or_stdin_carries_its_list_chunk_after_the_data_like_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let x = samples(3000);
    let list_before = chunk(b"LIST", b"INFOINAM\x07\0\0\0Night 1\0");
    let list_after = chunk(b"LIST", b"INFOICMT\x05\0\0\0QRM!!\0");
    let wav = riff(
        1,
        &x,
        None,
        std::slice::from_ref(&list_before),
        std::slice::from_ref(&list_after),
    );
    let file = dir.path().join("in.wav");
    std::fs::write(&file, &wav).unwrap();
    let from_file = dir.path().join("file-out.wav");
    let (_, y) = filter_exact(&file, &from_file);
    assert_eq!(y, x);

    let fifo = dir.path().join("in.fifo");
    common::mkfifo(&fifo);
    let from_fifo = dir.path().join("fifo-out.wav");
    let (f2, bytes) = (fifo.clone(), wav.clone());
    let feeder = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(&f2).unwrap();
        for c in bytes.chunks(701) {
            f.write_all(c).unwrap();
        }
    });
    let o = run(
        &[
            "filter",
            p(&fifo),
            "-o",
            p(&from_fifo),
            "--preset",
            "digital",
        ],
        None,
    );
    feeder.join().unwrap();
    ok(&o);
    let from_stdin = dir.path().join("stdin-out.wav");
    ok(&run(
        &["filter", "-", "-o", p(&from_stdin), "--preset", "digital"],
        Some(&wav),
    ));
    let file_bytes = std::fs::read(&from_file).unwrap();
    for out in [&from_fifo, &from_stdin] {
        let bytes = std::fs::read(out).unwrap();
        assert_eq!(read_out(out), x, "{}", out.display());
        let at = |c: &[u8]| bytes.windows(c.len()).position(|w| w == c);
        let data_at = at(b"data").unwrap();
        let a = at(&list_before).expect("LIST before the data kept");
        let b = at(&list_after).expect("LIST after the data kept");
        assert!(a < data_at && b > data_at, "order: {a} {data_at} {b}");
        // Same chunks, same order, same samples as the output of the same file.
        let tail = |v: &[u8]| v[v.len() - list_after.len()..].to_vec();
        assert_eq!(tail(&bytes), tail(&file_bytes), "{}", out.display());
    }
}

#[test]
fn a_wav_from_a_pipe_with_unknown_sizes_is_read_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let x = samples(2 * 5000);
    for size in [Some(u32::MAX), Some(0), None] {
        let out = dir.path().join("pipe-out.wav");
        let o = run(
            &["filter", "-", "-o", p(&out), "--preset", "digital"],
            Some(&riff(2, &x, size, &[chunk(b"JUNK", &[0; 27])], &[])),
        );
        ok(&o);
        let y = read_out(&out);
        assert_eq!(y, x, "size field {size:?}");
        assert_eq!(
            stderr(&o).contains("reading to end of stream"),
            size.is_some(),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn forged_headers_are_clear_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let x = samples(100);
    let good = riff(1, &x, None, &[], &[]);
    // A metadata chunk claiming 4 GB before `data`.
    let mut huge = good[..12].to_vec();
    huge.extend_from_slice(b"LIST");
    huge.extend(0xFFFF_FFF0u32.to_le_bytes());
    huge.extend_from_slice(&good[12..]);
    // A `fmt ` with 0 channels, and one with a block align that does not match.
    let mut zero_ch = good.clone();
    zero_ch[22] = 0;
    let mut bad_align = good.clone();
    bad_align[32] = 7;
    // `data` before `fmt `, and no `data` at all.
    let mut no_fmt = good[..12].to_vec();
    no_fmt.extend(chunk(b"data", &pcm(&x)));
    let no_data = good[..36].to_vec();
    for (name, bytes) in [
        ("huge", huge),
        ("zero_ch", zero_ch),
        ("bad_align", bad_align),
        ("no_fmt", no_fmt),
        ("no_data", no_data),
    ] {
        let inp = dir.path().join(format!("{name}.wav"));
        std::fs::write(&inp, &bytes).unwrap();
        let out = dir.path().join(format!("{name}-out.wav"));
        let o = run(
            &["filter", p(&inp), "-o", p(&out), "--preset", "digital"],
            None,
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            !err.contains("panicked") && err.contains("WAV"),
            "{name}: {err}"
        );
        assert!(!out.exists(), "{name}");
        // The same bytes from a pipe.
        let o = run(
            &["filter", "-", "-o", p(&out), "--preset", "digital"],
            Some(&bytes),
        );
        assert_eq!(o.status.code(), Some(1), "{name} piped: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{name}");
    }
}
