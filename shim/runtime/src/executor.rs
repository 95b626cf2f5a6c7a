//! The step libcontainer runs in the container's process right before `execve`: after
//! pivot_root, capability drop and the engine's own seccomp filter. It is where launch-time
//! enforcement that must be installed by the process itself (Landlock, the policy's seccomp
//! filter) belongs.

use crate::launch::LaunchPlan;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

/// vigil's workload executor: delegates the `execve` to libcontainer's default executor.
#[derive(Clone)]
pub(crate) struct VigilExecutor {
    inner: DefaultExecutor,
    plan: LaunchPlan,
}

impl VigilExecutor {
    pub(crate) fn new(plan: LaunchPlan) -> Self {
        Self {
            inner: DefaultExecutor {},
            plan,
        }
    }
}

impl Executor for VigilExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        // Landlock first (our own filter must not deny its syscalls), then the policy's seccomp
        // filters stacked on the engine's: the kernel applies the strictest answer.
        let status = vigil_sys::enforce(self.plan.landlock.as_ref(), self.plan.seccomp.as_ref())
            .map_err(|e| ExecutorError::Other(format!("failed to install the policy: {e}")))?;
        if let Some(s) = status
            && !s.fully_enforced
        {
            tracing::warn!(
                abi = s.abi,
                "Landlock is only partly enforced on this kernel"
            );
        }
        self.inner.exec(spec)
    }

    /// libcontainer's default check wants `PATH` even for an absolute entrypoint; runc does
    /// not (pause images set no environment at all), so a path with a `/` is checked directly.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let first = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .and_then(|a| a.first());
        match first {
            Some(exe) if exe.contains('/') => {
                use std::os::unix::fs::PermissionsExt;
                match std::fs::metadata(exe) {
                    Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
                    Ok(_) => Err(ExecutorValidationError::ArgValidationError(format!(
                        "{exe:?} is not an executable file"
                    ))),
                    Err(e) => Err(ExecutorValidationError::ArgValidationError(format!(
                        "executable {exe:?} not found: {e}"
                    ))),
                }
            }
            _ => self.inner.validate(spec),
        }
    }
}
