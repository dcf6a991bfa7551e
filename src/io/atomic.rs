//! The one way specgate writes an output file: whole or not at all.
//!
//! [`AtomicFile::create`] decides what the target is:
//!
//! - **No file yet, or a regular file**: data goes to a temporary file in the target's directory
//!   (same file system), created exclusively (`O_CREAT|O_EXCL`, by `tempfile`) under an
//!   unpredictable name, so a symlink planted at any name changes nothing. [`AtomicFile::commit`]
//!   syncs it and renames it over the target; dropping it uncommitted deletes it. A new file gets
//!   mode `0666 & !umask`, as any tool's output; an existing file keeps its mode (a `0600` file
//!   stays `0600`) and, where the process may, its owner.
//! - **A symlink**: written *through*: the file the link points to is replaced (atomically, in
//!   its own directory) and the link stays a link. A dangling link is refused. The output never
//!   becomes a symlink, and no symlink is created.
//! - **Not a regular file** (`/dev/null`, a FIFO, a terminal, a socket): written directly, never
//!   replaced or removed; `commit` has nothing to rename. Its [`AtomicFile::file`] cannot seek
//!   on a FIFO: writers that patch a header must buffer (see `cli::invert`).
//! - **A directory** is an error.
//!
//! [`AtomicFile::create_checked`] also refuses a target that is one of the command's inputs
//! (same device and inode, through any path or link).
//!
//! While it exists the temporary file is registered with [`crate::cancel::TempRegistry`]: a
//! second Ctrl-C (an immediate exit) deletes it too.

use crate::cancel::TempRegistry;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// An output file in progress (see the module docs).
pub struct AtomicFile {
    out: Option<Out>,
    /// The path as given.
    target: PathBuf,
    /// The file that is replaced (the target, or what the target links to).
    dest: PathBuf,
}

enum Out {
    Temp(tempfile::NamedTempFile),
    Direct(File),
}

impl AtomicFile {
    /// Prepares to write `target` (see the module docs for what each kind of target gets).
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        Self::create_checked(target, &[])
    }

    /// [`AtomicFile::create`], refusing a target that is one of `inputs` (the same file through
    /// any path, hard link or symlink).
    pub fn create_checked(target: &Path, inputs: &[&Path]) -> io::Result<AtomicFile> {
        refuse_input(target, inputs)?;
        let meta = match std::fs::symlink_metadata(target) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(annotate(e, "cannot inspect", target)),
        };
        let (dest, meta) = match meta {
            Some(m) if m.file_type().is_symlink() => {
                let dest = std::fs::canonicalize(target).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "{} is a symlink to a missing file ({e}); refusing to write through it",
                            target.display()
                        ),
                    )
                })?;
                let m =
                    std::fs::metadata(&dest).map_err(|e| annotate(e, "cannot inspect", &dest))?;
                (dest, Some(m))
            }
            m => (target.to_path_buf(), m),
        };
        let out = match &meta {
            Some(m) if m.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is a directory", target.display()),
                ))
            }
            Some(m) if !m.is_file() => Out::Direct(open_direct(&dest)?),
            Some(m) => Out::Temp(temp_beside(&dest, Some(m))?),
            None => Out::Temp(temp_beside(&dest, None)?),
        };
        if let Out::Temp(t) = &out {
            TempRegistry::global().register(t.path());
        }
        Ok(AtomicFile {
            out: Some(out),
            target: target.to_path_buf(),
            dest,
        })
    }

    /// A handle on the file being written (shares its position).
    pub fn file(&self) -> io::Result<File> {
        match self.out.as_ref().expect("AtomicFile used after commit") {
            Out::Temp(t) => t.as_file().try_clone(),
            Out::Direct(f) => f.try_clone(),
        }
    }

    /// The path as given.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// True for a non-regular target (device, FIFO) that is written in place.
    pub fn is_direct(&self) -> bool {
        matches!(self.out, Some(Out::Direct(_)))
    }

    /// Syncs the data and renames the temporary file over the target (nothing to rename for a
    /// direct target).
    pub fn commit(mut self) -> io::Result<()> {
        match self.out.take().expect("AtomicFile committed twice") {
            Out::Direct(_) => Ok(()),
            Out::Temp(t) => {
                let tmp_path = t.path().to_path_buf();
                t.as_file().sync_all()?;
                let dest = self.dest.clone();
                TempRegistry::global()
                    .settle(&tmp_path, || t.persist(&dest))
                    .map_err(|e| annotate(e.error, "cannot write", &dest))?;
                Ok(())
            }
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(Out::Temp(t)) = self.out.take() {
            let p = t.path().to_path_buf();
            // Delete (NamedTempFile's drop) before forgetting the path.
            TempRegistry::global().settle(&p, || drop(t));
        }
    }
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// A non-regular file opened for writing in place; never created, never truncated, never
/// followed through a symlink swapped in after the check.
fn open_direct(dest: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    let f = o.open(dest).map_err(|e| annotate(e, "cannot open", dest))?;
    if f.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} changed while it was being opened",
            dest.display()
        )));
    }
    Ok(f)
}

/// An exclusive, unpredictably named temporary file in `dest`'s directory with the mode the
/// output will have.
fn temp_beside(
    dest: &Path,
    existing: Option<&std::fs::Metadata>,
) -> io::Result<tempfile::NamedTempFile> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut b = tempfile::Builder::new();
    b.prefix(".specgate-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // New outputs: 0666 filtered by the umask (the kernel applies it at creation). An
        // existing file's mode is set below, once the file is ours (private until then).
        let mode = if existing.is_some() { 0o600 } else { 0o666 };
        b.permissions(std::fs::Permissions::from_mode(mode));
    }
    let t = b.tempfile_in(dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create a file in {}: {e}", dir.display()),
        )
    })?;
    #[cfg(unix)]
    if let Some(m) = existing {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // Owner first: chown may clear set-id bits, chmod then restores the mode.
        let _ = std::os::unix::fs::fchown(t.as_file(), Some(m.uid()), Some(m.gid()));
        t.as_file()
            .set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    #[cfg(not(unix))]
    let _ = existing;
    Ok(t)
}

/// Refuses `target` if it is one of `inputs`: by path, or as the same file (device and inode on
/// Unix, canonical path elsewhere). `-` (stdout) is never an input file.
pub fn refuse_input(target: &Path, inputs: &[&Path]) -> io::Result<()> {
    if target == Path::new("-") {
        return Ok(());
    }
    let out = std::fs::metadata(target).ok();
    for i in inputs {
        if *i == Path::new("-") {
            continue;
        }
        let same = *i == target
            || match (&out, std::fs::metadata(i).ok()) {
                (Some(o), Some(m)) => same_file(o, &m, target, i),
                _ => false,
            };
        if same {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("refusing to overwrite the input {}", i.display()),
            ));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata, _: &Path, _: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata, a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_target_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let a = AtomicFile::create(&target).unwrap();
        a.file().unwrap().write_all(b"hello").unwrap();
        assert!(!target.exists());
        a.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
        assert_eq!(names(dir.path()), ["out.bin"]);
    }

    #[test]
    fn dropping_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let a = AtomicFile::create(&target).unwrap();
        a.file().unwrap().write_all(b"partial").unwrap();
        drop(a);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn an_input_is_never_overwritten_through_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.wav");
        std::fs::write(&input, b"precious").unwrap();
        let e = AtomicFile::create_checked(&input, &[&input]).err().unwrap();
        assert!(e.to_string().contains("refusing to overwrite"), "{e}");
        let hard = dir.path().join("hard.wav");
        std::fs::hard_link(&input, &hard).unwrap();
        assert!(AtomicFile::create_checked(&hard, &[&input]).is_err());
        #[cfg(unix)]
        {
            let link = dir.path().join("link.wav");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            assert!(AtomicFile::create_checked(&link, &[&input]).is_err());
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"precious");
    }

    #[cfg(unix)]
    mod unix {
        use super::*;
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};

        #[test]
        fn an_existing_private_file_keeps_its_mode() {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("secret.wav");
            std::fs::write(&target, b"old").unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
            let a = AtomicFile::create(&target).unwrap();
            a.file().unwrap().write_all(b"new").unwrap();
            a.commit().unwrap();
            let m = std::fs::metadata(&target).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::read(&target).unwrap(), b"new");
        }

        #[test]
        fn a_symlink_target_is_written_through_and_stays_a_link() {
            let dir = tempfile::tempdir().unwrap();
            let real = dir.path().join("real.wav");
            std::fs::write(&real, b"old").unwrap();
            let link = dir.path().join("link.wav");
            std::os::unix::fs::symlink(&real, &link).unwrap();
            let a = AtomicFile::create(&link).unwrap();
            a.file().unwrap().write_all(b"new").unwrap();
            a.commit().unwrap();
            assert!(std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(std::fs::read(&real).unwrap(), b"new");
            assert_eq!(names(dir.path()), ["link.wav", "real.wav"]);
        }

        #[test]
        fn a_dangling_symlink_target_is_refused_and_left_alone() {
            let dir = tempfile::tempdir().unwrap();
            let link = dir.path().join("out.wav");
            let elsewhere = dir.path().join("elsewhere.wav");
            std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
            assert!(AtomicFile::create(&link).is_err());
            assert!(!elsewhere.exists());
        }

        #[test]
        fn a_fifo_target_is_written_in_place_not_replaced() {
            let dir = tempfile::tempdir().unwrap();
            let fifo = dir.path().join("pipe");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::read(fifo).unwrap())
            };
            let a = AtomicFile::create(&fifo).unwrap();
            assert!(a.is_direct());
            a.file().unwrap().write_all(b"through").unwrap();
            a.commit().unwrap();
            assert_eq!(reader.join().unwrap(), b"through");
            let ft = std::fs::symlink_metadata(&fifo).unwrap().file_type();
            assert!(ft.is_fifo());
            assert_eq!(names(dir.path()), ["pipe"]);
        }

        #[test]
        fn dev_null_stays_a_character_device() {
            let a = AtomicFile::create(Path::new("/dev/null")).unwrap();
            assert!(a.is_direct());
            a.file().unwrap().write_all(b"gone").unwrap();
            a.commit().unwrap();
            let ft = std::fs::symlink_metadata("/dev/null").unwrap().file_type();
            assert!(ft.is_char_device());
        }
    }
}
