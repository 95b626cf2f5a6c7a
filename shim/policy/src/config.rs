//! Host configuration: `/etc/vigil/config.yaml`.

use crate::diag::{Diagnostic, Diagnostics, suggest};
use crate::model::FailMode;
use crate::reader::Reader;
use crate::resolve::Loader;
use crate::syscalls::normalize_capability;
use crate::trust::{Trust, TrustError};
use crate::yaml;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/vigil/config.yaml";
/// Environment variable naming the config file, for engines that cannot pass `--config`.
pub const CONFIG_ENV: &str = "VIGIL_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read host configuration {path:?}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Untrusted(#[from] TrustError),
    #[error("{0}")]
    Invalid(Diagnostics),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostConfig {
    pub policy_dir: PathBuf,
    pub journal_dir: PathBuf,
    pub state_dir: PathBuf,
    pub default_policy: String,
    /// Policy names that the `vigil.dev/policy` annotation may ask for.
    pub selectable: Vec<String>,
    /// (image glob pattern, policy name), first match wins, in file order.
    pub images: Vec<(String, String)>,
    /// (Kubernetes namespace, policy name).
    pub namespaces: Vec<(String, String)>,
    pub audit: AuditConfig,
    pub monitor: MonitorConfig,
    /// Capabilities a policy's `capabilities.add` may grant beyond what the engine gave.
    pub allow_capability_add: Vec<String>,
    /// The file this came from; `None` = built-in defaults (no config file).
    pub source: Option<PathBuf>,
    /// Who must own config and policy files (root in production).
    #[serde(skip)]
    pub trust: Trust,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct AuditConfig {
    /// Turn on the kernel audit channel for Landlock/seccomp records (host-wide: opt-in).
    pub enable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorConfig {
    pub socket: PathBuf,
    /// Start the monitor from `create` when it is not running.
    pub auto_start: bool,
    /// Fail mode for policies that do not set `monitor.failMode`.
    pub fail_mode: FailMode,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            socket: PathBuf::from("/run/vigil/monitor.sock"),
            auto_start: true,
            fail_mode: FailMode::Closed,
        }
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            policy_dir: PathBuf::from("/etc/vigil/policies"),
            journal_dir: PathBuf::from("/var/lib/vigil/journal"),
            state_dir: PathBuf::from("/run/vigil"),
            default_policy: "default".into(),
            selectable: vec!["default".into(), "strict".into()],
            images: Vec::new(),
            namespaces: Vec::new(),
            audit: AuditConfig::default(),
            monitor: MonitorConfig::default(),
            allow_capability_add: Vec::new(),
            source: None,
            trust: Trust::ROOT,
        }
    }
}

const KEYS: &[&str] = &[
    "policyDir",
    "journalDir",
    "stateDir",
    "defaultPolicy",
    "selectable",
    "images",
    "namespaces",
    "audit",
    "monitor",
    "allowCapabilityAdd",
];

/// The config path: `flag` if given, else `$VIGIL_CONFIG`, else `/etc/vigil/config.yaml`.
pub fn config_path(flag: Option<&Path>) -> PathBuf {
    match (flag, std::env::var_os(CONFIG_ENV)) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_CONFIG_PATH),
    }
}

impl HostConfig {
    /// Read `path`, checked with `trust`. A missing file gives the built-in defaults (with the
    /// embedded `default` policy); an unreadable, untrusted or invalid one is an error.
    pub fn load(path: &Path, trust: Trust) -> Result<HostConfig, ConfigError> {
        if !path.exists() {
            tracing::debug!(path = %path.display(), "no host configuration, using built-in defaults");
            return Ok(HostConfig {
                trust,
                ..HostConfig::default()
            });
        }
        trust.check(path)?;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Self::parse(path, &text).map_err(ConfigError::Invalid)?;
        cfg.trust = trust;
        Ok(cfg)
    }

    /// Parse config text; all problems are returned at once.
    pub fn parse(file: &Path, text: &str) -> Result<HostConfig, Diagnostics> {
        let mut cfg = HostConfig {
            source: Some(file.to_path_buf()),
            ..HostConfig::default()
        };
        let root = match yaml::parse(file, text) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(cfg),
            Err(d) => return Err(Diagnostics(vec![d])),
        };
        let mut r = Reader::default();
        for (k, v) in r.map(&root, "the host configuration", KEYS) {
            match k {
                "policyDir" | "journalDir" | "stateDir" => {
                    if let Some(p) = r.paths(v, k, false).pop() {
                        let p = PathBuf::from(p.value);
                        match k {
                            "policyDir" => cfg.policy_dir = p,
                            "journalDir" => cfg.journal_dir = p,
                            _ => cfg.state_dir = p,
                        }
                    }
                }
                "defaultPolicy" => {
                    if let Some(s) = r.string(v, k) {
                        crate::parse::check_name(&mut r, &s);
                        cfg.default_policy = s.value;
                    }
                }
                "selectable" => {
                    cfg.selectable = r.strings(v, k).into_iter().map(|s| s.value).collect()
                }
                "allowCapabilityAdd" => {
                    cfg.allow_capability_add.clear();
                    for s in r.strings(v, k) {
                        match normalize_capability(&s.value) {
                            Some(c) if c != "ALL" => cfg.allow_capability_add.push(c),
                            _ => r.error(
                                &s.at,
                                format!("unknown capability {:?} in allowCapabilityAdd", s.value),
                            ),
                        }
                    }
                }
                "images" | "namespaces" => {
                    let crate::yaml::Value::Map(pairs) = &v.value else {
                        r.error(&v.at, format!("{k} must map a pattern to a policy name"));
                        continue;
                    };
                    let mut list = Vec::new();
                    for (pk, pv) in pairs {
                        let (Some(pat), Some(name)) = (pk.as_str(), r.string(pv, "a policy name"))
                        else {
                            continue;
                        };
                        if glob::Pattern::new(pat).is_err() {
                            r.error(&pk.at, format!("invalid pattern {pat:?} in {k}"));
                        }
                        list.push((pat.to_string(), name.value));
                    }
                    if k == "images" {
                        cfg.images = list
                    } else {
                        cfg.namespaces = list
                    }
                }
                "audit" => {
                    for (_, av) in r.map(v, "audit", &["enable"]) {
                        cfg.audit.enable = r.boolean(av, "audit.enable").unwrap_or(false);
                    }
                }
                _ => {
                    for (mk, mv) in r.map(v, "monitor", &["socket", "autoStart", "failMode"]) {
                        match mk {
                            "socket" => {
                                if let Some(p) = r.paths(mv, "monitor.socket", false).pop() {
                                    cfg.monitor.socket = PathBuf::from(p.value);
                                }
                            }
                            "autoStart" => {
                                cfg.monitor.auto_start =
                                    r.boolean(mv, "monitor.autoStart").unwrap_or(true)
                            }
                            _ => match mv.as_str() {
                                Some("closed") => cfg.monitor.fail_mode = FailMode::Closed,
                                Some("open") => cfg.monitor.fail_mode = FailMode::Open,
                                other => r.error(
                                    &mv.at,
                                    format!(
                                        "monitor.failMode {:?} must be closed or open{}",
                                        other.unwrap_or(""),
                                        suggest(other.unwrap_or(""), ["closed", "open"])
                                    ),
                                ),
                            },
                        }
                    }
                }
            }
        }
        if r.diags.iter().any(Diagnostic::is_error) {
            return Err(Diagnostics(r.diags));
        }
        for d in &r.diags {
            tracing::warn!(location = %d.location, "{}", d.message);
        }
        Ok(cfg)
    }

    /// A policy loader for this host: the policy directory, then the built-ins, with this
    /// configuration's trust rule.
    pub fn loader(&self) -> Loader {
        Loader::new(Some(&self.policy_dir), Some(self.trust))
    }
}
