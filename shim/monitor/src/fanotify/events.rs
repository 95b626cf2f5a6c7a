//! The narrow trait around a fanotify group's permission events, and its kernel implementation.
//!
//! The kernel implementation resolves each event before handing it out: the path comes from
//! `readlink /proc/self/fd/N`; for a file on a mount of a pivot_root'ed container that path is
//! already relative to the container's root (the kernel's d_path stops at the root of the
//! container's mount tree), and it is checked by re-opening it (O_PATH, `RESOLVE_IN_ROOT`)
//! under `/proc/<init pid>/root` and comparing device and inode. A path that fails the check
//! is reported as unresolved and decided by the fail mode. O_PATH opens raise no fanotify
//! event, so resolving never waits on the monitor itself.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2, readlink};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::fanotify::{
    Fanotify, FanotifyEvent, FanotifyResponse, MarkFlags, MaskFlags, Response,
};
use nix::sys::stat::fstat;

use super::FanotifyError;

/// Device, inode and link count of the file an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
}

/// One resolved permission event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermEvent {
    /// Identifies the event for `respond`/`ignore`.
    pub token: u64,
    /// Host pid (thread group id) of the process that opens the file.
    pub pid: i32,
    /// FAN_OPEN_EXEC_PERM (an execve) rather than FAN_OPEN_PERM.
    pub exec: bool,
    /// Path inside the container, `None` when it could not be resolved.
    pub path: Option<String>,
    pub file: Option<FileId>,
}

/// A source of permission events (the kernel, or a script in tests).
pub trait PermissionEvents {
    /// The next event, or `None` when `timeout` passed without one.
    fn next(&mut self, timeout: Duration) -> Result<Option<PermEvent>, FanotifyError>;
    /// Stop asking about this event's inode (for its kind of access) in this group.
    fn ignore(&mut self, ev: &PermEvent) -> Result<(), FanotifyError>;
    /// Answers the event; the process waits until this is called.
    fn respond(&mut self, ev: &PermEvent, allow: bool) -> Result<(), FanotifyError>;
}

/// Permission events of one fanotify group marking one container.
pub struct KernelEvents {
    group: Arc<Fanotify>,
    root: File,
    pending: VecDeque<FanotifyEvent>,
    inflight: HashMap<u64, FanotifyEvent>,
    next_token: u64,
    evictable: bool,
}

impl KernelEvents {
    /// `root` is an O_PATH descriptor of the container's root (`/proc/<init pid>/root`).
    pub fn new(group: Arc<Fanotify>, root: File) -> KernelEvents {
        KernelEvents {
            group,
            root,
            pending: VecDeque::new(),
            inflight: HashMap::new(),
            next_token: 0,
            evictable: true,
        }
    }

    fn resolve(&self, fd: BorrowedFd<'_>) -> (Option<String>, Option<FileId>) {
        let file = fstat(fd.as_raw_fd()).ok().map(|st| FileId {
            dev: st.st_dev,
            ino: st.st_ino,
            nlink: st.st_nlink,
        });
        let Ok(link) = readlink(Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd()))) else {
            return (None, file);
        };
        let Some(link) = link.to_str().map(str::to_string) else {
            return (None, file);
        };
        let Some(id) = file else { return (None, None) };
        if id.nlink == 0 {
            // Unlinked: the name is gone; keep it for the report, the inode still decides.
            return (Some(link.trim_end_matches(" (deleted)").to_string()), file);
        }
        match same_file_in_root(&self.root, &link, id) {
            true => (Some(link), file),
            false => {
                tracing::debug!(path = %link, "fanotify event path does not resolve in the container root");
                (None, file)
            }
        }
    }
}

fn same_file_in_root(root: &File, path: &str, id: FileId) -> bool {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let Ok(fd) = openat2(root.as_raw_fd(), path, how) else {
        return false;
    };
    let same = fstat(fd).is_ok_and(|st| st.st_dev == id.dev && st.st_ino == id.ino);
    let _ = nix::unistd::close(fd);
    same
}

impl PermissionEvents for KernelEvents {
    fn next(&mut self, timeout: Duration) -> Result<Option<PermEvent>, FanotifyError> {
        if self.pending.is_empty() {
            let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.group.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(None),
                Ok(_) => {}
                Err(source) => return Err(FanotifyError::Read { source }),
            }
            match self.group.read_events() {
                Ok(events) => self.pending.extend(events),
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return Ok(None),
                Err(source) => return Err(FanotifyError::Read { source }),
            }
        }
        while let Some(event) = self.pending.pop_front() {
            let Some(fd) = event.fd() else {
                tracing::warn!("fanotify queue overflow");
                continue;
            };
            let mask = event.mask();
            let exec = mask.contains(MaskFlags::FAN_OPEN_EXEC_PERM);
            let (path, file) = self.resolve(fd);
            self.next_token += 1;
            let ev = PermEvent {
                token: self.next_token,
                pid: event.pid(),
                exec,
                path,
                file,
            };
            self.inflight.insert(ev.token, event);
            return Ok(Some(ev));
        }
        Ok(None)
    }

    fn ignore(&mut self, ev: &PermEvent) -> Result<(), FanotifyError> {
        let Some(event) = self.inflight.get(&ev.token) else {
            return Ok(());
        };
        let Some(fd) = event.fd() else { return Ok(()) };
        let mask = if ev.exec {
            MaskFlags::FAN_OPEN_EXEC_PERM
        } else {
            MaskFlags::FAN_OPEN_PERM
        };
        // Evictable (Linux 5.19+): the cache does not pin inodes in memory.
        let flags = MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_IGNORED_MASK;
        let mut result = Err(nix::errno::Errno::EINVAL);
        if self.evictable {
            result = self.group.mark::<Path>(
                flags | MarkFlags::FAN_MARK_EVICTABLE,
                mask,
                Some(fd.as_raw_fd()),
                None,
            );
            if result == Err(nix::errno::Errno::EINVAL) {
                self.evictable = false;
            }
        }
        if !self.evictable {
            result = self
                .group
                .mark::<Path>(flags, mask, Some(fd.as_raw_fd()), None);
        }
        result.map_err(|source| FanotifyError::Mark {
            path: ev.path.clone().unwrap_or_default().into(),
            source,
        })
    }

    fn respond(&mut self, ev: &PermEvent, allow: bool) -> Result<(), FanotifyError> {
        let Some(event) = self.inflight.remove(&ev.token) else {
            return Ok(());
        };
        let Some(fd) = event.fd() else { return Ok(()) };
        let response = if allow {
            Response::FAN_ALLOW
        } else {
            Response::FAN_DENY
        };
        self.group
            .write_response(FanotifyResponse::new(fd, response))
            .map_err(|source| FanotifyError::Respond { source })
    }
}
