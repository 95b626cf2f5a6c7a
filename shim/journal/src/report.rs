//! The auditor's report: who used management functions, how each container is segregated
//! and what data it could reach and did reach, and what was blocked or audited over time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::JournalError;
use crate::entry::Kind;
use crate::query::{Filter, for_each_record};
use crate::record::Record;
use crate::time::{format_micros, now_micros, parse_time};

const MAX_OBJECTS: usize = 1000;

/// Management actions of one user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserActivity {
    pub uid: Option<u64>,
    /// Login uid (the user behind sudo), when recorded.
    pub auid: Option<u64>,
    pub actions: BTreeMap<String, u64>,
    pub containers: BTreeSet<String>,
    /// Distinct command lines (at most 20).
    pub commands: BTreeSet<String>,
    pub first: Option<String>,
    pub last: Option<String>,
}

/// What is known about one container.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ContainerInfo {
    pub policy: Option<String>,
    pub policy_digest: Option<String>,
    pub mode: Option<String>,
    pub state: Option<String>,
    pub capabilities: Option<Value>,
    pub namespaces: Option<Value>,
    pub seccomp: Option<Value>,
    pub landlock: Option<Value>,
    /// Regulated data classes the policy lets it reach (from lifecycle records).
    pub classes_reachable: BTreeSet<String>,
    /// Accesses it made to regulated data, by class.
    pub classes_accessed: BTreeMap<String, u64>,
    /// Decisions by verdict (allow, audit, deny).
    pub decisions: BTreeMap<String, u64>,
    /// Denied objects with counts (the most frequent are shown).
    pub blocked: BTreeMap<String, u64>,
    pub actions: BTreeMap<String, u64>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

/// Blocked and audited decisions in one time bucket.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Bucket {
    pub start: String,
    pub deny: u64,
    pub audit: u64,
}

/// The report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub generated: String,
    pub hosts: BTreeSet<String>,
    pub records: u64,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    pub by_kind: BTreeMap<String, u64>,
    /// Keyed `uid N` or `uid N (login uid M)`.
    pub users: BTreeMap<String, UserActivity>,
    pub containers: BTreeMap<String, ContainerInfo>,
    pub timeline: Vec<Bucket>,
    /// Width of a timeline bucket.
    pub bucket_minutes: i64,
    /// Gap records: `seq: reason`.
    pub gaps: Vec<String>,
    pub seals: u64,
    #[serde(skip)]
    minutes: BTreeMap<i64, (u64, u64)>,
}

/// Builds the report over the records `filter` selects.
pub fn build(dir: &Path, filter: &Filter) -> Result<Report, JournalError> {
    let mut rep = Report {
        generated: format_micros(now_micros()),
        ..Report::default()
    };
    for_each_record(dir, |r, _| {
        if filter.matches(r) {
            rep.add(r);
        }
        true
    })?;
    rep.finish();
    Ok(rep)
}

fn s(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl Report {
    /// Adds one record.
    pub fn add(&mut self, r: &Record) {
        self.records += 1;
        if self.first_time.is_none() {
            self.first_time = Some(r.time.clone());
        }
        self.last_time = Some(r.time.clone());
        if !self.hosts.contains(&r.host) {
            self.hosts.insert(r.host.clone());
        }
        *self.by_kind.entry(r.kind.as_str().to_string()).or_default() += 1;
        let c = r.container.as_ref().map(|id| {
            let info = self.containers.entry(id.clone()).or_default();
            if info.first_seen.is_none() {
                info.first_seen = Some(r.time.clone());
            }
            info.last_seen = Some(r.time.clone());
            info
        });
        match r.kind {
            Kind::Management => {
                let uid = r.u64("uid");
                let auid = r.u64("auid");
                let key = match (uid, auid) {
                    (Some(u), Some(a)) if a != u => format!("uid {u} (login uid {a})"),
                    (Some(u), _) => format!("uid {u}"),
                    (None, _) => "uid unknown".into(),
                };
                let action = r.str("action").unwrap_or("?").to_string();
                let u = self.users.entry(key).or_default();
                u.uid = uid;
                u.auid = auid;
                *u.actions.entry(action.clone()).or_default() += 1;
                if let Some(id) = &r.container {
                    u.containers.insert(id.clone());
                }
                if let Some(cmd) = r.str("cmdline")
                    && u.commands.len() < 20
                {
                    u.commands.insert(cmd.to_string());
                }
                if u.first.is_none() {
                    u.first = Some(r.time.clone());
                }
                u.last = Some(r.time.clone());
                if let Some(info) = c {
                    *info.actions.entry(action).or_default() += 1;
                    info.policy = r.str("policy").map(String::from).or(info.policy.take());
                    info.policy_digest = r
                        .str("policy_digest")
                        .map(String::from)
                        .or(info.policy_digest.take());
                }
            }
            Kind::Lifecycle => {
                if let Some(info) = c {
                    let d = &r.data;
                    macro_rules! keep {
                        ($f:ident, $k:literal) => {
                            if let Some(v) = s(d.get($k)) {
                                info.$f = Some(v);
                            }
                        };
                    }
                    keep!(policy, "policy");
                    keep!(policy_digest, "policy_digest");
                    keep!(mode, "mode");
                    keep!(state, "state");
                    for (k, slot) in [
                        ("capabilities", &mut info.capabilities),
                        ("namespaces", &mut info.namespaces),
                        ("seccomp", &mut info.seccomp),
                        ("landlock", &mut info.landlock),
                    ] {
                        if let Some(v) = d.get(k) {
                            *slot = Some(v.clone());
                        }
                    }
                    if let Some(a) = d.get("classes").and_then(Value::as_array) {
                        info.classes_reachable
                            .extend(a.iter().filter_map(Value::as_str).map(String::from));
                    }
                }
            }
            Kind::Decision => {
                let verdict = r.str("verdict").unwrap_or("?");
                if let Some(info) = c {
                    *info.decisions.entry(verdict.to_string()).or_default() += 1;
                    if let Some(class) = r.str("class") {
                        *info.classes_accessed.entry(class.to_string()).or_default() += 1;
                    }
                    if verdict == "deny"
                        && let Some(obj) = r.str("object")
                        && (info.blocked.len() < MAX_OBJECTS || info.blocked.contains_key(obj))
                    {
                        *info.blocked.entry(obj.to_string()).or_default() += 1;
                    }
                }
                if (verdict == "deny" || verdict == "audit")
                    && let Ok(t) = parse_time(&r.time)
                {
                    let m = self.minutes.entry(t.div_euclid(60_000_000)).or_default();
                    if verdict == "deny" {
                        m.0 += 1;
                    } else {
                        m.1 += 1;
                    }
                }
            }
            Kind::Gap => self.gaps.push(format!(
                "seq {}: {}",
                r.seq,
                r.str("reason").unwrap_or("gap")
            )),
            Kind::Seal => self.seals += 1,
            _ => {}
        }
    }

    /// Groups the per-minute counts into at most 48 buckets of a round size (call once, after
    /// the last [`Report::add`]).
    pub fn finish(&mut self) {
        let (Some((&first, _)), Some((&last, _))) = (
            self.minutes.first_key_value(),
            self.minutes.last_key_value(),
        ) else {
            return;
        };
        let span = last - first + 1;
        let size = [1i64, 5, 15, 30, 60, 180, 360, 720, 1440, 10080, 43200]
            .into_iter()
            .find(|m| span / m < 48)
            .unwrap_or(span / 47 + 1);
        self.bucket_minutes = size;
        let start = first - first.rem_euclid(size);
        let n = ((last - start) / size + 1) as usize;
        let mut b: Vec<Bucket> = (0..n)
            .map(|i| Bucket {
                start: format_micros((start + i as i64 * size) * 60_000_000),
                ..Bucket::default()
            })
            .collect();
        for (m, (deny, audit)) in &self.minutes {
            let i = ((m - start) / size) as usize;
            b[i].deny += deny;
            b[i].audit += audit;
        }
        self.timeline = b;
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

pub(crate) fn top(m: &BTreeMap<String, u64>, n: usize) -> Vec<(&String, &u64)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.truncate(n);
    v
}

pub(crate) fn join_counts(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn show(v: &Option<Value>) -> String {
    match v {
        None => "not recorded".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(o) => o.to_string(),
    }
}
