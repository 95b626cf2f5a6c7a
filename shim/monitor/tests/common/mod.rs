//! Real containers for the monitor's tests: a busybox bundle run by target/debug/vigil.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Whether privileged tests must run (a missing feature is then a failure).
pub fn required() -> bool {
    std::env::var("VIGIL_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1")
}

/// Skips (returns false) or fails with `why`.
pub fn skip(why: &str) -> bool {
    assert!(!required(), "VIGIL_REQUIRE_PRIVILEGED=1 but {why}");
    eprintln!("skipping: {why}");
    false
}

/// The vigil binary of this workspace (`cargo build -p vigil`), or VIGIL_BIN.
pub fn vigil_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("VIGIL_BIN") {
        return Some(PathBuf::from(p));
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let p = target.join("debug/vigil");
    p.exists().then_some(p)
}

/// Root, the vigil binary and busybox are there; else skip with why.
pub fn container_prereqs() -> Option<PathBuf> {
    if !nix::unistd::geteuid().is_root() {
        skip("not root");
        return None;
    }
    if !Path::new("/bin/busybox").exists() {
        skip("/bin/busybox (Debian busybox-static) is missing");
        return None;
    }
    match vigil_bin() {
        Some(p) => Some(p),
        None => {
            skip("target/debug/vigil is missing: run `cargo build -p vigil` first");
            None
        }
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A created (not yet started) container; deleted with `--force` on drop.
pub struct Container {
    pub id: String,
    pub dir: tempfile::TempDir,
    pub cgroup: String,
    vigil: PathBuf,
}

pub const SECRET: &str = "topsecret-5f2c";

impl Container {
    /// Builds a busybox bundle running `script` with `sh -c`, on the host network, with a
    /// writable root, and `vigil create`s it.
    pub fn create(vigil: &Path, name: &str, script: &str) -> Container {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let id = format!("vmon-{name}-{}-{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("vigil-monitor-test.")
            .tempdir()
            .expect("tempdir");
        let rootfs = dir.path().join("bundle/rootfs");
        for d in ["bin", "etc", "tmp", "proc", "dev", "sys"] {
            fs::create_dir_all(rootfs.join(d)).expect("mkdir rootfs");
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
        for applet in [
            "sh", "cat", "cp", "ln", "echo", "sleep", "nc", "true", "test", "[",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .expect("symlink applet");
        }
        fs::write(rootfs.join("etc/secret"), SECRET).expect("write secret");
        fs::write(rootfs.join("etc/public"), "public-data").expect("write public");
        let bundle = dir.path().join("bundle");
        let out = Command::new(vigil)
            .arg("spec")
            .current_dir(&bundle)
            .output()
            .expect("vigil spec");
        assert!(
            out.status.success(),
            "vigil spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cfg_path = bundle.join("config.json");
        let mut cfg: Value =
            serde_json::from_str(&fs::read_to_string(&cfg_path).expect("read config"))
                .expect("json");
        let cgroup = format!("/vigil-monitor-test/{id}");
        cfg["process"]["args"] = serde_json::json!(["/bin/sh", "-c", script]);
        cfg["process"]["terminal"] = Value::Bool(false);
        cfg["root"]["readonly"] = Value::Bool(false);
        cfg["linux"]["cgroupsPath"] = Value::String(cgroup.clone());
        if let Some(ns) = cfg["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
        }
        fs::write(&cfg_path, serde_json::to_string_pretty(&cfg).expect("json"))
            .expect("write config");
        let c = Container {
            id,
            dir,
            cgroup,
            vigil: vigil.to_path_buf(),
        };
        // vigil's journal stays in the temp dir, never in the host's /var/lib/vigil.
        let config = c.dir.path().join("vigil-config.yaml");
        fs::write(
            &config,
            format!("journalDir: {}\n", c.dir.path().join("journal").display()),
        )
        .expect("write vigil config");
        let stdout = fs::File::create(c.dir.path().join("stdout")).expect("stdout file");
        let stderr = fs::File::create(c.dir.path().join("stderr")).expect("stderr file");
        let status = Command::new(vigil)
            .arg("--config")
            .arg(&config)
            .arg("--root")
            .arg(c.dir.path().join("state"))
            .args(["create", "--bundle"])
            .arg(&bundle)
            .arg(&c.id)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .expect("vigil create");
        assert!(status.success(), "vigil create failed: {}", c.stderr());
        c
    }

    fn vigil(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.vigil)
            .arg("--config")
            .arg(self.dir.path().join("vigil-config.yaml"))
            .arg("--root")
            .arg(self.dir.path().join("state"))
            .args(args)
            .arg(&self.id)
            .output()
            .expect("run vigil")
    }

    pub fn state(&self) -> Value {
        let out = self.vigil(&["state"]);
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    pub fn init_pid(&self) -> i32 {
        self.state()["pid"].as_i64().expect("state has a pid") as i32
    }

    /// The container's unified cgroup directory on this hybrid host.
    pub fn cgroup_dir(&self) -> PathBuf {
        PathBuf::from(format!("/sys/fs/cgroup/unified{}", self.cgroup))
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("bundle/rootfs")
    }

    pub fn start(&self) {
        let out = self.vigil(&["start"]);
        assert!(
            out.status.success(),
            "vigil start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until the container has stopped (or panics after 20 s).
    pub fn wait_stopped(&self) {
        let t = Instant::now();
        while self.state()["status"] != "stopped" {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "container did not stop: {}",
                self.stdout()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until stdout contains `marker`.
    pub fn wait_output(&self, marker: &str) {
        let t = Instant::now();
        while !self.stdout().contains(marker) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no {marker:?} in output: {}",
                self.stdout()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.vigil(&["delete", "--force"]);
        let _ = fs::remove_dir(self.cgroup_dir());
        // Parents left by the cgroup managers: removed when empty (other tests may still run).
        for h in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = fs::remove_dir(h.path().join(self.cgroup.trim_start_matches('/')));
            let _ = fs::remove_dir(h.path().join("vigil-monitor-test"));
        }
    }
}

/// A private bpffs instance on a temp dir, unmounted on drop.
pub struct Bpffs {
    dir: tempfile::TempDir,
}

impl Bpffs {
    pub fn mount() -> Option<Bpffs> {
        let dir = tempfile::Builder::new()
            .prefix("vigil-monitor-bpffs.")
            .tempdir()
            .expect("tempdir");
        let ok = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            skip("cannot mount a bpf filesystem");
            return None;
        }
        Some(Bpffs { dir })
    }

    pub fn pin_dir(&self) -> PathBuf {
        self.dir.path().join("vigil")
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
