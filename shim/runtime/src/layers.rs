//! A policy's `require` against this host, before anything is created.
//!
//! Launch-time layers (seccomp, Landlock) are probed on the kernel. The monitor's layers
//! (fanotify, eBPF) need a monitor attached to the container; until a monitor is attached by
//! `create`, a policy that requires them, or that has monitor rules and fails closed, does not
//! start: vigil never runs a container with less enforcement than its policy asks for unless the
//! policy says `failMode: open`.

use vigil_policy::{CompiledPolicy, FailMode, Layer};

use crate::RuntimeError;

/// Whether the monitor can enforce this container's monitor rules (see the module doc).
pub(crate) const MONITOR_ATTACHED: bool = false;

pub(crate) fn check(id: &str, compiled: &CompiledPolicy) -> Result<(), RuntimeError> {
    let refuse = |message: String| RuntimeError::Policy {
        id: id.to_owned(),
        message,
    };
    for layer in &compiled.require {
        match layer {
            Layer::Seccomp => {
                let p = vigil_sys::probe::seccomp();
                if !p.available {
                    return Err(refuse(format!(
                        "policy {:?} requires seccomp, which this host lacks: {}",
                        compiled.name, p.detail
                    )));
                }
            }
            Layer::Landlock => {
                let p = vigil_sys::probe::landlock();
                let abi = vigil_sys::probe::landlock_abi().unwrap_or(0);
                if !p.available || abi < compiled.landlock.min_abi {
                    return Err(refuse(format!(
                        "policy {:?} requires Landlock ABI {} or newer; this kernel has ABI {abi} ({})",
                        compiled.name, compiled.landlock.min_abi, p.detail
                    )));
                }
            }
            Layer::Fanotify | Layer::Ebpf if !MONITOR_ATTACHED => {
                return Err(refuse(format!(
                    "policy {:?} requires the {} layer, which the vigil monitor enforces; the monitor cannot attach to this container",
                    compiled.name,
                    layer_name(*layer)
                )));
            }
            Layer::Fanotify | Layer::Ebpf | Layer::Cgroups => {}
        }
    }
    let monitor_layers: Vec<&Layer> = compiled
        .uses
        .iter()
        .filter(|l| matches!(l, Layer::Fanotify | Layer::Ebpf))
        .collect();
    if !monitor_layers.is_empty() && !MONITOR_ATTACHED {
        match compiled.monitor.fail_mode.unwrap_or_default() {
            FailMode::Closed => {
                return Err(refuse(format!(
                    "policy {:?} has {} rules and fails closed, but the monitor cannot attach to this container (set monitor.failMode: open to run unmonitored)",
                    compiled.name,
                    monitor_layers
                        .iter()
                        .map(|l| layer_name(**l))
                        .collect::<Vec<_>>()
                        .join(" and ")
                )));
            }
            FailMode::Open => tracing::warn!(container = %id, policy = %compiled.name,
                "monitor rules are not enforced: the monitor is not attached (failMode: open)"),
        }
    }
    Ok(())
}

fn layer_name(l: Layer) -> &'static str {
    match l {
        Layer::Seccomp => "seccomp",
        Layer::Landlock => "landlock",
        Layer::Fanotify => "fanotify",
        Layer::Ebpf => "ebpf",
        Layer::Cgroups => "cgroups",
    }
}
