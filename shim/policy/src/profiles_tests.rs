//! The shipped profiles: they load, compile to their golden output, and the default policy is
//! at least as tight as Docker's default seccomp profile without denying what ordinary
//! workloads need. `UPDATE_GOLDEN=1 cargo test -p vigil-policy` rewrites the golden files.

use crate::compile::{SeccompAction, SeccompRules};
use crate::{Loader, compile};
use std::path::{Path, PathBuf};

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles")
}

fn loader() -> Loader {
    Loader::new(Some(&profiles_dir()), None)
}

const PROFILES: &[&str] = &[
    "default.yaml",
    "strict.yaml",
    "examples/web-server.yaml",
    "examples/batch-job.yaml",
];

#[test]
fn profiles_check_clean_and_match_golden() {
    let dir = profiles_dir();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    for rel in PROFILES {
        let file = dir.join(rel);
        let diags = loader().check(std::slice::from_ref(&file));
        assert!(diags.is_empty(), "{rel}: {diags:#?}");
        let p = loader().load(file.to_str().unwrap()).unwrap();
        let compiled = compile(&p).unwrap();
        let json = serde_json::to_string_pretty(&compiled).unwrap() + "\n";
        let golden = dir.join("golden").join(format!("{}.json", p.name));
        if update {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &json).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{golden:?}: {e}; run with UPDATE_GOLDEN=1"));
        assert!(
            want == json,
            "{rel} compiles differently from {golden:?}; if intended, run UPDATE_GOLDEN=1 cargo test -p vigil-policy and review the diff"
        );
    }
}

#[test]
fn builtin_default_equals_the_file() {
    let from_file = loader()
        .load(profiles_dir().join("default.yaml").to_str().unwrap())
        .unwrap();
    let builtin = Loader::new(None, None).load("default").unwrap();
    assert_eq!(
        compile(&from_file).unwrap().digest,
        compile(&builtin).unwrap().digest
    );
}

/// Syscalls denied unconditionally (or with `action` other than allow/log) by the rules.
fn denied(s: &SeccompRules) -> Vec<String> {
    s.filters()
        .into_iter()
        .filter(|f| {
            matches!(
                f.match_action,
                SeccompAction::Errno(_) | SeccompAction::KillProcess
            )
        })
        .flat_map(|f| {
            f.rules
                .into_iter()
                .filter(|(_, alts)| alts.is_empty())
                .map(|(n, _)| n)
        })
        .collect()
}

#[test]
fn default_denies_what_docker_denies() {
    let c = compile(&loader().load("default").unwrap()).unwrap();
    let d = denied(&c.seccomp);
    let docker_denied = [
        "keyctl",
        "add_key",
        "request_key",
        "ptrace",
        "bpf",
        "perf_event_open",
        "mount",
        "umount2",
        "unshare",
        "setns",
        "kexec_load",
        "kexec_file_load",
        "open_by_handle_at",
        "init_module",
        "finit_module",
        "delete_module",
        "pivot_root",
        "swapon",
        "swapoff",
        "reboot",
        "acct",
        "quotactl",
        "lookup_dcookie",
        "userfaultfd",
        "process_vm_readv",
        "process_vm_writev",
        "iopl",
        "ioperm",
        "settimeofday",
        "clock_settime",
        "syslog",
        "io_uring_setup",
        "clone3",
    ];
    let missing: Vec<&&str> = docker_denied
        .iter()
        .filter(|n| !d.iter().any(|x| x == *n))
        .collect();
    assert!(missing.is_empty(), "default does not deny {missing:?}");
    // clone is denied only with namespace flags
    let clone = c
        .seccomp
        .filters()
        .into_iter()
        .find(|f| f.match_action == SeccompAction::Errno(1))
        .unwrap()
        .rules["clone"]
        .clone();
    assert_eq!(clone.len(), 7);
    assert_eq!(c.seccomp.default_action, SeccompAction::Allow);
    assert!(c.landlock.is_empty(), "default must not need Landlock");
}

#[test]
fn default_allows_what_ordinary_workloads_need() {
    // syscalls busybox, bash, nginx, redis and python3 make at startup and in normal work
    let needed = [
        "read",
        "write",
        "openat",
        "close",
        "fstat",
        "newfstatat",
        "statx",
        "lseek",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "ioctl",
        "pread64",
        "readv",
        "writev",
        "access",
        "pipe2",
        "select",
        "pselect6",
        "poll",
        "ppoll",
        "sched_yield",
        "mremap",
        "madvise",
        "dup",
        "dup2",
        "dup3",
        "nanosleep",
        "clock_nanosleep",
        "getpid",
        "sendfile",
        "socket",
        "connect",
        "accept",
        "accept4",
        "sendto",
        "recvfrom",
        "sendmsg",
        "recvmsg",
        "shutdown",
        "bind",
        "listen",
        "getsockname",
        "getpeername",
        "socketpair",
        "setsockopt",
        "getsockopt",
        "clone",
        "fork",
        "vfork",
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "wait4",
        "kill",
        "uname",
        "fcntl",
        "flock",
        "fsync",
        "fdatasync",
        "truncate",
        "ftruncate",
        "getdents64",
        "getcwd",
        "chdir",
        "fchdir",
        "rename",
        "renameat",
        "renameat2",
        "mkdir",
        "mkdirat",
        "rmdir",
        "unlink",
        "unlinkat",
        "symlink",
        "readlink",
        "readlinkat",
        "chmod",
        "fchmod",
        "fchmodat",
        "chown",
        "fchown",
        "lchown",
        "fchownat",
        "umask",
        "gettimeofday",
        "getrlimit",
        "setrlimit",
        "prlimit64",
        "getrusage",
        "sysinfo",
        "getuid",
        "getgid",
        "setuid",
        "setgid",
        "geteuid",
        "getegid",
        "setgroups",
        "setresuid",
        "setresgid",
        "getppid",
        "getpgrp",
        "setsid",
        "setpgid",
        "capget",
        "capset",
        "prctl",
        "arch_prctl",
        "futex",
        "set_tid_address",
        "set_robust_list",
        "epoll_create1",
        "epoll_ctl",
        "epoll_wait",
        "epoll_pwait",
        "eventfd2",
        "timerfd_create",
        "timerfd_settime",
        "inotify_init1",
        "signalfd4",
        "getrandom",
        "memfd_create",
        "rseq",
        "sched_getaffinity",
        "clock_gettime",
        "chroot",
        "statfs",
        "fstatfs",
        "io_setup",
        "io_submit",
        "io_getevents",
        "faccessat",
        "faccessat2",
        "utimensat",
        "tgkill",
        "sigaltstack",
        "personality",
        "mlock",
        "munlock",
        "sync_file_range",
        "fallocate",
        "copy_file_range",
        "splice",
        "tee",
    ];
    for p in ["default", "strict"] {
        let c = compile(&loader().load(p).unwrap()).unwrap();
        let d = denied(&c.seccomp);
        let broken: Vec<&&str> = needed
            .iter()
            .filter(|n| d.iter().any(|x| x == *n))
            .filter(|n| p == "default" || !["chroot", "personality"].contains(n))
            .collect();
        assert!(broken.is_empty(), "{p} denies {broken:?}");
        assert!(needed.iter().all(|n| crate::syscalls::is_known_syscall(n)));
    }
}
