//! vigil-sys: the one crate of vigil with `unsafe` code and raw system calls.
//!
//! - [`seccomp`]: compile a [`seccomp::SeccompPlan`] with `seccompiler` into stacked BPF
//!   filters (one per action) and install them with `seccomp(2)` and
//!   `SECCOMP_FILTER_FLAG_LOG`.
//! - [`landlock`]: turn a [`landlock::LandlockPlan`] (path hierarchies, TCP ports, scopes) into
//!   a Landlock domain on the calling process (crate `landlock`, ABI up to 7).
//! - [`probe`]: what this host supports, for `vigil doctor` and for a policy's `require`.
//! - [`nsid`]: namespace ids, cgroup id and boot-unique start time, for container identity.
//! - [`audit`]: read seccomp and Landlock audit records as a read-log multicast listener.
//!
//! The enforcement functions ([`seccomp::apply`], [`landlock::apply`]) are meant for the
//! container's init (and every `exec`'d process) right before `execve`: after pivot_root, the
//! capability drop and the engine's own OCI seccomp filter. Both are irreversible for the calling
//! process and its future children, and both act on the calling thread only: call them from a
//! single-threaded process. Order: Landlock first, then seccomp, so that a policy's seccomp
//! rules can never deny the Landlock syscalls to ourselves.
//!
//! **The engine's filter comes first.** Docker's and containerd's older default profiles do not
//! list `landlock_create_ruleset`, `landlock_add_rule`, `landlock_restrict_self`; under such a
//! filter [`landlock::apply`] sees the kernel as having no Landlock (ABI 0), and fails only if
//! the plan's `min_abi` requires it. The runtime must allow these three syscalls in the merged
//! engine filter (or install Landlock before it) when Landlock is wanted.
//!
//! This crate depends on no other vigil crate: its inputs are its own plain structs.
//!
//! ```no_run
//! use vigil_sys::seccomp::{Action, SeccompPlan, SyscallRule};
//! let plan = SeccompPlan {
//!     default: Action::Allow,
//!     rules: vec![SyscallRule { name: "mkdir".into(), action: Action::Errno(1), args: vec![] }],
//!     log_denials: true,
//! };
//! let compiled = vigil_sys::seccomp::compile(&plan, vigil_sys::seccomp::Arch::native()?)?;
//! vigil_sys::seccomp::install(&compiled)?; // in the container's init, right before execve
//! # Ok::<(), vigil_sys::seccomp::SeccompError>(())
//! ```
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod audit;
pub mod landlock;
pub mod nsid;
pub mod probe;
mod raw;
pub mod seccomp;

/// Any error of this crate, for callers that do not care which layer failed.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// seccomp compilation or installation.
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    /// Landlock enforcement.
    #[error(transparent)]
    Landlock(#[from] landlock::LandlockError),
    /// Identity lookups.
    #[error(transparent)]
    NsId(#[from] nsid::NsIdError),
}

/// Launch-time enforcement in the right order, for the container's init and every `exec`'d
/// process, right before `execve`: the Landlock domain first (its syscalls must not be denied
/// by our own filter), then the seccomp filters. Both set no_new_privs. Irreversible; call it
/// single-threaded. The filters apply to the `execve` that follows too: an allow-list must
/// allow `execve`, and Landlock must let the entrypoint be read and executed.
pub fn enforce(
    landlock: Option<&landlock::LandlockPlan>,
    seccomp: Option<&seccomp::CompiledSeccomp>,
) -> Result<Option<landlock::LandlockStatus>, SysError> {
    let status = landlock.map(landlock::apply).transpose()?;
    if let Some(compiled) = seccomp {
        seccomp::install(compiled)?;
    }
    Ok(status)
}

/// Launch-time enforcement as a narrow trait, so that code deciding *what* to enforce (the
/// runtime's executor) can be unit-tested with a fake that records the call.
pub trait Enforcer {
    /// Apply the plans to the calling process (see [`enforce`]).
    fn enforce(
        &self,
        landlock: Option<&landlock::LandlockPlan>,
        seccomp: Option<&seccomp::CompiledSeccomp>,
    ) -> Result<Option<landlock::LandlockStatus>, SysError>;
}

/// The real kernel: [`enforce`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Kernel;

impl Enforcer for Kernel {
    fn enforce(
        &self,
        landlock: Option<&landlock::LandlockPlan>,
        seccomp: Option<&seccomp::CompiledSeccomp>,
    ) -> Result<Option<landlock::LandlockStatus>, SysError> {
        enforce(landlock, seccomp)
    }
}

/// Set `no_new_privs` on the calling thread (inherited by children, never cleared). Needed by
/// both seccomp and Landlock once `CAP_SYS_ADMIN` is gone; it also means set-user-ID and
/// file-capability binaries no longer gain privileges on execve.
pub fn set_no_new_privs() -> std::io::Result<()> {
    raw::set_no_new_privs()
}

/// Whether `no_new_privs` is set on the calling thread.
pub fn no_new_privs() -> std::io::Result<bool> {
    raw::no_new_privs()
}
