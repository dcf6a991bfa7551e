//! Device loss mid-run, on the PulseAudio rig (`.ci/audio-rig.sh`): the audio server is killed
//! under a running `specgate run`, so both devices vanish at once, and brought back on the same
//! socket. The loss must be reported, the session must come back by itself, and after a good
//! reconnection (≥ 5 s of audio) the next loss must be retried after the first back-off step
//! again, not a doubled one. Skipped (with a notice) unless the rig is up; with
//! `SPECGATE_REQUIRE_RIG=1` a missing rig fails.
//!
//! ```sh
//! source .ci/audio-rig.sh; audio_rig_install; audio_rig_start; trap audio_rig_stop EXIT
//! cargo test --test live_device_loss
//! ```

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs one of the rig's shell functions (`audio_rig_kill`, `audio_rig_revive`).
fn rig(function: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/audio-rig.sh");
    let st = Command::new("bash")
        .args(["-c", &format!("source '{script}'; {function}")])
        .status()
        .unwrap();
    assert!(st.success(), "{function} failed");
}

type Lines = Arc<Mutex<Vec<(f64, String)>>>;

/// Waits up to `secs` for a stderr line (after index `from`) containing `what`; its index.
fn wait_for(lines: &Lines, from: usize, what: &str, secs: f64) -> Option<usize> {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < until {
        let l = lines.lock().unwrap();
        if let Some(i) = l.iter().skip(from).position(|(_, s)| s.contains(what)) {
            return Some(from + i);
        }
        drop(l);
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_lost_audio_server_is_reported_and_the_session_reconnects_with_the_back_off_reset() {
    let Some((input, output)) = common::audio_rig("live_device_loss") else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args([
            "run",
            "-i",
            &input,
            "-o",
            &output,
            "--duration",
            "40",
            "--status-interval",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let lines: Lines = Arc::default();
    let reader = {
        let lines = lines.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push((t0.elapsed().as_secs_f64(), l));
            }
        })
    };
    let all = |lines: &Lines| {
        lines
            .lock()
            .unwrap()
            .iter()
            .map(|(t, l)| format!("{t:6.2} {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let started = wait_for(&lines, 0, "latency budget:", 10.0)
        .unwrap_or_else(|| panic!("never started:\n{}", all(&lines)));
    // A good session (≥ 5 s), then the server dies: the first wait is the first step, 0.5 s.
    std::thread::sleep(Duration::from_secs(7));
    rig("audio_rig_kill");
    let lost = wait_for(&lines, started, "retrying in", 8.0)
        .unwrap_or_else(|| panic!("the loss was not reported:\n{}", all(&lines)));
    // Down for 3 s: the retries back off (0.5, 1.0, 2.0 s ...).
    std::thread::sleep(Duration::from_secs(3));
    rig("audio_rig_revive");
    let back = wait_for(&lines, lost + 1, "latency budget:", 12.0)
        .unwrap_or_else(|| panic!("no reconnection:\n{}", all(&lines)));
    // Audio flows again: status lines follow the reconnection.
    let status = wait_for(&lines, back + 1, "latency ", 5.0);
    // A good reconnection (7 s), then a second loss: the back-off was reset.
    std::thread::sleep(Duration::from_secs(7));
    rig("audio_rig_kill");
    let lost2 = wait_for(&lines, back + 1, "retrying in", 8.0);
    rig("audio_rig_revive");
    let back2 = lost2.and_then(|i| wait_for(&lines, i + 1, "latency budget:", 12.0));
    let res = child.wait().unwrap();
    reader.join().unwrap();
    let text = all(&lines);
    eprintln!("{text}");
    let l = lines.lock().unwrap();
    assert!(res.success(), "exit {res}:\n{text}");
    assert!(
        status.is_some(),
        "no status after the reconnection:\n{text}"
    );
    // Every loss names the end that failed and says what happens next.
    let first = &l[lost].1;
    assert!(
        first.contains("device") && first.contains("retrying in 0.5 s"),
        "first loss: {first}"
    );
    let retries: Vec<&str> = l[lost + 1..back]
        .iter()
        .filter(|(_, s)| s.contains("retrying in"))
        .map(|(_, s)| s.as_str())
        .collect();
    assert!(
        retries.iter().any(|s| s.contains("retrying in 1.0 s")),
        "the retries while the server was down did not back off: {retries:?}"
    );
    let second = &l[lost2.unwrap_or_else(|| panic!("second loss not reported:\n{text}"))].1;
    assert!(
        second.contains("device") && second.contains("retrying in 0.5 s"),
        "after a good reconnection the back-off must start again at 0.5 s: {second}"
    );
    assert!(back2.is_some(), "no second reconnection:\n{text}");
}
