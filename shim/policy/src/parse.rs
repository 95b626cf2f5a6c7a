//! YAML text -> [`Policy`], with every problem reported at its `file:line:column`.

use crate::diag::{Diagnostic, Location, suggest};
use crate::model::*;
use crate::reader::Reader;
use crate::syscalls::{errno_names, errno_number, is_known_syscall, normalize_capability};
use crate::units::{parse_cpu, parse_net, parse_size};
use crate::yaml::{self, Node};
use std::path::Path;

const TOP_KEYS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];
const SPEC_KEYS: &[&str] = &[
    "mode",
    "extends",
    "require",
    "syscalls",
    "capabilities",
    "resources",
    "rlimits",
    "noNewPrivileges",
    "filesystem",
    "exec",
    "network",
    "devices",
    "scope",
    "monitor",
];
pub(crate) const RLIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Parse and validate one policy file's text. Returns the policy when it could be read at all,
/// and every diagnostic found (errors and warnings).
pub fn parse_policy(file: &Path, text: &str) -> (Option<Policy>, Vec<Diagnostic>) {
    let root = match yaml::parse(file, text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            let d = Diagnostic::error(Location::new(file, 1, 1), "empty policy file");
            return (None, vec![d]);
        }
        Err(d) => return (None, vec![d]),
    };
    let mut r = Reader::default();
    let mut policy = Policy {
        source: file.to_path_buf(),
        ..Policy::default()
    };
    let (mut saw_api, mut saw_kind, mut saw_name) = (false, false, false);
    for (key, v) in r.map(&root, "the policy", TOP_KEYS) {
        match key {
            "apiVersion" => {
                saw_api = true;
                if let Some(s) = r.string(v, "apiVersion")
                    && s.value != API_VERSION
                {
                    r.error(
                        &s.at,
                        format!(
                            "apiVersion {:?} is not supported: use {API_VERSION}",
                            s.value
                        ),
                    );
                }
            }
            "kind" => {
                saw_kind = true;
                if let Some(s) = r.string(v, "kind")
                    && s.value != KIND
                {
                    r.error(
                        &s.at,
                        format!("kind {:?} is not supported here: use {KIND}", s.value),
                    );
                }
            }
            "metadata" => {
                for (k, mv) in r.map(v, "metadata", &["name", "description", "labels"]) {
                    match k {
                        "name" => {
                            if let Some(n) = r.string(mv, "metadata.name") {
                                saw_name = true;
                                check_name(&mut r, &n);
                                policy.name = n.value;
                                policy.name_at = n.at;
                            }
                        }
                        "description" => {
                            policy.description =
                                r.string(mv, "metadata.description").map(|s| s.value)
                        }
                        _ => {}
                    }
                }
            }
            "spec" => policy.spec = parse_spec(&mut r, v),
            _ => {}
        }
    }
    let top = Location::new(file, 1, 1);
    if !saw_api {
        r.error(
            &top,
            format!("missing apiVersion: add `apiVersion: {API_VERSION}`"),
        );
    }
    if !saw_kind {
        r.error(&top, format!("missing kind: add `kind: {KIND}`"));
    }
    if !saw_name {
        r.error(&top, "missing metadata.name: every policy needs a name");
        policy.name_at = top;
    }
    crate::validate::validate(&policy, &mut r);
    let mut diags = r.diags;
    diags.sort_by_key(|d| (d.location.line, d.location.column));
    (Some(policy), diags)
}

pub(crate) fn check_name(r: &mut Reader, n: &Item<String>) {
    let ok = !n.value.is_empty()
        && n.value.len() <= 63
        && n.value.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
        })
        && !n.value.starts_with('.');
    if !ok {
        r.error(
            &n.at,
            format!(
                "policy name {:?} must be 1-63 lowercase letters, digits, '-', '_' or '.'",
                n.value
            ),
        );
    }
}

fn mode(r: &mut Reader, v: &Node, what: &str) -> Option<Mode> {
    let s = r.string(v, what)?;
    match s.value.as_str() {
        "enforce" => Some(Mode::Enforce),
        "audit" => Some(Mode::Audit),
        "learn" => Some(Mode::Learn),
        other => {
            let hint = suggest(other, ["enforce", "audit", "learn"]);
            r.error(
                &s.at,
                format!("unknown mode {other:?} in {what}{hint} (enforce, audit or learn)"),
            );
            None
        }
    }
}

fn parse_spec(r: &mut Reader, node: &Node) -> Spec {
    let mut spec = Spec::default();
    for (key, v) in r.map(node, "spec", SPEC_KEYS) {
        match key {
            "mode" => spec.mode = mode(r, v, "spec.mode"),
            "extends" => {
                spec.extends = r.string(v, "spec.extends");
                if let Some(e) = &spec.extends {
                    check_name(r, e);
                }
            }
            "require" => {
                for s in r.strings(v, "spec.require") {
                    match Layer::ALL.iter().find(|(n, _)| *n == s.value) {
                        Some((_, l)) => spec.require.push(Item::new(*l, s.at)),
                        None => {
                            let hint = suggest(&s.value, Layer::ALL.iter().map(|(n, _)| *n));
                            r.error(&s.at, format!("unknown layer {:?} in spec.require{hint} (seccomp, landlock, fanotify, ebpf, cgroups)", s.value));
                        }
                    }
                }
            }
            "syscalls" => spec.syscalls = parse_syscalls(r, v),
            "capabilities" => {
                for (k, cv) in r.map(v, "capabilities", &["drop", "add"]) {
                    let what = format!("capabilities.{k}");
                    let mut caps = Vec::new();
                    for c in r.strings(cv, &what) {
                        match normalize_capability(&c.value) {
                            Some(n) if n == "ALL" && k == "add" => r.error(&c.at, "capabilities.add cannot be ALL: name each capability the workload needs"),
                            Some(n) => caps.push(Item::new(n, c.at)),
                            None => {
                                let full = format!("CAP_{}", c.value.to_ascii_uppercase().trim_start_matches("CAP_"));
                                let hint = suggest(&full, crate::syscalls::CAPABILITIES.iter().copied());
                                r.error(&c.at, format!("unknown capability {:?} in {what}{hint}", c.value));
                            }
                        }
                    }
                    if k == "drop" {
                        spec.capabilities.drop = caps
                    } else {
                        spec.capabilities.add = caps
                    }
                }
            }
            "resources" => spec.resources = parse_resources(r, v),
            "rlimits" => {
                for (k, lv) in r.map(v, "rlimits", RLIMITS) {
                    if let Some(l) = parse_rlimit(r, lv, k) {
                        spec.rlimits
                            .insert(k.to_string(), Item::new(l, lv.at.clone()));
                    }
                }
            }
            "noNewPrivileges" => spec.no_new_privileges = r.boolean(v, "noNewPrivileges"),
            "filesystem" => spec.filesystem = parse_filesystem(r, v),
            "exec" => {
                for (k, ev) in r.map(v, "exec", &["allow", "mode"]) {
                    match k {
                        "allow" => spec.exec.allow = Some(r.paths(ev, "exec.allow", false)),
                        _ => spec.exec.mode = mode(r, ev, "exec.mode"),
                    }
                }
            }
            "network" => {
                for (k, nv) in r.map(v, "network", &["connect", "bind", "mode"]) {
                    match k {
                        "mode" => spec.network.mode = mode(r, nv, "network.mode"),
                        dir => {
                            let mut rules = None;
                            for (k2, av) in r.map(nv, &format!("network.{dir}"), &["allow"]) {
                                let _ = k2;
                                let mut list = Vec::new();
                                for s in r.strings(av, &format!("network.{dir}.allow")) {
                                    match parse_net(&s.value) {
                                        Ok(rule) => list.push(Item::new(rule, s.at)),
                                        Err(e) => r.error(&s.at, e),
                                    }
                                }
                                rules = Some(list);
                            }
                            if dir == "connect" {
                                spec.network.connect = rules
                            } else {
                                spec.network.bind = rules
                            }
                        }
                    }
                }
            }
            "devices" => {
                for (_, dv) in r.map(v, "devices", &["allow"]) {
                    let mut list = Vec::new();
                    for item in r.seq(dv, "devices.allow") {
                        if let Some(d) = parse_device(r, item) {
                            list.push(Item::new(d, item.at.clone()));
                        }
                    }
                    spec.devices.allow = Some(list);
                }
            }
            "scope" => {
                for (k, sv) in r.map(v, "scope", &["signals", "abstractUnixSockets"]) {
                    let b = r.boolean(sv, &format!("scope.{k}"));
                    if k == "signals" {
                        spec.scope.signals = b
                    } else {
                        spec.scope.abstract_unix_sockets = b
                    }
                }
            }
            "monitor" => {
                for (_, mv) in r.map(v, "monitor", &["failMode"]) {
                    if let Some(s) = r.string(mv, "monitor.failMode") {
                        spec.monitor.fail_mode = match s.value.as_str() {
                            "closed" => Some(FailMode::Closed),
                            "open" => Some(FailMode::Open),
                            other => {
                                r.error(&s.at, format!("unknown failMode {other:?}: use closed (deny when the monitor is lost) or open (allow)"));
                                None
                            }
                        };
                    }
                }
            }
            _ => {}
        }
    }
    spec
}

fn parse_syscalls(r: &mut Reader, node: &Node) -> Syscalls {
    let mut s = Syscalls::default();
    for (k, v) in r.map(node, "syscalls", &["deny", "allow", "mode", "defaultErrno"]) {
        match k {
            "mode" => s.mode = mode(r, v, "syscalls.mode"),
            "defaultErrno" => s.default_errno = errno(r, v, "syscalls.defaultErrno"),
            "deny" => s.deny = syscall_rules(r, v, "syscalls.deny", true),
            _ => s.allow = Some(syscall_rules(r, v, "syscalls.allow", false)),
        }
    }
    s
}

fn errno(r: &mut Reader, v: &Node, what: &str) -> Option<u32> {
    let s = r.string(v, what)?;
    let n = errno_number(&s.value);
    if n.is_none() {
        let hint = suggest(&s.value.to_ascii_uppercase(), errno_names());
        r.error(
            &s.at,
            format!(
                "unknown errno {:?} in {what}{hint} (a name like EPERM or a number 1-4095)",
                s.value
            ),
        );
    }
    n
}

fn syscall_name(r: &mut Reader, s: Item<String>, what: &str) -> Option<Item<String>> {
    if is_known_syscall(&s.value) {
        return Some(s);
    }
    let names = crate::syscalls::all_syscall_names();
    let hint = suggest(&s.value, names.iter().copied());
    r.error(
        &s.at,
        format!(
            "unknown syscall {:?} in {what}{hint} (not a syscall on x86_64 or aarch64)",
            s.value
        ),
    );
    None
}

fn syscall_rules(r: &mut Reader, node: &Node, what: &str, deny: bool) -> Vec<SyscallRule> {
    let mut out = Vec::new();
    for item in r.seq(node, what) {
        if item.as_str().is_some() {
            if let Some(s) = r.string(item, what)
                && let Some(n) = syscall_name(r, s, what)
            {
                out.push(SyscallRule {
                    names: vec![n],
                    action: None,
                    errno: None,
                    args: Vec::new(),
                    mode: None,
                    at: item.at.clone(),
                });
            }
            continue;
        }
        let keys: &[&str] = if deny {
            &["name", "names", "action", "errno", "args", "mode"]
        } else {
            &["name", "names", "args"]
        };
        let mut rule = SyscallRule {
            names: Vec::new(),
            action: None,
            errno: None,
            args: Vec::new(),
            mode: None,
            at: item.at.clone(),
        };
        let mut named = false;
        for (k, v) in r.map(item, &format!("an entry of {what}"), keys) {
            match k {
                "name" | "names" => {
                    named = true;
                    for s in r.strings(v, what) {
                        if let Some(n) = syscall_name(r, s, what) {
                            rule.names.push(n);
                        }
                    }
                }
                "action" => {
                    if let Some(a) = r.string(v, "action") {
                        rule.action = match a.value.as_str() {
                            "errno" => Some(DenyAction::Errno),
                            "kill" => Some(DenyAction::Kill),
                            "log" => Some(DenyAction::Log),
                            other => {
                                r.error(
                                    &a.at,
                                    format!(
                                        "unknown action {other:?} in {what}: use errno, kill or log"
                                    ),
                                );
                                None
                            }
                        };
                    }
                }
                "errno" => rule.errno = errno(r, v, "errno"),
                "mode" => rule.mode = mode(r, v, "the rule's mode"),
                _ => {
                    for a in r.seq(v, "args") {
                        if let Some(c) = parse_arg(r, a) {
                            rule.args.push(c);
                        }
                    }
                }
            }
        }
        if rule.names.is_empty() {
            if !named {
                r.error(
                    &item.at,
                    format!("an entry of {what} needs `name` or `names`"),
                );
            }
            continue;
        }
        if rule.errno.is_some() && matches!(rule.action, Some(DenyAction::Kill | DenyAction::Log)) {
            r.error(&item.at, "errno only applies to action errno");
        }
        out.push(rule);
    }
    out
}

fn parse_arg(r: &mut Reader, node: &Node) -> Option<ArgCondition> {
    let before = r.diags.len();
    let (mut index, mut op, mut value, mut mask) = (None, None, None, None);
    for (k, v) in r.map(
        node,
        "an argument condition",
        &["index", "op", "value", "mask"],
    ) {
        match k {
            "index" => {
                index = r.uint(v, "args.index");
                if index.is_some_and(|i| i > 5) {
                    r.error(
                        &v.at,
                        "args.index must be 0-5 (a syscall has at most six arguments)",
                    );
                    index = None;
                }
            }
            "op" => {
                let s = r.string(v, "args.op")?;
                let ops = [
                    ("eq", ArgOp::Eq),
                    ("ne", ArgOp::Ne),
                    ("lt", ArgOp::Lt),
                    ("le", ArgOp::Le),
                    ("gt", ArgOp::Gt),
                    ("ge", ArgOp::Ge),
                    ("maskedEq", ArgOp::MaskedEq),
                ];
                op = ops.iter().find(|(n, _)| *n == s.value).map(|(_, o)| *o);
                if op.is_none() {
                    let hint = suggest(&s.value, ops.iter().map(|(n, _)| *n));
                    r.error(
                        &s.at,
                        format!(
                            "unknown op {:?}{hint} (eq, ne, lt, le, gt, ge, maskedEq)",
                            s.value
                        ),
                    );
                }
            }
            "value" => value = r.uint(v, "args.value"),
            _ => mask = r.uint(v, "args.mask"),
        }
    }
    let (Some(index), Some(op), Some(value)) = (index, op, value) else {
        if r.diags.len() == before {
            r.error(&node.at, "an argument condition needs index, op and value");
        }
        return None;
    };
    if (op == ArgOp::MaskedEq) != mask.is_some() {
        r.error(
            &node.at,
            "mask is required with op maskedEq and only allowed there",
        );
        return None;
    }
    Some(ArgCondition {
        index: index as u8,
        op,
        value,
        mask,
    })
}

fn parse_resources(r: &mut Reader, node: &Node) -> Resources {
    let mut res = Resources::default();
    for (k, v) in r.map(node, "resources", &["memory", "pids", "cpu", "ioWeight"]) {
        let Some(s) = r.string(v, &format!("resources.{k}")) else {
            continue;
        };
        match k {
            "memory" => match parse_size(&s.value) {
                Ok(b) if b < 4 << 20 => r.error(
                    &s.at,
                    format!(
                        "memory limit {:?} is below 4Mi: no container can start with it",
                        s.value
                    ),
                ),
                Ok(b) => res.memory = Some(Item::new(b, s.at)),
                Err(e) => r.error(&s.at, e),
            },
            "pids" => match s.value.parse::<u64>() {
                Ok(n) if n > 0 => res.pids = Some(Item::new(n, s.at)),
                _ => r.error(
                    &s.at,
                    format!(
                        "bad pids limit {:?}: write a positive number of processes",
                        s.value
                    ),
                ),
            },
            "cpu" => match parse_cpu(&s.value) {
                Ok(m) => res.cpu_millis = Some(Item::new(m, s.at)),
                Err(e) => r.error(&s.at, e),
            },
            _ => match s.value.parse::<u16>() {
                Ok(w) if (10..=1000).contains(&w) => res.io_weight = Some(Item::new(w, s.at)),
                _ => r.error(
                    &s.at,
                    format!("bad ioWeight {:?}: write a number from 10 to 1000", s.value),
                ),
            },
        }
    }
    res
}

fn limit_value(r: &mut Reader, v: &Node, what: &str) -> Option<u64> {
    match v.as_str() {
        Some("unlimited") => Some(u64::MAX),
        _ => r.uint(v, what),
    }
}

fn parse_rlimit(r: &mut Reader, node: &Node, name: &str) -> Option<Rlimit> {
    if node.as_str().is_some() {
        let n = limit_value(r, node, &format!("rlimits.{name}"))?;
        return Some(Rlimit { soft: n, hard: n });
    }
    let (mut soft, mut hard) = (None, None);
    for (k, v) in r.map(node, &format!("rlimits.{name}"), &["soft", "hard"]) {
        let n = limit_value(r, v, &format!("rlimits.{name}.{k}"));
        if k == "soft" { soft = n } else { hard = n }
    }
    let (Some(soft), Some(hard)) = (soft, hard) else {
        r.error(
            &node.at,
            format!("rlimits.{name} needs a number, unlimited, or both soft and hard"),
        );
        return None;
    };
    if soft > hard {
        r.error(
            &node.at,
            format!("rlimits.{name}: soft limit {soft} is above the hard limit {hard}"),
        );
        return None;
    }
    Some(Rlimit { soft, hard })
}

fn parse_filesystem(r: &mut Reader, node: &Node) -> Filesystem {
    let mut fs = Filesystem::default();
    let keys = [
        "mode",
        "readOnlyRoot",
        "deny",
        "readOnly",
        "readWrite",
        "noExec",
        "maskedPaths",
        "dataClasses",
    ];
    for (k, v) in r.map(node, "filesystem", &keys) {
        let what = format!("filesystem.{k}");
        match k {
            "mode" => fs.mode = mode(r, v, &what),
            "readOnlyRoot" => fs.read_only_root = r.boolean(v, &what),
            "deny" => fs.deny = r.paths(v, &what, true),
            "readOnly" => fs.read_only = r.paths(v, &what, false),
            "readWrite" => fs.read_write = Some(r.paths(v, &what, false)),
            "noExec" => fs.no_exec = r.paths(v, &what, false),
            "maskedPaths" => fs.masked_paths = r.paths(v, &what, false),
            _ => {
                let Some(classes) = class_map(r, v) else {
                    continue;
                };
                fs.data_classes = classes;
            }
        }
    }
    fs
}

fn class_map(
    r: &mut Reader,
    v: &Node,
) -> Option<std::collections::BTreeMap<String, Vec<Item<String>>>> {
    let crate::yaml::Value::Map(pairs) = &v.value else {
        r.error(
            &v.at,
            "filesystem.dataClasses must map a class name to a list of paths",
        );
        return None;
    };
    let mut out = std::collections::BTreeMap::new();
    for (k, pv) in pairs {
        let Some(name) = k.as_str() else { continue };
        let paths = r.paths(pv, &format!("filesystem.dataClasses.{name}"), true);
        out.insert(name.to_string(), paths);
    }
    Some(out)
}

fn parse_device(r: &mut Reader, node: &Node) -> Option<DeviceRule> {
    if let Some(p) = node.as_str() {
        if !p.starts_with("/dev/") {
            r.error(
                &node.at,
                format!(
                    "device {p:?} must be a path under /dev/ or a mapping with type, major, minor"
                ),
            );
            return None;
        }
        return Some(DeviceRule {
            path: Some(p.to_string()),
            kind: None,
            major: None,
            minor: None,
            access: "rwm".into(),
        });
    }
    let mut d = DeviceRule {
        path: None,
        kind: None,
        major: None,
        minor: None,
        access: "rwm".into(),
    };
    for (k, v) in r.map(
        node,
        "a device rule",
        &["path", "type", "major", "minor", "access"],
    ) {
        match k {
            "path" => d.path = r.string(v, "device path").map(|s| s.value),
            "type" => {
                let s = r.string(v, "device type")?;
                if !matches!(s.value.as_str(), "c" | "b" | "a") {
                    r.error(
                        &s.at,
                        format!("device type {:?} must be c, b or a", s.value),
                    );
                }
                d.kind = Some(s.value);
            }
            "major" => d.major = r.uint(v, "device major").map(|n| n as i64),
            "minor" => d.minor = r.uint(v, "device minor").map(|n| n as i64),
            _ => {
                let s = r.string(v, "device access")?;
                if s.value.is_empty() || !s.value.chars().all(|c| "rwm".contains(c)) {
                    r.error(
                        &s.at,
                        format!("device access {:?} must be letters from rwm", s.value),
                    );
                }
                d.access = s.value;
            }
        }
    }
    if d.path.is_none() && d.kind.is_none() {
        r.error(&node.at, "a device rule needs a path or a type");
        return None;
    }
    Some(d)
}
