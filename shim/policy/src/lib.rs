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

pub mod diag;
mod merge;
pub mod model;
mod parse;
mod reader;
mod resolve;
mod syscall_table;
pub mod syscalls;
pub mod trust;
mod units;
mod validate;
mod yaml;

pub use diag::{Diagnostic, Diagnostics, Location, Severity};
pub use model::*;
pub use parse::parse_policy;
pub use resolve::{BUILTIN, LoadError, Loader};
pub use trust::{Trust, TrustError};
pub use units::{parse_cpu, parse_net, parse_size};

#[cfg(test)]
mod merge_tests;
#[cfg(test)]
mod parse_tests;
