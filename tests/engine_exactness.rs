//! The streaming engine is exact: with the mask fixed at 1 the output is the input delayed by
//! exactly `latency_samples()`, whatever the chunking, window, geometry, rate, channel count or
//! signal kind; with the gate active the output does not depend on the chunking at all; the
//! bypass is bit-exact and cross-fades; geometries that cannot reconstruct are refused.
//!
//! Truths are analytic: "input delayed by L samples" needs no reference implementation.

use proptest::prelude::*;
use specgate::dsp::stft::StftError;
use specgate::dsp::windows::WindowKind;
use specgate::engine::{stft_config, Engine, EngineError, SignalKind};
use specgate::params::{self, Params, ParamsPatch};

/// Full-scale uniform white noise in [-1, 1] (64-bit LCG, top 24 bits: exact in f32).
fn white(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed ^ 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

const PRIMES: [usize; 12] = [2, 3, 5, 7, 11, 13, 31, 97, 251, 509, 1021, 4099];

/// How a stream is cut into `process` calls (sizes in frames of the interleaved stream).
#[derive(Debug, Clone)]
enum Chunking {
    /// One frame per call.
    Ones,
    /// Cycling through prime sizes.
    Primes,
    /// Cycling through the given sizes.
    Sizes(Vec<usize>),
    /// The whole stream in one call.
    Huge,
}

fn run(engine: &mut Engine, input: &[f32], chunking: &Chunking) -> Vec<f32> {
    let nch = engine.channels();
    let frames = input.len() / nch;
    let mut out = vec![f32::NAN; input.len()];
    let (mut f, mut i) = (0, 0);
    while f < frames {
        let want = match chunking {
            Chunking::Ones => 1,
            Chunking::Primes => PRIMES[i % PRIMES.len()],
            Chunking::Sizes(v) => v[i % v.len()],
            Chunking::Huge => frames,
        };
        let n = want.max(1).min(frames - f);
        engine.process(
            &input[f * nch..(f + n) * nch],
            &mut out[f * nch..(f + n) * nch],
        );
        f += n;
        i += 1;
    }
    out
}

/// Largest |y[t] − x[t − lat]| over the stream (x = 0 before the start), per interleaved sample.
fn delay_error(input: &[f32], output: &[f32], nch: usize, lat: usize) -> f32 {
    let shift = lat * nch;
    output
        .iter()
        .enumerate()
        .map(|(i, y)| {
            let x = if i >= shift { input[i - shift] } else { 0.0 };
            (y - x).abs()
        })
        .fold(0.0, f32::max)
}

/// First index where two outputs differ bit-wise (with both values), or None.
fn first_difference(a: &[f32], b: &[f32]) -> Option<(usize, f32, f32)> {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .position(|(x, y)| x.to_bits() != y.to_bits())
        .map(|i| (i, a[i], b[i]))
}

fn preset(name: &str) -> Params {
    params::resolve(name, None, &ParamsPatch::default()).unwrap()
}

/// A reduction limit so small that every gain is within 1.2e-7 of 1, yet the signal goes
/// through the STFT: `reduction_db = 0` exactly would take the engine's bit-exact dry path and
/// test nothing about the reconstruction.
const NEARLY_OPEN_DB: f64 = 1e-6;

/// Default parameters with the gate (nearly) fully open and an explicit geometry.
fn open_params(window: WindowKind, frame: u32, hop: u32, fft: u32) -> Params {
    Params {
        reduction_db: NEARLY_OPEN_DB,
        window,
        frame,
        hop,
        fft_size: fft,
        ..Params::default()
    }
}

/// Runs `p` at `rate` over full-scale noise with every chunking; asserts each output is the input
/// delayed by the latency within 1e-5 and that all chunkings agree bit for bit.
fn check_open_gate(
    p: &Params,
    rate: u32,
    channels: usize,
    kind: SignalKind,
    seed: u64,
    sizes: Vec<usize>,
) -> Result<(), TestCaseError> {
    let probe = Engine::new(p, rate, channels, kind).unwrap();
    let lat = probe.latency_samples();
    let cfg = *probe.stft_config();
    let frames = 3 * cfg.frame_len + 2 * cfg.hop + 257;
    let x = white(frames * channels, seed);
    // The engine accepts a geometry when its weakest overlap-added window product is above 1e-4
    // of the strongest. Near that edge f32 FFT rounding is amplified by up to 1/sqrt(ratio), so
    // the 1e-5 bound holds for ratios ≥ 1e-3 (every practical geometry); between 1e-4 and 1e-3
    // errors up to 1.1e-5 were seen and 1e-4 is asserted (see the report to the lead).
    let ratio = cfg.nola_ratio();
    let bound = if ratio >= 1e-3 { 1e-5 } else { 1e-4 };
    let mut reference: Option<Vec<f32>> = None;
    for chunking in [
        Chunking::Huge,
        Chunking::Ones,
        Chunking::Primes,
        Chunking::Sizes(sizes),
    ] {
        let mut e = Engine::new(p, rate, channels, kind).unwrap();
        let y = run(&mut e, &x, &chunking);
        let err = delay_error(&x, &y, channels, lat);
        prop_assert!(
            err <= bound,
            "{cfg:?} (NOLA ratio {ratio:.1e}) rate {rate} ch {channels} {kind:?} {chunking:?}: \
             max error {err:e}"
        );
        match &reference {
            None => reference = Some(y),
            Some(r) => prop_assert_eq!(
                first_difference(r, &y),
                None,
                "{:?} {:?}: output differs from the one-chunk output",
                cfg,
                chunking
            ),
        }
    }
    Ok(())
}

/// Geometries chosen to hit the edge cases: hop dividing the frame, FFT larger than the frame,
/// odd frames, hops that do not divide the frame, overlap 1, tiny frames.
const GEOMETRIES: [(u32, u32, u32); 10] = [
    (64, 32, 64),
    (64, 16, 128),
    (37, 9, 40),
    (100, 30, 100),
    (255, 85, 256),
    (960, 480, 960),
    (961, 317, 1024),
    (300, 200, 512),
    (2, 1, 2),
    (129, 64, 130),
];

#[test]
fn open_gate_reconstructs_every_window_and_edge_geometry_exactly() {
    for window in WindowKind::ALL {
        for (i, &(n, h, m)) in GEOMETRIES.iter().enumerate() {
            let p = open_params(window, n, h, m);
            check_open_gate(&p, 48_000, 1, SignalKind::Real, i as u64, vec![1, 480, 17]).unwrap();
        }
        // Overlap 1 (hop == frame) only works for windows without zeros at the edge.
        if matches!(window, WindowKind::Rectangular | WindowKind::Hamming) {
            let p = open_params(window, 48, 48, 64);
            check_open_gate(&p, 8_000, 1, SignalKind::Real, 99, vec![5]).unwrap();
        }
    }
}

#[test]
fn open_gate_reconstructs_exactly_at_every_rate_with_time_based_frames() {
    for rate in [8_000u32, 24_000, 48_000, 2_000_000] {
        // 2 MHz SDR baseband: 20 ms would be a 40000-point frame; 2.5 ms keeps the test short.
        let frame_ms = if rate > 100_000 { 2.5 } else { 20.0 };
        for (overlap, window) in [(2, WindowKind::SqrtHann), (4, WindowKind::Hann)] {
            let p = Params {
                reduction_db: NEARLY_OPEN_DB,
                frame_ms,
                overlap,
                window,
                ..Params::default()
            };
            check_open_gate(&p, rate, 1, SignalKind::Real, rate as u64, vec![333]).unwrap();
        }
    }
}

/// The low-delay modes (`latency_ms` below the frame: asymmetric windows) at every audio rate and
/// an SDR rate, with short and long analysis frames.
#[test]
fn open_gate_reconstructs_every_low_delay_mode_exactly_at_every_rate() {
    for rate in [8_000u32, 16_000, 44_100, 48_000, 250_000] {
        for latency_ms in [1.0, 3.0, 5.0, 10.0] {
            for frame_ms in [20.0, 28.0, 64.0] {
                let p = Params {
                    reduction_db: NEARLY_OPEN_DB,
                    frame_ms,
                    latency_ms,
                    ..Params::default()
                };
                let cfg = stft_config(&p, rate);
                assert!(cfg.is_low_delay(), "{cfg:?}");
                let limit = (latency_ms * rate as f64 / 1000.0) as usize;
                assert!(cfg.latency_samples() <= limit, "{cfg:?} over {limit}");
                check_open_gate(&p, rate, 1, SignalKind::Real, rate as u64, vec![101, 7]).unwrap();
            }
        }
    }
}

/// An explicit hop with a latency limit: the synthesis window is the whole limit + 1 samples.
#[test]
fn open_gate_reconstructs_low_delay_with_an_explicit_hop() {
    for (hop, rate) in [(48u32, 48_000u32), (100, 48_000), (7, 8_000), (144, 48_000)] {
        let p = Params {
            reduction_db: NEARLY_OPEN_DB,
            latency_ms: 3.0,
            hop,
            ..Params::default()
        };
        let cfg = stft_config(&p, rate);
        assert_eq!(cfg.synth_len, (3 * rate / 1000) as usize + 1);
        check_open_gate(&p, rate, 2, SignalKind::Real, hop as u64, vec![33]).unwrap();
    }
}

/// One of the edge geometries or a random one.
fn geometry() -> impl Strategy<Value = (u32, u32, u32)> {
    prop_oneof![
        proptest::sample::select(GEOMETRIES.to_vec()),
        (2u32..400).prop_flat_map(|n| (Just(n), 1..=n, n..n + 80)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn open_gate_output_is_input_delayed_by_latency_whatever_the_chunking(
        window in proptest::sample::select(WindowKind::ALL.to_vec()),
        (n, h, m) in geometry(),
        rate in proptest::sample::select(vec![8_000u32, 24_000, 48_000, 2_000_000]),
        channels in proptest::sample::select(vec![1usize, 2, 5]),
        seed in any::<u64>(),
        sizes in proptest::collection::vec(1usize..1500, 1..20),
    ) {
        let p = open_params(window, n, h, m);
        prop_assume!(stft_config(&p, rate).validate().is_ok());
        check_open_gate(&p, rate, channels, SignalKind::Real, seed, sizes)?;
    }

    #[test]
    fn open_gate_complex_iq_output_is_input_delayed_by_latency_whatever_the_chunking(
        window in proptest::sample::select(WindowKind::ALL.to_vec()),
        (n, h, m) in geometry(),
        rate in proptest::sample::select(vec![8_000u32, 48_000, 2_000_000]),
        channels in proptest::sample::select(vec![2usize, 4]),
        seed in any::<u64>(),
        sizes in proptest::collection::vec(1usize..1500, 1..20),
    ) {
        let p = open_params(window, n, h, m);
        prop_assume!(stft_config(&p, rate).validate().is_ok());
        check_open_gate(&p, rate, channels, SignalKind::Complex, seed, sizes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random asymmetric geometries: frame N, synthesis S < N, hop ≤ S, FFT ≥ N, real and I/Q.
    #[test]
    fn open_gate_low_delay_output_is_input_delayed_by_latency_whatever_the_chunking(
        (n, s, h) in (8u32..600).prop_flat_map(|n| (Just(n), 2..n))
            .prop_flat_map(|(n, s)| (Just(n), Just(s), 1..=s)),
        pad in 0u32..300,
        rate in proptest::sample::select(vec![8_000u32, 44_100, 48_000, 2_000_000]),
        (channels, kind) in proptest::sample::select(vec![
            (1usize, SignalKind::Real), (3, SignalKind::Real), (2, SignalKind::Complex),
        ]),
        seed in any::<u64>(),
        sizes in proptest::collection::vec(1usize..1500, 1..20),
    ) {
        // latency_ms chosen so that ⌊latency_ms·rate/1000⌋ = s − 1 exactly.
        let p = Params {
            latency_ms: ((s - 1) as f64 + 0.5) * 1000.0 / rate as f64,
            ..open_params(WindowKind::SqrtHann, n, h, n + pad)
        };
        let cfg = stft_config(&p, rate);
        prop_assert_eq!((cfg.frame_len, cfg.synth_len, cfg.hop), (n as usize, s as usize, h as usize));
        prop_assume!(cfg.validate().is_ok());
        prop_assert_eq!(Engine::new(&p, rate, channels, kind).unwrap().latency_samples(), s as usize - 1);
        check_open_gate(&p, rate, channels, kind, seed, sizes)?;
    }
}

/// Low noise with loud tone bursts and a noise burst: the gate opens and closes, the tracker
/// moves, the attack/release smoothing is busy.
fn gated_scene(frames: usize, channels: usize, rate: u32, seed: u64) -> Vec<f32> {
    let n = white(frames * channels, seed);
    let mut x = vec![0.0f32; frames * channels];
    for f in 0..frames {
        let t = f as f32 / rate as f32;
        let on = ((t * 4.0) as usize) % 2 == 1;
        for c in 0..channels {
            let tone = if on {
                0.5 * (2.0 * std::f32::consts::PI * (700.0 + 300.0 * c as f32) * t).sin()
            } else {
                0.0
            };
            let burst = if (0.9..1.0).contains(&t) { 0.3 } else { 0.01 };
            x[f * channels + c] = burst * n[f * channels + c] + tone;
        }
    }
    x
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn active_gate_output_is_bit_identical_whatever_the_chunking(
        (name, latency_ms) in proptest::sample::select(vec![
            ("voice", None), ("cw", None), ("am", None), ("nfm", None),
            ("voice", Some(3.0)), ("voice", Some(5.0)), ("cw", Some(2.5)),
        ]),
        rate in proptest::sample::select(vec![8_000u32, 48_000]),
        (channels, kind) in proptest::sample::select(vec![
            (1usize, SignalKind::Real), (2, SignalKind::Real), (2, SignalKind::Complex),
        ]),
        seed in any::<u64>(),
        sizes in proptest::collection::vec(1usize..3000, 1..30),
    ) {
        let mut p = preset(name);
        if let Some(ms) = latency_ms {
            p.latency_ms = ms;
        }
        let frames = (1.3 * rate as f64) as usize;
        let x = gated_scene(frames, channels, rate, seed);
        let mut whole = Engine::new(&p, rate, channels, kind).unwrap();
        let y_whole = run(&mut whole, &x, &Chunking::Huge);
        // The gate really is active: in the middle of the tone-free stretch 0.5–0.75 s the
        // noise is pushed down by more than 3 dB (am allows only 10 dB in all).
        let lat = whole.latency_samples();
        let quiet = |v: &[f32], shift: usize| -> f64 {
            let (a, b) = ((rate * 11 / 20) as usize + shift, (rate * 7 / 10) as usize + shift);
            v[a * channels..b * channels].iter().map(|s| (*s as f64).powi(2)).sum()
        };
        let att = 10.0 * (quiet(&x, 0) / quiet(&y_whole, lat)).log10();
        prop_assert!(att > 3.0, "{}: gate removed only {} dB", name, att);
        for chunking in [Chunking::Sizes(sizes), Chunking::Primes] {
            let mut e = Engine::new(&p, rate, channels, kind).unwrap();
            let y = run(&mut e, &x, &chunking);
            prop_assert_eq!(first_difference(&y, &y_whole), None, "{} {} {:?}", name, rate, chunking);
        }
    }
}

#[test]
fn active_gate_output_is_bit_identical_one_sample_at_a_time() {
    for name in ["voice", "cw"] {
        let p = preset(name);
        let x = gated_scene(48_000, 1, 48_000, 7);
        let mut a = Engine::new(&p, 48_000, 1, SignalKind::Real).unwrap();
        let mut b = Engine::new(&p, 48_000, 1, SignalKind::Real).unwrap();
        assert_eq!(
            first_difference(
                &run(&mut a, &x, &Chunking::Ones),
                &run(&mut b, &x, &Chunking::Huge)
            ),
            None,
            "{name}"
        );
    }
}

/// Learning a profile from the first seconds, then gating with it, is a property of the stream,
/// not of how it was chunked.
///
/// Known engine bug: `Engine::process` switches from learning to the learned profile only at the
/// end of a `process` call, and multichannel learning shares one frame counter across channels
/// that are run one after another per call, so the switch point depends on the chunking.
#[test]
fn learn_mode_output_is_bit_identical_whatever_the_chunking() {
    let p = Params {
        learn: 0.25,
        ..preset("voice")
    };
    for (channels, kind) in [(1, SignalKind::Real), (2, SignalKind::Real)] {
        let x = gated_scene(48_000, channels, 48_000, 11);
        let mut whole = Engine::new(&p, 48_000, channels, kind).unwrap();
        let y_whole = run(&mut whole, &x, &Chunking::Huge);
        let mut e = Engine::new(&p, 48_000, channels, kind).unwrap();
        let y = run(&mut e, &x, &Chunking::Sizes(vec![480]));
        assert!(e.has_fixed_profile(), "learning never completed");
        assert!(
            whole.has_fixed_profile(),
            "one-chunk stream never switched to the learned profile"
        );
        assert_eq!(first_difference(&y, &y_whole), None, "{channels} channels");
    }
}

#[test]
fn a_signal_in_one_channel_never_leaks_into_another() {
    let rate = 16_000;
    for (name, open) in [("voice", true), ("voice", false), ("cw", false)] {
        let p = Params {
            reduction_db: if open { 0.0 } else { preset(name).reduction_db },
            ..preset(name)
        };
        for (channels, kind, width) in [
            (2usize, SignalKind::Real, 1usize),
            (5, SignalKind::Real, 1),
            (4, SignalKind::Complex, 2),
        ] {
            let frames = rate as usize;
            let s = gated_scene(frames, width, rate, 3);
            let mono = {
                let mut e = Engine::new(&p, rate, width, kind).unwrap();
                run(&mut e, &s, &Chunking::Sizes(vec![129]))
            };
            for lane in 0..channels / width {
                // `lane` carries the signal; every other channel carries silence, then other noise.
                for others in [None, Some(lane as u64 + 100)] {
                    let noise = others.map(|seed| white(frames * channels, seed));
                    let mut x = vec![0.0f32; frames * channels];
                    for f in 0..frames {
                        for c in 0..channels {
                            x[f * channels + c] = if c / width == lane {
                                s[f * width + c % width]
                            } else {
                                noise.as_ref().map_or(0.0, |n| n[f * channels + c])
                            };
                        }
                    }
                    let mut e = Engine::new(&p, rate, channels, kind).unwrap();
                    let y = run(&mut e, &x, &Chunking::Sizes(vec![129]));
                    for f in 0..frames {
                        for c in 0..channels {
                            let v = y[f * channels + c];
                            if c / width == lane {
                                assert_eq!(
                                    v.to_bits(),
                                    mono[f * width + c % width].to_bits(),
                                    "{name} open={open} {channels}ch {kind:?}: lane {lane} \
                                     differs from a mono run at frame {f} (others {others:?})"
                                );
                            } else if others.is_none() {
                                assert_eq!(
                                    v, 0.0,
                                    "{name} open={open} {channels}ch {kind:?}: lane {lane} \
                                     leaked into channel {c} at frame {f}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn digital_preset_is_the_input_delayed_bit_exactly() {
    let p = preset("digital");
    for rate in [8_000u32, 48_000] {
        for (channels, kind) in [
            (1, SignalKind::Real),
            (2, SignalKind::Real),
            (5, SignalKind::Real),
            (2, SignalKind::Complex),
        ] {
            let frames = rate as usize / 2;
            let x = white(frames * channels, rate as u64 + channels as u64);
            for chunking in [Chunking::Huge, Chunking::Primes, Chunking::Ones] {
                let mut e = Engine::new(&p, rate, channels, kind).unwrap();
                let lat = e.latency_samples() * channels;
                assert!(lat > 0);
                let y = run(&mut e, &x, &chunking);
                assert!(y[..lat].iter().all(|v| v.to_bits() == 0));
                assert_eq!(
                    first_difference(&y[lat..], &x[..x.len() - lat]),
                    None,
                    "{rate} {channels} {kind:?} {chunking:?}"
                );
            }
        }
    }
}

/// Toggling bypass mid-stream cross-fades between the masked output and the delayed input: the
/// output is exactly the masked output before, exactly the delayed input after, a monotonic blend
/// in between, and no sample-to-sample step exceeds what the two signals and a 10 ms fade allow.
#[test]
fn toggling_bypass_mid_stream_crossfades_without_a_step() {
    let rate = 48_000u32;
    let p = preset("voice");
    // A steady 50 Hz tone from the start: the tracker takes it as the floor, so the gate pushes
    // it down by 18 dB and the masked and bypassed signals differ by ~0.4 — an abrupt switch
    // would jump by that much, a sample-to-sample step 100× larger than the tone's.
    let frames = rate as usize;
    let n = white(frames, 5);
    let x: Vec<f32> = (0..frames)
        .map(|i| {
            0.5 * (2.0 * std::f32::consts::PI * 50.0 * i as f32 / rate as f32).sin() + 1e-3 * n[i]
        })
        .collect();
    let wet = {
        let mut e = Engine::new(&p, rate, 1, SignalKind::Real).unwrap();
        run(&mut e, &x, &Chunking::Sizes(vec![256]))
    };
    let mut e = Engine::new(&p, rate, 1, SignalKind::Real).unwrap();
    let lat = e.latency_samples();
    let dry: Vec<f32> = (0..frames)
        .map(|i| if i >= lat { x[i - lat] } else { 0.0 })
        .collect();
    let (on_at, off_at) = (256 * 110, 256 * 150); // 0.59 s and 0.8 s
    let mut y = vec![0.0; frames];
    for start in (0..frames).step_by(256) {
        if start == on_at {
            e.set_bypass(true);
        }
        if start == off_at {
            e.set_bypass(false);
        }
        let end = (start + 256).min(frames);
        e.process(&x[start..end], &mut y[start..end]);
    }
    let fade = (0.01 * rate as f64) as usize; // 480 samples
    let gap = (on_at..on_at + fade)
        .map(|i| (dry[i] - wet[i]).abs())
        .fold(0.0, f32::max);
    assert!(
        gap > 0.2,
        "masked and bypassed signals barely differ ({gap})"
    );
    assert_eq!(
        first_difference(&y[..on_at], &wet[..on_at]),
        None,
        "before bypass"
    );
    assert_eq!(
        first_difference(&y[on_at + fade + 2..off_at], &dry[on_at + fade + 2..off_at]),
        None,
        "bypassed"
    );
    assert_eq!(
        first_difference(&y[off_at + fade + 2..], &wet[off_at + fade + 2..]),
        None,
        "back to processed"
    );
    for (from, to, rising) in [(&wet, &dry, true), (&dry, &wet, false)] {
        let t0 = if rising { on_at } else { off_at };
        let mut prev_m = 0.0f32;
        for i in t0..t0 + fade + 2 {
            let d = to[i] - from[i];
            // Blend position m ∈ [0, 1], non-decreasing (where it is measurable).
            if d.abs() > 1e-2 {
                let m = (y[i] - from[i]) / d;
                assert!(
                    (-1e-4..=1.0 + 1e-4).contains(&m) && m >= prev_m - 1e-3,
                    "sample {i}: blend {m} after {prev_m}"
                );
                prev_m = m;
            }
            // |Δy| ≤ max(|Δfrom|, |Δto|) + |to − from| / fade (the fade's own slope).
            let bound = (from[i] - from[i - 1]).abs().max((to[i] - to[i - 1]).abs())
                + (to[i - 1] - from[i - 1]).abs() / fade as f32
                + 1e-6;
            let step = (y[i] - y[i - 1]).abs();
            assert!(step <= bound, "sample {i}: step {step} > {bound}");
        }
    }
}

#[test]
fn geometries_that_cannot_reconstruct_are_refused_naming_the_numbers() {
    // Windows that are (nearly) zero at the frame edge cannot reconstruct with hop == frame.
    for (window, frame, hop) in [
        (WindowKind::SqrtHann, 64u32, 64u32),
        (WindowKind::Hann, 480, 480),
        (WindowKind::BlackmanHarris, 100, 100),
    ] {
        let p = Params {
            window,
            frame,
            hop,
            ..Params::default()
        };
        let err = Engine::new(&p, 48_000, 1, SignalKind::Real)
            .err()
            .expect("must be refused");
        let msg = err.to_string();
        assert!(
            matches!(err, EngineError::Stft(StftError::Nola { frame_len, hop: h, offset: 0, .. })
                if frame_len == frame as usize && h == hop as usize),
            "{msg}"
        );
        for needle in [
            format!("frame {frame}"),
            format!("hop {hop}"),
            window.name().to_string(),
        ] {
            assert!(msg.contains(&needle), "'{msg}' lacks '{needle}'");
        }
    }
    // Overlap 1 with the default sqrt-Hann at 48 kHz: 20 ms = 960 samples, hop 960.
    let p = Params {
        overlap: 1,
        frame_ms: 20.0,
        latency_ms: 0.0,
        ..preset("voice")
    };
    let msg = Engine::new(&p, 48_000, 1, SignalKind::Real)
        .err()
        .expect("must be refused")
        .to_string();
    assert!(
        msg.contains("frame 960") && msg.contains("hop 960"),
        "{msg}"
    );
    // Impossible geometries name their numbers too.
    for (frame, hop, fft, needles) in [
        (64u32, 65u32, 0u32, ["65", "64"]),
        (64, 16, 32, ["32", "64"]),
        (1, 1, 0, ["1", "2"]),
    ] {
        let p = Params {
            frame,
            hop,
            fft_size: fft,
            ..Params::default()
        };
        let msg = Engine::new(&p, 48_000, 1, SignalKind::Real)
            .err()
            .expect("must be refused")
            .to_string();
        assert!(needles.iter().all(|n| msg.contains(n)), "{msg}");
    }
}

#[test]
fn a_fully_open_gate_is_bit_exact() {
    for (channels, kind) in [
        (1usize, SignalKind::Real),
        (2, SignalKind::Real),
        (2, SignalKind::Complex),
    ] {
        let p = Params {
            reduction_db: 0.0,
            ..preset("voice")
        };
        let mut e = Engine::new(&p, 48_000, channels, kind).unwrap();
        let lat = e.latency_samples() * channels;
        let x = white(48_000 * channels, 11);
        let y = run(&mut e, &x, &Chunking::Sizes(vec![97 * channels]));
        assert!(y[..lat].iter().all(|v| v.to_bits() == 0));
        assert_eq!(first_difference(&y[lat..], &x[..x.len() - lat]), None);
    }
}

#[test]
fn the_mask_hook_reports_each_frames_gains_between_the_floor_and_one() {
    let p = preset("voice");
    let rate = 16_000;
    let mut e = Engine::new(&p, rate, 2, SignalKind::Real).unwrap();
    let bins = e.bins();
    let hop = e.stft_config().hop;
    let floor = 10f32.powf(-(p.reduction_db as f32) / 20.0);
    let x = white(2 * rate as usize, 3);
    let mut y = vec![0.0; x.len()];
    let mut frames = [0usize; 2];
    let mut below_one = 0usize;
    e.process_with_mask(&x, &mut y, |ch, g| {
        assert_eq!(g.len(), bins);
        assert!(
            g.iter().all(|v| *v >= floor * 0.999 && *v <= 1.0),
            "gain out of range"
        );
        below_one += g.iter().filter(|v| **v < 0.5).count();
        frames[ch] += 1;
    });
    assert_eq!(frames, [rate as usize / hop; 2]);
    assert!(
        below_one > 0,
        "a noise-only input must be attenuated somewhere"
    );
}
