//! Talking to the daemon: one request per connection, one JSON line each way.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::proto::{AttachRequest, Reply, Request};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the vigil monitor at {socket:?}")]
    Connect {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("i/o with the vigil monitor at {socket:?} failed")]
    Io {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the vigil monitor at {socket:?} sent an invalid reply: {reply:?}")]
    Protocol { socket: PathBuf, reply: String },
    /// The daemon answered and refused.
    #[error("the vigil monitor refused: {0}")]
    Refused(String),
    #[error("failed to start the vigil monitor ({exe:?} monitor)")]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the vigil monitor started by {exe:?} does not answer on {socket:?} after {waited:?} (log: {log:?})"
    )]
    NotAnswering {
        exe: PathBuf,
        socket: PathBuf,
        waited: Duration,
        log: PathBuf,
    },
}

impl ClientError {
    /// Whether the daemon said the container is not attached (harmless on detach).
    pub fn is_not_attached(&self) -> bool {
        matches!(self, ClientError::Refused(m) if m.contains("not attached"))
    }
}

fn call(socket: &Path, req: &Request, timeout: Duration) -> Result<(), ClientError> {
    let io = |source| ClientError::Io {
        socket: socket.to_path_buf(),
        source,
    };
    let stream = UnixStream::connect(socket).map_err(|source| ClientError::Connect {
        socket: socket.to_path_buf(),
        source,
    })?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_string(req).map_err(|e| io(e.into()))?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(io)?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).map_err(io)?;
    let parsed: Reply = serde_json::from_str(reply.trim()).map_err(|_| ClientError::Protocol {
        socket: socket.to_path_buf(),
        reply: reply.clone(),
    })?;
    if parsed.ok {
        Ok(())
    } else {
        Err(ClientError::Refused(parsed.error.unwrap_or_default()))
    }
}

/// Attaches a container; returns once the monitor enforces its rules.
pub fn attach(socket: &Path, req: &AttachRequest, timeout: Duration) -> Result<(), ClientError> {
    call(socket, &Request::Attach(Box::new(req.clone())), timeout)
}

/// Detaches a container (`Refused` with [`ClientError::is_not_attached`] when it was not).
pub fn detach(socket: &Path, id: &str, timeout: Duration) -> Result<(), ClientError> {
    call(socket, &Request::Detach { id: id.to_string() }, timeout)
}

/// Whether the daemon answers.
pub fn ping(socket: &Path, timeout: Duration) -> Result<(), ClientError> {
    call(socket, &Request::Ping, timeout)
}

/// Starts the daemon when the socket does not answer: `<vigil_exe> [--config FILE] monitor
/// --foreground` in a new session (the daemon calls setsid), stdin from /dev/null, output to
/// `monitor.log` next to the socket; then waits up to 2 s for it to answer.
pub fn ensure_running(
    config: &vigil_policy::HostConfig,
    vigil_exe: &Path,
) -> Result<(), ClientError> {
    let socket = &config.monitor.socket;
    if ping(socket, Duration::from_millis(500)).is_ok() {
        return Ok(());
    }
    let spawn = |source| ClientError::Spawn {
        exe: vigil_exe.to_path_buf(),
        source,
    };
    let dir = socket.parent().unwrap_or(Path::new("/"));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(spawn)?;
    let log_path = dir.join("monitor.log");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(spawn)?;
    let mut cmd = Command::new(vigil_exe);
    if let Some(src) = &config.source {
        cmd.arg("--config").arg(src);
    }
    cmd.args(["monitor", "--foreground"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(spawn)?)
        .stderr(log);
    let child = cmd.spawn().map_err(spawn)?;
    tracing::info!(pid = child.id(), socket = %socket.display(), "started the vigil monitor");
    let start = Instant::now();
    let limit = Duration::from_secs(2);
    while start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(20));
        if ping(socket, Duration::from_millis(500)).is_ok() {
            return Ok(());
        }
    }
    Err(ClientError::NotAnswering {
        exe: vigil_exe.to_path_buf(),
        socket: socket.clone(),
        waited: start.elapsed(),
        log: log_path,
    })
}
