//! Forward-secure sealing keys: a one-way ratchet of epoch keys and the seal MAC.
//!
//! `K0` is random (the verification key the user keeps off the host). `K(n+1) =
//! BLAKE3-derive_key("vigil-journal v1 epoch ratchet", K(n))`. The seal of epoch n is a keyed
//! BLAKE3 with `BLAKE3-derive_key("vigil-journal v1 seal mac", K(n))` over the chain head.
//! After sealing epoch n the writer stores K(n+1) and overwrites K(n) on disk, so whoever takes
//! the host later holds only the current key, from which earlier keys cannot be computed.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::JournalError;
use crate::record::{hex32, parse_hex32};
use crate::segment::{KEY_FILE, sync_dir};

const RATCHET_CTX: &str = "vigil-journal v1 epoch ratchet";
const MAC_CTX: &str = "vigil-journal v1 seal mac";
const KEY_FILE_LEN: usize = 512;

/// The sealing state kept in `seal.key` (0600).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    pub v: u32,
    /// The epoch the key belongs to (0 for the initial key).
    pub epoch: u64,
    /// Hex of the epoch key.
    pub key: String,
    /// First sequence number of this epoch.
    pub start_seq: u64,
    /// Segment and byte offset where this epoch's first record is (or will be) written.
    pub start_segment: u64,
    pub start_offset: u64,
    /// When the epoch began, microseconds since the epoch.
    pub start_time: i64,
    /// The journal's epoch policy, fixed when it was created (all writers follow it).
    #[serde(default)]
    pub epoch_records: Option<u64>,
    #[serde(default)]
    pub epoch_seconds: Option<u64>,
}

impl KeyState {
    pub(crate) fn key_bytes(&self, path: &Path) -> Result<[u8; 32], JournalError> {
        parse_hex32(self.key.as_bytes()).ok_or_else(|| JournalError::KeyFile {
            path: path.to_path_buf(),
            reason: "key is not 64 hex digits".into(),
        })
    }
}

/// The next epoch's key.
pub fn ratchet(key: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key(RATCHET_CTX, key)
}

/// The key of `epoch`, derived from the initial key.
pub fn key_for_epoch(initial: &[u8; 32], epoch: u64) -> [u8; 32] {
    let mut k = *initial;
    for _ in 0..epoch {
        k = ratchet(&k);
    }
    k
}

/// What a seal authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealInput<'a> {
    pub epoch: u64,
    /// Sequence number of the seal record itself.
    pub seq: u64,
    /// Hash of the record before the seal (the chain head at the end of the epoch).
    pub head: &'a str,
    pub first_seq: u64,
    /// BLAKE3 of the epoch's record lines as written (first_seq..seq-1, newlines included).
    pub range: &'a str,
}

/// The seal MAC of `input` under the epoch key.
pub fn seal_mac(epoch_key: &[u8; 32], input: &SealInput<'_>) -> [u8; 32] {
    let mac_key = blake3::derive_key(MAC_CTX, epoch_key);
    let msg = format!(
        "vigil-journal seal v1\nepoch={}\nseq={}\nhead={}\nfirst={}\nrange={}\n",
        input.epoch, input.seq, input.head, input.first_seq, input.range
    );
    *blake3::keyed_hash(&mac_key, msg.as_bytes()).as_bytes()
}

/// 32 random bytes from the kernel.
pub fn random_key() -> Result<[u8; 32], JournalError> {
    let mut k = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut k))
        .map_err(JournalError::io("read", "/dev/urandom"))?;
    Ok(k)
}

/// Parses a hex verification key.
pub fn parse_key(hex: &str) -> Result<[u8; 32], JournalError> {
    // A key typed by a person may be in either case.
    parse_hex32(hex.trim().to_ascii_lowercase().as_bytes())
        .ok_or_else(|| JournalError::BadKey("expected 64 hex digits".into()))
}

/// Hex of a key.
pub fn key_hex(k: &[u8; 32]) -> String {
    hex32(k)
}

fn encode_state(s: &KeyState) -> Result<Vec<u8>, JournalError> {
    let mut v = serde_json::to_vec(s).map_err(JournalError::Json)?;
    v.resize(KEY_FILE_LEN - 1, b' ');
    v.push(b'\n');
    Ok(v)
}

fn read_state(path: &Path) -> Result<Option<KeyState>, JournalError> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(b.trim_ascii_end())
            .map(Some)
            .map_err(|e| JournalError::KeyFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(JournalError::Io {
            op: "read key file",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Loads the sealing state, finishing an interrupted [`store`]. `None`: the journal is unsealed.
pub fn load(dir: &Path) -> Result<Option<KeyState>, JournalError> {
    let path = dir.join(KEY_FILE);
    let new_path = dir.join(format!("{KEY_FILE}.new"));
    let cur = read_state(&path)?;
    let new = read_state(&new_path).unwrap_or(None);
    match (cur, new) {
        (Some(c), Some(n)) if n.epoch > c.epoch => {
            fs::rename(&new_path, &path).map_err(JournalError::io("rename into place", &path))?;
            Ok(Some(n))
        }
        (None, Some(n)) => {
            fs::rename(&new_path, &path).map_err(JournalError::io("rename into place", &path))?;
            Ok(Some(n))
        }
        (cur, _) => {
            let _ = fs::remove_file(&new_path);
            Ok(cur)
        }
    }
}

/// Loads the sealing state without changing anything on disk (for verification).
pub fn load_readonly(dir: &Path) -> Result<Option<KeyState>, JournalError> {
    let cur = read_state(&dir.join(KEY_FILE))?;
    let new = read_state(&dir.join(format!("{KEY_FILE}.new"))).unwrap_or(None);
    Ok(match (cur, new) {
        (Some(c), Some(n)) if n.epoch > c.epoch => Some(n),
        (None, n) => n,
        (c, _) => c,
    })
}

/// Stores a new sealing state: writes `seal.key.new`, overwrites the old key file's bytes in
/// place (so the previous key is not left in the old inode), then renames the new file over it.
pub fn store(dir: &Path, s: &KeyState) -> Result<(), JournalError> {
    let path = dir.join(KEY_FILE);
    let new_path = dir.join(format!("{KEY_FILE}.new"));
    let bytes = encode_state(s)?;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&new_path)
        .map_err(JournalError::io("create key file", &new_path))?;
    f.write_all(&bytes)
        .map_err(JournalError::io("write key file", &new_path))?;
    f.sync_all()
        .map_err(JournalError::io("fsync key file", &new_path))?;
    if let Ok(old) = OpenOptions::new().write(true).open(&path) {
        old.write_all_at(&bytes, 0)
            .and_then(|_| old.sync_all())
            .map_err(JournalError::io("overwrite old key", &path))?;
    }
    fs::rename(&new_path, &path).map_err(JournalError::io("rename into place", &path))?;
    sync_dir(dir)
}

/// The seal MAC, exposed so that tests can play an intruder holding some epoch key.
#[doc(hidden)]
pub fn seal_mac_for_tests(
    key: &[u8; 32],
    epoch: u64,
    seq: u64,
    head: &str,
    first_seq: u64,
    range: &str,
) -> [u8; 32] {
    seal_mac(
        key,
        &SealInput {
            epoch,
            seq,
            head,
            first_seq,
            range,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratchet_is_deterministic_and_one_way_looking() {
        let k0 = [7u8; 32];
        let k3 = key_for_epoch(&k0, 3);
        assert_eq!(k3, ratchet(&ratchet(&ratchet(&k0))));
        assert_ne!(k3, k0);
        let input = SealInput {
            epoch: 3,
            seq: 10,
            head: "ab",
            first_seq: 5,
            range: "cd",
        };
        assert_ne!(seal_mac(&k3, &input), seal_mac(&ratchet(&k3), &input));
    }

    #[test]
    fn store_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let mut s = KeyState {
            v: 1,
            epoch: 0,
            key: key_hex(&[1; 32]),
            start_seq: 1,
            start_segment: 1,
            start_offset: 0,
            start_time: 0,
            epoch_records: Some(5),
            epoch_seconds: None,
        };
        store(dir.path(), &s).unwrap();
        s.epoch = 1;
        s.key = key_hex(&ratchet(&[1; 32]));
        store(dir.path(), &s).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(s.clone()));
        let raw = fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        assert!(!raw.contains(&key_hex(&[1; 32])), "old key must be gone");
        // An interrupted store (new file written, not renamed) is completed on load.
        let mut s2 = s.clone();
        s2.epoch = 2;
        fs::write(dir.path().join("seal.key.new"), encode_state(&s2).unwrap()).unwrap();
        assert_eq!(load(dir.path()).unwrap().unwrap().epoch, 2);
    }
}
