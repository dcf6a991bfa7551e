//! Output files appear whole or not at all: data goes to a temporary file in the target's
//! directory (same file system), which is renamed over the target only on success. Dropping
//! an uncommitted [`AtomicFile`] deletes the temporary file.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file next to `target`.
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".specgate-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot create a file in {}: {e}", dir.display()),
                )
            })?;
        Ok(AtomicFile {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// A handle on the temporary file (shares its position).
    pub fn file(&self) -> io::Result<File> {
        self.tmp.as_file().try_clone()
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs the data and renames the temporary file to the target.
    pub fn commit(self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        #[cfg(unix)]
        {
            // Temporary files are private (0600); an output file gets the usual mode.
            use std::os::unix::fs::PermissionsExt;
            self.tmp
                .as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        let target = self.target;
        self.tmp.persist(&target).map_err(|e| {
            io::Error::new(
                e.error.kind(),
                format!("cannot write {}: {}", target.display(), e.error),
            )
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_target_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let a = AtomicFile::create(&target).unwrap();
        a.file().unwrap().write_all(b"hello").unwrap();
        assert!(!target.exists());
        a.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropping_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let a = AtomicFile::create(&target).unwrap();
        a.file().unwrap().write_all(b"partial").unwrap();
        drop(a);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
