//! The monitor daemon end to end: `create` starts it, attaches a container whose policy denies
//! a file, the denial reaches the journal; after `kill -9` of the daemon the next `create`
//! restarts it and it re-attaches the running container; `delete` detaches.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_integration::bundle::{Bundle, ContainerGuard};
use vigil_integration::cleanup;
use vigil_integration::probe::{Need, ready};
use vigil_integration::runtime::{RuntimeCli, runtime_bin};
use vigil_integration::unique_id;

const NEEDS: &[Need] = &[Need::Root, Need::Cgroup("pids")];
const SECRET: &str = "the-secret-content-42";

struct Fixture {
    tmp: tempfile::TempDir,
    cli: RuntimeCli,
    socket: PathBuf,
}

/// Kills the daemon (by the pid it wrote) and unmounts what the test left.
impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(pid) = daemon_pid(&self.socket) {
            kill9(pid);
        }
        cleanup::unmount_under(self.tmp.path());
    }
}

fn skip_or_fail(why: &str) -> bool {
    if std::env::var("VIGIL_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    true
}

fn fixture(auto_start: bool, fail_mode: &str) -> Option<Fixture> {
    if !ready("monitor", NEEDS) {
        return None;
    }
    if !Path::new("/proc/sys/fs/fanotify").exists() && skip_or_fail("fanotify is unavailable") {
        return None;
    }
    let tmp = tempfile::Builder::new()
        .prefix("vit-mon-")
        .tempdir()
        .expect("temp dir");
    // A glob: a plain path in filesystem.deny currently fails at launch ("Landlock cannot make
    // ... non-executable", runtime/src/launch.rs); a glob goes to the monitor only.
    let policies = tmp.path().join("policies");
    std::fs::create_dir(&policies).expect("policy dir");
    write_0644(
        &policies.join("montest.yaml"),
        &format!(
            "apiVersion: vigil.dev/v1\nkind: Policy\nmetadata:\n  name: montest\nspec:\n  mode: enforce\n  filesystem:\n    deny:\n      - /etc/secret-*\n  monitor:\n    failMode: {fail_mode}\n"
        ),
    );
    let socket = tmp.path().join("mon").join("monitor.sock");
    // RuntimeCli uses `<root>/../vigil-config.yaml` when it exists.
    write_0644(
        &tmp.path().join("vigil-config.yaml"),
        &format!(
            "policyDir: {}\njournalDir: {}\ndefaultPolicy: montest\nselectable: [montest]\nmonitor:\n  socket: {}\n  autoStart: {auto_start}\n",
            policies.display(),
            tmp.path().join("journal").display(),
            socket.display()
        ),
    );
    let cli = RuntimeCli::new(
        runtime_bin().expect("runtime under test"),
        tmp.path().join("state"),
    );
    Some(Fixture { tmp, cli, socket })
}

fn write_0644(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

fn daemon_pid(socket: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(socket.with_file_name("monitor.pid")).ok()?;
    text.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    // A zombie is dead for our purpose.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn kill9(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn bundle(f: &Fixture, name: &str, id: &str, args: &[&str]) -> Bundle {
    let b = Bundle::builder()
        .args(args.iter().copied())
        .cgroups_path(format!("/{id}"))
        .set("/root/readonly", Value::Bool(false))
        .build_in(f.tmp.path(), name)
        .expect("bundle");
    write_0644(&b.rootfs().join("etc/secret-file"), SECRET);
    write_0644(&b.rootfs().join("etc/allowed-file"), "allowed-content");
    b
}

/// Every journal record, as `vigil audit query --json` prints them.
fn records(f: &Fixture) -> Vec<Value> {
    let out = f
        .cli
        .run(&["audit", "query", "--json"])
        .expect("audit query");
    assert_eq!(out.code(), 0, "audit query: {}", out.stderr);
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn field<'a>(r: &'a Value, key: &str) -> Option<&'a str> {
    r.get(key)
        .or_else(|| r.get("data").and_then(|d| d.get(key)))
        .and_then(Value::as_str)
}

/// Polls the journal (the daemon writes in batches) for a record matching `want`.
fn wait_record(f: &Fixture, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let all = records(f);
        if let Some(r) = all.iter().find(|r| want(r)) {
            return r.clone();
        }
        if Instant::now() > deadline {
            panic!("no {what} record in the journal: {all:#?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn is_deny_of(r: &Value, id: &str) -> bool {
    field(r, "kind") == Some("decision")
        && field(r, "container") == Some(id)
        && field(r, "verdict") == Some("deny")
        && field(r, "layer") == Some("fanotify")
        && field(r, "object") == Some("/etc/secret-file")
}

/// `create` with stdio on /dev/null (a pipe held by the container would block the capture).
fn create(f: &Fixture, b: &Bundle, id: &str) -> Duration {
    let started = Instant::now();
    let status = f
        .cli
        .command()
        .args(["create", "--bundle", b.path_str(), id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("vigil create");
    let took = started.elapsed();
    assert!(status.success(), "create {id} failed: {status}");
    took
}

/// Asks the looping container to read the secret; returns what it wrote.
fn probe_read(rootfs: &Path) -> String {
    let out = rootfs.join("out");
    let _ = std::fs::remove_file(&out);
    std::fs::write(rootfs.join("go"), "").expect("trigger");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(text) = std::fs::read_to_string(&out)
            && text.contains("rc=")
        {
            return text;
        }
        assert!(Instant::now() < deadline, "container did not answer");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn monitor_denies_journals_survives_kill_and_detaches() {
    let Some(f) = fixture(true, "closed") else {
        return;
    };

    // 1. `run`: the first create starts the daemon and attaches before the workload runs.
    let id = unique_id("vitmon");
    let b = bundle(
        &f,
        "b1",
        &id,
        &[
            "sh",
            "-c",
            "cat /etc/secret-file; echo rc=$?; cat /etc/allowed-file",
        ],
    );
    let _g = ContainerGuard::new(&f.cli, &id, None);
    let started = Instant::now();
    let out = f
        .cli
        .run(&["run", "--bundle", b.path_str(), &id])
        .expect("run");
    eprintln!("run with daemon start + attach: {:?}", started.elapsed());
    assert_eq!(out.code(), 0, "stdout {} stderr {}", out.stdout, out.stderr);
    assert!(out.stdout.contains("rc=1"), "{}", out.stdout);
    assert!(!out.stdout.contains(SECRET), "{}", out.stdout);
    assert!(out.stdout.contains("allowed-content"), "{}", out.stdout);
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.stderr
    );
    wait_record(&f, "fanotify deny", |r| is_deny_of(r, &id));
    let first = daemon_pid(&f.socket).expect("daemon pid file");
    assert!(alive(first), "daemon {first} runs");

    // 2. A running container, then kill -9 of the daemon, then the next create restarts it.
    let loop_script = "while :; do if [ -e /go ]; then rm /go; cat /etc/secret-file > /out 2>&1; echo rc=$? >> /out; fi; sleep 0.05; done";
    let id2 = unique_id("vitmon");
    let b2 = bundle(&f, "b2", &id2, &["sh", "-c", loop_script]);
    let _g2 = ContainerGuard::new(&f.cli, &id2, None);
    let took = create(&f, &b2, &id2);
    eprintln!("create with attach (daemon running): {took:?}");
    let st = f.cli.run(&["start", &id2]).expect("start");
    assert_eq!(st.code(), 0, "{}", st.stderr);
    let before = probe_read(&b2.rootfs());
    assert!(
        before.contains("rc=1") && before.contains("Operation not permitted"),
        "{before}"
    );
    kill9(first);
    assert!(!alive(first));

    let id3 = unique_id("vitmon");
    let b3 = bundle(&f, "b3", &id3, &["sh", "-c", "sleep 30"]);
    let _g3 = ContainerGuard::new(&f.cli, &id3, None);
    let took = create(&f, &b3, &id3);
    eprintln!("create with daemon restart + re-attach + attach: {took:?}");
    let second = daemon_pid(&f.socket).expect("restarted daemon pid");
    assert_ne!(second, first);
    assert!(alive(second));
    let after = probe_read(&b2.rootfs());
    assert!(
        after.contains("rc=1")
            && after.contains("Operation not permitted")
            && !after.contains(SECRET),
        "re-attached container reads the secret: {after}"
    );
    wait_record(&f, "gap", |r| {
        field(r, "kind") == Some("gap") && field(r, "container") == Some(id2.as_str())
    });
    // The restarted daemon journals the denial after the gap record.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let all = records(&f);
        let gap = all.iter().position(|r| {
            field(r, "kind") == Some("gap") && field(r, "container") == Some(id2.as_str())
        });
        if gap.is_some_and(|g| all[g..].iter().any(|r| is_deny_of(r, &id2))) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no denial journaled after the gap: {all:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for r in records(&f)
        .iter()
        .filter(|r| field(r, "kind") == Some("attach"))
    {
        if let Some(us) = r.get("data").and_then(|d| d.get("attach_us")) {
            eprintln!("attach {:?}: {us} us", field(r, "container"));
        }
    }

    // 3. delete detaches: the registry is empty and a detach record per container.
    for c in [&id2, &id3] {
        let d = f.cli.run(&["delete", "--force", c]).expect("delete");
        assert_eq!(d.code(), 0, "{}", d.stderr);
        wait_record(&f, "detach", |r| {
            field(r, "kind") == Some("detach") && field(r, "container") == Some(c.as_str())
        });
    }
    let reg = std::fs::read_to_string(f.socket.with_file_name("monitor-attached.json"))
        .expect("registry");
    let reg: Value = serde_json::from_str(&reg).expect("registry json");
    assert_eq!(reg["containers"], Value::Array(vec![]), "{reg}");
}

#[test]
fn without_a_monitor_fail_closed_refuses_and_cleans_up_and_fail_open_runs() {
    for (fail_mode, want_ok) in [("closed", false), ("open", true)] {
        let Some(f) = fixture(false, fail_mode) else {
            return;
        };
        let id = unique_id("vitmonf");
        let b = bundle(&f, "b", &id, &["cat", "/etc/allowed-file"]);
        let _g = ContainerGuard::new(&f.cli, &id, None);
        let out = f
            .cli
            .run(&["run", "--bundle", b.path_str(), &id])
            .expect("run");
        if want_ok {
            assert_eq!(
                out.code(),
                0,
                "failMode open runs unmonitored: {}",
                out.stderr
            );
            assert!(out.stdout.contains("allowed-content"), "{}", out.stdout);
            wait_record(&f, "unmonitored attach", |r| {
                field(r, "kind") == Some("attach")
                    && field(r, "container") == Some(id.as_str())
                    && field(r, "state") == Some("unmonitored")
            });
        } else {
            assert_ne!(out.code(), 0, "failMode closed must refuse");
            assert!(
                out.stderr
                    .contains("fails closed, but the vigil monitor did not attach")
                    && out.stderr.contains(&f.socket.display().to_string()),
                "{}",
                out.stderr
            );
        }
        assert!(!f.cli.root.join(&id).exists(), "state of {id} left behind");
        assert!(
            cleanup::cgroup_dirs_named(&id).is_empty(),
            "cgroup of {id} left behind"
        );
        assert!(
            daemon_pid(&f.socket).is_none(),
            "autoStart false started a daemon"
        );
    }
}
