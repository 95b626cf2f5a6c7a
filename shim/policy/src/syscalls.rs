//! Syscall, errno and capability name tables (x86_64 and aarch64).

use crate::syscall_table::{AARCH64, X86_64};
use serde::{Deserialize, Serialize};

/// A CPU architecture whose syscall numbers vigil knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture this crate was built for, if vigil knows it.
    pub fn native() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Arch::X86_64 => X86_64,
            Arch::Aarch64 => AARCH64,
        }
    }
}

/// The number of syscall `name` on `arch`, or `None` where that arch has no such syscall.
pub fn syscall_number(arch: Arch, name: &str) -> Option<u32> {
    arch.table()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, nr)| *nr)
}

/// The name of syscall number `nr` on `arch`.
pub fn syscall_name(arch: Arch, nr: u32) -> Option<&'static str> {
    arch.table()
        .iter()
        .find(|(_, n)| *n == nr)
        .map(|(name, _)| *name)
}

/// True when `name` is a syscall on x86_64 or aarch64.
pub fn is_known_syscall(name: &str) -> bool {
    syscall_number(Arch::X86_64, name).is_some() || syscall_number(Arch::Aarch64, name).is_some()
}

/// Every known syscall name (both architectures, deduplicated).
pub fn all_syscall_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = X86_64.iter().chain(AARCH64).map(|(n, _)| *n).collect();
    v.sort_unstable();
    v.dedup();
    v
}

const ERRNOS: &[(&str, u32)] = &[
    ("EPERM", 1),
    ("ENOENT", 2),
    ("ESRCH", 3),
    ("EINTR", 4),
    ("EIO", 5),
    ("ENXIO", 6),
    ("E2BIG", 7),
    ("ENOEXEC", 8),
    ("EBADF", 9),
    ("ECHILD", 10),
    ("EAGAIN", 11),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("EBUSY", 16),
    ("EEXIST", 17),
    ("EXDEV", 18),
    ("ENODEV", 19),
    ("ENOTDIR", 20),
    ("EISDIR", 21),
    ("EINVAL", 22),
    ("ENFILE", 23),
    ("EMFILE", 24),
    ("ENOTTY", 25),
    ("EFBIG", 27),
    ("ENOSPC", 28),
    ("ESPIPE", 29),
    ("EROFS", 30),
    ("EMLINK", 31),
    ("EPIPE", 32),
    ("ERANGE", 34),
    ("ENOSYS", 38),
    ("ENOTSUP", 95),
    ("EOPNOTSUPP", 95),
    ("EAFNOSUPPORT", 97),
    ("EADDRINUSE", 98),
    ("ECONNREFUSED", 111),
];

/// The number of an errno name such as `EPERM`, or a plain number.
pub fn errno_number(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return (1..4096).contains(&n).then_some(n);
    }
    ERRNOS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// All errno names this crate accepts.
pub fn errno_names() -> impl Iterator<Item = &'static str> {
    ERRNOS.iter().map(|(n, _)| *n)
}

/// Linux capabilities, as OCI writes them.
pub const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Normalise `NET_RAW`, `net_raw` or `CAP_NET_RAW` to `CAP_NET_RAW`; `ALL` stays `ALL`.
pub fn normalize_capability(name: &str) -> Option<String> {
    let up = name.to_ascii_uppercase();
    if up == "ALL" {
        return Some(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    CAPABILITIES.contains(&full.as_str()).then_some(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_differ_per_arch() {
        assert_eq!(syscall_number(Arch::X86_64, "openat"), Some(257));
        assert_eq!(syscall_number(Arch::Aarch64, "openat"), Some(56));
        assert_eq!(syscall_number(Arch::X86_64, "mkdir"), Some(83));
        assert_eq!(syscall_number(Arch::Aarch64, "mkdir"), None);
        assert!(is_known_syscall("mkdir"));
        assert!(is_known_syscall("fcntl"));
        assert!(!is_known_syscall("mkdri"));
        assert_eq!(syscall_name(Arch::X86_64, 0), Some("read"));
    }

    #[test]
    fn capability_names() {
        assert_eq!(
            normalize_capability("net_raw").as_deref(),
            Some("CAP_NET_RAW")
        );
        assert_eq!(normalize_capability("CAP_BPF").as_deref(), Some("CAP_BPF"));
        assert_eq!(normalize_capability("NET_RAWW"), None);
        assert_eq!(errno_number("enosys"), Some(38));
        assert_eq!(errno_number("13"), Some(13));
    }
}
