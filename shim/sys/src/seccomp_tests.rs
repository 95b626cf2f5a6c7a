use super::*;

fn rule(name: &str, action: Action) -> SyscallRule {
    SyscallRule {
        name: name.into(),
        action,
        args: vec![],
    }
}

fn plan(default: Action, rules: Vec<SyscallRule>) -> SeccompPlan {
    SeccompPlan {
        default,
        rules,
        log_denials: true,
    }
}

#[test]
fn unknown_syscall_is_an_error_naming_it() {
    let p = plan(
        Action::Allow,
        vec![
            rule("mkdir", Action::Errno(1)),
            rule("no_such_call", Action::Errno(1)),
        ],
    );
    let err = compile(&p, Arch::X86_64).expect_err("unknown syscall must fail");
    assert!(matches!(&err, SeccompError::UnknownSyscall { name, .. } if name == "no_such_call"));
    assert!(err.to_string().contains("\"no_such_call\""), "{err}");
}

#[test]
fn names_resolve_per_architecture() {
    // mkdir exists on x86_64 only; aarch64 has mkdirat alone.
    assert_eq!(Arch::X86_64.syscall_number("mkdir"), Some(83));
    assert_eq!(Arch::Aarch64.syscall_number("mkdir"), None);
    assert_eq!(Arch::Aarch64.syscall_number("mkdirat"), Some(34));
    let p = plan(Action::Allow, vec![rule("mkdir", Action::Errno(1))]);
    assert!(compile(&p, Arch::X86_64).is_ok());
    assert!(matches!(
        compile(&p, Arch::Aarch64),
        Err(SeccompError::UnknownSyscall {
            arch: Arch::Aarch64,
            ..
        })
    ));
}

#[test]
fn bad_argument_index_is_an_error() {
    let mut r = rule("ioctl", Action::Errno(1));
    r.args.push(ArgCond {
        index: 6,
        op: ArgOp::Eq,
        value: 0,
    });
    let err = compile(&plan(Action::Allow, vec![r]), Arch::X86_64).expect_err("index 6");
    assert!(matches!(err, SeccompError::ArgIndex { index: 6, .. }));
}

#[test]
fn deny_list_makes_one_filter_per_action() {
    let p = plan(
        Action::Allow,
        vec![
            rule("mkdir", Action::Errno(1)),
            rule("mkdirat", Action::Errno(1)),
            rule("ptrace", Action::KillProcess),
            rule("getpid", Action::Allow),
        ],
    );
    let c = compile(&p, Arch::X86_64).expect("compile");
    let actions: Vec<_> = c
        .filters
        .iter()
        .map(|f| (f.match_action, f.mismatch_action))
        .collect();
    assert_eq!(
        actions,
        vec![
            (Action::Errno(1), Action::Allow),
            (Action::KillProcess, Action::Allow)
        ]
    );
}

#[test]
fn allow_list_adds_a_default_filter() {
    let p = plan(
        Action::Errno(1),
        vec![rule("read", Action::Allow), rule("write", Action::Log)],
    );
    let c = compile(&p, Arch::X86_64).expect("compile");
    assert_eq!(c.filters.len(), 2);
    assert_eq!(c.filters[0].match_action, Action::Allow);
    assert_eq!(c.filters[0].mismatch_action, Action::Errno(1));
    assert_eq!(c.filters[1].match_action, Action::Log);
}

#[test]
fn allow_everything_installs_nothing() {
    let c = compile(
        &plan(Action::Allow, vec![rule("read", Action::Allow)]),
        Arch::X86_64,
    )
    .expect("compile");
    assert!(c.filters.is_empty());
}

#[test]
fn foreign_abis_get_the_filters_own_severity() {
    let deny = plan(Action::Allow, vec![rule("mkdir", Action::Errno(1))]);
    let c = compile(&deny, Arch::X86_64).expect("compile");
    let prog = &c.filters[0].program;
    let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    assert_eq!(prog[2].k, enosys, "arch mismatch");
    assert_eq!(prog[4].k, 0x4000_0000, "x32 bit");
    assert_eq!(prog[5].k, enosys, "x32");
    let audit = compile(&deny.audit_mode(), Arch::X86_64).expect("compile");
    assert_eq!(audit.filters[0].program[2].k, libc::SECCOMP_RET_LOG);
    assert_eq!(audit.filters[0].program[5].k, libc::SECCOMP_RET_LOG);
    let kill = plan(Action::Allow, vec![rule("ptrace", Action::KillProcess)]);
    let k = compile(&kill, Arch::X86_64).expect("compile");
    assert_eq!(k.filters[0].program[2].k, libc::SECCOMP_RET_KILL_PROCESS);
    // aarch64 has no x32 ABI: no guard.
    let a = compile(
        &plan(Action::Allow, vec![rule("mkdirat", Action::Errno(1))]),
        Arch::Aarch64,
    )
    .expect("compile");
    assert!(a.filters[0].program.iter().all(|i| i.k != 0x4000_0000));
    assert_eq!(a.filters[0].program[2].k, enosys);
}

#[test]
fn audit_mode_turns_denials_into_log() {
    let p = plan(
        Action::Errno(1),
        vec![
            rule("read", Action::Allow),
            rule("ptrace", Action::KillProcess),
        ],
    );
    let a = p.audit_mode();
    assert_eq!(a.default, Action::Log);
    assert_eq!(a.rules[0].action, Action::Allow);
    assert_eq!(a.rules[1].action, Action::Log);
}
