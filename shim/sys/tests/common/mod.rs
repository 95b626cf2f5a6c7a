//! Run irreversible enforcement in a forked child and bring its result back over a pipe.
#![allow(dead_code)]
#![allow(unsafe_code)]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};

/// How the child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Child {
    /// It returned this report.
    Report(String),
    /// It was killed by this signal (e.g. SIGSYS from a seccomp kill action).
    Signal(i32),
    /// It panicked, with this message.
    Panicked(String),
    /// It exited with a non-zero code before reporting.
    Failed(i32),
}

/// Held while a test writes files and around every fork: a child forked while another test
/// thread has a file open for writing inherits that descriptor, and exec of the file then fails
/// with ETXTBSY.
pub fn fork_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Fork; in the child run `f` (which may install seccomp/Landlock) and send back its report.
pub fn in_child(f: impl FnOnce() -> String) -> Child {
    let (rd, wr) = pipe().expect("pipe");
    let guard = fork_lock();
    // SAFETY: the child only runs `f` (plain Rust with glibc, whose malloc is fork-safe), writes
    // to the pipe and calls _exit; it never returns into the test harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(rd);
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            // SAFETY: wr is an open descriptor we own; File takes it over.
            let mut file = unsafe { std::fs::File::from_raw_fd(wr.as_raw_fd()) };
            std::mem::forget(wr);
            let (report, code) = match out {
                Ok(report) => (report, 0),
                Err(payload) => {
                    let msg = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    (msg, 101)
                }
            };
            let code = if file.write_all(report.as_bytes()).is_ok() {
                code
            } else {
                3
            };
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(guard);
            drop(wr);
            let mut report = String::new();
            std::fs::File::from(rd)
                .read_to_string(&mut report)
                .expect("read child report");
            match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, 0) => Child::Report(report),
                WaitStatus::Exited(_, 101) => Child::Panicked(report),
                WaitStatus::Exited(_, code) => Child::Failed(code),
                WaitStatus::Signaled(_, sig, _) => Child::Signal(sig as i32),
                other => panic!("unexpected child status {other:?}"),
            }
        }
    }
}

/// Whether a test needing `feature` should run: prints why not and returns false when the
/// feature is missing, unless VIGIL_REQUIRE_PRIVILEGED=1, where a missing feature fails.
pub fn have(feature: &str, available: bool, detail: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var("VIGIL_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{feature} is required (VIGIL_REQUIRE_PRIVILEGED=1) but unavailable: {detail}");
    }
    eprintln!("skip: {feature} unavailable: {detail}");
    false
}

/// errno of an io::Result as a report string: "ok" or "errno=N".
pub fn errno<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("errno={}", e.raw_os_error().unwrap_or(-1)),
    }
}

pub fn eperm() -> String {
    format!("errno={}", libc::EPERM)
}

pub fn eacces() -> String {
    format!("errno={}", libc::EACCES)
}
