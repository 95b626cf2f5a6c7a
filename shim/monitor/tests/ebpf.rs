//! The eBPF backend against real containers started by target/debug/vigil (root only): the
//! container shares the host network namespace (its own is removed from config.json) so it
//! reaches the test's loopback listeners.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{Bpffs, Container};
use vigil_monitor::{
    Access, EbpfMonitor, Layer, MemorySink, Mode, MonitorRules, NetRule, Proto, Sink, Verdict,
};

fn setup() -> Option<(PathBuf, Bpffs, Arc<MemorySink>, EbpfMonitor)> {
    let vigil = common::container_prereqs()?;
    let fs = Bpffs::mount()?;
    let sink = Arc::new(MemorySink::default());
    let dyn_sink: Arc<dyn Sink> = sink.clone();
    match EbpfMonitor::load(fs.pin_dir(), dyn_sink) {
        Ok(m) => Some((vigil, fs, sink, m)),
        Err(e) => {
            common::skip(&format!("the eBPF backend does not load here: {e:?}"));
            None
        }
    }
}

/// Accepts TCP connections and reads one line from each until dropped.
fn tcp_listener() -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let port = l.local_addr().expect("addr").port();
    let t = std::thread::spawn(move || {
        l.set_nonblocking(false).expect("blocking");
        for s in l.incoming().take(1).flatten() {
            let mut s = s;
            let mut buf = [0u8; 64];
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.read(&mut buf);
        }
    });
    (port, t)
}

fn udp_socket() -> (u16, UdpSocket) {
    let u = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    (u.local_addr().expect("addr").port(), u)
}

fn rule(s: &str) -> NetRule {
    NetRule::parse(s).expect("test rule")
}

fn pins(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    for e in walk(dir) {
        out.push(
            e.strip_prefix(dir)
                .expect("below")
                .to_string_lossy()
                .into_owned(),
        );
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.path());
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[test]
fn denied_tcp_connect_and_udp_sendto_fail_with_eperm_while_allowed_ones_work() {
    let Some((vigil, fs, sink, monitor)) = setup() else {
        return;
    };
    let (tcp_ok, tcp_thread) = tcp_listener();
    let (tcp_denied, _tcp_denied_thread) = tcp_listener();
    let (udp_ok, udp_ok_sock) = udp_socket();
    let (udp_denied, udp_denied_sock) = udp_socket();
    let (bind_denied, _) = udp_socket();
    let script = format!(
        "echo hi | nc -w 3 127.0.0.1 {tcp_ok}; echo \"tcp-allowed=$?\"
echo hi | nc -w 3 127.0.0.1 {tcp_denied}; echo \"tcp-denied=$?\"
tftp -g -r f -l /tmp/f 127.0.0.1 {udp_ok}; echo \"udp-allowed=$?\"
tftp -g -r f -l /tmp/f 127.0.0.1 {udp_denied}; echo \"udp-denied=$?\"
nc -l -p {bind_denied}; echo \"bind-denied=$?\"
"
    );
    // An allowed tftp request is answered with a TFTP error so that tftp stops at once.
    let responder = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        udp_ok_sock
            .set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        let (n, from) = udp_ok_sock.recv_from(&mut buf).ok()?;
        udp_ok_sock
            .send_to(&[0, 5, 0, 1, b'n', b'o', 0], from)
            .ok()?;
        Some(buf[..n].to_vec())
    });
    let c = Container::create(&vigil, "net", &script);
    let rules = MonitorRules {
        connect_deny: vec![
            rule(&format!("127.0.0.1:{tcp_denied}/tcp")),
            rule(&format!("127.0.0.1:{udp_denied}/udp")),
        ],
        bind_deny: vec![rule(&format!("*:{bind_denied}"))],
        ..Default::default()
    };
    let cgroup_id = monitor
        .attach_cgroup(&c.cgroup_dir(), &c.id, &rules)
        .expect("attach");
    assert_ne!(cgroup_id, 0);
    let pinned = pins(&fs.pin_dir());
    for p in [
        "vigil_policy",
        "vigil_events",
        "exec_link",
        &format!("links/{}/{cgroup_id}/vigil_sendmsg4", c.id),
    ] {
        assert!(pinned.iter().any(|x| x == p), "{p} not pinned: {pinned:?}");
    }
    c.start();
    c.wait_stopped();
    let out = c.stdout();
    let err = c.stderr();
    for expect in [
        "tcp-allowed=0",
        "tcp-denied=1",
        "udp-denied=1",
        "bind-denied=1",
    ] {
        assert!(out.contains(expect), "{expect:?} missing in {out} / {err}");
    }
    assert_eq!(
        err.matches("Operation not permitted").count(),
        3,
        "stderr: {err}"
    );
    let rrq = responder
        .join()
        .expect("responder")
        .expect("the allowed UDP request arrived");
    assert_eq!(&rrq[..2], &[0, 1], "a TFTP read request");
    udp_denied_sock.set_nonblocking(true).expect("nonblocking");
    assert!(
        udp_denied_sock.recv_from(&mut [0u8; 64]).is_err(),
        "the denied datagram arrived"
    );
    tcp_thread.join().expect("tcp thread");

    std::thread::sleep(Duration::from_millis(300));
    let events = sink.events();
    let denied: Vec<_> = events
        .iter()
        .filter(|e| e.verdict == Verdict::Deny)
        .collect();
    assert_eq!(denied.len(), 3, "{events:?}");
    assert!(
        denied
            .iter()
            .all(|e| e.layer == Layer::Ebpf && e.container == c.id)
    );
    let send = denied
        .iter()
        .find(|e| matches!(e.access, Access::Send { .. }))
        .expect("sendmsg event");
    assert_eq!(
        send.access,
        Access::Send {
            addr: format!("127.0.0.1:{udp_denied}").parse().expect("addr"),
            proto: Proto::Udp
        }
    );
    assert_eq!(
        send.rule.as_deref(),
        Some(format!("connect_deny: 127.0.0.1:{udp_denied}/udp").as_str())
    );
    assert!(
        denied
            .iter()
            .any(|e| matches!(e.access, Access::Bind { addr, .. } if addr.port() == bind_denied))
    );
    assert!(
        events.iter().any(|e| e.access
            == Access::Exec {
                path: "/bin/sh".into()
            }),
        "the container's first exec is observed: {events:?}"
    );

    assert!(monitor.detach(&c.id).expect("detach"));
    assert!(
        !fs.pin_dir().exists(),
        "the last detach removes every pin: {:?}",
        pins(&fs.pin_dir())
    );
    assert!(!monitor.detach(&c.id).expect("second detach"));
}

#[test]
fn audit_mode_allows_the_connect_and_reports_it() {
    let Some((vigil, fs, sink, monitor)) = setup() else {
        return;
    };
    let (port, t) = tcp_listener();
    let c = Container::create(
        &vigil,
        "netaudit",
        &format!("echo hi | nc -w 3 127.0.0.1 {port}; echo \"tcp=$?\""),
    );
    let rules = MonitorRules {
        connect_deny: vec![rule("127.0.0.0/8")],
        mode: Mode::Audit,
        ..Default::default()
    };
    monitor
        .attach_cgroup(&c.cgroup_dir(), &c.id, &rules)
        .expect("attach");
    c.start();
    c.wait_stopped();
    assert!(
        c.stdout().contains("tcp=0"),
        "{} {}",
        c.stdout(),
        c.stderr()
    );
    t.join().expect("listener");
    std::thread::sleep(Duration::from_millis(300));
    let events = sink.events();
    let audit = events
        .iter()
        .find(|e| matches!(e.access, Access::Connect { addr, .. } if addr.port() == port))
        .expect("the connect is reported");
    assert_eq!(
        (audit.verdict, audit.rule.as_deref()),
        (Verdict::Audit, Some("connect_deny: 127.0.0.0/8"))
    );
    monitor.detach(&c.id).expect("detach");
    assert!(!fs.pin_dir().exists());
    let _ = std::io::stdout().flush();
}

/// A port with no listener: an allowed connect is refused, a denied one is not permitted.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn pinned_programs_enforce_without_the_monitor_and_a_new_monitor_adopts_them() {
    let Some((vigil, fs, _sink_a, monitor_a)) = setup() else {
        return;
    };
    let port = closed_port();
    let script = format!(
        "while [ ! -e /tmp/go1 ]; do sleep 0.05; done; nc -w 2 127.0.0.1 {port}; echo \" first=$?\"
while [ ! -e /tmp/go2 ]; do sleep 0.05; done; nc -w 2 127.0.0.1 {port}; echo \" second=$?\""
    );
    let c = Container::create(&vigil, "restart", &script);
    let rules = MonitorRules {
        connect_deny: vec![rule(&format!("127.0.0.1:{port}"))],
        ..Default::default()
    };
    let cgroup_id = monitor_a
        .attach_cgroup(&c.cgroup_dir(), &c.id, &rules)
        .expect("attach");
    c.start();
    drop(monitor_a); // the monitor dies without detaching
    let links = fs
        .pin_dir()
        .join("links")
        .join(&c.id)
        .join(cgroup_id.to_string());
    assert!(
        links.join("vigil_connect4").exists(),
        "links stay pinned: {:?}",
        pins(&fs.pin_dir())
    );
    std::fs::write(c.rootfs().join("tmp/go1"), "").expect("go1");
    c.wait_output("first=1");
    assert_eq!(
        c.stderr().matches("Operation not permitted").count(),
        1,
        "no monitor, still refused: {}",
        c.stderr()
    );

    let sink_b = Arc::new(MemorySink::default());
    let dyn_sink: Arc<dyn Sink> = sink_b.clone();
    let monitor_b = EbpfMonitor::load(fs.pin_dir(), dyn_sink).expect("second monitor");
    assert_eq!(
        monitor_b
            .attach_cgroup(&c.cgroup_dir(), &c.id, &rules)
            .expect("adopt"),
        cgroup_id
    );
    std::fs::write(c.rootfs().join("tmp/go2"), "").expect("go2");
    c.wait_stopped();
    assert!(c.stdout().contains("second=1"), "{}", c.stdout());
    assert_eq!(
        c.stderr().matches("Operation not permitted").count(),
        2,
        "{}",
        c.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    let events = sink_b.events();
    assert!(
        events.iter().any(|e| e.verdict == Verdict::Deny
            && matches!(e.access, Access::Connect { addr, .. } if addr.port() == port)),
        "the new monitor reports the adopted programs' denials: {events:?}"
    );
    assert!(monitor_b.detach(&c.id).expect("detach"));
    assert!(!fs.pin_dir().exists(), "{:?}", pins(&fs.pin_dir()));
}
