//! Debian's dockerd with its own data-root, the `vigil` runtime from
//! `containerd-config/docker-daemon.json`: `docker run --rm --network none --runtime vigil`.

use vigil_integration::cleanup;
use vigil_integration::dockerd::Dockerd;
use vigil_integration::image::BUSYBOX_REF;
use vigil_integration::probe::{Need, ready};
use vigil_integration::unique_id;

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Binary("dockerd"),
    Need::Binary("docker"),
    Need::Cgroup("pids"),
];

#[test]
fn docker_run_with_runtime_vigil() {
    if !ready("docker_run_with_runtime_vigil", NEEDS) {
        return;
    }
    let d = Dockerd::start().expect("dockerd starts");
    d.load_busybox().expect("docker load busybox");
    let info = d
        .docker(&["info", "--format", "{{json .Runtimes}}"])
        .expect("docker info")
        .ok()
        .expect("docker info succeeds");
    assert!(
        info.stdout.contains("\"vigil\""),
        "dockerd does not list the vigil runtime: {}",
        info.stdout
    );

    let name = unique_id("vitdock");
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--runtime",
            "vigil",
            "--name",
            &name,
            BUSYBOX_REF,
            "sh",
            "-c",
            "echo hello-docker; cat /proc/1/cmdline | tr '\\0' ' '",
        ])
        .expect("docker run");
    assert_eq!(
        out.code(),
        0,
        "docker run failed: {}\ndockerd log:\n{}",
        out.stderr,
        d.log()
    );
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("hello-docker"));
    assert_eq!(
        lines.next().map(str::trim),
        Some("sh -c echo hello-docker; cat /proc/1/cmdline | tr '\\0' ' '"),
        "pid 1 is not the container's command"
    );

    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--runtime",
            "vigil",
            BUSYBOX_REF,
            "sh",
            "-c",
            "exit 42",
        ])
        .expect("docker run");
    assert_eq!(
        out.code(),
        42,
        "exit code not passed through; stderr: {}",
        out.stderr
    );

    let out = d
        .docker(&[
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "--runtime",
            "vigil",
            BUSYBOX_REF,
            "sh",
            "-c",
            "exit 0",
        ])
        .expect("docker run -i");
    assert_eq!(out.code(), 0, "stderr: {}", out.stderr);

    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--runtime",
            "vigil",
            BUSYBOX_REF,
            "/no/such/binary",
        ])
        .expect("docker run");
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr.contains("/no/such/binary"),
        "the runtime's error did not reach docker: {}",
        out.stderr
    );

    let creates = d.wrapper().calls_with("create");
    assert!(
        creates.len() >= 4,
        "dockerd did not use the vigil runtime for every run: {creates:?}"
    );
    eprintln!("dockerd's runtime calls: {:#?}", d.wrapper().calls());
    let ps = d.docker(&["ps", "-aq"]).expect("docker ps");
    assert!(
        ps.stdout.trim().is_empty(),
        "containers left after --rm: {}",
        ps.stdout
    );
    let cg: Vec<_> = cleanup::cgroup_dirs(&d.cgroup_parent)
        .into_iter()
        .filter(|p| {
            std::fs::read_dir(p).is_ok_and(|mut r| r.any(|e| e.is_ok_and(|e| e.path().is_dir())))
        })
        .collect();
    assert!(
        cg.is_empty(),
        "container cgroups left under {}: {cg:?}",
        d.cgroup_parent
    );
}

#[test]
fn guard_leaves_nothing_when_dropped_with_a_running_container() {
    if !ready(
        "guard_leaves_nothing_when_dropped_with_a_running_container",
        NEEDS,
    ) {
        return;
    }
    let d = Dockerd::start().expect("dockerd starts");
    d.load_busybox().expect("docker load busybox");
    let out = d
        .docker(&[
            "run",
            "-d",
            "--network",
            "none",
            "--runtime",
            "vigil",
            BUSYBOX_REF,
            "sleep",
            "1000",
        ])
        .expect("docker run -d");
    assert_eq!(out.code(), 0, "docker run -d failed: {}", out.stderr);
    let daemon = d.daemon_pid();
    let tmp = d.tmp().to_path_buf();
    let parent = d.cgroup_parent.clone();
    assert!(
        !cleanup::cgroup_dirs(&parent).is_empty(),
        "the container is not under cgroup-parent {parent}"
    );
    drop(d); // as a failing test would
    assert!(
        !std::path::Path::new(&format!("/proc/{daemon}")).exists(),
        "dockerd still runs"
    );
    assert!(
        cleanup::pids_with_cmdline(&tmp.display().to_string()).is_empty(),
        "containerd or shims still run"
    );
    assert!(cleanup::cgroup_dirs(&parent).is_empty(), "cgroups left");
    assert!(cleanup::mounts_under(&tmp).is_empty(), "mounts left");
    assert!(!tmp.exists(), "temp dir left");
}
