//! A private dockerd (Debian's docker.io) whose `runtimes` come from
//! `containerd-config/docker-daemon.json`; data-root, exec-root, pidfile and socket under a temp
//! dir, no iptables, no bridge.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;

use crate::cleanup;
use crate::cmd::{self, CmdError, Output};
use crate::daemon::{Daemon, DaemonError};
use crate::image::{ImageError, Images};
use crate::runtime::{RuntimeError, runtime_bin};
use crate::snippets::{self, SnippetError};
use crate::wrapper::{RuntimeWrapper, WrapperError};

const TRUST_KEY: &str = "/etc/docker/key.json";

#[derive(Debug, thiserror::Error)]
pub enum DockerdError {
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

/// A running private dockerd; on drop: `docker rm -f` everything, stop dockerd (and its managed
/// containerd and shims) by pid, remove the cgroup parent, unmount, remove the temp dir.
#[derive(Debug)]
pub struct Dockerd {
    /// `cgroup-parent` of every container (`/vit...`).
    pub cgroup_parent: String,
    /// Whether dockerd 20.10 will create /etc/docker/key.json (it always writes its libtrust key
    /// there): then we remove it on drop.
    created_key: bool,
    wrapper: RuntimeWrapper,
    host: String,
    daemon: Option<Daemon>,
    tmp: TempDir,
    _host_dirs: cleanup::HostDirsLease,
}

/// Host directories dockerd creates on demand (plugin discovery); its shims' socket dir
/// `/run/containerd/s` is shared with every containerd on the host and stays.
const HOST_DIRS: &[&str] = &["/run/docker/plugins", "/run/docker"];

impl Dockerd {
    /// Writes daemon.json and starts dockerd; waits until `docker version` answers.
    pub fn start() -> Result<Self, DockerdError> {
        let host_dirs = cleanup::HostDirsLease::take(HOST_DIRS);
        let tmp = tempfile::Builder::new()
            .prefix("vit-dockerd-")
            .tempdir()
            .map_err(|source| DockerdError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        let t = tmp.path();
        let wrapper = RuntimeWrapper::create(t, "runtime", &runtime_bin()?)?;
        let cgroup_parent = format!("/{}", crate::unique_id("vitdocker"));
        let host = format!("unix://{}", t.join("docker.sock").display());
        let config = json!({
            "data-root": t.join("data"),
            "exec-root": t.join("exec"),
            "pidfile": t.join("docker.pid"),
            "hosts": [host],
            "iptables": false,
            "ip6tables": false,
            "ip-forward": false,
            "ip-masq": false,
            "bridge": "none",
            "userland-proxy": false,
            "cgroup-parent": cgroup_parent,
            "exec-opts": ["native.cgroupdriver=cgroupfs"],
            "storage-driver": "overlay2",
            "runtimes": snippets::docker_runtimes(&wrapper.path)?,
        });
        let path = t.join("daemon.json");
        std::fs::write(&path, config.to_string()).map_err(|source| DockerdError::Io {
            path: path.clone(),
            source,
        })?;
        let created_key = !Path::new(TRUST_KEY).exists();
        let mut daemon = Daemon::spawn(
            "dockerd",
            Command::new("dockerd").arg("--config-file").arg(&path),
            &t.join("dockerd.log"),
        )?;
        let mut d = Self {
            cgroup_parent,
            created_key,
            wrapper,
            host,
            daemon: None,
            tmp,
            _host_dirs: host_dirs,
        };
        daemon.wait_ready("docker version answers", Duration::from_secs(60), || {
            cmd::run(&mut d.docker_cmd(&["version"]), Duration::from_secs(5))
                .is_ok_and(|o| o.status.success())
        })?;
        d.daemon = Some(daemon);
        Ok(d)
    }

    /// The daemon's pid (0 once stopped).
    pub fn daemon_pid(&self) -> i32 {
        self.daemon.as_ref().map_or(0, Daemon::pid)
    }
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }
    pub fn wrapper(&self) -> &RuntimeWrapper {
        &self.wrapper
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("dockerd.log")).unwrap_or_default()
    }

    /// `docker -H unix://SOCK ARGS` with a private DOCKER_CONFIG.
    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", self.tmp.path().join("cli"))
            .arg("-H")
            .arg(&self.host)
            .args(args);
        c
    }

    /// Runs `docker ARGS` (output captured, 60 s deadline).
    pub fn docker(&self, args: &[&str]) -> Result<Output, CmdError> {
        cmd::run(&mut self.docker_cmd(args), Duration::from_secs(60))
    }

    /// `docker load` of the busybox image (as [`crate::image::BUSYBOX_REF`]).
    pub fn load_busybox(&self) -> Result<(), DockerdError> {
        let a = Images::get()?.busybox_docker_archive();
        let a = a.display().to_string();
        cmd::run(
            &mut self.docker_cmd(&["load", "-i", &a]),
            Duration::from_secs(120),
        )?
        .ok()?;
        Ok(())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.daemon.is_some()
            && let Ok(o) = self.docker(&["ps", "-aq"])
        {
            for id in o.stdout.split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        if let Some(mut d) = self.daemon.take() {
            d.stop(Duration::from_secs(20));
        }
        for pid in cleanup::pids_with_cmdline(&self.tmp.path().display().to_string()) {
            tracing::warn!(pid, "stopping a leftover docker process");
            cleanup::stop_pid(pid, Duration::from_secs(2));
        }
        cleanup::remove_cgroup_tree(&self.cgroup_parent);
        cleanup::unmount_under(self.tmp.path());
        if self.created_key {
            let _ = std::fs::remove_file(TRUST_KEY);
            let _ = std::fs::remove_dir("/etc/docker");
        }
    }
}
