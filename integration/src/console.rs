//! The receiving side of runc's `--console-socket`: a unix socket on which the runtime sends
//! the pty master of a container with `process.terminal = true` (SCM_RIGHTS).

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("failed to bind console socket {path:?}")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no connection on console socket {path:?} within {secs} s")]
    Timeout { path: PathBuf, secs: u64 },
    #[error("accept() on console socket {path:?} failed")]
    Accept {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recvmsg() on console socket {path:?} failed")]
    Recv {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("the runtime sent no file descriptor on {path:?} (message {name:?})")]
    NoFd { path: PathBuf, name: String },
}

/// A bound console socket. Call [`ConsoleSocket::receive`] after starting `create`.
#[derive(Debug)]
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

/// A received pty master; closed on drop.
#[derive(Debug)]
pub struct PtyMaster {
    fd: RawFd,
    /// The name the runtime sent with the fd (runc sends the pty's path, e.g. `/dev/pts/3`).
    pub name: String,
}

impl ConsoleSocket {
    pub fn bind(path: &Path) -> Result<Self, ConsoleError> {
        let listener = UnixListener::bind(path).map_err(|source| ConsoleError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            listener,
        })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection (waiting up to `timeout`) and receives the pty master from it.
    pub fn receive(self, timeout: Duration) -> Result<PtyMaster, ConsoleError> {
        let path = self.path.clone();
        let (tx, rx) = mpsc::channel();
        let listener = self.listener;
        std::thread::spawn(move || {
            let _ = tx.send(listener.accept());
        });
        let (stream, _) = rx
            .recv_timeout(timeout)
            .map_err(|_| ConsoleError::Timeout {
                path: path.clone(),
                secs: timeout.as_secs(),
            })?
            .map_err(|source| ConsoleError::Accept {
                path: path.clone(),
                source,
            })?;
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(|source| ConsoleError::Recv {
            path: path.clone(),
            source,
        })?;
        let mut fds = Vec::new();
        for c in msg.cmsgs().map_err(|source| ConsoleError::Recv {
            path: path.clone(),
            source,
        })? {
            if let ControlMessageOwned::ScmRights(v) = c {
                fds.extend(v);
            }
        }
        let len = msg.bytes;
        let name = String::from_utf8_lossy(&buf[..len]).into_owned();
        let mut fds = fds.into_iter();
        let fd = fds.next().ok_or(ConsoleError::NoFd {
            path,
            name: name.clone(),
        })?;
        for extra in fds {
            let _ = nix::unistd::close(extra);
        }
        Ok(PtyMaster { fd, name })
    }
}

impl PtyMaster {
    /// Reads everything until the slave side closes (EIO once the container's processes exit),
    /// giving up after `timeout` with what was read so far.
    pub fn read_until_closed(self, timeout: Duration) -> String {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = nix::unistd::read(self.fd, &mut buf) {
                if n == 0 {
                    break;
                }
                let _ = tx.send(buf[..n].to_vec());
            }
            drop(self);
        });
        let deadline = std::time::Instant::now() + timeout;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(chunk) => out.extend(chunk),
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for PtyMaster {
    fn drop(&mut self) {
        let _ = nix::unistd::close(self.fd);
    }
}
