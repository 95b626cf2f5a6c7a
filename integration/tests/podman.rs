//! Podman 4.3 with private storage and configuration: `podman --runtime <runtime> run` and the
//! `vigil` runtime table of `containerd-config/podman-containers.conf`.

use vigil_integration::cleanup;
use vigil_integration::image::BUSYBOX_REF;
use vigil_integration::podman::{Podman, default_runtime_root};
use vigil_integration::probe::{Need, ready};

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Binary("podman"),
    Need::Binary("conmon"),
    Need::Cgroup("pids"),
];

#[test]
fn podman_run_with_the_runtime_under_test() {
    if !ready("podman_run_with_the_runtime_under_test", NEEDS) {
        return;
    }
    let p = Podman::new().expect("podman setup");
    p.load_busybox().expect("podman load busybox");
    let wrapper = p.wrapper().path.display().to_string();
    let parent = p.cgroup_parent.clone();
    let base = ["--network", "none", "--cgroup-parent", parent.as_str()];

    // By path, as `podman --runtime /path/to/vigil`.
    let mut args = vec!["--runtime", wrapper.as_str(), "run", "--rm"];
    args.extend(base);
    args.extend([BUSYBOX_REF, "sh", "-c", "echo hello-podman; exit 0"]);
    let out = p.run(&args).expect("podman run");
    assert_eq!(out.code(), 0, "podman run failed: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "hello-podman");

    // By name, through the snippet's [engine.runtimes] table.
    let mut args = vec!["--runtime", "vigil", "run", "--rm"];
    args.extend(base);
    args.extend([BUSYBOX_REF, "sh", "-c", "echo via-name; exit 9"]);
    let out = p.run(&args).expect("podman run");
    assert_eq!(
        out.code(),
        9,
        "exit code not passed through; stderr: {}",
        out.stderr
    );
    assert_eq!(out.stdout.trim(), "via-name");

    // stdin with -i.
    let mut args = vec!["--runtime", "vigil", "run", "--rm", "-i"];
    args.extend(base);
    args.extend([BUSYBOX_REF, "sh", "-c", "ulimit -n"]);
    let out = p.run(&args).expect("podman run -i");
    assert_eq!(out.code(), 0, "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "20000",
        "default_ulimits of containers.conf not applied"
    );

    let creates = p.wrapper().calls_with("create");
    assert!(
        creates.len() >= 3,
        "podman did not call the runtime under test for every run: {creates:?}"
    );
    let ids: Vec<String> = creates.iter().filter_map(|c| c.last().cloned()).collect();
    let root = default_runtime_root(&p.wrapper().real);
    for id in &ids {
        assert!(
            !root.join(id).exists(),
            "runtime state {:?} left behind",
            root.join(id)
        );
        assert!(
            cleanup::cgroup_dirs_named(id).is_empty(),
            "cgroups of {id} left behind"
        );
    }
    let ps = p.run(&["ps", "-aq"]).expect("podman ps");
    assert!(
        ps.stdout.trim().is_empty(),
        "containers left after --rm: {}",
        ps.stdout
    );
    eprintln!("podman's runtime calls: {:#?}", p.runtime_calls());
}

#[test]
fn guard_leaves_nothing_when_dropped_with_a_running_container() {
    if !ready(
        "guard_leaves_nothing_when_dropped_with_a_running_container",
        NEEDS,
    ) {
        return;
    }
    let p = Podman::new().expect("podman setup");
    p.load_busybox().expect("podman load busybox");
    let parent = p.cgroup_parent.clone();
    let out = p
        .run(&[
            "--runtime",
            "vigil",
            "run",
            "-d",
            "--network",
            "none",
            "--cgroup-parent",
            &parent,
            BUSYBOX_REF,
            "sleep",
            "1000",
        ])
        .expect("podman run -d");
    assert_eq!(out.code(), 0, "podman run -d failed: {}", out.stderr);
    let id = out.stdout.trim().to_string();
    let tmp = p.tmp().to_path_buf();
    let root = default_runtime_root(&p.wrapper().real);
    assert!(
        root.join(&id).exists(),
        "podman's runtime state is not in {root:?}"
    );
    assert!(
        !cleanup::cgroup_dirs(&parent).is_empty(),
        "the container is not under --cgroup-parent {parent}"
    );
    drop(p); // as a failing test would
    assert!(
        cleanup::pids_with_cmdline(&tmp.display().to_string()).is_empty(),
        "conmon still runs"
    );
    assert!(
        cleanup::pids_with_cmdline(&id).is_empty(),
        "processes of {id} still run"
    );
    assert!(!root.join(&id).exists(), "runtime state left");
    assert!(cleanup::cgroup_dirs(&parent).is_empty(), "cgroups left");
    assert!(cleanup::mounts_under(&tmp).is_empty(), "mounts left");
    assert!(!tmp.exists(), "temp dir left");
}
