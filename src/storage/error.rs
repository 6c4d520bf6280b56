//! The storage layer's one error type.

use std::path::PathBuf;

use super::Location;

/// A storage result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the storage engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error, with what we were doing.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What the engine was doing (names the file when there is one).
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record or file failed its checksum or structure check.
    #[error(
        "corruption in {} at offset {offset}: {reason}; run the repair \
         (`fincaskv::storage::repair(dir)`, `fincaskv-server --repair <dir>`) \
         to salvage every valid record",
        file.display()
    )]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the first bad record in that file.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// Another `Log` (in this or another process) holds the directory lock.
    #[error("the data directory {} is locked by another open store", dir.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// The caller passed something the engine refuses (empty key, too long, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The directory exists but does not look like a FincasKV store.
    #[error("{} is not a FincasKV store: {reason}", dir.display())]
    NotAStore {
        /// The directory.
        dir: PathBuf,
        /// Why not.
        reason: String,
    },
    /// A previous fsync failed; nothing more is acknowledged by this writer.
    #[error("the writer is poisoned after a failed fsync: {0}")]
    Poisoned(String),
    /// The file system is (still) too full for the write; nothing was
    /// written or changed. Writes work again once space is freed.
    #[error("no space left on device: {0}")]
    NoSpace(String),
    /// A location whose file no longer exists (it was merged away).
    #[error("stale location {0:?}: its file was merged away")]
    StaleLocation(Location),
}

impl Error {
    /// Wraps an I/O error with a description of the operation.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Adds context to `std::io::Result`.
pub(crate) trait IoContext<T> {
    /// Maps the error into [`Error::Io`] with a lazily built context.
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}
