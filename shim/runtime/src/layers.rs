//! A policy's `require` against this host, before anything is created.
//!
//! Launch-time layers (seccomp, Landlock) are probed on the kernel. The monitor's layers
//! (fanotify, eBPF) are accepted here: `create` attaches the vigil monitor daemon to the
//! container before it returns (`monitor.rs`), and a policy that requires them, or that has
//! monitor rules and fails closed, does not start when that attach fails: vigil never runs a
//! container with less enforcement than its policy asks for unless the policy says
//! `failMode: open`.

use vigil_policy::{CompiledPolicy, Layer};

use crate::RuntimeError;

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
            // Enforced by the monitor attach of `create` (monitor.rs).
            Layer::Fanotify | Layer::Ebpf | Layer::Cgroups => {}
        }
    }
    Ok(())
}
