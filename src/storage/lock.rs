//! The directory lock: `flock(LOCK_EX | LOCK_NB)` on `dir/LOCK`.
//!
//! flock locks belong to the open file description, so a second open of the
//! same directory fails both in another process and in this one.

use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use super::error::{Error, IoContext, Result};

/// Name of the lock file.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// Holds the lock until dropped (closing the descriptor releases it).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .ctx(|| format!("opening {}", path.display()))?;
        // SAFETY: flock takes a descriptor we own for the duration of the call
        // and has no memory-safety preconditions.
        #[expect(unsafe_code, reason = "flock(2) has no safe wrapper at our MSRV")]
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(Error::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            return Err(Error::io(format!("locking {}", path.display()), err));
        }
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_in_same_process_fails_until_first_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = DirLock::acquire(dir.path()).expect("first lock");
        assert!(matches!(
            DirLock::acquire(dir.path()),
            Err(Error::Locked { .. })
        ));
        drop(a);
        DirLock::acquire(dir.path()).expect("lock after release");
    }
}
