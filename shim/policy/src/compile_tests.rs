//! Tests of compilation, OCI edits and the OCI seccomp round trip.

use crate::compile::*;
use crate::model::*;
use crate::{compile, parse_policy};
use oci_spec::runtime::Spec;
use serde_json::{Value, json};
use std::path::Path;

fn policy(body: &str) -> Policy {
    let text =
        format!("apiVersion: vigil.dev/v1\nkind: Policy\nmetadata: {{name: t}}\nspec:\n{body}");
    let (p, d) = parse_policy(Path::new("t.yaml"), &text);
    assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
    p.unwrap()
}

fn engine_spec() -> Spec {
    let caps = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_RAW",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
    ];
    serde_json::from_value(json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": false},
        "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": []},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}]},
        "mounts": [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}],
        "linux": {"resources": {"memory": {"limit": 1073741824_i64}, "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]},
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
            "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]}
    }))
    .unwrap()
}

fn spec_json(s: &Spec) -> Value {
    serde_json::to_value(s).unwrap()
}

#[test]
fn capabilities_are_reduced_never_widened() {
    let c = compile(&policy(
        "  capabilities: {drop: [ALL], add: [NET_BIND_SERVICE, SYS_ADMIN]}\n",
    ))
    .unwrap();
    let mut spec = engine_spec();
    let report = c.oci.apply(&mut spec).unwrap();
    let v = spec_json(&spec);
    for set in ["bounding", "effective", "permitted", "inheritable"] {
        assert_eq!(
            v["process"]["capabilities"][set],
            json!(["CAP_NET_BIND_SERVICE"]),
            "{set}"
        );
    }
    assert_eq!(report.not_granted, ["CAP_SYS_ADMIN"]);
    // the host allows SYS_ADMIN to be added: then it is granted
    let host = crate::HostConfig {
        allow_capability_add: vec!["CAP_SYS_ADMIN".into()],
        ..Default::default()
    };
    let mut spec = engine_spec();
    let report = c.oci.apply_for_host(&mut spec, &host).unwrap();
    assert_eq!(report.granted, ["CAP_SYS_ADMIN"]);
    let b = &spec_json(&spec)["process"]["capabilities"]["bounding"];
    assert!(b.as_array().unwrap().contains(&json!("CAP_SYS_ADMIN")));
    assert!(!b.as_array().unwrap().contains(&json!("CAP_CHOWN")));

    let c = compile(&policy("  capabilities: {drop: [NET_RAW]}\n")).unwrap();
    let mut spec = engine_spec();
    c.oci.apply(&mut spec).unwrap();
    let e = &spec_json(&spec)["process"]["capabilities"]["effective"];
    assert_eq!(e.as_array().unwrap().len(), 4);
    assert!(!e.as_array().unwrap().contains(&json!("CAP_NET_RAW")));
}

#[test]
fn limits_only_tighten() {
    let c = compile(&policy("  resources: {memory: 64Mi, pids: 64, cpu: \"0.5\"}\n  rlimits: {nofile: 8192, core: 0}\n  noNewPrivileges: true\n")).unwrap();
    let mut spec = engine_spec();
    c.oci.apply(&mut spec).unwrap();
    let v = spec_json(&spec);
    assert_eq!(v["linux"]["resources"]["memory"]["limit"], json!(64 << 20));
    assert_eq!(v["linux"]["resources"]["pids"]["limit"], json!(64));
    assert_eq!(v["linux"]["resources"]["cpu"]["quota"], json!(50000));
    assert_eq!(v["linux"]["resources"]["cpu"]["period"], json!(100000));
    assert_eq!(v["process"]["noNewPrivileges"], json!(true));
    let rl = v["process"]["rlimits"].as_array().unwrap();
    // nofile 8192 is above the engine's 1024/4096: the engine's lower limits stay
    assert!(
        rl.contains(&json!({"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096})),
        "{rl:?}"
    );
    assert!(
        rl.contains(&json!({"type": "RLIMIT_CORE", "soft": 0, "hard": 0})),
        "{rl:?}"
    );
    // a higher policy memory limit does not raise the engine's
    let c = compile(&policy("  resources: {memory: 2Gi}\n")).unwrap();
    let mut spec = engine_spec();
    c.oci.apply(&mut spec).unwrap();
    assert_eq!(
        spec_json(&spec)["linux"]["resources"]["memory"]["limit"],
        json!(1_073_741_824)
    );
}

#[test]
fn filesystem_edits_and_devices() {
    let c = compile(&policy("  filesystem: {readOnlyRoot: true, readOnly: [/etc], readWrite: [/tmp, /var/cache/app], maskedPaths: [/proc/acpi]}\n  devices: {allow: []}\n")).unwrap();
    let mut spec = engine_spec();
    let report = c.oci.apply(&mut spec).unwrap();
    let v = spec_json(&spec);
    assert_eq!(v["root"]["readonly"], json!(true));
    assert_eq!(v["linux"]["readonlyPaths"], json!(["/proc/sys", "/etc"]));
    assert_eq!(
        v["linux"]["maskedPaths"],
        json!(["/proc/kcore", "/proc/acpi"])
    );
    let dests: Vec<&str> = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    assert_eq!(dests, ["/tmp", "/var/cache/app"], "no second /tmp mount");
    assert_eq!(report.removed_devices, ["/dev/fuse"]);
    let rules = v["linux"]["resources"]["devices"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "{rules:?}"); // deny all + /dev/null
    assert_eq!(rules[1]["minor"], json!(3));
    // audit mode for the filesystem: nothing that would deny is applied
    let c = compile(&policy(
        "  filesystem: {mode: audit, readOnlyRoot: true, readOnly: [/etc]}\n",
    ))
    .unwrap();
    assert!(!c.oci.readonly_root && c.oci.readonly_paths.is_empty());
}

#[test]
fn seccomp_modes_and_filters() {
    let c = compile(&policy("  syscalls:\n    deny: [mkdir, {name: clone3, errno: ENOSYS}, {name: ptrace, action: kill}, {name: bpf, mode: audit}]\n")).unwrap();
    let s = &c.seccomp;
    assert_eq!(s.default_action, SeccompAction::Allow);
    assert_eq!(
        s.rules[0],
        SeccompRule {
            names: vec!["mkdir".into()],
            action: SeccompAction::Errno(1),
            args: vec![]
        }
    );
    assert_eq!(s.rules[1].action, SeccompAction::Errno(38));
    assert_eq!(s.rules[2].action, SeccompAction::KillProcess);
    assert_eq!(s.rules[3].action, SeccompAction::Log);
    let f = s.filters();
    assert_eq!(f.len(), 4, "one filter per action: {f:?}");
    assert!(f.iter().all(|f| f.mismatch_action == SeccompAction::Allow));
    // policy-wide audit: errno becomes log
    let c = compile(&policy(
        "  mode: audit\n  syscalls: {deny: [mkdir], allow: [read, execve]}\n",
    ))
    .unwrap();
    assert_eq!(c.seccomp.default_action, SeccompAction::Log);
    assert_eq!(c.seccomp.rules[2].action, SeccompAction::Log);
    // allow-list: default errno, allow filter first
    let c = compile(&policy("  syscalls:\n    defaultErrno: EACCES\n    allow: [read, execve, {name: clone, args: [{index: 0, op: maskedEq, mask: 0x10000000, value: 0}]}]\n")).unwrap();
    let f = c.seccomp.filters();
    assert_eq!(f[0].mismatch_action, SeccompAction::Errno(13));
    assert_eq!(f[0].rules["read"], Vec::<Vec<ArgCondition>>::new());
    assert_eq!(f[0].rules["clone"].len(), 1);
    let e = compile(&policy("  syscalls: {allow: [read]}\n")).unwrap_err();
    assert!(e.to_string().contains("lacks \"execve\""), "{e}");
}

#[test]
fn landlock_rules_from_filesystem_exec_and_network() {
    let c = compile(&policy("  filesystem: {deny: [/etc/secret, \"/k/*.pem\"], readOnly: [/etc], noExec: [/tmp]}\n  network: {connect: {allow: [\"127.0.0.1:8081\", \"udp:53\"]}, bind: {allow: [8080]}}\n  scope: {signals: true}\n")).unwrap();
    let l = &c.landlock;
    assert_eq!(l.min_abi, 6);
    assert_eq!(
        l.fs[0],
        FsGrant {
            path: "/".into(),
            access: FsAccess::READ.to_vec(),
            except: vec!["/etc/secret".into()]
        }
    );
    assert_eq!(l.fs[1].except, ["/etc/secret", "/etc"]);
    assert_eq!(l.fs[2].except, ["/etc/secret", "/tmp"]);
    assert_eq!(l.connect_tcp, Some(vec![8081]));
    assert_eq!(l.bind_tcp, Some(vec![8080]));
    assert!(l.scope_signals && !l.scope_abstract_unix_sockets);
    assert_eq!(c.monitor.deny_globs, ["/k/*.pem"]);
    assert_eq!(c.monitor.deny_paths, ["/etc/secret"]);
    assert!(c.monitor.uses_fanotify && c.monitor.uses_ebpf);
    assert_eq!(c.uses, [Layer::Landlock, Layer::Fanotify, Layer::Ebpf]);
    // an address without a port cannot be expressed by Landlock: connect is left to eBPF
    let c = compile(&policy("  network: {connect: {allow: [\"10.0.0.0/8\"]}}\n")).unwrap();
    assert_eq!(c.landlock.connect_tcp, None);
    assert!(c.landlock.is_empty());
}

#[test]
fn landlock_expand_grants_siblings_of_excepted_paths() {
    let c = compile(&policy("  filesystem: {deny: [/etc/secret]}\n")).unwrap();
    let mut listed = Vec::new();
    let rules = c.landlock.expand(&mut |dir: &Path| {
        listed.push(dir.to_path_buf());
        Ok(match dir.to_str().unwrap() {
            "/" => vec![
                ("etc".into(), DirEntryKind::Dir),
                ("bin".into(), DirEntryKind::Dir),
                ("lib".into(), DirEntryKind::Symlink),
            ],
            "/etc" => vec![
                ("secret".into(), DirEntryKind::File),
                ("passwd".into(), DirEntryKind::File),
                ("ssl".into(), DirEntryKind::Dir),
            ],
            _ => vec![],
        })
    });
    let read: Vec<(String, Vec<FsAccess>)> = rules
        .iter()
        .filter(|(_, a)| a.contains(&FsAccess::ReadFile))
        .map(|(p, a)| (p.display().to_string(), a.clone()))
        .collect();
    assert_eq!(
        read,
        [
            ("/etc/passwd".to_string(), vec![FsAccess::ReadFile]),
            ("/etc/ssl".to_string(), FsAccess::READ.to_vec()),
            ("/bin".to_string(), FsAccess::READ.to_vec())
        ]
    );
    assert!(
        !rules
            .iter()
            .any(|(p, _)| p == Path::new("/etc/secret") || p == Path::new("/lib"))
    );
}

#[test]
fn exec_allow_adds_the_loader() {
    let c = compile(&policy("  exec: {allow: [/usr/sbin/nginx]}\n")).unwrap();
    assert!(
        c.landlock
            .fs
            .iter()
            .any(|g| g.path == "/usr/sbin/nginx" && g.access == [FsAccess::Execute])
    );
    assert!(
        c.landlock
            .fs
            .iter()
            .any(|g| g.path == "/lib64/ld-linux-x86-64.so.2")
    );
    assert_eq!(c.landlock.handled_fs, [FsAccess::Execute]);
    assert!(
        c.monitor
            .exec_allow
            .as_ref()
            .unwrap()
            .contains(&"/usr/sbin/nginx".to_string())
    );
    let c = compile(&policy("  exec: {allow: [/usr/sbin/nginx], mode: learn}\n")).unwrap();
    assert!(c.landlock.is_empty());
    assert!(c.monitor.record && c.monitor.exec_mode == Mode::Learn);
}

#[test]
fn digest_changes_with_content_not_location() {
    let a = compile(&policy("  syscalls: {deny: [mkdir]}\n")).unwrap();
    let b = compile(&policy("  syscalls:\n    deny:\n      - mkdir\n")).unwrap();
    let c = compile(&policy("  syscalls: {deny: [rmdir]}\n")).unwrap();
    assert_eq!(a.digest, b.digest);
    assert_ne!(a.digest, c.digest);
    assert_eq!(a.digest.len(), 64);
}

#[test]
fn unresolved_policy_is_refused() {
    let e = compile(&policy("  extends: default\n")).unwrap_err();
    assert!(matches!(e, CompileError::Unresolved { .. }));
}

#[test]
fn oci_seccomp_export_import_round_trip() {
    let p = policy(
        "  syscalls:\n    deny:\n      - mkdir\n      - {name: clone3, errno: ENOSYS}\n      - {name: ptrace, action: kill}\n      - names: [clone]\n        args: [{index: 0, op: maskedEq, mask: 0x10000000, value: 0x10000000}]\n",
    );
    let c = compile(&p).unwrap();
    let oci = c.seccomp.to_oci_seccomp();
    let text = serde_json::to_string_pretty(&oci).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["defaultAction"], json!("SCMP_ACT_ALLOW"));
    assert_eq!(
        v["syscalls"][3]["args"][0],
        json!({"index": 0, "value": 0x1000_0000_u64, "valueTwo": 0x1000_0000_u64, "op": "SCMP_CMP_MASKED_EQ"})
    );
    let imported = crate::import_oci_seccomp(Path::new("p.json"), &text, "back").unwrap();
    assert!(imported.notes.is_empty(), "{:?}", imported.notes);
    let c2 = compile(&imported.policy).unwrap();
    assert_eq!(c2.seccomp.filters(), c.seccomp.filters());
    // the YAML written by import parses back to the same rules
    let yaml = crate::oci_seccomp::to_yaml(&imported.policy);
    let (p3, d) = parse_policy(Path::new("back.yaml"), &yaml);
    assert!(d.is_empty(), "{d:?}\n{yaml}");
    assert_eq!(
        compile(&p3.unwrap()).unwrap().seccomp.filters(),
        c.seccomp.filters()
    );
}

#[test]
fn import_docker_style_allow_list() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
        "syscalls": [
            {"names": ["read", "write", "execve", "_llseek"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["s390_pci_mmio_read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
        ]
    })
    .to_string();
    let i = crate::import_oci_seccomp(Path::new("docker.json"), &profile, "docker").unwrap();
    let allow: Vec<&str> = i
        .policy
        .spec
        .syscalls
        .allow
        .as_ref()
        .unwrap()
        .iter()
        .flat_map(|r| &r.names)
        .map(|n| n.value.as_str())
        .collect();
    assert_eq!(allow, ["read", "write", "execve"]);
    assert_eq!(i.notes.len(), 2, "{:?}", i.notes);
    let c = compile(&i.policy).unwrap();
    assert_eq!(c.seccomp.default_action, SeccompAction::Errno(1));
    assert_eq!(c.seccomp.rules[1].action, SeccompAction::Errno(38));
    assert!(crate::import_oci_seccomp(Path::new("x.json"), "{", "x").is_err());
}
