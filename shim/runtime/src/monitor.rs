//! The monitor attach step of `create` and the detach of `delete`.
//!
//! When the compiled policy uses fanotify or eBPF, `create` starts the per-host monitor daemon
//! if it does not answer (`monitor.autoStart`), sends it the container's init pid, cgroup and
//! monitor rules, and waits for "attached" before it returns. Fail mode closed (the default,
//! and always when the policy `require`s a monitor layer): a failed attach fails `create`,
//! whose caller deletes the half-created container. Open: a warning and an `attach` record
//! with `state: unmonitored` in the journal; the container runs unmonitored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_monitord::{AttachRequest, client};
use vigil_policy::{CompiledPolicy, FailMode, HostConfig, Layer};

use crate::RuntimeError;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the policy needs the monitor.
pub(crate) fn needed(compiled: &CompiledPolicy) -> bool {
    compiled.monitor.uses_fanotify || compiled.monitor.uses_ebpf
}

/// Attaches the container whose init is `init_pid` (waiting for `start`).
pub(crate) fn attach(
    config: &HostConfig,
    id: &str,
    init_pid: i32,
    cgroup_dir: Option<PathBuf>,
    compiled: &CompiledPolicy,
) -> Result<(), RuntimeError> {
    if !needed(compiled) {
        return Ok(());
    }
    let required = compiled
        .require
        .iter()
        .any(|l| matches!(l, Layer::Fanotify | Layer::Ebpf));
    let fail_mode = compiled
        .monitor
        .fail_mode
        .unwrap_or(config.monitor.fail_mode);
    let closed = required || fail_mode == FailMode::Closed;
    let result = (|| -> Result<(), String> {
        let mut rules =
            vigil_monitord::rules_from_policy(&compiled.monitor, config.monitor.fail_mode)
                .map_err(|e| e.to_string())?;
        if required {
            rules.fail_mode = vigil_monitor::FailMode::Closed;
        }
        if config.monitor.auto_start {
            client::ensure_running(config, &vigil_exe()).map_err(|e| chain(&e))?;
        }
        let req = AttachRequest {
            id: id.to_owned(),
            init_pid,
            cgroup_dir,
            policy: compiled.name.clone(),
            policy_digest: compiled.digest.clone(),
            rules,
        };
        client::attach(&config.monitor.socket, &req, TIMEOUT).map_err(|e| chain(&e))
    })();
    match result {
        Ok(()) => Ok(()),
        Err(message) if closed => Err(RuntimeError::Policy {
            id: id.to_owned(),
            message: format!(
                "policy {:?} has monitor rules and fails closed, but the vigil monitor did not attach: {message}",
                compiled.name
            ),
        }),
        Err(message) => {
            tracing::warn!(container = %id, policy = %compiled.name, error = %message,
                "monitor rules are not enforced: the monitor did not attach (failMode: open)");
            let entry = vigil_journal::Entry::new(vigil_journal::Kind::Attach)
                .container(id)
                .with("pid", init_pid)
                .with("state", "unmonitored")
                .with("error", &message)
                .with("policy", &compiled.name)
                .with("policy_digest", &compiled.digest);
            let journaled = vigil_journal::Journal::open(&config.journal_dir, Default::default())
                .and_then(|j| j.append(entry).and_then(|_| j.flush()));
            if let Err(e) = journaled {
                tracing::warn!(container = %id, error = %e, "unmonitored container not journaled");
            }
            Ok(())
        }
    }
}

/// Detaches the container; "not attached" and an absent daemon are not errors.
pub(crate) fn detach(config: &HostConfig, id: &str) {
    if !config.monitor.socket.exists() {
        return;
    }
    match client::detach(&config.monitor.socket, id, TIMEOUT) {
        Ok(()) => {}
        Err(e) if e.is_not_attached() => {}
        Err(client::ClientError::Connect { .. }) => {}
        Err(e) => tracing::warn!(container = %id, error = %chain(&e), "monitor detach failed"),
    }
}

/// This binary, to start `vigil monitor`: not the sealed memfd copy of `selfexe`.
fn vigil_exe() -> PathBuf {
    match std::env::current_exe() {
        Ok(p) if p.is_file() && !p.to_string_lossy().starts_with("/memfd:") => p,
        _ => std::env::args_os()
            .next()
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new("vigil").to_path_buf()),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
