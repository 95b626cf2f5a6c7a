//! Directory layout: numbered segment files, the lock file, key files; tail recovery.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::JournalError;
use crate::record::{self, Record};

/// Lock file taken (exclusive, advisory) around read-tail + append + fsync.
pub const LOCK_FILE: &str = "journal.lock";
/// Writers waiting for `LOCK_FILE` hold a shared lock on this one (see the writer).
pub const WAIT_FILE: &str = "journal.wait";
/// The current sealing key and epoch state.
pub const KEY_FILE: &str = "seal.key";
/// The initial verification key, kept only until `init` hands it to the user.
pub const INITIAL_KEY_FILE: &str = "initial.key";
const SEGMENT_EXT: &str = ".jsonl";

/// File name of segment `n`.
pub fn segment_name(n: u64) -> String {
    format!("{n:08}{SEGMENT_EXT}")
}

/// The segment number of a file name, if it is a segment.
pub fn segment_number(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SEGMENT_EXT)?;
    if stem.len() != 8 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// All segments in `dir`, sorted by number.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    for ent in fs::read_dir(dir).map_err(JournalError::io("read directory", dir))? {
        let ent = ent.map_err(JournalError::io("read directory", dir))?;
        if let Some(n) = ent.file_name().to_str().and_then(segment_number) {
            out.push((n, ent.path()));
        }
    }
    out.sort_unstable_by_key(|(n, _)| *n);
    Ok(out)
}

/// Creates `dir` (mode 0700) if needed and makes sure it is root-only (owner-only).
pub fn ensure_dir(dir: &Path) -> Result<(), JournalError> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(JournalError::io("create journal directory", dir))?;
    }
    let meta = fs::metadata(dir).map_err(JournalError::io("stat journal directory", dir))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|_| {
            JournalError::Permissions {
                path: dir.to_path_buf(),
                mode,
            }
        })?;
        tracing::warn!(path = ?dir, mode = format!("{mode:o}"), "journal directory was not owner-only; set to 0700");
    }
    Ok(())
}

/// Opens (creating, mode 0600) a file for appending.
pub fn open_append(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(JournalError::io("open segment", path))
}

/// Writes `bytes` to `path` (0600) atomically: temp file, fsync, rename, fsync directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(JournalError::io("create", &tmp))?;
    f.write_all(bytes)
        .map_err(JournalError::io("write", &tmp))?;
    f.sync_all().map_err(JournalError::io("fsync", &tmp))?;
    fs::rename(&tmp, path).map_err(JournalError::io("rename into place", path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// fsyncs a directory so that created/renamed entries are durable.
pub fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(JournalError::io("fsync directory", dir))
}

/// The end of a segment as found on disk.
#[derive(Debug, Default)]
pub struct Tail {
    /// The last complete, parseable record.
    pub last: Option<Record>,
    /// Bytes up to and including the newline of `last` (0 if none).
    pub valid_len: u64,
    /// Total file length.
    pub file_len: u64,
}

impl Tail {
    /// Bytes after the last good record: a torn write (or garbage) to cut off.
    pub fn torn_bytes(&self) -> u64 {
        self.file_len - self.valid_len
    }
}

/// Finds the last complete record of a segment. Trailing bytes that do not form a parseable
/// record (a partial line, NULs after a power loss) are reported as torn.
pub fn read_tail(path: &Path) -> Result<Tail, JournalError> {
    let mut f = File::open(path).map_err(JournalError::io("open segment", path))?;
    let file_len = f
        .metadata()
        .map_err(JournalError::io("stat segment", path))?
        .len();
    let mut window: u64 = 64 * 1024;
    loop {
        let base = file_len.saturating_sub(window);
        f.seek(SeekFrom::Start(base))
            .map_err(JournalError::io("seek segment", path))?;
        let mut buf = Vec::with_capacity((file_len - base) as usize);
        f.read_to_end(&mut buf)
            .map_err(JournalError::io("read segment", path))?;
        // Walk complete lines from the end.
        let mut end = match buf.iter().rposition(|b| *b == b'\n') {
            Some(p) => p,
            None if base == 0 => {
                return Ok(Tail {
                    last: None,
                    valid_len: 0,
                    file_len,
                });
            }
            None => {
                window *= 4;
                continue;
            }
        };
        loop {
            let start = match buf[..end].iter().rposition(|b| *b == b'\n') {
                Some(p) => p + 1,
                None if base == 0 => 0,
                None => break, // line starts before the window: widen
            };
            if let Ok(r) = record::parse(&buf[start..end]) {
                return Ok(Tail {
                    last: Some(r),
                    valid_len: base + end as u64 + 1,
                    file_len,
                });
            }
            if start == 0 {
                return Ok(Tail {
                    last: None,
                    valid_len: 0,
                    file_len,
                });
            }
            end = start - 1;
        }
        if base == 0 {
            return Ok(Tail {
                last: None,
                valid_len: 0,
                file_len,
            });
        }
        window *= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(12), "00000012.jsonl");
        assert_eq!(segment_number("00000012.jsonl"), Some(12));
        assert_eq!(segment_number("12.jsonl"), None);
        assert_eq!(segment_number("00000012.jsonl.torn"), None);
    }
}
