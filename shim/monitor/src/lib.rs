//! vigil-monitor: the runtime monitor's backends, attached to a container before `start`.
//!
//! - [`rules`]: the monitor's input ([`MonitorRules`]) and the pure [`decide`] function;
//! - [`fanotify`]: inline open/exec decisions through fanotify permission events, one
//!   FAN_CLASS_CONTENT group and one thread per container, marks on every mount of the container
//!   through `/proc/<init pid>/root`;
//! - [`ebpf`]: cgroup sock_addr programs (connect4/6, sendmsg4/6, bind4/6) that refuse by
//!   address and port inline, and a `sched_process_exec` observer, loaded once, pinned in bpffs,
//!   with one policy map entry per container (keyed by cgroup id).
//!
//! [`Monitor`] puts both behind one `attach`/`detach` and applies the fail mode.
//!
//! Decisions worth reporting reach a [`Sink`] as [`DecisionEvent`]s; the daemon connects the
//! sink to the journal. This crate does not depend on the runtime, the policy compiler or the
//! journal; it needs root and a kernel for the backends, not for [`rules`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use vigil_monitor::{ContainerIdentity, FanotifyMonitor, MonitorRules, Sink, DecisionEvent};
//! struct Print;
//! impl Sink for Print { fn report(&self, e: DecisionEvent) { println!("{e:?}") } }
//! let monitor = FanotifyMonitor::new(Arc::new(Print));
//! let id = ContainerIdentity::from_pid("c1", 4242)?;
//! let rules = MonitorRules { deny_paths: vec!["/etc/shadow".into()], ..Default::default() };
//! monitor.attach(id, rules)?;
//! // ... `start` the container; later:
//! monitor.detach("c1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod ebpf;
pub mod fanotify;
mod glob;
pub mod identity;
pub mod monitor;
mod netrule;
pub mod rules;

use serde::{Deserialize, Serialize};

pub use ebpf::{EbpfError, EbpfMonitor};
pub use fanotify::{FanotifyError, FanotifyMonitor};
pub use identity::{ContainerIdentity, IdentityError};
pub use monitor::{Attachment, LayerState, Monitor, MonitorError};
pub use rules::{Access, Decision, FailMode, Mode, MonitorRules, NetRule, Proto, Verdict, decide};

/// The enforcement layer that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Fanotify,
    Ebpf,
}

/// One reported decision (denied, audited, learned, or an observed exec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionEvent {
    /// The container id given at attach.
    pub container: String,
    /// Host pid of the process.
    pub pid: i32,
    /// Executable of the process as the host sees it (`/proc/<pid>/exe`), or its comm for eBPF.
    pub exe: Option<String>,
    /// What was accessed (path or address).
    pub access: Access,
    pub verdict: Verdict,
    pub rule: Option<String>,
    pub layer: Layer,
}

/// Where reported decisions go. Called from the backends' event threads: keep it quick.
pub trait Sink: Send + Sync {
    fn report(&self, event: DecisionEvent);
}

/// A sink that keeps events in memory (tests, `vigil doctor`).
#[derive(Debug, Default)]
pub struct MemorySink {
    events: std::sync::Mutex<Vec<DecisionEvent>>,
}

impl MemorySink {
    /// Every event reported so far.
    pub fn events(&self) -> Vec<DecisionEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Sink for MemorySink {
    fn report(&self, event: DecisionEvent) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event);
        }
    }
}
