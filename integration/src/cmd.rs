//! Running commands with a deadline, output captured in files (never pipes: a detached container
//! or daemon inheriting a pipe would keep a reader waiting forever).

use std::io::{Read, Seek, SeekFrom, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("failed to start {cmd}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{cmd} did not finish within {secs} s (killed); stderr so far: {stderr}")]
    Timeout {
        cmd: String,
        secs: u64,
        stderr: String,
    },
    #[error("i/o on the captured output of {cmd}")]
    Io {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{cmd} exited with {code:?}: {stderr}")]
    Failed {
        cmd: String,
        code: Option<i32>,
        stderr: String,
    },
}

/// What a finished command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    pub cmd: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code, or `128 + signal` when killed by a signal (the shell's convention).
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        self.status
            .code()
            .unwrap_or_else(|| 128 + self.status.signal().unwrap_or(0))
    }

    /// `Ok(self)` on exit 0, else an error carrying stderr.
    pub fn ok(self) -> Result<Output, CmdError> {
        if self.status.success() {
            Ok(self)
        } else {
            Err(CmdError::Failed {
                cmd: self.cmd.clone(),
                code: self.status.code(),
                stderr: self.stderr.clone(),
            })
        }
    }
}

/// A printable form of a command line.
pub fn describe(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `c` with stdin from /dev/null, killing it after `timeout`.
pub fn run(c: &mut Command, timeout: Duration) -> Result<Output, CmdError> {
    c.stdin(Stdio::null());
    run_inner(c, timeout)
}

/// Runs `c` with `input` as its stdin.
pub fn run_with_stdin(
    c: &mut Command,
    input: &[u8],
    timeout: Duration,
) -> Result<Output, CmdError> {
    let name = describe(c);
    let io = |source| CmdError::Io {
        cmd: name.clone(),
        source,
    };
    let mut f = tempfile::tempfile().map_err(io)?;
    f.write_all(input).map_err(io)?;
    f.seek(SeekFrom::Start(0)).map_err(io)?;
    c.stdin(Stdio::from(f));
    run_inner(c, timeout)
}

fn run_inner(c: &mut Command, timeout: Duration) -> Result<Output, CmdError> {
    let name = describe(c);
    let io = |source| CmdError::Io {
        cmd: name.clone(),
        source,
    };
    let mut out = tempfile::tempfile().map_err(io)?;
    let mut err = tempfile::tempfile().map_err(io)?;
    c.stdout(Stdio::from(out.try_clone().map_err(io)?));
    c.stderr(Stdio::from(err.try_clone().map_err(io)?));
    tracing::debug!(cmd = %name, "running");
    let mut child = c.spawn().map_err(|source| CmdError::Spawn {
        cmd: name.clone(),
        source,
    })?;
    let status = match wait_deadline(&mut child, timeout).map_err(io)? {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CmdError::Timeout {
                cmd: name.clone(),
                secs: timeout.as_secs(),
                stderr: read_all(&mut err),
            });
        }
    };
    let stdout = read_all(&mut out);
    let stderr = read_all(&mut err);
    Ok(Output {
        cmd: name,
        status,
        stdout,
        stderr,
    })
}

fn read_all(f: &mut std::fs::File) -> String {
    let mut s = Vec::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.read_to_end(&mut s);
    String::from_utf8_lossy(&s).into_owned()
}

/// Waits for `child` until `timeout`; `None` if it is still running then.
pub fn wait_deadline(child: &mut Child, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok(Some(s));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_codes_and_kills_on_timeout() {
        let out = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .expect("sh runs");
        assert_eq!(
            (out.code(), out.stdout.as_str(), out.stderr.as_str()),
            (3, "out\n", "err\n")
        );
        assert!(out.ok().is_err());
        let out = run_with_stdin(&mut Command::new("cat"), b"piped", Duration::from_secs(10))
            .expect("cat runs");
        assert_eq!(out.stdout, "piped");
        let t = Instant::now();
        let e = run(Command::new("sleep").arg("30"), Duration::from_millis(200))
            .expect_err("must time out");
        assert!(matches!(e, CmdError::Timeout { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
