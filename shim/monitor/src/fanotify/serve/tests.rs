use std::collections::VecDeque;
use std::time::Duration;

use super::*;
use crate::MemorySink;
use crate::fanotify::FanotifyError;

/// Scripted events: records every answer and every ignore mark.
#[derive(Default)]
struct Script {
    queue: VecDeque<PermEvent>,
    answers: Vec<(u64, bool)>,
    ignored: Vec<u64>,
}

impl PermissionEvents for Script {
    fn next(&mut self, _: Duration) -> Result<Option<PermEvent>, FanotifyError> {
        Ok(self.queue.pop_front())
    }
    fn ignore(&mut self, ev: &PermEvent) -> Result<(), FanotifyError> {
        self.ignored.push(ev.token);
        Ok(())
    }
    fn respond(&mut self, ev: &PermEvent, allow: bool) -> Result<(), FanotifyError> {
        self.answers.push((ev.token, allow));
        Ok(())
    }
}

/// pid 100..199 are in the container, 1 is a host process, 0 cannot be read.
struct Procs;
impl Processes for Procs {
    fn namespaces(&self, pid: i32) -> Option<(u64, u64)> {
        match pid {
            100..=199 => Some((7, 8)),
            1 => Some((1, 2)),
            _ => None,
        }
    }
    fn exe(&self, pid: i32) -> Option<String> {
        Some(format!("/bin/exe{pid}"))
    }
}

fn container(rules: MonitorRules) -> Container {
    Container {
        identity: ContainerIdentity {
            id: "c1".into(),
            init_pid: 100,
            mnt_ns: 7,
            pid_ns: 8,
        },
        rules,
        denied_inodes: HashMap::new(),
        host_mnt_ns: 1,
        host_pid_ns: 2,
    }
}

fn ev(token: u64, pid: i32, exec: bool, path: Option<&str>, ino: u64, nlink: u64) -> PermEvent {
    PermEvent {
        token,
        pid,
        exec,
        path: path.map(str::to_string),
        file: Some(FileId { dev: 1, ino, nlink }),
    }
}

fn run(c: &mut Container, events: Vec<PermEvent>) -> (Script, Arc<MemorySink>) {
    let mem = Arc::new(MemorySink::default());
    let sink: Arc<dyn Sink> = mem.clone();
    let mut script = Script {
        queue: events.into(),
        ..Default::default()
    };
    while let Some(e) = script.next(Duration::ZERO).expect("scripted") {
        serve(&mut script, &e, c, &Procs, &sink);
    }
    (script, mem)
}

fn deny_secret() -> MonitorRules {
    MonitorRules {
        deny_paths: vec!["/etc/secret".into()],
        ..Default::default()
    }
}

#[test]
fn denies_by_path_and_then_by_inode_through_a_hard_link() {
    let mut c = container(deny_secret());
    let (s, sink) = run(
        &mut c,
        vec![
            ev(1, 100, false, Some("/etc/secret"), 50, 2),
            ev(2, 101, false, Some("/tmp/link"), 50, 2),
        ],
    );
    assert_eq!(s.answers, vec![(1, false), (2, false)]);
    assert!(s.ignored.is_empty(), "denied inodes are never cached");
    let events = sink.events();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0].access,
        Access::Open {
            path: "/etc/secret".into()
        }
    );
    assert_eq!(
        events[1].rule.as_deref(),
        Some("deny_paths: /etc/secret (same inode)")
    );
    assert_eq!(
        (events[1].pid, events[1].exe.as_deref(), events[1].layer),
        (101, Some("/bin/exe101"), Layer::Fanotify)
    );
}

#[test]
fn inodes_known_at_attach_are_denied_under_any_name() {
    let mut c = container(deny_secret());
    c.denied_inodes
        .insert((1, 50), "deny_paths: /etc/secret".into());
    let (s, _) = run(&mut c, vec![ev(1, 100, false, Some("/tmp/x"), 50, 2)]);
    assert_eq!(s.answers, vec![(1, false)]);
}

#[test]
fn caches_only_allowed_single_link_inodes() {
    let mut c = container(deny_secret());
    let (s, sink) = run(
        &mut c,
        vec![
            ev(1, 100, false, Some("/etc/passwd"), 60, 1),
            ev(2, 100, false, Some("/etc/hosts"), 61, 3),
        ],
    );
    assert_eq!(s.answers, vec![(1, true), (2, true)]);
    assert_eq!(
        s.ignored,
        vec![1],
        "nlink 3 could be a denied file's other name"
    );
    assert!(sink.events().is_empty(), "plain allows are not reported");
}

#[test]
fn host_processes_are_allowed_unreported_and_unknown_ones_follow_the_fail_mode() {
    let mut c = container(deny_secret());
    let (s, sink) = run(
        &mut c,
        vec![
            ev(1, 1, false, Some("/etc/secret"), 50, 1),
            ev(2, 0, false, Some("/etc/passwd"), 60, 1),
        ],
    );
    assert_eq!(s.answers, vec![(1, true), (2, false)]);
    let events = sink.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].rule.as_deref(),
        Some("fail_mode: unresolved event")
    );
    let mut open = container(MonitorRules {
        fail_mode: crate::FailMode::Open,
        ..deny_secret()
    });
    let (s, sink) = run(&mut open, vec![ev(3, 100, false, None, 60, 1)]);
    assert_eq!(s.answers, vec![(3, true)]);
    assert_eq!(sink.events()[0].verdict, Verdict::Audit);
}

#[test]
fn exec_outside_the_allow_list_is_denied_and_audit_mode_allows_and_reports() {
    let rules = MonitorRules {
        exec_allow: Some(vec!["/bin/busybox".into()]),
        ..deny_secret()
    };
    let mut c = container(rules.clone());
    let (s, sink) = run(
        &mut c,
        vec![
            ev(1, 100, true, Some("/bin/busybox"), 70, 1),
            ev(2, 100, true, Some("/tmp/bb"), 71, 1),
        ],
    );
    assert_eq!(s.answers, vec![(1, true), (2, false)]);
    assert_eq!(s.ignored, vec![1]);
    assert_eq!(
        sink.events()[0].access,
        Access::Exec {
            path: "/tmp/bb".into()
        }
    );
    let mut audit = container(MonitorRules {
        mode: Mode::Audit,
        ..rules
    });
    let (s, sink) = run(
        &mut audit,
        vec![
            ev(1, 100, true, Some("/tmp/bb"), 71, 1),
            ev(2, 100, false, Some("/etc/secret"), 50, 1),
        ],
    );
    assert_eq!(s.answers, vec![(1, true), (2, true)]);
    assert!(s.ignored.is_empty(), "audited accesses stay visible");
    let verdicts: Vec<_> = sink.events().iter().map(|e| e.verdict).collect();
    assert_eq!(verdicts, vec![Verdict::Audit, Verdict::Audit]);
}

#[test]
fn learn_mode_reports_each_inode_once() {
    let mut c = container(MonitorRules {
        mode: Mode::Learn,
        ..Default::default()
    });
    let (s, sink) = run(&mut c, vec![ev(1, 100, false, Some("/etc/passwd"), 60, 1)]);
    assert_eq!((s.answers, s.ignored), (vec![(1, true)], vec![1]));
    assert_eq!(sink.events()[0].verdict, Verdict::Audit);
}
