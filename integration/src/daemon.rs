//! A daemon process we started: spawned with its output in a log file, waited for until ready,
//! stopped by pid (SIGTERM, wait, SIGKILL) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cleanup;
use crate::cmd::describe;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("failed to start {cmd}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to create log {path:?}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} exited with {status} before it was ready; log {log:?} ends with:\n{tail}")]
    Exited {
        name: String,
        status: std::process::ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error("{name} was not ready ({what}) within {secs} s; log {log:?} ends with:\n{tail}")]
    NotReady {
        name: String,
        what: String,
        secs: u64,
        log: PathBuf,
        tail: String,
    },
}

#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Spawns `cmd` with stdin from /dev/null and stdout+stderr appended to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Result<Self, DaemonError> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|source| DaemonError::Log {
                path: log.to_path_buf(),
                source,
            })?;
        let f2 = f.try_clone().map_err(|source| DaemonError::Log {
            path: log.to_path_buf(),
            source,
        })?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(f))
            .stderr(Stdio::from(f2));
        let child = cmd.spawn().map_err(|source| DaemonError::Spawn {
            cmd: describe(cmd),
            source,
        })?;
        tracing::info!(name, pid = child.id(), "daemon started");
        Ok(Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pids fit in i32")
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Polls `ready` every 50 ms until it is true, the daemon exits, or `timeout` passes.
    pub fn wait_ready(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), DaemonError> {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(DaemonError::Exited {
                    name: self.name.clone(),
                    status,
                    log: self.log.clone(),
                    tail: self.log_tail(20),
                });
            }
            if Instant::now() >= deadline {
                return Err(DaemonError::NotReady {
                    name: self.name.clone(),
                    what: what.to_string(),
                    secs: timeout.as_secs(),
                    log: self.log.clone(),
                    tail: self.log_tail(20),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, up to `grace`, SIGKILL; reaps the child.
    pub fn stop(&mut self, grace: Duration) {
        if let Ok(None) = self.child.try_wait() {
            cleanup::stop_pid(self.pid(), grace);
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(15));
    }
}
