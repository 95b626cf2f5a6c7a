//! Landlock: the allow-list parts of a policy, enforced in-kernel with no process of ours.
//!
//! Landlock only grants: a ruleset handles some access rights, and rules grant them on path
//! hierarchies. "Everything except X" is expressed as a grant with `except`, which
//! [`LandlockRules::expand`] turns into grants on the siblings of every directory on the way
//! to X (it needs the container's directory listing, so the runtime calls it in the init).

use super::eff;
use crate::model::{Mode, Policy, Proto};
use crate::reader::is_under;
use crate::validate::deny_covers;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Landlock filesystem access rights (names as in the kernel, without `LANDLOCK_ACCESS_FS_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FsAccess {
    Execute,
    WriteFile,
    ReadFile,
    ReadDir,
    RemoveDir,
    RemoveFile,
    MakeChar,
    MakeDir,
    MakeReg,
    MakeSock,
    MakeFifo,
    MakeBlock,
    MakeSym,
    /// ABI 2.
    Refer,
    /// ABI 3.
    Truncate,
}

impl FsAccess {
    pub const READ: &[FsAccess] = &[FsAccess::ReadFile, FsAccess::ReadDir];
    pub const WRITE: &[FsAccess] = &[
        FsAccess::WriteFile,
        FsAccess::RemoveDir,
        FsAccess::RemoveFile,
        FsAccess::MakeChar,
        FsAccess::MakeDir,
        FsAccess::MakeReg,
        FsAccess::MakeSock,
        FsAccess::MakeFifo,
        FsAccess::MakeBlock,
        FsAccess::MakeSym,
        FsAccess::Refer,
        FsAccess::Truncate,
    ];
    pub const EXEC: &[FsAccess] = &[FsAccess::Execute];

    /// Rights that may be granted on a file (others only on directories).
    pub fn applies_to_files(self) -> bool {
        matches!(
            self,
            FsAccess::Execute | FsAccess::WriteFile | FsAccess::ReadFile | FsAccess::Truncate
        )
    }
}

/// Grant `access` on the hierarchy at `path`, except under the paths in `except`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsGrant {
    pub path: String,
    pub access: Vec<FsAccess>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LandlockRules {
    /// Lowest Landlock ABI that enforces all of this (0 = nothing to install).
    pub min_abi: u8,
    /// Filesystem rights the ruleset handles (denied unless granted).
    pub handled_fs: Vec<FsAccess>,
    pub fs: Vec<FsGrant>,
    /// TCP ports that may be bound; `None` = bind not handled.
    pub bind_tcp: Option<Vec<u16>>,
    /// TCP ports that may be connected to; `None` = connect not handled.
    pub connect_tcp: Option<Vec<u16>>,
    /// Scope signals to the container's own Landlock domain (ABI 6).
    pub scope_signals: bool,
    /// Scope abstract unix sockets to the container's own Landlock domain (ABI 6).
    pub scope_abstract_unix_sockets: bool,
}

/// Lists a directory of the container's root: (entry name, kind).
pub type ListDir<'a> = dyn FnMut(&Path) -> std::io::Result<Vec<(String, DirEntryKind)>> + 'a;

/// What kind of directory entry `list_dir` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirEntryKind {
    Dir,
    File,
    /// Symlinks are skipped: their target is reached through its own path.
    Symlink,
}

/// Paths of the dynamic loaders, which the kernel opens for execution along with a program.
pub const ELF_INTERPRETERS: &[&str] = &[
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    "/usr/lib64/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1",
    "/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
    "/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
    "/lib/ld-musl-x86_64.so.1",
    "/lib/ld-musl-aarch64.so.1",
];

impl LandlockRules {
    pub fn is_empty(&self) -> bool {
        self.min_abi == 0
    }

    /// Concrete (path, rights) rules for the ruleset. `list_dir` lists a directory of the
    /// container's root (called only on the way to an `except` path); entries that do not
    /// exist are skipped by the caller when opening them. Rights that only apply to
    /// directories are removed from file entries.
    pub fn expand(&self, list_dir: &mut ListDir<'_>) -> Vec<(PathBuf, Vec<FsAccess>)> {
        let mut out = Vec::new();
        for g in &self.fs {
            walk(
                Path::new(&g.path),
                DirEntryKind::Dir,
                &g.access,
                &g.except,
                list_dir,
                &mut out,
            );
        }
        out
    }
}

fn walk(
    path: &Path,
    kind: DirEntryKind,
    access: &[FsAccess],
    except: &[String],
    list_dir: &mut ListDir<'_>,
    out: &mut Vec<(PathBuf, Vec<FsAccess>)>,
) {
    let p = path.to_string_lossy();
    if except.iter().any(|e| deny_covers(e, &p)) {
        return;
    }
    let inside = except.iter().any(|e| is_under(e, &p) && e.as_str() != p);
    if !inside || kind != DirEntryKind::Dir {
        let rights: Vec<FsAccess> = match kind {
            DirEntryKind::Dir => access.to_vec(),
            _ => access
                .iter()
                .copied()
                .filter(|a| a.applies_to_files())
                .collect(),
        };
        if !rights.is_empty() {
            out.push((path.to_path_buf(), rights));
        }
        return;
    }
    let Ok(entries) = list_dir(path) else {
        tracing::debug!(path = %p, "cannot list directory for landlock rules; it stays denied");
        return;
    };
    for (name, k) in entries {
        if k == DirEntryKind::Symlink || name == "." || name == ".." {
            continue;
        }
        walk(&path.join(name), k, access, except, list_dir, out);
    }
}

pub(crate) fn compile(p: &Policy) -> LandlockRules {
    let s = &p.spec;
    let fs = &s.filesystem;
    let fs_on = eff(fs.mode, p.mode()) == Mode::Enforce;
    let exec_on = eff(s.exec.mode, p.mode()) == Mode::Enforce;
    let net_on = eff(s.network.mode, p.mode()) == Mode::Enforce;
    let denies: Vec<String> = if fs_on {
        fs.deny
            .iter()
            .map(|d| d.value.clone())
            .filter(|d| !d.contains(['*', '?', '[']))
            .collect()
    } else {
        Vec::new()
    };
    let mut r = LandlockRules::default();
    let mut handled = Vec::new();
    let mut abi = 0u8;

    if !denies.is_empty() {
        handled.extend_from_slice(FsAccess::READ);
        r.fs.push(FsGrant {
            path: "/".into(),
            access: FsAccess::READ.to_vec(),
            except: denies.clone(),
        });
        abi = abi.max(1);
    }
    if fs_on && (!denies.is_empty() || !fs.read_only.is_empty()) {
        handled.extend_from_slice(FsAccess::WRITE);
        let mut except = denies.clone();
        except.extend(fs.read_only.iter().map(|i| i.value.clone()));
        r.fs.push(FsGrant {
            path: "/".into(),
            access: FsAccess::WRITE.to_vec(),
            except,
        });
        abi = abi.max(3);
    }
    let mut exec_except = denies.clone();
    if fs_on {
        exec_except.extend(fs.no_exec.iter().map(|i| i.value.clone()));
    }
    match (&s.exec.allow, exec_on) {
        (Some(allow), true) => {
            handled.extend_from_slice(FsAccess::EXEC);
            let paths = allow
                .iter()
                .map(|i| i.value.as_str())
                .chain(ELF_INTERPRETERS.iter().copied());
            for path in paths {
                let except = exec_except
                    .iter()
                    .filter(|e| is_under(e, path))
                    .cloned()
                    .collect();
                r.fs.push(FsGrant {
                    path: path.into(),
                    access: FsAccess::EXEC.to_vec(),
                    except,
                });
            }
            abi = abi.max(1);
        }
        _ if !exec_except.is_empty() => {
            handled.extend_from_slice(FsAccess::EXEC);
            r.fs.push(FsGrant {
                path: "/".into(),
                access: FsAccess::EXEC.to_vec(),
                except: exec_except,
            });
            abi = abi.max(1);
        }
        _ => {}
    }
    handled.sort();
    handled.dedup();
    r.handled_fs = handled;

    if net_on {
        for (rules, slot) in [
            (&s.network.bind, &mut r.bind_tcp),
            (&s.network.connect, &mut r.connect_tcp),
        ] {
            let Some(rules) = rules else { continue };
            let tcp: Vec<_> = rules
                .iter()
                .map(|i| i.value)
                .filter(|n| n.proto != Proto::Udp)
                .collect();
            if tcp.iter().any(|n| n.port.is_none()) {
                continue; // an address without a port: Landlock cannot restrict by address
            }
            let mut ports: Vec<u16> = tcp.iter().filter_map(|n| n.port).collect();
            ports.sort_unstable();
            ports.dedup();
            *slot = Some(ports);
            abi = abi.max(4);
        }
    }
    r.scope_signals = s.scope.signals == Some(true);
    r.scope_abstract_unix_sockets = s.scope.abstract_unix_sockets == Some(true);
    if r.scope_signals || r.scope_abstract_unix_sockets {
        abi = abi.max(6);
    }
    r.min_abi = abi;
    r
}
