//! Forged headers and absurd flags end in a clear error (or a run within bounds), never in an
//! allocation the input cannot justify: every case runs under a 512 MiB address-space limit
//! (RLIMIT_AS) and must exit 0, 1 or 2 (not abort on a failed allocation, not die by a signal).
#![cfg(unix)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_specgate");
const LIMIT: u64 = 512 << 20;

fn run_limited(args: &[&str], stdin: Option<&Path>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    c.stdin(match stdin {
        Some(p) => Stdio::from(std::fs::File::open(p).unwrap()),
        None => Stdio::null(),
    });
    unsafe {
        c.pre_exec(|| {
            let r = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().unwrap()
}

/// A 16-bit PCM WAV header with any rate and channel count, then `bytes` of silence.
fn forged_wav(path: &Path, rate: u32, channels: u16, bytes: usize) {
    let block = channels.wrapping_mul(2);
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + bytes as u32).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&rate.wrapping_mul(block as u32).to_le_bytes());
    h.extend_from_slice(&block.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&(bytes as u32).to_le_bytes());
    h.resize(h.len() + bytes, 0);
    std::fs::write(path, h).unwrap();
}

/// A `.npy` header promising `shape`, followed by only `bytes` of data.
fn forged_npy(path: &Path, rows: usize, cols: usize, bytes: usize) {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    v.extend_from_slice(header.as_bytes());
    v.resize(v.len() + bytes, 0);
    std::fs::write(path, v).unwrap();
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Exits cleanly: `want` (an exit code), never a signal.
fn assert_clean(o: &Output, want: &[i32], what: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    match o.status.code() {
        Some(c) if want.contains(&c) => {}
        other => panic!("{what}: status {other:?} (want {want:?}): {err}"),
    }
    assert!(!err.contains("panicked"), "{what}: {err}");
    err
}

#[test]
fn forged_wav_rates_and_channel_counts_end_in_a_clear_error_within_512_mib() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wav");
    for (rate, ch, needle) in [
        (1_000_000_000u32, 1u16, "limit"),
        (4_294_967_295, 1, ""),
        (48_000, 65_535, ""),
        // Legal rate and channels, geometry over the engine's memory budget.
        (100_000_000, 2, "MiB"),
    ] {
        let wav = dir.path().join(format!("r{rate}c{ch}.wav"));
        forged_wav(&wav, rate, ch, 32_000);
        let o = run_limited(&["filter", p(&wav), "-o", p(&out)], None);
        let err = assert_clean(&o, &[1, 2], &format!("filter {rate} Hz × {ch}"));
        assert!(err.contains(needle), "{rate} Hz × {ch}: {err}");
        assert!(!out.exists());
        // spectrogram, info: a clear error or a bounded run.
        let png = dir.path().join("o.png");
        let o = run_limited(&["spectrogram", p(&wav), "-o", p(&png)], None);
        assert_clean(&o, &[0, 1, 2], &format!("spectrogram {rate} Hz × {ch}"));
        let o = run_limited(&["info", p(&wav)], None);
        assert_clean(&o, &[0, 1, 2], &format!("info {rate} Hz × {ch}"));
    }
}

#[test]
fn absurd_rate_and_channel_flags_on_raw_input_are_refused_within_512_mib() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("in.raw");
    std::fs::write(&raw, vec![0u8; 600_000]).unwrap();
    let out = dir.path().join("out.wav");
    for (args, needle) in [
        (vec!["--rate", "4294967295"], "limit"),
        (vec!["--rate", "8k", "--channels", "65535"], "limit of 64"),
    ] {
        let mut a = vec!["filter", p(&raw), "--format", "s16le", "-o", p(&out)];
        a.extend(&args);
        let err = assert_clean(&run_limited(&a, None), &[1, 2], &format!("{args:?}"));
        assert!(err.contains(needle), "{args:?}: {err}");
        // The same from a pipe.
        let mut a = vec!["filter", "-", "--format", "s16le", "-o", "-"];
        a.extend(&args);
        let err = assert_clean(
            &run_limited(&a, Some(&raw)),
            &[1, 2],
            &format!("- {args:?}"),
        );
        assert!(err.contains(needle), "- {args:?}: {err}");
    }
}

#[test]
fn invert_bounds_n_fft_hop_and_npy_shapes_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    forged_wav(&wav, 16_000, 1, 32_000);
    let out = dir.path().join("out.wav");
    let o = run_limited(
        &["invert", p(&wav), "-o", p(&out), "--n-fft", "1000000000"],
        None,
    );
    assert!(assert_clean(&o, &[1, 2], "n_fft 1e9").contains("--n-fft"));
    let o = run_limited(
        &[
            "invert",
            p(&wav),
            "-o",
            p(&out),
            "--n-fft",
            "65536",
            "--hop",
            "1",
        ],
        None,
    );
    assert!(assert_clean(&o, &[1, 2], "hop 1").contains("MiB"));
    // A 4 KB .npy whose header claims a million × a million cells, then one whose rows do not
    // match --n-fft, then one that is merely truncated.
    for (rows, cols, needle) in [
        (1_000_000, 1_000_000, "elements"),
        (1_000, 100, "rows"),
        (257, 1_000_000, "truncated"),
    ] {
        let npy = dir.path().join("m.npy");
        forged_npy(&npy, rows, cols, 4096);
        let o = run_limited(&["invert", p(&npy), "-o", p(&out), "--rate", "16k"], None);
        let err = assert_clean(&o, &[1, 2], &format!("npy {rows}×{cols}"));
        assert!(err.contains(needle), "npy {rows}×{cols}: {err}");
    }
    assert!(!out.exists());
}
