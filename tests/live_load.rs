//! The acceptance test of issue 9, on the audio rig (`.ci/audio-rig.sh`) with the machine made
//! busy on purpose: two busy-looping processes occupy both cores for the whole run while 60 s
//! of noisy speech goes through `specgate run`. It checks what a listener and a monitoring
//! script would see:
//!
//! - silent gaps (runs of ≥ 1 ms of exact digital silence in the output while the stimulus
//!   plays) total at most 0.1 % of the output time — specgate's gaps: a gap in both channels
//!   of the recording at the same instant is the bus's or the recorder's and is reported apart
//!   (and if the rig drops more than 1 % itself, the test fails: it cannot judge then);
//! - every drift figure after 10 s is within ±50 ppm, the issue's bound (both ends run on one
//!   clock: true drift 0; the figure is 0 until measured, from about 15 s on; it read up to
//!   26.4 ppm once with two other engineers' builds and test runs beside the busy loops);
//! - no negative latency, buffer, cushion or attenuation figure in any status or `--stats` line;
//! - every noise-only stretch after the first second is attenuated by at least 10 dB.
//!
//! Without the rig it prints SKIPPED and why (it cannot pass or fail then; it is not counted
//! as a pass), and with `SPECGATE_REQUIRE_RIG=1` (as `.ci/run` sets) it fails instead. It runs
//! in the suite (`./dev.sh test` and `.ci/run` start the rig). With the two busy loops, and two
//! cargo builds running beside them, it passed 3 runs in a row: 0 gaps, 0 dropouts, 0 xruns,
//! worst drift 4.0–14.4 ppm, noise-only attenuation 20.1–20.2 dB. On a far heavier load (seven
//! parallel builds besides the two loops, load average 15–22) it measured 0.16–0.53 % silent
//! gaps from specgate's own ring underruns (1–4 per minute): that load is beyond what this test
//! asks, and is the next step for issue 9 (native hosts, real-time callbacks).
//! On the PipeWire rig (`audio_rig_start pipewire`: the default host is then PipeWire's native
//! one, with specgate's own real-time streams, `src/live/pw.rs`) it runs the same way. Run it
//! alone:
//!
//! ```sh
//! source .ci/audio-rig.sh; audio_rig_install; audio_rig_start; trap audio_rig_stop EXIT
//! cargo test --test live_load -- --nocapture
//! ```
//!
//! Where a gap comes from is told by counters on each side: specgate's own (`dropouts` = ring
//! underruns, host xruns per end, in `--stats`), and the harness's: gaps in the left channel
//! of the recording (the stimulus as the server played it) are the recorder's, the bus's or
//! the player's, not specgate's.

mod common;

use specgate::eval::signals::{speech_like, Rng};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const RATE: u32 = 48_000;
const SECONDS: f64 = 60.0;
/// Speech plays in [4k + 1.5, 4k + 4) s; [4k, 4k + 1.5) is noise only.
const CYCLE: f64 = 4.0;
const NOISE_ONLY: f64 = 1.5;

/// 60 s: white noise at −40 dBFS RMS throughout, speech (RMS −20 dBFS while on) in the second
/// part of every 4 s cycle, and a −10 dBFS chirp in the first 100 ms to locate the stimulus.
fn stimulus() -> Vec<f32> {
    let n = (SECONDS * RATE as f64) as usize;
    let speech = speech_like(RATE, SECONDS, 9);
    let mut rng = Rng::new(0x5eed);
    let noise_amp = 10f64.powf(-40.0 / 20.0) * 3f64.sqrt();
    let tau = std::f64::consts::TAU;
    (0..n)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let mut v = rng.range(-1.0, 1.0) * noise_amp;
            if t % CYCLE >= NOISE_ONLY {
                v += speech[i] as f64;
            }
            if t < 0.1 {
                v += 10f64.powf(-10.0 / 20.0)
                    * 2f64.sqrt()
                    * (tau * (300.0 * t + 0.5 * 5700.0 / 0.1 * t * t)).sin();
            }
            v as f32
        })
        .collect()
}

/// Index of the best match of `pat` in `sig` (FFT cross-correlation, |peak|).
fn locate(sig: &[f32], pat: &[f32]) -> usize {
    use rustfft::{num_complex::Complex, FftPlanner};
    let n = (sig.len() + pat.len()).next_power_of_two();
    let mut p = FftPlanner::<f64>::new();
    let (f, inv) = (p.plan_fft_forward(n), p.plan_fft_inverse(n));
    let pad = |x: &[f32]| -> Vec<Complex<f64>> {
        (0..n)
            .map(|i| Complex::new(*x.get(i).unwrap_or(&0.0) as f64, 0.0))
            .collect()
    };
    let (mut a, mut b) = (pad(sig), pad(pat));
    f.process(&mut a);
    f.process(&mut b);
    let mut c: Vec<Complex<f64>> = a.iter().zip(&b).map(|(x, y)| x * y.conj()).collect();
    inv.process(&mut c);
    (0..sig.len())
        .max_by(|&i, &j| c[i].norm().total_cmp(&c[j].norm()))
        .unwrap()
}

fn power(x: &[f32]) -> f64 {
    x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64
}

/// Kills its processes when dropped (also when an assertion fails).
struct Busy(Vec<Child>);
impl Drop for Busy {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Which samples of `x` lie in a run of ≥ `min` exact zeros.
fn gap_mask(x: &[i16], min: usize) -> Vec<bool> {
    let mut mask = vec![false; x.len()];
    let mut start = 0;
    for i in 0..=x.len() {
        if i < x.len() && x[i] == 0 {
            continue;
        }
        if i - start >= min {
            mask[start..i].fill(true);
        }
        start = i + 1;
    }
    mask
}

/// Total length of the runs of ≥ `min` exact zeros in `x`.
fn silent_gaps(x: &[i16], min: usize) -> (usize, usize) {
    let (mut total, mut count, mut run) = (0, 0, 0);
    for &v in x.iter().chain(std::iter::once(&1)) {
        if v == 0 {
            run += 1;
        } else {
            if run >= min {
                total += run;
                count += 1;
            }
            run = 0;
        }
    }
    (total, count)
}

/// The number after `key` in a status line (`latency  65.1 ms` → 65.1).
fn figure(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn sixty_seconds_of_noisy_speech_with_both_cores_busy_have_no_gaps_and_honest_figures() {
    let Some((inp, out)) = common::audio_rig("live_load") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stim = stimulus();
    let stim_path = dir.path().join("stim.wav");
    let bus_path = dir.path().join("bus.wav");
    let stats_path = dir.path().join("stats.jsonl");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&stim_path, spec).unwrap();
    for v in &stim {
        w.write_sample((v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();

    let _busy = Busy(
        (0..2)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let mut rec = Command::new("parec")
        .args([
            "-d",
            "rig_bus.monitor",
            "--latency-msec=10",
            "--channels=2",
            "--rate=48000",
            "--format=s16le",
            "--file-format=wav",
            bus_path.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .spawn()
        .expect("parec");
    std::thread::sleep(Duration::from_millis(200));
    common::audio_rig_wake();
    let duration = format!("{}", SECONDS + 4.0);
    let period_ms = std::env::var("SPECGATE_LOAD_PERIOD_MS").unwrap_or_else(|_| "40".into());
    let prog = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args([
            "run",
            "--input",
            &inp,
            "--output",
            &out,
            "--duration",
            &duration,
            "--stats",
            stats_path.to_str().unwrap(),
            // 40 ms device periods: with the default 10 ms the ALSA `pulse` plugin's callback
            // thread misses its deadlines on a machine this busy (host xruns every second or
            // so; the ring cushion cannot help with those). `SPECGATE_LOAD_PERIOD_MS` tries
            // another. (cpal's own PipeWire streams, which call back from a main-loop thread,
            // left 0.65–2.2 % silent here; specgate's, called on PipeWire's real-time data
            // thread, are what the PipeWire rig runs: `SPECGATE_PW_STREAMS=cpal` compares.)
            "--period-ms",
            &period_ms,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let played = Command::new("paplay")
        .args(["-d", "rig_in", stim_path.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(played.success());
    let res = prog.wait_with_output().unwrap();
    // SAFETY: signals our own child.
    unsafe {
        libc::kill(rec.id() as i32, libc::SIGINT);
    }
    let _ = rec.wait();
    let stderr = String::from_utf8_lossy(&res.stderr).into_owned();
    eprintln!("{stderr}");
    assert!(res.status.success(), "specgate failed: {:?}", res.status);

    // The recording: L = stimulus as fed, R = specgate's output, one clock.
    let r = hound::WavReader::open(&bus_path).unwrap();
    let s: Vec<i16> = r.into_samples::<i16>().map(|v| v.unwrap()).collect();
    let left: Vec<f32> = s.iter().step_by(2).map(|v| *v as f32 / 32768.0).collect();
    let right_i: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    let right: Vec<f32> = right_i.iter().map(|v| *v as f32 / 32768.0).collect();
    let chirp = &stim[..RATE as usize / 10];
    let (kl, kr) = (locate(&left, chirp), locate(&right, chirp));
    assert!(kr > kl, "the output chirp precedes the input chirp");
    let delay = kr - kl;
    let n = (SECONDS * RATE as f64) as usize;
    assert!(right.len() >= kr + n, "the recording stops early");

    // Silent gaps while the stimulus plays through. A gap in *both* channels at the same
    // instant of the recording is the bus's or the recorder's (the stimulus channel is never
    // exactly silent, and specgate's output of a gap in its input would come `delay` later):
    // on the PipeWire rig with both cores busy the bus itself drops whole 5.3 ms quanta now and
    // then, in both channels at once. Those samples are not specgate's and are counted apart.
    let min = RATE as usize / 1000;
    let left_i: Vec<i16> = s.iter().step_by(2).copied().collect();
    let bus_gap = gap_mask(&left_i, min);
    let (gap, gaps) = silent_gaps(&right_i[kr..kr + n], min);
    let own: Vec<i16> = (kr..kr + n)
        .map(|j| if bus_gap[j] { 1 } else { right_i[j] })
        .collect();
    let (own_gap, own_gaps) = silent_gaps(&own, min);
    let gap_pct = own_gap as f64 / n as f64 * 100.0;
    // The same on the stimulus as recorded (harness side: player, server, recorder).
    let (lgap, lgaps) = silent_gaps(&left_i[kl..kl + n], min);
    let bus_pct = lgap as f64 / n as f64 * 100.0;

    // Noise-only stretches after the first second, inner 1 s of each (the delay may grow by
    // the cushion during the run: the 250 ms margins absorb that).
    let mut worst_atten = f64::INFINITY;
    let mut k = 1;
    while (k as f64) * CYCLE + NOISE_ONLY <= SECONDS {
        let a = ((k as f64 * CYCLE + 0.25) * RATE as f64) as usize;
        let b = ((k as f64 * CYCLE + NOISE_ONLY - 0.25) * RATE as f64) as usize;
        let att = 10.0
            * (power(&left[kl + a..kl + b]) / power(&right[kl + delay + a..kl + delay + b]))
                .log10();
        worst_atten = worst_atten.min(att);
        k += 1;
    }
    // Honest figures: status lines and --stats lines.
    let status: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("latency ") && !l.starts_with("latency budget"))
        .collect();
    let stats: Vec<serde_json::Value> = std::fs::read_to_string(&stats_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let worst_drift = stats
        .iter()
        .filter(|s| s["t_s"].as_f64().unwrap() >= 10.0)
        .map(|s| s["drift_ppm"].as_f64().unwrap().abs())
        .fold(0.0, f64::max);
    let last = stats.last().cloned().unwrap_or_default();
    let cpu: Vec<f64> = stats
        .iter()
        .filter_map(|s| s["cpu_percent"].as_f64())
        .collect();
    eprintln!(
        "live_load: delay {:.1} ms; specgate's output gaps {own_gaps} totalling {:.1} ms = {gap_pct:.3} % of {SECONDS} s \
         (all output-channel gaps: {gaps}, {:.1} ms; stimulus channel: {lgaps} gaps, {:.1} ms = {bus_pct:.3} %); \
         specgate: dropouts {}, xruns in {} out {}; \
         worst |drift| after 10 s {worst_drift:.1} ppm; worst noise-only attenuation {worst_atten:.1} dB; \
         mean cpu {:.1} %; last stats {last}",
        delay as f64 * 1000.0 / RATE as f64,
        own_gap as f64 * 1000.0 / RATE as f64,
        gap as f64 * 1000.0 / RATE as f64,
        lgap as f64 * 1000.0 / RATE as f64,
        last["dropouts"],
        last["xruns_in"],
        last["xruns_out"],
        cpu.iter().sum::<f64>() / cpu.len().max(1) as f64,
    );
    assert!(status.len() >= 50, "only {} status lines", status.len());
    for l in &status {
        for key in ["latency", "cushion", "atten"] {
            let v = figure(l, key).unwrap_or_else(|| panic!("no {key} in '{l}'"));
            assert!((0.0..1000.0).contains(&v), "{key} {v} in '{l}'");
        }
    }
    assert!(stats.len() >= 50, "only {} stats lines", stats.len());
    for s in &stats {
        for key in ["latency_ms", "buffered_ms", "cushion_ms", "attenuation_db"] {
            let v = s[key].as_f64().unwrap();
            assert!((0.0..1000.0).contains(&v), "{key} {v} in {s}");
        }
        for key in ["xruns_in", "xruns_out", "dropouts"] {
            assert!(s[key].as_u64().is_some(), "{key} in {s}");
        }
        if let Some(c) = s["cpu_percent"].as_f64() {
            assert!(c >= 0.0, "{s}");
        }
    }
    // A rig that drops more than this cannot judge specgate (its gaps would hide specgate's).
    assert!(
        bus_pct <= 1.0,
        "the rig itself dropped {bus_pct:.3} % of the stimulus channel"
    );
    assert!(gap_pct <= 0.1, "silent gaps: {gap_pct:.3} % of the output");
    assert!(
        worst_drift <= 50.0,
        "drift estimate reached {worst_drift:.1} ppm"
    );
    assert!(
        worst_atten >= 10.0,
        "a noise-only stretch was attenuated by only {worst_atten:.1} dB"
    );
}
