//! The attached containers, on disk next to the socket (`monitor-attached.json`, 0600), so a
//! daemon restarted after a crash re-attaches them; and the heartbeat file whose time says
//! when the last daemon was last alive (the start of the gap a restart journals), and the
//! pid file `monitor.pid`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::proto::AttachRequest;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("failed to write {path:?}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One attached container: the request that attached it and its init's start time (a reused
/// pid is not the same init).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attached {
    pub request: AttachRequest,
    pub init_start_time: u64,
}

/// Every attached container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    pub containers: Vec<Attached>,
}

/// The registry file for a socket path.
pub fn path_for(socket: &Path) -> PathBuf {
    socket.with_file_name("monitor-attached.json")
}

/// The file holding the running daemon's pid, for a socket path.
pub fn pid_file_for(socket: &Path) -> PathBuf {
    socket.with_file_name("monitor.pid")
}

/// The heartbeat file for a socket path.
pub fn heartbeat_for(socket: &Path) -> PathBuf {
    socket.with_file_name("monitor.heartbeat")
}

impl Registry {
    /// Reads the registry; a missing or unreadable file is an empty registry (logged).
    pub fn load(path: &Path) -> Registry {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "monitor registry unreadable; starting empty");
                Registry::default()
            }),
            Err(_) => Registry::default(),
        }
    }

    /// Writes the registry atomically (temp file + rename), 0600.
    pub fn save(&self, path: &Path) -> Result<(), RegistryError> {
        let tmp = path.with_extension("json.tmp");
        let err = |source| RegistryError::Write {
            path: path.to_path_buf(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| err(e.into()))?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(&bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
        fs::rename(&tmp, path).map_err(err)
    }
}

/// Start time of a process (field 22 of `/proc/<pid>/stat`, clock ticks since boot).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Writes the current time to the heartbeat file.
pub fn beat(path: &Path) {
    if let Err(e) = fs::write(path, now_ms().to_string()) {
        tracing::debug!(path = %path.display(), error = %e, "heartbeat not written");
    }
}

/// The last heartbeat, in milliseconds since the epoch.
pub fn last_beat(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_round_trips_and_start_time_identifies_a_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_for(&dir.path().join("monitor.sock"));
        assert_eq!(Registry::load(&path), Registry::default());
        let me = std::process::id() as i32;
        let reg = Registry {
            containers: vec![Attached {
                request: AttachRequest {
                    id: "c1".into(),
                    init_pid: me,
                    cgroup_dir: Some("/sys/fs/cgroup/x".into()),
                    policy: "p".into(),
                    policy_digest: "d".into(),
                    rules: Default::default(),
                },
                init_start_time: start_time(me).expect("own start time"),
            }],
        };
        reg.save(&path).expect("save");
        assert_eq!(Registry::load(&path), reg);
        assert_eq!(start_time(me), start_time(me));
        assert!(start_time(i32::MAX).is_none());
        let hb = heartbeat_for(&dir.path().join("monitor.sock"));
        beat(&hb);
        let t = last_beat(&hb).expect("beat");
        assert!(now_ms() >= t && now_ms() - t < 5_000);
    }
}
