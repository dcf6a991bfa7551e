//! `specgate latency --input DEV --output DEV`: the device round trip through a loopback.
//!
//! The analysis (chirp, cross-correlation, clock fit) is checked against analytic truths on
//! every run. The device tests need the audio rig and are skipped (with a notice) without it:
//!
//! ```sh
//! source .ci/audio-rig.sh; audio_rig_install; audio_rig_start; trap audio_rig_stop EXIT
//! cargo test --test latency_roundtrip -- --test-threads=1
//! ```
//!
//! With the rig, the test loads its own null sink (`pactl load-module module-null-sink`) and two
//! hinted ALSA PCMs, one playing into the sink and one capturing its monitor: a real loopback.

mod common;

use specgate::live::roundtrip::{block_starts, clock_offset_ns, locate, log_chirp};
use std::process::Command;
use std::sync::Mutex;

const RATE: u32 = 48_000;
static RIG: Mutex<()> = Mutex::new(());

/// Deterministic uniform noise in [−a, a] (xorshift).
fn noise(n: usize, a: f32, seed: u64) -> Vec<f32> {
    let mut s = seed ^ 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
        })
        .collect()
}

#[test]
fn log_chirp_crosses_zero_as_often_as_its_sweep_predicts() {
    // A log sweep f0→f1 over T has ∫f dt = (f1−f0)·T/ln(f1/f0) cycles, two zero crossings each.
    let (f0, f1, t) = (100.0f64, 8000.0f64, 0.2f64);
    let c = log_chirp(RATE, f0, f1, t);
    assert_eq!(c.len(), 9600);
    let expected = 2.0 * (f1 - f0) * t / (f1 / f0).ln();
    let crossings = c
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0) && w[0] != 0.0)
        .count() as f64;
    assert!(
        (crossings - expected).abs() <= 2.0,
        "{crossings} crossings, expected {expected:.1}"
    );
    assert!(c.iter().all(|v| v.abs() <= 0.5));
    // Faded in and out: no click at either end.
    assert!(c[0].abs() < 1e-6 && c[c.len() - 1].abs() < 1e-3);
}

#[test]
fn lock_step_blocks_are_timed_by_their_first_frame() {
    assert_eq!(
        block_starts(&[(256, 10), (512, 20), (768, 30)]),
        [(0, 10), (256, 20), (512, 30)]
    );
    assert!(block_starts(&[]).is_empty());
}

#[test]
fn locate_finds_an_inverted_chirp_in_noise_at_its_exact_offset() {
    let c = log_chirp(RATE, 100.0, 8000.0, 0.2);
    let mut sig = noise(RATE as usize, 0.01, 7);
    let at = 12_345;
    for (i, v) in c.iter().enumerate() {
        sig[at + i] -= 0.7 * v;
    }
    let (lag, ncc) = locate(&sig, &c).unwrap();
    assert_eq!(lag, at);
    // Chirp RMS ≈ 0.35·0.7 ≈ 0.24 against noise RMS 0.0058: ncc ≈ −0.9997.
    assert!(ncc < -0.99, "ncc {ncc}");
}

#[test]
fn locate_reports_a_weak_correlation_when_the_chirp_is_absent() {
    let c = log_chirp(RATE, 100.0, 8000.0, 0.2);
    let sig = noise(RATE as usize, 0.3, 11);
    let (_, ncc) = locate(&sig, &c).unwrap();
    assert!(ncc.abs() < 0.5, "ncc {ncc}");
    assert!(locate(&c[..100], &c).is_none());
}

#[test]
fn clock_offset_skips_the_start_up_burst_and_late_callbacks() {
    // Steady callbacks every 10 ms (480 frames) from t0 = 5 ms, with three start-up callbacks
    // at t = 1 ms and one late outlier: the offset is t0 = 5 ms exactly.
    let mut cb = vec![(0u64, 1_000_000u64), (480, 1_000_000), (960, 1_000_000)];
    for k in 3..40u64 {
        let late = if k == 20 { 4_000_000 } else { 0 };
        cb.push((k * 480, 5_000_000 + k * 10_000_000 + late));
    }
    assert_eq!(clock_offset_ns(&cb, RATE), Some(5_000_000.0));
    assert_eq!(clock_offset_ns(&[], RATE), None);
}

/// A null sink with ALSA PCMs on both sides; unloaded on drop.
struct Loopback {
    module: String,
    dir: tempfile::TempDir,
    play: String,
    cap: String,
}

impl Loopback {
    fn new() -> Loopback {
        let sink = format!("sg_loop_{}", std::process::id());
        let out = Command::new("pactl")
            .args([
                "load-module",
                "module-null-sink",
                &format!("sink_name={sink}"),
                "norewinds=1",
                "format=float32le",
                "rate=48000",
                "channels=1",
                "channel_map=mono",
            ])
            .output()
            .expect("pactl runs");
        assert!(out.status.success(), "pactl load-module: {out:?}");
        let module = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let dir = tempfile::tempdir().unwrap();
        let (play, cap) = (format!("{sink}_play"), format!("{sink}_cap"));
        std::fs::write(
            dir.path().join("loop.conf"),
            format!(
                "pcm.{play} {{ type pulse device \"{sink}\" hint {{ show on description \"loop playback\" }} }}\n\
                 pcm.{cap} {{ type pulse device \"{sink}.monitor\" hint {{ show on description \"loop capture\" }} }}\n"
            ),
        )
        .unwrap();
        Loopback {
            module,
            dir,
            play: format!("alsa:{play}"),
            cap: format!("alsa:{cap}"),
        }
    }

    fn alsa_config_path(&self) -> String {
        let base = std::env::var("ALSA_CONFIG_PATH")
            .unwrap_or_else(|_| "/usr/share/alsa/alsa.conf".into());
        format!("{base}:{}", self.dir.path().join("loop.conf").display())
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let _ = Command::new("pactl")
            .args(["unload-module", &self.module])
            .status();
    }
}

fn latency(input: &str, output: &str, alsa_path: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_specgate"));
    cmd.args([
        "latency", "--hops", "20", "--json", "--input", input, "--output", output,
    ]);
    if let Some(p) = alsa_path {
        cmd.env("ALSA_CONFIG_PATH", p);
    }
    cmd.output().expect("specgate runs")
}

#[test]
fn loopback_round_trip_is_found_positive_bounded_and_repeatable() {
    if common::audio_rig("latency_roundtrip").is_none() {
        return;
    }
    let _g = RIG.lock().unwrap_or_else(|e| e.into_inner());
    let lb = Loopback::new();
    let path = lb.alsa_config_path();
    let mut trips = vec![];
    for _ in 0..2 {
        let out = latency(&lb.cap, &lb.play, Some(&path));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "specgate latency failed: {stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rt = &v["device_round_trip"];
        let (dev, ncc) = (
            rt["device_ms"].as_f64().unwrap(),
            rt["correlation"].as_f64().unwrap(),
        );
        eprintln!("round trip: {rt}");
        assert!(ncc.abs() > 0.5, "correlation {ncc}");
        // Only clean measurements count, all positive; the report is their median.
        let clean: Vec<f64> = rt["measurements_ms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(!clean.is_empty() && clean.iter().all(|m| *m > 0.0), "{rt}");
        assert!(clean.contains(&dev), "{rt}");
        assert_eq!(rt["xruns"].as_u64(), Some(0), "{rt}");
        assert_eq!(rt["streams"].as_str(), Some("cpal's ALSA streams"), "{rt}");
        assert!(dev > 0.0 && dev < 500.0, "device round trip {dev} ms");
        // The total adds the engine's own latency (checked against the impulse) and the cushion.
        let alg = v["algorithmic_latency_ms"].as_f64().unwrap();
        let total = rt["run_total_ms"].as_f64().unwrap();
        let cushion = rt["cushion_ms"].as_f64().unwrap();
        assert!(cushion > 0.0);
        assert!((total - (alg + dev + cushion)).abs() < 1e-6);
        trips.push(dev);
    }
    assert!(
        (trips[0] - trips[1]).abs() < 5.0,
        "two measurements disagree: {trips:?} ms"
    );
}

#[test]
fn devices_without_a_loopback_fail_with_no_loopback_signal() {
    if common::audio_rig("latency_roundtrip").is_none() {
        return;
    }
    let _g = RIG.lock().unwrap_or_else(|e| e.into_inner());
    // rig_out's audio goes to the bus, never to rig_in.monitor.
    let (i, o) = (
        std::env::var("AUDIO_RIG_CPAL_IN").unwrap(),
        std::env::var("AUDIO_RIG_CPAL_OUT").unwrap(),
    );
    let out = latency(&i, &o, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no loopback signal"), "{stderr}");
    assert!(out.stdout.is_empty(), "no partial report on stdout");
}

/// `latency` measures the streams `run` uses: on PipeWire that is specgate's own streams (the
/// real-time data thread, lock-step), not cpal's. A sink captured on PipeWire is its monitor,
/// so `rig_in` → `rig_in` is a loopback.
#[test]
fn on_pipewire_latency_measures_the_streams_run_uses() {
    if common::audio_rig("latency_roundtrip").is_none() {
        return;
    }
    if std::env::var("AUDIO_RIG_SERVER").as_deref() != Ok("pipewire") {
        eprintln!(
            "latency_roundtrip (PipeWire stream layer): SKIPPED (not a pass) — the rig up is not \
             the PipeWire one (source .ci/audio-rig.sh; audio_rig_start pipewire)"
        );
        return;
    }
    let _g = RIG.lock().unwrap_or_else(|e| e.into_inner());
    for (layer, env) in [
        ("specgate's own PipeWire streams", None),
        ("cpal's PipeWire streams", Some("cpal")),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_specgate"));
        cmd.args([
            "latency", "--hops", "20", "--json", "--input", "rig_in", "--output", "rig_in",
        ]);
        match env {
            Some(v) => cmd.env("SPECGATE_PW_STREAMS", v),
            None => cmd.env_remove("SPECGATE_PW_STREAMS"),
        };
        let out = cmd.output().expect("specgate runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "specgate latency failed: {stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rt = &v["device_round_trip"];
        eprintln!("round trip ({layer}): {rt}");
        assert_eq!(rt["streams"].as_str(), Some(layer), "{rt}");
        assert_eq!(rt["lock_step"].as_bool(), Some(true), "{rt}");
        assert_eq!(rt["xruns"].as_u64(), Some(0), "{rt}");
        let dev = rt["device_ms"].as_f64().unwrap();
        assert!(dev > 0.0 && dev < 500.0, "device round trip {dev} ms");
        assert!(rt["correlation"].as_f64().unwrap().abs() > 0.5, "{rt}");
    }
}
