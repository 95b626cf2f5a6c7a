//! vigil-policy: the policy language of vigil.
//!
//! A policy (YAML, `apiVersion: vigil.dev/v1`, `kind: Policy`) is parsed with locations
//! ([`parse_policy`]), checked ([`check`]), resolved against its `extends` chain ([`load`]),
//! chosen for a container ([`select`]) and compiled ([`compile`]) into OCI spec edits, seccomp
//! rules, Landlock rules and monitor rules.
//!
//! This crate is pure: it must not depend on nix, libcontainer, aya or anything that makes
//! syscalls on the caller's behalf, so that it is unit-testable anywhere. The runtime applies the
//! compiled result.
//!
//! ```
//! let text = "apiVersion: vigil.dev/v1\nkind: Policy\nmetadata: {name: demo}\nspec:\n  syscalls: {deny: [mkdir]}\n";
//! let (policy, diags) = vigil_policy::parse_policy(std::path::Path::new("demo.yaml"), text);
//! assert!(diags.is_empty());
//! assert_eq!(policy.unwrap().spec.syscalls.deny[0].names[0].value, "mkdir");
//! ```

pub mod cli;
pub mod compile;
pub mod config;
pub mod diag;
mod merge;
pub mod model;
pub mod oci_seccomp;
mod parse;
mod reader;
mod resolve;
pub mod select;
mod syscall_table;
pub mod syscalls;
pub mod trust;
mod units;
mod validate;
mod yaml;

pub use compile::{
    CompileError, CompiledPolicy, LandlockRules, MonitorRules, OciEdits, SeccompRules, compile,
    digest,
};
pub use config::{AuditConfig, ConfigError, HostConfig, MonitorConfig, config_path};
pub use diag::{Diagnostic, Diagnostics, Location, Severity};
pub use model::*;
pub use oci_seccomp::{ImportError, Imported, import_oci_seccomp};
pub use parse::parse_policy;
pub use resolve::{BUILTIN, LoadError, Loader};
pub use select::{SelectError, Selected, SelectedBy, normalize_image, select};
pub use trust::{Trust, TrustError};
pub use units::{parse_cpu, parse_net, parse_size};

#[cfg(test)]
mod merge_tests;
#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod select_tests;

/// Load and resolve a policy by name or file for this host (policy directory, then built-ins;
/// files must pass the host's trust rule).
pub fn load(config: &HostConfig, name_or_file: &str) -> Result<Policy, LoadError> {
    config.loader().load(name_or_file)
}

/// Check policy files and their `extends` chains against the host's policy directory; every
/// problem is returned, errors and warnings, in file order.
pub fn check(config: &HostConfig, files: &[std::path::PathBuf]) -> Vec<Diagnostic> {
    Loader::new(Some(&config.policy_dir), None).check(files)
}
#[cfg(test)]
mod compile_tests;
#[cfg(test)]
mod profiles_tests;
