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
mod lifecycle;
mod ops;
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

/// Where container state lives and how cgroups are managed; one per invocation.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    systemd_cgroup: bool,
}

impl Runtime {
    pub fn new(root: PathBuf, systemd_cgroup: bool) -> Self {
        Self {
            root,
            systemd_cgroup,
        }
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }
}
