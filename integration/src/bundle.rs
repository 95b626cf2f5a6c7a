//! OCI bundles (a busybox rootfs plus a config.json with `runc spec`'s defaults) and a guard
//! that deletes a container and its cgroups when dropped.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cleanup;
use crate::image::{ImageError, Images};
use crate::runtime::RuntimeCli;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("i/o on {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to encode config.json")]
    Json(#[from] serde_json::Error),
}

/// An OCI bundle directory: `rootfs/` and `config.json`.
#[derive(Debug, Clone)]
pub struct Bundle {
    path: PathBuf,
    config: Value,
}

/// Builds a [`Bundle`]; see [`Bundle::builder`].
#[derive(Debug, Clone)]
pub struct BundleBuilder {
    args: Vec<String>,
    env: Vec<String>,
    tty: bool,
    annotations: Vec<(String, String)>,
    cgroups_path: Option<String>,
    edits: Vec<(String, Value)>,
}

impl Bundle {
    /// Defaults: `sh`, no tty, runc's environment, no cgroupsPath (runc then uses `/<id>`).
    pub fn builder() -> BundleBuilder {
        BundleBuilder {
            args: vec!["sh".into()],
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "TERM=xterm".into(),
            ],
            tty: false,
            annotations: Vec::new(),
            cgroups_path: None,
            edits: Vec::new(),
        }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The path as `&str` (bundle paths are created by us and are UTF-8).
    pub fn path_str(&self) -> &str {
        self.path
            .to_str()
            .expect("bundle paths are built from UTF-8 components")
    }
    pub fn config(&self) -> &Value {
        &self.config
    }
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }
    /// Rewrites config.json after editing it with `f`.
    pub fn edit_config(&mut self, f: impl FnOnce(&mut Value)) -> Result<(), BundleError> {
        f(&mut self.config);
        write_config(&self.config_path(), &self.config)
    }
}

fn write_config(path: &Path, v: &Value) -> Result<(), BundleError> {
    let s = serde_json::to_string_pretty(v)?;
    std::fs::write(path, s).map_err(|source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl BundleBuilder {
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }
    /// Adds `KEY=VALUE` to the process environment.
    pub fn env(mut self, kv: impl Into<String>) -> Self {
        self.env.push(kv.into());
        self
    }
    pub fn tty(mut self, tty: bool) -> Self {
        self.tty = tty;
        self
    }
    pub fn annotation(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.annotations.push((k.into(), v.into()));
        self
    }
    /// Sets `linux.cgroupsPath`.
    pub fn cgroups_path(mut self, p: impl Into<String>) -> Self {
        self.cgroups_path = Some(p.into());
        self
    }
    /// Sets the value at JSON pointer `pointer` (e.g. `/process/cwd`) after the defaults.
    pub fn set(mut self, pointer: impl Into<String>, v: Value) -> Self {
        self.edits.push((pointer.into(), v));
        self
    }

    /// The config.json this builder writes.
    pub fn spec(&self) -> Value {
        let mut spec = default_spec(&self.args, self.tty);
        spec["process"]["env"] = json!(self.env);
        if !self.annotations.is_empty() {
            let m: serde_json::Map<String, Value> = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            spec["annotations"] = Value::Object(m);
        }
        if let Some(p) = &self.cgroups_path {
            spec["linux"]["cgroupsPath"] = json!(p);
        }
        for (ptr, v) in &self.edits {
            if let Some(slot) = spec.pointer_mut(ptr) {
                *slot = v.clone();
            } else if let Some((parent, key)) = ptr.rsplit_once('/')
                && let Some(Value::Object(m)) = spec.pointer_mut(parent)
            {
                m.insert(key.to_string(), v.clone());
            }
        }
        spec
    }

    /// Creates `parent/name/` with a copy of the busybox rootfs and config.json.
    pub fn build_in(&self, parent: &Path, name: &str) -> Result<Bundle, BundleError> {
        let images = Images::get()?;
        let path = parent.join(name);
        copy_tree(&images.rootfs(), &path.join("rootfs"))?;
        let config = self.spec();
        write_config(&path.join("config.json"), &config)?;
        Ok(Bundle { path, config })
    }
}

/// Copies a directory tree, recreating symlinks as symlinks.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), BundleError> {
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| BundleError::Io { path: p, source }
    };
    std::fs::create_dir_all(to).map_err(err(to))?;
    let perms = std::fs::metadata(from).map_err(err(from))?.permissions();
    std::fs::set_permissions(to, perms).map_err(err(to))?;
    for e in std::fs::read_dir(from).map_err(err(from))? {
        let e = e.map_err(err(from))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type().map_err(err(&src))?;
        if ft.is_symlink() {
            let target = std::fs::read_link(&src).map_err(err(&src))?;
            std::os::unix::fs::symlink(target, &dst).map_err(err(&dst))?;
        } else if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(err(&dst))?;
        }
    }
    Ok(())
}

/// The config.json `runc spec` writes (runc 1.1), with `args` and `terminal` filled in.
pub fn default_spec(args: &[String], tty: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": tty,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Deletes container `id` (`delete --force`) and removes its cgroups when dropped.
#[derive(Debug)]
pub struct ContainerGuard {
    pub cli: RuntimeCli,
    pub id: String,
    /// The container's cgroupsPath (runc's default is `/<id>`).
    pub cgroups_path: String,
}

impl ContainerGuard {
    pub fn new(cli: &RuntimeCli, id: &str, cgroups_path: Option<&str>) -> Self {
        let cgroups_path = cgroups_path.map_or_else(|| format!("/{id}"), str::to_string);
        Self {
            cli: cli.clone(),
            id: id.to_string(),
            cgroups_path,
        }
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = self.cli.run(&["delete", "--force", &self.id]);
        let left = cleanup::remove_cgroup_tree(&self.cgroups_path);
        if !left.is_empty() {
            tracing::warn!(container = %self.id, cgroups = ?left, "removed leftover cgroups");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_what_it_is_told_over_runc_defaults() {
        let spec = Bundle::builder()
            .args(["echo", "hi"])
            .env("A=1")
            .tty(true)
            .annotation("vigil.dev/policy", "strict")
            .cgroups_path("/x/y")
            .set("/process/cwd", json!("/tmp"))
            .set("/linux/newkey", json!(5))
            .spec();
        assert_eq!(spec["process"]["args"], json!(["echo", "hi"]));
        assert_eq!(spec["process"]["terminal"], true);
        assert!(
            spec["process"]["env"]
                .as_array()
                .expect("env")
                .contains(&json!("A=1"))
        );
        assert_eq!(spec["annotations"]["vigil.dev/policy"], "strict");
        assert_eq!(spec["linux"]["cgroupsPath"], "/x/y");
        assert_eq!(spec["process"]["cwd"], "/tmp");
        assert_eq!(spec["linux"]["newkey"], 5);
        assert_eq!(spec["root"]["path"], "rootfs");
        let ns: Vec<&str> = spec["linux"]["namespaces"]
            .as_array()
            .expect("ns")
            .iter()
            .filter_map(|n| n["type"].as_str())
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount"]);
    }
}
