//! The step libcontainer runs in the container's process right before `execve`: after
//! pivot_root, capability drop and the engine's own seccomp filter. It is where launch-time
//! enforcement that must be installed by the process itself (Landlock, the policy's seccomp
//! filter) belongs.

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use vigil_policy::CompiledPolicy;

/// vigil's workload executor: delegates the `execve` to libcontainer's default executor.
#[derive(Clone)]
pub(crate) struct VigilExecutor {
    inner: DefaultExecutor,
    policy: Option<std::sync::Arc<CompiledPolicy>>,
}

impl VigilExecutor {
    pub(crate) fn new(policy: Option<CompiledPolicy>) -> Self {
        Self {
            inner: DefaultExecutor {},
            policy: policy.map(std::sync::Arc::new),
        }
    }
}

impl Executor for VigilExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        self.inner.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        self.inner.validate(spec)
    }
}
