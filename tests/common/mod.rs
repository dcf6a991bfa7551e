//! Shared helpers for the integration tests: the binary run with a piped stdin, an independent
//! WAV byte builder (not the code under test), test signals, a seeded Gaussian generator and
//! SI-SDR.
#![allow(dead_code)]

use std::f64::consts::PI;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs the `specgate` binary with `args`; `stdin` is fed from a thread (the child may fill its
/// stdout pipe before it has read everything), or stdin is null.
pub fn specgate(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn specgate");
    let writer = stdin.map(|data| {
        let data = data.to_vec();
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let out = child.wait_with_output().unwrap();
    if let Some(w) = writer {
        w.join().unwrap();
    }
    out
}

/// Makes a FIFO at `path` (with the system's `mkfifo`).
pub fn mkfifo(path: &std::path::Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// `frames` frames of 16-bit complex Gaussian noise (RMS 0.1 per component), interleaved I, Q.
pub fn noise_iq(frames: usize, seed: u64) -> Vec<i16> {
    let mut r = Rng::new(seed);
    (0..2 * frames).map(|_| to_i16(0.1 * r.gauss())).collect()
}

/// Noise (peak `noise_amp`/2) plus a tone keyed on and off every 3000 samples: the gate has
/// work to do.
pub fn keyed_tone_in_noise(n: usize, seed: u64, noise_amp: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let noise = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * noise_amp;
            let key = if (i / 3000) % 2 == 0 { 0.3 } else { 0.0 };
            noise + key * (i as f32 * 0.13).sin()
        })
        .collect()
}

/// One chunk's bytes: id, size, data and the pad byte of an odd size.
pub fn chunk(id: &[u8; 4], d: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    v.extend_from_slice(&(d.len() as u32).to_le_bytes());
    v.extend_from_slice(d);
    if d.len() % 2 == 1 {
        v.push(0);
    }
    v
}

/// A `fmt ` chunk for 16-bit PCM.
pub fn fmt16(rate: u32, channels: u16) -> Vec<u8> {
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&1u16.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * 2 * channels as u32).to_le_bytes());
    fmt.extend_from_slice(&(2 * channels).to_le_bytes());
    fmt.extend_from_slice(&16u16.to_le_bytes());
    chunk(b"fmt ", &fmt)
}

/// RIFF/WAVE bytes from whole chunks: `fmt ` (16-bit PCM), `before`, `data` (its size field
/// `size_field`, else the true size; no pad byte is added for a forged size), `after`.
pub fn wav16_chunks(
    rate: u32,
    channels: u16,
    before: &[Vec<u8>],
    samples: &[i16],
    after: &[Vec<u8>],
    size_field: Option<u32>,
) -> Vec<u8> {
    let mut body = b"WAVE".to_vec();
    body.extend(fmt16(rate, channels));
    before.iter().for_each(|c| body.extend_from_slice(c));
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    match size_field {
        None => body.extend(chunk(b"data", &data)),
        Some(size) => {
            body.extend_from_slice(b"data");
            body.extend_from_slice(&size.to_le_bytes());
            body.extend_from_slice(&data);
        }
    }
    after.iter().for_each(|c| body.extend_from_slice(c));
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

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
    let whole = |v: &[(&[u8; 4], Vec<u8>)]| -> Vec<Vec<u8>> {
        v.iter().map(|(id, d)| chunk(id, d)).collect()
    };
    wav16_chunks(rate, channels, &whole(pre), samples, &whole(post), None)
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

/// Starts the rig's recorder at once: PulseAudio's idle null sink renders 2 s ahead, and a
/// suspend/resume of the bus makes the recorder's data start now. PipeWire's graph runs only as
/// needed, and a suspend there disconnects the recorder (the bus then records silence), so it is
/// left alone on the PipeWire rig.
pub fn audio_rig_wake() {
    if std::env::var("AUDIO_RIG_SERVER").as_deref() == Ok("pipewire") {
        return;
    }
    for s in ["1", "0"] {
        Command::new("pactl")
            .args(["suspend-sink", "rig_bus", s])
            .status()
            .unwrap();
    }
}

/// The audio rig's capture and playback devices for cpal (`.ci/audio-rig.sh`), or `None` with a
/// SKIPPED notice naming `test`. With `SPECGATE_REQUIRE_RIG=1` (set by `.ci/run`) a missing rig
/// fails the test instead: in CI a skip must not count as a pass.
pub fn audio_rig(test: &str) -> Option<(String, String)> {
    let up = std::env::var("AUDIO_RIG_DIR").is_ok() && std::env::var("PULSE_SERVER").is_ok();
    let devices = (
        std::env::var("AUDIO_RIG_CPAL_IN"),
        std::env::var("AUDIO_RIG_CPAL_OUT"),
    );
    if let (true, (Ok(i), Ok(o))) = (up, devices) {
        return Some((i, o));
    }
    let why = "no audio rig: AUDIO_RIG_DIR/PULSE_SERVER/AUDIO_RIG_CPAL_IN/OUT are not set \
               (source .ci/audio-rig.sh; audio_rig_install; audio_rig_start)";
    if std::env::var("SPECGATE_REQUIRE_RIG").as_deref() == Ok("1") {
        panic!("{test}: SPECGATE_REQUIRE_RIG=1 but {why}");
    }
    eprintln!("{test}: SKIPPED (not a pass) — {why}");
    None
}
