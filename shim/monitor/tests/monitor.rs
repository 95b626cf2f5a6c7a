//! Both layers behind `Monitor::attach`, against one real container (root only).

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use common::{Bpffs, Container, SECRET};
use vigil_monitor::{
    Access, Attachment, ContainerIdentity, Layer, LayerState, MemorySink, Monitor, MonitorRules,
    NetRule, Sink, Verdict,
};

#[test]
fn one_attach_enforces_file_and_network_rules_and_one_detach_removes_everything() {
    let Some(vigil) = common::container_prereqs() else {
        return;
    };
    let Some(fs) = Bpffs::mount() else { return };
    let sink = Arc::new(MemorySink::default());
    let dyn_sink: Arc<dyn Sink> = sink.clone();
    let monitor = Monitor::new(dyn_sink, &fs.pin_dir());
    if let Err(reason) = monitor.ebpf() {
        common::skip(&format!("ebpf layer unavailable: {reason}"));
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let script =
        format!("cat /etc/secret; echo \" file=$?\"; nc -w 2 127.0.0.1 {port}; echo \" net=$?\"");
    let c = Container::create(&vigil, "both", &script);
    let rules = MonitorRules {
        deny_paths: vec!["/etc/secret".into()],
        connect_deny: vec![NetRule::parse(&format!("127.0.0.1:{port}/tcp")).expect("rule")],
        ..Default::default()
    };
    let identity = ContainerIdentity::from_pid(&c.id, c.init_pid()).expect("identity");
    let attached = monitor
        .attach(identity, Some(&c.cgroup_dir()), &rules)
        .expect("attach");
    assert_eq!(
        attached,
        Attachment {
            fanotify: LayerState::Active,
            ebpf: LayerState::Active
        }
    );
    c.start();
    c.wait_stopped();
    let (out, err) = (c.stdout(), c.stderr());
    assert!(out.contains("file=1") && out.contains("net=1"), "{out}");
    assert!(!out.contains(SECRET));
    assert_eq!(err.matches("Operation not permitted").count(), 2, "{err}");
    std::thread::sleep(Duration::from_millis(300));
    let events = sink.events();
    let layers: Vec<Layer> = events
        .iter()
        .filter(|e| e.verdict == Verdict::Deny)
        .map(|e| e.layer)
        .collect();
    assert!(
        layers.contains(&Layer::Fanotify) && layers.contains(&Layer::Ebpf),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.access, Access::Exec { path } if path == "/bin/sh"))
    );
    monitor.detach(&c.id).expect("detach");
    assert!(!fs.pin_dir().exists(), "no pin is left");
}
