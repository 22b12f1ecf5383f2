//! `kessai.lock`: our own lock file, so that a second process learns *who* holds the store.
//!
//! The file holds the owner's pid. Exclusion comes from an advisory `flock` on it, which the
//! kernel drops when the owner dies, so a lock file left behind by a killed kessai is simply
//! taken over. The file itself is never deleted: deleting a lock file while another process
//! has it open lets two processes "hold" two different files.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use fs2::FileExt;

use super::error::StoreError;

/// Name of the lock file inside the store folder.
pub const LOCK_FILE: &str = "kessai.lock";

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct StoreLock {
    file: File,
}

impl StoreLock {
    /// Takes the lock of the store in `dir`, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<StoreLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::from_io(&path, "open the lock file", e))?;
        match file.try_lock_exclusive() {
            Ok(()) => {}
            Err(e) if is_contended(&e) => {
                return Err(StoreError::InUse {
                    path: dir.to_path_buf(),
                    pid: read_pid(&mut file),
                });
            }
            // File systems without flock: fall back to asking whether the recorded pid lives.
            Err(_) => {
                if let Some(pid) = read_pid(&mut file).filter(|&p| p != std::process::id()) {
                    if pid_alive(pid) {
                        return Err(StoreError::InUse {
                            path: dir.to_path_buf(),
                            pid: Some(pid),
                        });
                    }
                }
            }
        }
        write_pid(&mut file).map_err(|e| StoreError::from_io(&path, "write the lock file", e))?;
        Ok(StoreLock { file })
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // Clear the pid so nobody reads a stale one; the flock goes with the descriptor.
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
    }
}

fn is_contended(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || e.raw_os_error() == fs2::lock_contended_error().raw_os_error()
}

fn write_pid(file: &mut File) -> io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_data()
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(64).read_to_string(&mut s).ok()?;
    parse_pid(&s)
}

/// Parses the pid line of a lock file.
pub fn parse_pid(text: &str) -> Option<u32> {
    text.lines().next()?.trim().parse().ok().filter(|&p| p > 0)
}

/// The pid recorded in the lock file of the store in `dir`, if any.
pub fn holder_pid(dir: &Path) -> Option<u32> {
    let mut s = String::new();
    File::open(dir.join(LOCK_FILE))
        .ok()?
        .take(64)
        .read_to_string(&mut s)
        .ok()?;
    parse_pid(&s)
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_lines_parse_and_garbage_does_not() {
        assert_eq!(parse_pid("1234\n"), Some(1234));
        assert_eq!(parse_pid(" 77 \nextra"), Some(77));
        assert_eq!(parse_pid(""), None);
        assert_eq!(parse_pid("0"), None);
        assert_eq!(parse_pid("pid?"), None);
        assert_eq!(parse_pid("99999999999999"), None);
    }

    #[test]
    fn second_lock_in_same_process_reports_our_pid_and_stale_file_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        // A stale file from a process that no longer exists.
        std::fs::write(dir.path().join(LOCK_FILE), "999999999\n").unwrap();
        let first = StoreLock::acquire(dir.path()).unwrap();
        assert_eq!(holder_pid(dir.path()), Some(std::process::id()));
        match StoreLock::acquire(dir.path()) {
            Err(StoreError::InUse { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(first);
        let _again = StoreLock::acquire(dir.path()).unwrap();
        assert_eq!(holder_pid(dir.path()), Some(std::process::id()));
    }
}
