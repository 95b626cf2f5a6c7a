//! Podman with every path under a temp dir: `--root/--runroot/--tmpdir`, a CONTAINERS_CONF with
//! the ulimits this host allows, cgroupfs, file events and file locks, plus the runtime table of
//! `containerd-config/podman-containers.conf`.
//!
//! Podman passes no `--root` to the runtime: its state lands in the runtime's default directory
//! (`/run/runc` for runc, `/run/vigil` for vigil). See [`Podman::runtime_calls`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::cleanup;
use crate::cmd::{self, CmdError, Output};
use crate::image::{ImageError, Images};
use crate::runtime::{RuntimeError, runtime_bin};
use crate::snippets::{self, SnippetError};
use crate::wrapper::{RuntimeWrapper, WrapperError};

#[derive(Debug, thiserror::Error)]
pub enum PodmanError {
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
    Cmd(#[from] CmdError),
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// Private podman storage and configuration; on drop removes every container, stops leftover
/// conmon processes, deletes leftover runtime state, removes cgroups, unmounts, removes the dir.
#[derive(Debug)]
pub struct Podman {
    /// `--cgroup-parent` for containers (`/vit...`).
    pub cgroup_parent: String,
    wrapper: RuntimeWrapper,
    conf: PathBuf,
    tmp: TempDir,
    _host_dirs: cleanup::HostDirsLease,
}

/// Created on demand by podman. The runtime's default root (`/run/runc`, `/run/vigil`) is
/// shared with every other user of that runtime and stays.
const HOST_DIRS: &[&str] = &["/run/containers/networks", "/run/containers"];

impl Podman {
    pub fn new() -> Result<Self, PodmanError> {
        let host_dirs = cleanup::HostDirsLease::take(HOST_DIRS);
        let tmp = tempfile::Builder::new()
            .prefix("vit-podman-")
            .tempdir()
            .map_err(|source| PodmanError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        let t = tmp.path();
        let wrapper = RuntimeWrapper::create(t, "runtime", &runtime_bin()?)?;
        let conf = t.join("containers.conf");
        let text = format!(
            r#"[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{events}"
lock_type = "file"

[network]
network_config_dir = "{netconf}"

{snippet}"#,
            netconf = t.join("net.d").display(),
            events = t.join("events.log").display(),
            snippet = snippets::podman_containers_conf(&wrapper.path)?,
        );
        std::fs::write(&conf, text).map_err(|source| PodmanError::Io {
            path: conf.clone(),
            source,
        })?;
        for d in ["root", "runroot", "tmp", "net.d"] {
            let p = t.join(d);
            std::fs::create_dir_all(&p).map_err(|source| PodmanError::Io {
                path: p.clone(),
                source,
            })?;
        }
        Ok(Self {
            cgroup_parent: format!("/{}", crate::unique_id("vitpodman")),
            wrapper,
            conf,
            tmp,
            _host_dirs: host_dirs,
        })
    }

    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }
    /// The wrapper (the `vigil` runtime of the snippet points at it).
    pub fn wrapper(&self) -> &RuntimeWrapper {
        &self.wrapper
    }
    /// Every call podman (conmon) made to the runtime.
    pub fn runtime_calls(&self) -> Vec<Vec<String>> {
        self.wrapper.calls()
    }

    /// `podman` with the private configuration and storage, then `args`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let t = self.tmp.path();
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(t.join("root"))
            .arg("--runroot")
            .arg(t.join("runroot"))
            .arg("--tmpdir")
            .arg(t.join("tmp"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .args(args);
        c
    }

    /// Runs podman with `args` (output captured, 60 s deadline).
    pub fn run(&self, args: &[&str]) -> Result<Output, CmdError> {
        cmd::run(&mut self.cmd(args), Duration::from_secs(60))
    }

    /// `podman load` of the busybox image.
    pub fn load_busybox(&self) -> Result<(), PodmanError> {
        let a = Images::get()?
            .busybox_docker_archive()
            .display()
            .to_string();
        cmd::run(&mut self.cmd(&["load", "-i", &a]), Duration::from_secs(120))?.ok()?;
        Ok(())
    }
}

/// The default state directory of a runtime podman calls without `--root`: `/run/<NAME>` where
/// NAME is the first word of `BIN --version` (`runc version ...` -> `/run/runc`, vigil's
/// `vigil version ...` -> `/run/vigil`), falling back to the binary's file name.
pub fn default_runtime_root(bin: &Path) -> PathBuf {
    let from_version = cmd::run(Command::new(bin).arg("--version"), Duration::from_secs(10))
        .ok()
        .and_then(|o| o.stdout.split_whitespace().next().map(str::to_string))
        .filter(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    let name = from_version.unwrap_or_else(|| {
        bin.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    PathBuf::from("/run").join(name)
}

impl Drop for Podman {
    fn drop(&mut self) {
        let ids: Vec<String> = self
            .run(&["ps", "-aq", "--no-trunc"])
            .map(|o| o.stdout.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        if !ids.is_empty() {
            let _ = self.run(&["rm", "-af", "-t", "0"]);
        }
        for pid in cleanup::pids_with_cmdline(&self.tmp.path().display().to_string()) {
            tracing::warn!(pid, "stopping a leftover podman process");
            cleanup::stop_pid(pid, Duration::from_secs(2));
        }
        let root = default_runtime_root(&self.wrapper.real);
        for id in &ids {
            if root.join(id).exists() {
                let _ = cmd::run(
                    Command::new(&self.wrapper.real)
                        .arg("--root")
                        .arg(&root)
                        .args(["delete", "--force", id]),
                    Duration::from_secs(10),
                );
            }
        }
        cleanup::remove_cgroup_tree(&self.cgroup_parent);
        cleanup::unmount_under(self.tmp.path());
    }
}
