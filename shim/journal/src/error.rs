//! The journal's error type.

use std::path::PathBuf;

/// Everything that can go wrong opening, writing or reading a journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("failed to {op} {path:?}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal directory {path:?} is not root-only (mode {mode:o}); refusing to use it")]
    Permissions { path: PathBuf, mode: u32 },
    #[error("corrupt record in {path:?} line {line}: {reason}")]
    Corrupt {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("corrupt key file {path:?}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("invalid verification key: {0}")]
    BadKey(String),
    #[error(
        "invalid time {0:?}: expected RFC 3339 (2026-01-31T12:00:00Z), a date, or a duration ago like 2h"
    )]
    BadTime(String),
    #[error("failed to serialise record")]
    Json(#[source] serde_json::Error),
    #[error("journal lock {path:?} held by another writer for {waited:?}; record not written")]
    LockTimeout {
        path: PathBuf,
        waited: std::time::Duration,
    },
    #[error("journal writer is poisoned after an earlier panic")]
    Poisoned,
    #[error("{0}")]
    Usage(String),
}

impl JournalError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| JournalError::Io { op, path, source }
    }
}
