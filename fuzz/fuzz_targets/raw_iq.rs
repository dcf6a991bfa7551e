//! Raw IQ pipe reader + complex gate on arbitrary bytes: the first byte picks the format, the
//! rest is the stream. The output must have exactly as many whole I/Q pairs as the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specgate::io::iq::RawIq;
use specgate::io::iq_file::{filter_iq_stream, IqOptions};
use specgate::params::Params;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let fmt = [RawIq::Cu8, RawIq::Cs8, RawIq::Cs16le, RawIq::Cf32le][sel as usize % 4];
    let p = Params {
        frame: 32,
        ..Params::default()
    };
    let o = IqOptions {
        profile_s: if sel & 4 != 0 { 0.0 } else { 0.01 },
        band: (sel & 8 != 0).then(|| "-100:200".parse().unwrap()),
        ..IqOptions::default()
    };
    let mut out = Vec::new();
    let s = filter_iq_stream(rest, &mut out, fmt, 8000, &p, &o).unwrap();
    let pairs = rest.len() / (2 * fmt.bytes());
    assert_eq!(s.frames as usize, pairs);
    assert_eq!(out.len(), pairs * 2 * fmt.bytes());
});
