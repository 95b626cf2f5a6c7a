//! The launch-time layers a compiled policy installs in the container's own processes (init
//! and every `exec`), converted from the policy's compiled form into vigil-sys plans.
//!
//! The conversion runs in the runtime before the fork (compiling seccomp needs no kernel);
//! the executor only installs. Landlock paths are container paths and are resolved by
//! vigil-sys after pivot_root.

use std::collections::BTreeSet;
use std::path::PathBuf;

use vigil_policy::compile::{FsAccess, SeccompAction};
use vigil_policy::{ArgOp, CompiledPolicy, LandlockRules, SeccompRules};
use vigil_sys::landlock::LandlockPlan;
use vigil_sys::seccomp::{self as sc, CompiledSeccomp};

use crate::RuntimeError;

/// What the executor installs right before `execve`.
#[derive(Clone, Debug, Default)]
pub(crate) struct LaunchPlan {
    pub landlock: Option<LandlockPlan>,
    pub seccomp: Option<CompiledSeccomp>,
}

impl LaunchPlan {
    pub(crate) fn from_policy(id: &str, compiled: &CompiledPolicy) -> Result<Self, RuntimeError> {
        let err = |message: String| RuntimeError::Policy {
            id: id.to_owned(),
            message,
        };
        let seccomp = if compiled.seccomp.is_empty() {
            None
        } else {
            let plan = seccomp_plan(&compiled.seccomp);
            let arch = sc::Arch::native().map_err(|e| err(e.to_string()))?;
            Some(sc::compile(&plan, arch).map_err(|e| err(e.to_string()))?)
        };
        let landlock = if compiled.landlock.is_empty() {
            None
        } else {
            Some(landlock_plan(&compiled.landlock).map_err(err)?)
        };
        Ok(Self { landlock, seccomp })
    }
}

fn action(a: &SeccompAction) -> sc::Action {
    use SeccompAction as P;
    match a {
        P::Allow => sc::Action::Allow,
        P::Errno(e) => sc::Action::Errno(*e),
        P::KillProcess => sc::Action::KillProcess,
        P::Log => sc::Action::Log,
    }
}

fn seccomp_plan(policy: &SeccompRules) -> sc::SeccompPlan {
    let default = &policy.default_action;
    let log_denials = policy.log_denials;
    let rules = policy
        .rules
        .iter()
        .flat_map(|r| {
            let args: Vec<sc::ArgCond> = r
                .args
                .iter()
                .map(|c| sc::ArgCond {
                    index: c.index,
                    op: match c.op {
                        ArgOp::Eq => sc::ArgOp::Eq,
                        ArgOp::Ne => sc::ArgOp::Ne,
                        ArgOp::Lt => sc::ArgOp::Lt,
                        ArgOp::Le => sc::ArgOp::Le,
                        ArgOp::Gt => sc::ArgOp::Gt,
                        ArgOp::Ge => sc::ArgOp::Ge,
                        ArgOp::MaskedEq => sc::ArgOp::MaskedEq(c.mask.unwrap_or(u64::MAX)),
                    },
                    value: c.value,
                })
                .collect();
            let act = action(&r.action);
            r.names.iter().map(move |n| sc::SyscallRule {
                name: n.clone(),
                action: act,
                args: args.clone(),
            })
        })
        .collect();
    sc::SeccompPlan {
        default: action(default),
        rules,
        log_denials,
    }
}

/// The policy grants rights per class (read, write, execute) on hierarchies, with exceptions;
/// vigil-sys takes four lists where the nearest listed path decides per right. Read
/// exceptions (`filesystem.deny`) cannot be expressed by Landlock: the monitor enforces them.
fn landlock_plan(rules: &LandlockRules) -> Result<LandlockPlan, String> {
    let is_read = |a: &FsAccess| matches!(a, FsAccess::ReadFile | FsAccess::ReadDir);
    let is_exec = |a: &FsAccess| matches!(a, FsAccess::Execute);
    let mut read_only = BTreeSet::new();
    let mut read_write = BTreeSet::new();
    let mut exec = BTreeSet::new();
    let mut no_exec = BTreeSet::new();
    let write_grants: Vec<_> = rules
        .fs
        .iter()
        .filter(|g| g.access.iter().any(|a| !is_read(a) && !is_exec(a)))
        .collect();
    // Paths excepted from reading are `filesystem.deny`: no access at all, which Landlock cannot
    // express per file; the monitor enforces them, so they are left out here.
    let denied = |p: &str| {
        rules
            .fs
            .iter()
            .filter(|g| g.access.iter().any(is_read))
            .any(|g| g.except.iter().any(|e| e == p))
    };
    let writable = |p: &str| {
        write_grants
            .iter()
            .any(|g| under(p, &g.path) && !g.except.iter().any(|e| under(p, e)))
    };
    for g in &rules.fs {
        if g.access.iter().any(is_read) {
            read_only.insert(g.path.clone());
        }
        if g.access.iter().any(|a| !is_read(a) && !is_exec(a)) {
            read_write.insert(g.path.clone());
            read_only.extend(g.except.iter().filter(|e| !denied(e)).cloned());
        }
        if g.access.iter().any(is_exec) {
            exec.insert(g.path.clone());
            for e in g.except.iter().filter(|e| !denied(e)) {
                if !writable(e) {
                    return Err(format!(
                        "Landlock cannot make {e:?} non-executable without making it writable; list it under filesystem.readWrite or drop it from noExec"
                    ));
                }
                no_exec.insert(e.clone());
            }
        }
    }
    // A right class the policy does not handle stays unrestricted.
    let handles = |f: &dyn Fn(&FsAccess) -> bool| rules.handled_fs.iter().any(f);
    if !handles(&|a| !is_read(a) && !is_exec(a)) || !handles(&is_read) {
        read_write.insert("/".into());
    }
    let paths = |s: BTreeSet<String>| s.into_iter().map(PathBuf::from).collect::<Vec<_>>();
    Ok(LandlockPlan {
        read_only: paths(read_only),
        read_write: paths(read_write),
        exec: paths(exec),
        no_exec: paths(no_exec),
        tcp_bind: rules.bind_tcp.clone(),
        tcp_connect: rules.connect_tcp.clone(),
        scope_signals: rules.scope_signals,
        scope_abstract_unix: rules.scope_abstract_unix_sockets,
        min_abi: Some(rules.min_abi),
        log_new_exec: true,
        paths_required: false,
    })
}

/// `path` is `base` or under it.
fn under(path: &str, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    path == base || base.is_empty() || path.starts_with(&format!("{base}/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_policy::compile::FsGrant;

    fn grant(path: &str, access: &[FsAccess], except: &[&str]) -> FsGrant {
        FsGrant {
            path: path.into(),
            access: access.to_vec(),
            except: except.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn read_only_and_no_exec_map_to_lists() {
        let rules = LandlockRules {
            min_abi: 4,
            handled_fs: vec![FsAccess::ReadFile, FsAccess::WriteFile, FsAccess::Execute],
            fs: vec![
                grant(
                    "/",
                    &[FsAccess::ReadFile, FsAccess::ReadDir],
                    &["/etc/shadow"],
                ),
                grant("/", &[FsAccess::WriteFile], &["/etc"]),
                grant("/", &[FsAccess::Execute], &["/tmp"]),
            ],
            ..LandlockRules::default()
        };
        let plan = landlock_plan(&rules).expect("expressible");
        assert_eq!(plan.read_write, vec![PathBuf::from("/")]);
        assert!(plan.read_only.contains(&PathBuf::from("/etc")));
        assert_eq!(plan.no_exec, vec![PathBuf::from("/tmp")]);
        assert_eq!(plan.exec, vec![PathBuf::from("/")]);
        assert_eq!(plan.min_abi, Some(4));
    }

    #[test]
    fn no_exec_on_a_read_only_path_is_refused_not_widened() {
        let rules = LandlockRules {
            min_abi: 1,
            handled_fs: vec![FsAccess::ReadFile, FsAccess::WriteFile, FsAccess::Execute],
            fs: vec![
                grant("/", &[FsAccess::ReadFile], &[]),
                grant("/", &[FsAccess::WriteFile], &["/opt"]),
                grant("/", &[FsAccess::Execute], &["/opt/bin"]),
            ],
            ..LandlockRules::default()
        };
        let err = landlock_plan(&rules).expect_err("would grant write on /opt/bin");
        assert!(err.contains("/opt/bin"), "{err}");
    }

    #[test]
    fn denied_paths_are_left_to_the_monitor() {
        let all = [FsAccess::ReadFile, FsAccess::WriteFile, FsAccess::Execute];
        let rules = LandlockRules {
            min_abi: 1,
            handled_fs: all.to_vec(),
            fs: all
                .iter()
                .map(|a| grant("/", &[*a], &["/etc/secret"]))
                .collect(),
            ..LandlockRules::default()
        };
        let plan = landlock_plan(&rules).expect("a deny path is the monitor's");
        assert!(!plan.no_exec.contains(&PathBuf::from("/etc/secret")));
        assert!(!plan.read_only.contains(&PathBuf::from("/etc/secret")));
        assert_eq!(plan.read_write, vec![PathBuf::from("/")]);
    }

    #[test]
    fn under_is_component_wise() {
        assert!(under("/etc/shadow", "/etc"));
        assert!(under("/etc", "/etc/"));
        assert!(under("/x", "/"));
        assert!(!under("/etcetera", "/etc"));
    }
}
