//! OCI spec edits: applied to config.json before libcontainer reads it. They only tighten what
//! the engine asked for (capabilities are never widened unless the policy adds them *and* the
//! host configuration allows it).

use super::eff;
use crate::config::HostConfig;
use crate::model::{DeviceRule, Mode, Policy};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("failed to convert the OCI spec to JSON")]
    ToJson(#[source] serde_json::Error),
    #[error("the OCI spec is no longer valid after the policy's edits")]
    FromJson(#[source] serde_json::Error),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityEdits {
    /// Drop every capability not in `add`.
    pub drop_all: bool,
    pub drop: Vec<String>,
    /// Kept even when dropped; granted beyond the engine's set only if the host allows it.
    pub add: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RlimitEdit {
    /// OCI name, e.g. `RLIMIT_NOFILE`.
    #[serde(rename = "type")]
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OciEdits {
    pub capabilities: CapabilityEdits,
    pub no_new_privileges: bool,
    /// Upper bounds; the engine's lower values are kept.
    pub memory_limit: Option<u64>,
    pub pids_limit: Option<u64>,
    pub cpu_millis: Option<u64>,
    pub io_weight: Option<u16>,
    pub rlimits: Vec<RlimitEdit>,
    pub readonly_root: bool,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    /// tmpfs mounts added for `readWrite` paths under a read-only root (unless already mounted).
    pub tmpfs: Vec<String>,
    /// Present = only these devices (and the standard pseudo-devices) stay.
    pub devices: Option<Vec<DeviceRule>>,
}

/// What `apply` did that the caller may want to log or journal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    /// Capabilities the policy adds that the engine did not give and the host does not allow.
    pub not_granted: Vec<String>,
    /// Capabilities added beyond the engine's set (allowed by the host configuration).
    pub granted: Vec<String>,
    pub removed_devices: Vec<String>,
}

const CAP_SETS: &[&str] = &[
    "bounding",
    "effective",
    "permitted",
    "inheritable",
    "ambient",
];
/// (major, minor) of pseudo-devices every container keeps; minor -1 = any.
const STANDARD_DEVICES: &[(i64, i64)] = &[
    (1, 3),
    (1, 5),
    (1, 7),
    (1, 8),
    (1, 9),
    (5, 0),
    (5, 1),
    (5, 2),
    (136, -1),
];

pub(crate) fn compile(p: &Policy) -> OciEdits {
    let s = &p.spec;
    let fs_enforced = eff(s.filesystem.mode, p.mode()) == Mode::Enforce;
    let drop_all = s.capabilities.drop.iter().any(|c| c.value == "ALL");
    let ro_root = fs_enforced && s.filesystem.read_only_root == Some(true);
    OciEdits {
        capabilities: CapabilityEdits {
            drop_all,
            drop: s
                .capabilities
                .drop
                .iter()
                .filter(|c| c.value != "ALL")
                .map(|c| c.value.clone())
                .collect(),
            add: s.capabilities.add.iter().map(|c| c.value.clone()).collect(),
        },
        no_new_privileges: s.no_new_privileges == Some(true),
        memory_limit: s.resources.memory.as_ref().map(|i| i.value),
        pids_limit: s.resources.pids.as_ref().map(|i| i.value),
        cpu_millis: s.resources.cpu_millis.as_ref().map(|i| i.value),
        io_weight: s.resources.io_weight.as_ref().map(|i| i.value),
        rlimits: s
            .rlimits
            .iter()
            .map(|(k, v)| RlimitEdit {
                kind: format!("RLIMIT_{}", k.to_ascii_uppercase()),
                soft: v.value.soft,
                hard: v.value.hard,
            })
            .collect(),
        readonly_root: ro_root,
        masked_paths: s
            .filesystem
            .masked_paths
            .iter()
            .map(|i| i.value.clone())
            .collect(),
        readonly_paths: if fs_enforced {
            s.filesystem
                .read_only
                .iter()
                .map(|i| i.value.clone())
                .collect()
        } else {
            Vec::new()
        },
        tmpfs: if ro_root {
            s.filesystem
                .read_write
                .iter()
                .flatten()
                .map(|i| i.value.clone())
                .collect()
        } else {
            Vec::new()
        },
        devices: s
            .devices
            .allow
            .as_ref()
            .map(|l| l.iter().map(|d| d.value.clone()).collect()),
    }
}

impl OciEdits {
    pub fn has_cgroup_limits(&self) -> bool {
        self.memory_limit.is_some()
            || self.pids_limit.is_some()
            || self.cpu_millis.is_some()
            || self.io_weight.is_some()
            || self.devices.is_some()
    }

    /// Edit `spec` in place; never widens capabilities beyond the engine's.
    pub fn apply(&self, spec: &mut Spec) -> Result<ApplyReport, OciError> {
        self.apply_allowing(spec, &[])
    }

    /// Like [`OciEdits::apply`], but capabilities in `capabilities.add` that the host
    /// configuration lists in `allowCapabilityAdd` are granted even if the engine did not.
    pub fn apply_for_host(
        &self,
        spec: &mut Spec,
        host: &HostConfig,
    ) -> Result<ApplyReport, OciError> {
        self.apply_allowing(spec, &host.allow_capability_add)
    }

    fn apply_allowing(
        &self,
        spec: &mut Spec,
        allow_add: &[String],
    ) -> Result<ApplyReport, OciError> {
        let mut v = serde_json::to_value(&*spec).map_err(OciError::ToJson)?;
        let mut report = ApplyReport::default();
        self.edit_process(&mut v, allow_add, &mut report);
        self.edit_fs(&mut v);
        self.edit_resources(&mut v, &mut report);
        *spec = serde_json::from_value(v).map_err(OciError::FromJson)?;
        Ok(report)
    }

    fn edit_process(&self, v: &mut Value, allow_add: &[String], report: &mut ApplyReport) {
        let c = &self.capabilities;
        let kept = |cap: &str| {
            c.add.iter().any(|a| a == cap) || !(c.drop_all || c.drop.iter().any(|d| d == cap))
        };
        let proc = obj(v, "process");
        let caps = obj(proc, "capabilities");
        let engine_bounding: Vec<String> = strings(caps.get("bounding"));
        for set in CAP_SETS {
            if let Some(Value::Array(list)) = caps.get_mut(*set) {
                list.retain(|x| x.as_str().is_some_and(kept));
            }
        }
        for a in &c.add {
            if engine_bounding.contains(a) {
                continue;
            }
            if allow_add.contains(a) {
                for set in ["bounding", "effective", "permitted"] {
                    push_unique(obj_array(caps, set), a);
                }
                report.granted.push(a.clone());
            } else {
                report.not_granted.push(a.clone());
            }
        }
        if self.no_new_privileges {
            proc["noNewPrivileges"] = json!(true);
        }
        if !self.rlimits.is_empty() {
            let list = obj_array(proc, "rlimits");
            for r in &self.rlimits {
                match list.iter_mut().find(|x| x["type"] == json!(r.kind)) {
                    Some(x) => {
                        let soft = x["soft"].as_u64().unwrap_or(u64::MAX).min(r.soft);
                        let hard = x["hard"].as_u64().unwrap_or(u64::MAX).min(r.hard);
                        x["soft"] = json!(soft.min(hard));
                        x["hard"] = json!(hard);
                    }
                    None => list.push(json!({"type": r.kind, "soft": r.soft, "hard": r.hard})),
                }
            }
        }
    }

    fn edit_fs(&self, v: &mut Value) {
        if self.readonly_root {
            obj(v, "root")["readonly"] = json!(true);
        }
        let linux = obj(v, "linux");
        for p in &self.masked_paths {
            push_unique(obj_array(linux, "maskedPaths"), p);
        }
        for p in &self.readonly_paths {
            push_unique(obj_array(linux, "readonlyPaths"), p);
        }
        let mounts = obj_array(v, "mounts");
        for p in &self.tmpfs {
            if !mounts.iter().any(|m| {
                m["destination"]
                    .as_str()
                    .is_some_and(|d| crate::reader::normalize_path(d) == *p)
            }) {
                mounts.push(json!({"destination": p, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}));
            }
        }
    }

    fn edit_resources(&self, v: &mut Value, report: &mut ApplyReport) {
        if !self.has_cgroup_limits() {
            return;
        }
        let linux = obj(v, "linux");
        let nodes: BTreeMap<String, (String, i64, i64)> = linux
            .get("devices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| {
                Some((
                    d["path"].as_str()?.to_string(),
                    (
                        d["type"].as_str()?.to_string(),
                        d["major"].as_i64()?,
                        d["minor"].as_i64()?,
                    ),
                ))
            })
            .collect();
        if let Some(allow) = &self.devices {
            let matches = |kind: &str, major: i64, minor: i64, path: Option<&str>| {
                allow.iter().any(|r| {
                    let by_path = r.path.as_deref().is_some_and(|p| {
                        Some(p) == path
                            || nodes.get(p).is_some_and(|(k, ma, mi)| {
                                k == kind && *ma == major && *mi == minor
                            })
                    });
                    let by_num = r.kind.as_deref().is_some_and(|k| k == "a" || k == kind)
                        && r.major.is_none_or(|m| m == major)
                        && r.minor.is_none_or(|m| m == minor);
                    by_path || (r.path.is_none() && by_num)
                })
            };
            let standard = |kind: &str, major: i64, minor: i64| {
                kind == "c"
                    && STANDARD_DEVICES
                        .iter()
                        .any(|(ma, mi)| *ma == major && (*mi == -1 || *mi == minor))
            };
            if let Some(Value::Array(devs)) = linux.get_mut("devices") {
                devs.retain(|d| {
                    let (k, ma, mi) = (
                        d["type"].as_str().unwrap_or(""),
                        d["major"].as_i64().unwrap_or(-1),
                        d["minor"].as_i64().unwrap_or(-1),
                    );
                    let keep = standard(k, ma, mi) || matches(k, ma, mi, d["path"].as_str());
                    if !keep {
                        report
                            .removed_devices
                            .push(d["path"].as_str().unwrap_or("?").to_string());
                    }
                    keep
                });
            }
            let res = obj(linux, "resources");
            let rules = obj_array(res, "devices");
            rules.retain(|r| {
                if r["allow"] != json!(true) {
                    return true;
                }
                let (k, ma, mi) = (
                    r["type"].as_str().unwrap_or("a"),
                    r["major"].as_i64().unwrap_or(-1),
                    r["minor"].as_i64().unwrap_or(-1),
                );
                k != "a" && ma >= 0 && mi >= 0 && (standard(k, ma, mi) || matches(k, ma, mi, None))
            });
            let deny_all = json!({"allow": false, "access": "rwm"});
            if rules.first() != Some(&deny_all) {
                rules.insert(0, deny_all);
            }
        }
        let res = obj(obj(v, "linux"), "resources");
        if let Some(limit) = self.memory_limit {
            let m = obj(res, "memory");
            let cur = m.get("limit").and_then(Value::as_i64).filter(|l| *l > 0);
            m["limit"] = json!(cur.map_or(limit as i64, |c| c.min(limit as i64)));
        }
        if let Some(limit) = self.pids_limit {
            let p = obj(res, "pids");
            let cur = p.get("limit").and_then(Value::as_i64).filter(|l| *l > 0);
            p["limit"] = json!(cur.map_or(limit as i64, |c| c.min(limit as i64)));
        }
        if let Some(millis) = self.cpu_millis {
            let c = obj(res, "cpu");
            let period = c
                .get("period")
                .and_then(Value::as_u64)
                .filter(|p| *p > 0)
                .unwrap_or(100_000);
            let want = (millis * period / 1000).max(1000) as i64;
            let cur = c.get("quota").and_then(Value::as_i64).filter(|q| *q > 0);
            c["period"] = json!(period);
            c["quota"] = json!(cur.map_or(want, |q| q.min(want)));
        }
        if let Some(w) = self.io_weight {
            let b = obj(res, "blockIO");
            let cur = b.get("weight").and_then(Value::as_u64).filter(|x| *x > 0);
            b["weight"] = json!(cur.map_or(w as u64, |c| c.min(w as u64)));
        }
    }
}

fn obj<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    if !v.is_object() {
        *v = json!({});
    }
    let m = v.as_object_mut().expect("just made an object");
    let e = m.entry(key).or_insert_with(|| json!({}));
    if !e.is_object() {
        *e = json!({});
    }
    e
}

fn obj_array<'a>(v: &'a mut Value, key: &str) -> &'a mut Vec<Value> {
    if !v.is_object() {
        *v = json!({});
    }
    let m = v.as_object_mut().expect("just made an object");
    let e = m.entry(key).or_insert_with(|| json!([]));
    if !e.is_array() {
        *e = json!([]);
    }
    e.as_array_mut().expect("just made an array")
}

fn push_unique(list: &mut Vec<Value>, s: &str) {
    if !list.iter().any(|x| x.as_str() == Some(s)) {
        list.push(json!(s));
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}
