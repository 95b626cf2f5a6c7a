//! Both layers together, as the container's init applies them; each in a forked child.
#![allow(unsafe_code)]

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;

use common::{Child, eacces, eperm, errno, have, in_child};
use vigil_sys::landlock::{LandlockError, LandlockPlan};
use vigil_sys::seccomp::{self, Action, SeccompPlan, SyscallRule};

fn deny(names: &[&str]) -> SeccompPlan {
    SeccompPlan {
        default: Action::Allow,
        rules: names
            .iter()
            .map(|n| SyscallRule {
                name: (*n).into(),
                action: Action::Errno(libc::EPERM as u32),
                args: vec![],
            })
            .collect(),
        log_denials: true,
    }
}

fn layers_ok(abi: u8) -> bool {
    let s = vigil_sys::probe::seccomp();
    let l = vigil_sys::probe::landlock();
    have("seccomp", s.available, &s.detail)
        && have(
            &format!("landlock ABI {abi}"),
            vigil_sys::landlock::kernel_abi() >= abi,
            &l.detail,
        )
}

#[test]
fn enforce_applies_landlock_then_seccomp() {
    if !layers_ok(4) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_path_buf();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let compiled = seccomp::compile(
        &deny(&["mkdir", "mkdirat"]),
        seccomp::Arch::native().expect("arch"),
    )
    .expect("compile");
    let plan = LandlockPlan {
        read_write: vec![PathBuf::from("/")],
        tcp_connect: Some(vec![]),
        ..Default::default()
    };
    let out = in_child(move || {
        let st = vigil_sys::enforce(Some(&plan), Some(&compiled)).expect("enforce");
        let st = st.expect("landlock status");
        format!(
            "{} {} {} enforced={}",
            errno(std::fs::create_dir(d.join("x"))),
            errno(TcpStream::connect(("127.0.0.1", port))),
            errno(std::fs::write(d.join("f"), b"x")),
            st.enforced
        )
    });
    assert_eq!(
        out,
        Child::Report(format!("{} {} ok enforced=true", eperm(), eacces()))
    );
}

/// What the runtime must avoid: an engine filter that denies the Landlock syscalls makes the
/// kernel look Landlock-less from inside (Docker's 20.10 default profile does not list them).
#[test]
fn a_filter_denying_landlock_syscalls_hides_landlock() {
    if !layers_ok(1) {
        return;
    }
    let engine = deny(&[
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
    ]);
    let out = in_child(move || {
        seccomp::apply(&engine).expect("engine stand-in");
        let lenient = LandlockPlan {
            read_only: vec![PathBuf::from("/")],
            ..Default::default()
        };
        let st = vigil_sys::landlock::apply(&lenient).expect("best effort");
        let strict = LandlockPlan {
            min_abi: Some(1),
            ..lenient
        };
        let err = vigil_sys::landlock::apply(&strict).expect_err("required");
        let kernel = match err {
            LandlockError::AbiTooOld { kernel, .. } => kernel,
            other => panic!("unexpected {other}"),
        };
        format!("abi={} enforced={} kernel={kernel}", st.abi, st.enforced)
    });
    assert_eq!(out, Child::Report("abi=0 enforced=false kernel=0".into()));
}
