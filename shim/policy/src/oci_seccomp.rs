//! OCI/Docker seccomp profiles: export a policy's rules (`--format oci-seccomp`) and import a
//! profile as a policy (`vigil policy import`).

use crate::compile::{SeccompAction, SeccompRules};
use crate::diag::Location;
use crate::model::*;
use crate::syscalls::is_known_syscall;
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{Value, json};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: not a JSON seccomp profile")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file}: {message}")]
    Profile { file: String, message: String },
}

/// An imported policy and what could not be carried over.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub policy: Policy,
    pub notes: Vec<String>,
}

fn action_name(a: SeccompAction) -> &'static str {
    match a {
        SeccompAction::Allow => "SCMP_ACT_ALLOW",
        SeccompAction::Errno(_) => "SCMP_ACT_ERRNO",
        SeccompAction::KillProcess => "SCMP_ACT_KILL_PROCESS",
        SeccompAction::Log => "SCMP_ACT_LOG",
    }
}

fn oci_op(op: ArgOp) -> &'static str {
    match op {
        ArgOp::Eq => "SCMP_CMP_EQ",
        ArgOp::Ne => "SCMP_CMP_NE",
        ArgOp::Lt => "SCMP_CMP_LT",
        ArgOp::Le => "SCMP_CMP_LE",
        ArgOp::Gt => "SCMP_CMP_GT",
        ArgOp::Ge => "SCMP_CMP_GE",
        ArgOp::MaskedEq => "SCMP_CMP_MASKED_EQ",
    }
}

impl SeccompRules {
    /// The rules as an OCI `linux.seccomp` object (also a Docker `--security-opt seccomp=`
    /// profile), for x86_64 and aarch64.
    pub fn to_oci_seccomp(&self) -> LinuxSeccomp {
        serde_json::from_value(self.to_oci_json())
            .expect("the JSON built here matches the OCI seccomp schema")
    }

    /// [`SeccompRules::to_oci_seccomp`] as JSON.
    pub fn to_oci_json(&self) -> Value {
        let mut syscalls = Vec::new();
        for r in &self.rules {
            let mut o = json!({"names": r.names, "action": action_name(r.action)});
            if let SeccompAction::Errno(e) = r.action {
                o["errnoRet"] = json!(e);
            }
            if !r.args.is_empty() {
                let args: Vec<Value> = r
                    .args
                    .iter()
                    .map(|a| match a.mask {
                        Some(mask) => json!({"index": a.index, "value": mask, "valueTwo": a.value, "op": oci_op(a.op)}),
                        None => json!({"index": a.index, "value": a.value, "op": oci_op(a.op)}),
                    })
                    .collect();
                o["args"] = json!(args);
            }
            syscalls.push(o);
        }
        let mut out = json!({
            "defaultAction": action_name(self.default_action),
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            "syscalls": syscalls,
        });
        if let SeccompAction::Errno(e) = self.default_action {
            out["defaultErrnoRet"] = json!(e);
        }
        if self.log_denials {
            out["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG"]);
        }
        out
    }
}

/// Turn an OCI or Docker seccomp profile (JSON text) into a policy named `name`.
/// Rules that need a capability (`includes.caps`), other architectures, or actions vigil
/// does not use (trace, notify) are left out and listed in `notes`.
pub fn import_oci_seccomp(
    file: &Path,
    json_text: &str,
    name: &str,
) -> Result<Imported, ImportError> {
    let f = file.display().to_string();
    let v: Value = serde_json::from_str(json_text).map_err(|source| ImportError::Json {
        file: f.clone(),
        source,
    })?;
    let bad = |m: &str| ImportError::Profile {
        file: f.clone(),
        message: m.to_string(),
    };
    let default = v
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("missing defaultAction"))?;
    let mut notes = Vec::new();
    let at = Location::new(file, 1, 1);
    let item = |s: &str| Item::new(s.to_string(), at.clone());
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    let entries = v
        .get("syscalls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, e) in entries.iter().enumerate() {
        if e.pointer("/includes/caps")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty())
        {
            notes.push(format!(
                "syscalls[{i}] skipped: only applies with capabilities {}",
                e["includes"]["caps"]
            ));
            continue;
        }
        if let Some(arches) = e.pointer("/includes/arches").and_then(Value::as_array)
            && !arches
                .iter()
                .filter_map(Value::as_str)
                .any(|a| matches!(a, "amd64" | "x86_64" | "arm64" | "aarch64"))
        {
            continue;
        }
        let mut names: Vec<String> = e
            .get("names")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        if let Some(n) = e.get("name").and_then(Value::as_str) {
            names.push(n.to_string());
        }
        let (known, unknown): (Vec<String>, Vec<String>) =
            names.into_iter().partition(|n| is_known_syscall(n));
        if !unknown.is_empty() {
            notes.push(format!(
                "syscalls[{i}]: not x86_64/aarch64 syscalls, left out: {}",
                unknown.join(", ")
            ));
        }
        if known.is_empty() {
            continue;
        }
        let mut args = Vec::new();
        for a in e
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let op = match a["op"].as_str().unwrap_or("") {
                "SCMP_CMP_EQ" => ArgOp::Eq,
                "SCMP_CMP_NE" => ArgOp::Ne,
                "SCMP_CMP_LT" => ArgOp::Lt,
                "SCMP_CMP_LE" => ArgOp::Le,
                "SCMP_CMP_GT" => ArgOp::Gt,
                "SCMP_CMP_GE" => ArgOp::Ge,
                "SCMP_CMP_MASKED_EQ" => ArgOp::MaskedEq,
                other => {
                    return Err(bad(&format!(
                        "syscalls[{i}]: unknown argument op {other:?}"
                    )));
                }
            };
            let index = a["index"]
                .as_u64()
                .filter(|x| *x <= 5)
                .ok_or_else(|| bad(&format!("syscalls[{i}]: bad argument index")))?
                as u8;
            let value = a["value"].as_u64().unwrap_or(0);
            let two = a["valueTwo"].as_u64().unwrap_or(0);
            args.push(match op {
                ArgOp::MaskedEq => ArgCondition {
                    index,
                    op,
                    value: two,
                    mask: Some(value),
                },
                _ => ArgCondition {
                    index,
                    op,
                    value,
                    mask: None,
                },
            });
        }
        let action = e.get("action").and_then(Value::as_str).unwrap_or("");
        let mut rule = SyscallRule {
            names: known.iter().map(|n| item(n)).collect(),
            action: None,
            errno: None,
            args,
            mode: None,
            at: at.clone(),
        };
        match action {
            "SCMP_ACT_ALLOW" => allow.push(rule),
            "SCMP_ACT_ERRNO" => {
                rule.errno = Some(
                    e.get("errnoRet")
                        .and_then(Value::as_u64)
                        .map_or(1, |x| x as u32),
                );
                deny.push(rule);
            }
            "SCMP_ACT_KILL"
            | "SCMP_ACT_KILL_PROCESS"
            | "SCMP_ACT_KILL_THREAD"
            | "SCMP_ACT_TRAP" => {
                rule.action = Some(DenyAction::Kill);
                deny.push(rule);
            }
            "SCMP_ACT_LOG" => {
                rule.action = Some(DenyAction::Log);
                deny.push(rule);
            }
            other => notes.push(format!(
                "syscalls[{i}] skipped: action {other} is not supported by vigil"
            )),
        }
    }
    let mut spec = Spec::default();
    match default {
        "SCMP_ACT_ALLOW" => {}
        "SCMP_ACT_LOG" if allow.is_empty() => {}
        "SCMP_ACT_LOG" => {
            spec.syscalls.mode = Some(Mode::Audit);
            spec.syscalls.allow = Some(allow);
        }
        "SCMP_ACT_ERRNO"
        | "SCMP_ACT_KILL"
        | "SCMP_ACT_KILL_PROCESS"
        | "SCMP_ACT_KILL_THREAD"
        | "SCMP_ACT_TRAP" => {
            if default != "SCMP_ACT_ERRNO" {
                notes.push(format!("defaultAction {default} imported as errno EPERM"));
            }
            let errno = v
                .get("defaultErrnoRet")
                .and_then(Value::as_u64)
                .map_or(1, |x| x as u32);
            spec.syscalls.default_errno = (errno != 1).then_some(errno);
            spec.syscalls.allow = Some(allow);
        }
        other => return Err(bad(&format!("unsupported defaultAction {other}"))),
    }
    spec.syscalls.deny = deny;
    let policy = Policy {
        name: name.to_string(),
        description: Some(format!("imported from {f}")),
        spec,
        source: file.to_path_buf(),
        name_at: at,
        ..Policy::default()
    };
    Ok(Imported { policy, notes })
}

/// The YAML text of an imported policy (syscalls and mode; what import produces).
pub fn to_yaml(p: &Policy) -> String {
    let mut s = format!(
        "apiVersion: {API_VERSION}\nkind: {KIND}\nmetadata:\n  name: {}\n",
        p.name
    );
    if let Some(d) = &p.description {
        s += &format!(
            "  description: {}\n",
            serde_json::to_string(d).unwrap_or_default()
        );
    }
    s += "spec:\n";
    if let Some(m) = p.spec.mode {
        s += &format!("  mode: {}\n", mode_name(m));
    }
    let sc = &p.spec.syscalls;
    s += "  syscalls:\n";
    if let Some(m) = sc.mode {
        s += &format!("    mode: {}\n", mode_name(m));
    }
    if let Some(e) = sc.default_errno {
        s += &format!("    defaultErrno: {e}\n");
    }
    for (key, rules) in [
        ("allow", sc.allow.as_deref()),
        ("deny", Some(sc.deny.as_slice())),
    ] {
        let Some(rules) = rules else { continue };
        if key == "deny" && rules.is_empty() {
            continue;
        }
        s += &format!("    {key}:{}\n", if rules.is_empty() { " []" } else { "" });
        for r in rules {
            let names: Vec<&str> = r.names.iter().map(|n| n.value.as_str()).collect();
            let plain =
                r.args.is_empty() && r.action.is_none() && r.errno.is_none() && r.mode.is_none();
            if plain {
                for n in names {
                    s += &format!("      - {n}\n");
                }
                continue;
            }
            s += &format!("      - names: [{}]\n", names.join(", "));
            if let Some(a) = r.action {
                s += &format!(
                    "        action: {}\n",
                    match a {
                        DenyAction::Errno => "errno",
                        DenyAction::Kill => "kill",
                        DenyAction::Log => "log",
                    }
                );
            }
            if let Some(e) = r.errno {
                s += &format!("        errno: {e}\n");
            }
            if !r.args.is_empty() {
                s += "        args:\n";
                for a in &r.args {
                    let op = serde_json::to_value(a.op)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    s += &format!(
                        "          - {{index: {}, op: {op}, value: {:#x}",
                        a.index, a.value
                    );
                    if let Some(m) = a.mask {
                        s += &format!(", mask: {m:#x}");
                    }
                    s += "}\n";
                }
            }
        }
    }
    s
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Enforce => "enforce",
        Mode::Audit => "audit",
        Mode::Learn => "learn",
    }
}
