//! The `specgate::io` readers and writers against fixtures written by Python's `wave`/`struct`
//! (tests/data/make_fixtures.py) and against hound, with values recomputed from formulas here.

use proptest::prelude::*;
use specgate::io::raw::{RawReader, RawWriter};
use specgate::io::wav::{WavFileReader, WavFileWriter};
use specgate::io::{RawFormat, SampleReader, SampleWriter};
use std::io::{Cursor, Read};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Reads a whole stream as f32 in blocks of `frames_per_read` frames.
fn read_all(r: &mut dyn SampleReader, frames_per_read: usize) -> Vec<f32> {
    let mut buf = vec![0f32; frames_per_read * r.channels()];
    let mut v = Vec::new();
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            return v;
        }
        assert_eq!(n % r.channels(), 0, "whole frames only");
        v.extend_from_slice(&buf[..n]);
    }
}

fn read_all_i32(r: &mut dyn SampleReader, frames_per_read: usize) -> Vec<i32> {
    let mut buf = vec![0i32; frames_per_read * r.channels()];
    let mut v = Vec::new();
    loop {
        let n = r.read_i32(&mut buf).unwrap();
        if n == 0 {
            return v;
        }
        v.extend_from_slice(&buf[..n]);
    }
}

/// Checks a Python-written integer WAV: header, f32 values and left-justified i32 values.
fn check_int_wav(name: &str, fmt: RawFormat, rate: u32, ch: usize, ints: &[i64]) {
    let bits = fmt.spec().bits;
    let mut r = WavFileReader::open(&data(name)).unwrap();
    assert_eq!(
        (r.format(), r.rate(), r.channels()),
        (fmt, rate, ch),
        "{name}"
    );
    assert_eq!(r.len_frames(), Some((ints.len() / ch) as u64), "{name}");
    let got = read_all(&mut r, 7);
    let want: Vec<f32> = ints
        .iter()
        .map(|&v| (v as f64 / (1u64 << (bits - 1)) as f64) as f32)
        .collect();
    assert_eq!(got, want, "{name} as f32");
    let mut r = WavFileReader::open(&data(name)).unwrap();
    let got = read_all_i32(&mut r, 5);
    let want: Vec<i32> = ints.iter().map(|&v| (v << (32 - bits)) as i32).collect();
    assert_eq!(got, want, "{name} as i32");
}

#[test]
fn python_written_integer_wavs_read_back_to_their_formulas() {
    let u8s: Vec<i64> = (0..256).map(|b| b - 128).collect();
    check_int_wav("py_u8_mono.wav", RawFormat::U8, 8000, 1, &u8s);
    let s16: Vec<i64> = (0..300).map(|i| (i * 7919) % 65536 - 32768).collect();
    check_int_wav("py_s16_stereo.wav", RawFormat::S16Le, 11025, 2, &s16);
    let s24: Vec<i64> = (0..200)
        .map(|i| (i * 104729) % (1 << 24) - (1 << 23))
        .collect();
    check_int_wav("py_s24_mono.wav", RawFormat::S24Le, 24000, 1, &s24);
    let s32: Vec<i64> = (0..100)
        .map(|i| (i * 2654435761) % (1 << 32) - (1 << 31))
        .collect();
    check_int_wav("py_s32_stereo.wav", RawFormat::S32Le, 48000, 2, &s32);
}

#[test]
fn python_written_float_wav_with_three_channels_reads_exactly() {
    let mut r = WavFileReader::open(&data("py_f32_3ch.wav")).unwrap();
    assert_eq!(
        (r.format(), r.rate(), r.channels(), r.len_frames()),
        (RawFormat::F32Le, 22050, 3, Some(40))
    );
    let want: Vec<f32> = (0..120).map(|i| (i as f32 - 60.0) / 64.0).collect();
    assert_eq!(read_all(&mut r, 4), want);
}

#[test]
fn python_written_raw_files_read_back_to_their_formulas() {
    let f = std::fs::File::open(data("py_s16be.raw")).unwrap();
    let mut r = RawReader::new(f, RawFormat::S16Be, 8000, 1, Some(400)).unwrap();
    assert_eq!(r.len_frames(), Some(200));
    let want: Vec<f32> = (0..200)
        .map(|i| (i * 300 - 30000) as f32 / 32768.0)
        .collect();
    assert_eq!(read_all(&mut r, 33), want);

    let f = std::fs::File::open(data("py_f32le.raw")).unwrap();
    let mut r = RawReader::new(f, RawFormat::F32Le, 8000, 2, Some(400)).unwrap();
    assert_eq!(r.len_frames(), Some(50));
    let want: Vec<f32> = (0..100).map(|i| (i as f32 - 50.0) / 32.0).collect();
    assert_eq!(read_all(&mut r, 3), want);
}

#[test]
fn reader_rejects_zero_rate_and_zero_channels() {
    assert!(RawReader::new(&[][..], RawFormat::U8, 0, 1, None).is_err());
    assert!(RawReader::new(&[][..], RawFormat::U8, 8000, 0, None).is_err());
}

/// What a full-scale value becomes in `fmt`, by this test's own rounding rule.
fn expected(fmt: RawFormat, x: f32) -> f32 {
    let s = fmt.spec();
    if s.float {
        return x;
    }
    let scale = (1u64 << (s.bits - 1)) as f64;
    ((x as f64 * scale).round().clamp(-scale, scale - 1.0) / scale) as f32
}

/// A reader that hands out at most `step` bytes per call, like a pipe.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}
impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn any_format() -> impl Strategy<Value = RawFormat> {
    (0..RawFormat::ALL.len()).prop_map(|i| RawFormat::ALL[i].0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn raw_streams_round_trip_through_any_chunking(
        fmt in any_format(),
        ch in 1usize..5,
        frames in 0usize..300,
        step in 1usize..40,
        read_frames in 1usize..64,
        seed in any::<u64>(),
    ) {
        let mut s = seed | 1;
        let x: Vec<f32> = (0..frames * ch).map(|_| {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.4 - 1.2
        }).collect();
        let mut w = Box::new(RawWriter::new(Vec::new(), fmt, None));
        // Write in two pieces to cross a block boundary.
        let cut = (frames / 2) * ch;
        w.write(&x[..cut]).unwrap();
        w.write(&x[cut..]).unwrap();
        let clipped = w.clipped();
        let want_clipped = if fmt.is_float() { 0 } else {
            let scale = (1u64 << (fmt.spec().bits - 1)) as f64;
            x.iter().filter(|&&v| {
                let q = (v as f64 * scale).round();
                q < -scale || q > scale - 1.0
            }).count() as u64
        };
        prop_assert_eq!(clipped, want_clipped);
        let bytes = {
            let mut out = Vec::new();
            fmt.encoding().encode_append(&x, &mut out);
            out
        };
        prop_assert_eq!(bytes.len(), x.len() * fmt.bytes());
        let mut r = RawReader::new(Trickle { data: bytes, pos: 0, step }, fmt, 8000, ch, None).unwrap();
        let got = read_all(&mut r, read_frames);
        let want: Vec<f32> = x.iter().map(|&v| expected(fmt, v)).collect();
        prop_assert_eq!(got, want);
        prop_assert!(r.take_warnings().is_empty());
    }

    #[test]
    fn wav_writer_output_reads_back_in_hound_as_quantized(
        fi in 0usize..5,
        ch in 1usize..4,
        frames in 1usize..200,
        seed in any::<u64>(),
    ) {
        let fmt = [RawFormat::U8, RawFormat::S16Le, RawFormat::S24Le, RawFormat::S32Le, RawFormat::F32Le][fi];
        let mut s = seed | 1;
        let x: Vec<f32> = (0..frames * ch).map(|_| {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }).collect();
        let mut cur = Cursor::new(Vec::new());
        let mut w = Box::new(WavFileWriter::new(&mut cur, fmt, 16000, ch, None).unwrap());
        w.write(&x).unwrap();
        w.finish().unwrap();
        let bytes = cur.into_inner();
        let mut h = hound::WavReader::new(&bytes[..]).unwrap();
        let spec = h.spec();
        prop_assert_eq!(spec.channels as usize, ch);
        prop_assert_eq!(spec.sample_rate, 16000);
        prop_assert_eq!((spec.bits_per_sample, spec.sample_format == hound::SampleFormat::Float), fmt.wav_type());
        let got: Vec<f64> = if fmt.is_float() {
            h.samples::<f32>().map(|v| v.unwrap() as f64).collect()
        } else {
            let scale = (1u64 << (spec.bits_per_sample - 1)) as f64;
            h.samples::<i32>().map(|v| v.unwrap() as f64 / scale).collect()
        };
        let want: Vec<f64> = x.iter().map(|&v| expected(fmt, v) as f64).collect();
        if fmt == RawFormat::S32Le {
            // expected() rounds through f32 at the end; compare at f32 precision.
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((g - w).abs() <= 1e-7, "{} vs {}", g, w);
            }
        } else {
            prop_assert_eq!(got, want);
        }
    }
}

#[test]
fn a_wav_read_through_a_trickling_pipe_gives_the_samples_and_chunks_of_the_file() {
    use specgate::io::riff::Chunk;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chunks.wav");
    let list = Chunk {
        id: *b"LIST",
        data: b"INFOINAM\x05\0\0\0abcd\0".to_vec(),
    };
    let tail = Chunk {
        id: *b"cue ",
        data: vec![1, 2, 3],
    };
    let x: Vec<f32> = (0..3 * 500)
        .map(|i| ((i * 7919) % 4096) as f32 / 4096.0 - 0.5)
        .collect();
    let mut w = Box::new(
        WavFileWriter::create_with_chunks(
            &path,
            RawFormat::S24Le,
            44_100,
            3,
            std::slice::from_ref(&list),
            std::slice::from_ref(&tail),
        )
        .unwrap(),
    );
    w.write(&x).unwrap();
    w.finish().unwrap();

    let mut file = WavFileReader::open(&path).unwrap();
    let want = read_all(&mut file, 64);
    assert_eq!(want, x, "24-bit carries these values exactly");
    let bytes = std::fs::read(&path).unwrap();
    let mut pipe = WavFileReader::new(Trickle {
        data: bytes,
        pos: 0,
        step: 5,
    })
    .unwrap();
    assert_eq!((pipe.rate(), pipe.channels()), (44_100, 3));
    assert_eq!(pipe.len_frames(), Some(500));
    let got = read_all(&mut pipe, 100);
    assert_eq!(got, want);
    assert!(pipe.take_warnings().is_empty());
    for r in [&file as &dyn SampleReader, &pipe] {
        let (before, after) = r.chunks();
        assert!(before.contains(&list), "{before:?}");
        assert_eq!(after, std::slice::from_ref(&tail));
    }
}

#[test]
fn the_recorder_wav_sink_writes_float_blocks_exactly_and_leaves_nothing_when_dropped() {
    use specgate::io::riff::SampleFormat;
    use specgate::stream::sink::WavSink;
    use specgate::stream::Sink;
    fn is_send<T: Send>() {}
    is_send::<WavSink>(); // a recorder thread owns it
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.wav");
    let x: Vec<f32> = (0..2 * 4801)
        .map(|i| ((i as f32) * 0.013).sin() * 0.7)
        .collect();
    let mut s = Box::new(WavSink::audio(&path, 48_000, 2, SampleFormat::F32).unwrap());
    for block in x.chunks(2 * 480) {
        s.write(block).unwrap();
    }
    let report = s.finish().unwrap();
    assert_eq!(report.frames, 4801);
    let mut r = WavFileReader::open(&path).unwrap();
    assert_eq!((r.rate(), r.channels()), (48_000, 2));
    assert_eq!(read_all(&mut r, 333), x);

    let dropped = dir.path().join("dropped.wav");
    let mut s = Box::new(WavSink::audio(&dropped, 48_000, 1, SampleFormat::F32).unwrap());
    s.write(&x[..100]).unwrap();
    drop(s);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("rec.wav")]);
}
