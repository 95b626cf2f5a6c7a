//! The fanotify backend against real containers started by target/debug/vigil (root only).

mod common;

use std::sync::Arc;

use common::{Container, SECRET};
use vigil_monitor::{
    Access, ContainerIdentity, FanotifyMonitor, Layer, MemorySink, Mode, MonitorRules, Sink,
    Verdict,
};

fn setup() -> Option<(std::path::PathBuf, Arc<MemorySink>, FanotifyMonitor)> {
    let vigil = common::container_prereqs()?;
    if let Err(e) = FanotifyMonitor::probe() {
        common::skip(&format!("fanotify permission events are unavailable: {e}"));
        return None;
    }
    let sink = Arc::new(MemorySink::default());
    let dyn_sink: Arc<dyn Sink> = sink.clone();
    Some((vigil, sink, FanotifyMonitor::new(dyn_sink)))
}

fn attach(monitor: &FanotifyMonitor, c: &Container, rules: MonitorRules) {
    let identity = ContainerIdentity::from_pid(&c.id, c.init_pid()).expect("identity");
    let marked = monitor.attach(identity, rules).expect("attach");
    for m in ["/", "/dev", "/sys"] {
        assert!(
            marked.iter().any(|p| p == std::path::Path::new(m)),
            "{m} not in marked {marked:?}"
        );
    }
    assert!(
        !marked.iter().any(|p| p == std::path::Path::new("/proc")),
        "procfs refuses permission events"
    );
}

fn deny_secret() -> MonitorRules {
    MonitorRules {
        deny_paths: vec!["/etc/secret".into()],
        ..Default::default()
    }
}

#[test]
fn the_first_instruction_reading_a_denied_file_is_refused() {
    let Some((vigil, sink, monitor)) = setup() else {
        return;
    };
    let c = Container::create(&vigil, "first", "exec /bin/cat /etc/secret");
    attach(&monitor, &c, deny_secret());
    c.start();
    c.wait_stopped();
    assert!(
        c.stderr().contains("Operation not permitted"),
        "stderr: {}",
        c.stderr()
    );
    assert!(
        !c.stdout().contains(SECRET),
        "secret leaked: {}",
        c.stdout()
    );
    let events = sink.events();
    let denied: Vec<_> = events
        .iter()
        .filter(|e| e.verdict == Verdict::Deny)
        .collect();
    assert_eq!(denied.len(), 1, "{events:?}");
    let e = denied[0];
    assert_eq!(
        e.access,
        Access::Open {
            path: "/etc/secret".into()
        }
    );
    assert_eq!(
        (e.container.as_str(), e.layer),
        (c.id.as_str(), Layer::Fanotify)
    );
    assert_eq!(e.rule.as_deref(), Some("deny_paths: /etc/secret"));
    assert_eq!(
        e.exe.as_deref(),
        Some("/bin/busybox"),
        "exe is seen inside the container"
    );
    assert!(monitor.detach(&c.id));
}

#[test]
fn symlinks_hard_links_proc_root_and_copied_binaries_are_refused() {
    let Some((vigil, sink, monitor)) = setup() else {
        return;
    };
    let script = "\
cat /etc/public; echo \" public=$?\"
ln -s /etc/secret /tmp/sl; cat /tmp/sl; echo \"symlink=$?\"
ln /etc/secret /tmp/hl; cat /tmp/hl; echo \"hardlink=$?\"
cat /proc/self/root/etc/secret; echo \"procroot=$?\"
cp /bin/busybox /tmp/bb; /tmp/bb true; echo \"copied-exec=$?\"
/bin/busybox true; echo \"allowed-exec=$?\"
";
    let c = Container::create(&vigil, "evasions", script);
    let rules = MonitorRules {
        exec_allow: Some(vec!["/bin/busybox".into()]),
        ..deny_secret()
    };
    attach(&monitor, &c, rules);
    c.start();
    c.wait_stopped();
    let out = c.stdout();
    for expect in [
        "public-data public=0",
        "symlink=1",
        "hardlink=1",
        "procroot=1",
        "allowed-exec=0",
    ] {
        assert!(out.contains(expect), "{expect:?} missing in {out}");
    }
    assert!(
        !out.contains("copied-exec=0"),
        "the copied binary ran: {out}"
    );
    assert!(!out.contains(SECRET), "secret leaked: {out}");
    let events = sink.events();
    let denied_paths: Vec<String> = events
        .iter()
        .filter(|e| e.verdict == Verdict::Deny)
        .map(|e| e.access.to_string())
        .collect();
    assert!(
        denied_paths.contains(&"open /tmp/hl".to_string()),
        "hard link is reported by its name: {denied_paths:?}"
    );
    assert!(
        denied_paths.contains(&"exec /tmp/bb".to_string()),
        "{denied_paths:?}"
    );
    assert_eq!(
        denied_paths
            .iter()
            .filter(|p| *p == "open /etc/secret")
            .count(),
        2,
        "symlink and /proc/self/root: {denied_paths:?}"
    );
    monitor.detach(&c.id);
}

#[test]
fn audit_mode_allows_and_reports() {
    let Some((vigil, sink, monitor)) = setup() else {
        return;
    };
    let c = Container::create(&vigil, "audit", "exec /bin/cat /etc/secret");
    attach(
        &monitor,
        &c,
        MonitorRules {
            mode: Mode::Audit,
            ..deny_secret()
        },
    );
    c.start();
    c.wait_stopped();
    assert!(
        c.stdout().contains(SECRET),
        "audit mode must allow: {} {}",
        c.stdout(),
        c.stderr()
    );
    let events = sink.events();
    assert!(
        events.iter().any(|e| e.verdict == Verdict::Audit
            && e.access
                == Access::Open {
                    path: "/etc/secret".into()
                }),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| e.verdict != Verdict::Deny),
        "{events:?}"
    );
    monitor.detach(&c.id);
}

#[test]
fn detach_removes_every_mark() {
    let Some((vigil, _sink, monitor)) = setup() else {
        return;
    };
    let script = "cat /etc/secret; echo \" first=$?\"; while [ ! -e /tmp/go ]; do sleep 0.05; done; cat /etc/secret; echo \" second=$?\"";
    let c = Container::create(&vigil, "detach", script);
    attach(&monitor, &c, deny_secret());
    c.start();
    c.wait_output("first=1");
    assert!(monitor.detach(&c.id));
    assert!(!monitor.attached().contains(&c.id));
    std::fs::write(c.rootfs().join("tmp/go"), "").expect("signal the container");
    c.wait_stopped();
    assert!(
        c.stdout().contains(&format!("{SECRET} second=0")),
        "after detach nothing is denied: {}",
        c.stdout()
    );
    assert!(!monitor.detach(&c.id), "a second detach finds nothing");
}

/// Inode numbers of every inode mark of every fanotify group of this process (fdinfo).
fn inode_marks() -> Vec<u64> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc/self/fd")
        .expect("fd dir")
        .flatten()
    {
        let is_fanotify =
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("fanotify"));
        let info = std::fs::read_to_string(format!(
            "/proc/self/fdinfo/{}",
            e.file_name().to_string_lossy()
        ));
        if let (true, Ok(info)) = (is_fanotify, info) {
            for l in info.lines().filter(|l| l.contains("ignored_mask:")) {
                let ino = l.split_whitespace().find_map(|w| w.strip_prefix("ino:"));
                out.extend(ino.and_then(|i| u64::from_str_radix(i, 16).ok()));
            }
        }
    }
    out
}

#[test]
fn only_allowed_single_link_inodes_are_cached() {
    use std::os::unix::fs::MetadataExt;
    let Some((vigil, _sink, monitor)) = setup() else {
        return;
    };
    let script = "cat /etc/public /etc/shared /etc/secret; echo \" read\"; while [ ! -e /tmp/go ]; do sleep 0.05; done";
    let c = Container::create(&vigil, "cache", script);
    let etc = c.rootfs().join("etc");
    std::fs::write(etc.join("shared"), "shared").expect("write shared");
    std::fs::hard_link(etc.join("shared"), etc.join("shared-link")).expect("hard link");
    let ino = |name: &str| std::fs::metadata(etc.join(name)).expect("stat").ino();
    attach(&monitor, &c, deny_secret());
    c.start();
    c.wait_output(" read");
    let marks = inode_marks();
    std::fs::write(c.rootfs().join("tmp/go"), "").expect("signal the container");
    assert!(
        marks.contains(&ino("public")),
        "allowed, one link: cached ({marks:?})"
    );
    assert!(!marks.contains(&ino("shared")), "two links: never cached");
    assert!(!marks.contains(&ino("secret")), "denied: never cached");
    c.wait_stopped();
    monitor.detach(&c.id);
}
