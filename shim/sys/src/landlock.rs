//! landlock: confine the calling process with a Landlock domain built from a [`LandlockPlan`].
//!
//! # Meaning of a plan
//! Four lists of paths (inside the container, after pivot_root) grant or take away rights on
//! whole hierarchies. Rights: read (read files, list directories), write (create, remove,
//! rename, truncate, device ioctl), execute (`execve`).
//!
//! | list | grants | takes away |
//! |---|---|---|
//! | `read_only` | read | write |
//! | `read_write` | read, write | |
//! | `exec` | read, execute | |
//! | `no_exec` | read, write | execute |
//!
//! For each right separately, **the nearest listed ancestor-or-self that grants or takes it
//! away decides**; a list that neither grants nor takes a right away leaves it as inherited.
//! So with `read_write: [/]`, `exec: [/]`, `read_only: [/etc]`, `no_exec: [/tmp]`: `/etc` is
//! read-only and still executable, `/tmp` writable but not executable. A path listed in several
//! lists gets the union of their grants. A path under no listed path gets nothing. Paths are
//! canonicalized (symlinks resolved) first. When `no_exec` is used and `exec` is empty,
//! execution is allowed everywhere else (an implicit execute grant on `/`); when both are empty,
//! execution is not restricted by Landlock. Reading can never be taken away here (Landlock has
//! no per-file deny: that is the monitor's job).
//!
//! Landlock itself only unions rights down a hierarchy (a rule can grant, never take away), so
//! taking away is compiled by expansion: where a listed path takes away a right from a
//! hierarchy that grants it, the grant is replaced by grants on each sibling along the way
//! (for `exec: [/]`, `no_exec: [/tmp]`: execute on every entry of `/` except `tmp`). Symbolic
//! links met during expansion are skipped (their targets are covered under their real path).
//! Entries created later directly in an expanded directory get none of the expanded right
//! (with `read_write: [/]`, `read_only: [/etc]`, creating `/newfile` is refused).
//!
//! TCP: `tcp_bind` / `tcp_connect` set to `Some(ports)` allow only those ports (`Some(vec![])`
//! denies all); `None` leaves that operation unrestricted. Scopes: `scope_signals` forbids
//! signalling processes outside the domain, `scope_abstract_unix` forbids connecting to abstract
//! unix sockets created outside it (ABI 6).
//!
//! # What Landlock cannot do (use the monitor's fanotify/BPF layers for these)
//! - **No per-file deny.** Rules are allow-lists of hierarchies; "deny /etc/secret" must be
//!   expressed by granting every sibling, and a file created later in that directory is then
//!   unreachable too. vigil leaves `filesystem.deny` to the monitor.
//! - **Hard links.** Rights come from the directories along the path used to reach a file. A
//!   hard link to a file under a `read_only` or `no_exec` path, made (before the domain, or by
//!   another process) in a hierarchy that is granted more, has the larger rights under that
//!   name. Landlock cannot see it; the monitor's inode-based rules can.
//! - **Bind mounts** give a hierarchy a second name. Expansion carves out the bind-mount names
//!   of a taken-away path that `/proc/self/mountinfo` shows and never grants an inode that the
//!   kernel's walk from such a path visits; mounts made after `apply` are not seen.
//! - **Open file descriptors.** Landlock checks at `open`; descriptors opened before
//!   `restrict_self` (inherited from the runtime or the engine) keep their access. Close them.
//! - **ld.so.** Execute only covers `execve(2)`; `ld.so /no_exec/bin` (an executable loader run
//!   on a readable file) and `mmap(PROT_EXEC)` of a readable file still run code.
//! - **UDP and other protocols.** Only TCP bind/connect are covered at ABI 4-7; UDP, raw and
//!   SCTP sockets are not restricted (the monitor's cgroup sock_addr programs are).
//! - **Rename/link across directories** without the Refer right fails with `EXDEV`; on ABI 1
//!   kernels Refer does not exist and cross-directory rename is always denied.
//! - **Devices are files too.** Once a write right is handled, opening `/dev/null` or a tty for
//!   writing, and `ioctl` on devices (ABI 5), need a write rule: put `/dev` in `read_write`.
//!   Execute is checked on `execve` of the entrypoint too, which also needs read.
//! - **exec'd processes** joining a container (`runc exec`) are not in the init's domain: apply
//!   the plan in each of them too.
//! - Denials reach the kernel audit channel only when audit is enabled on the host, and denials
//!   after execve only with `log_new_exec` (ABI 7).

mod elf;
mod expand;
mod mounts;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use ::landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};

/// The newest Landlock ABI vigil knows and requests (rights added later are not handled).
pub const MAX_ABI: u8 = 7;

/// A Landlock confinement (see the module doc for the meaning of each field).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LandlockPlan {
    /// Hierarchies that may be read.
    pub read_only: Vec<PathBuf>,
    /// Hierarchies that may be read and written.
    pub read_write: Vec<PathBuf>,
    /// Hierarchies (or single files) that may be read and executed. The interpreters of an
    /// executable file listed here (ELF `PT_INTERP`, `#!` line) are added, since the kernel
    /// opens them for execution too; allowing `ld.so` also allows `ld.so FILE` on any readable
    /// file, see the limits below.
    pub exec: Vec<PathBuf>,
    /// Hierarchies that may be read and written but never executed.
    pub no_exec: Vec<PathBuf>,
    /// `Some(ports)`: only these TCP ports may be bound. `None`: not restricted.
    pub tcp_bind: Option<Vec<u16>>,
    /// `Some(ports)`: only these TCP ports may be connected to. `None`: not restricted.
    pub tcp_connect: Option<Vec<u16>>,
    /// Forbid signals to processes outside the domain (ABI 6).
    pub scope_signals: bool,
    /// Forbid connecting to abstract unix sockets created outside the domain (ABI 6).
    pub scope_abstract_unix: bool,
    /// Fail with [`LandlockError::AbiTooOld`] when the kernel's ABI is lower.
    pub min_abi: Option<u8>,
    /// Log denials that happen after the next execve (ABI 7); off by default in the kernel.
    pub log_new_exec: bool,
    /// A listed path that does not exist is an error instead of a skipped rule.
    pub paths_required: bool,
}

/// What [`apply`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandlockStatus {
    /// The kernel's Landlock ABI (0: none, disabled, or its syscalls denied by a filter).
    pub abi: u8,
    /// A domain was installed on the calling process.
    pub enforced: bool,
    /// Every requested restriction is enforced (false when the kernel's ABI lacks some; true
    /// when the plan requested nothing).
    pub fully_enforced: bool,
    /// Number of path rules added (after expansion).
    pub path_rules: usize,
    /// Listed paths that did not exist and were skipped.
    pub skipped_paths: Vec<PathBuf>,
    /// `log_new_exec` was requested and the kernel supports it.
    pub log_new_exec: bool,
}

/// Errors of Landlock enforcement.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The kernel's Landlock ABI is lower than the plan requires.
    #[error("landlock ABI {needed} is required but the kernel provides ABI {kernel}")]
    AbiTooOld {
        /// `min_abi` of the plan.
        needed: u8,
        /// The kernel's ABI (0: no Landlock).
        kernel: u8,
    },
    /// A listed path does not exist and `paths_required` is set.
    #[error("landlock path {path:?} does not exist")]
    MissingPath {
        /// The path as listed.
        path: PathBuf,
    },
    /// A path could not be resolved, opened or listed.
    #[error("landlock path {path:?} cannot be used")]
    Path {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The kernel (or the landlock crate) refused a path rule.
    #[error("landlock rule for {path:?} refused")]
    Rule {
        /// The path of the rule.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ::landlock::RulesetError,
    },
    /// The landlock crate or kernel refused the ruleset.
    #[error("landlock ruleset refused")]
    Ruleset(#[from] ::landlock::RulesetError),
}

/// The kernel's Landlock ABI, 0 when Landlock is absent, disabled or its syscall is denied.
pub fn kernel_abi() -> u8 {
    crate::raw::landlock_abi()
        .ok()
        .and_then(|v| u8::try_from(v).ok())
        .unwrap_or(0)
}

fn abi_v() -> ABI {
    ABI::V7
}

/// Read rights.
pub fn read_rights() -> BitFlags<AccessFs> {
    AccessFs::ReadFile | AccessFs::ReadDir
}

/// Write rights (everything handled at ABI 7 but read and execute).
pub fn write_rights() -> BitFlags<AccessFs> {
    AccessFs::from_all(abi_v()) & !read_rights() & !AccessFs::Execute
}

/// Path rules after canonicalization and expansion: path -> rights.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsRules {
    /// Rights handled (restricted) by the domain; empty when the plan lists no path.
    pub handled: BitFlags<AccessFs>,
    /// Path -> rights granted beneath it.
    pub rules: BTreeMap<PathBuf, BitFlags<AccessFs>>,
    /// Listed paths that did not exist.
    pub skipped: Vec<PathBuf>,
}

/// Resolve the plan's paths on the current filesystem view and compile "nearest wins" into
/// Landlock's union-only rules. Reads the filesystem; changes nothing.
pub fn resolve_fs_rules(plan: &LandlockPlan) -> Result<FsRules, LandlockError> {
    let exec_handled = !plan.exec.is_empty() || !plan.no_exec.is_empty();
    let any = exec_handled || !plan.read_only.is_empty() || !plan.read_write.is_empty();
    if !any {
        return Ok(FsRules::default());
    }
    let mut handled = AccessFs::from_all(abi_v());
    if !exec_handled {
        handled &= !AccessFs::Execute;
    }
    let r = read_rights();
    let w = write_rights();
    let x = BitFlags::from(AccessFs::Execute);
    let none = BitFlags::<AccessFs>::empty();
    // (paths, grants, takes away)
    let lists: [(&[PathBuf], BitFlags<AccessFs>, BitFlags<AccessFs>); 4] = [
        (&plan.read_only, r, w),
        (&plan.read_write, r | w, none),
        (&plan.exec, r | x, none),
        (&plan.no_exec, r | w, x),
    ];
    let mut entries: BTreeMap<PathBuf, expand::Entry> = BTreeMap::new();
    let mut skipped = Vec::new();
    for (paths, grants, revokes) in lists {
        for p in paths {
            match std::fs::canonicalize(p) {
                Ok(c) => {
                    let e = entries.entry(c).or_default();
                    e.grants |= grants;
                    e.revokes |= revokes;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if plan.paths_required {
                        return Err(LandlockError::MissingPath { path: p.clone() });
                    }
                    tracing::warn!(path = ?p, "landlock path does not exist, rule skipped");
                    skipped.push(p.clone());
                }
                Err(source) => {
                    return Err(LandlockError::Path {
                        path: p.clone(),
                        source,
                    });
                }
            }
        }
    }
    if plan.exec.is_empty() && !plan.no_exec.is_empty() {
        entries.entry(PathBuf::from("/")).or_default().grants |= x;
    }
    // A dynamically linked executable needs its ELF interpreter executable too.
    let interpreters: Vec<PathBuf> = entries
        .iter()
        .filter(|(p, e)| e.grants.contains(AccessFs::Execute) && p.is_file())
        .flat_map(|(p, _)| elf::interpreters(p))
        .filter_map(|i| std::fs::canonicalize(i).ok())
        .collect();
    for i in interpreters {
        entries.entry(i).or_default().grants |= r | x;
    }
    let mounts = if entries.values().any(|e| !e.revokes.is_empty()) {
        match std::fs::read_to_string("/proc/self/mountinfo") {
            Ok(text) => mounts::parse(&text),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read /proc/self/mountinfo: bind-mount aliases of taken-away paths are not carved out");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let rules = expand::nearest_wins(&entries, handled, &mounts)?;
    Ok(FsRules {
        handled,
        rules,
        skipped,
    })
}

/// Build the plan's domain and restrict the calling thread (and its future children) with it.
/// Irreversible; sets no_new_privs. Call it single-threaded, right before execve.
pub fn apply(plan: &LandlockPlan) -> Result<LandlockStatus, LandlockError> {
    let abi = kernel_abi();
    if let Some(needed) = plan.min_abi
        && abi < needed
    {
        return Err(LandlockError::AbiTooOld {
            needed,
            kernel: abi,
        });
    }
    let fs = resolve_fs_rules(plan)?;
    let mut net: BitFlags<AccessNet> = BitFlags::empty();
    if plan.tcp_bind.is_some() {
        net |= AccessNet::BindTcp;
    }
    if plan.tcp_connect.is_some() {
        net |= AccessNet::ConnectTcp;
    }
    let mut scopes: BitFlags<Scope> = BitFlags::empty();
    if plan.scope_signals {
        scopes |= Scope::Signal;
    }
    if plan.scope_abstract_unix {
        scopes |= Scope::AbstractUnixSocket;
    }
    let mut status = LandlockStatus {
        abi,
        enforced: false,
        fully_enforced: true,
        path_rules: 0,
        skipped_paths: fs.skipped.clone(),
        log_new_exec: false,
    };
    if fs.handled.is_empty() && net.is_empty() && scopes.is_empty() {
        return Ok(status);
    }
    let mut ruleset = Ruleset::default();
    if !fs.handled.is_empty() {
        ruleset = ruleset.handle_access(fs.handled)?;
    }
    if !net.is_empty() {
        ruleset = ruleset.handle_access(net)?;
    }
    if !scopes.is_empty() {
        ruleset = ruleset.scope(scopes)?;
    }
    let mut created = ruleset.create()?;
    for (path, rights) in &fs.rules {
        let fd = match PathFd::new(path) {
            Ok(fd) => fd,
            // Removed since it was resolved: nothing to grant there (fail-safe: no rights).
            Err(::landlock::PathFdError::OpenCall { source, .. })
                if source.kind() == io::ErrorKind::NotFound =>
            {
                tracing::warn!(path = ?path, "landlock path vanished before the rule was added");
                continue;
            }
            Err(e) => {
                return Err(LandlockError::Path {
                    path: path.clone(),
                    source: io::Error::other(e.to_string()),
                });
            }
        };
        let is_dir = std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false);
        let mut rights = *rights & fs.handled;
        if !is_dir {
            rights &= AccessFs::from_file(abi_v());
        }
        if rights.is_empty() {
            continue;
        }
        created = created
            .add_rule(PathBeneath::new(fd, rights))
            .map_err(|source| LandlockError::Rule {
                path: path.clone(),
                source,
            })?;
        status.path_rules += 1;
    }
    for (ports, access) in [
        (&plan.tcp_bind, AccessNet::BindTcp),
        (&plan.tcp_connect, AccessNet::ConnectTcp),
    ] {
        for port in ports.iter().flatten() {
            created = created.add_rule(NetPort::new(*port, access))?;
        }
    }
    created = created.log_new_exec(plan.log_new_exec)?;
    let restricted = created.restrict_self()?;
    status.enforced = restricted.ruleset != RulesetStatus::NotEnforced;
    status.fully_enforced = restricted.ruleset == RulesetStatus::FullyEnforced;
    status.log_new_exec = restricted.log_new_exec;
    tracing::debug!(
        abi,
        rules = status.path_rules,
        full = status.fully_enforced,
        "landlock domain applied"
    );
    Ok(status)
}

/// `true` when `child` is strictly beneath `parent` (both canonical).
fn strictly_beneath(child: &Path, parent: &Path) -> bool {
    child != parent && child.starts_with(parent)
}
