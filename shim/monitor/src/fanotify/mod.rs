//! fanotify backend: inline open/exec decisions with FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM.
//!
//! One FAN_CLASS_CONTENT group and one event thread per container: ignore marks (the cache of
//! allowed inodes) are per group, so a shared group would let one container's cached inode
//! through for another container that bind-mounts the same file under different rules.
//! Closing the group at detach removes every mark and cached inode and allows pending events.
//!
//! Attach runs after `create` and before `start`: FAN_MARK_MOUNT on `/proc/<init pid>/root`
//! marks exactly the container's root mount (after its pivot_root), and each further mount in
//! `/proc/<init pid>/mountinfo` is marked through `/proc/<init pid>/root/<mount point>`.

pub mod events;
mod mounts;
pub mod serve;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags};

use crate::identity::{IdentityError, ns_inode};
use crate::rules::{FailMode, MonitorRules};
use crate::{ContainerIdentity, Sink, glob};
use events::{KernelEvents, PermissionEvents};
use serve::{Container, Procfs};

/// Errors of the fanotify backend.
#[derive(Debug, thiserror::Error)]
pub enum FanotifyError {
    #[error("fanotify_init() failed")]
    Init {
        #[source]
        source: Errno,
    },
    #[error("fanotify_mark() failed on {path:?}")]
    Mark {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("reading fanotify events failed")]
    Read {
        #[source]
        source: Errno,
    },
    #[error("writing a fanotify response failed")]
    Respond {
        #[source]
        source: Errno,
    },
    #[error("failed to read {path:?}")]
    Proc {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container {id} is already attached")]
    AlreadyAttached { id: String },
    #[error("container {id} shares the host mount namespace: its root mount is the host's")]
    HostMountNamespace { id: String },
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("failed to start the event thread for container {id}")]
    Thread {
        id: String,
        #[source]
        source: std::io::Error,
    },
}

/// The mask every container mount gets.
pub fn perm_mask() -> MaskFlags {
    MaskFlags::FAN_OPEN_PERM | MaskFlags::FAN_OPEN_EXEC_PERM
}

struct Attached {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    marked: Vec<PathBuf>,
}

/// The fanotify backend for any number of containers.
pub struct FanotifyMonitor {
    sink: Arc<dyn Sink>,
    containers: Mutex<HashMap<String, Attached>>,
}

impl FanotifyMonitor {
    pub fn new(sink: Arc<dyn Sink>) -> FanotifyMonitor {
        FanotifyMonitor {
            sink,
            containers: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this kernel and process can use fanotify permission events.
    pub fn probe() -> Result<(), FanotifyError> {
        new_group().map(drop)
    }

    /// Marks every mount of the container and starts deciding its opens and execs. Call after
    /// `create`, before `start`. Returns the mount points marked (container paths).
    pub fn attach(
        &self,
        identity: ContainerIdentity,
        rules: MonitorRules,
    ) -> Result<Vec<PathBuf>, FanotifyError> {
        let id = identity.id.clone();
        let mut containers = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        if containers.contains_key(&id) {
            return Err(FanotifyError::AlreadyAttached { id });
        }
        let host_mnt_ns = ns_inode(0, "mnt")?;
        if identity.mnt_ns == host_mnt_ns {
            return Err(FanotifyError::HostMountNamespace { id });
        }
        let group = Arc::new(new_group()?);
        let proc_root = PathBuf::from(format!("/proc/{}/root", identity.init_pid));
        let marked = mark_mounts(&group, &proc_root, identity.init_pid, rules.fail_mode)?;
        let root = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_PATH | nix::libc::O_DIRECTORY)
            .open(&proc_root)
            .map_err(|source| FanotifyError::Proc {
                path: proc_root.clone(),
                source,
            })?;
        let denied_inodes = denied_inodes(&root, &rules);
        let container = Container {
            identity,
            rules,
            denied_inodes,
            host_mnt_ns,
            host_pid_ns: ns_inode(0, "pid")?,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let events = KernelEvents::new(group, root);
        let thread =
            spawn_loop(events, container, self.sink.clone(), stop.clone()).map_err(|source| {
                FanotifyError::Thread {
                    id: id.clone(),
                    source,
                }
            })?;
        tracing::info!(container = %id, mounts = marked.len(), "fanotify attached");
        containers.insert(
            id,
            Attached {
                stop,
                thread,
                marked: marked.clone(),
            },
        );
        Ok(marked)
    }

    /// Removes every mark of the container (its group is closed). Returns whether it was attached.
    pub fn detach(&self, id: &str) -> bool {
        let attached = self
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        let Some(a) = attached else { return false };
        a.stop.store(true, Ordering::SeqCst);
        if a.thread.join().is_err() {
            tracing::error!(container = %id, "fanotify event thread panicked");
        }
        tracing::info!(container = %id, mounts = a.marked.len(), "fanotify detached");
        true
    }

    /// Ids of attached containers.
    pub fn attached(&self) -> Vec<String> {
        self.containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

impl Drop for FanotifyMonitor {
    fn drop(&mut self) {
        for id in self.attached() {
            self.detach(&id);
        }
    }
}

fn new_group() -> Result<Fanotify, FanotifyError> {
    Fanotify::init(
        InitFlags::FAN_CLASS_CONTENT
            | InitFlags::FAN_CLOEXEC
            | InitFlags::FAN_NONBLOCK
            | InitFlags::FAN_UNLIMITED_QUEUE
            | InitFlags::FAN_UNLIMITED_MARKS,
        EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC,
    )
    .map_err(|source| FanotifyError::Init { source })
}

/// Filesystems the kernel refuses permission events on (FS_DISALLOW_NOTIFY_PERM: procfs).
/// Their files are not guarded by this backend: use masked paths and Landlock for them.
pub const NO_PERM_EVENTS: &[&str] = &["proc"];

fn mark_mounts(
    group: &Fanotify,
    proc_root: &Path,
    pid: i32,
    fail: FailMode,
) -> Result<Vec<PathBuf>, FanotifyError> {
    let flags = MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_MOUNT;
    group
        .mark(flags, perm_mask(), None, Some(proc_root))
        .map_err(|source| FanotifyError::Mark {
            path: proc_root.to_path_buf(),
            source,
        })?;
    let info = PathBuf::from(format!("/proc/{pid}/mountinfo"));
    let text = std::fs::read_to_string(&info)
        .map_err(|source| FanotifyError::Proc { path: info, source })?;
    let mut marked = vec![PathBuf::from("/")];
    for mounts::Mount { point: mp, fstype } in mounts::mounts(&text) {
        if mp == Path::new("/") || marked.contains(&mp) {
            continue;
        }
        if NO_PERM_EVENTS.contains(&fstype.as_str()) {
            tracing::debug!(mount = ?mp, %fstype, "filesystem refuses permission events");
            continue;
        }
        let host = proc_root.join(mp.strip_prefix("/").unwrap_or(&mp));
        match group.mark(
            flags | MarkFlags::FAN_MARK_DONT_FOLLOW,
            perm_mask(),
            None,
            Some(&host),
        ) {
            Ok(()) => marked.push(mp),
            Err(source) if fail == FailMode::Closed => {
                return Err(FanotifyError::Mark { path: host, source });
            }
            Err(e) => {
                tracing::warn!(mount = ?mp, error = %e, "container mount left unmarked (fail mode open)")
            }
        }
    }
    Ok(marked)
}

/// Device and inode of every regular file a literal deny path names, resolved in the
/// container's root (O_PATH: no fanotify event).
fn denied_inodes(root: &File, rules: &MonitorRules) -> HashMap<(u64, u64), String> {
    use std::os::fd::AsRawFd;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let mut out = HashMap::new();
    for p in rules.deny_paths.iter().filter(|p| !glob::is_glob(p)) {
        let Ok(fd) = openat2(root.as_raw_fd(), p.as_str(), how) else {
            continue;
        };
        if let Ok(st) = nix::sys::stat::fstat(fd)
            && st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFREG
        {
            out.insert((st.st_dev, st.st_ino), format!("deny_paths: {p}"));
        }
        let _ = nix::unistd::close(fd);
    }
    out
}

fn spawn_loop(
    mut events: KernelEvents,
    mut container: Container,
    sink: Arc<dyn Sink>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    let procs = Procfs;
    std::thread::Builder::new()
        .name(format!("fanotify-{}", container.identity.id))
        .stack_size(256 * 1024)
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match events.next(Duration::from_millis(100)) {
                    Ok(Some(ev)) => {
                        serve::serve(&mut events, &ev, &mut container, &procs, &sink);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(container = %container.identity.id, error = %e, "fanotify read failed");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        })
}
