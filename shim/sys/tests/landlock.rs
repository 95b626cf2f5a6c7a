//! Landlock enforcement, each in a forked child: a domain cannot be left.
#![allow(unsafe_code)]

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use common::{Child, eacces, eperm, errno, have, in_child};
use vigil_sys::landlock::{self, LandlockError, LandlockPlan};

fn abi_at_least(n: u8) -> bool {
    let p = vigil_sys::probe::landlock();
    let abi = landlock::kernel_abi();
    have(&format!("landlock ABI {n}"), abi >= n, &p.detail)
}

struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

/// root/{ro/file, rw/, outside/secret, exec/true, noexec/true} (static busybox copies).
fn tree() -> Tree {
    let _guard = common::fork_lock();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical tempdir");
    for d in ["ro", "rw", "outside", "exec", "noexec"] {
        std::fs::create_dir(root.join(d)).expect("mkdir");
    }
    std::fs::write(root.join("ro/file"), b"readable").expect("write");
    std::fs::write(root.join("outside/secret"), b"secret").expect("write");
    for d in ["exec", "noexec", "ro"] {
        std::fs::copy("/bin/busybox", root.join(d).join("true")).expect("copy busybox");
    }
    Tree { _dir: dir, root }
}

fn busybox_ok() -> bool {
    have(
        "a static /bin/busybox",
        Path::new("/bin/busybox").exists(),
        "/bin/busybox missing",
    )
}

fn run(bin: &Path) -> String {
    match std::process::Command::new(bin).arg("true").status() {
        Ok(s) if s.success() => "ok".into(),
        Ok(s) => format!("exit={s}"),
        Err(e) => format!("errno={}", e.raw_os_error().unwrap_or(-1)),
    }
}

#[test]
fn files_outside_the_plan_are_refused() {
    if !abi_at_least(1) || !busybox_ok() {
        return;
    }
    let t = tree();
    let r = t.root.clone();
    let plan = LandlockPlan {
        read_only: vec![r.join("ro")],
        read_write: vec![r.join("rw")],
        exec: vec![r.join("exec")],
        no_exec: vec![r.join("noexec")],
        ..Default::default()
    };
    let out = in_child(move || {
        let st = landlock::apply(&plan).expect("apply landlock");
        assert!(st.enforced && st.fully_enforced, "{st:?}");
        [
            errno(std::fs::read(r.join("ro/file"))),
            errno(std::fs::read(r.join("outside/secret"))),
            errno(std::fs::write(r.join("ro/new"), b"x")),
            errno(std::fs::write(r.join("rw/new"), b"x")),
            run(&r.join("exec/true")),
            run(&r.join("noexec/true")),
            errno(std::fs::write(r.join("noexec/new"), b"x")),
        ]
        .join(" ")
    });
    let (a, ok) = (eacces(), "ok".to_string());
    let want = [&ok, &a, &a, &ok, &ok, &a, &ok]
        .map(|s| s.as_str())
        .join(" ");
    assert_eq!(
        out,
        Child::Report(want),
        "read ro, read outside, write ro, write rw, exec, exec noexec, write noexec"
    );
    assert!(t.root.join("rw/new").exists());
    assert!(!t.root.join("ro/new").exists());
}

#[test]
fn nearest_listed_path_wins() {
    if !abi_at_least(1) || !busybox_ok() {
        return;
    }
    let t = tree();
    let r = t.root.clone();
    // Everything writable and executable, except: ro is read-only, noexec not executable.
    let plan = LandlockPlan {
        read_write: vec![r.clone()],
        exec: vec![r.clone()],
        read_only: vec![r.join("ro")],
        no_exec: vec![r.join("noexec")],
        ..Default::default()
    };
    let out = in_child(move || {
        let st = landlock::apply(&plan).expect("apply landlock");
        assert!(st.path_rules > 2, "expansion produced {st:?}");
        [
            errno(std::fs::write(r.join("ro/new"), b"x")),
            errno(std::fs::read(r.join("ro/file"))),
            errno(std::fs::write(r.join("outside/new"), b"x")),
            errno(std::fs::write(r.join("top"), b"x")),
            run(&r.join("exec/true")),
            run(&r.join("noexec/true")),
            errno(std::fs::write(r.join("noexec/new"), b"x")),
            run(&r.join("ro/true")),
        ]
        .join(" ")
    });
    let (a, ok) = (eacces(), "ok".to_string());
    // read_only takes write away but leaves execute inherited (ro/true runs).
    // "top" is a new entry directly in an expanded directory: it gets no expanded right.
    let want = [&a, &ok, &ok, &a, &ok, &a, &ok, &ok]
        .map(|s| s.as_str())
        .join(" ");
    assert_eq!(out, Child::Report(want));
}

#[test]
fn no_exec_without_exec_list_keeps_exec_elsewhere() {
    if !abi_at_least(1) || !busybox_ok() {
        return;
    }
    let t = tree();
    let r = t.root.clone();
    let plan = LandlockPlan {
        read_write: vec![PathBuf::from("/")],
        no_exec: vec![r.join("noexec")],
        ..Default::default()
    };
    let out = in_child(move || {
        landlock::apply(&plan).expect("apply landlock");
        format!(
            "{} {}",
            run(&r.join("exec/true")),
            run(&r.join("noexec/true"))
        )
    });
    assert_eq!(out, Child::Report(format!("ok {}", eacces())));
}

#[test]
fn tcp_connect_and_bind_outside_the_allowed_ports_are_refused() {
    if !abi_at_least(4) {
        return;
    }
    let allowed = TcpListener::bind("127.0.0.1:0").expect("listen");
    let other = TcpListener::bind("127.0.0.1:0").expect("listen");
    let (pa, po) = (
        allowed.local_addr().expect("addr").port(),
        other.local_addr().expect("addr").port(),
    );
    let plan = LandlockPlan {
        tcp_connect: Some(vec![pa]),
        tcp_bind: Some(vec![]),
        ..Default::default()
    };
    let out = in_child(move || {
        landlock::apply(&plan).expect("apply landlock");
        [
            errno(TcpStream::connect(("127.0.0.1", pa))),
            errno(TcpStream::connect(("127.0.0.1", po))),
            errno(TcpListener::bind("127.0.0.1:0")),
            errno(std::fs::read("/proc/self/status")),
        ]
        .join(" ")
    });
    assert_eq!(
        out,
        Child::Report(format!("ok {} {} ok", eacces(), eacces()))
    );
}

#[test]
fn scoped_signals_cannot_reach_outside_the_domain() {
    if !abi_at_least(6) {
        return;
    }
    let parent = nix::unistd::getpid();
    let plan = LandlockPlan {
        scope_signals: true,
        scope_abstract_unix: true,
        ..Default::default()
    };
    let out = in_child(move || {
        landlock::apply(&plan).expect("apply landlock");
        let me = nix::unistd::getpid();
        let outside = nix::sys::signal::kill(parent, None).map_err(std::io::Error::from);
        let inside = nix::sys::signal::kill(me, None).map_err(std::io::Error::from);
        format!("{} {}", errno(outside), errno(inside))
    });
    assert_eq!(out, Child::Report(format!("{} ok", eperm())));
}

#[test]
fn log_new_exec_is_reported() {
    if !abi_at_least(7) {
        return;
    }
    let plan = LandlockPlan {
        read_only: vec![PathBuf::from("/")],
        log_new_exec: true,
        ..Default::default()
    };
    let out = in_child(move || {
        let st = landlock::apply(&plan).expect("apply landlock");
        format!(
            "abi={} log_new_exec={} full={}",
            st.abi >= 7,
            st.log_new_exec,
            st.fully_enforced
        )
    });
    assert_eq!(
        out,
        Child::Report("abi=true log_new_exec=true full=true".into())
    );
}

#[test]
fn kernel_older_than_min_abi_is_an_error_naming_both() {
    let kernel = landlock::kernel_abi();
    let plan = LandlockPlan {
        read_only: vec![PathBuf::from("/")],
        min_abi: Some(kernel + 1),
        ..Default::default()
    };
    // Fails before anything is enforced, so no child is needed.
    let err = landlock::apply(&plan).expect_err("ABI too old");
    assert!(
        matches!(err, LandlockError::AbiTooOld { needed, kernel: k } if needed == kernel + 1 && k == kernel)
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("ABI {}", kernel + 1)) && msg.contains(&format!("ABI {kernel}")),
        "{msg}"
    );
}

#[test]
fn missing_paths_are_skipped_or_required() {
    let t = tree();
    let missing = t.root.join("does-not-exist");
    let mut plan = LandlockPlan {
        read_only: vec![t.root.join("ro"), missing.clone()],
        paths_required: true,
        ..Default::default()
    };
    let err = landlock::resolve_fs_rules(&plan).expect_err("required path missing");
    assert!(err.to_string().contains("does-not-exist"), "{err}");
    plan.paths_required = false;
    let rules = landlock::resolve_fs_rules(&plan).expect("skip missing");
    assert_eq!(rules.skipped, vec![missing]);
    assert_eq!(rules.rules.len(), 1);
    assert!(rules.rules.contains_key(&t.root.join("ro")));
}

#[test]
fn bind_mount_aliases_of_a_taken_away_path_stay_covered() {
    if !abi_at_least(1) || !busybox_ok() {
        return;
    }
    use nix::mount::{MsFlags, mount};
    let t = tree();
    let r = t.root.clone();
    let alias = r.join("outside/alias");
    std::fs::create_dir(&alias).expect("mkdir alias");
    let plan = LandlockPlan {
        read_write: vec![PathBuf::from("/")],
        no_exec: vec![r.join("noexec")],
        ..Default::default()
    };
    let out = in_child(move || {
        // A private mount namespace of this child only: it vanishes when the child exits.
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS) {
            return format!("skip: unshare(CLONE_NEWNS): {e}");
        }
        let none: Option<&str> = None;
        mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
            .expect("make / private");
        // The tree bind-mounted inside itself: noexec is also reachable as outside/alias/noexec.
        mount(Some(&r), &alias, none, MsFlags::MS_BIND, none).expect("bind mount");
        landlock::apply(&plan).expect("apply landlock");
        [
            run(&r.join("exec/true")),
            run(&r.join("noexec/true")),
            run(&alias.join("exec/true")),
            run(&alias.join("noexec/true")),
        ]
        .join(" ")
    });
    if let Child::Report(s) = &out
        && let Some(why) = s.strip_prefix("skip: ")
        && !have("mount namespaces (CAP_SYS_ADMIN)", false, why)
    {
        return;
    }
    assert_eq!(out, Child::Report(format!("ok {a} ok {a}", a = eacces())));
}

/// ns per open+close of a file 6 levels deep, best of 5 runs.
fn open_close_ns(path: &Path, n: u32) -> f64 {
    (0..5)
        .map(|_| {
            let start = std::time::Instant::now();
            for _ in 0..n {
                drop(std::hint::black_box(
                    std::fs::File::open(path).expect("open"),
                ));
            }
            start.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn open_close_cost_under_a_domain_is_reported() {
    if !abi_at_least(1) {
        return;
    }
    let t = tree();
    let deep = t.root.join("rw/a/b/c/d");
    let file = deep.join("f");
    {
        let _guard = common::fork_lock();
        std::fs::create_dir_all(&deep).expect("mkdir -p");
        std::fs::write(&file, b"x").expect("write");
    }
    let r = t.root.clone();
    let plan = LandlockPlan {
        read_only: vec![PathBuf::from("/")],
        read_write: vec![r.join("rw")],
        exec: vec![PathBuf::from("/usr")],
        no_exec: vec![r.join("noexec")],
        ..Default::default()
    };
    let out = in_child(move || {
        let before = open_close_ns(&file, 50_000);
        let st = landlock::apply(&plan).expect("apply");
        let after = open_close_ns(&file, 50_000);
        format!("{before} {after} {}", st.path_rules)
    });
    let Child::Report(s) = out else {
        panic!("child failed: {out:?}")
    };
    let v: Vec<f64> = s.split(' ').map(|x| x.parse().expect("number")).collect();
    eprintln!(
        "open+close: {:.0} ns without Landlock, {:.0} ns under a {}-rule domain ({:.2}x)",
        v[0],
        v[1],
        v[2],
        v[1] / v[0]
    );
    assert!(v[1] > 0.0 && v[0] > 0.0);
}

#[test]
fn exec_allow_list_of_one_dynamic_binary_runs_it_and_nothing_else() {
    let (yes, no) = (Path::new("/usr/bin/true"), Path::new("/usr/bin/false"));
    if !abi_at_least(1)
        || !have(
            "/usr/bin/true and false",
            yes.exists() && no.exists(),
            "missing",
        )
    {
        return;
    }
    let plan = LandlockPlan {
        read_only: vec![PathBuf::from("/")],
        exec: vec![yes.to_path_buf()],
        ..Default::default()
    };
    let out = in_child(move || {
        landlock::apply(&plan).expect("apply landlock");
        let status = |p: &Path| match std::process::Command::new(p).status() {
            Ok(s) => format!("exit={}", s.code().unwrap_or(-1)),
            Err(e) => format!("errno={}", e.raw_os_error().unwrap_or(-1)),
        };
        format!("{} {}", status(yes), status(no))
    });
    // true runs (with its ELF interpreter added); false is refused before it starts.
    assert_eq!(out, Child::Report(format!("exit=0 {}", eacces())));
}
