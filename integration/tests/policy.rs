//! Policies end to end (issue 3): each test writes its own host configuration (config.yaml with
//! policyDir, journalDir and stateDir under a temp dir) and policies, runs vigil with
//! `VIGIL_CONFIG` pointing there, and checks from inside the container what a user would check:
//! syscalls denied with EPERM, capabilities gone from /proc/self/status, a fork bomb stopped at
//! the pids limit, Landlock refusing writes, execs and connects, `exec` confined the same way,
//! bad selections and bad policies failing `create` cleanly, and the journal recording it all.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigil_integration::bundle::Bundle;
use vigil_integration::cleanup;
use vigil_integration::cmd::{self, Output};
use vigil_integration::containerd::Containerd;
use vigil_integration::image::BUSYBOX_REF;
use vigil_integration::probe::{Need, ready};
use vigil_integration::runtime::runtime_bin;
use vigil_integration::unique_id;

const NEEDS: &[Need] = &[Need::Root, Need::Cgroup("pids")];
const POLICY_ANNOTATION: &str = "vigil.dev/policy";

/// A host configuration of our own under a temp dir, and vigil run with it.
struct Host {
    tmp: tempfile::TempDir,
    bin: PathBuf,
}

impl Host {
    /// Writes `config.yaml` (default policy `default_policy`, the given `selectable` names) and
    /// each `(name, yaml body of spec)` policy as `policies/NAME.yaml`, root-owned, 0644/0755.
    fn new(default_policy: &str, selectable: &[&str], policies: &[(&str, &str)]) -> Host {
        let tmp = tempfile::Builder::new()
            .prefix("vit-pol-")
            .tempdir()
            .expect("temp dir");
        let t = tmp.path();
        std::fs::set_permissions(t, std::fs::Permissions::from_mode(0o755)).expect("chmod tmp");
        for (d, mode) in [("policies", 0o755), ("journal", 0o700), ("state", 0o700)] {
            std::fs::create_dir(t.join(d)).expect("mkdir");
            std::fs::set_permissions(t.join(d), std::fs::Permissions::from_mode(mode))
                .expect("chmod dir");
        }
        let config = format!(
            "policyDir: {p}/policies\njournalDir: {p}/journal\nstateDir: {p}/state\n\
             defaultPolicy: {default_policy}\nselectable: [{sel}]\n\
             monitor: {{socket: {p}/monitor.sock, autoStart: false}}\n",
            p = t.display(),
            sel = selectable.join(", "),
        );
        write_root_file(&t.join("config.yaml"), &config);
        let host = Host {
            bin: runtime_bin().expect("runtime under test"),
            tmp,
        };
        for (name, spec) in policies {
            host.write_policy(name, &policy_yaml(name, spec));
        }
        host
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }
    fn config(&self) -> PathBuf {
        self.path().join("config.yaml")
    }
    fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    fn write_policy(&self, name: &str, text: &str) {
        write_root_file(
            &self.path().join("policies").join(format!("{name}.yaml")),
            text,
        );
    }

    /// `vigil --root STATE ARGS...` with `VIGIL_CONFIG` set, stdin from /dev/null.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("VIGIL_CONFIG", self.config())
            .arg("--root")
            .arg(self.state())
            .args(args);
        c
    }

    fn vigil(&self, args: &[&str]) -> Output {
        cmd::run(&mut self.command(args), Duration::from_secs(60)).expect("run vigil")
    }

    /// A busybox bundle `name` running `sh -c script`, cgroupsPath `/<id>`, with `policy`
    /// asked for by annotation when given, then `edit` applied to config.json.
    fn bundle(
        &self,
        name: &str,
        id: &str,
        policy: Option<&str>,
        script: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Bundle {
        let mut b = Bundle::builder()
            .args(["sh", "-c", script])
            .cgroups_path(format!("/{id}"));
        if let Some(p) = policy {
            b = b.annotation(POLICY_ANNOTATION, p);
        }
        let mut bundle = b.build_in(self.path(), name).expect("bundle");
        bundle.edit_config(edit).expect("edit config.json");
        bundle
    }

    /// `vigil run --bundle B ID` in the foreground: exit code and output of the container.
    fn run(&self, bundle: &Bundle, id: &str) -> Output {
        let _g = Guard::new(self, id);
        self.vigil(&["run", "--bundle", bundle.path_str(), id])
    }

    /// Container `id`'s state JSON.
    fn state_of(&self, id: &str) -> Value {
        let out = self.vigil(&["state", id]);
        assert_eq!(out.code(), 0, "state {id}: {}", out.stderr);
        serde_json::from_str(&out.stdout).expect("state prints JSON")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        cleanup::unmount_under(self.tmp.path());
    }
}

/// Deletes the container (with our config) and its cgroups when dropped.
struct Guard<'a> {
    host: &'a Host,
    id: String,
}

impl<'a> Guard<'a> {
    fn new(host: &'a Host, id: &str) -> Self {
        Guard {
            host,
            id: id.to_string(),
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = cmd::run(
            &mut self.host.command(&["delete", "--force", &self.id]),
            Duration::from_secs(30),
        );
        cleanup::remove_cgroup_tree(&format!("/{}", self.id));
    }
}

fn write_root_file(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod file");
}

/// A policy file: header plus `spec` (YAML lines, indented by the caller at 2 spaces).
fn policy_yaml(name: &str, spec: &str) -> String {
    format!("apiVersion: vigil.dev/v1\nkind: Policy\nmetadata: {{name: {name}}}\nspec:\n{spec}")
}

/// The value of `key=` in the container's output lines (`echo key=$?` markers).
fn marker<'a>(out: &'a Output, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| {
            panic!(
                "no {key}= line in the container's output; stdout: {:?}, stderr: {:?}",
                out.stdout, out.stderr
            )
        })
}

fn set_capabilities(spec: &mut Value, caps: &[&str]) {
    let caps = json!(caps);
    for set in ["bounding", "effective", "permitted"] {
        spec["process"]["capabilities"][set] = caps.clone();
    }
    spec["process"]["capabilities"]["ambient"] = json!([]);
}

/// Capability numbers of the names this file uses (linux/capability.h).
fn cap_bit(name: &str) -> u32 {
    match name {
        "CAP_CHOWN" => 0,
        "CAP_DAC_READ_SEARCH" => 2,
        "CAP_KILL" => 5,
        "CAP_NET_BIND_SERVICE" => 10,
        "CAP_NET_ADMIN" => 12,
        "CAP_NET_RAW" => 13,
        "CAP_SYS_PTRACE" => 19,
        "CAP_SYS_ADMIN" => 21,
        "CAP_AUDIT_WRITE" => 29,
        other => panic!("cap_bit: add {other}"),
    }
}

/// The `CapEff:` mask printed by `grep CapEff /proc/self/status` in the container.
fn cap_eff(out: &Output) -> u64 {
    let hex = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff line; stdout {:?}", out.stdout))
        .trim();
    u64::from_str_radix(hex, 16).expect("CapEff is hex")
}

#[test]
fn default_policy_denies_unshare_and_drops_capabilities() {
    if !ready(
        "default_policy_denies_unshare_and_drops_capabilities",
        NEEDS,
    ) {
        return;
    }
    let h = Host::new(
        "default",
        &["default", "open", "noraw"],
        &[
            ("open", "  {}\n"),
            (
                "noraw",
                "  extends: default\n  capabilities: {drop: [NET_RAW]}\n",
            ),
        ],
    );
    // The engine grants dangerous capabilities (as with --cap-add): the policy must undo them.
    let granted = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_RAW",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_ADMIN",
        "CAP_SYS_PTRACE",
        "CAP_NET_ADMIN",
        "CAP_DAC_READ_SEARCH",
    ];
    let script = "unshare -U true; echo unshare=$?; grep CapEff /proc/self/status";
    let run = |name: &str, policy: Option<&str>| {
        let id = unique_id("vitpcap");
        let b = h.bundle(name, &id, policy, script, |s| set_capabilities(s, &granted));
        let out = h.run(&b, &id);
        assert_eq!(out.code(), 0, "container failed: {}", out.stderr);
        out
    };

    // Control: a policy with no rules lets unshare through and keeps the engine's capabilities.
    let open = run("open", Some("open"));
    assert_eq!(
        marker(&open, "unshare"),
        "0",
        "unshare -U fails even without a policy rule, so the test proves nothing: {}",
        open.stderr
    );
    let engine_mask: u64 = granted.iter().map(|c| 1u64 << cap_bit(c)).sum();
    assert_eq!(
        cap_eff(&open),
        engine_mask,
        "the open policy changed CapEff"
    );

    let def = run("default", None);
    assert_ne!(marker(&def, "unshare"), "0", "unshare -U succeeded");
    assert!(
        def.stderr.contains("Operation not permitted"),
        "unshare not denied with EPERM: {:?}",
        def.stderr
    );
    let eff = cap_eff(&def);
    for gone in [
        "CAP_SYS_ADMIN",
        "CAP_SYS_PTRACE",
        "CAP_NET_ADMIN",
        "CAP_DAC_READ_SEARCH",
    ] {
        assert_eq!(eff & (1 << cap_bit(gone)), 0, "{gone} kept: CapEff {eff:x}");
    }
    for kept in [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
    ] {
        assert_ne!(
            eff & (1 << cap_bit(kept)),
            0,
            "{kept} dropped: CapEff {eff:x}"
        );
    }

    let noraw = run("noraw", Some("noraw"));
    let eff = cap_eff(&noraw);
    assert_eq!(
        eff & (1 << cap_bit("CAP_NET_RAW")),
        0,
        "NET_RAW kept: {eff:x}"
    );
    assert_eq!(
        eff & (1 << cap_bit("CAP_SYS_ADMIN")),
        0,
        "SYS_ADMIN kept: {eff:x}"
    );
    assert_ne!(
        eff & (1 << cap_bit("CAP_CHOWN")),
        0,
        "CHOWN dropped: {eff:x}"
    );
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    if !ready("pids_limit_stops_a_fork_bomb", NEEDS) {
        return;
    }
    let h = Host::new(
        "pids20",
        &["default"],
        &[("pids20", "  extends: default\n  resources: {pids: 20}\n")],
    );
    let id = unique_id("vitppid");
    // A subshell spawns 60 sleepers and dies at the first failed fork; init then execs (no
    // fork) into a long sleep so the limit can be read while the container is full.
    let script = "(i=0; while [ $i -lt 60 ]; do sleep 600 & i=$((i+1)); echo $i > /dev/shm/n; done) 2>/dev/shm/err; exec sleep 600";
    let b = h.bundle("b", &id, None, script, |_| {});
    let _g = Guard::new(&h, &id);
    let out = h.vigil(&["create", "--bundle", b.path_str(), &id]);
    assert_eq!(out.code(), 0, "create: {}", out.stderr);
    let out = h.vigil(&["start", &id]);
    assert_eq!(out.code(), 0, "start: {}", out.stderr);
    let pid = h.state_of(&id)["pid"]
        .as_i64()
        .expect("state has the init pid");
    let shm = PathBuf::from(format!("/proc/{pid}/root/dev/shm"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let err = loop {
        let err = std::fs::read_to_string(shm.join("err")).unwrap_or_default();
        if err.contains("fork") || Instant::now() > deadline {
            break err;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        err.contains("can't fork"),
        "the fork bomb was not stopped: stderr {err:?}"
    );
    let max = cleanup::cgroup_file(&format!("/{id}"), "pids", "pids.max").expect("pids.max");
    assert_eq!(max.trim(), "20", "cgroup pids.max");
    let current =
        cleanup::cgroup_file(&format!("/{id}"), "pids", "pids.current").expect("pids.current");
    let current: u32 = current.trim().parse().expect("pids.current is a number");
    assert!(current <= 20, "pids.current {current} above the limit");
    let spawned: u32 = std::fs::read_to_string(shm.join("n"))
        .unwrap_or_default()
        .trim()
        .parse()
        .expect("the bomb spawned some sleepers");
    assert!(
        (10..20).contains(&spawned),
        "spawned {spawned} sleepers under pids 20"
    );
}

#[test]
fn memory_limit_kills_a_hog() {
    if !ready(
        "memory_limit_kills_a_hog",
        &[Need::Root, Need::Cgroup("memory")],
    ) {
        return;
    }
    let h = Host::new(
        "mem64",
        &["default"],
        &[("mem64", "  extends: default\n  resources: {memory: 64Mi}\n")],
    );
    let id = unique_id("vitpmem");
    // awk doubles a string: 2^22 bytes fits in 64 MiB, 2^28 does not.
    let script = "echo limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max); \
                  awk 'BEGIN{s=\"x\"; for(i=0;i<22;i++) s=s s; print length(s)}'; echo small=$?; \
                  awk 'BEGIN{s=\"x\"; for(i=0;i<28;i++) s=s s; print length(s)}'; echo hog=$?";
    let b = h.bundle("b", &id, None, script, |_| {});
    let out = h.run(&b, &id);
    assert_eq!(out.code(), 0, "container failed: {}", out.stderr);
    assert_eq!(
        marker(&out, "limit"),
        (64u64 << 20).to_string(),
        "memory limit"
    );
    assert_eq!(
        marker(&out, "small"),
        "0",
        "4 MiB did not fit: {}",
        out.stderr
    );
    assert_eq!(
        marker(&out, "hog"),
        "137",
        "a 256 MiB hog was not OOM-killed; stdout {:?}",
        out.stdout
    );
}

#[test]
fn syscall_deny_enforces_eperm_and_audit_mode_allows() {
    if !ready("syscall_deny_enforces_eperm_and_audit_mode_allows", NEEDS) {
        return;
    }
    let deny = "  syscalls: {deny: [mkdir, mkdirat]}\n";
    let h = Host::new(
        "default",
        &["default", "nomkdir", "auditmkdir"],
        &[
            ("nomkdir", deny),
            ("auditmkdir", &format!("  mode: audit\n{deny}")),
        ],
    );
    // /dev/shm is a writable tmpfs: only seccomp can make mkdir fail there.
    let script = "mkdir /dev/shm/d; echo mkdir=$?; touch /dev/shm/f; echo touch=$?";
    let id = unique_id("vitpsys");
    let b = h.bundle("enforce", &id, Some("nomkdir"), script, |_| {});
    let out = h.run(&b, &id);
    assert_eq!(out.code(), 0, "container failed: {}", out.stderr);
    assert_ne!(marker(&out, "mkdir"), "0", "mkdir was not denied");
    assert!(
        out.stderr.contains("Operation not permitted"),
        "mkdir not denied with EPERM: {:?}",
        out.stderr
    );
    assert_eq!(marker(&out, "touch"), "0", "an allowed syscall failed");

    let id = unique_id("vitpaud");
    let b = h.bundle("audit", &id, Some("auditmkdir"), script, |_| {});
    let out = h.run(&b, &id);
    assert_eq!(out.code(), 0, "container failed: {}", out.stderr);
    assert_eq!(
        marker(&out, "mkdir"),
        "0",
        "audit mode denied mkdir: {}",
        out.stderr
    );
}

/// Whether `vigil doctor` reports Landlock with ABI `min_abi` or newer. Like `probe::ready`:
/// prints `SKIP` and returns false, or panics under `VIGIL_REQUIRE_PRIVILEGED=1`.
fn landlock_ready(test: &str, min_abi: u32) -> bool {
    let bin = runtime_bin().expect("runtime under test");
    let out = cmd::run(
        Command::new(bin).args(["doctor", "--format", "json"]),
        Duration::from_secs(30),
    )
    .expect("run vigil doctor");
    let layers: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let landlock = layers
        .as_array()
        .and_then(|a| a.iter().find(|l| l["layer"] == "landlock"));
    let abi = landlock
        .filter(|l| l["available"] == true)
        .and_then(|l| l["detail"].as_str())
        .and_then(|d| d.strip_prefix("ABI "))
        .and_then(|d| d.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    if abi >= min_abi {
        return true;
    }
    let msg = format!("{test}: needs Landlock ABI {min_abi}, vigil doctor says: {landlock:?}");
    assert!(
        !vigil_integration::probe::require_privileged(),
        "VIGIL_REQUIRE_PRIVILEGED=1 but {msg}"
    );
    eprintln!("SKIP {msg}");
    false
}

#[test]
fn landlock_read_only_and_no_exec_paths() {
    if !ready("landlock_read_only_and_no_exec_paths", NEEDS) {
        return;
    }
    // readOnly needs ABI 3 (truncate), noExec ABI 1.
    if !landlock_ready("landlock_read_only_and_no_exec_paths", 3) {
        return;
    }
    let h = Host::new(
        "default",
        &["default", "fs", "open"],
        &[
            ("fs", "  filesystem: {readOnly: [/etc], noExec: [/tmp]}\n"),
            ("open", "  {}\n"),
        ],
    );
    let script = "echo x > /etc/vigil-probe; echo etc=$?; mkdir /newdir; echo newdir=$?; \
                  cp /bin/busybox /tmp/true; echo cp=$?; /tmp/true; echo exec=$?; \
                  /bin/busybox true; echo binexec=$?";
    let rw_root = |s: &mut Value| s["root"]["readonly"] = json!(false);

    // Control: with a writable root and no rules, everything works.
    let id = unique_id("vitpfso");
    let b = h.bundle("open", &id, Some("open"), script, rw_root);
    let out = h.run(&b, &id);
    for k in ["etc", "newdir", "cp", "exec", "binexec"] {
        assert_eq!(
            marker(&out, k),
            "0",
            "{k} failed without a policy: {}",
            out.stderr
        );
    }

    let id = unique_id("vitpfs");
    let b = h.bundle("fs", &id, Some("fs"), script, rw_root);
    let out = h.run(&b, &id);
    assert_ne!(marker(&out, "etc"), "0", "wrote under read-only /etc");
    assert!(
        !b.rootfs().join("etc/vigil-probe").exists(),
        "the file under /etc was created"
    );
    // Outside /etc only Landlock's expansion of readOnly (grants on /'s other entries) stops
    // new entries in /: a Landlock EACCES.
    assert_ne!(marker(&out, "newdir"), "0", "mkdir /newdir allowed");
    assert!(
        out.stderr
            .contains("can't create directory '/newdir': Permission denied"),
        "Landlock denial is not EACCES: {:?}",
        out.stderr
    );
    assert_eq!(marker(&out, "cp"), "0", "/tmp not writable: {}", out.stderr);
    assert_eq!(
        marker(&out, "exec"),
        "126",
        "exec under noExec /tmp: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("/tmp/true: Permission denied"),
        "exec under /tmp not refused with EACCES: {:?}",
        out.stderr
    );
    assert_eq!(marker(&out, "binexec"), "0", "exec outside /tmp refused");
}

/// Accepts connections on `l` (closing each at once) until `stop` is set or `until`, counting
/// them.
fn accept_until(
    l: TcpListener,
    stop: Arc<AtomicBool>,
    until: Instant,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        l.set_nonblocking(true).expect("nonblocking listener");
        let mut n = 0;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok(_) => n += 1,
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        n
    })
}

#[test]
fn landlock_network_connect_allow_list() {
    if !ready("landlock_network_connect_allow_list", NEEDS) {
        return;
    }
    // TCP connect rules need ABI 4.
    if !landlock_ready("landlock_network_connect_allow_list", 4) {
        return;
    }
    let allowed = TcpListener::bind("127.0.0.1:0").expect("bind allowed port");
    let other = TcpListener::bind("127.0.0.1:0").expect("bind other port");
    let (pa, po) = (
        allowed.local_addr().expect("addr").port(),
        other.local_addr().expect("addr").port(),
    );
    let h = Host::new(
        "default",
        &["default", "net"],
        &[(
            "net",
            &format!(
                "  network: {{connect: {{allow: [\"127.0.0.1:{pa}\"]}}}}\n  monitor: {{failMode: open}}\n"
            ),
        )],
    );
    let until = Instant::now() + Duration::from_secs(20);
    let stop = Arc::new(AtomicBool::new(false));
    let (ta, to) = (
        accept_until(allowed, stop.clone(), until),
        accept_until(other, stop.clone(), until),
    );
    let script = format!(
        "nc 127.0.0.1 {pa} </dev/null; echo allowed=$?; nc 127.0.0.1 {po} </dev/null; echo other=$?"
    );
    let id = unique_id("vitpnet");
    // The host's network namespace: loopback is up and the listeners are the test's.
    let b = h.bundle("b", &id, Some("net"), &script, |s| {
        if let Some(ns) = s["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
        }
    });
    let out = h.run(&b, &id);
    // Let a connection still in the accept queue be counted, then stop the listeners.
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    assert_eq!(
        marker(&out, "allowed"),
        "0",
        "connect to the allowed port failed: {}",
        out.stderr
    );
    assert_ne!(
        marker(&out, "other"),
        "0",
        "connect to another port succeeded"
    );
    assert!(
        out.stderr.contains("Permission denied"),
        "connect not refused by Landlock (EACCES): {:?}",
        out.stderr
    );
    let (na, no) = (
        ta.join().expect("accept thread"),
        to.join().expect("accept thread"),
    );
    assert_eq!(na, 1, "the allowed listener saw {na} connections");
    assert_eq!(no, 0, "the other listener saw {no} connections");
}

#[test]
fn exec_into_a_container_is_confined_the_same_way() {
    if !ready("exec_into_a_container_is_confined_the_same_way", NEEDS) {
        return;
    }
    let h = Host::new(
        "default",
        &["default", "nomkdir"],
        &[("nomkdir", "  syscalls: {deny: [mkdir, mkdirat]}\n")],
    );
    let id = unique_id("vitpexec");
    let b = h.bundle("b", &id, Some("nomkdir"), "exec sleep 600", |_| {});
    let _g = Guard::new(&h, &id);
    let out = h.vigil(&["create", "--bundle", b.path_str(), &id]);
    assert_eq!(out.code(), 0, "create: {}", out.stderr);
    let out = h.vigil(&["start", &id]);
    assert_eq!(out.code(), 0, "start: {}", out.stderr);

    let out = h.vigil(&["exec", &id, "touch", "/dev/shm/f"]);
    assert_eq!(
        out.code(),
        0,
        "exec of an allowed command failed: {}",
        out.stderr
    );
    let out = h.vigil(&["exec", &id, "mkdir", "/dev/shm/d"]);
    assert_ne!(out.code(), 0, "mkdir through exec succeeded");
    assert!(
        out.stderr.contains("Operation not permitted"),
        "mkdir through exec not denied with EPERM: {:?}",
        out.stderr
    );
    let out = h.vigil(&["exec", &id, "unshare", "-U", "true"]);
    assert_eq!(
        out.code(),
        0,
        "unshare (allowed by this policy) failed through exec: {}",
        out.stderr
    );
}

/// The last JSON line of a `--log-format json` log.
fn last_log_line(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("log file written");
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .expect("log has a line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("log line {line:?} is not JSON: {e}"))
}

/// Nothing of `id`: no state entry, no shadow bundle, no cgroup named after it.
fn assert_nothing_left(h: &Host, id: &str) {
    let state = h.state().join(id);
    assert!(!state.exists(), "state {state:?} left behind");
    let shadow = h.state().join("@vigil").join(id);
    assert!(!shadow.exists(), "shadow bundle {shadow:?} left behind");
    let cg = cleanup::cgroup_dirs_named(id);
    assert!(cg.is_empty(), "cgroups left behind: {cg:?}");
    assert_ne!(h.vigil(&["state", id]).code(), 0, "state of {id} succeeds");
}

/// True when `msg` contains `file:LINE:COLUMN` for `file`.
fn has_location(msg: &str, file: &str) -> bool {
    msg.match_indices(file).any(|(i, _)| {
        let mut parts = msg[i + file.len()..].splitn(3, ':');
        parts.next() == Some("")
            && parts
                .next()
                .is_some_and(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
            && parts
                .next()
                .is_some_and(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_digit()))
    })
}

#[test]
fn bad_selection_and_bad_policy_fail_create_and_leave_nothing() {
    if !ready(
        "bad_selection_and_bad_policy_fail_create_and_leave_nothing",
        NEEDS,
    ) {
        return;
    }
    let h = Host::new("default", &["default", "broken"], &[("weak", "  {}\n")]);
    h.write_policy(
        "broken",
        "apiVersion: vigil.dev/v1\nkind: Policy\nmetadata: {name: broken}\nspec:\n  syscalls: {deny: [mkdir,\n  resources: [\n",
    );
    let cases = [
        ("weak", "not selectable", "weak"),
        ("broken", "broken.yaml", "broken.yaml"),
    ];
    for (policy, what, needle) in cases {
        let id = unique_id("vitpbad");
        let b = h.bundle(policy, &id, Some(policy), "true", |_| {});
        let _g = Guard::new(&h, &id);
        let log = h.path().join(format!("{policy}.log.json"));
        let out = h.vigil(&[
            "--log",
            log.to_str().expect("utf-8 path"),
            "--log-format",
            "json",
            "create",
            "--bundle",
            b.path_str(),
            &id,
        ]);
        assert_ne!(out.code(), 0, "create with policy {policy} succeeded");
        let last = last_log_line(&log);
        assert_eq!(last["level"], "error", "last log line: {last}");
        let msg = last["msg"].as_str().expect("msg is a string");
        assert!(msg.contains(what), "the error does not say {what:?}: {msg}");
        assert!(
            msg.contains(needle),
            "the error does not name {needle}: {msg}"
        );
        if policy == "broken" {
            assert!(
                has_location(msg, "broken.yaml"),
                "no file:line:column in {msg:?}"
            );
        }
        assert_nothing_left(&h, &id);
    }
}

/// Management records of container `id` in the journal: (action, outcome).
fn journaled_actions(h: &Host, id: &str) -> Vec<(String, String)> {
    let out = h.vigil(&["audit", "query", "--json", "--container", id]);
    assert_eq!(out.code(), 0, "audit query: {}", out.stderr);
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON record per line"))
        .filter(|r| r["kind"] == "management" && r["container"] == id)
        .map(|r| {
            (
                r["data"]["action"].as_str().unwrap_or_default().to_string(),
                r["data"]["outcome"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn management_actions_are_journaled_and_verify() {
    if !ready("management_actions_are_journaled_and_verify", NEEDS) {
        return;
    }
    let h = Host::new("default", &["default"], &[]);
    let id = unique_id("vitpjrn");
    let b = h.bundle("b", &id, None, "exec sleep 600", |_| {});
    let _g = Guard::new(&h, &id);
    for args in [
        vec!["create", "--bundle", b.path_str(), &id],
        vec!["start", &id],
        vec!["kill", &id, "KILL"],
    ] {
        let out = h.vigil(&args);
        assert_eq!(out.code(), 0, "{args:?}: {}", out.stderr);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.state_of(&id)["status"] != "stopped" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = h.vigil(&["delete", &id]);
    assert_eq!(out.code(), 0, "delete: {}", out.stderr);

    let actions = journaled_actions(&h, &id);
    for want in ["create", "start", "kill", "delete"] {
        assert!(
            actions.iter().any(|(a, o)| a == want && o == "ok"),
            "no successful {want} record for {id} in the journal: {actions:?}"
        );
    }
    let other = unique_id("vitpnone");
    assert!(
        journaled_actions(&h, &other).is_empty(),
        "records for a container that never existed"
    );
    let out = h.vigil(&["audit", "verify"]);
    assert_eq!(out.code(), 0, "audit verify: {}{}", out.stdout, out.stderr);
}

#[test]
fn containerd_ctr_run_denied_syscall_gets_eperm() {
    let needs = [
        Need::Root,
        Need::Binary("containerd"),
        Need::Binary("ctr"),
        Need::Binary("containerd-shim-runc-v2"),
        Need::Cgroup("pids"),
    ];
    if !ready("containerd_ctr_run_denied_syscall_gets_eperm", &needs) {
        return;
    }
    let h = Host::new(
        "ctrdeny",
        &["default"],
        &[(
            "ctrdeny",
            "  extends: default\n  syscalls: {deny: [mkdir, mkdirat]}\n",
        )],
    );
    let c = Containerd::start().expect("containerd starts");
    c.import_images(&c.namespace, false)
        .expect("import busybox");
    // containerd's shim passes its environment to the runtime; the wrapper sets VIGIL_CONFIG
    // (as a host would in the shim's environment) before the logging and exec lines.
    let w = c.wrapper();
    let script = std::fs::read_to_string(&w.path).expect("read wrapper");
    let (shebang, rest) = script.split_once('\n').expect("wrapper has lines");
    let patched = format!(
        "{shebang}\nexport VIGIL_CONFIG='{}'\n{rest}",
        h.config().display()
    );
    std::fs::write(&w.path, patched).expect("patch wrapper");

    let id = unique_id("vitpctr");
    let rt = c.runtime_args();
    let mut args: Vec<&str> = vec!["run", "--rm"];
    args.extend(rt.iter().map(String::as_str));
    args.extend([
        BUSYBOX_REF,
        &id,
        "sh",
        "-c",
        "mkdir /tmp/d 2>&1; echo mkdir=$?; touch /tmp/f; echo touch=$?; unshare -U true 2>&1; echo unshare=$?",
    ]);
    let out = c.ctr_run(&args).expect("ctr run");
    assert_eq!(
        out.code(),
        0,
        "ctr run failed: {}\ncontainerd log:\n{}",
        out.stderr,
        c.log()
    );
    assert!(
        !w.calls_with("create").is_empty(),
        "containerd did not call the runtime under test"
    );
    assert_ne!(
        marker(&out, "mkdir"),
        "0",
        "mkdir allowed through containerd"
    );
    assert_eq!(marker(&out, "touch"), "0", "touch failed: {}", out.stdout);
    assert_ne!(
        marker(&out, "unshare"),
        "0",
        "unshare allowed (default policy)"
    );
    assert!(
        out.stdout.matches("Operation not permitted").count() >= 2,
        "denials are not EPERM: {:?}",
        out.stdout
    );
    assert!(
        journaled_actions(&h, &id)
            .iter()
            .any(|(a, o)| a == "create" && o == "ok"),
        "the create through containerd is not in this config's journal"
    );
}
