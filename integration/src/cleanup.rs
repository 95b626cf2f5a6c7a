//! Leaving nothing behind: stopping processes by pid, unmounting leftovers under a directory,
//! removing cgroup trees, and listing what is left (for the tests' "nothing left" assertions).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("failed to read {path:?}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    // A zombie is gone for our purposes: it holds no mounts and no cgroup membership.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL and wait up to 5 s. Works for any pid (children
/// are reaped by their owner; call `Child::wait` after this for one's own children).
pub fn stop_pid(pid: i32, grace: Duration) {
    if pid <= 1 || !alive(pid) {
        return;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    if wait_gone(pid, grace) {
        return;
    }
    tracing::warn!(pid, "did not stop on SIGTERM, sending SIGKILL");
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    wait_gone(pid, Duration::from_secs(5));
}

/// SIGKILL and wait up to 5 s.
pub fn kill_pid(pid: i32) {
    if pid > 1 && alive(pid) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        wait_gone(pid, Duration::from_secs(5));
    }
}

fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    !alive(pid)
}

/// Pids (other than ours) whose command line contains `needle`, e.g. a daemon's socket path.
pub fn pids_with_cmdline(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && alive(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(needle)
            })
        })
        .collect()
}

/// Mount points at or below `dir`, deepest first (from /proc/self/mountinfo).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v.dedup();
    v
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Lazily unmounts everything at or below `dir`; returns what was mounted.
pub fn unmount_under(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    // Stacked mounts need several rounds.
    for _ in 0..8 {
        let m = mounts_under(dir);
        if m.is_empty() {
            break;
        }
        for p in &m {
            if let Err(e) = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH) {
                tracing::warn!(path = ?p, error = %e, "umount of a leftover failed");
            }
        }
        all.extend(m);
    }
    all
}

/// The existing cgroup directories for relative cgroup path `rel` (e.g. `/ns/id`), in every v1
/// hierarchy and in the v2 tree (root or `unified`).
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        return Vec::new();
    }
    let root = Path::new(CGROUP_ROOT);
    let mut v = Vec::new();
    if root.join(rel).is_dir() {
        v.push(root.join(rel));
    }
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let d = e.path().join(rel);
            if e.path().join("cgroup.procs").exists() && d.is_dir() {
                v.push(d);
            }
        }
    }
    v
}

/// Directories named `name` anywhere in the cgroup trees (depth-limited), e.g. a container id.
pub fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    fn walk(d: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            if e.file_name() == name {
                out.push(e.path());
            }
            if depth > 0 {
                walk(&e.path(), name, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new(CGROUP_ROOT), name, 5, &mut out);
    out
}

/// Kills every process in the cgroup trees `rel` and removes the directories, deepest first.
/// Returns the directories that existed.
pub fn remove_cgroup_tree(rel: &str) -> Vec<PathBuf> {
    let tops = cgroup_dirs(rel);
    for top in &tops {
        let mut dirs = Vec::new();
        collect_dirs(top, &mut dirs);
        dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for d in &dirs {
            for pid in cgroup_pids(d) {
                kill_pid(pid);
            }
            // A frozen (paused) cgroup keeps its killed tasks: thaw it first (v1 freezer).
            let _ = std::fs::write(d.join("freezer.state"), "THAWED");
            let _ = std::fs::write(d.join("cgroup.freeze"), "0");
            if let Err(e) = std::fs::remove_dir(d) {
                tracing::warn!(path = ?d, error = %e, "failed to remove a cgroup");
            }
        }
    }
    tops
}

fn collect_dirs(d: &Path, out: &mut Vec<PathBuf>) {
    out.push(d.to_path_buf());
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// Pids listed in a cgroup directory's `cgroup.procs`.
pub fn cgroup_pids(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A controller file of cgroup `rel`: v1 `/sys/fs/cgroup/CONTROLLER/REL/FILE` if present, else
/// v2 `/sys/fs/cgroup/REL/FILE`.
pub fn cgroup_file(rel: &str, controller: &str, file: &str) -> Result<String, CleanupError> {
    let rel = rel.trim_start_matches('/');
    let v1 = Path::new(CGROUP_ROOT).join(controller).join(rel).join(file);
    let path = if v1.exists() {
        v1
    } else {
        Path::new(CGROUP_ROOT).join(rel).join(file)
    };
    std::fs::read_to_string(&path).map_err(|source| CleanupError::Read { path, source })
}

/// Host directories that engines create on demand and that we remove once empty, but only
/// when the last engine guard of this process is gone: removing `/run/containerd/s` while
/// another guard's shim is between its mkdir and its bind would break that shim.
#[derive(Debug)]
pub struct HostDirsLease {
    dirs: &'static [&'static str],
}

static LIVE_ENGINES: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

impl HostDirsLease {
    /// Takes a lease before an engine starts; `dirs` are removed (if empty, deepest listed
    /// first) when the last lease is dropped.
    pub fn take(dirs: &'static [&'static str]) -> Self {
        *LIVE_ENGINES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        Self { dirs }
    }
}

impl Drop for HostDirsLease {
    fn drop(&mut self) {
        let mut live = LIVE_ENGINES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *live = live.saturating_sub(1);
        if *live == 0 {
            for d in self.dirs {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}
