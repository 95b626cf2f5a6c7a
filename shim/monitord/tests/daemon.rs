//! The daemon's socket and protocol without a container: permissions, ping, refusals, one
//! daemon per socket. Runs the daemon in a thread of the test process (it never returns).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use vigil_monitord::{AttachRequest, ClientError, RunOptions, ServerError, client};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn socket_is_root_only_and_requests_are_answered() {
    if !nix::unistd::geteuid().is_root() {
        if std::env::var("VIGIL_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
            panic!("needs root");
        }
        eprintln!("skipped: the daemon answers uid 0 only; run as root");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = vigil_policy::HostConfig {
        journal_dir: tmp.path().join("journal"),
        ..Default::default()
    };
    config.monitor.socket = tmp.path().join("run").join("monitor.sock");
    let opts = RunOptions {
        pin_dir: tmp.path().join("no-bpffs"),
        new_session: false,
    };
    {
        let (config, opts) = (config.clone(), opts.clone());
        std::thread::spawn(move || vigil_monitord::run(&config, &opts));
    }
    let socket = &config.monitor.socket;
    let t0 = Instant::now();
    while client::ping(socket, Duration::from_millis(200)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "daemon never answered"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(mode(socket.parent().expect("dir")), 0o700);
    assert_eq!(mode(socket), 0o600);

    let err = client::detach(socket, "nope", Duration::from_secs(2)).expect_err("unknown");
    assert!(err.is_not_attached(), "{err}");
    let req = AttachRequest {
        id: "ghost".into(),
        init_pid: i32::MAX,
        cgroup_dir: None,
        policy: "p".into(),
        policy_digest: "d".into(),
        rules: Default::default(),
    };
    let err = client::attach(socket, &req, Duration::from_secs(2)).expect_err("no such init");
    assert!(
        matches!(&err, ClientError::Refused(m) if m.contains(&i32::MAX.to_string())),
        "{err}"
    );
    // A second daemon on the same socket refuses to start.
    let second = vigil_monitord::run(&config, &opts).expect_err("second daemon");
    assert!(
        matches!(second, ServerError::AlreadyRunning { .. }),
        "{second}"
    );
    client::ping(socket, Duration::from_secs(1)).expect("first still answers");
}
