//! vigil-monitord: the per-host monitor daemon (`vigil monitor`) and its client.
//!
//! One daemon per host listens on `monitor.socket` of the host configuration (root only,
//! checked with `SO_PEERCRED`), owns one [`vigil_monitor::Monitor`] (fanotify + eBPF) and
//! writes every decision, attach, detach and gap to the journal. `create` attaches a
//! container through [`client::attach`] before it returns; `delete` detaches it.
//!
//! - [`proto`]: the JSON-line requests and replies;
//! - [`client`]: attach, detach, ping, and [`client::ensure_running`] (start on demand);
//! - [`server`]: [`run`], the daemon itself;
//! - [`registry`]: the attached containers, kept on disk so a restarted daemon re-attaches them;
//! - [`convert`]: the compiled policy's monitor rules as the monitor's input.

pub mod client;
pub mod convert;
mod kaudit;
pub mod proto;
pub mod registry;
pub mod server;

pub use client::ClientError;
pub use convert::rules_from_policy;
pub use proto::{AttachRequest, Reply, Request};
pub use server::{RunOptions, ServerError, run};
