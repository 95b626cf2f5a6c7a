//! Kernel audit records (seccomp 1326, Landlock 1423) of attached containers, journaled as
//! decisions. Read-only: the daemon joins the read-log multicast group and changes no audit
//! setting. A record's `pid=` is mapped to a container by its pid namespace (or, for
//! containers sharing the host's pid namespace, its cgroup); other records are dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use vigil_journal::Entry;
use vigil_monitor::identity::ns_inode;
use vigil_sys::audit::{AuditReader, AuditRecord};

use crate::server::{Info, Shared};

const SECCOMP: u16 = vigil_sys::audit::AUDIT_SECCOMP;
const LANDLOCK_ACCESS: u16 = vigil_sys::audit::AUDIT_LANDLOCK_ACCESS;

pub(crate) fn spawn(shared: Arc<Shared>) {
    let mut reader = match AuditReader::subscribe() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %crate::server::error_chain(&e), "kernel audit records are not journaled");
            return;
        }
    };
    if let Err(e) = reader.set_timeout(Duration::from_secs(1)) {
        tracing::warn!(error = %e, "audit socket timeout not set");
    }
    std::thread::spawn(move || {
        loop {
            match reader.recv() {
                Ok(Some(r)) if r.kind == SECCOMP || r.kind == LANDLOCK_ACCESS => {
                    if let Some(e) = entry(&shared, &r) {
                        shared.append(e);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "kernel audit read failed");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    });
}

fn entry(shared: &Shared, r: &AuditRecord) -> Option<Entry> {
    let pid: i32 = r.field("pid")?.parse().ok()?;
    let (id, policy, digest) = {
        let map = shared.containers.lock().ok()?;
        let info = container_of(&map, pid)?;
        let req = &info.attached.request;
        (
            req.id.clone(),
            req.policy.clone(),
            req.policy_digest.clone(),
        )
    };
    let (layer, rule, object, verdict) = if r.kind == SECCOMP {
        let syscall = r.field("syscall").unwrap_or("?");
        // SECCOMP_RET_LOG (0x7ffc0000) allowed the call; anything else refused it.
        let verdict = if r.field("code") == Some("0x7ffc0000") {
            "audit"
        } else {
            "deny"
        };
        ("seccomp", "syscalls", format!("syscall={syscall}"), verdict)
    } else {
        let object = ["path", "name", "daddr", "dest"]
            .iter()
            .find_map(|k| r.field(k))
            .unwrap_or("?")
            .to_string();
        (
            "landlock",
            r.field("blockers").unwrap_or("landlock"),
            object,
            "deny",
        )
    };
    Some(
        Entry::decision(&id, layer, rule, &object, verdict)
            .with("pid", pid)
            .with("exe", r.field("exe"))
            .with("policy", policy)
            .with("policy_digest", digest)
            .with("record", &r.text),
    )
}

/// The attached container `pid` belongs to.
fn container_of(map: &HashMap<String, Info>, pid: i32) -> Option<&Info> {
    let host_ns = ns_inode(0, "pid").ok();
    if let Ok(ns) = ns_inode(pid, "pid")
        && let Some(i) = map.values().find(|i| i.pid_ns == ns && Some(ns) != host_ns)
    {
        return Some(i);
    }
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .to_string();
    map.values().find(|i| {
        i.attached
            .request
            .cgroup_dir
            .as_ref()
            .is_some_and(|d| d.ends_with(path.trim_start_matches('/')) && path != "/")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::AttachRequest;
    use crate::registry::Attached;
    use std::sync::Mutex;
    use vigil_journal::{Journal, JournalOptions};

    fn record(kind: u16, text: &str) -> AuditRecord {
        AuditRecord {
            kind,
            text: text.into(),
        }
    }

    /// A child in its own pid namespace (`unshare -p -f sleep`), killed on drop.
    struct NsChild(std::process::Child);

    impl Drop for NsChild {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn records_of_an_attached_pid_namespace_become_decisions_and_others_are_dropped() {
        let Ok(child) = std::process::Command::new("unshare")
            .args(["-p", "-f", "sleep", "30"])
            .spawn()
        else {
            eprintln!("skipped: unshare not runnable");
            return;
        };
        let guard = NsChild(child);
        let children = format!("/proc/{0}/task/{0}/children", guard.0.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let pid: i32 = loop {
            let text = std::fs::read_to_string(&children).unwrap_or_default();
            if let Some(p) = text.split_whitespace().next().and_then(|p| p.parse().ok()) {
                break p;
            }
            if std::time::Instant::now() > deadline {
                eprintln!("skipped: no process in a new pid namespace (needs root)");
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let request = AttachRequest {
            id: "c1".into(),
            init_pid: pid,
            cgroup_dir: None,
            policy: "pol".into(),
            policy_digest: "dig".into(),
            rules: Default::default(),
        };
        let shared = Shared {
            journal: Journal::open(&dir.path().join("j"), JournalOptions::default())
                .expect("journal"),
            containers: Mutex::new(HashMap::new()),
            registry_path: dir.path().join("reg.json"),
        };
        shared.containers.lock().expect("lock").insert(
            "c1".into(),
            Info {
                attached: Attached {
                    request,
                    init_start_time: 0,
                },
                pid_ns: ns_inode(pid, "pid").expect("child pid ns"),
            },
        );
        let text = format!("audit(1.2:3): pid={pid} exe=\"/bin/mkdir\" syscall=83 code=0x50001");
        let e = entry(&shared, &record(SECCOMP, &text)).expect("attributed to c1");
        assert_eq!(e.container.as_deref(), Some("c1"));
        assert_eq!(e.str("layer"), Some("seccomp"));
        assert_eq!(e.str("verdict"), Some("deny"));
        assert_eq!(e.str("object"), Some("syscall=83"));
        assert_eq!(e.str("exe"), Some("/bin/mkdir"));
        assert_eq!(e.str("policy_digest"), Some("dig"));
        let logged = format!("audit(1.2:3): pid={pid} syscall=83 code=0x7ffc0000");
        let e = entry(&shared, &record(SECCOMP, &logged)).expect("log action");
        assert_eq!(e.str("verdict"), Some("audit"));
        let ll = format!(
            "audit(1.2:3): domain=1a blockers=fs.read_file pid={pid} comm=\"cat\" path=\"/etc/shadow\""
        );
        let e = entry(&shared, &record(LANDLOCK_ACCESS, &ll)).expect("landlock");
        assert_eq!(
            (e.str("layer"), e.str("rule"), e.str("object")),
            (Some("landlock"), Some("fs.read_file"), Some("/etc/shadow"))
        );
        // A host process (this test) and a gone pid are not in any attached container.
        let me = format!(
            "audit(1.2:3): pid={} syscall=83 code=0x50001",
            std::process::id()
        );
        assert!(entry(&shared, &record(SECCOMP, &me)).is_none());
        let gone = format!("audit(1.2:3): pid={} syscall=83 code=0x50001", i32::MAX);
        assert!(entry(&shared, &record(SECCOMP, &gone)).is_none());
    }
}
