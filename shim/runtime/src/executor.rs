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

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        self.inner.validate(spec)
    }
}
