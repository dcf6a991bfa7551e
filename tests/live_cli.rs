//! `specgate run` / `specgate devices` from the outside, without an audio server: pipes,
//! WAV recording, and clear errors for bad device names and addresses.

use std::io::Write;
use std::process::{Command, Stdio};

fn specgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_specgate"))
}

#[test]
fn raw_stdin_to_wav_records_the_whole_input_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.wav");
    let mut child = specgate()
        .args(["run", "-i", "-", "-o", out.to_str().unwrap(), "-q"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // One second of a 440 Hz sine, s16le mono 48 kHz (the raw default).
    let pcm: Vec<u8> = (0..48_000)
        .flat_map(|i| {
            let v = (0.25 * (std::f64::consts::TAU * 440.0 * i as f64 / 48_000.0).sin() * 32767.0)
                as i16;
            v.to_le_bytes()
        })
        .collect();
    child.stdin.take().unwrap().write_all(&pcm).unwrap();
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(err.contains("latency budget:"), "{err}");
    let r = hound::WavReader::open(&out).unwrap();
    let spec = r.spec();
    assert_eq!((spec.channels, spec.sample_rate), (1, 48_000));
    let x: Vec<f32> = r.into_samples::<f32>().map(|s| s.unwrap()).collect();
    // The input plus the flush tail (latency + cushion + 0.1 s), give or take scheduling.
    let secs = x.len() as f64 / 48_000.0;
    assert!((1.0..1.6).contains(&secs), "recorded {secs} s");
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak > 0.05, "nothing came through (peak {peak})");
    // Only the finished file is left (written to a temporary, then renamed).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn an_unknown_device_is_an_error_that_lists_the_candidates() {
    let res = specgate()
        .args(["run", "-i", "no-such-device-xyz", "-o", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success());
    assert!(
        err.contains("no input device matches 'no-such-device-xyz'"),
        "{err}"
    );
    assert!(err.contains("available:"), "{err}");
}

#[test]
fn a_bad_udp_address_and_a_bad_channel_are_clear_errors() {
    let res = specgate()
        .args(["run", "-i", "udp:not-a-port", "-o", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("is not a UDP address"));
    let res = specgate()
        .args(["run", "--channel", "0", "-i", "-", "-o", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("--channel"));
}

#[test]
fn devices_lists_at_least_one_host() {
    let res = specgate().arg("devices").output().unwrap();
    assert!(res.status.success());
    assert!(String::from_utf8_lossy(&res.stdout).starts_with("host "));
}

/// Runs `specgate run -i - -o OUT.wav` with `pcm` (s16le mono 48 kHz) written to stdin in
/// pieces of `burst` samples, `gap` apart; returns (stderr, --stats lines, output samples).
fn run_stdin(
    pcm: &[i16],
    burst: usize,
    gap: std::time::Duration,
    extra: &[&str],
) -> (String, Vec<serde_json::Value>, Vec<f32>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.wav");
    let stats = dir.path().join("stats.jsonl");
    let mut args = vec![
        "run",
        "-i",
        "-",
        "-o",
        out.to_str().unwrap(),
        "--status-interval",
        "0.2",
        "--stats",
        stats.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut child = specgate()
        .args(&args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for piece in pcm.chunks(burst) {
        let bytes: Vec<u8> = piece.iter().flat_map(|v| v.to_le_bytes()).collect();
        stdin.write_all(&bytes).unwrap();
        std::thread::sleep(gap);
    }
    drop(stdin);
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr).into_owned();
    assert!(res.status.success(), "{err}");
    let stats = std::fs::read_to_string(&stats)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let x = hound::WavReader::open(&out)
        .unwrap()
        .into_samples::<f32>()
        .map(|s| s.unwrap())
        .collect();
    (err, stats, x)
}

fn noise(n: usize, rms: f64) -> Vec<i16> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            (u * rms * 3f64.sqrt() * 32768.0) as i16
        })
        .collect()
}

fn control_file(dir: &tempfile::TempDir, text: &str) -> String {
    let p = dir.path().join("control.txt");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn assert_honest(stats: &[serde_json::Value], err: &str) {
    assert!(!stats.is_empty(), "no --stats lines: {err}");
    for s in stats {
        for key in ["latency_ms", "buffered_ms", "cushion_ms", "attenuation_db"] {
            let v = s[key].as_f64().unwrap_or_else(|| panic!("{key} in {s}"));
            assert!((0.0..2000.0).contains(&v), "{key} = {v} in {s}");
        }
        assert!(s["drift_ppm"].as_f64().unwrap().abs() <= 5000.0, "{s}");
    }
    for l in err
        .lines()
        .filter(|l| l.starts_with("latency ") && !l.starts_with("latency budget"))
    {
        let v: f64 = l["latency".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((0.0..2000.0).contains(&v), "{l}");
    }
}

#[test]
fn bursty_stdin_never_shows_a_negative_or_absurd_latency() {
    // 3 s of noise in bursts of 100–300 ms (a network stream or a batching SDR program).
    let pcm = noise(3 * 48_000, 0.01);
    let (err, stats, x) = run_stdin(&pcm, 48_000 / 5, std::time::Duration::from_millis(200), &[]);
    assert_honest(&stats, &err);
    assert!(x.len() as f64 / 48_000.0 >= 3.0, "{err}");
}

#[test]
fn a_udp_flood_never_shows_a_negative_or_absurd_latency() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.wav");
    let stats = dir.path().join("stats.jsonl");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let input = format!("udp:{port}");
    let child = specgate()
        .args([
            "run",
            "-i",
            &input,
            "-o",
            out.to_str().unwrap(),
            "--duration",
            "2.5",
            "--status-interval",
            "0.2",
            "--stats",
            stats.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    // 4 s of audio as fast as the socket takes it, then nothing.
    let pcm = noise(4 * 48_000, 0.01);
    for piece in pcm.chunks(480) {
        let bytes: Vec<u8> = piece.iter().flat_map(|v| v.to_le_bytes()).collect();
        let _ = sock.send_to(&bytes, ("127.0.0.1", port));
    }
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr).into_owned();
    assert!(res.status.success(), "{err}");
    let stats: Vec<serde_json::Value> = std::fs::read_to_string(&stats)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_honest(&stats, &err);
}

#[test]
fn keys_refuse_to_learn_from_silence_say_what_t_affects_and_reject_unknown_lines() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = control_file(&dir, "l\nT\nx 1\n");
    let pcm = vec![0i16; 48_000 * 3 / 2];
    let (err, stats, _) = run_stdin(
        &pcm,
        4800,
        std::time::Duration::from_millis(100),
        &["--control", &ctl],
    );
    assert!(err.contains("not learning: the input is silent"), "{err}");
    assert!(!err.contains("learning the noise profile"), "{err}");
    assert!(err.contains("applies to the gate rule only"), "{err}");
    assert!(err.contains("unknown control command 'x 1'"), "{err}");
    // The threshold moved (+1 dB) and the status shows it.
    assert_eq!(stats.last().unwrap()["threshold_db"].as_f64(), Some(7.0));
}

#[test]
fn cycling_to_the_digital_preset_bypasses_instead_of_gating() {
    let dir = tempfile::tempdir().unwrap();
    // voice → cw → am → nfm → digital.
    let ctl = control_file(&dir, "p\np\np\np\n");
    let pcm = noise(48_000 * 3, 0.01);
    // Written faster than real time (100 ms every 20 ms): the pipe stays full and the output
    // paces the reads, as with a file on stdin — no underrun can break the copy.
    let (err, stats, x) = run_stdin(
        &pcm,
        4800,
        std::time::Duration::from_millis(20),
        &["--control", &ctl],
    );
    assert!(err.contains("preset digital: bypass"), "{err}");
    let last = stats.last().unwrap();
    assert_eq!(last["preset"].as_str(), Some("digital"), "{last}");
    assert_eq!(last["bypass"].as_bool(), Some(true), "{last}");
    // Stdin to a file runs on one clock, so the bypass is the input bit for bit, delayed. The
    // delay is found from input sample 72000 (1.5 s, past the start-up re-alignment at 1 s and
    // the 10 ms bypass crossfade) and must hold to the end of the input.
    let want: Vec<f32> = pcm.iter().map(|v| *v as f32 / 32768.0).collect();
    let at = 72_000;
    let lag = (0..48_000)
        .find(|&l| x.len() >= at + l + 64 && x[at + l..at + l + 64] == want[at..at + 64])
        .unwrap_or_else(|| panic!("the input is not in the output bit for bit: {err}"));
    let n = want.len() - at;
    let bad = (0..n).filter(|&i| x[at + lag + i] != want[at + i]).count();
    assert_eq!(
        bad, 0,
        "{bad} of {n} samples differ at a delay of {lag} frames"
    );
    // That delay is the latency the budget line reports (algorithmic + cushion, exact to the
    // sample), plus whatever silence the output wrote before the first input arrived (the
    // output starts first; a few milliseconds).
    let budget: f64 = err
        .lines()
        .find_map(|l| l.strip_prefix("latency budget:"))
        .and_then(|l| l.rsplit('=').next())
        .and_then(|v| v.trim().trim_end_matches("ms").trim().parse().ok())
        .unwrap_or_else(|| panic!("no latency budget line: {err}"));
    let lag_ms = lag as f64 / 48.0;
    assert!(
        lag_ms >= budget - 0.02 && lag_ms < budget + 20.0,
        "delay {lag_ms:.2} ms, reported latency {budget:.2} ms"
    );
}

/// An ALSA configuration with one hinted PCM that cannot open (a PulseAudio server that does not
/// exist): a device that exists by name but fails, whatever audio server runs.
fn broken_device(dir: &tempfile::TempDir) -> String {
    let conf = dir.path().join("broken.conf");
    std::fs::write(
        &conf,
        "pcm.sg_broken { type pulse server \"unix:/nonexistent/specgate-test\" \
         hint { show on description \"broken\" } }\n",
    )
    .unwrap();
    let base =
        std::env::var("ALSA_CONFIG_PATH").unwrap_or_else(|_| "/usr/share/alsa/alsa.conf".into());
    format!("{base}:{}", conf.display())
}

#[test]
fn duration_bounds_the_retries_of_a_device_that_keeps_failing() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = specgate()
        .args([
            "run",
            "-i",
            "alsa:sg_broken",
            "-o",
            "-",
            "--duration",
            "1.5",
        ])
        .env("ALSA_CONFIG_PATH", broken_device(&dir))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A hang guard only (the old behaviour retried forever), not a speed check.
    let t = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("--duration 1.5 did not end the retries");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    // It retried (the device is not a user error) and stopped when the time was up, although
    // the back-off had reached 1 s and the device never came back.
    assert!(err.contains("input device unavailable"), "{err}");
    assert!(err.contains("retrying in 0.5 s"), "{err}");
    assert!(err.contains("retrying in 1.0 s"), "{err}");
    // Waits of 0.5 s then 1.0 s reach the 1.5 s bound, whatever each attempt costs on a busy
    // machine: a third retry (2 s) would mean the duration did not bound the back-off.
    assert!(!err.contains("retrying in 2.0 s"), "{err}");
}

#[test]
fn no_reconnect_turns_a_failing_device_into_an_error_naming_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let res = specgate()
        .args(["run", "-i", "-", "-o", "alsa:sg_broken", "--no-reconnect"])
        .env("ALSA_CONFIG_PATH", broken_device(&dir))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success(), "{err}");
    assert!(err.contains("output device unavailable"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_signal_ends_a_recording_with_the_file_finished_and_exit_128_plus_n() {
    for (sig, code) in [
        (libc::SIGTERM, 143),
        (libc::SIGINT, 130),
        (libc::SIGHUP, 129),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rec.wav");
        let mut child = specgate()
            .args([
                "run",
                "-i",
                "-",
                "-o",
                out.to_str().unwrap(),
                "-q",
                "--preset",
                "digital",
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Half a second of a tone, and the pipe stays open: only the signal ends the run.
        let mut stdin = child.stdin.take().unwrap();
        let pcm: Vec<u8> = (0..24_000)
            .flat_map(|i| (((i % 48) as i16 - 24) * 400).to_le_bytes())
            .collect();
        stdin.write_all(&pcm).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        // SAFETY: kill on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let res = child.wait_with_output().unwrap();
        drop(stdin);
        let err = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(code), "signal {sig}: {err}");
        // The recording is complete (a valid WAV with the tone) and nothing else is left.
        let r = hound::WavReader::open(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        let x: Vec<f32> = r.into_samples::<f32>().map(|s| s.unwrap()).collect();
        assert!(x.len() >= 24_000, "{} samples", x.len());
        assert!(x.iter().any(|v| v.abs() > 0.1), "the tone is missing");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}

#[test]
fn devices_prints_one_line_per_device_and_hides_library_noise_unless_verbose() {
    let res = specgate().arg("devices").output().unwrap();
    assert!(res.status.success());
    let out = String::from_utf8_lossy(&res.stdout);
    let err = String::from_utf8_lossy(&res.stderr);
    // What ALSA and JACK print while probing stays hidden.
    assert!(
        !err.contains("ALSA lib") && !err.contains("jack"),
        "library noise on stderr:\n{err}"
    );
    // Hosts and devices only, each device once (not once per sample format).
    let mut ids = std::collections::HashSet::new();
    for l in out.lines() {
        if l.starts_with("host ") {
            ids.clear();
            continue;
        }
        let id = l
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("a blank line in:\n{out}"));
        assert!(l.starts_with("  "), "not a device line: {l}");
        assert!(ids.insert(id.to_string()), "{id} listed twice:\n{out}");
    }
}
