//! Who a container is, as the kernel sees it: init pid and namespace inode numbers.
//!
//! Namespace inode numbers are reused after a container exits, so an identity is only valid
//! between attach and detach (detach at `delete`).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("failed to read namespace {path:?}")]
    Namespace {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A container as the monitor knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerIdentity {
    pub id: String,
    /// Host pid of the container's init (waiting for `start` at attach time).
    pub init_pid: i32,
    /// Inode number of `/proc/<init_pid>/ns/mnt`.
    pub mnt_ns: u64,
    /// Inode number of `/proc/<init_pid>/ns/pid`.
    pub pid_ns: u64,
}

impl ContainerIdentity {
    /// Reads the namespaces of a running init.
    pub fn from_pid(id: &str, init_pid: i32) -> Result<ContainerIdentity, IdentityError> {
        Ok(ContainerIdentity {
            id: id.to_string(),
            init_pid,
            mnt_ns: ns_inode(init_pid, "mnt")?,
            pid_ns: ns_inode(init_pid, "pid")?,
        })
    }
}

/// The inode number of `/proc/<pid>/ns/<kind>` (`0` for pid 0 means "self").
pub fn ns_inode(pid: i32, kind: &str) -> Result<u64, IdentityError> {
    let path = if pid == 0 {
        PathBuf::from(format!("/proc/self/ns/{kind}"))
    } else {
        PathBuf::from(format!("/proc/{pid}/ns/{kind}"))
    };
    std::fs::metadata(&path)
        .map(|m| m.ino())
        .map_err(|source| IdentityError::Namespace { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_namespaces() {
        let me = ContainerIdentity::from_pid("self", std::process::id() as i32).expect("own ns");
        assert_eq!(me.mnt_ns, ns_inode(0, "mnt").expect("self mnt"));
        assert_ne!(me.pid_ns, 0);
        let err = ContainerIdentity::from_pid("gone", i32::MAX).expect_err("no such pid");
        assert!(err.to_string().contains(&i32::MAX.to_string()), "{err}");
    }
}
