//! vigil-runtime: the runc-compatible container lifecycle of vigil, on youki's `libcontainer`.
//!
//! Each public function is one runc command (`create`, `start`, `exec`, `kill`, ...). The
//! functions take parsed arguments and a [`Runtime`] (state root, cgroup manager choice) and
//! return typed errors whose texts match runc's where engines match them ("does not exist",
//! "container not running"). Nothing here installs a logger or prints errors: the binary does.
//!
//! ```no_run
//! use vigil_runtime::Runtime;
//! let rt = Runtime::new("/run/vigil".into(), false);
//! let state = rt.state("web")?;
//! println!("{}", serde_json::to_string(&state).expect("state serialises"));
//! # Ok::<(), vigil_runtime::RuntimeError>(())
//! ```

mod cgroup;
mod error;
mod exec;
mod executor;
mod features;
mod launch;
mod layers;
mod lifecycle;
mod monitor;
mod ops;
mod policy;
pub mod selfexe;
mod spec;
mod state;

pub use error::RuntimeError;
pub use exec::ExecOptions;
pub use features::features;
pub use lifecycle::{CreateOptions, ExitCode};
pub use spec::default_spec;
pub use state::{ContainerState, ListEntry};

use std::path::PathBuf;

use vigil_policy::HostConfig;

/// Where container state lives and how cgroups are managed; one per invocation.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    systemd_cgroup: bool,
    config: HostConfig,
}

impl Runtime {
    /// A runtime with the built-in host configuration (the embedded `default` policy).
    pub fn new(root: PathBuf, systemd_cgroup: bool) -> Self {
        Self::with_config(root, systemd_cgroup, HostConfig::default())
    }

    /// A runtime with the host configuration read from `/etc/vigil/config.yaml` or `--config`.
    pub fn with_config(root: PathBuf, systemd_cgroup: bool, config: HostConfig) -> Self {
        Self {
            root,
            systemd_cgroup,
            config,
        }
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The name and digest of the policy a container was created with.
    pub fn policy_of(&self, id: &str) -> Option<(String, String)> {
        // Validates the id before it names a path.
        self.container_dir(id).ok()?;
        policy::load_compiled(&self.root, id)
            .ok()
            .flatten()
            .map(|c| (c.name, c.digest))
    }

    /// How a container is segregated (capabilities, namespaces, seccomp, Landlock, data
    /// classes), for the journal; `None` for a container vigil did not create.
    pub fn segregation(&self, id: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        self.container_dir(id).ok()?;
        policy::segregation(&self.root, id)
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }
}
