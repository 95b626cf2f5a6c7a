//! seccomp enforcement, each in a forked child: install cannot be undone.
#![allow(unsafe_code)]

mod common;

use common::{Child, eperm, errno, have, in_child};
use vigil_sys::seccomp::{self, Action, ArgCond, ArgOp, SeccompPlan, SyscallRule};

fn seccomp_ok() -> bool {
    let p = vigil_sys::probe::seccomp();
    have(
        "seccomp with SECCOMP_FILTER_FLAG_LOG",
        p.available,
        &p.detail,
    )
}

fn deny(names: &[&str], action: Action) -> SeccompPlan {
    SeccompPlan {
        default: Action::Allow,
        rules: names
            .iter()
            .map(|n| SyscallRule {
                name: (*n).into(),
                action,
                args: vec![],
            })
            .collect(),
        log_denials: true,
    }
}

#[test]
fn denied_mkdir_fails_with_eperm_and_other_calls_work() {
    if !seccomp_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("made");
    let file = dir.path().join("file");
    let plan = deny(&["mkdir", "mkdirat"], Action::Errno(libc::EPERM as u32));
    let (t, f) = (target.clone(), file.clone());
    let out = in_child(move || {
        seccomp::apply(&plan).expect("apply seccomp");
        let nnp = vigil_sys::no_new_privs().expect("nnp");
        format!(
            "{} {} nnp={nnp}",
            errno(std::fs::create_dir(&t)),
            errno(std::fs::write(&f, b"x"))
        )
    });
    assert_eq!(out, Child::Report(format!("{} ok nnp=true", eperm())));
    assert!(!target.exists(), "mkdir ran despite the filter");
    assert!(file.exists());
}

#[test]
fn audit_mode_allows_the_call() {
    if !seccomp_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("made");
    let plan = deny(&["mkdir", "mkdirat"], Action::Errno(libc::EPERM as u32)).audit_mode();
    let t = target.clone();
    let out = in_child(move || {
        let c = seccomp::apply(&plan).expect("apply seccomp");
        format!(
            "{} filters={}",
            errno(std::fs::create_dir(&t)),
            c.filters.len()
        )
    });
    assert_eq!(out, Child::Report("ok filters=1".into()));
    assert!(target.is_dir());
}

#[test]
fn kill_process_action_kills_with_sigsys() {
    if !seccomp_ok() {
        return;
    }
    let plan = deny(&["uname"], Action::KillProcess);
    let out = in_child(move || {
        seccomp::apply(&plan).expect("apply seccomp");
        let _ = nix::sys::utsname::uname();
        "survived".into()
    });
    assert_eq!(out, Child::Signal(libc::SIGSYS));
}

#[test]
fn argument_condition_denies_only_matching_calls() {
    if !seccomp_ok() {
        return;
    }
    let plan = SeccompPlan {
        default: Action::Allow,
        rules: vec![SyscallRule {
            name: "socket".into(),
            action: Action::Errno(libc::EAFNOSUPPORT as u32),
            args: vec![ArgCond {
                index: 0,
                op: ArgOp::Eq,
                value: libc::AF_INET as u64,
            }],
        }],
        log_denials: false,
    };
    let out = in_child(move || {
        seccomp::apply(&plan).expect("apply seccomp");
        let inet = std::net::TcpListener::bind("127.0.0.1:0");
        let unix = std::os::unix::net::UnixDatagram::unbound();
        format!("{} {}", errno(inet), errno(unix))
    });
    assert_eq!(
        out,
        Child::Report(format!("errno={} ok", libc::EAFNOSUPPORT))
    );
}

#[test]
fn a_later_filter_cannot_loosen_an_earlier_one() {
    if !seccomp_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("made");
    let strict = deny(&["mkdir", "mkdirat"], Action::Errno(libc::EPERM as u32));
    let loose = strict.audit_mode();
    let out = in_child(move || {
        seccomp::apply(&strict).expect("apply strict");
        seccomp::apply(&loose).expect("apply loose");
        errno(std::fs::create_dir(&t))
    });
    assert_eq!(out, Child::Report(eperm()));
}

/// ns per getppid() over `n` calls, best of 5 runs.
fn getppid_ns(n: u32) -> f64 {
    (0..5)
        .map(|_| {
            let start = std::time::Instant::now();
            for _ in 0..n {
                // SAFETY: getppid takes no arguments and cannot fail.
                std::hint::black_box(unsafe { libc::syscall(libc::SYS_getppid) });
            }
            start.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn plain_deny_list_costs_nothing_measurable_on_getppid() {
    if !seccomp_ok() {
        return;
    }
    // Stand-in for the engine's own filter, which a container always has before ours.
    let engine = deny(
        &[
            "kexec_load",
            "init_module",
            "finit_module",
            "delete_module",
            "reboot",
            "acct",
            "swapon",
            "swapoff",
        ],
        Action::Errno(libc::EPERM as u32),
    );
    let names = [
        "mkdir",
        "mkdirat",
        "ptrace",
        "mount",
        "umount2",
        "pivot_root",
        "bpf",
        "perf_event_open",
        "open_by_handle_at",
        "add_key",
        "keyctl",
        "request_key",
        "unshare",
        "setns",
    ];
    let plain = deny(&names, Action::Errno(libc::EPERM as u32));
    let mut with_args = plain.clone();
    with_args.rules.push(SyscallRule {
        name: "getppid".into(),
        action: Action::Errno(libc::EPERM as u32),
        args: vec![ArgCond {
            index: 0,
            op: ArgOp::Eq,
            value: 12345,
        }],
    });
    let measure = |plan: SeccompPlan, engine: SeccompPlan| {
        let c = in_child(move || {
            let n = 200_000;
            let none = getppid_ns(n);
            seccomp::apply(&engine).expect("apply engine stand-in");
            let engine_only = getppid_ns(n);
            seccomp::apply(&plan).expect("apply plan");
            let both = getppid_ns(n);
            format!("{none} {engine_only} {both}")
        });
        let Child::Report(s) = c else {
            panic!("child failed: {c:?}")
        };
        let v: Vec<f64> = s.split(' ').map(|x| x.parse().expect("number")).collect();
        (v[0], v[1], v[2])
    };
    // Best of three children: other engineers' builds share these 2 cores.
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let (n1, e1, p1) = measure(plain.clone(), engine.clone());
        let (_, e2, p2) = measure(with_args.clone(), engine.clone());
        eprintln!(
            "getppid ns/call: no filter {n1:.1}, engine stand-in {e1:.1}, + vigil plain deny list \
             of {} syscalls {p1:.1} ({:+.1}); + vigil list with an argument check on getppid \
             {p2:.1} ({:+.1})",
            names.len(),
            p1 - e1,
            p2 - e2
        );
        best = best.min(p1 - e1);
        if best < 15.0 {
            break;
        }
    }
    // Noise on a shared 2-core machine is a few ns; a filter run on every call costs tens.
    assert!(
        best < 15.0,
        "vigil's plain deny list costs {best:.1} ns per getppid"
    );
}

#[test]
fn errno_denials_reach_the_audit_channel_only_with_flag_log() {
    if !seccomp_ok() {
        return;
    }
    let mut reader = match vigil_sys::audit::AuditReader::subscribe() {
        Ok(r) => r,
        Err(e) => {
            let why = format!("{e}: {:?}", std::error::Error::source(&e));
            assert!(!have("the audit read-log multicast group", false, &why));
            return;
        }
    };
    reader
        .set_timeout(std::time::Duration::from_millis(100))
        .expect("timeout");
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = format!("vgl{}", std::process::id() % 100_000);
    let child = |log: bool, name: String| {
        let mut plan = deny(&["mkdir", "mkdirat"], Action::Errno(libc::EPERM as u32));
        plan.log_denials = log;
        let t = dir.path().join(&name);
        in_child(move || {
            let cname = std::ffi::CString::new(name).expect("name");
            nix::sys::prctl::set_name(&cname).expect("set comm");
            seccomp::apply(&plan).expect("apply seccomp");
            errno(std::fs::create_dir(&t))
        })
    };
    let (logged, silent) = (format!("{tag}a"), format!("{tag}b"));
    assert_eq!(child(true, logged.clone()), Child::Report(eperm()));
    assert_eq!(child(false, silent.clone()), Child::Report(eperm()));
    let arch = seccomp::Arch::native().expect("arch");
    let numbers: Vec<String> = ["mkdir", "mkdirat"]
        .iter()
        .filter_map(|n| arch.syscall_number(n))
        .map(|n| n.to_string())
        .collect();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        match reader.recv().expect("recv") {
            Some(r) if r.kind == vigil_sys::audit::AUDIT_SECCOMP => {
                if let Some(comm) = r.field("comm")
                    && comm.starts_with(&tag)
                {
                    assert!(
                        numbers.iter().any(|n| r.field("syscall") == Some(n)),
                        "{r:?}"
                    );
                    seen.push(comm.to_string());
                }
            }
            Some(_) => {}
            None if seen.contains(&logged) => break,
            None => {}
        }
    }
    assert!(
        seen.contains(&logged),
        "no seccomp record for the FLAG_LOG child; saw {seen:?}"
    );
    assert!(
        !seen.contains(&silent),
        "an errno denial without FLAG_LOG was logged"
    );
}

/// i386 getpid through `int 0x80` from this 64-bit process.
#[cfg(target_arch = "x86_64")]
fn int80_getpid() -> i64 {
    let ret: i64;
    // SAFETY: int 0x80 with eax = 20 (i386 getpid) takes no argument and touches no memory; the
    // kernel may zero r8-r11, which are declared clobbered.
    unsafe {
        std::arch::asm!(
            "int 0x80",
            inlateout("rax") 20i64 => ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            options(nostack)
        );
    }
    ret
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_32_bit_syscall_cannot_bypass_a_deny_list() {
    if !seccomp_ok() {
        return;
    }
    let plan = deny(&["mkdir", "mkdirat"], Action::Errno(libc::EPERM as u32));
    let audit = plan.audit_mode();
    let run = |plan: SeccompPlan| {
        in_child(move || {
            let before = int80_getpid();
            if before != i64::from(std::process::id() as i32) {
                return format!("skip: int 0x80 getpid returned {before} (no IA-32 emulation)");
            }
            seccomp::apply(&plan).expect("apply seccomp");
            format!("{}", int80_getpid())
        })
    };
    let enforced = run(plan);
    if let Child::Report(s) = &enforced
        && let Some(why) = s.strip_prefix("skip: ")
        && !have("IA-32 emulation", false, why)
    {
        return;
    }
    // Enforce: every i386 syscall fails with ENOSYS. Audit: it runs (and is logged).
    assert_eq!(enforced, Child::Report(format!("{}", -libc::ENOSYS)));
    let Child::Report(pid) = run(audit) else {
        panic!("audit child failed")
    };
    assert!(pid.parse::<i64>().expect("pid") > 0, "{pid}");
}
