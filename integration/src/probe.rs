//! Probing what a test needs, and skipping (or failing under `VIGIL_REQUIRE_PRIVILEGED=1`).

use std::path::Path;

use crate::runtime::{find_in_path, runtime_bin};

/// One thing a test needs from the host.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// Effective uid 0.
    Root,
    /// An executable found in PATH (or /usr/sbin, /sbin).
    Binary(&'static str),
    /// A cgroup controller, v1 (`/sys/fs/cgroup/NAME`) or v2 (`cgroup.controllers`).
    Cgroup(&'static str),
}

/// True when `VIGIL_REQUIRE_PRIVILEGED=1`: a missing feature is then a failure, not a skip.
pub fn require_privileged() -> bool {
    std::env::var("VIGIL_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1")
}

/// Why `need` is not met on this host, or `None` when it is.
pub fn missing(need: Need) -> Option<String> {
    match need {
        Need::Root => (!nix::unistd::geteuid().is_root()).then(|| "needs root".to_string()),
        Need::Binary(b) => find_in_path(b)
            .is_none()
            .then(|| format!("needs {b} in PATH")),
        Need::Cgroup(c) => {
            (!cgroup_controller_present(c)).then(|| format!("needs the {c} cgroup controller"))
        }
    }
}

/// Whether controller `name` is mounted as v1 or enabled in a pure v2 root.
pub fn cgroup_controller_present(name: &str) -> bool {
    if Path::new("/sys/fs/cgroup")
        .join(name)
        .join("cgroup.procs")
        .exists()
    {
        return true;
    }
    std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
        .is_ok_and(|s| s.split_whitespace().any(|c| c == name))
}

/// Checks `needs` for `test`. Returns true when the test can run. When something is missing,
/// prints `SKIP test: why` to stderr and returns false, or panics under
/// `VIGIL_REQUIRE_PRIVILEGED=1`. The runtime under test is always required: without one this
/// panics with how to get one.
pub fn ready(test: &str, needs: &[Need]) -> bool {
    let why: Vec<String> = needs.iter().filter_map(|n| missing(*n)).collect();
    if !why.is_empty() {
        let msg = format!("{test}: {}", why.join(", "));
        assert!(
            !require_privileged(),
            "VIGIL_REQUIRE_PRIVILEGED=1 but {msg}"
        );
        eprintln!("SKIP {msg}");
        return false;
    }
    if let Err(e) = runtime_bin() {
        panic!("{test}: {e}");
    }
    true
}
