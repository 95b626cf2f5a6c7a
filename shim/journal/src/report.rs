//! The auditor's report: who used management functions, how each container is segregated
//! and what data it could reach and did reach, and what was blocked or audited over time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::JournalError;
use crate::entry::Kind;
use crate::query::{Fields, Filter};
use crate::record::Record;
use crate::segment::list_segments;
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
    /// Gap records: `seq N: reason`.
    pub gaps: Vec<String>,
    pub seals: u64,
    #[serde(skip)]
    minutes: BTreeMap<i64, (u64, u64)>,
}

/// Builds the report over the records `filter` selects.
pub fn build(dir: &Path, filter: &Filter) -> Result<Report, JournalError> {
    let mut rep = Report::default();
    // Each segment in two halves on two threads, merged in order.
    for (_, path) in list_segments(dir)? {
        let bytes = std::fs::read(&path).map_err(JournalError::io("read segment", &path))?;
        let mid = memchr::memchr(b'\n', &bytes[bytes.len() / 2..])
            .map_or(bytes.len(), |p| bytes.len() / 2 + p + 1);
        let (a, b) = bytes.split_at(mid);
        let (first, second) = std::thread::scope(|s| {
            let h = s.spawn(|| part(b, filter));
            let first = part(a, filter);
            (first, h.join().unwrap_or_else(|_| part(b, filter)))
        });
        rep.merge(first);
        rep.merge(second);
    }
    rep.generated = format_micros(now_micros());
    rep.finish();
    Ok(rep)
}

/// The report over some complete lines.
fn part(bytes: &[u8], filter: &Filter) -> Report {
    let mut rep = Report::default();
    for body in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        // The borrowed view covers records whose well-known fields have the documented types;
        // anything else goes through the general parser (numbers shown as text, ...).
        if let Ok(v) = serde_json::from_slice::<View<'_>>(body) {
            if filter.matches_fields(&v) {
                rep.add_view(&v);
            }
        } else if let Ok(r) = crate::record::parse(body)
            && filter.matches(&r)
        {
            rep.add(&r);
        }
    }
    rep
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, n) in from {
        *into.entry(k).or_default() += n;
    }
}

fn later(into: &mut Option<String>, from: Option<String>) {
    if from.is_some() {
        *into = from;
    }
}

impl Report {
    /// Adds a report over later records (in journal order) to this one.
    pub fn merge(&mut self, o: Report) {
        self.records += o.records;
        if self.first_time.is_none() {
            self.first_time = o.first_time;
        }
        later(&mut self.last_time, o.last_time);
        self.hosts.extend(o.hosts);
        add_counts(&mut self.by_kind, o.by_kind);
        for (k, u) in o.users {
            let me = self.users.entry(k).or_default();
            me.uid = u.uid.or(me.uid);
            me.auid = u.auid.or(me.auid);
            add_counts(&mut me.actions, u.actions);
            me.containers.extend(u.containers);
            for c in u.commands {
                if me.commands.len() < 20 {
                    me.commands.insert(c);
                }
            }
            if me.first.is_none() {
                me.first = u.first;
            }
            later(&mut me.last, u.last);
        }
        for (k, c) in o.containers {
            let me = self.containers.entry(k).or_default();
            later(&mut me.policy, c.policy);
            later(&mut me.policy_digest, c.policy_digest);
            later(&mut me.mode, c.mode);
            later(&mut me.state, c.state);
            for (src, slot) in [
                (c.capabilities, &mut me.capabilities),
                (c.namespaces, &mut me.namespaces),
                (c.seccomp, &mut me.seccomp),
                (c.landlock, &mut me.landlock),
            ] {
                if src.is_some() {
                    *slot = src;
                }
            }
            me.classes_reachable.extend(c.classes_reachable);
            add_counts(&mut me.classes_accessed, c.classes_accessed);
            add_counts(&mut me.decisions, c.decisions);
            for (obj, n) in c.blocked {
                if me.blocked.len() < MAX_OBJECTS || me.blocked.contains_key(&obj) {
                    *me.blocked.entry(obj).or_default() += n;
                }
            }
            add_counts(&mut me.actions, c.actions);
            if me.first_seen.is_none() {
                me.first_seen = c.first_seen;
            }
            later(&mut me.last_seen, c.last_seen);
        }
        for (m, (d, a)) in o.minutes {
            let e = self.minutes.entry(m).or_default();
            e.0 += d;
            e.1 += a;
        }
        self.gaps.extend(o.gaps);
        self.seals += o.seals;
    }
}

/// The parts of a record the report reads, borrowed from the line where possible.
#[derive(Debug, Deserialize)]
pub(crate) struct View<'a> {
    pub seq: u64,
    #[serde(borrow)]
    pub time: Cow<'a, str>,
    #[serde(borrow)]
    pub host: Cow<'a, str>,
    pub kind: Kind,
    #[serde(borrow)]
    pub container: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub data: DataView<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DataView<'a> {
    #[serde(borrow)]
    pub action: Option<Cow<'a, str>>,
    pub uid: Option<u64>,
    pub auid: Option<u64>,
    #[serde(borrow)]
    pub cmdline: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub policy: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub policy_digest: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub mode: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub state: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub layer: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub verdict: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub class: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub object: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub reason: Option<Cow<'a, str>>,
    pub capabilities: Option<Value>,
    pub namespaces: Option<Value>,
    pub seccomp: Option<Value>,
    pub landlock: Option<Value>,
    pub classes: Option<Vec<Cow<'a, str>>>,
}

impl Fields for View<'_> {
    fn kind(&self) -> Kind {
        self.kind
    }
    fn container(&self) -> Option<&str> {
        self.container.as_deref()
    }
    fn data_str(&self, key: &str) -> Option<&str> {
        let d = &self.data;
        match key {
            "action" => d.action.as_deref(),
            "policy" => d.policy.as_deref(),
            "layer" => d.layer.as_deref(),
            "verdict" => d.verdict.as_deref(),
            "class" => d.class.as_deref(),
            _ => None,
        }
    }
    fn has_class(&self, class: &str) -> bool {
        self.data.class.as_deref() == Some(class)
            || self
                .data
                .classes
                .as_ref()
                .is_some_and(|c| c.iter().any(|x| x == class))
    }
    fn time(&self) -> &str {
        &self.time
    }
}

fn set(slot: &mut Option<String>, v: &str) {
    match slot {
        Some(s) => {
            s.clear();
            s.push_str(v);
        }
        None => *slot = Some(v.to_string()),
    }
}

fn bump(m: &mut BTreeMap<String, u64>, k: &str) {
    match m.get_mut(k) {
        Some(n) => *n += 1,
        None => {
            m.insert(k.to_string(), 1);
        }
    }
}

impl Report {
    /// Adds one record.
    pub fn add(&mut self, r: &Record) {
        let d = |k: &str| r.data.get(k);
        let cow = |k: &str| -> Option<Cow<'_, str>> {
            match d(k)? {
                Value::String(s) => Some(Cow::Borrowed(s.as_str())),
                Value::Null => None,
                other => Some(Cow::Owned(other.to_string())),
            }
        };
        let view = View {
            seq: r.seq,
            time: Cow::Borrowed(&r.time),
            host: Cow::Borrowed(&r.host),
            kind: r.kind,
            container: r.container.as_deref().map(Cow::Borrowed),
            data: DataView {
                action: cow("action"),
                uid: r.u64("uid"),
                auid: r.u64("auid"),
                cmdline: cow("cmdline"),
                policy: cow("policy"),
                policy_digest: cow("policy_digest"),
                mode: cow("mode"),
                state: cow("state"),
                layer: cow("layer"),
                verdict: cow("verdict"),
                class: cow("class"),
                object: cow("object"),
                reason: cow("reason"),
                capabilities: d("capabilities").cloned(),
                namespaces: d("namespaces").cloned(),
                seccomp: d("seccomp").cloned(),
                landlock: d("landlock").cloned(),
                classes: d("classes").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(Cow::Borrowed)
                        .collect()
                }),
            },
        };
        self.add_view(&view);
    }

    pub(crate) fn add_view(&mut self, r: &View<'_>) {
        self.records += 1;
        if self.first_time.is_none() {
            self.first_time = Some(r.time.to_string());
        }
        set(&mut self.last_time, &r.time);
        if !self.hosts.contains(r.host.as_ref()) {
            self.hosts.insert(r.host.to_string());
        }
        bump(&mut self.by_kind, r.kind.as_str());
        let d = &r.data;
        let c = match r.container.as_deref() {
            Some(id) => {
                if !self.containers.contains_key(id) {
                    self.containers
                        .insert(id.to_string(), ContainerInfo::default());
                }
                let info = self.containers.get_mut(id).expect("inserted above");
                if info.first_seen.is_none() {
                    info.first_seen = Some(r.time.to_string());
                }
                set(&mut info.last_seen, &r.time);
                Some(info)
            }
            None => None,
        };
        match r.kind {
            Kind::Management => {
                let (uid, auid) = (d.uid, d.auid);
                let key = match (uid, auid) {
                    (Some(u), Some(a)) if a != u => format!("uid {u} (login uid {a})"),
                    (Some(u), _) => format!("uid {u}"),
                    (None, _) => "uid unknown".into(),
                };
                let action = d.action.as_deref().unwrap_or("?");
                let u = self.users.entry(key).or_default();
                u.uid = uid;
                u.auid = auid;
                bump(&mut u.actions, action);
                if let Some(id) = r.container.as_deref()
                    && !u.containers.contains(id)
                {
                    u.containers.insert(id.to_string());
                }
                if let Some(cmd) = d.cmdline.as_deref()
                    && u.commands.len() < 20
                    && !u.commands.contains(cmd)
                {
                    u.commands.insert(cmd.to_string());
                }
                if u.first.is_none() {
                    u.first = Some(r.time.to_string());
                }
                set(&mut u.last, &r.time);
                if let Some(info) = c {
                    bump(&mut info.actions, action);
                    if let Some(p) = d.policy.as_deref() {
                        set(&mut info.policy, p);
                    }
                    if let Some(p) = d.policy_digest.as_deref() {
                        set(&mut info.policy_digest, p);
                    }
                }
            }
            Kind::Lifecycle => {
                if let Some(info) = c {
                    for (src, slot) in [
                        (&d.policy, &mut info.policy),
                        (&d.policy_digest, &mut info.policy_digest),
                        (&d.mode, &mut info.mode),
                        (&d.state, &mut info.state),
                    ] {
                        if let Some(v) = src.as_deref() {
                            set(slot, v);
                        }
                    }
                    for (src, slot) in [
                        (&d.capabilities, &mut info.capabilities),
                        (&d.namespaces, &mut info.namespaces),
                        (&d.seccomp, &mut info.seccomp),
                        (&d.landlock, &mut info.landlock),
                    ] {
                        if let Some(v) = src {
                            *slot = Some(v.clone());
                        }
                    }
                    if let Some(a) = &d.classes {
                        info.classes_reachable
                            .extend(a.iter().map(|c| c.to_string()));
                    }
                }
            }
            Kind::Decision => {
                let verdict = d.verdict.as_deref().unwrap_or("?");
                if let Some(info) = c {
                    bump(&mut info.decisions, verdict);
                    if let Some(class) = d.class.as_deref() {
                        bump(&mut info.classes_accessed, class);
                    }
                    if verdict == "deny"
                        && let Some(obj) = d.object.as_deref()
                        && (info.blocked.len() < MAX_OBJECTS || info.blocked.contains_key(obj))
                    {
                        bump(&mut info.blocked, obj);
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
                d.reason.as_deref().unwrap_or("gap")
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
