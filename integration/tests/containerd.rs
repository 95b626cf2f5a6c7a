//! containerd 1.6 with its own config under a temp dir, running the runtime under test through
//! its runc shim: `ctr run --runtime io.containerd.runc.v2 --runc-binary <runtime>`.

use std::time::{Duration, Instant};

use vigil_integration::cleanup;
use vigil_integration::containerd::Containerd;
use vigil_integration::image::BUSYBOX_REF;
use vigil_integration::probe::{Need, ready};
use vigil_integration::unique_id;

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Binary("containerd"),
    Need::Binary("ctr"),
    Need::Binary("containerd-shim-runc-v2"),
    Need::Cgroup("pids"),
];

fn start() -> Containerd {
    let c = Containerd::start().expect("containerd starts");
    c.import_images(&c.namespace, false)
        .expect("import busybox");
    c
}

/// `ctr run ARGS` with the runtime selected: `run [--rm|-d] <runtime args> EXTRA... IMAGE ID CMD...`.
fn ctr_run(
    c: &Containerd,
    mode: &[&str],
    id: &str,
    cmd: &[&str],
) -> vigil_integration::cmd::Output {
    let rt = c.runtime_args();
    let mut args: Vec<&str> = vec!["run"];
    args.extend(mode);
    args.extend(rt.iter().map(String::as_str));
    args.extend([BUSYBOX_REF, id]);
    args.extend(cmd);
    c.ctr_run(&args).expect("ctr run")
}

fn task_status(c: &Containerd, id: &str) -> Option<String> {
    let out = c.ctr_run(&["tasks", "ls"]).expect("ctr tasks ls");
    out.stdout.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&id)).then(|| f.get(2).unwrap_or(&"").to_string())
    })
}

fn wait_task(c: &Containerd, id: &str, want: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = task_status(c, id);
        if s.as_deref() == Some(want) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Nothing of container `id` remains: runtime state, cgroups, mounts of its bundle, shims.
fn assert_nothing_left(c: &Containerd, id: &str) {
    let state = c.ctr_runtime_root().join(&c.namespace).join(id);
    assert!(!state.exists(), "runtime state {state:?} left behind");
    let cg = cleanup::cgroup_dirs_named(id);
    assert!(cg.is_empty(), "cgroups left behind: {cg:?}");
    let m: Vec<_> = cleanup::mounts_under(c.tmp())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(id))
        .collect();
    assert!(m.is_empty(), "mounts left behind: {m:?}");
    let shims = cleanup::pids_with_cmdline(&format!("-id {id} "));
    assert!(shims.is_empty(), "shim processes left behind: {shims:?}");
}

#[test]
fn ctr_run_rm_passes_output_and_exit_codes() {
    if !ready("ctr_run_rm_passes_output_and_exit_codes", NEEDS) {
        return;
    }
    let c = start();
    let id = unique_id("vitctr");
    let out = ctr_run(&c, &["--rm"], &id, &["echo", "hello from busybox"]);
    assert_eq!(
        out.code(),
        0,
        "ctr run failed: {}\ncontainerd log:\n{}",
        out.stderr,
        c.log()
    );
    assert_eq!(out.stdout.trim(), "hello from busybox");
    let creates = c.wrapper().calls_with("create");
    assert!(
        creates
            .iter()
            .any(|a| a.iter().any(|x| x == &id) && a.iter().any(|x| x == "--bundle")),
        "containerd did not call the runtime under test to create {id}: {creates:?}"
    );
    assert_nothing_left(&c, &id);

    let id2 = unique_id("vitctr");
    let out = ctr_run(&c, &["--rm"], &id2, &["sh", "-c", "exit 7"]);
    assert_eq!(
        out.code(),
        7,
        "exit code not passed through; stdout {:?} stderr {:?}\ncontainerd log:\n{}",
        out.stdout,
        out.stderr,
        c.log()
    );
    assert_nothing_left(&c, &id2);
}

#[test]
fn ctr_task_exec_pause_resume_kill() {
    if !ready("ctr_task_exec_pause_resume_kill", NEEDS) {
        return;
    }
    let c = start();
    let id = unique_id("vittask");
    let out = ctr_run(
        &c,
        &["-d", "--null-io"],
        &id,
        &[
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 0.05; done",
        ],
    );
    assert_eq!(out.code(), 0, "ctr run -d failed: {}", out.stderr);
    assert_eq!(wait_task(&c, &id, "RUNNING").as_deref(), Some("RUNNING"));

    let fifo = c.ctr_fifo_dir().display().to_string();
    let out = c
        .ctr_run(&[
            "tasks",
            "exec",
            "--fifo-dir",
            &fifo,
            "--exec-id",
            "e1",
            &id,
            "sh",
            "-c",
            "echo from-exec; exit 4",
        ])
        .expect("ctr task exec");
    assert_eq!(out.stdout.trim(), "from-exec", "stderr: {}", out.stderr);
    assert_eq!(out.code(), 4, "exec exit code not passed through");

    c.ctr_run(&["tasks", "pause", &id])
        .expect("pause")
        .ok()
        .expect("ctr task pause succeeds");
    assert_eq!(wait_task(&c, &id, "PAUSED").as_deref(), Some("PAUSED"));
    c.ctr_run(&["tasks", "resume", &id])
        .expect("resume")
        .ok()
        .expect("ctr task resume succeeds");
    assert_eq!(wait_task(&c, &id, "RUNNING").as_deref(), Some("RUNNING"));

    let out = c.ctr_run(&["tasks", "ps", &id]).expect("ctr task ps");
    assert_eq!(
        out.code(),
        0,
        "ctr task ps (runtime ps --format json) failed: {}",
        out.stderr
    );

    c.ctr_run(&["tasks", "kill", &id])
        .expect("kill")
        .ok()
        .expect("ctr task kill succeeds");
    assert_eq!(wait_task(&c, &id, "STOPPED").as_deref(), Some("STOPPED"));
    c.ctr_run(&["tasks", "rm", &id])
        .expect("task rm")
        .ok()
        .expect("ctr task rm succeeds");
    c.ctr_run(&["containers", "rm", &id])
        .expect("container rm")
        .ok()
        .expect("ctr container rm succeeds");
    for sub in ["exec", "pause", "resume", "kill", "delete"] {
        assert!(
            !c.wrapper().calls_with(sub).is_empty(),
            "containerd never called `{sub}` on the runtime"
        );
    }
    assert_nothing_left(&c, &id);
    eprintln!("containerd's runtime calls: {:#?}", c.wrapper().calls());
}

#[test]
fn ctr_shows_the_runtime_error_of_a_failing_container() {
    if !ready("ctr_shows_the_runtime_error_of_a_failing_container", NEEDS) {
        return;
    }
    let c = start();
    let id = unique_id("vitbad");
    let out = ctr_run(&c, &["--rm"], &id, &["/no/such/binary"]);
    assert_ne!(out.code(), 0, "a container with a nonexistent binary ran");
    assert!(
        out.stderr.contains("/no/such/binary"),
        "the runtime's error text did not reach ctr; ctr stderr: {:?}",
        out.stderr
    );
    // The task never ran: remove the container record, then nothing may remain.
    let _ = c.ctr_run(&["tasks", "rm", "--force", &id]);
    let _ = c.ctr_run(&["containers", "rm", &id]);
    assert_nothing_left(&c, &id);
}

#[test]
fn guard_leaves_nothing_when_dropped_with_a_running_container() {
    if !ready(
        "guard_leaves_nothing_when_dropped_with_a_running_container",
        NEEDS,
    ) {
        return;
    }
    let c = start();
    let id = unique_id("vitdrop");
    let out = ctr_run(&c, &["-d", "--null-io"], &id, &["sleep", "1000"]);
    assert_eq!(out.code(), 0, "ctr run -d failed: {}", out.stderr);
    assert_eq!(wait_task(&c, &id, "RUNNING").as_deref(), Some("RUNNING"));
    let address = c.address().display().to_string();
    let shims = cleanup::pids_with_cmdline(&address);
    assert!(!shims.is_empty(), "no shim found for a running task");
    let daemon = c.daemon_pid();
    let tmp = c.tmp().to_path_buf();
    let ns_cgroup = format!("/{}", c.namespace);
    assert!(
        !cleanup::cgroup_dirs(&ns_cgroup).is_empty(),
        "the task's cgroup is not at /<namespace>/<id>"
    );
    drop(c); // as a failing test would
    assert!(
        !std::path::Path::new(&format!("/proc/{daemon}")).exists(),
        "containerd still runs"
    );
    assert!(
        cleanup::pids_with_cmdline(&address).is_empty(),
        "shims still run"
    );
    assert!(cleanup::cgroup_dirs(&ns_cgroup).is_empty(), "cgroups left");
    assert!(cleanup::mounts_under(&tmp).is_empty(), "mounts left");
    assert!(!tmp.exists(), "temp dir left");
}
