//! Monitor rules: what needs a user-space decision (fanotify) or eBPF, and what is only
//! observed (audit and learn modes).

use super::eff;
use crate::model::{FailMode, Mode, NetRule, Policy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MonitorRules {
    /// What happens to permission events when the monitor is gone; `None` = the host
    /// configuration's `monitor.failMode`.
    pub fail_mode: Option<FailMode>,
    /// Mode of the filesystem rules (enforce = deny inline, audit/learn = journal only).
    pub filesystem_mode: Mode,
    /// Plain paths denied whatever name reaches them (the monitor resolves inodes, which also
    /// catches hard links made before the container started).
    pub deny_paths: Vec<String>,
    /// Glob patterns denied (Landlock cannot express these).
    pub deny_globs: Vec<String>,
    pub exec_mode: Mode,
    /// Present = only these files, or files under these directories, may be executed.
    pub exec_allow: Option<Vec<String>>,
    /// Data class -> paths and globs, for audit reports.
    pub data_classes: BTreeMap<String, Vec<String>>,
    pub network_mode: Mode,
    /// Present = connect (and UDP send) only to these; enforced by cgroup sock_addr eBPF.
    pub connect: Option<Vec<NetRule>>,
    /// Present = bind only these.
    pub bind: Option<Vec<NetRule>>,
    /// Record syscalls, execs, opens and connections for profile generation.
    pub record: bool,
    pub uses_fanotify: bool,
    pub uses_ebpf: bool,
}

pub(crate) fn compile(p: &Policy) -> MonitorRules {
    let s = &p.spec;
    let (fs_mode, exec_mode, net_mode) = (
        eff(s.filesystem.mode, p.mode()),
        eff(s.exec.mode, p.mode()),
        eff(s.network.mode, p.mode()),
    );
    let is_glob = |x: &str| x.contains(['*', '?', '[']);
    let deny_paths: Vec<String> = s
        .filesystem
        .deny
        .iter()
        .map(|i| i.value.clone())
        .filter(|x| !is_glob(x))
        .collect();
    let deny_globs: Vec<String> = s
        .filesystem
        .deny
        .iter()
        .map(|i| i.value.clone())
        .filter(|x| is_glob(x))
        .collect();
    let exec_allow: Option<Vec<String>> = s.exec.allow.as_ref().map(|l| {
        l.iter()
            .map(|i| i.value.clone())
            .chain(
                super::landlock::ELF_INTERPRETERS
                    .iter()
                    .map(|x| x.to_string()),
            )
            .collect()
    });
    let data_classes: BTreeMap<String, Vec<String>> = s
        .filesystem
        .data_classes
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().map(|i| i.value.clone()).collect()))
        .collect();
    let connect: Option<Vec<NetRule>> = s
        .network
        .connect
        .as_ref()
        .map(|l| l.iter().map(|i| i.value).collect());
    let bind: Option<Vec<NetRule>> = s
        .network
        .bind
        .as_ref()
        .map(|l| l.iter().map(|i| i.value).collect());
    let learning = [
        p.mode(),
        fs_mode,
        exec_mode,
        net_mode,
        eff(s.syscalls.mode, p.mode()),
    ]
    .contains(&Mode::Learn);
    let uses_fanotify = !deny_paths.is_empty()
        || !deny_globs.is_empty()
        || exec_allow.is_some()
        || !data_classes.is_empty()
        || learning;
    // Landlock covers TCP by port only; UDP, addresses and observation need eBPF, and an
    // allow-list denies UDP too, so any network rule uses it.
    let uses_ebpf = connect.is_some() || bind.is_some() || learning;
    MonitorRules {
        fail_mode: s.monitor.fail_mode,
        filesystem_mode: fs_mode,
        deny_paths,
        deny_globs,
        exec_mode,
        exec_allow,
        data_classes,
        network_mode: net_mode,
        connect,
        bind,
        record: learning,
        uses_fanotify,
        uses_ebpf,
    }
}
