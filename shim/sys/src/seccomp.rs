//! seccomp: compile a [`SeccompPlan`] into stacked BPF filters with `seccompiler`, and install
//! them with `seccomp(2)` ourselves so that `SECCOMP_FILTER_FLAG_LOG` can be set.
//!
//! # How a plan becomes filters
//! One `seccompiler` filter has one match action and one mismatch action, so a plan is split:
//! - for every distinct non-`Allow` action `A` used by a rule (and different from the plan's
//!   default), one filter "rules with action `A` -> `A`, everything else -> `Allow`";
//! - when the default is not `Allow` (an allow-list), one more filter "every syscall named by a
//!   rule whose action differs from the default -> `Allow`, everything else -> default".
//!
//! The kernel runs every stacked filter and keeps the most severe result
//! (`KILL_PROCESS > TRAP > ERRNO > LOG > ALLOW`), so the plan means: a syscall matched by one or
//! more rules gets the most severe of their actions; an unmatched syscall gets the default. The
//! same rule makes a policy unable to loosen the engine's own `linux.seccomp` filter that
//! libcontainer installed earlier: ours can only add severity.
//!
//! Filters without argument conditions keep the kernel's per-syscall action cache valid (no
//! measurable cost); argument conditions on a hot syscall cost about 150 ns per call.
//!
//! # Architecture
//! Each filter first checks `seccomp_data.arch` against the compiled architecture
//! (seccompiler's prologue). A syscall of another ABI (32-bit `int 0x80` on x86_64) and, on
//! x86_64, an x32 syscall (number with bit 30 set) would bypass rules written for native
//! numbers, so every filter treats them as matching all its rules: `ENOSYS` for an errno
//! filter, `LOG` in audit mode (never breaking the workload), `TRAP`/`KILL_PROCESS` for those.
//!
//! # no_new_privs
//! [`install`] sets `PR_SET_NO_NEW_PRIVS` first: after libcontainer dropped `CAP_SYS_ADMIN` the
//! kernel refuses unprivileged filters without it. Consequence: inside a container confined by
//! vigil, set-user-ID and file-capability binaries (`su`, `ping` with file caps) no longer gain
//! privileges on execve. Landlock needs the same bit.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

/// What the kernel does with a matching syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Run the syscall.
    Allow,
    /// Fail the syscall with this errno (`EPERM` = 1), without running it.
    Errno(u32),
    /// Run the syscall and write an audit record (type 1326): audit mode.
    Log,
    /// Kill the whole process (SIGSYS, core dump).
    KillProcess,
    /// Send SIGSYS to the calling thread.
    Trap,
}

impl Action {
    /// Kernel precedence: the larger, the more severe (the kernel keeps the most severe result).
    pub fn severity(self) -> u8 {
        match self {
            Action::Allow => 0,
            Action::Log => 1,
            Action::Errno(_) => 2,
            Action::Trap => 3,
            Action::KillProcess => 4,
        }
    }

    /// The audit-mode counterpart: every denying action becomes `Log`.
    pub fn audited(self) -> Action {
        match self {
            Action::Allow => Action::Allow,
            _ => Action::Log,
        }
    }

    fn to_seccompiler(self) -> SeccompAction {
        match self {
            Action::Allow => SeccompAction::Allow,
            Action::Errno(e) => SeccompAction::Errno(e),
            Action::Log => SeccompAction::Log,
            Action::KillProcess => SeccompAction::KillProcess,
            Action::Trap => SeccompAction::Trap,
        }
    }
}

/// Comparison of one syscall argument (64-bit compare, as in OCI/libseccomp profiles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgOp {
    /// `arg == value`
    Eq,
    /// `arg != value`
    Ne,
    /// `arg < value`
    Lt,
    /// `arg <= value`
    Le,
    /// `arg > value`
    Gt,
    /// `arg >= value`
    Ge,
    /// `arg & mask == value`
    MaskedEq(u64),
}

/// One argument condition; all conditions of a rule must hold for it to match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgCond {
    /// Argument index, 0..=5.
    pub index: u8,
    /// Comparison.
    pub op: ArgOp,
    /// Value compared against.
    pub value: u64,
}

/// A rule: a syscall by name, an action, optional argument conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallRule {
    /// Syscall name as in `man 2 syscalls` (`mkdirat`); resolved for the target architecture.
    pub name: String,
    /// What happens when the rule matches.
    pub action: Action,
    /// Conditions, all of which must hold; empty = the syscall always matches.
    pub args: Vec<ArgCond>,
}

/// A seccomp policy: a default action and rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeccompPlan {
    /// Action for syscalls no rule matches (`Allow` = deny-list, otherwise allow-list).
    pub default: Action,
    /// Rules, in any order.
    pub rules: Vec<SyscallRule>,
    /// Install with `SECCOMP_FILTER_FLAG_LOG`: errno/trap/kill results are written to the
    /// kernel audit channel (type 1326) so the monitor can journal them.
    pub log_denials: bool,
}

impl SeccompPlan {
    /// The same plan in audit mode: every denying action (rules and default) becomes `Log`.
    pub fn audit_mode(&self) -> SeccompPlan {
        SeccompPlan {
            default: self.default.audited(),
            rules: self
                .rules
                .iter()
                .map(|r| SyscallRule {
                    action: r.action.audited(),
                    ..r.clone()
                })
                .collect(),
            log_denials: self.log_denials,
        }
    }
}

/// Target architecture of a compiled filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86_64 (`AUDIT_ARCH_X86_64`).
    X86_64,
    /// aarch64 (`AUDIT_ARCH_AARCH64`).
    Aarch64,
}

impl Arch {
    /// The architecture this binary runs on, if supported.
    pub fn native() -> Result<Arch, SeccompError> {
        match std::env::consts::ARCH {
            "x86_64" => Ok(Arch::X86_64),
            "aarch64" => Ok(Arch::Aarch64),
            other => Err(SeccompError::UnsupportedArch(other.to_string())),
        }
    }

    /// Syscall number of `name` on this architecture.
    pub fn syscall_number(self, name: &str) -> Option<i64> {
        match self {
            Arch::X86_64 => name
                .parse::<syscalls::x86_64::Sysno>()
                .ok()
                .map(|s| i64::from(s.id())),
            Arch::Aarch64 => name
                .parse::<syscalls::aarch64::Sysno>()
                .ok()
                .map(|s| i64::from(s.id())),
        }
    }

    fn target(self) -> TargetArch {
        match self {
            Arch::X86_64 => TargetArch::x86_64,
            Arch::Aarch64 => TargetArch::aarch64,
        }
    }
}

/// One BPF program of a stack, with the action it returns on a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledFilter {
    /// Action returned on a match.
    pub match_action: Action,
    /// Action returned otherwise.
    pub mismatch_action: Action,
    /// The BPF program.
    pub program: BpfProgram,
}

/// A compiled plan: filters to stack, in installation order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledSeccomp {
    /// Architecture the filters check for.
    pub arch: Arch,
    /// Filters; empty when the plan allows everything.
    pub filters: Vec<CompiledFilter>,
    /// Install with `SECCOMP_FILTER_FLAG_LOG`.
    pub log_denials: bool,
}

/// Errors of seccomp compilation and installation.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A rule names a syscall the architecture does not have.
    #[error("unknown syscall {name:?} for {arch:?}")]
    UnknownSyscall {
        /// The name in the rule.
        name: String,
        /// The architecture it was resolved for.
        arch: Arch,
    },
    /// An argument index is out of range.
    #[error("syscall {name:?}: argument index {index} is out of range 0..=5")]
    ArgIndex {
        /// The syscall.
        name: String,
        /// The index.
        index: u8,
    },
    /// seccompiler's BPF prologue is not the one this crate rewrites (a seccompiler upgrade).
    #[error("unexpected seccompiler prologue in the filter for action {action:?}")]
    Prologue {
        /// Match action of the filter.
        action: Action,
    },
    /// This machine's architecture is not supported.
    #[error("unsupported architecture {0}")]
    UnsupportedArch(String),
    /// seccompiler refused the filter.
    #[error("failed to compile the seccomp filter for action {action:?}")]
    Compile {
        /// Match action of the filter.
        action: Action,
        /// seccompiler's error.
        #[source]
        source: seccompiler::BackendError,
    },
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    #[error("prctl(PR_SET_NO_NEW_PRIVS) failed")]
    NoNewPrivs(#[source] std::io::Error),
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER) failed for the filter with action {action:?}")]
    Install {
        /// Match action of the filter.
        action: Action,
        /// The kernel's error.
        #[source]
        source: std::io::Error,
    },
}

type RuleMap = BTreeMap<i64, Option<Vec<SeccompRule>>>;

/// Compile `plan` for `arch`. Pure: no syscall, usable at `create` to validate a policy.
pub fn compile(plan: &SeccompPlan, arch: Arch) -> Result<CompiledSeccomp, SeccompError> {
    // action -> syscall -> None (unconditional) or the OR of conditional rules.
    let mut by_action: BTreeMap<Action, RuleMap> = BTreeMap::new();
    let mut allow_list: RuleMap = BTreeMap::new();
    for rule in &plan.rules {
        let nr = arch
            .syscall_number(&rule.name)
            .ok_or_else(|| SeccompError::UnknownSyscall {
                name: rule.name.clone(),
                arch,
            })?;
        let conds = conditions(rule)?;
        if rule.action == plan.default {
            continue;
        }
        if plan.default != Action::Allow {
            add_rule(&mut allow_list, nr, conds.clone());
        }
        if rule.action != Action::Allow {
            add_rule(by_action.entry(rule.action).or_default(), nr, conds);
        }
    }
    let mut filters = Vec::new();
    if plan.default != Action::Allow {
        filters.push(build(arch, allow_list, Action::Allow, plan.default)?);
    }
    for (action, rules) in by_action {
        filters.push(build(arch, rules, action, Action::Allow)?);
    }
    Ok(CompiledSeccomp {
        arch,
        filters,
        log_denials: plan.log_denials,
    })
}

fn conditions(rule: &SyscallRule) -> Result<Option<SeccompRule>, SeccompError> {
    if rule.args.is_empty() {
        return Ok(None);
    }
    let mut conds = Vec::with_capacity(rule.args.len());
    for c in &rule.args {
        let op = match c.op {
            ArgOp::Eq => SeccompCmpOp::Eq,
            ArgOp::Ne => SeccompCmpOp::Ne,
            ArgOp::Lt => SeccompCmpOp::Lt,
            ArgOp::Le => SeccompCmpOp::Le,
            ArgOp::Gt => SeccompCmpOp::Gt,
            ArgOp::Ge => SeccompCmpOp::Ge,
            ArgOp::MaskedEq(m) => SeccompCmpOp::MaskedEq(m),
        };
        let cond =
            SeccompCondition::new(c.index, SeccompCmpArgLen::Qword, op, c.value).map_err(|_| {
                SeccompError::ArgIndex {
                    name: rule.name.clone(),
                    index: c.index,
                }
            })?;
        conds.push(cond);
    }
    SeccompRule::new(conds)
        .map(Some)
        .map_err(|source| SeccompError::Compile {
            action: rule.action,
            source,
        })
}

/// Add a rule: an unconditional rule absorbs conditional ones for the same syscall.
fn add_rule(map: &mut RuleMap, nr: i64, rule: Option<SeccompRule>) {
    let entry = map.entry(nr).or_insert_with(|| Some(Vec::new()));
    match (entry.as_mut(), rule) {
        (Some(_), None) => *entry = None,
        (Some(list), Some(r)) => list.push(r),
        (None, _) => {}
    }
}

fn build(
    arch: Arch,
    rules: RuleMap,
    match_action: Action,
    mismatch_action: Action,
) -> Result<CompiledFilter, SeccompError> {
    let err = |source| SeccompError::Compile {
        action: match_action,
        source,
    };
    let rules = rules
        .into_iter()
        .map(|(nr, r)| (nr, r.unwrap_or_default()))
        .collect();
    let filter = SeccompFilter::new(
        rules,
        mismatch_action.to_seccompiler(),
        match_action.to_seccompiler(),
        arch.target(),
    )
    .map_err(err)?;
    let mut program: BpfProgram = filter.try_into().map_err(err)?;
    let foreign = foreign_abi_action(match_action, mismatch_action);
    // seccompiler's prologue: [load arch, jeq arch +1, ret KILL_PROCESS].
    match program.get_mut(2) {
        Some(ret) if ret.code == BPF_RET_K && ret.k == libc::SECCOMP_RET_KILL_PROCESS => {
            ret.k = foreign;
        }
        _ => {
            return Err(SeccompError::Prologue {
                action: match_action,
            });
        }
    }
    if arch == Arch::X86_64 {
        insert_x32_guard(&mut program, foreign);
    }
    Ok(CompiledFilter {
        match_action,
        mismatch_action,
        program,
    })
}

const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// What a filter returns for a syscall of a foreign ABI: as if it matched every rule.
fn foreign_abi_action(match_action: Action, mismatch_action: Action) -> u32 {
    let action = if match_action == Action::Allow {
        mismatch_action
    } else {
        match_action
    };
    match action {
        Action::Allow => libc::SECCOMP_RET_ALLOW,
        Action::Log => libc::SECCOMP_RET_LOG,
        Action::Errno(_) => libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        Action::Trap => libc::SECCOMP_RET_TRAP,
        Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
    }
}

/// seccompiler's prologue is 3 instructions (load arch, compare, ret); insert right after it
/// "load nr; if nr >= X32_SYSCALL_BIT return `foreign`". Jumps are relative and none crosses
/// the insertion point, so the rest of the program is unchanged.
fn insert_x32_guard(program: &mut BpfProgram, foreign: u32) {
    const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const BPF_JMP_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let guard = [
        sock_filter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0, // offsetof(struct seccomp_data, nr)
        },
        sock_filter {
            code: BPF_JMP_JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: foreign,
        },
    ];
    let at = 3.min(program.len());
    program.splice(at..at, guard);
}

/// Compile `plan` for this machine and install it on the calling thread (see [`install`]).
pub fn apply(plan: &SeccompPlan) -> Result<CompiledSeccomp, SeccompError> {
    let compiled = compile(plan, Arch::native()?)?;
    install(&compiled)?;
    Ok(compiled)
}

/// Set no_new_privs, then install every filter of `compiled` on the calling thread, with
/// `SECCOMP_FILTER_FLAG_LOG` when `log_denials`. Irreversible. The caller must be
/// single-threaded (the container's init is) or the other threads stay unfiltered.
pub fn install(compiled: &CompiledSeccomp) -> Result<(), SeccompError> {
    crate::set_no_new_privs().map_err(SeccompError::NoNewPrivs)?;
    let flags = if compiled.log_denials {
        libc::SECCOMP_FILTER_FLAG_LOG
    } else {
        0
    };
    for f in &compiled.filters {
        let mut result = crate::raw::seccomp_set_mode_filter(&f.program, flags);
        if flags != 0
            && matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EINVAL))
            && crate::raw::seccomp_flags_supported(flags).ok() == Some(false)
        {
            // A kernel older than 4.14: enforce anyway, denials just are not logged.
            tracing::warn!(
                "SECCOMP_FILTER_FLAG_LOG unsupported: seccomp denials will not be logged"
            );
            result = crate::raw::seccomp_set_mode_filter(&f.program, 0);
        }
        result.map_err(|source| SeccompError::Install {
            action: f.match_action,
            source,
        })?;
    }
    tracing::debug!(
        filters = compiled.filters.len(),
        log = compiled.log_denials,
        "seccomp filters installed"
    );
    Ok(())
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
