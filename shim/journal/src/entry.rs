//! What callers append: an [`Entry`] of some [`Kind`], and the [`Caller`] of a management action.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The kind of a record. Serialised in lowercase (`"management"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A container changed state (created, started, stopped, deleted) with its enforcement state.
    Lifecycle,
    /// Someone used a management function (create, start, exec, kill, pause, resume, update, delete).
    Management,
    /// An enforcement layer allowed, audited or denied something.
    Decision,
    /// Records may be missing here (crash, monitor restart, dropped kernel events).
    Gap,
    /// End of a sealing epoch: a MAC over the chain head with the epoch key.
    Seal,
    /// The monitor attached to a container.
    Attach,
    /// The monitor detached from a container.
    Detach,
    /// Old segments were removed by the retention policy.
    Retention,
    /// The journal was created.
    Init,
    /// A learn-mode observation.
    Learn,
    /// Anything else a writer wants to keep (free-form `data`).
    Note,
}

impl Kind {
    /// All kinds, in declaration order.
    pub const ALL: [Kind; 11] = [
        Kind::Lifecycle,
        Kind::Management,
        Kind::Decision,
        Kind::Gap,
        Kind::Seal,
        Kind::Attach,
        Kind::Detach,
        Kind::Retention,
        Kind::Init,
        Kind::Learn,
        Kind::Note,
    ];

    /// The lowercase name used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Lifecycle => "lifecycle",
            Kind::Management => "management",
            Kind::Decision => "decision",
            Kind::Gap => "gap",
            Kind::Seal => "seal",
            Kind::Attach => "attach",
            Kind::Detach => "detach",
            Kind::Retention => "retention",
            Kind::Init => "init",
            Kind::Learn => "learn",
            Kind::Note => "note",
        }
    }

    /// Parses a lowercase kind name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing to journal. `seq`, `time`, `host`, `prev` and `hash` are added by the journal.
///
/// Well-known `data` keys (all optional): `action`, `uid`, `gid`, `auid`, `pid`, `ppid`,
/// `cmdline`, `policy`, `policy_digest`, `layer`, `rule`, `object`, `verdict`, `exe`, `class`
/// (regulated data class), `mode`, and for lifecycle records `state`, `capabilities`,
/// `namespaces`, `seccomp`, `landlock`, `classes` (data classes the policy lets it reach).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default)]
    pub data: Map<String, Value>,
}

impl Entry {
    /// An entry of `kind` with no container and no data.
    pub fn new(kind: Kind) -> Entry {
        Entry {
            kind,
            container: None,
            data: Map::new(),
        }
    }

    /// Sets the container id.
    pub fn container(mut self, id: impl Into<String>) -> Entry {
        self.container = Some(id.into());
        self
    }

    /// Adds one `data` field (serialisable values only; a value that fails to serialise is
    /// stored as null).
    pub fn with(mut self, key: &str, value: impl Serialize) -> Entry {
        self.data.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// A management action (`create`, `start`, `exec`, `kill`, `pause`, `resume`, `update`,
    /// `delete`) with the caller's identity and the policy in force at that moment.
    pub fn management(
        action: &str,
        container: &str,
        caller: &Caller,
        policy: Option<&str>,
        policy_digest: Option<&str>,
    ) -> Entry {
        let mut e = Entry::new(Kind::Management)
            .container(container)
            .with("action", action);
        caller.fill(&mut e.data);
        if let Some(p) = policy {
            e = e.with("policy", p);
        }
        if let Some(d) = policy_digest {
            e = e.with("policy_digest", d);
        }
        e
    }

    /// A decision of an enforcement layer (`layer`: seccomp, landlock, fanotify, ebpf, ...;
    /// `verdict`: allow, audit, deny).
    pub fn decision(
        container: &str,
        layer: &str,
        rule: &str,
        object: &str,
        verdict: &str,
    ) -> Entry {
        Entry::new(Kind::Decision)
            .container(container)
            .with("layer", layer)
            .with("rule", rule)
            .with("object", object)
            .with("verdict", verdict)
    }

    /// A container state change (`created`, `running`, `stopped`, `deleted`); add the
    /// segregation facts with [`Entry::with`]: `policy`, `policy_digest`, `mode`,
    /// `capabilities`, `namespaces`, `seccomp`, `landlock`, `classes`.
    pub fn lifecycle(container: &str, state: &str) -> Entry {
        Entry::new(Kind::Lifecycle)
            .container(container)
            .with("state", state)
    }

    /// Records may be missing here (monitor restart, dropped kernel events, ...).
    pub fn gap(reason: &str) -> Entry {
        Entry::new(Kind::Gap).with("reason", reason)
    }

    /// A string field of `data`.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }
}

/// Who invoked a management function: read from `/proc/self` with std only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// Effective uid, when it differs from the real one (setuid).
    pub euid: Option<u32>,
    /// The login uid (`/proc/self/loginuid`): the user behind `sudo`, when the kernel tracks it.
    pub auid: Option<u32>,
    pub pid: u32,
    pub ppid: u32,
    /// The command line, arguments joined with spaces.
    pub cmdline: String,
    /// The parent's command line, when readable.
    pub parent_cmdline: Option<String>,
}

impl Caller {
    /// The current process. Fields that cannot be read stay at their defaults.
    pub fn current() -> Caller {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let ids = |prefix: &str| -> Vec<u32> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .map(|rest| {
                    rest.split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let uids = ids("Uid:");
        let gids = ids("Gid:");
        let uid = uids.first().copied().unwrap_or(u32::MAX);
        let euid = uids.get(1).copied().filter(|e| *e != uid);
        let auid = std::fs::read_to_string("/proc/self/loginuid")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|a| *a != u32::MAX);
        let ppid = std::os::unix::process::parent_id();
        Caller {
            uid,
            gid: gids.first().copied().unwrap_or(u32::MAX),
            euid,
            auid,
            pid: std::process::id(),
            ppid,
            cmdline: read_cmdline("/proc/self/cmdline").unwrap_or_default(),
            parent_cmdline: read_cmdline(&format!("/proc/{ppid}/cmdline")),
        }
    }

    fn fill(&self, data: &mut Map<String, Value>) {
        data.insert("uid".into(), self.uid.into());
        data.insert("gid".into(), self.gid.into());
        if let Some(e) = self.euid {
            data.insert("euid".into(), e.into());
        }
        if let Some(a) = self.auid {
            data.insert("auid".into(), a.into());
        }
        data.insert("pid".into(), self.pid.into());
        data.insert("ppid".into(), self.ppid.into());
        data.insert("cmdline".into(), self.cmdline.clone().into());
        if let Some(p) = &self.parent_cmdline {
            data.insert("parent_cmdline".into(), p.clone().into());
        }
    }
}

fn read_cmdline(path: &str) -> Option<String> {
    let raw = std::fs::read(path).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_reads_this_process() {
        let c = Caller::current();
        assert_eq!(c.pid, std::process::id());
        assert_eq!(c.ppid, std::os::unix::process::parent_id());
        assert!(!c.cmdline.is_empty(), "cmdline of the test binary");
        let status = std::fs::read_to_string("/proc/self/status").expect("test fixture");
        let uid_line = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .expect("test fixture");
        assert_eq!(
            uid_line.split_whitespace().nth(1).expect("test fixture"),
            c.uid.to_string()
        );
    }

    #[test]
    fn management_entry_has_caller_and_policy() {
        let c = Caller::current();
        let e = Entry::management("kill", "web-1", &c, Some("pci"), Some("b3:00ff"));
        assert_eq!(e.kind, Kind::Management);
        assert_eq!(e.container.as_deref(), Some("web-1"));
        assert_eq!(e.str("action"), Some("kill"));
        assert_eq!(e.data["pid"], u64::from(c.pid));
        assert_eq!(e.str("policy_digest"), Some("b3:00ff"));
        assert_eq!(
            Entry::lifecycle("c", "created").str("state"),
            Some("created")
        );
        assert_eq!(Entry::gap("monitor restarted").kind, Kind::Gap);
        let json = serde_json::to_string(&Kind::Management).expect("test fixture");
        assert_eq!(json, "\"management\"");
        assert_eq!(Kind::parse("seal"), Some(Kind::Seal));
    }
}
