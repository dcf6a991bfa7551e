//! Output files and signals through the binary (issue 8, defects 6–9): devices and FIFOs are
//! written in place, never replaced; temp files are unpredictable and never followed through a
//! symlink; the umask and an existing file's mode are honoured; every cancelling signal ends a
//! command with exit status 128 + N and no temp file left.
#![cfg(unix)]

use std::io::{BufRead, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_specgate");

const SIGNALS: [(i32, &str); 6] = [
    (libc::SIGINT, "INT"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGHUP, "HUP"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGALRM, "ALRM"),
];

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn write_wav(path: &Path, rate: u32, n: usize) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let mut s = 1u32;
    for i in 0..n {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let tone = (i as f32 * 0.07).sin() * 6000.0;
        w.write_sample((tone + (s >> 20) as f32 - 2048.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(p(path)).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Runs the binary with `umask` set in the child.
fn run_umask(args: &[&str], umask: Option<libc::mode_t>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).stdin(Stdio::null());
    if let Some(m) = umask {
        unsafe {
            c.pre_exec(move || {
                libc::umask(m);
                Ok(())
            });
        }
    }
    c.output().unwrap()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn kill(child: &Child, sig: i32) {
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Reads one output's bytes from a FIFO on a thread (the writer blocks until a reader opens).
fn fifo_reader(fifo: &Path) -> std::thread::JoinHandle<Vec<u8>> {
    let f = fifo.to_path_buf();
    std::thread::spawn(move || std::fs::read(f).unwrap())
}

#[test]
fn spectrogram_and_invert_write_dev_null_in_place_and_it_stays_a_device() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    write_wav(&wav, 8000, 8000);
    ok(&run_umask(
        &["spectrogram", p(&wav), "-o", "/dev/null", "--width", "64"],
        None,
    ));
    ok(&run_umask(
        &["invert", p(&wav), "-o", "/dev/null", "--iterations", "2"],
        None,
    ));
    let ft = std::fs::symlink_metadata("/dev/null").unwrap().file_type();
    assert!(ft.is_char_device(), "/dev/null was replaced");
    assert_eq!(names(dir.path()), ["in.wav"]);
}

#[test]
fn spectrogram_and_invert_write_a_fifo_in_place_and_it_stays_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    write_wav(&wav, 8000, 8000);
    let fifo = dir.path().join("out.fifo");
    mkfifo(&fifo);
    for (args, magic) in [
        (
            vec!["spectrogram", p(&wav), "-o", p(&fifo), "--width", "64"],
            &b"\x89PNG"[..],
        ),
        (
            vec!["invert", p(&wav), "-o", p(&fifo), "--iterations", "2"],
            &b"RIFF"[..],
        ),
    ] {
        let reader = fifo_reader(&fifo);
        ok(&run_umask(&args, None));
        let got = reader.join().unwrap();
        assert!(got.starts_with(magic), "{args:?}: {} bytes", got.len());
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(names(dir.path()), ["in.wav", "out.fifo"]);
    }
}

#[test]
fn new_outputs_honour_the_umask_and_existing_outputs_keep_their_mode() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    write_wav(&wav, 8000, 8000);
    for (umask, want) in [(0o077, 0o600), (0o022, 0o644), (0o002, 0o664)] {
        let png = dir.path().join(format!("u{umask:o}.png"));
        ok(&run_umask(
            &["spectrogram", p(&wav), "-o", p(&png), "--width", "64"],
            Some(umask),
        ));
        assert_eq!(mode(&png), want, "umask {umask:o}");
        let out = dir.path().join(format!("u{umask:o}.wav"));
        ok(&run_umask(
            &["invert", p(&wav), "-o", p(&out), "--iterations", "2"],
            Some(umask),
        ));
        assert_eq!(mode(&out), want, "umask {umask:o}");
    }
    // An existing private file stays private whatever the umask.
    let secret = dir.path().join("secret.wav");
    std::fs::write(&secret, b"old").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    ok(&run_umask(
        &["invert", p(&wav), "-o", p(&secret), "--iterations", "2"],
        Some(0o022),
    ));
    assert_eq!(mode(&secret), 0o600);
    assert!(std::fs::read(&secret).unwrap().starts_with(b"RIFF"));
}

/// The last PID the kernel handed out (the next few are what a child will get).
fn last_pid() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1)
}

#[test]
fn symlinks_planted_at_predictable_temp_names_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    write_wav(&wav, 8000, 8000);
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"do not touch").unwrap();
    // The old writers used `.NAME.tmp-PID` and `.NAME.specgate-PID.tmp`: plant both for the
    // PIDs the next children will get.
    let base = last_pid();
    let mut planted = 0;
    for name in ["out.wav", "out.png"] {
        for pid in base..base + 300 {
            for tmp in [
                format!(".{name}.tmp-{pid}"),
                format!(".{name}.specgate-{pid}.tmp"),
            ] {
                std::os::unix::fs::symlink(&victim, dir.path().join(tmp)).unwrap();
                planted += 1;
            }
        }
    }
    let out_wav = dir.path().join("out.wav");
    let out_png = dir.path().join("out.png");
    ok(&run_umask(
        &["invert", p(&wav), "-o", p(&out_wav), "--iterations", "2"],
        None,
    ));
    ok(&run_umask(
        &["spectrogram", p(&wav), "-o", p(&out_png), "--width", "64"],
        None,
    ));
    assert_eq!(std::fs::read(&victim).unwrap(), b"do not touch");
    for out in [&out_wav, &out_png] {
        let m = std::fs::symlink_metadata(out).unwrap();
        assert!(m.file_type().is_file(), "{} is not a regular file", p(out));
    }
    assert_eq!(names(dir.path()).len(), planted + 4);
}

#[test]
fn an_output_that_is_a_symlink_is_written_through_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    write_wav(&wav, 8000, 8000);
    let real = dir.path().join("real.png");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.png");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    ok(&run_umask(
        &["spectrogram", p(&wav), "-o", p(&link), "--width", "64"],
        None,
    ));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read(&real).unwrap().starts_with(b"\x89PNG"));
    // A link to an input is refused, and the input survives.
    let to_input = dir.path().join("to-input.wav");
    std::os::unix::fs::symlink(&wav, &to_input).unwrap();
    let before = std::fs::read(&wav).unwrap();
    let o = run_umask(&["invert", p(&wav), "-o", p(&to_input)], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(&wav).unwrap(), before);
}

/// Waits until `child` has exited (bounded), returning its status.
fn wait(child: &mut Child) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "child did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A WAV header promising `frames` 16-bit mono frames (the data follows on the FIFO).
fn wav_header(rate: u32, frames: u32) -> Vec<u8> {
    let data = frames * 2;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * 2).to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data.to_le_bytes());
    h
}

#[test]
fn every_signal_ends_spectrogram_and_invert_with_128_plus_n_and_no_file() {
    for cmd in ["spectrogram", "invert"] {
        for (sig, name) in SIGNALS {
            let dir = tempfile::tempdir().unwrap();
            let fifo = dir.path().join("in.wav");
            mkfifo(&fifo);
            let out = dir.path().join(if cmd == "spectrogram" {
                "out.png"
            } else {
                "out.wav"
            });
            let mut child = Command::new(BIN)
                .args([cmd, p(&fifo), "-o", p(&out)])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Opening the FIFO for writing returns once the child opened it to read, which it
            // does after installing its signal handling. The writer then stays open: the child
            // is blocked reading a long input.
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            w.write_all(&wav_header(8000, 80_000_000)).unwrap();
            w.write_all(&vec![0u8; 16_000]).unwrap();
            kill(&child, sig);
            let st = wait(&mut child);
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            assert_eq!(st.code(), Some(128 + sig), "{cmd} SIG{name}: {err}");
            assert!(err.contains(&format!("SIG{name}")), "{cmd}: {err}");
            assert_eq!(names(dir.path()), ["in.wav"], "{cmd} SIG{name}");
            drop(w);
        }
    }
}

/// Spawns `filter FIFO -o out.wav` on raw s16le input and waits for its first stderr line.
fn spawn_filter_on_fifo(
    fifo: &Path,
    out: &Path,
) -> (
    Child,
    std::io::BufReader<std::process::ChildStderr>,
    std::fs::File,
) {
    let mut child = Command::new(BIN)
        .args([
            "filter",
            p(fifo),
            "-o",
            p(out),
            "--format",
            "s16le",
            "--rate",
            "8k",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
    w.write_all(&vec![0u8; 64_000]).unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("latency"), "{line}");
    (child, err, w)
}

/// Waits until the FIFO written through `w` is empty (the reader took every byte) and `tmp`
/// has not grown for half a second: the reader is then blocked waiting for more data.
fn wait_until_blocked_on(w: &std::fs::File, tmp: &Path) {
    use std::os::unix::io::AsRawFd;
    let t = Instant::now();
    loop {
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int; the fd is open for the duration of the call.
        let r = unsafe { libc::ioctl(w.as_raw_fd(), libc::FIONREAD, &mut pending) };
        assert_eq!(r, 0, "FIONREAD on the FIFO");
        if pending == 0 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the FIFO was never drained"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (mut last, mut since) = (size(tmp), Instant::now());
    while since.elapsed() < Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(20));
        let now = size(tmp);
        if now != last {
            (last, since) = (now, Instant::now());
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the output never settled"
        );
    }
}

/// Waits until a temp file shows up in `dir` (the output is being written).
fn wait_for_temp(dir: &Path) -> PathBuf {
    let t = Instant::now();
    loop {
        if let Some(n) = names(dir).into_iter().find(|n| n.ends_with(".tmp")) {
            return dir.join(n);
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no temp file appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn every_signal_abandons_a_file_run_at_the_next_block_with_128_plus_n_and_no_temp_file() {
    for (sig, name) in SIGNALS {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("in.raw");
        mkfifo(&fifo);
        let out = dir.path().join("out.wav");
        let (mut child, mut err, mut w) = spawn_filter_on_fifo(&fifo, &out);
        wait_for_temp(dir.path());
        kill(&child, sig);
        // The first signal is seen at the next block: keep feeding until the reader is gone.
        let feeder = std::thread::spawn(move || {
            for _ in 0..10_000 {
                if w.write_all(&[0u8; 8000]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let st = wait(&mut child);
        feeder.join().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
        assert_eq!(st.code(), Some(128 + sig), "SIG{name}: {rest}");
        assert!(rest.contains("interrupted"), "SIG{name}: {rest}");
        assert_eq!(names(dir.path()), ["in.raw"], "SIG{name}");
    }
}

#[test]
fn a_second_signal_exits_at_once_and_still_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.raw");
    mkfifo(&fifo);
    let out = dir.path().join("out.wav");
    let (mut child, mut err, w) = spawn_filter_on_fifo(&fifo, &out);
    let tmp = wait_for_temp(dir.path());
    // Blocked reading the FIFO: the first signal cannot be acted on until data comes. Make sure
    // it is blocked: everything written was read, and the output stopped growing (on a busy
    // machine the filter may still be working through what it read).
    wait_until_blocked_on(&w, &tmp);
    kill(&child, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited on the first signal"
    );
    assert!(tmp.exists());
    kill(&child, libc::SIGINT);
    let st = wait(&mut child);
    drop(w);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    // The first signal decides the status.
    assert_eq!(st.code(), Some(128 + libc::SIGTERM), "{rest}");
    assert!(rest.contains("no output file was written"), "{rest}");
    assert_eq!(names(dir.path()), ["in.raw"]);
}
