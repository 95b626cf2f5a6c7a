//! Compilation: a resolved [`Policy`] -> what each enforcement layer installs.

mod landlock;
mod monitor;
mod oci;
mod seccomp;

pub use landlock::{DirEntryKind, ELF_INTERPRETERS, FsAccess, FsGrant, LandlockRules, ListDir};
pub use monitor::MonitorRules;
pub use oci::{ApplyReport, CapabilityEdits, OciEdits, OciError};
pub use seccomp::{SeccompAction, SeccompFilter, SeccompRule, SeccompRules};

use crate::diag::Location;
use crate::model::{Layer, Mode, Policy};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(
        "policy {policy:?} still has `extends: {parent}`: resolve it with a Loader before compiling"
    )]
    Unresolved { policy: String, parent: String },
    #[error(
        "syscalls.allow of policy {policy:?} lacks {missing:?} at {at}: the container could not start"
    )]
    AllowListTooSmall {
        policy: String,
        missing: String,
        at: Location,
    },
    #[error("failed to serialise policy {policy:?}")]
    Serialize {
        policy: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Everything a policy becomes; serialisable for `vigil policy compile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompiledPolicy {
    pub name: String,
    /// BLAKE3 (hex) of the canonical JSON of the resolved policy.
    pub digest: String,
    pub mode: Mode,
    /// Layers that must be active, or the container does not start.
    pub require: Vec<Layer>,
    /// Layers this policy has rules for (a missing one that is not required is a warning).
    pub uses: Vec<Layer>,
    pub oci: OciEdits,
    pub seccomp: SeccompRules,
    pub landlock: LandlockRules,
    pub monitor: MonitorRules,
}

/// The mode of a section: its own, else the policy's.
pub(crate) fn eff(section: Option<Mode>, policy: Mode) -> Mode {
    section.unwrap_or(policy)
}

/// BLAKE3 of the canonical JSON of a resolved policy (locations are not part of it).
pub fn digest(policy: &Policy) -> Result<String, CompileError> {
    let json = serde_json::to_vec(policy).map_err(|source| CompileError::Serialize {
        policy: policy.name.clone(),
        source,
    })?;
    Ok(blake3::hash(&json).to_hex().to_string())
}

/// Compile a resolved policy (see [`crate::load`]).
pub fn compile(policy: &Policy) -> Result<CompiledPolicy, CompileError> {
    if let Some(parent) = &policy.spec.extends {
        return Err(CompileError::Unresolved {
            policy: policy.name.clone(),
            parent: parent.value.clone(),
        });
    }
    if let Some(allow) = &policy.spec.syscalls.allow {
        for needed in ["execve"] {
            if !allow
                .iter()
                .any(|r| r.args.is_empty() && r.names.iter().any(|n| n.value == needed))
            {
                let at = allow
                    .first()
                    .map(|r| r.at.clone())
                    .unwrap_or_else(|| policy.name_at.clone());
                return Err(CompileError::AllowListTooSmall {
                    policy: policy.name.clone(),
                    missing: needed.into(),
                    at,
                });
            }
        }
    }
    let mode = policy.mode();
    let oci = oci::compile(policy);
    let seccomp = seccomp::compile(policy);
    let landlock = landlock::compile(policy);
    let monitor = monitor::compile(policy);
    let mut uses = Vec::new();
    if !seccomp.rules.is_empty() || seccomp.default_action != SeccompAction::Allow {
        uses.push(Layer::Seccomp);
    }
    if !landlock.is_empty() {
        uses.push(Layer::Landlock);
    }
    if monitor.uses_fanotify {
        uses.push(Layer::Fanotify);
    }
    if monitor.uses_ebpf {
        uses.push(Layer::Ebpf);
    }
    if oci.has_cgroup_limits() {
        uses.push(Layer::Cgroups);
    }
    let mut require: Vec<Layer> = policy.spec.require.iter().map(|r| r.value).collect();
    require.sort();
    require.dedup();
    Ok(CompiledPolicy {
        name: policy.name.clone(),
        digest: digest(policy)?,
        mode,
        require,
        uses,
        oci,
        seccomp,
        landlock,
        monitor,
    })
}
