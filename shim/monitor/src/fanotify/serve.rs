//! Deciding one permission event: container membership, rules, denied inodes, cache, report.
//!
//! Hard links: a path rule alone would let `ln /etc/secret /tmp/x` through, so every regular
//! file a literal deny path names at attach is also denied by device and inode, and every inode
//! later denied by path joins that set. Caching: an allowed inode gets an ignore mark only when
//! its link count is 1 and it is not a denied inode, because an ignore mark is per inode and
//! would also allow every other name of that inode. A hard link made *after* caching points to
//! an inode that was allowed anyway. Limitation: a file matching a deny glob that is created
//! after attach and hard-linked before it is ever opened by its denied name is not known.

use std::collections::HashMap;
use std::sync::Arc;

use super::events::{FileId, PermEvent, PermissionEvents};
use crate::rules::{Access, Decision, Mode, MonitorRules, Verdict, decide};
use crate::{ContainerIdentity, DecisionEvent, Layer, Sink};

/// What the monitor needs to know about a process.
pub trait Processes {
    /// (mount namespace inode, pid namespace inode) of `pid`.
    fn namespaces(&self, pid: i32) -> Option<(u64, u64)>;
    /// The executable of `pid`.
    fn exe(&self, pid: i32) -> Option<String>;
}

/// Processes as /proc shows them.
pub struct Procfs;

impl Processes for Procfs {
    fn namespaces(&self, pid: i32) -> Option<(u64, u64)> {
        let mnt = crate::identity::ns_inode(pid, "mnt").ok()?;
        let pidns = crate::identity::ns_inode(pid, "pid").ok()?;
        Some((mnt, pidns))
    }

    fn exe(&self, pid: i32) -> Option<String> {
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }
}

/// One attached container's decision state.
pub struct Container {
    pub identity: ContainerIdentity,
    pub rules: MonitorRules,
    /// (dev, ino) -> the deny rule that names it.
    pub denied_inodes: HashMap<(u64, u64), String>,
    pub host_mnt_ns: u64,
    pub host_pid_ns: u64,
}

impl Container {
    fn owns(&self, ns: Option<(u64, u64)>) -> Option<bool> {
        let (mnt, pid) = ns?;
        let id = &self.identity;
        Some(
            (mnt == id.mnt_ns && mnt != self.host_mnt_ns)
                || (pid == id.pid_ns && pid != self.host_pid_ns),
        )
    }
}

/// Decides and answers one event. Returns the decision (for tests) when the process was the
/// container's.
pub fn serve(
    events: &mut impl PermissionEvents,
    ev: &PermEvent,
    c: &mut Container,
    procs: &impl Processes,
    sink: &Arc<dyn Sink>,
) -> Option<Decision> {
    let owned = c.owns(procs.namespaces(ev.pid));
    if owned == Some(false) {
        // A host process (the runtime, an `exec` not yet joined) touching the container's files.
        answer(events, ev, true);
        return None;
    }
    let kind = |path: String| {
        if ev.exec {
            Access::Exec { path }
        } else {
            Access::Open { path }
        }
    };
    let (access, decision) = match (&ev.path, owned) {
        (Some(path), Some(true)) => {
            let access = kind(path.clone());
            let decision = decide_with_inodes(c, &access, ev.file);
            (access, decision)
        }
        (path, _) => {
            let access = kind(path.clone().unwrap_or_else(|| "<unresolved>".to_string()));
            let verdict = c.rules.undecidable();
            (
                access,
                Decision {
                    verdict,
                    rule: Some("fail_mode: unresolved event".to_string()),
                },
            )
        }
    };
    let learn_only = c.rules.mode == Mode::Learn && decision.rule.is_none();
    let cacheable = (decision.verdict == Verdict::Allow || learn_only)
        && ev
            .file
            .is_some_and(|f| f.nlink == 1 && !c.denied_inodes.contains_key(&(f.dev, f.ino)));
    if cacheable && let Err(e) = events.ignore(ev) {
        tracing::debug!(container = %c.identity.id, error = %e, "ignore mark not added");
    }
    // The process waits for our answer: read its executable first, or it may be gone.
    let exe = (decision.verdict != Verdict::Allow)
        .then(|| procs.exe(ev.pid))
        .flatten();
    answer(events, ev, decision.verdict != Verdict::Deny);
    if decision.verdict != Verdict::Allow {
        if decision.verdict == Verdict::Deny {
            tracing::info!(container = %c.identity.id, pid = ev.pid, %access, "denied");
        }
        sink.report(DecisionEvent {
            container: c.identity.id.clone(),
            pid: ev.pid,
            exe,
            access,
            verdict: decision.verdict,
            rule: decision.rule.clone(),
            layer: Layer::Fanotify,
        });
    }
    Some(decision)
}

fn decide_with_inodes(c: &mut Container, access: &Access, file: Option<FileId>) -> Decision {
    let decision = decide(&c.rules, access);
    let key = file.map(|f| (f.dev, f.ino));
    let path_denied = decision
        .rule
        .as_deref()
        .is_some_and(|r| r.starts_with("deny_paths: "));
    if let Some(key) = key {
        if path_denied {
            c.denied_inodes
                .entry(key)
                .or_insert_with(|| decision.rule.clone().unwrap_or_default());
            return decision;
        }
        if let Some(rule) = c.denied_inodes.get(&key) {
            let verdict = if c.rules.mode == Mode::Enforce {
                Verdict::Deny
            } else {
                Verdict::Audit
            };
            return Decision {
                verdict,
                rule: Some(format!("{rule} (same inode)")),
            };
        }
    }
    decision
}

fn answer(events: &mut impl PermissionEvents, ev: &PermEvent, allow: bool) {
    if let Err(e) = events.respond(ev, allow) {
        tracing::warn!(pid = ev.pid, error = %e, "fanotify response failed");
    }
}

#[cfg(test)]
mod tests;
