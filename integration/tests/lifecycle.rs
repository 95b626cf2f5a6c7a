//! The runc lifecycle on a bundle, driving the runtime under test directly with `--root <tmp>`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_integration::bundle::{Bundle, ContainerGuard};
use vigil_integration::cleanup;
use vigil_integration::console::ConsoleSocket;
use vigil_integration::probe::{Need, ready};
use vigil_integration::runtime::{RuntimeCli, runtime_bin};
use vigil_integration::unique_id;

const NEEDS: &[Need] = &[Need::Root, Need::Cgroup("pids")];

struct Fixture {
    tmp: tempfile::TempDir,
    cli: RuntimeCli,
}

fn fixture() -> Fixture {
    let tmp = tempfile::Builder::new()
        .prefix("vit-lc-")
        .tempdir()
        .expect("temp dir");
    let cli = RuntimeCli::new(
        runtime_bin().expect("runtime under test"),
        tmp.path().join("state"),
    );
    Fixture { tmp, cli }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        cleanup::unmount_under(self.tmp.path());
    }
}

fn state(cli: &RuntimeCli, id: &str) -> Value {
    let out = cli
        .run(&["state", id])
        .expect("run state")
        .ok()
        .expect("state succeeds");
    serde_json::from_str(&out.stdout).expect("state prints JSON")
}

fn wait_status(cli: &RuntimeCli, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = state(cli, id);
        if s["status"] == want || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Nothing of container `id` remains: state dir, cgroups named after it, mounts under `tmp`.
fn assert_nothing_left(cli: &RuntimeCli, id: &str, tmp: &Path) {
    assert!(
        !cli.root.join(id).exists(),
        "state dir {:?} left behind",
        cli.root.join(id)
    );
    let cg = cleanup::cgroup_dirs_named(id);
    assert!(cg.is_empty(), "cgroups left behind: {cg:?}");
    let m = cleanup::mounts_under(tmp);
    assert!(m.is_empty(), "mounts left behind: {m:?}");
}

#[test]
fn run_passes_stdio_and_exit_codes() {
    if !ready("run_passes_stdio_and_exit_codes", NEEDS) {
        return;
    }
    let f = fixture();
    let id = unique_id("vitrun");
    let b = Bundle::builder()
        .args([
            "sh",
            "-c",
            "read line; echo \"out:$line\"; echo err-text >&2; exit 3",
        ])
        .cgroups_path(format!("/{id}"))
        .build_in(f.tmp.path(), "b")
        .expect("bundle");
    let _g = ContainerGuard::new(&f.cli, &id, None);
    let out = f
        .cli
        .run_with_stdin(&["run", "--bundle", b.path_str(), &id], b"hello\n")
        .expect("run");
    assert_eq!(
        out.code(),
        3,
        "exit code of the container; stderr: {}",
        out.stderr
    );
    assert_eq!(out.stdout.trim(), "out:hello");
    assert!(
        out.stderr.contains("err-text"),
        "container stderr not passed through: {:?}",
        out.stderr
    );
    // `run` deletes the container when the process exits.
    let st = f.cli.run(&["state", &id]).expect("state");
    assert_ne!(
        st.code(),
        0,
        "state of a finished `run` container should fail"
    );
    assert_nothing_left(&f.cli, &id, f.tmp.path());

    let id2 = unique_id("vitrun");
    let b2 = Bundle::builder()
        .args(["true"])
        .cgroups_path(format!("/{id2}"))
        .build_in(f.tmp.path(), "b2")
        .expect("bundle");
    let _g2 = ContainerGuard::new(&f.cli, &id2, None);
    let out = f
        .cli
        .run(&["run", "--bundle", b2.path_str(), &id2])
        .expect("run");
    assert_eq!(out.code(), 0, "stderr: {}", out.stderr);
    assert_nothing_left(&f.cli, &id2, f.tmp.path());
}

#[test]
fn lifecycle_create_start_exec_ps_pause_update_kill_delete() {
    if !ready("lifecycle", NEEDS) {
        return;
    }
    let f = fixture();
    let id = unique_id("vitlc");
    let cgroups_path = format!("/{id}");
    let b = Bundle::builder()
        .args([
            "sh",
            "-c",
            "trap 'exit 0' USR1; while true; do sleep 0.05; done",
        ])
        .cgroups_path(&cgroups_path)
        .build_in(f.tmp.path(), "b")
        .expect("bundle");
    let _g = ContainerGuard::new(&f.cli, &id, Some(&cgroups_path));
    let pid_file = f.tmp.path().join("init.pid");
    let out = f
        .cli
        .run(&[
            "create",
            "--bundle",
            b.path_str(),
            "--pid-file",
            pid_file.to_str().expect("utf-8"),
            &id,
        ])
        .expect("create");
    assert_eq!(out.code(), 0, "create failed: {}", out.stderr);

    let s = state(&f.cli, &id);
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["bundle"].as_str().map(Path::new), Some(b.path()));
    let pid = s["pid"].as_i64().expect("state has a pid");
    assert!(pid > 0);
    let pid_from_file: i64 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert_eq!(pid_from_file, pid, "--pid-file and state disagree");
    assert!(
        s["ociVersion"].is_string() && s["created"].is_string(),
        "state lacks runc's fields: {s}"
    );

    f.cli
        .run(&["start", &id])
        .expect("start")
        .ok()
        .expect("start succeeds");
    assert_eq!(wait_status(&f.cli, &id, "running")["status"], "running");

    let out = f
        .cli
        .run(&["exec", &id, "sh", "-c", "echo in-exec; exit 5"])
        .expect("exec");
    assert_eq!(out.code(), 5, "exec exit code; stderr: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "in-exec");

    let process = serde_json::json!({
        "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/tmp",
        "args": ["sh", "-c", "echo via-process-file $PWD"], "env": ["PATH=/bin:/usr/bin"]
    });
    let pf = f.tmp.path().join("process.json");
    std::fs::write(&pf, process.to_string()).expect("process.json");
    let out = f
        .cli
        .run(&["exec", "--process", pf.to_str().expect("utf-8"), &id])
        .expect("exec --process");
    assert_eq!(out.code(), 0, "stderr: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "via-process-file /tmp");

    let out = f
        .cli
        .run(&["ps", "--format", "json", &id])
        .expect("ps")
        .ok()
        .expect("ps succeeds");
    let pids: Vec<i64> =
        serde_json::from_str(&out.stdout).expect("ps --format json prints a JSON array of pids");
    assert!(pids.contains(&pid), "ps {pids:?} lacks the init pid {pid}");

    f.cli
        .run(&["pause", &id])
        .expect("pause")
        .ok()
        .expect("pause succeeds");
    assert_eq!(state(&f.cli, &id)["status"], "paused");
    f.cli
        .run(&["resume", &id])
        .expect("resume")
        .ok()
        .expect("resume succeeds");
    assert_eq!(state(&f.cli, &id)["status"], "running");

    let out = f
        .cli
        .run_with_stdin(
            &["update", "--resources", "-", &id],
            br#"{"pids":{"limit":42}}"#,
        )
        .expect("update");
    assert_eq!(out.code(), 0, "update failed: {}", out.stderr);
    let max =
        cleanup::cgroup_file(&cgroups_path, "pids", "pids.max").expect("pids.max of the container");
    assert_eq!(max.trim(), "42");

    f.cli
        .run(&["kill", &id, "SIGUSR1"])
        .expect("kill")
        .ok()
        .expect("kill by name succeeds");
    assert_eq!(wait_status(&f.cli, &id, "stopped")["status"], "stopped");
    let out = f.cli.run(&["kill", &id, "KILL"]).expect("kill");
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr.contains("container not running"),
        "runc's text expected, got {:?}",
        out.stderr
    );

    f.cli
        .run(&["delete", &id])
        .expect("delete")
        .ok()
        .expect("delete succeeds");
    let out = f.cli.run(&["state", &id]).expect("state");
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr.contains("does not exist"),
        "got {:?}",
        out.stderr
    );
    assert_nothing_left(&f.cli, &id, f.tmp.path());
}

#[test]
fn kill_by_number_and_delete_force() {
    if !ready("kill_by_number_and_delete_force", NEEDS) {
        return;
    }
    let f = fixture();
    let id = unique_id("vitkill");
    let b = Bundle::builder()
        .args(["sleep", "1000"])
        .cgroups_path(format!("/{id}"))
        .build_in(f.tmp.path(), "b")
        .expect("bundle");
    let _g = ContainerGuard::new(&f.cli, &id, None);
    f.cli
        .run(&["run", "--detach", "--bundle", b.path_str(), &id])
        .expect("run -d")
        .ok()
        .expect("run -d succeeds");
    assert_eq!(wait_status(&f.cli, &id, "running")["status"], "running");
    f.cli
        .run(&["kill", &id, "9"])
        .expect("kill")
        .ok()
        .expect("kill by number succeeds");
    assert_eq!(wait_status(&f.cli, &id, "stopped")["status"], "stopped");
    f.cli
        .run(&["delete", &id])
        .expect("delete")
        .ok()
        .expect("delete succeeds");
    assert_nothing_left(&f.cli, &id, f.tmp.path());

    // delete --force of a running container.
    let id2 = unique_id("vitkill");
    let b2 = Bundle::builder()
        .args(["sleep", "1000"])
        .cgroups_path(format!("/{id2}"))
        .build_in(f.tmp.path(), "b2")
        .expect("bundle");
    let _g2 = ContainerGuard::new(&f.cli, &id2, None);
    f.cli
        .run(&["create", "--bundle", b2.path_str(), &id2])
        .expect("create")
        .ok()
        .expect("create succeeds");
    f.cli
        .run(&["start", &id2])
        .expect("start")
        .ok()
        .expect("start succeeds");
    f.cli
        .run(&["delete", "--force", &id2])
        .expect("delete --force")
        .ok()
        .expect("delete --force succeeds");
    assert_nothing_left(&f.cli, &id2, f.tmp.path());
}

#[test]
fn console_socket_gives_the_container_a_tty() {
    if !ready("console_socket_gives_the_container_a_tty", NEEDS) {
        return;
    }
    let f = fixture();
    let id = unique_id("vittty");
    let b = Bundle::builder()
        .args([
            "sh",
            "-c",
            "if [ -t 0 ] && [ -t 1 ]; then echo TTY-YES; fi; tty",
        ])
        .tty(true)
        .cgroups_path(format!("/{id}"))
        .build_in(f.tmp.path(), "b")
        .expect("bundle");
    let _g = ContainerGuard::new(&f.cli, &id, None);
    let sock_path = f.tmp.path().join("console.sock");
    let sock = ConsoleSocket::bind(&sock_path).expect("console socket");
    let out = f
        .cli
        .run(&[
            "create",
            "--bundle",
            b.path_str(),
            "--console-socket",
            sock_path.to_str().expect("utf-8"),
            &id,
        ])
        .expect("create");
    assert_eq!(
        out.code(),
        0,
        "create with --console-socket failed: {}",
        out.stderr
    );
    let master = sock
        .receive(Duration::from_secs(10))
        .expect("the runtime sends the pty master");
    f.cli
        .run(&["start", &id])
        .expect("start")
        .ok()
        .expect("start succeeds");
    let text = master.read_until_closed(Duration::from_secs(10));
    assert!(
        text.contains("TTY-YES"),
        "stdin/stdout are not a tty in the container: {text:?}"
    );
    assert!(text.contains("/dev/pts/"), "tty(1) names no pts: {text:?}");
    assert_eq!(wait_status(&f.cli, &id, "stopped")["status"], "stopped");
    f.cli
        .run(&["delete", &id])
        .expect("delete")
        .ok()
        .expect("delete succeeds");
    assert_nothing_left(&f.cli, &id, f.tmp.path());
}

/// The last line of a `--log-format json` log must be runc's error shape.
fn assert_json_error_line(log: &Path) -> String {
    let text = std::fs::read_to_string(log).expect("the runtime writes the --log file");
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect("log has a line");
    let v: Value = serde_json::from_str(last).expect("last log line is JSON");
    assert_eq!(v["level"], "error", "last line {last}");
    let msg = v["msg"].as_str().expect("msg is a string");
    assert!(!msg.is_empty(), "empty msg");
    let time = v["time"].as_str().expect("time is a string");
    assert!(is_rfc3339(time), "time {time:?} is not RFC 3339");
    msg.to_string()
}

fn is_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
    {
        return false;
    }
    if !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    let r = rest.as_bytes();
    rest == "Z"
        || rest == "z"
        || (r.len() == 6
            && matches!(r[0], b'+' | b'-')
            && r[3] == b':'
            && r[1..3].iter().chain(&r[4..6]).all(u8::is_ascii_digit))
}

#[test]
fn rfc3339_checker_accepts_and_rejects() {
    assert!(is_rfc3339("2026-11-26T17:34:32Z"));
    assert!(is_rfc3339("2026-11-26T17:34:32.123456789+01:00"));
    assert!(!is_rfc3339("2026-11-26 17:34:32"));
    assert!(!is_rfc3339("Nov 26 17:34:32"));
}

#[test]
fn failing_create_ends_in_a_json_error_line_and_leaves_nothing() {
    if !ready(
        "failing_create_ends_in_a_json_error_line_and_leaves_nothing",
        NEEDS,
    ) {
        return;
    }
    let f = fixture();
    let log = f.tmp.path().join("log.json");
    let log_s = log.to_str().expect("utf-8");

    let id = unique_id("vitfail");
    let _g = ContainerGuard::new(&f.cli, &id, None);
    let missing = f.tmp.path().join("no-such-bundle");
    let out = f
        .cli
        .run(&[
            "--log",
            log_s,
            "--log-format",
            "json",
            "create",
            "--bundle",
            missing.to_str().expect("utf-8"),
            &id,
        ])
        .expect("create");
    assert_ne!(out.code(), 0, "create of a nonexistent bundle succeeded");
    let msg = assert_json_error_line(&log);
    assert!(
        msg.contains("no-such-bundle") || msg.contains("no such file"),
        "msg does not say what is wrong: {msg}"
    );
    assert_nothing_left(&f.cli, &id, f.tmp.path());

    let id2 = unique_id("vitfail");
    let _g2 = ContainerGuard::new(&f.cli, &id2, None);
    let b = Bundle::builder()
        .args(["true"])
        .build_in(f.tmp.path(), "bad")
        .expect("bundle");
    std::fs::write(b.config_path(), "{ this is not json").expect("overwrite config.json");
    let log2 = f.tmp.path().join("log2.json");
    let out = f
        .cli
        .run(&[
            "--log",
            log2.to_str().expect("utf-8"),
            "--log-format",
            "json",
            "create",
            "--bundle",
            b.path_str(),
            &id2,
        ])
        .expect("create");
    assert_ne!(out.code(), 0, "create with a bad config.json succeeded");
    assert_json_error_line(&log2);
    assert_nothing_left(&f.cli, &id2, f.tmp.path());
}

#[test]
fn errors_engines_match_use_runcs_words() {
    if !ready("errors_engines_match_use_runcs_words", NEEDS) {
        return;
    }
    let f = fixture();
    let id = unique_id("vitnone");
    for args in [
        vec!["state", id.as_str()],
        vec!["delete", id.as_str()],
        vec!["kill", id.as_str(), "KILL"],
    ] {
        let out = f.cli.run(&args).expect("runtime");
        assert_ne!(
            out.code(),
            0,
            "{args:?} of a nonexistent container succeeded"
        );
        assert!(
            out.stderr.contains("does not exist"),
            "{args:?}: containerd matches \"does not exist\", got {:?}",
            out.stderr
        );
    }
}

#[test]
fn guard_leaves_nothing_when_dropped_with_a_running_container() {
    if !ready(
        "guard_leaves_nothing_when_dropped_with_a_running_container",
        NEEDS,
    ) {
        return;
    }
    let f = fixture();
    let id = unique_id("vitdrop");
    let b = Bundle::builder()
        .args(["sleep", "1000"])
        .cgroups_path(format!("/{id}"))
        .build_in(f.tmp.path(), "b")
        .expect("bundle");
    let g = ContainerGuard::new(&f.cli, &id, None);
    f.cli
        .run(&["run", "--detach", "--bundle", b.path_str(), &id])
        .expect("run -d")
        .ok()
        .expect("run -d succeeds");
    let pid = state(&f.cli, &id)["pid"].as_i64().expect("pid");
    drop(g); // as a failing test would
    let pid = i32::try_from(pid).expect("pid fits i32");
    assert!(!cleanup::alive(pid), "the container's init still runs");
    assert_nothing_left(&f.cli, &id, f.tmp.path());
}
