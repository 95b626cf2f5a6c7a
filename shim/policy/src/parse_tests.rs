//! Tests of parsing, locations and validation.

use crate::model::*;
use crate::parse_policy;
use std::path::Path;

pub(crate) const ISSUE_EXAMPLE: &str = r#"apiVersion: vigil.dev/v1
kind: Policy
metadata: {name: web}
spec:
  mode: enforce
  require: [seccomp, landlock]
  syscalls:
    deny: [mkdir, mkdirat]
  capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
  resources: {memory: 64Mi, pids: 64, cpu: "0.5"}
  filesystem:
    readOnlyRoot: true
    deny: [/etc/secret]
    readOnly: [/etc]
    noExec: [/tmp]
    dataClasses: {regulated: [/data/cards]}
  exec: {allow: [/bin/busybox]}
  network:
    connect: {allow: ["127.0.0.1:8081"]}
    bind: {allow: [8080]}
"#;

fn errors(text: &str) -> Vec<String> {
    let (_, diags) = parse_policy(Path::new("t.yaml"), text);
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect()
}

fn spec(body: &str) -> String {
    format!("apiVersion: vigil.dev/v1\nkind: Policy\nmetadata: {{name: t}}\nspec:\n{body}")
}

#[test]
fn issue_example_parses_without_diagnostics() {
    let (p, diags) = parse_policy(Path::new("web.yaml"), ISSUE_EXAMPLE);
    assert!(diags.is_empty(), "{diags:?}");
    let p = p.unwrap();
    assert_eq!(p.name, "web");
    assert_eq!(p.mode(), Mode::Enforce);
    assert_eq!(p.spec.resources.memory.as_ref().unwrap().value, 64 << 20);
    assert_eq!(p.spec.resources.cpu_millis.as_ref().unwrap().value, 500);
    assert_eq!(p.spec.capabilities.add[0].value, "CAP_NET_BIND_SERVICE");
    assert_eq!(
        p.spec.network.bind.as_ref().unwrap()[0].value.port,
        Some(8080)
    );
    assert_eq!(
        p.spec.filesystem.data_classes["regulated"][0].value,
        "/data/cards"
    );
    let deny = &p.spec.syscalls.deny[1].names[0];
    assert_eq!(
        (deny.value.as_str(), deny.at.line, deny.at.column),
        ("mkdirat", 8, 19)
    );
}

#[test]
fn unknown_key_is_located_and_suggested() {
    let e = errors(&spec("  filesystem:\n    readOnlyRot: true\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("t.yaml:6:5: error: unknown key \"readOnlyRot\" in filesystem; did you mean \"readOnlyRoot\"?"), "{}", e[0]);
}

#[test]
fn all_problems_are_reported_not_just_the_first() {
    let e = errors(&spec(
        "  syscalls: {deny: [mkdri, ptrace]}\n  capabilities: {drop: [NET_RAWW]}\n  resources: {memory: 64MB}\n  bogus: 1\n",
    ));
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(
        e[0].contains("t.yaml:5:21: error: unknown syscall \"mkdri\""),
        "{}",
        e[0]
    );
    assert!(e[0].contains("did you mean \"mkdir\""), "{}", e[0]);
    assert!(
        e[1].contains("unknown capability \"NET_RAWW\"") && e[1].contains("CAP_NET_RAW"),
        "{}",
        e[1]
    );
    assert!(
        e[2].contains("t.yaml:7:23: error: bad size \"64MB\""),
        "{}",
        e[2]
    );
    assert!(e[3].contains("unknown key \"bogus\" in spec"), "{}", e[3]);
}

#[test]
fn contradictions_are_errors() {
    let e = errors(&spec(
        "  syscalls: {deny: [ptrace], allow: [read, ptrace]}\n",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("syscall \"ptrace\" is both allowed here and denied at t.yaml:5:21"),
        "{}",
        e[0]
    );
    let e = errors(&spec(
        "  filesystem: {deny: [/etc/secret], readOnly: [/etc/secret/x]}\n",
    ));
    assert!(e[0].contains("denied by filesystem.deny"), "{e:?}");
    let e = errors(&spec(
        "  filesystem: {deny: [\"/data/*.key\"]}\n  exec: {allow: [/data/run.key]}\n",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    let e = errors(&spec("  capabilities: {drop: [NET_RAW], add: [net_raw]}\n"));
    assert!(e[0].contains("both added here and dropped"), "{e:?}");
    let e = errors(&spec(
        "  exec: {allow: [/tmp/x]}\n  filesystem: {noExec: [/tmp]}\n",
    ));
    assert!(e[0].contains("inside filesystem.noExec"), "{e:?}");
}

#[test]
fn header_problems() {
    let e = errors("apiVersion: vigil.dev/v2\nkind: Pod\nspec: {}\n");
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e.iter().any(|e| e.contains("t.yaml:1:13: error: apiVersion \"vigil.dev/v2\" is not supported")), "{e:?}");
    assert!(
        e.iter()
            .any(|e| e.contains("t.yaml:2:7: error: kind \"Pod\"")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("t.yaml:1:1: error: missing metadata.name")),
        "{e:?}"
    );
    let e = errors("a: [1\n");
    assert!(e[0].contains("invalid YAML"), "{e:?}");
    assert!(errors("").iter().any(|e| e.contains("empty policy file")));
}

#[test]
fn structured_syscall_rules_and_rlimits() {
    let (p, d) = parse_policy(
        Path::new("t.yaml"),
        &spec(
            "  syscalls:\n    defaultErrno: EACCES\n    deny:\n      - {name: clone3, errno: ENOSYS}\n      - names: [clone]\n        args: [{index: 0, op: maskedEq, mask: 0x10000000, value: 0x10000000}]\n      - {name: ptrace, action: kill, mode: audit}\n  rlimits: {nofile: 1024, core: {soft: 0, hard: unlimited}}\n",
        ),
    );
    assert!(d.is_empty(), "{d:?}");
    let p = p.unwrap();
    let s = &p.spec.syscalls;
    assert_eq!(s.default_errno, Some(13));
    assert_eq!(s.deny[0].errno, Some(38));
    assert_eq!(
        s.deny[1].args[0],
        ArgCondition {
            index: 0,
            op: ArgOp::MaskedEq,
            value: 0x1000_0000,
            mask: Some(0x1000_0000)
        }
    );
    assert_eq!(s.deny[2].action, Some(DenyAction::Kill));
    assert_eq!(s.deny[2].mode, Some(Mode::Audit));
    assert_eq!(
        p.spec.rlimits["core"].value,
        Rlimit {
            soft: 0,
            hard: u64::MAX
        }
    );
    let e = errors(&spec(
        "  syscalls: {deny: [{name: x1, args: [{index: 9, op: eq, value: 1}]}]}\n  rlimits: {nofiles: 1}\n",
    ));
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[2].contains("did you mean \"nofile\""), "{}", e[2]);
}

#[test]
fn paths_must_be_absolute_and_globs_only_where_allowed() {
    let e = errors(&spec(
        "  filesystem: {readOnly: [etc, \"/a/*\"], deny: [\"/b/**/*.pem\"]}\n",
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("must be absolute"));
    assert!(e[1].contains("not glob patterns"));
}
