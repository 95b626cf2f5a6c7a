//! probe: what this host's kernel supports, for `vigil doctor` and a policy's `require`.
//!
//! Every probe is read-only: it loads and closes a trivial object at most (a fanotify group, an
//! unattached BPF program) and never changes a host setting (kernel audit is only queried with
//! `AUDIT_GET`). Each returns a [`Probe`] whose `detail` says what was found or why the feature
//! is unavailable.

mod btf;

use std::path::Path;

pub use crate::raw::AuditStatus;

/// Result of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Short stable name (`landlock`, `seccomp`, `fanotify`, `bpf-cgroup-sock-addr`, `bpf-lsm`,
    /// `cgroup`, `audit`).
    pub name: &'static str,
    /// The feature works here.
    pub available: bool,
    /// What was found, or the reason it is unavailable.
    pub detail: String,
}

impl Probe {
    fn new(name: &'static str, available: bool, detail: impl Into<String>) -> Self {
        Probe {
            name,
            available,
            detail: detail.into(),
        }
    }
}

/// Every probe, in `vigil doctor` order.
pub fn all() -> Vec<Probe> {
    vec![
        landlock(),
        seccomp(),
        fanotify(),
        bpf_cgroup_sock_addr(),
        bpf_lsm(),
        cgroup(),
        audit(),
    ]
}

/// Landlock: the kernel's ABI via `landlock_create_ruleset(..., LANDLOCK_CREATE_RULESET_VERSION)`.
pub fn landlock() -> Probe {
    match crate::raw::landlock_abi() {
        Ok(abi) => {
            let what = match abi {
                1..=3 => "filesystem only",
                4..=5 => "filesystem, TCP bind/connect",
                6 => "filesystem, TCP, signal and abstract-socket scoping",
                _ => "filesystem, TCP, scoping, audit logging of denials",
            };
            Probe::new(
                "landlock",
                true,
                format!(
                    "ABI {abi} ({what}); vigil uses up to ABI {}",
                    crate::landlock::MAX_ABI
                ),
            )
        }
        Err(e) => {
            let why = match e.raw_os_error() {
                Some(libc::EOPNOTSUPP) => "built in but not enabled at boot (lsm= list)".into(),
                Some(libc::ENOSYS) => "not built into this kernel".into(),
                _ => format!("landlock_create_ruleset() failed: {e}"),
            };
            Probe::new("landlock", false, why)
        }
    }
}

/// seccomp filters, the `log` and `errno` actions (`/proc/sys/kernel/seccomp/actions_avail`) and
/// `SECCOMP_FILTER_FLAG_LOG`.
pub fn seccomp() -> Probe {
    let path = "/proc/sys/kernel/seccomp/actions_avail";
    let actions = match std::fs::read_to_string(path) {
        Ok(s) => s.trim().to_string(),
        Err(e) => return Probe::new("seccomp", false, format!("cannot read {path}: {e}")),
    };
    let has = |a: &str| actions.split_whitespace().any(|x| x == a);
    let missing: Vec<&str> = ["errno", "log", "kill_process"]
        .into_iter()
        .filter(|a| !has(a))
        .collect();
    let flag_log = crate::raw::seccomp_flags_supported(libc::SECCOMP_FILTER_FLAG_LOG);
    match (missing.is_empty(), flag_log) {
        (true, Ok(true)) => Probe::new(
            "seccomp",
            true,
            format!("actions: {actions}; SECCOMP_FILTER_FLAG_LOG supported"),
        ),
        (false, _) => Probe::new(
            "seccomp",
            false,
            format!("actions {missing:?} missing from {path} ({actions})"),
        ),
        (true, Ok(false)) => Probe::new(
            "seccomp",
            false,
            "SECCOMP_FILTER_FLAG_LOG rejected (EINVAL): denials cannot be logged",
        ),
        (true, Err(e)) => Probe::new("seccomp", false, format!("seccomp() failed: {e}")),
    }
}

/// fanotify permission events: `fanotify_init(FAN_CLASS_CONTENT)`, then close.
pub fn fanotify() -> Probe {
    let flags = libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC;
    match crate::raw::fanotify_init(flags, libc::O_RDONLY as libc::c_uint) {
        Ok(fd) => {
            drop(fd);
            Probe::new(
                "fanotify",
                true,
                "FAN_CLASS_CONTENT group created: permission events (FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM) available",
            )
        }
        Err(e) => {
            let why = match e.raw_os_error() {
                Some(libc::EPERM) => "needs CAP_SYS_ADMIN in the initial user namespace".into(),
                Some(libc::EINVAL) => {
                    "FAN_CLASS_CONTENT rejected: kernel lacks CONFIG_FANOTIFY_ACCESS_PERMISSIONS"
                        .into()
                }
                Some(libc::ENOSYS) => "kernel built without fanotify".into(),
                _ => format!("fanotify_init() failed: {e}"),
            };
            Probe::new("fanotify", false, why)
        }
    }
}

const BPF_MOV64_R0_1: u64 = 0xb7 | (1 << 32);
const BPF_MOV64_R0_0: u64 = 0xb7;
const BPF_EXIT: u64 = 0x95;

/// A trivial `cgroup/connect4` (BPF_PROG_TYPE_CGROUP_SOCK_ADDR) program loaded, not attached,
/// then closed.
pub fn bpf_cgroup_sock_addr() -> Probe {
    const BPF_PROG_TYPE_CGROUP_SOCK_ADDR: u32 = 18;
    const BPF_CGROUP_INET4_CONNECT: u32 = 10;
    let mut log = vec![0u8; 4096];
    match crate::raw::bpf_prog_load(
        BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
        BPF_CGROUP_INET4_CONNECT,
        0,
        &[BPF_MOV64_R0_1, BPF_EXIT],
        &mut log,
    ) {
        Ok(fd) => {
            drop(fd);
            Probe::new(
                "bpf-cgroup-sock-addr",
                true,
                "cgroup/connect4 program loaded: inline connect/bind/sendmsg decisions available",
            )
        }
        Err(e) => Probe::new(
            "bpf-cgroup-sock-addr",
            false,
            format!(
                "bpf(BPF_PROG_LOAD) of a cgroup/connect4 program failed: {e}{}",
                verifier(&log)
            ),
        ),
    }
}

/// BPF LSM: `bpf` in `/sys/kernel/security/lsm`, and an `lsm/file_open` program (found in
/// `/sys/kernel/btf/vmlinux`) loaded, not attached, then closed.
pub fn bpf_lsm() -> Probe {
    const BPF_PROG_TYPE_LSM: u32 = 29;
    const BPF_LSM_MAC: u32 = 27;
    let lsm_path = "/sys/kernel/security/lsm";
    // None: securityfs not mounted here, the list is unknown.
    let lsms = std::fs::read_to_string(lsm_path)
        .ok()
        .map(|s| s.trim().to_string());
    if let Some(list) = &lsms
        && !list.split(',').any(|l| l == "bpf")
    {
        return Probe::new(
            "bpf-lsm",
            false,
            format!(
                "`bpf` is not in the active LSM list ({list}): LSM programs would load and enforce nothing"
            ),
        );
    }
    let btf_path = Path::new("/sys/kernel/btf/vmlinux");
    let id = match btf::find_func(btf_path, "bpf_lsm_file_open") {
        Ok(Some(id)) => id,
        Ok(None) => {
            return Probe::new(
                "bpf-lsm",
                false,
                "bpf_lsm_file_open not found in kernel BTF",
            );
        }
        Err(e) => {
            return Probe::new(
                "bpf-lsm",
                false,
                format!("cannot read {}: {e}", btf_path.display()),
            );
        }
    };
    let mut log = vec![0u8; 4096];
    let loaded = crate::raw::bpf_prog_load(
        BPF_PROG_TYPE_LSM,
        BPF_LSM_MAC,
        id,
        &[BPF_MOV64_R0_0, BPF_EXIT],
        &mut log,
    );
    match (loaded, lsms) {
        (Ok(_fd), Some(list)) => Probe::new(
            "bpf-lsm",
            true,
            format!("lsm/file_open program loaded (LSMs: {list})"),
        ),
        (Ok(_fd), None) => Probe::new(
            "bpf-lsm",
            false,
            format!(
                "lsm/file_open program loaded, but {lsm_path} is unreadable (securityfs not mounted): cannot confirm `bpf` is an active LSM"
            ),
        ),
        (Err(e), list) => Probe::new(
            "bpf-lsm",
            false,
            format!(
                "loading an lsm/file_open program failed: {e}{} (LSMs: {})",
                verifier(&log),
                list.as_deref().unwrap_or("unknown, securityfs not mounted")
            ),
        ),
    }
}

fn verifier(log: &[u8]) -> String {
    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!("; verifier: {}", text.lines().last().unwrap_or(text))
    }
}

/// The host's cgroup layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupMode {
    /// cgroup2 mounted at /sys/fs/cgroup.
    Unified,
    /// v1 controllers plus a cgroup2 hierarchy (usually /sys/fs/cgroup/unified).
    Hybrid,
    /// v1 controllers only.
    Legacy,
}

/// The cgroup mode from the mounts in `mountinfo` text (`/proc/self/mountinfo` format).
pub fn cgroup_mode_from(mountinfo: &str) -> Option<CgroupMode> {
    let mut v1 = false;
    let mut v2_root = false;
    let mut v2_other = false;
    for line in mountinfo.lines() {
        let mount_point = line.split(' ').nth(4).unwrap_or("");
        let fstype = line
            .split_once(" - ")
            .and_then(|(_, rest)| rest.split(' ').next())
            .unwrap_or("");
        match fstype {
            "cgroup2" if mount_point == "/sys/fs/cgroup" => v2_root = true,
            "cgroup2" => v2_other = true,
            "cgroup" => v1 = true,
            _ => {}
        }
    }
    match (v2_root, v1, v2_other) {
        (true, _, _) => Some(CgroupMode::Unified),
        (false, true, true) => Some(CgroupMode::Hybrid),
        (false, true, false) => Some(CgroupMode::Legacy),
        (false, false, true) => Some(CgroupMode::Unified),
        (false, false, false) => None,
    }
}

/// cgroup mode: v2 (unified), hybrid or v1, from /proc/self/mountinfo.
pub fn cgroup() -> Probe {
    let path = "/proc/self/mountinfo";
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Probe::new("cgroup", false, format!("cannot read {path}: {e}")),
    };
    match cgroup_mode_from(&text) {
        Some(CgroupMode::Unified) => Probe::new("cgroup", true, "v2 (unified)"),
        Some(CgroupMode::Hybrid) => Probe::new(
            "cgroup",
            true,
            "hybrid: v1 controllers, cgroup2 beside them (cgroup BPF programs need the container in the cgroup2 tree)",
        ),
        Some(CgroupMode::Legacy) => Probe::new(
            "cgroup",
            true,
            "v1 only: no cgroup2 hierarchy for cgroup BPF programs",
        ),
        None => Probe::new("cgroup", false, "no cgroup filesystem mounted"),
    }
}

/// The kernel audit status, read-only (`AUDIT_GET`; needs CAP_AUDIT_CONTROL).
pub fn audit_status() -> std::io::Result<AuditStatus> {
    crate::raw::audit_get()
}

/// Kernel audit channel: present, and whether auditing is on (Landlock denials are logged only
/// then; seccomp records are emitted either way). Never changes the setting.
pub fn audit() -> Probe {
    match audit_status() {
        Ok(s) => {
            let state = match s.enabled {
                0 => "disabled (Landlock denials are not logged; seccomp records still are)",
                1 => "enabled",
                _ => "enabled and locked",
            };
            Probe::new(
                "audit",
                true,
                format!(
                    "kernel audit {state}; auditd pid {}, backlog_limit {}, lost {}",
                    s.pid, s.backlog_limit, s.lost
                ),
            )
        }
        Err(e) => {
            let loginuid = Path::new("/proc/self/loginuid").exists();
            if loginuid {
                Probe::new(
                    "audit",
                    true,
                    format!(
                        "kernel has audit support (/proc/self/loginuid exists); state unknown: AUDIT_GET failed: {e}"
                    ),
                )
            } else {
                Probe::new(
                    "audit",
                    false,
                    format!("no kernel audit: AUDIT_GET failed: {e}"),
                )
            }
        }
    }
}

/// The kernel's Landlock ABI version (0 when Landlock is missing or disabled).
pub fn landlock_abi() -> Result<u8, std::io::Error> {
    crate::raw::landlock_abi().map(|v| u8::try_from(v.max(0)).unwrap_or(u8::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_modes_from_mountinfo() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup_mode_from(v2), Some(CgroupMode::Unified));
        let hybrid = "30 23 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n\
            31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
            32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(cgroup_mode_from(hybrid), Some(CgroupMode::Hybrid));
        let v1 = "32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(cgroup_mode_from(v1), Some(CgroupMode::Legacy));
        assert_eq!(
            cgroup_mode_from("1 2 0:1 / / rw - ext4 /dev/sda rw\n"),
            None
        );
    }

    #[test]
    fn every_probe_has_a_reason() {
        for p in all() {
            eprintln!("{:<22} {:<5} {}", p.name, p.available, p.detail);
            assert!(!p.detail.is_empty(), "{} has no detail", p.name);
        }
    }
}
