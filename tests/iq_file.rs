//! End-to-end IQ file filtering: exactness with the gate open, chunk preservation, RF64, tolerant
//! reading, and the complex gate's quality on synthetic carriers.

mod common;

use common::*;
use specgate::params::{Params, ParamsPatch};
use std::f64::consts::PI;
use std::path::Path;

fn iq_params() -> Params {
    let patch =
        ParamsPatch::from_toml(include_str!("../config/iq.toml"), "config/iq.toml").unwrap();
    let mut p = Params::default();
    patch.apply_to(&mut p);
    p.validate().unwrap();
    p
}

fn open_gate() -> Params {
    Params {
        reduction_db: 0.0,
        ..iq_params()
    }
}

#[test]
fn open_gate_returns_the_sdruno_file_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    // 0.05 s at 250 kS/s: more than several frames, and the latency (4095) must be trimmed.
    let samples = noise_iq(12_500, 1);
    let wav = wav16(
        250_000,
        2,
        &[(b"auxi", auxi164(7_150_000)), (b"odd ", vec![1, 2, 3])],
        &samples,
        &[(b"LIST", b"INFOISFT\x05\0\0\0SDRun\0".to_vec())],
    );
    let input = dir.path().join("SDRuno_20220309_140138Z_7150kHz.wav");
    let output = dir.path().join("out.wav");
    std::fs::write(&input, &wav).unwrap();
    let s = filter_iq_file(&input, &output, &open_gate(), &IqOptions::default()).unwrap();
    assert_eq!(s.frames_out, 12_500);
    assert_eq!(s.latency_samples, 4095);
    let out = std::fs::read(&output).unwrap();
    // Same header chunks, same trailing chunk, and every sample equal to the input (time-aligned).
    assert_eq!(data_i16(&out), samples);
    assert_eq!(out, wav);
}

#[test]
fn bypass_copies_32_bit_samples_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    // A 32-bit float IQ WAV: bytes must survive even where f32 conversion would be lossless anyway;
    // NaN payloads are the hard case.
    let mut wav = wav16(48_000, 2, &[(b"auxi", auxi164(1))], &noise_iq(2000, 2), &[]);
    // Turn it into 32-bit float by rewriting fmt: tag 3, 32 bits, block align 8.
    wav[20..22].copy_from_slice(&3u16.to_le_bytes());
    wav[28..32].copy_from_slice(&(48_000u32 * 8).to_le_bytes());
    wav[32..34].copy_from_slice(&8u16.to_le_bytes());
    wav[34..36].copy_from_slice(&32u16.to_le_bytes());
    let nan = f32::from_bits(0x7FC0_1234).to_le_bytes();
    let len = wav.len();
    wav[len - 4..].copy_from_slice(&nan);
    let input = dir.path().join("in.wav");
    let output = dir.path().join("out.wav");
    std::fs::write(&input, &wav).unwrap();
    let p = Params {
        bypass: true,
        ..iq_params()
    };
    let o = IqOptions {
        force_iq: Some(true),
        ..Default::default()
    };
    filter_iq_file(&input, &output, &p, &o).unwrap();
    assert_eq!(std::fs::read(&output).unwrap(), wav);
}

#[test]
fn forced_rf64_output_keeps_chunks_and_reads_back_like_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let samples = noise_iq(9000, 3);
    let wav = wav16(96_000, 2, &[(b"auxi", auxi164(14_074_000))], &samples, &[]);
    let input = dir.path().join("HDSDR_20180225_174354Z_7255kHz_RF.wav");
    let rf = dir.path().join("rf.wav");
    let back = dir.path().join("back.wav");
    std::fs::write(&input, &wav).unwrap();
    let o = IqOptions {
        force_rf64: true,
        ..Default::default()
    };
    let s = filter_iq_file(&input, &rf, &open_gate(), &o).unwrap();
    assert!(s.rf64);
    let rfb = std::fs::read(&rf).unwrap();
    assert_eq!(&rfb[0..4], b"RF64");
    assert_eq!(&rfb[12..16], b"ds64");
    // ds64: riff size = file − 8, data size = 4 bytes × frames, sample count = frames.
    let u64at = |o: usize| u64::from_le_bytes(rfb[o..o + 8].try_into().unwrap());
    assert_eq!(u64at(20), rfb.len() as u64 - 8);
    assert_eq!(u64at(28), 9000 * 4);
    assert_eq!(u64at(36), 9000);
    // Back to RIFF (small data): identical to the original.
    let o2 = IqOptions {
        force_iq: Some(true),
        ..Default::default()
    };
    filter_iq_file(&rf, &back, &open_gate(), &o2).unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), wav);
}

#[test]
fn broken_data_sizes_read_to_end_of_file_and_skip_chunks_after_data() {
    let dir = tempfile::tempdir().unwrap();
    let samples = noise_iq(5000, 4);
    let good = wav16(48_000, 2, &[(b"auxi", auxi164(7_000_000))], &samples, &[]);
    let data_size_at = good.len() - samples.len() * 2 - 4;
    for bogus in [0u32, 0xFFFF_FFFF, 1 << 30] {
        let mut wav = good.clone();
        wav[data_size_at..data_size_at + 4].copy_from_slice(&bogus.to_le_bytes());
        wav[4..8].copy_from_slice(&bogus.to_le_bytes());
        let input = dir
            .path()
            .join(format!("SDRuno_20220309_140138Z_7150kHz_{bogus}.wav"));
        let output = dir.path().join(format!("out{bogus}.wav"));
        std::fs::write(&input, &wav).unwrap();
        let s = filter_iq_file(&input, &output, &open_gate(), &IqOptions::default()).unwrap();
        assert!(!s.warnings.is_empty(), "a repair must be reported");
        // The output is repaired: correct sizes, same samples.
        assert_eq!(
            std::fs::read(&output).unwrap(),
            good,
            "data size {bogus:#x}"
        );
    }
}

#[test]
fn a_file_that_is_not_iq_goes_the_same_path_as_stereo_audio_and_never_over_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let wav = wav16(48_000, 2, &[], &noise_iq(1000, 5), &[]);
    let input = dir.path().join("holiday.wav");
    let output = dir.path().join("out.wav");
    std::fs::write(&input, &wav).unwrap();
    // One path for audio and I/Q: without IQ markers the file is filtered as 2 real channels.
    let s = filter_iq_file(&input, &output, &open_gate(), &IqOptions::default()).unwrap();
    assert_eq!(s.kind, specgate::SignalKind::Real);
    assert_eq!(
        data_i16(&std::fs::read(&output).unwrap()),
        noise_iq(1000, 5)
    );
    std::fs::remove_file(&output).unwrap();
    let e = filter_iq_file(
        &input,
        &input,
        &iq_params(),
        &IqOptions {
            force_iq: Some(true),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("overwrite"), "{e}");
    assert_eq!(std::fs::read(&input).unwrap(), wav);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
}

/// Complex tone `amp·e^{j2πft}` with an on/off key (period `key_s`, 50 % duty, 1 ms raised-cosine
/// edges); `key_s = 0` = steady.
fn carrier(n: usize, rate: f64, f: f64, amp: f64, key_s: f64, out: &mut [(f64, f64)]) {
    let ramp = 0.001 * rate;
    for (t, o) in out.iter_mut().enumerate().take(n) {
        let env = if key_s > 0.0 {
            let period = key_s * rate;
            let ph = t as f64 % period;
            let half = period / 2.0;
            if ph < half {
                let e = ph.min(half - ph);
                if e < ramp {
                    0.5 - 0.5 * (PI * e / ramp).cos()
                } else {
                    1.0
                }
            } else {
                0.0
            }
        } else {
            1.0
        };
        let w = 2.0 * PI * f * t as f64 / rate;
        o.0 += amp * env * w.cos();
        o.1 += amp * env * w.sin();
    }
}

struct Scene {
    clean: Vec<f64>,
    noisy: Vec<i16>,
}

/// Carriers in complex white noise at a −10 dB full-band SNR, 16-bit.
fn scene(rate: f64, n: usize, carriers: &[(f64, f64, f64)], seed: u64) -> Scene {
    let mut c = vec![(0.0, 0.0); n];
    for &(f, amp, key) in carriers {
        carrier(n, rate, f, amp, key, &mut c);
    }
    let ps: f64 = c.iter().map(|(i, q)| i * i + q * q).sum::<f64>() / n as f64;
    let sigma = (10.0 * ps / 2.0).sqrt(); // noise power = 10 × signal power
    let mut r = Rng::new(seed);
    let mut clean = Vec::with_capacity(2 * n);
    let mut noisy = Vec::with_capacity(2 * n);
    for (i, q) in c {
        clean.push(i);
        clean.push(q);
        noisy.push(to_i16(i + sigma * r.gauss()));
        noisy.push(to_i16(q + sigma * r.gauss()));
    }
    Scene { clean, noisy }
}

fn run(path: &Path, out: &Path, rate: u32, noisy: &[i16]) -> Vec<f64> {
    std::fs::write(
        path,
        wav16(rate, 2, &[(b"auxi", auxi164(7_150_000))], noisy, &[]),
    )
    .unwrap();
    filter_iq_file(path, out, &iq_params(), &IqOptions::default()).unwrap();
    data_i16(&std::fs::read(out).unwrap())
        .iter()
        .map(|&s| s as f64 / 32768.0)
        .collect()
}

#[test]
fn iq_preset_improves_si_sdr_by_15_db_on_carriers_in_noise() {
    let dir = tempfile::tempdir().unwrap();
    let rate = 2_000_000.0;
    let n = 2_000_000; // 1 s
    let sc = scene(
        rate,
        n,
        &[
            (210_000.0, 0.02, 0.0),   // steady, positive offset
            (-330_000.0, 0.02, 0.0),  // steady, negative offset
            (455_000.0, 0.03, 0.1),   // keyed 10 Hz, positive
            (-612_000.0, 0.03, 0.06), // keyed, negative
        ],
        7,
    );
    let noisy: Vec<f64> = sc.noisy.iter().map(|&s| s as f64 / 32768.0).collect();
    let out = run(
        &dir.path().join("SDRuno_20220309_140138Z_7150kHz.wav"),
        &dir.path().join("o.wav"),
        rate as u32,
        &sc.noisy,
    );
    let before = si_sdr(&sc.clean, &noisy);
    let after = si_sdr(&sc.clean, &out);
    eprintln!(
        "SI-SDR before {before:.2} dB, after {after:.2} dB, improvement {:.2} dB",
        after - before
    );
    assert!((before + 10.0).abs() < 0.5, "scene SNR {before}");
    assert!(
        after - before >= 15.0,
        "improvement {:.2} dB",
        after - before
    );
}

/// Power of `x` (interleaved I/Q) at frequency `f` (Hann-windowed DFT, so strong signals elsewhere
/// do not leak in), averaged over blocks where `mask(t)` holds.
fn tone_power(x: &[f64], rate: f64, f: f64, block: usize, mask: impl Fn(usize) -> bool) -> f64 {
    let n = x.len() / 2;
    let (mut acc, mut cnt) = (0.0, 0);
    for b in 0..n / block {
        let t0 = b * block;
        if !mask(t0) || !mask(t0 + block - 1) {
            continue;
        }
        let (mut re, mut im) = (0.0, 0.0);
        for t in t0..t0 + block {
            let w = -2.0 * PI * f * t as f64 / rate;
            let h = 0.5 - 0.5 * (2.0 * PI * (t - t0) as f64 / block as f64).cos();
            let (c, s) = (h * w.cos(), h * w.sin());
            let (i, q) = (x[2 * t], x[2 * t + 1]);
            re += i * c - q * s;
            im += i * s + q * c;
        }
        acc += (re * re + im * im) / (block * block) as f64;
        cnt += 1;
    }
    acc / cnt as f64
}

#[test]
fn a_carrier_at_minus_f_does_not_open_the_gate_at_plus_f() {
    // A keyed carrier at −f only. A gate that treats I and Q as two real channels shares one bin
    // between −f and +f and would pass the noise at +f whenever −f keys on; the complex gate must
    // keep +f closed and pass −f.
    let dir = tempfile::tempdir().unwrap();
    let rate = 2_000_000.0;
    let n = 1_000_000;
    let f = 250_000.0;
    let key = 0.1;
    let sc = scene(rate, n, &[(-f, 0.05, key)], 11);
    let noisy: Vec<f64> = sc.noisy.iter().map(|&s| s as f64 / 32768.0).collect();
    let out = run(
        &dir.path().join("SDRuno_20220309_140138Z_7150kHz.wav"),
        &dir.path().join("o.wav"),
        rate as u32,
        &sc.noisy,
    );
    // "On" interior of the key (skip 5 ms after each edge); blocks of 4096 samples (one bin wide).
    let period = (key * rate) as usize;
    let on = |t: usize| {
        let ph = t % period;
        ph > 10_000 && ph < period / 2 - 10_000
    };
    let block = 4096;
    let minus_in = tone_power(&noisy, rate, -f, block, on);
    let minus_out = tone_power(&out, rate, -f, block, on);
    let plus_in = tone_power(&noisy, rate, f, block, on);
    let plus_out = tone_power(&out, rate, f, block, on);
    let db = |a: f64, b: f64| 10.0 * (a / b).log10();
    // Noise-only frequencies away from both, for the attenuation noise gets anyway.
    let refs: Vec<f64> = (0..12)
        .map(|k| 400_000.0 + 40_000.0 * k as f64)
        .map(|f| tone_power(&noisy, rate, f, block, on) / tone_power(&out, rate, f, block, on))
        .collect();
    let ref_att = 10.0 * (refs.iter().sum::<f64>() / refs.len() as f64).log10();
    let (kept, plus_att) = (db(minus_out, minus_in), db(plus_in, plus_out));
    eprintln!(
        "-f kept {kept:.2} dB; noise attenuated {plus_att:.2} dB at +f, {ref_att:.2} dB elsewhere"
    );
    assert!(kept > -1.0, "the −f carrier must pass");
    // A real-valued gate shares one bin between ±f and would pass +f here (≈ 0 dB).
    assert!(plus_att > 15.0, "+f must stay gated while −f is on");
    assert!(
        plus_att > ref_att - 6.0,
        "+f is treated like any noise-only bin"
    );
}

#[test]
fn band_gates_only_the_sub_band_and_passes_or_blanks_the_rest() {
    use specgate::dsp::floor::Outside;
    let dir = tempfile::tempdir().unwrap();
    let rate = 2_000_000.0;
    let n = 600_000;
    let sc = scene(
        rate,
        n,
        &[(100_000.0, 0.05, 0.0), (-300_000.0, 0.05, 0.0)],
        21,
    );
    let noisy: Vec<f64> = sc.noisy.iter().map(|&s| s as f64 / 32768.0).collect();
    let input = dir.path().join("SDRuno_20220309_140138Z_7150kHz.wav");
    std::fs::write(
        &input,
        wav16(
            2_000_000,
            2,
            &[(b"auxi", auxi164(7_150_000))],
            &sc.noisy,
            &[],
        ),
    )
    .unwrap();
    let all = |_| true;
    let att = |out: &[f64], f: f64| {
        10.0 * (tone_power(&noisy, rate, f, 4096, all) / tone_power(out, rate, f, 4096, all))
            .log10()
    };
    for outside in [Outside::Pass, Outside::Blank] {
        let out_path = dir.path().join(format!("{outside:?}.wav"));
        let o = IqOptions {
            band: Some("-50k:+150k".parse().unwrap()),
            outside,
            ..Default::default()
        };
        filter_iq_file(&input, &out_path, &iq_params(), &o).unwrap();
        let out: Vec<f64> = data_i16(&std::fs::read(&out_path).unwrap())
            .iter()
            .map(|&s| s as f64 / 32768.0)
            .collect();
        let (inside_noise, outside_noise) = (att(&out, 20_000.0), att(&out, -500_000.0));
        let (inside_carrier, outside_carrier) = (att(&out, 100_000.0), att(&out, -300_000.0));
        eprintln!(
            "{outside:?}: noise in band {inside_noise:.1} dB, outside {outside_noise:.1} dB; \
             carriers in {inside_carrier:.2} dB, out {outside_carrier:.2} dB"
        );
        assert!(inside_noise > 15.0);
        assert!(inside_carrier.abs() < 1.0);
        match outside {
            Outside::Pass => {
                assert!(
                    outside_noise.abs() < 0.5,
                    "outside the band passes unchanged"
                );
                assert!(outside_carrier.abs() < 0.5);
            }
            Outside::Blank => {
                assert!(outside_noise > 25.0, "outside the band is attenuated fully");
                assert!(outside_carrier > 25.0);
            }
        }
    }
}

#[test]
fn empty_and_shorter_than_latency_recordings_come_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    for n in [0usize, 1, 10, 5000] {
        let wav = wav16(
            2_000_000,
            2,
            &[(b"auxi", auxi164(7_150_000))],
            &noise_iq(n, 9),
            &[],
        );
        let input = dir.path().join(format!("in{n}.wav"));
        let output = dir.path().join(format!("out{n}.wav"));
        std::fs::write(&input, &wav).unwrap();
        let s = filter_iq_file(&input, &output, &open_gate(), &IqOptions::default()).unwrap();
        assert_eq!(s.frames_out, n as u64);
        assert_eq!(std::fs::read(&output).unwrap(), wav, "{n} frames");
        // With the gate closed the length still matches.
        let s = filter_iq_file(&input, &output, &iq_params(), &IqOptions::default()).unwrap();
        assert_eq!(s.frames_out, n as u64);
        assert_eq!(std::fs::read(&output).unwrap().len(), wav.len());
    }
}
