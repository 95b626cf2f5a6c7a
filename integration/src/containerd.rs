//! A private containerd (with its CRI plugin and the `vigil` runtime class of
//! `containerd-config/containerd-runtime-class.toml`), everything under one temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::cleanup;
use crate::cmd::{self, CmdError, Output};
use crate::daemon::{Daemon, DaemonError};
use crate::image::{ImageError, Images, PAUSE_REF};
use crate::runtime::{RuntimeError, runtime_bin};
use crate::snippets::{self, SnippetError};
use crate::wrapper::{RuntimeWrapper, WrapperError};

/// The containerd namespace the CRI plugin uses.
pub const CRI_NAMESPACE: &str = "k8s.io";
/// Where containerd's runc shim keeps runtime state when no root is configured:
/// `--root /run/containerd/runc/<namespace>`.
pub const SHIM_DEFAULT_ROOT: &str = "/run/containerd/runc";

#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    #[error("failed to prepare {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Snippet(#[from] SnippetError),
    #[error(transparent)]
    Wrapper(#[from] WrapperError),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// A running private containerd; stopped and cleaned up on drop (tasks, shims, container
/// processes, cgroups, mounts, runtime state, the temp dir).
#[derive(Debug)]
pub struct Containerd {
    /// The namespace for `ctr` tests (unique, so its default cgroup `/<ns>/<id>` is ours).
    pub namespace: String,
    /// A cgroup parent for CRI pods (`/vit...`), removed on drop.
    pub cgroup_parent: String,
    wrapper: RuntimeWrapper,
    address: PathBuf,
    daemon: Option<Daemon>,
    tmp: TempDir,
    _host_dirs: cleanup::HostDirsLease,
}

/// Host directories containerd creates on demand that are ours to remove when empty: none.
/// `/run/containerd/s` (shim sockets) and `/run/containerd/runc/<ns>` (runtime roots) are
/// shared with any other containerd on the host, where removing them could race a starting
/// shim; ctr's FIFOs go to our temp dir (`--fifo-dir`).
const HOST_DIRS: &[&str] = &[];

impl Containerd {
    /// Writes config.toml (CRI enabled, runtime class from the snippet with BinaryName = a
    /// logging wrapper of [`runtime_bin`]) and starts containerd; waits until it answers.
    pub fn start() -> Result<Self, ContainerdError> {
        let host_dirs = cleanup::HostDirsLease::take(HOST_DIRS);
        let tmp = tempfile::Builder::new()
            .prefix("vit-ctrd-")
            .tempdir()
            .map_err(|source| ContainerdError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        let t = tmp.path();
        let wrapper = RuntimeWrapper::create(t, "runtime", &runtime_bin()?)?;
        let address = t.join("containerd.sock");
        let config = config_toml(
            t,
            &address,
            &snippets::containerd_runtime_class(&wrapper.path)?,
        );
        let config_path = t.join("config.toml");
        std::fs::write(&config_path, config).map_err(|source| ContainerdError::Io {
            path: config_path.clone(),
            source,
        })?;
        let mut daemon = Daemon::spawn(
            "containerd",
            Command::new("containerd")
                .arg("--config")
                .arg(&config_path)
                .args(["--log-level", "info"]),
            &t.join("containerd.log"),
        )?;
        let addr = address.clone();
        daemon.wait_ready("ctr version answers", Duration::from_secs(30), || {
            addr.exists()
                && cmd::run(
                    Command::new("ctr")
                        .arg("--address")
                        .arg(&addr)
                        .arg("version"),
                    Duration::from_secs(5),
                )
                .is_ok_and(|o| o.status.success())
        })?;
        Ok(Self {
            namespace: crate::unique_id("vit"),
            cgroup_parent: format!("/{}", crate::unique_id("vitpods")),
            wrapper,
            address,
            daemon: Some(daemon),
            tmp,
            _host_dirs: host_dirs,
        })
    }

    /// The daemon's pid (0 once stopped).
    pub fn daemon_pid(&self) -> i32 {
        self.daemon.as_ref().map_or(0, Daemon::pid)
    }
    pub fn address(&self) -> &Path {
        &self.address
    }
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }
    /// The wrapper given to containerd as the runtime binary; its log shows every call.
    pub fn wrapper(&self) -> &RuntimeWrapper {
        &self.wrapper
    }
    /// The containerd log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("containerd.log")).unwrap_or_default()
    }
    /// The runtime root the `ctr` helpers pass (`--runc-root`), under the temp dir.
    pub fn ctr_runtime_root(&self) -> PathBuf {
        self.tmp.path().join("runc-root")
    }

    /// The FIFO directory the `ctr` helpers pass (`--fifo-dir`), under the temp dir.
    pub fn ctr_fifo_dir(&self) -> PathBuf {
        self.tmp.path().join("fifo")
    }

    /// `ctr --address A --namespace NS`.
    pub fn ctr(&self, namespace: &str) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(&self.address)
            .arg("--namespace")
            .arg(namespace);
        c
    }

    /// Runs `ctr` with `args` in [`Containerd::namespace`] (output captured, 60 s deadline).
    pub fn ctr_run(&self, args: &[&str]) -> Result<Output, CmdError> {
        cmd::run(
            self.ctr(&self.namespace).args(args),
            Duration::from_secs(60),
        )
    }

    /// `ctr run` arguments selecting the runtime under test through the runc shim:
    /// `--runtime io.containerd.runc.v2 --runc-binary WRAPPER --runc-root ROOT --fifo-dir DIR`.
    pub fn runtime_args(&self) -> Vec<String> {
        vec![
            "--runtime".into(),
            "io.containerd.runc.v2".into(),
            "--runc-binary".into(),
            self.wrapper.path.display().to_string(),
            "--runc-root".into(),
            self.ctr_runtime_root().display().to_string(),
            "--fifo-dir".into(),
            self.ctr_fifo_dir().display().to_string(),
        ]
    }

    /// Imports the busybox image (and, for CRI, the pause image) into `namespace`.
    pub fn import_images(&self, namespace: &str, with_pause: bool) -> Result<(), ContainerdError> {
        let images = Images::get()?;
        let mut archives = vec![images.busybox_oci_archive()];
        if with_pause {
            archives.push(images.pause_oci_archive());
        }
        for a in archives {
            let mut c = self.ctr(namespace);
            c.args(["images", "import", "--all-platforms"]).arg(&a);
            cmd::run(&mut c, Duration::from_secs(120))?.ok()?;
        }
        Ok(())
    }

    fn ids(&self, namespace: &str, what: &str) -> Vec<String> {
        cmd::run(
            self.ctr(namespace).args([what, "ls", "-q"]),
            Duration::from_secs(10),
        )
        .map(|o| {
            o.stdout
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
    }
}

fn config_toml(t: &Path, address: &Path, runtime_class: &str) -> String {
    let d = |s: &str| t.join(s).display().to_string();
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{address}"

[ttrpc]
  address = "{address}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_REF}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni}/bin"
    conf_dir = "{cni}/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
  # A real config.toml has this default table; a config that names any runtime needs it.
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"

{runtime_class}
"#,
        root = d("root"),
        state = d("state"),
        address = address.display(),
        opt = d("opt"),
        cni = d("cni"),
    )
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let runtime = self.wrapper.real.clone();
        let cri_ids = self.ids(CRI_NAMESPACE, "containers");
        for ns in [self.namespace.clone(), CRI_NAMESPACE.to_string()] {
            for id in self.ids(&ns, "tasks") {
                let _ = cmd::run(
                    self.ctr(&ns)
                        .args(["tasks", "kill", "--all", "--signal", "SIGKILL", &id]),
                    Duration::from_secs(10),
                );
                let _ = cmd::run(
                    self.ctr(&ns).args(["tasks", "rm", "--force", &id]),
                    Duration::from_secs(15),
                );
            }
            for id in self.ids(&ns, "containers") {
                let _ = cmd::run(
                    self.ctr(&ns).args(["containers", "rm", &id]),
                    Duration::from_secs(10),
                );
            }
        }
        if let Some(mut d) = self.daemon.take() {
            d.stop(Duration::from_secs(10));
        }
        for pid in cleanup::pids_with_cmdline(&self.address.display().to_string()) {
            tracing::warn!(pid, "stopping a leftover shim");
            cleanup::stop_pid(pid, Duration::from_secs(2));
        }
        cleanup::remove_cgroup_tree(&format!("/{}", self.namespace));
        cleanup::remove_cgroup_tree(&self.cgroup_parent);
        let cri_root = Path::new(SHIM_DEFAULT_ROOT).join(CRI_NAMESPACE);
        for id in cri_ids {
            if cri_root.join(&id).exists() {
                let _ = cmd::run(
                    Command::new(&runtime)
                        .arg("--root")
                        .arg(&cri_root)
                        .args(["delete", "--force", &id]),
                    Duration::from_secs(10),
                );
                let _ = std::fs::remove_dir_all(cri_root.join(&id));
            }
        }
        let _ = std::fs::remove_dir(Path::new(SHIM_DEFAULT_ROOT).join(&self.namespace));
        cleanup::unmount_under(self.tmp.path());
    }
}
