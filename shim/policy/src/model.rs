//! The policy model: what a `vigil.dev/v1` `Policy` file says, after parsing and validation.
//!
//! Optional fields are `None` when the file does not mention them, so that inheritance can tell
//! "not set" from "set to the default". Items keep their source location for diagnostics; the
//! location is not serialised, so the serialised resolved policy is canonical (see `digest`).

use crate::diag::Location;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

pub const API_VERSION: &str = "vigil.dev/v1";
pub const KIND: &str = "Policy";

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Item<T> {
    pub value: T,
    #[serde(skip)]
    pub at: Location,
}

impl<T> Item<T> {
    pub fn new(value: T, at: Location) -> Self {
        Self { value, at }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny and journal.
    #[default]
    Enforce,
    /// Allow and journal.
    Audit,
    /// Allow and record, for profile generation.
    Learn,
}

/// An enforcement layer a policy can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Seccomp,
    Landlock,
    Fanotify,
    Ebpf,
    Cgroups,
}

impl Layer {
    pub const ALL: &[(&str, Layer)] = &[
        ("seccomp", Layer::Seccomp),
        ("landlock", Layer::Landlock),
        ("fanotify", Layer::Fanotify),
        ("ebpf", Layer::Ebpf),
        ("cgroups", Layer::Cgroups),
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// If the monitor is lost, permission events are denied.
    #[default]
    Closed,
    /// If the monitor is lost, permission events are allowed.
    Open,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Policy {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The policies this one was merged onto, nearest first (empty when it extends nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
    pub spec: Spec,
    /// The file this policy was read from (empty for built-ins).
    #[serde(skip)]
    pub source: PathBuf,
    #[serde(skip)]
    pub name_at: Location,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub mode: Option<Mode>,
    pub extends: Option<Item<String>>,
    pub require: Vec<Item<Layer>>,
    pub syscalls: Syscalls,
    pub capabilities: Capabilities,
    pub resources: Resources,
    pub rlimits: BTreeMap<String, Item<Rlimit>>,
    pub no_new_privileges: Option<bool>,
    pub filesystem: Filesystem,
    pub exec: Exec,
    pub network: Network,
    pub devices: Devices,
    pub scope: Scope,
    pub monitor: Monitor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Syscalls {
    pub mode: Option<Mode>,
    /// errno returned by denied syscalls (default EPERM).
    pub default_errno: Option<u32>,
    pub deny: Vec<SyscallRule>,
    /// Present = allow-list: every syscall not listed is denied.
    pub allow: Option<Vec<SyscallRule>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DenyAction {
    /// Fail the call with an errno.
    Errno,
    /// Kill the whole process.
    Kill,
    /// Allow and log (same as audit mode for this rule).
    Log,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    pub names: Vec<Item<String>>,
    pub action: Option<DenyAction>,
    pub errno: Option<u32>,
    /// All conditions must hold for the rule to match.
    pub args: Vec<ArgCondition>,
    pub mode: Option<Mode>,
    #[serde(skip)]
    pub at: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ArgOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `(arg & mask) == value`.
    MaskedEq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgCondition {
    pub index: u8,
    pub op: ArgOp,
    pub value: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Capabilities {
    /// `CAP_*` names or `ALL`.
    pub drop: Vec<Item<String>>,
    pub add: Vec<Item<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Bytes.
    pub memory: Option<Item<u64>>,
    pub pids: Option<Item<u64>>,
    /// Thousandths of a CPU.
    pub cpu_millis: Option<Item<u64>>,
    /// blkio / io weight, 10..=1000.
    pub io_weight: Option<Item<u16>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Filesystem {
    pub mode: Option<Mode>,
    pub read_only_root: Option<bool>,
    pub deny: Vec<Item<String>>,
    pub read_only: Vec<Item<String>>,
    pub read_write: Option<Vec<Item<String>>>,
    pub no_exec: Vec<Item<String>>,
    pub masked_paths: Vec<Item<String>>,
    pub data_classes: BTreeMap<String, Vec<Item<String>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Exec {
    pub mode: Option<Mode>,
    /// Present = only these files (or files under these directories) may be executed.
    pub allow: Option<Vec<Item<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Any,
}

/// One network allow entry: `8080`, `127.0.0.1:8081`, `10.0.0.0/8`, `[::1]:53`, `udp:53`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct NetRule {
    pub proto: Proto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<IpAddr>,
    /// Prefix length of `addr` (32 or 128 for one address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Network {
    pub mode: Option<Mode>,
    /// Present = outgoing connections (and UDP sends) only to these.
    pub connect: Option<Vec<Item<NetRule>>>,
    /// Present = binding only these.
    pub bind: Option<Vec<Item<NetRule>>>,
}

/// A device rule: by path (`/dev/fuse`) or by type/major/minor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `c`, `b` or `a`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    /// Subset of `rwm`.
    pub access: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Devices {
    /// Present = only these devices (plus the standard pseudo-devices) stay usable.
    pub allow: Option<Vec<Item<DeviceRule>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Signals only to processes of the same Landlock domain.
    pub signals: Option<bool>,
    /// Abstract unix sockets only within the same Landlock domain.
    pub abstract_unix_sockets: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Monitor {
    pub fail_mode: Option<FailMode>,
}

impl Policy {
    /// The policy-wide mode (enforce when unset).
    pub fn mode(&self) -> Mode {
        self.spec.mode.unwrap_or_default()
    }
}
