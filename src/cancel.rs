//! One cancellation path for every long command.
//!
//! [`Cancel::on_signals`] routes SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 and SIGALRM (all
//! signals whose default action ends the process) to a handler thread (signal-hook): nothing
//! runs inside the signal handler itself but signal-hook's self-pipe write.
//!
//! - The **first** signal only sets a flag. Loops check [`Cancel::is_cancelled`] (one relaxed
//!   atomic load) once per block: a stream from stdin then ends normally and keeps its output; a
//!   file run is abandoned and its [`crate::io::atomic::AtomicFile`] is dropped, which deletes
//!   the temporary file.
//! - A **second** signal exits at once: the handler thread deletes every temporary file still
//!   registered (see [`TempRegistry`]; `AtomicFile` registers its temp file while it exists)
//!   and calls `exit(128 + N)`.
//! - Either way the process exits with `128 + N` for the first signal N: the command's `main`
//!   asks [`exit_code`].
//!
//! SIGPIPE stays ignored (Rust's default): a closed stdout shows as a `BrokenPipe` write error,
//! which a command may report with [`record_broken_pipe`] to exit 141 like a shell tool.
//!
//! Library users who do not want process-wide signal handling use [`Cancel::new`] and call
//! [`Cancel::cancel`] themselves (from any thread). On non-Unix platforms `on_signals` installs
//! nothing and returns a token that only [`Cancel::cancel`] trips.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The signals that cancel a command (Unix numbers).
#[cfg(unix)]
pub const SIGNALS: &[i32] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
];

/// Stored in the flag by [`Cancel::cancel`] (no signal: the exit code is not affected).
const REQUESTED: i32 = -1;

/// A cheap, clonable cancellation token.
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    /// 0 = running; a signal number; or [`REQUESTED`].
    flag: Arc<AtomicI32>,
}

/// The error a cancelled operation returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted{}", signal_suffix(*.signal))]
pub struct Interrupted {
    /// The signal number, if a signal caused it.
    pub signal: Option<i32>,
}

fn signal_suffix(s: Option<i32>) -> String {
    s.map(|n| format!(" by {}", signal_name(n)))
        .unwrap_or_default()
}

/// `SIGINT`, `SIGTERM`, … (or `signal N`).
pub fn signal_name(n: i32) -> String {
    #[cfg(unix)]
    {
        let name = match n {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            libc::SIGHUP => "SIGHUP",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGALRM => "SIGALRM",
            libc::SIGPIPE => "SIGPIPE",
            _ => "",
        };
        if !name.is_empty() {
            return name.to_string();
        }
    }
    format!("signal {n}")
}

impl Cancel {
    /// A token that only [`Cancel::cancel`] trips (no signal handling).
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// The process-wide token tripped by the signals in [`SIGNALS`]; installs the handler
    /// thread on first use (later calls return the same token).
    pub fn on_signals() -> std::io::Result<Cancel> {
        if let Some(c) = GLOBAL.get() {
            return Ok(c.clone());
        }
        let c = Cancel::new();
        install(&c)?;
        Ok(GLOBAL.get_or_init(|| c).clone())
    }

    /// Whether to stop: one relaxed atomic load, cheap enough for every block.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed) != 0
    }

    /// `Err(Interrupted)` once cancelled: `cancel.check()?` in a loop.
    #[inline]
    pub fn check(&self) -> Result<(), Interrupted> {
        match self.flag.load(Ordering::Relaxed) {
            0 => Ok(()),
            n => Err(Interrupted {
                signal: (n > 0).then_some(n),
            }),
        }
    }

    /// The signal that cancelled, if any.
    pub fn signal(&self) -> Option<i32> {
        let n = self.flag.load(Ordering::Relaxed);
        (n > 0).then_some(n)
    }

    /// Requests cancellation (from any thread).
    pub fn cancel(&self) {
        let _ = self
            .flag
            .compare_exchange(0, REQUESTED, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// The token [`Cancel::on_signals`] hands out.
static GLOBAL: OnceLock<Cancel> = OnceLock::new();

/// Whether the signal token exists and was tripped (false before [`Cancel::on_signals`]).
#[inline]
pub fn requested() -> bool {
    GLOBAL.get().is_some_and(Cancel::is_cancelled)
}

/// For commands that write their output only at the end (spectrogram, invert, eval, demo, a
/// whole-file I/Q run): installs the handler and makes the *first* signal delete the registered
/// temp files and exit `128 + N` at once.
pub fn exit_on_signals() -> std::io::Result<()> {
    set_exit_on_first_signal(true);
    Cancel::on_signals().map(drop)
}

/// The first signal the process received (or a recorded broken pipe), for the exit code.
static FIRST_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// `128 + N` when signal N stopped the command (or [`record_broken_pipe`] was called).
pub fn exit_code() -> Option<u8> {
    match FIRST_SIGNAL.load(Ordering::SeqCst) {
        n if n > 0 && n < 128 => Some(128 + n as u8),
        _ => None,
    }
}

/// Records that stdout's reader went away: the process then exits 141 (128 + SIGPIPE).
pub fn record_broken_pipe() {
    #[cfg(unix)]
    let _ = FIRST_SIGNAL.compare_exchange(0, libc::SIGPIPE, Ordering::SeqCst, Ordering::SeqCst);
}

#[cfg(unix)]
fn install(c: &Cancel) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new(SIGNALS)?;
    let flag = c.flag.clone();
    std::thread::Builder::new()
        .name("specgate-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let _ = FIRST_SIGNAL.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
                let first = flag
                    .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok();
                if !first || immediate() {
                    // Second signal (or a command that cannot stop between blocks): no temp
                    // file may outlive the process.
                    let code = exit_code().unwrap_or(128 + sig.clamp(0, 127) as u8);
                    TempRegistry::global().remove_all_and_exit(sig, code);
                }
            }
        })?;
    Ok(())
}

#[cfg(not(unix))]
fn install(_: &Cancel) -> std::io::Result<()> {
    Ok(())
}

static IMMEDIATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn immediate() -> bool {
    IMMEDIATE.load(Ordering::SeqCst)
}

/// For a phase that cannot check the token (one long computation): while set, the first signal
/// already removes the registered temp files and exits `128 + N`.
pub fn set_exit_on_first_signal(on: bool) {
    IMMEDIATE.store(on, Ordering::SeqCst);
}

/// Temporary files that must not outlive the process: the signal thread deletes them before
/// an immediate exit. Registration is not real-time (a mutex); it happens when an output is
/// created and when it is committed or dropped.
pub struct TempRegistry {
    paths: Mutex<Vec<PathBuf>>,
}

impl TempRegistry {
    /// The process-wide registry.
    pub fn global() -> &'static TempRegistry {
        static R: TempRegistry = TempRegistry {
            paths: Mutex::new(Vec::new()),
        };
        &R
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        self.paths.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `path` for removal on an immediate exit.
    pub fn register(&self, path: &Path) {
        self.lock().push(path.to_path_buf());
    }

    /// Forgets `path` (it was renamed into place or deleted).
    pub fn unregister(&self, path: &Path) {
        let mut v = self.lock();
        if let Some(i) = v.iter().position(|p| p == path) {
            v.swap_remove(i);
        }
    }

    /// Runs `f` (a rename of a registered file, say) and unregisters `path`, with the registry
    /// locked, so that an immediate exit sees either the temp file or none.
    pub fn settle<T>(&self, path: &Path, f: impl FnOnce() -> T) -> T {
        let mut v = self.lock();
        let r = f();
        if let Some(i) = v.iter().position(|p| p == path) {
            v.swap_remove(i);
        }
        r
    }

    /// Deletes every registered file and exits the process with `code` (after signal `sig`).
    /// The registry stays locked, so no commit can rename a file in between.
    pub fn remove_all_and_exit(&self, sig: i32, code: u8) -> ! {
        let v = self.lock();
        for p in v.iter() {
            let _ = std::fs::remove_file(p);
        }
        eprintln!(
            "specgate: interrupted by {}; no output file was written",
            signal_name(sig)
        );
        std::process::exit(code as i32)
    }

    /// How many files are registered (tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_cancel_trips_the_token_without_a_signal() {
        let c = Cancel::new();
        assert!(!c.is_cancelled());
        assert!(c.check().is_ok());
        let c2 = c.clone();
        std::thread::spawn(move || c2.cancel()).join().unwrap();
        assert!(c.is_cancelled());
        assert_eq!(c.check(), Err(Interrupted { signal: None }));
        assert_eq!(c.signal(), None);
    }

    #[test]
    fn the_registry_forgets_a_settled_file() {
        let r = TempRegistry {
            paths: Mutex::new(Vec::new()),
        };
        r.register(Path::new("/tmp/a"));
        r.register(Path::new("/tmp/b"));
        assert_eq!(r.settle(Path::new("/tmp/a"), || 7), 7);
        assert_eq!(r.len(), 1);
        r.unregister(Path::new("/tmp/b"));
        assert!(r.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn signal_names_are_the_usual_ones() {
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
        assert_eq!(
            Interrupted {
                signal: Some(libc::SIGINT)
            }
            .to_string(),
            "interrupted by SIGINT"
        );
    }
}
