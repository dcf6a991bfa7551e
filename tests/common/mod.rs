//! Shared helpers for the IQ integration tests: an independent WAV byte builder (not the code
//! under test), a seeded Gaussian generator and SI-SDR.
#![allow(dead_code)]

use std::f64::consts::PI;

/// xorshift64* + Box–Muller: reproducible Gaussian samples without extra crates.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    pub fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos()
    }
}

/// A 164-byte auxi payload built by hand from the documented layout.
pub fn auxi164(center_hz: u32) -> Vec<u8> {
    let mut d = vec![0u8; 164];
    // 2022-03-09 (Wednesday = 3) 14:01:38.000 UTC, stop 14:02:00.
    let start = [2022u16, 3, 3, 9, 14, 1, 38, 0];
    let stop = [2022u16, 3, 3, 9, 14, 2, 0, 0];
    for (i, w) in start.iter().chain(stop.iter()).enumerate() {
        d[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes());
    }
    d[32..36].copy_from_slice(&center_hz.to_le_bytes());
    d[52..56].copy_from_slice(&0xE49B_72A9u32.to_le_bytes());
    d
}

/// RIFF/WAVE bytes: `fmt ` (16-bit PCM, `channels`, `rate`), then `pre` chunks, `data`, `post`.
pub fn wav16(
    rate: u32,
    channels: u16,
    pre: &[(&[u8; 4], Vec<u8>)],
    samples: &[i16],
    post: &[(&[u8; 4], Vec<u8>)],
) -> Vec<u8> {
    let mut body = Vec::new();
    let chunk = |id: &[u8; 4], d: &[u8], body: &mut Vec<u8>| {
        body.extend_from_slice(id);
        body.extend_from_slice(&(d.len() as u32).to_le_bytes());
        body.extend_from_slice(d);
        if d.len() % 2 == 1 {
            body.push(0);
        }
    };
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&1u16.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * 2 * channels as u32).to_le_bytes());
    fmt.extend_from_slice(&(2 * channels).to_le_bytes());
    fmt.extend_from_slice(&16u16.to_le_bytes());
    chunk(b"fmt ", &fmt, &mut body);
    for (id, d) in pre {
        chunk(id, d, &mut body);
    }
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    chunk(b"data", &data, &mut body);
    for (id, d) in post {
        chunk(id, d, &mut body);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32 + 4).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(&body);
    out
}

/// Interleaved i16 samples from a WAV built by [`wav16`] (data chunk located by scanning).
pub fn data_i16(wav: &[u8]) -> Vec<i16> {
    let mut p = 12;
    while p + 8 <= wav.len() {
        let size = u32::from_le_bytes([wav[p + 4], wav[p + 5], wav[p + 6], wav[p + 7]]) as usize;
        if &wav[p..p + 4] == b"data" {
            return wav[p + 8..p + 8 + size]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
        }
        p += 8 + size + (size & 1);
    }
    panic!("no data chunk");
}

/// Scale-invariant SDR in dB of `est` against `reference` (real-valued over all samples).
pub fn si_sdr(reference: &[f64], est: &[f64]) -> f64 {
    let dot: f64 = reference.iter().zip(est).map(|(a, b)| a * b).sum();
    let rr: f64 = reference.iter().map(|a| a * a).sum();
    let alpha = dot / rr;
    let (mut num, mut den) = (0.0, 0.0);
    for (r, e) in reference.iter().zip(est) {
        let t = alpha * r;
        num += t * t;
        den += (e - t) * (e - t);
    }
    10.0 * (num / den).log10()
}

/// Quantises to i16 with rounding (the same rule any 16-bit recorder uses).
pub fn to_i16(x: f64) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// The options the IQ tests vary, mapped onto the stream core's probe hints and filter options.
#[derive(Default)]
pub struct IqOptions {
    pub force_iq: Option<bool>,
    pub force_rf64: bool,
    pub band: Option<specgate::dsp::floor::Band>,
    pub outside: specgate::dsp::floor::Outside,
    pub raw_rate: Option<u32>,
    /// Seconds analysed for the floor (default 1 s).
    pub profile_s: Option<f64>,
}

impl IqOptions {
    fn split(
        &self,
    ) -> (
        specgate::stream::ProbeHints,
        specgate::stream::filter::FilterOptions,
    ) {
        let hints = specgate::stream::ProbeHints {
            force_iq: self.force_iq,
            rate: self.raw_rate,
            ..Default::default()
        };
        let mut o = specgate::stream::filter::FilterOptions {
            band: self.band,
            outside: self.outside,
            ..Default::default()
        };
        o.output.force_rf64 = self.force_rf64;
        if let Some(p) = self.profile_s {
            o.profile_s = p;
        }
        (hints, o)
    }
}

/// A file (or FIFO) through `stream::open` + `stream::filter::run`, as `specgate filter` runs it.
pub fn filter_iq_file(
    input: &std::path::Path,
    output: &std::path::Path,
    params: &specgate::params::Params,
    o: &IqOptions,
) -> Result<specgate::stream::filter::Summary, specgate::stream::StreamError> {
    let (hints, opts) = o.split();
    specgate::stream::filter::filter_path(input, output, params, &hints, &opts)
}

/// A raw I/Q stream from any reader to any writer through the same path.
pub fn filter_iq_stream<'a>(
    input: impl std::io::Read + 'a,
    output: impl std::io::Write + 'a,
    fmt: specgate::io::iq::RawIq,
    rate: u32,
    params: &specgate::params::Params,
    o: &IqOptions,
) -> Result<specgate::stream::filter::Summary, specgate::stream::StreamError> {
    use specgate::stream::{filter, probe, sink::OutputSpec, Cancel, InputSpec};
    let (mut hints, opts) = o.split();
    hints.format = Some(probe::RawHint::Iq(fmt));
    hints.rate = Some(rate);
    let mut src = specgate::stream::open(InputSpec::Reader(Box::new(input)), &hints)?;
    filter::run(
        src.as_mut(),
        OutputSpec::Writer(Box::new(output)),
        params,
        &opts,
        &Cancel::new(),
        None,
    )
}
