//! Replays the committed fuzz corpus (`fuzz/corpus/*`) through the same checks as the cargo-fuzz
//! targets, so every CI run re-proves the parsers on the inputs fuzzing found interesting.
//! Crashes found by fuzzing are added below as named regression tests.

use specgate::io::iq::{self, RawIq};
mod common;

use common::{filter_iq_stream, IqOptions};
use specgate::io::{auxi, riff, sigmf};
use specgate::params::Params;
use std::io::Cursor;
use std::path::Path;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// A reader without `Seek`, like a pipe.
struct NoSeek<'a>(&'a [u8]);
impl std::io::Read for NoSeek<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

fn check_wav(data: &[u8]) {
    let _ = auxi::parse(data);
    let _ = riff::parse_fmt(data);
    if let Ok(l) = riff::read_layout(&mut Cursor::new(data)) {
        assert!(l.data_offset + l.data_len <= data.len() as u64);
        if let Some(a) = l.chunk(b"auxi") {
            let _ = auxi::parse(&a.data);
        }
        let mut r = riff::DataReader::new(Cursor::new(data), &l).unwrap();
        let ch0 = l.fmt.channels as usize;
        let mut buf = vec![0.0f32; ch0 * (4096 / ch0).max(1)];
        let mut total = 0u64;
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        assert_eq!(total, l.frames() * l.fmt.channels as u64);
    }

    // The same bytes as a pipe (forward reads only, length unknown): the production reader of
    // stdin and FIFOs. Never more samples than the header allows; never a panic.
    let mut pipe = NoSeek(data);
    if let Ok(l) = riff::read_head(&mut pipe, None) {
        let mut r = riff::DataReader::from_stream(pipe, &l);
        let ch = l.fmt.channels as usize;
        let mut buf = vec![0.0f32; ch * (4096 / ch).max(1)];
        let mut total = 0u64;
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(n % ch, 0);
            total += n as u64;
        }
        assert!(total * l.fmt.frame_bytes() as u64 / ch as u64 <= data.len() as u64);
        if !l.to_eof {
            assert!(total <= l.frames() * ch as u64);
        }
    }
}

fn check_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(s) = sigmf::parse_meta(&text) {
        let _ = sigmf::processed_meta(&s.meta, serde_json::Value::Null);
        assert!(s.rate >= 1);
    }
    let _ = sigmf::DataType::parse(&text);
    let _ = sigmf::parse_iso8601(&text);
    let _ = iq::parse_file_name(&text);
}

fn check_raw(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let fmt = [RawIq::Cu8, RawIq::Cs8, RawIq::Cs16le, RawIq::Cf32le][sel as usize % 4];
    let p = Params {
        frame: 32,
        ..Params::default()
    };
    let o = IqOptions {
        profile_s: Some(if sel & 4 != 0 { 0.0 } else { 0.01 }),
        band: (sel & 8 != 0).then(|| "-100:200".parse().unwrap()),
        ..IqOptions::default()
    };
    let mut out = Vec::new();
    let s = filter_iq_stream(rest, &mut out, fmt, 8000, &p, &o).unwrap();
    let pairs = rest.len() / (2 * fmt.bytes());
    assert_eq!(s.frames_out as usize, pairs);
    assert_eq!(out.len(), pairs * 2 * fmt.bytes());
}

#[test]
fn wav_corpus_parses_without_panics_and_reads_every_frame() {
    corpus("wav_riff").iter().for_each(|d| check_wav(d));
}

#[test]
fn sigmf_and_file_name_corpus_parses_without_panics() {
    corpus("sigmf_meta").iter().for_each(|d| check_text(d));
}

#[test]
fn raw_iq_corpus_streams_whole_pairs_through_the_gate() {
    corpus("raw_iq").iter().for_each(|d| check_raw(d));
}
