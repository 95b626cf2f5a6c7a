//! Seccomp: syscall rules for the filter the runtime installs in the container's init.

use super::eff;
use crate::model::{ArgCondition, DenyAction, Mode, Policy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(crate) const EPERM: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub enum SeccompAction {
    Allow,
    /// Fail with this errno.
    Errno(u32),
    KillProcess,
    /// Allow and log (audit, learn).
    Log,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompRule {
    pub names: Vec<String>,
    pub action: SeccompAction,
    /// All must hold (empty = unconditional).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgCondition>,
}

/// The policy's seccomp rules. The runtime installs them *on top of* the engine's own
/// `linux.seccomp` (the kernel runs every stacked filter and applies the strictest result), so
/// a policy can only tighten what the engine set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompRules {
    /// For syscalls no rule matches.
    pub default_action: SeccompAction,
    pub rules: Vec<SeccompRule>,
    /// Install with SECCOMP_FILTER_FLAG_LOG so that errno denials reach the audit channel.
    pub log_denials: bool,
}

/// One filter of a stack: syscalls matching `rules` get `match_action`, others
/// `mismatch_action` (the shape of a seccompiler `SeccompFilter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompFilter {
    pub mismatch_action: SeccompAction,
    pub match_action: SeccompAction,
    /// Syscall name -> alternatives (OR), each a list of conditions (AND); an empty
    /// alternative list means "always".
    pub rules: BTreeMap<String, Vec<Vec<ArgCondition>>>,
}

impl SeccompRules {
    /// Nothing to install.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.default_action == SeccompAction::Allow
    }

    /// The rules as a stack of single-action filters, as seccompiler builds them (one filter has
    /// one match action). Install all of them; the kernel applies the strictest action.
    pub fn filters(&self) -> Vec<SeccompFilter> {
        let mut out: Vec<SeccompFilter> = Vec::new();
        if self.default_action != SeccompAction::Allow {
            // Allow-list filter: listed (unconditional or conditional) allows, else default.
            let mut f = SeccompFilter {
                mismatch_action: self.default_action,
                match_action: SeccompAction::Allow,
                rules: BTreeMap::new(),
            };
            for r in self
                .rules
                .iter()
                .filter(|r| r.action == SeccompAction::Allow)
            {
                add(&mut f, r);
            }
            out.push(normalize(f));
        }
        let mut actions: Vec<SeccompAction> = self
            .rules
            .iter()
            .map(|r| r.action)
            .filter(|a| *a != SeccompAction::Allow)
            .collect();
        actions.sort();
        actions.dedup();
        for action in actions {
            let mut f = SeccompFilter {
                mismatch_action: SeccompAction::Allow,
                match_action: action,
                rules: BTreeMap::new(),
            };
            for r in self.rules.iter().filter(|r| r.action == action) {
                add(&mut f, r);
            }
            out.push(normalize(f));
        }
        out
    }
}

fn add(f: &mut SeccompFilter, r: &SeccompRule) {
    for n in &r.names {
        let alts = f.rules.entry(n.clone()).or_default();
        if r.args.is_empty() {
            // unconditional beats any conditional alternative
            alts.clear();
            alts.push(Vec::new());
        } else if !alts.iter().any(Vec::is_empty) {
            alts.push(r.args.clone());
        }
    }
}

/// `[[]]` (one empty alternative, used while building) -> `[]` (always).
fn normalize(mut f: SeccompFilter) -> SeccompFilter {
    for alts in f.rules.values_mut() {
        if alts.iter().any(Vec::is_empty) {
            alts.clear();
        }
    }
    f
}

pub(crate) fn compile(p: &Policy) -> SeccompRules {
    let sc = &p.spec.syscalls;
    let mode = eff(sc.mode, p.mode());
    let errno = sc.default_errno.unwrap_or(EPERM);
    let mut rules = Vec::new();
    let default_action = match (&sc.allow, mode) {
        (None, _) => SeccompAction::Allow,
        (Some(_), Mode::Enforce) => SeccompAction::Errno(errno),
        (Some(_), _) => SeccompAction::Log,
    };
    for r in sc.allow.iter().flatten() {
        rules.push(SeccompRule {
            names: r.names.iter().map(|n| n.value.clone()).collect(),
            action: SeccompAction::Allow,
            args: r.args.clone(),
        });
    }
    for r in &sc.deny {
        let action = match (eff(r.mode, mode), r.action) {
            (Mode::Audit | Mode::Learn, _) | (_, Some(DenyAction::Log)) => SeccompAction::Log,
            (_, Some(DenyAction::Kill)) => SeccompAction::KillProcess,
            _ => SeccompAction::Errno(r.errno.unwrap_or(errno)),
        };
        rules.push(SeccompRule {
            names: r.names.iter().map(|n| n.value.clone()).collect(),
            action,
            args: r.args.clone(),
        });
    }
    SeccompRules {
        default_action,
        rules,
        log_denials: true,
    }
}
