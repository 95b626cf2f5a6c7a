//! Monitor rules and the pure decision function every backend shares.
//!
//! A violation (a denied path, an exec outside the allow-list, a denied address) becomes
//! `Deny` in `Enforce` mode and `Audit` (allowed, reported) in `Audit` mode. `Learn` mode
//! reports every access as `Audit` so a profile can be generated from the record. An open of
//! a path in a data class is allowed and reported (`Audit`, rule `data_class NAME: PATTERN`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::glob;
pub use crate::netrule::{NetRule, NetRuleError, Proto};

/// What happens on a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
    Learn,
}

/// What happens when the monitor cannot decide (attach failed, an event's path or process
/// cannot be resolved): `Closed` refuses, `Open` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    #[default]
    Closed,
    Open,
}

/// The monitor's input for one container, taken from its compiled policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorRules {
    /// Absolute paths inside the container (globs allowed) that may not be opened or executed.
    pub deny_paths: Vec<String>,
    /// When set, only these paths (globs allowed) may be executed. List resolved binaries
    /// (the target of a symlink such as `/bin/sh -> busybox`) and ELF interpreters.
    pub exec_allow: Option<Vec<String>>,
    /// Regulated data: class name -> path patterns; opens are allowed and reported.
    pub data_classes: BTreeMap<String, Vec<String>>,
    /// Destinations that may not be reached by connect(2) or sendmsg(2) (UDP).
    pub connect_deny: Vec<NetRule>,
    /// When set, only these destinations may be reached.
    pub connect_allow: Option<Vec<NetRule>>,
    /// Local addresses that may not be bound.
    pub bind_deny: Vec<NetRule>,
    /// When set, only these local addresses may be bound.
    pub bind_allow: Option<Vec<NetRule>>,
    pub mode: Mode,
    pub fail_mode: FailMode,
}

/// One access a backend asks about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Access {
    /// open(2) of a file (any access mode).
    Open { path: String },
    /// execve(2) of a file (also the ELF interpreter and `execveat`).
    Exec { path: String },
    /// connect(2) to a remote address.
    Connect { addr: SocketAddr, proto: Proto },
    /// sendmsg(2)/sendto(2) with a destination address (unconnected UDP).
    Send { addr: SocketAddr, proto: Proto },
    /// bind(2) to a local address.
    Bind { addr: SocketAddr, proto: Proto },
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Open { path } => write!(f, "open {path}"),
            Access::Exec { path } => write!(f, "exec {path}"),
            Access::Connect { addr, proto } => write!(f, "connect {addr}/{}", proto_name(*proto)),
            Access::Send { addr, proto } => write!(f, "send {addr}/{}", proto_name(*proto)),
            Access::Bind { addr, proto } => write!(f, "bind {addr}/{}", proto_name(*proto)),
        }
    }
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

/// The outcome of one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Allowed and not reported.
    Allow,
    /// Refused (EPERM).
    Deny,
    /// Allowed and reported.
    Audit,
}

/// A verdict and the rule that produced it (`None`: no rule matched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub rule: Option<String>,
}

impl MonitorRules {
    /// The verdict when the monitor cannot decide, from the fail mode.
    pub fn undecidable(&self) -> Verdict {
        match (self.fail_mode, self.mode) {
            (FailMode::Open, _) => Verdict::Audit,
            (FailMode::Closed, Mode::Enforce) => Verdict::Deny,
            (FailMode::Closed, _) => Verdict::Audit,
        }
    }

    /// Whether the rules need the file (fanotify) backend.
    pub fn has_file_rules(&self) -> bool {
        !self.deny_paths.is_empty() || self.exec_allow.is_some() || !self.data_classes.is_empty()
    }

    /// Whether the rules need the network (eBPF) backend.
    pub fn has_net_rules(&self) -> bool {
        !self.connect_deny.is_empty()
            || self.connect_allow.is_some()
            || !self.bind_deny.is_empty()
            || self.bind_allow.is_some()
    }
}

/// Decides one access. Pure: no I/O, no state.
pub fn decide(rules: &MonitorRules, access: &Access) -> Decision {
    let violation = match access {
        Access::Open { path } => deny_path(rules, path),
        Access::Exec { path } => deny_path(rules, path).or_else(|| match &rules.exec_allow {
            Some(allow) if !allow.iter().any(|p| glob::matches(p, path)) => {
                Some("exec_allow: not listed".to_string())
            }
            _ => None,
        }),
        Access::Connect { addr, proto } | Access::Send { addr, proto } => net_violation(
            "connect",
            &rules.connect_deny,
            rules.connect_allow.as_deref(),
            addr,
            *proto,
        ),
        Access::Bind { addr, proto } => net_violation(
            "bind",
            &rules.bind_deny,
            rules.bind_allow.as_deref(),
            addr,
            *proto,
        ),
    };
    if let Some(rule) = violation {
        let verdict = if rules.mode == Mode::Enforce {
            Verdict::Deny
        } else {
            Verdict::Audit
        };
        return Decision {
            verdict,
            rule: Some(rule),
        };
    }
    let class = match access {
        Access::Open { path } => data_class(rules, path),
        _ => None,
    };
    match (class, rules.mode) {
        (Some(rule), _) => Decision {
            verdict: Verdict::Audit,
            rule: Some(rule),
        },
        (None, Mode::Learn) => Decision {
            verdict: Verdict::Audit,
            rule: None,
        },
        (None, _) => Decision {
            verdict: Verdict::Allow,
            rule: None,
        },
    }
}

fn deny_path(rules: &MonitorRules, path: &str) -> Option<String> {
    rules
        .deny_paths
        .iter()
        .find(|p| glob::matches(p, path))
        .map(|p| format!("deny_paths: {p}"))
}

fn data_class(rules: &MonitorRules, path: &str) -> Option<String> {
    rules.data_classes.iter().find_map(|(name, pats)| {
        pats.iter()
            .find(|p| glob::matches(p, path))
            .map(|p| format!("data_class {name}: {p}"))
    })
}

fn net_violation(
    what: &str,
    deny: &[NetRule],
    allow: Option<&[NetRule]>,
    addr: &SocketAddr,
    proto: Proto,
) -> Option<String> {
    if let Some(r) = deny.iter().find(|r| r.matches(addr, proto)) {
        return Some(format!("{what}_deny: {r}"));
    }
    match allow {
        Some(allow) if !allow.iter().any(|r| r.matches(addr, proto)) => {
            Some(format!("{what}_allow: not listed"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
