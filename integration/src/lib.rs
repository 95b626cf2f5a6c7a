//! End-to-end test support for vigil: an offline busybox OCI image, OCI bundles, and guards
//! that run real engines (containerd, CRI, dockerd, podman) under a temp dir and clean up after
//! them by pid, mount and cgroup, also when a test fails.
//!
//! The runtime under test is chosen in one place, [`runtime::runtime_bin`]: `VIGIL_RUNTIME` if
//! set (e.g. `/usr/sbin/runc`), else `<workspace>/target/debug/vigil`. Engines never get that
//! binary directly: each guard writes a small wrapper that logs every invocation's arguments and
//! execs it ([`wrapper::RuntimeWrapper`]), so tests can prove which binary an engine called.
//!
//! This crate needs no kernel feature to build; the tests probe for root, engines and cgroups
//! ([`probe::ready`]) and skip unless `VIGIL_REQUIRE_PRIVILEGED=1`.
//!
//! ```no_run
//! use vigil_integration::{bundle::Bundle, runtime::{runtime_bin, RuntimeCli}};
//! let tmp = tempfile::tempdir().expect("temp dir");
//! let bundle = Bundle::builder().args(["echo", "hi"]).build_in(tmp.path(), "b").expect("bundle");
//! let cli = RuntimeCli::new(runtime_bin().expect("runtime"), tmp.path().join("state"));
//! let out = cli.run(&["run", "--bundle", bundle.path_str(), "demo"]).expect("run");
//! assert_eq!(out.stdout.trim(), "hi");
//! ```

pub mod bundle;
pub mod cleanup;
pub mod cmd;
pub mod console;
pub mod containerd;
pub mod daemon;
pub mod dockerd;
pub mod image;
pub mod podman;
pub mod probe;
pub mod runtime;
pub mod snippets;
pub mod wrapper;

use std::sync::atomic::{AtomicU32, Ordering};

/// A short id unique within this host for this process's lifetime: `vit<pid>x<n>`.
///
/// Used for container ids, namespaces and cgroup parents, so leftovers are attributable.
pub fn unique_id(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id())
}
