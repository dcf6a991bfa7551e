//! WAV/RF64 layout, sample reading and `auxi` decoding on arbitrary bytes: errors are fine,
//! panics, hangs and huge allocations are not.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specgate::io::{auxi, riff};
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let _ = auxi::parse(data);
    let _ = riff::parse_fmt(data);
    let mut c = Cursor::new(data);
    if let Ok(l) = riff::read_layout(&mut c) {
        assert!(l.data_offset + l.data_len <= data.len() as u64);
        for ch in l.before_data.iter().chain(&l.after_data) {
            if &ch.id == b"auxi" {
                let _ = auxi::parse(&ch.data);
            }
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
});

/// A reader without `Seek`, like a pipe.
struct NoSeek<'a>(&'a [u8]);
impl std::io::Read for NoSeek<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}
