//! Both backends behind one attach/detach, with the policy's fail mode applied once.
//!
//! fanotify is attached when the rules have file rules (or learn mode); eBPF whenever a
//! cgroup directory is given (its exec observer reports every container's execs; its sock_addr
//! programs enforce the network rules). With `fail_mode: closed`, a needed layer that cannot
//! attach fails the whole attach and undoes what was done; with `open`, the attach succeeds
//! and [`Attachment`] says which layers are missing and why (the caller journals it).

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::ebpf::{EbpfError, EbpfMonitor};
use crate::fanotify::{FanotifyError, FanotifyMonitor};
use crate::rules::{FailMode, Mode, MonitorRules};
use crate::{ContainerIdentity, Sink};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("fanotify layer of container {id} failed to attach")]
    Fanotify {
        id: String,
        #[source]
        source: FanotifyError,
    },
    #[error("ebpf layer of container {id} failed to attach")]
    Ebpf {
        id: String,
        #[source]
        source: Box<EbpfError>,
    },
    #[error("ebpf layer of container {id} is needed but unavailable: {reason}")]
    EbpfUnavailable { id: String, reason: String },
}

/// The state of one layer for one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "reason")]
pub enum LayerState {
    Active,
    /// The rules need nothing from this layer.
    NotNeeded,
    /// Needed, but not attached (fail mode open): the reason.
    Unavailable(String),
}

/// What attach achieved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub fanotify: LayerState,
    pub ebpf: LayerState,
}

/// Every backend of one host.
pub struct Monitor {
    fanotify: FanotifyMonitor,
    ebpf: Result<EbpfMonitor, String>,
}

impl Monitor {
    /// Creates the fanotify backend and loads the eBPF one under `pin_dir`; an eBPF load
    /// failure is kept as the reason that layer is unavailable.
    pub fn new(sink: Arc<dyn Sink>, pin_dir: &Path) -> Monitor {
        let ebpf = EbpfMonitor::load(pin_dir, sink.clone()).map_err(|e| error_chain(&e));
        if let Err(reason) = &ebpf {
            tracing::warn!(%reason, "ebpf layer unavailable");
        }
        Monitor {
            fanotify: FanotifyMonitor::new(sink),
            ebpf,
        }
    }

    /// A monitor whose eBPF layer is unavailable for `reason` (hosts without BPF, tests).
    pub fn without_ebpf(sink: Arc<dyn Sink>, reason: &str) -> Monitor {
        Monitor {
            fanotify: FanotifyMonitor::new(sink),
            ebpf: Err(reason.to_string()),
        }
    }

    /// The eBPF backend, or why it is unavailable.
    pub fn ebpf(&self) -> Result<&EbpfMonitor, &str> {
        self.ebpf.as_ref().map_err(String::as_str)
    }

    /// Attaches what the rules need. Call after `create`, before `start`.
    pub fn attach(
        &self,
        identity: ContainerIdentity,
        cgroup_dir: Option<&Path>,
        rules: &MonitorRules,
    ) -> Result<Attachment, MonitorError> {
        let id = identity.id.clone();
        let open = rules.fail_mode == FailMode::Open;
        let ebpf = match (cgroup_dir, &self.ebpf) {
            (None, _) if rules.has_net_rules() => {
                self.needed(open, &id, "no cgroup2 directory for the container".into())?
            }
            (None, _) => LayerState::NotNeeded,
            (Some(_), Err(reason)) if rules.has_net_rules() => {
                self.needed(open, &id, reason.clone())?
            }
            (Some(_), Err(_)) => LayerState::NotNeeded,
            (Some(dir), Ok(ebpf)) => match ebpf.attach_cgroup(dir, &id, rules) {
                Ok(_) => LayerState::Active,
                Err(e) if open || !rules.has_net_rules() => {
                    LayerState::Unavailable(error_chain(&e))
                }
                Err(e) => {
                    return Err(MonitorError::Ebpf {
                        id,
                        source: Box::new(e),
                    });
                }
            },
        };
        let fanotify = if rules.has_file_rules() || rules.mode == Mode::Learn {
            match self.fanotify.attach(identity, rules.clone()) {
                Ok(_) => LayerState::Active,
                Err(e) if open => LayerState::Unavailable(error_chain(&e)),
                Err(source) => {
                    if let Ok(b) = &self.ebpf {
                        let _ = b.detach(&id);
                    }
                    return Err(MonitorError::Fanotify { id, source });
                }
            }
        } else {
            LayerState::NotNeeded
        };
        Ok(Attachment { fanotify, ebpf })
    }

    fn needed(&self, open: bool, id: &str, reason: String) -> Result<LayerState, MonitorError> {
        if open {
            Ok(LayerState::Unavailable(reason))
        } else {
            Err(MonitorError::EbpfUnavailable {
                id: id.to_string(),
                reason,
            })
        }
    }

    /// Removes every mark, map entry and link of the container (pins too after the last one).
    pub fn detach(&self, id: &str) -> Result<(), MonitorError> {
        self.fanotify.detach(id);
        if let Ok(b) = &self.ebpf {
            b.detach(id).map_err(|e| MonitorError::Ebpf {
                id: id.to_string(),
                source: Box::new(e),
            })?;
        }
        Ok(())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemorySink, NetRule};

    fn identity() -> ContainerIdentity {
        ContainerIdentity {
            id: "c1".into(),
            init_pid: 1,
            mnt_ns: 1,
            pid_ns: 1,
        }
    }

    fn net_rules(fail_mode: FailMode) -> MonitorRules {
        MonitorRules {
            connect_deny: vec![NetRule::parse("10.0.0.0/8").expect("rule")],
            fail_mode,
            ..Default::default()
        }
    }

    #[test]
    fn a_needed_layer_that_is_unavailable_follows_the_fail_mode() {
        let m = Monitor::without_ebpf(Arc::new(MemorySink::default()), "no bpf here");
        let err = m.attach(
            identity(),
            Some(Path::new("/nonexistent")),
            &net_rules(FailMode::Closed),
        );
        let err = err.expect_err("closed fails");
        assert_eq!(
            err.to_string(),
            "ebpf layer of container c1 is needed but unavailable: no bpf here"
        );
        let ok = m
            .attach(identity(), None, &net_rules(FailMode::Open))
            .expect("open attaches");
        assert_eq!(
            ok.ebpf,
            LayerState::Unavailable("no cgroup2 directory for the container".into())
        );
        assert_eq!(ok.fanotify, LayerState::NotNeeded);
        let none = m
            .attach(identity(), None, &MonitorRules::default())
            .expect("nothing needed");
        assert_eq!(
            none,
            Attachment {
                fanotify: LayerState::NotNeeded,
                ebpf: LayerState::NotNeeded
            }
        );
    }
}
