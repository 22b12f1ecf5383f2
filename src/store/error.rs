//! The store's typed errors: each one names the store and says what to do, in one line.

use std::io;
use std::path::{Path, PathBuf};

use crate::model::ArticleId;

/// What an [`Indexer`](super::Indexer) may fail with: any error (use `?` freely).
pub type IndexerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (normally another kessai) holds the store.
    #[error("{}", in_use_message(path, *pid))]
    InUse {
        /// The store folder.
        path: PathBuf,
        /// The other process, when its lock file says.
        pid: Option<u32>,
    },
    /// The folder holds files that are not a kessai store; kessai will not write into it.
    #[error(
        "{} is not a kessai store (it holds other files); pick an empty or new folder with --store",
        path.display()
    )]
    NotAStore {
        /// The folder.
        path: PathBuf,
    },
    /// The store was written by a newer kessai.
    #[error(
        "store {} has schema version {found}, this kessai understands up to {supported}; upgrade kessai or use another --store",
        path.display()
    )]
    TooNew {
        /// The store folder.
        path: PathBuf,
        /// Version found on disk.
        found: u32,
        /// Newest version this build understands.
        supported: u32,
    },
    /// A schema migration failed; the store stays at the old version and the step runs
    /// again on the next open.
    #[error(
        "store {}: upgrading from schema version {from} ({what}) failed: {cause}",
        path.display()
    )]
    Migration {
        /// The store folder.
        path: PathBuf,
        /// The version being upgraded from.
        from: u32,
        /// What the step changes.
        what: &'static str,
        /// The cause (in the message; it names the store).
        cause: Box<StoreError>,
    },
    /// sled found damaged files, or a stored value cannot be read back.
    #[error(
        "store {} is damaged ({detail}); run `kessai store check`, then `kessai store rebuild`, or move the folder aside and fetch again",
        path.display()
    )]
    Corrupt {
        /// The store folder.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// sled came back with less than was flushed: its files were damaged and it dropped
    /// what followed the damage.
    #[error(
        "store {} lost flushed articles (ids up to {flushed} were stored, the files end at {found}): its files are damaged; restore a backup, or run `kessai store rebuild --accept-loss` to keep what survived",
        path.display()
    )]
    DataLost {
        /// The store folder.
        path: PathBuf,
        /// Largest article id known to have been flushed.
        flushed: u64,
        /// Largest article id the files hold now.
        found: u64,
    },
    /// The disk is full.
    #[error("store {}: the disk is full; free some space and run the command again", path.display())]
    DiskFull {
        /// The store folder.
        path: PathBuf,
    },
    /// A file-system operation failed.
    #[error("store {}: cannot {action}: {cause}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done ("create the folder", "write the lock file", ...).
        action: &'static str,
        /// The cause (in the message, so not a `source`: one line either way).
        cause: io::Error,
    },
    /// sled failed in a way not covered above.
    #[error("store {}: {cause}", path.display())]
    Db {
        /// The store folder.
        path: PathBuf,
        /// The cause (in the message).
        cause: sled::Error,
    },
    /// The article does not exist.
    #[error("article {id} is not in the store")]
    NotFound {
        /// The missing article.
        id: ArticleId,
    },
    /// An input value cannot be stored (a feed id too long, a bad tree name, ...).
    #[error("cannot store {what}: {why}")]
    Invalid {
        /// The value.
        what: String,
        /// Why not.
        why: String,
    },
    /// A registered indexer refused a write; nothing of that write was stored.
    #[error("indexer {indexer} failed{}: {cause}", article.map(|a| format!(" on article {a}")).unwrap_or_default())]
    Indexer {
        /// The indexer's name.
        indexer: String,
        /// The article being written, when there is one.
        article: Option<ArticleId>,
        /// The indexer's error (in the message).
        cause: IndexerError,
    },
}

fn in_use_message(path: &Path, pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!(
            "store {} is in use by another kessai (pid {pid}); close it or use --store",
            path.display()
        ),
        None => format!(
            "store {} is in use by another kessai; close it or use --store",
            path.display()
        ),
    }
}

impl StoreError {
    /// Maps a sled error on the store at `path` to the most specific variant.
    pub(crate) fn from_sled(path: &Path, e: sled::Error) -> StoreError {
        match e {
            sled::Error::Io(io) => Self::from_io(path, "use the store files", io),
            sled::Error::Corruption { at, .. } => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: match at {
                    Some(at) => format!("sled reports corrupt data at {at:?}"),
                    None => "sled reports corrupt data".into(),
                },
            },
            other => StoreError::Db {
                path: path.to_path_buf(),
                cause: other,
            },
        }
    }

    /// Maps an I/O error: a held lock, a full disk, anything else.
    pub(crate) fn from_io(path: &Path, action: &'static str, e: io::Error) -> StoreError {
        let text = e.to_string();
        if text.contains("could not acquire lock") || e.kind() == io::ErrorKind::WouldBlock {
            // Our own pid in the lock file means *we* hold kessai.lock and something else
            // holds sled's lock: we do not know who.
            return StoreError::InUse {
                path: path.to_path_buf(),
                pid: super::lock::holder_pid(path).filter(|&p| p != std::process::id()),
            };
        }
        if e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(libc::ENOSPC) {
            return StoreError::DiskFull {
                path: path.to_path_buf(),
            };
        }
        StoreError::Io {
            path: path.to_path_buf(),
            action,
            cause: e,
        }
    }

    /// Maps an error from opening sled: files it cannot understand are damage.
    pub(crate) fn from_sled_open(path: &Path, e: sled::Error) -> StoreError {
        match e {
            sled::Error::Unsupported(detail) | sled::Error::ReportableBug(detail) => {
                StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: format!("sled cannot read its files: {detail}"),
                }
            }
            other => Self::from_sled(path, other),
        }
    }

    /// A stored value that does not decode.
    pub(crate) fn corrupt(path: &Path, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_use_names_path_and_pid() {
        let e = StoreError::InUse {
            path: PathBuf::from("/tmp/k"),
            pid: Some(42),
        };
        assert_eq!(
            e.to_string(),
            "store /tmp/k is in use by another kessai (pid 42); close it or use --store"
        );
    }

    #[test]
    fn sled_lock_error_becomes_in_use() {
        let io = io::Error::other(
            "could not acquire lock on \"/tmp/nowhere-kessai/db\": Os { code: 11, kind: WouldBlock }",
        );
        let e = StoreError::from_sled(Path::new("/tmp/nowhere-kessai"), sled::Error::Io(io));
        assert!(matches!(e, StoreError::InUse { pid: None, .. }), "{e:?}");
    }

    #[test]
    fn enospc_becomes_disk_full() {
        let e = StoreError::from_io(
            Path::new("/x"),
            "write",
            io::Error::from_raw_os_error(libc::ENOSPC),
        );
        assert!(matches!(e, StoreError::DiskFull { .. }));
        assert!(e.to_string().contains("disk is full"));
    }

    #[test]
    fn messages_do_not_repeat_their_cause_in_a_chain() {
        let e = StoreError::from_io(Path::new("/x"), "write", io::Error::other("boom"));
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(e.to_string(), "store /x: cannot write: boom");
        let e = StoreError::from_sled_open(Path::new("/x"), sled::Error::Unsupported("old".into()));
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    }

    #[test]
    fn corruption_names_path_and_remedy() {
        let e = StoreError::from_sled(
            Path::new("/s"),
            sled::Error::Corruption { at: None, bt: () },
        );
        let s = e.to_string();
        assert!(s.starts_with("store /s is damaged"), "{s}");
        assert!(s.contains("kessai store check"));
    }
}
