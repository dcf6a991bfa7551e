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
        let mut buf = vec![0.0f32; 4096 * l.fmt.channels as usize];
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
});
