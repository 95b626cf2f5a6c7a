//! Placement in the unified (v2) hierarchy on hybrid hosts.
//!
//! On a hybrid host (v1 controllers, plus an empty cgroup2 mounted at
//! `/sys/fs/cgroup/unified`) libcontainer manages only the v1 controllers. runc also places the
//! container in the unified hierarchy, and vigil's eBPF layer attaches its cgroup programs
//! there, so the runtime joins the container's unified cgroup before libcontainer forks: every
//! process of the container inherits it from its first instruction. On pure v2 hosts
//! libcontainer already does this and nothing here runs.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

use crate::RuntimeError;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const UNIFIED_ROOT: &str = "/sys/fs/cgroup/unified";

/// The unified cgroup directory for a container's `cgroupsPath` on a hybrid host, or `None` on
/// a pure v1 or pure v2 host, and for systemd-style paths (`slice:prefix:name`).
pub(crate) fn unified_dir(cgroups_path: &Path) -> Option<PathBuf> {
    let is_v2 = |p: &str| statfs(p).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC);
    if is_v2(CGROUP_ROOT) || !is_v2(UNIFIED_ROOT) {
        return None;
    }
    let rel = cgroups_path.to_str()?;
    if rel.contains(':') || rel.split('/').any(|c| c == "..") {
        return None;
    }
    Some(Path::new(UNIFIED_ROOT).join(rel.trim_start_matches('/')))
}

/// This process's membership in the unified hierarchy while it creates a container.
pub(crate) struct UnifiedPlacement {
    dir: PathBuf,
    previous: PathBuf,
}

impl UnifiedPlacement {
    /// Creates `dir` and moves this process into it, remembering where it was.
    pub(crate) fn enter(dir: PathBuf) -> Result<Self, RuntimeError> {
        let own = fs::read_to_string("/proc/self/cgroup").map_err(|source| RuntimeError::Read {
            path: "/proc/self/cgroup".into(),
            source,
        })?;
        let previous = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(|p| Path::new(UNIFIED_ROOT).join(p.trim_start_matches('/')))
            .unwrap_or_else(|| PathBuf::from(UNIFIED_ROOT));
        fs::create_dir_all(&dir).map_err(|source| RuntimeError::Write {
            path: dir.clone(),
            source,
        })?;
        let placement = Self { dir, previous };
        join(&placement.dir)?;
        Ok(placement)
    }

    /// Moves this process back where it was; the container's processes stay.
    pub(crate) fn leave(&self) -> Result<(), RuntimeError> {
        join(&self.previous)
    }

    /// Moves back and removes the directory: the create failed.
    pub(crate) fn abandon(self) {
        if let Err(e) = self.leave() {
            tracing::warn!(error = %e, "failed to leave the unified cgroup");
        }
        remove(&self.dir);
    }
}

fn join(dir: &Path) -> Result<(), RuntimeError> {
    let procs = dir.join("cgroup.procs");
    fs::write(&procs, "0").map_err(|source| RuntimeError::Write {
        path: procs,
        source,
    })
}

/// Removes a container's unified cgroup directory, waiting briefly for exiting processes.
pub(crate) fn remove(dir: &Path) {
    for _ in 0..50 {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == ErrorKind::NotFound => return,
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => {
                tracing::warn!(dir = ?dir, error = %e, "failed to remove unified cgroup");
                return;
            }
        }
    }
    tracing::warn!(dir = ?dir, "unified cgroup still busy, left in place");
}
