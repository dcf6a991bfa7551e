//! In a real host: PulseAudio's `module-ladspa-sink` loads the plugin on the private rig
//! (`.ci/audio-rig.sh`). Skipped, with a notice, unless the rig is up:
//!
//! ```sh
//! source .ci/audio-rig.sh; audio_rig_install; audio_rig_start; trap audio_rig_stop EXIT
//! cargo test --test pulse_host
//! ```
//!
//! One `paplay` stream goes into a combine sink that forks it, on the server's clock, into
//! `rig_in` (as fed: left channel of `rig_bus`) and into the specgate sink whose master is
//! `rig_out` (filtered: right channel). One `parec` of `rig_bus.monitor` records both, so the
//! delay is exact: a chirp marker located in both channels. The stimulus is speech-like audio in
//! white noise at 0 dB SNR (after 3 s of noise alone); the gain is ΔSI-SDR over the speech
//! window, aligned by that delay (window by window).

mod common;
use common::{chirp, locate, so_path, write_wav16, Host};
use specgate::eval::metrics::si_sdr;
use specgate::eval::signals::{noise, snr_gain, speech_like, NoiseColour};
use std::process::{Command, Stdio};
use std::time::Duration;

const RATE: u32 = 48_000;

fn rig_up() -> bool {
    let up = std::env::var("AUDIO_RIG_DIR").is_ok() && std::env::var("PULSE_SERVER").is_ok();
    if !up {
        eprintln!("pulse_host: SKIPPED — no audio rig (source .ci/audio-rig.sh; audio_rig_start)");
    }
    up
}

fn pactl(args: &[&str]) -> String {
    let o = Command::new("pactl").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "pactl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Modules loaded by this test, unloaded (last first) when it ends, pass or fail.
struct Modules(Vec<String>);
impl Drop for Modules {
    fn drop(&mut self) {
        for m in self.0.iter().rev() {
            let _ = Command::new("pactl").args(["unload-module", m]).status();
        }
    }
}

struct Stimulus {
    fed: Vec<f32>,
    clean: Vec<f32>,
    marker: Vec<f32>,
    marker_at: usize,
    speech_at: usize,
}

fn stimulus() -> Stimulus {
    let r = RATE as usize;
    // 3 s of noise before the speech: the sink ran on silence before the stream started, and the
    // blind tracker needs its minimum-search window (1.5 s) of noise to find the floor.
    let n = 9 * r;
    let speech_at = 3 * r;
    let speech = speech_like(RATE, 5.0, 3);
    let mut clean = vec![0.0f32; n];
    clean[speech_at..speech_at + speech.len()].copy_from_slice(&speech);
    let raw = noise(NoiseColour::White, RATE, n, 17);
    let region = speech_at..speech_at + speech.len();
    let g = snr_gain(&clean[region.clone()], &raw[region], 0.0) as f32;
    let marker = chirp(RATE, r / 10, 300.0, 6000.0, 0.5);
    let marker_at = 3 * r / 10;
    let mut fed: Vec<f32> = clean.iter().zip(&raw).map(|(c, v)| c + g * v).collect();
    for (i, m) in marker.iter().enumerate() {
        fed[marker_at + i] += m;
    }
    // Headroom for 16-bit files.
    let peak = fed.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let k = 0.8 / peak.max(0.8);
    fed.iter_mut().for_each(|v| *v *= k);
    clean.iter_mut().for_each(|v| *v *= k);
    let marker = marker.iter().map(|v| v * k).collect();
    Stimulus {
        fed,
        clean,
        marker,
        marker_at,
        speech_at,
    }
}

#[test]
fn module_ladspa_sink_gains_6_db_si_sdr_on_noisy_speech_with_the_reported_latency() {
    if !rig_up() {
        return;
    }
    let label = "specgate_voice_mono";
    let tag = std::process::id();
    let (sg, fork) = (format!("sg_test_{tag}"), format!("sg_fork_{tag}"));
    let so = so_path();
    let mut mods = Modules(Vec::new());
    mods.0.push(pactl(&[
        "load-module",
        "module-ladspa-sink",
        &format!("sink_name={sg}"),
        "sink_master=rig_out",
        &format!("plugin={}", so.display()),
        &format!("label={label}"),
        "control=20,6,0",
    ]));
    mods.0.push(pactl(&[
        "load-module",
        "module-combine-sink",
        &format!("sink_name={fork}"),
        &format!("slaves=rig_in,{sg}"),
        "adjust_time=0",
        "channels=1",
        &format!("rate={RATE}"),
    ]));

    let st = stimulus();
    let dir = tempfile::tempdir().unwrap();
    let (stim, bus) = (dir.path().join("stim.wav"), dir.path().join("bus.wav"));
    write_wav16(&stim, RATE, 1, &st.fed);
    let mut rec = Command::new("parec")
        .args([
            "-d",
            "rig_bus.monitor",
            "--latency-msec=10",
            "--channels=2",
            &format!("--rate={RATE}"),
            "--format=s16le",
            "--file-format=wav",
            bus.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    pactl(&["suspend-sink", "rig_bus", "1"]);
    pactl(&["suspend-sink", "rig_bus", "0"]);
    std::thread::sleep(Duration::from_millis(300));
    let played = Command::new("paplay")
        .args(["-d", &fork, stim.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(played.success());
    std::thread::sleep(Duration::from_millis(700));
    unsafe {
        libc::kill(rec.id() as i32, libc::SIGINT);
    }
    let _ = rec.wait();
    drop(mods);

    let (s, ch, _) = common::read_wav16(&bus);
    assert_eq!(ch, 2);
    let left: Vec<f32> = s.iter().step_by(2).map(|v| *v as f32 / 32768.0).collect();
    let right: Vec<f32> = s
        .iter()
        .skip(1)
        .step_by(2)
        .map(|v| *v as f32 / 32768.0)
        .collect();
    let (l0, r0) = (locate(&left, &st.marker), locate(&right, &st.marker));
    let delay = r0 as i64 - l0 as i64;
    let mut host = Host::new(label, RATE as u64, 16);
    host.activate();
    let latency = host.latency() as i64;
    let buffering = delay - latency;
    eprintln!(
        "pulse_host: delay {delay} samples ({:.2} ms) = plugin latency {latency} + server {buffering}",
        delay as f64 * 1000.0 / RATE as f64
    );

    // The speech window in windows of 0.25 s, each aligned on its own (a server underrun on a
    // loaded machine shifts the rest of the stream): the lag within ±10 ms of the marker's delay
    // that best correlates the output with the input as fed.
    let len = 5 * RATE as usize;
    let off = st.speech_at - st.marker_at;
    let li = l0 + off;
    let win = RATE as usize / 4;
    let (mut c_all, mut in_all, mut out_all) = (Vec::new(), Vec::new(), Vec::new());
    let mut shifted = 0;
    for w in 0..len / win {
        let a = li + w * win;
        let x = &left[a..a + win];
        let best = (-480i64..=480)
            .filter(|d| {
                let b = a as i64 + delay + d;
                b >= 0 && b as usize + win <= right.len()
            })
            .max_by(|&d1, &d2| {
                let corr = |d: i64| {
                    let b = (a as i64 + delay + d) as usize;
                    x.iter()
                        .zip(&right[b..b + win])
                        .map(|(p, q)| (p * q) as f64)
                        .sum::<f64>()
                };
                corr(d1).total_cmp(&corr(d2))
            })
            .expect("recording too short");
        shifted += usize::from(best != 0);
        let b = (a as i64 + delay + best) as usize;
        let c0 = st.speech_at + w * win;
        c_all.extend_from_slice(&st.clean[c0..c0 + win]);
        in_all.extend_from_slice(x);
        out_all.extend_from_slice(&right[b..b + win]);
    }
    let (si_in, si_out) = (si_sdr(&c_all, &in_all), si_sdr(&c_all, &out_all));
    eprintln!(
        "pulse_host: {shifted} of {} windows off the marker's delay",
        len / win
    );
    // The same plugin code offline, for comparison in the log.
    let offline = {
        let mut h = Host::new(label, RATE as u64, 1024);
        h.activate();
        let out = h.process(std::slice::from_ref(&st.fed), &[1024]);
        let a = st.speech_at + latency as usize;
        si_sdr(&c_all, &out[0][a..a + len])
    };
    eprintln!(
        "pulse_host: SI-SDR in {si_in:.2} dB, out {si_out:.2} dB, ΔSI-SDR {:.2} dB (same plugin offline: {:.2} dB)",
        si_out - si_in,
        offline - si_in
    );
    assert!(si_out - si_in >= 6.0, "ΔSI-SDR {:.2} dB", si_out - si_in);
    assert!(
        (0..=480).contains(&buffering),
        "delay {delay} is not latency {latency} plus a server buffer of at most 10 ms"
    );
}
