use std::path::PathBuf;

use libcontainer::error::LibcontainerError;

/// Errors of runtime commands. Texts that engines match are runc's: containerd treats
/// "does not exist" as not-found on delete, and "container not running" as already exited on
/// kill.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container {id:?} does not exist")]
    NotExist { id: String },
    #[error("container {id:?} already exists")]
    Exists { id: String },
    #[error("invalid container id {id:?}: only letters, digits, '_', '-', '+' and '.' are allowed")]
    InvalidId { id: String },
    #[error("cannot {action} container {id:?}: container not running")]
    NotRunning { action: &'static str, id: String },
    #[error("cannot {action} container {id:?} in state {status}")]
    WrongState {
        action: &'static str,
        id: String,
        status: String,
    },
    #[error("failed to {action} container {id:?}: {cause}")]
    Container {
        action: &'static str,
        id: String,
        // Not `#[source]`: the message carries it, and a chain would print it twice.
        cause: Box<LibcontainerError>,
    },
    #[error("invalid signal {0:?}")]
    Signal(String),
    #[error("failed to read {path:?}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write {path:?}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid JSON in {what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cgroup operation on container {id:?} failed: {message}")]
    Cgroup { id: String, message: String },
    #[error("{call} failed")]
    Sys {
        call: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("policy for container {id:?}: {message}")]
    Policy { id: String, message: String },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl RuntimeError {
    pub(crate) fn container(action: &'static str, id: &str, source: LibcontainerError) -> Self {
        match source {
            LibcontainerError::Exist => Self::Exists { id: id.to_owned() },
            LibcontainerError::InvalidID(_) => Self::InvalidId { id: id.to_owned() },
            source => Self::Container {
                action,
                id: id.to_owned(),
                cause: Box::new(source),
            },
        }
    }
}
