//! nsid: identity of a container's processes — namespace ids, cgroup id, boot-unique start time.
//!
//! A pid is reused, and namespace inode numbers are reused by later containers too: identify a
//! process by `(boot_id, pid, start_time)` and a container by its init's identity plus its
//! namespace ids, and delete what is keyed on them when the container goes away.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Errors of identity lookups.
#[derive(Debug, thiserror::Error)]
pub enum NsIdError {
    /// A /proc or cgroup file could not be read.
    #[error("cannot read {path:?}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A /proc file did not have the expected shape.
    #[error("unexpected content in {path:?}")]
    Parse {
        /// The file.
        path: PathBuf,
    },
}

/// Namespace ids (inode numbers of /proc/PID/ns/*) of one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NamespaceIds {
    /// pid namespace.
    pub pid: u64,
    /// mount namespace.
    pub mnt: u64,
    /// network namespace.
    pub net: u64,
}

/// Boot-unique identity of a process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProcessIdentity {
    /// The host pid.
    pub pid: i32,
    /// Start time in clock ticks since boot (field 22 of /proc/PID/stat).
    pub start_time: u64,
    /// /proc/sys/kernel/random/boot_id.
    pub boot_id: String,
}

fn read(path: &Path) -> Result<String, NsIdError> {
    std::fs::read_to_string(path).map_err(|source| NsIdError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Inode of `/proc/<pid>/ns/<kind>` (`kind`: pid, mnt, net, uts, ipc, user, cgroup, time).
pub fn namespace_id(pid: i32, kind: &str) -> Result<u64, NsIdError> {
    let path = PathBuf::from(format!("/proc/{pid}/ns/{kind}"));
    std::fs::metadata(&path)
        .map(|m| m.ino())
        .map_err(|source| NsIdError::Read { path, source })
}

/// pid, mount and network namespace ids of `pid`.
pub fn namespace_ids(pid: i32) -> Result<NamespaceIds, NsIdError> {
    Ok(NamespaceIds {
        pid: namespace_id(pid, "pid")?,
        mnt: namespace_id(pid, "mnt")?,
        net: namespace_id(pid, "net")?,
    })
}

/// cgroup id of a cgroup directory: its inode number, which on cgroup2 is the id BPF programs
/// see (`bpf_get_current_cgroup_id()`).
pub fn cgroup_id(dir: &Path) -> Result<u64, NsIdError> {
    std::fs::metadata(dir)
        .map(|m| m.ino())
        .map_err(|source| NsIdError::Read {
            path: dir.to_path_buf(),
            source,
        })
}

/// The cgroup2 directory of `pid`: the `0::` line of /proc/PID/cgroup under the cgroup2 mount
/// point of /proc/self/mountinfo (`/sys/fs/cgroup` on v2 hosts, `/sys/fs/cgroup/unified` on
/// hybrid ones). `None` when there is no cgroup2 hierarchy.
pub fn cgroup2_dir(pid: i32) -> Result<Option<PathBuf>, NsIdError> {
    let mountinfo = read(Path::new("/proc/self/mountinfo"))?;
    let Some(mount_point) = mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split(' ').next() == Some("cgroup2")).then(|| left.split(' ').nth(4))?
    }) else {
        return Ok(None);
    };
    let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = read(&path)?;
    let Some(rel) = text.lines().find_map(|l| l.strip_prefix("0::")) else {
        return Ok(None);
    };
    Ok(Some(
        Path::new(mount_point).join(rel.trim_start_matches('/')),
    ))
}

/// The cgroup2 id of `pid` (what BPF programs see), `None` without a cgroup2 hierarchy.
pub fn cgroup2_id(pid: i32) -> Result<Option<u64>, NsIdError> {
    cgroup2_dir(pid)?.map(|d| cgroup_id(&d)).transpose()
}

/// Start time of `pid` in clock ticks since boot, parsed from the content of /proc/PID/stat.
pub fn start_time_from_stat(stat: &str) -> Option<u64> {
    // comm (field 2) may contain spaces and parentheses: fields restart after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3 (state); starttime is field 22.
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Start time of `pid` in clock ticks since boot.
pub fn start_time(pid: i32) -> Result<u64, NsIdError> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    start_time_from_stat(&read(&path)?).ok_or(NsIdError::Parse { path })
}

/// This boot's random id.
pub fn boot_id() -> Result<String, NsIdError> {
    Ok(read(Path::new("/proc/sys/kernel/random/boot_id"))?
        .trim()
        .to_string())
}

/// `(boot_id, pid, start_time)` of `pid`.
pub fn process_identity(pid: i32) -> Result<ProcessIdentity, NsIdError> {
    Ok(ProcessIdentity {
        pid,
        start_time: start_time(pid)?,
        boot_id: boot_id()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_survives_odd_comm() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_time_from_stat(stat), Some(987654));
        assert_eq!(start_time_from_stat("garbage"), None);
    }

    #[test]
    fn own_identity_is_stable_and_child_differs() {
        let me = std::process::id() as i32;
        let a = process_identity(me).expect("identity");
        let b = process_identity(me).expect("identity");
        assert_eq!(a, b);
        assert_eq!(a.boot_id.len(), 36);
        let ns = namespace_ids(me).expect("ns ids");
        assert_eq!(ns, namespace_ids(me).expect("ns ids"));
        assert_ne!(ns.pid, ns.mnt);
        let init_ns = namespace_id(1, "mnt");
        // pid 1's start time is never later than ours.
        if init_ns.is_ok() {
            assert!(start_time(1).expect("pid 1") <= a.start_time);
        }
        let mut child = std::process::Command::new("sleep")
            .arg("1")
            .spawn()
            .expect("spawn sleep");
        let c = process_identity(child.id() as i32).expect("child identity");
        assert!(c.start_time >= a.start_time);
        assert_ne!(c.pid, a.pid);
        child.kill().ok();
        child.wait().ok();
    }

    #[test]
    fn missing_pid_is_an_error_naming_the_file() {
        let err = namespace_id(i32::MAX, "mnt").expect_err("no such pid");
        assert!(
            err.to_string()
                .contains(&format!("/proc/{}/ns/mnt", i32::MAX)),
            "{err}"
        );
    }

    #[test]
    fn own_cgroup2_directory_exists() {
        match cgroup2_dir(std::process::id() as i32).expect("read /proc") {
            Some(dir) => {
                assert!(dir.is_dir(), "{dir:?}");
                let id = cgroup2_id(std::process::id() as i32)
                    .expect("id")
                    .expect("some");
                assert_eq!(id, std::fs::metadata(&dir).expect("stat").ino());
            }
            None => eprintln!("skip: no cgroup2 hierarchy here"),
        }
    }

    #[test]
    fn cgroup_id_is_the_directory_inode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ino = std::fs::metadata(dir.path()).expect("stat").ino();
        assert_eq!(cgroup_id(dir.path()).expect("id"), ino);
    }
}
