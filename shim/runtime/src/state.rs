//! Container state as runc prints it (`runc state`, `runc list --format json`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use serde::Serialize;

use crate::{Runtime, RuntimeError};

/// The JSON that `runc state` prints; containerd's go-runc parses exactly these fields.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
    pub owner: String,
}

/// One row of `runc list`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ListEntry {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
}

impl Runtime {
    /// The state directory of one container; the id is validated so that it cannot name a
    /// path outside the root.
    pub(crate) fn container_dir(&self, id: &str) -> Result<PathBuf, RuntimeError> {
        validate_id(id)?;
        Ok(self.root.join(id))
    }

    /// Loads a container and refreshes its status from the kernel (a dead init is `stopped`).
    pub(crate) fn load(&self, id: &str) -> Result<Container, RuntimeError> {
        let dir = self.container_dir(id)?;
        if !dir.join("state.json").exists() {
            return Err(RuntimeError::NotExist { id: id.to_owned() });
        }
        Container::load(dir).map_err(|e| RuntimeError::container("load", id, e))
    }

    /// `runc state ID`.
    pub fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        let container = self.load(id)?;
        Ok(export(&self.root, &container))
    }

    /// `runc list`: every container under the root, sorted by id. Entries whose state cannot be
    /// read (a create in progress) are skipped, as runc does.
    pub fn list(&self) -> Result<Vec<ListEntry>, RuntimeError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(RuntimeError::Read {
                    path: self.root.clone(),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if validate_id(&id).is_err() || !entry.path().join("state.json").exists() {
                continue;
            }
            match self.load(&id) {
                Ok(c) => {
                    let s = export(&self.root, &c);
                    out.push(ListEntry {
                        oci_version: s.oci_version,
                        id: s.id,
                        pid: s.pid,
                        status: s.status,
                        bundle: s.bundle,
                        rootfs: s.rootfs,
                        created: s.created,
                        owner: s.owner,
                    });
                }
                Err(e) => tracing::debug!(container = %id, error = %e, "skipping unreadable state"),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

pub(crate) fn status_name(c: &Container) -> &'static str {
    use libcontainer::container::ContainerStatus as S;
    match c.status() {
        S::Creating => "creating",
        S::Created => "created",
        S::Running => "running",
        S::Stopped => "stopped",
        S::Paused => "paused",
    }
}

fn export(root: &Path, c: &Container) -> ContainerState {
    let st = &c.state;
    // libcontainer builds from the shadow bundle; engines expect the bundle they passed.
    let bundle = crate::policy::origin_bundle(root, &st.id).unwrap_or_else(|| st.bundle.clone());
    let stopped = status_name(c) == "stopped";
    ContainerState {
        oci_version: st.oci_version.clone(),
        id: st.id.clone(),
        // runc reports pid 0 for a stopped container.
        pid: if stopped { 0 } else { st.pid.unwrap_or(0) },
        status: status_name(c).to_owned(),
        rootfs: rootfs_of(&bundle),
        bundle,
        created: st
            .created
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default(),
        annotations: st.annotations.clone(),
        owner: c
            .creator()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

fn rootfs_of(bundle: &Path) -> PathBuf {
    let spec = libcontainer::oci_spec::runtime::Spec::load(bundle.join("config.json")).ok();
    let root = spec
        .and_then(|s| s.root().as_ref().map(|r| r.path().clone()))
        .unwrap_or_else(|| PathBuf::from("rootfs"));
    if root.is_absolute() {
        root
    } else {
        bundle.join(root)
    }
}

/// runc's container id rule: non-empty, `[\w+-\.]+`, and never `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), RuntimeError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId { id: id.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_name_paths_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a b", "x\0"] {
            assert!(validate_id(bad).is_err(), "{bad:?} must be refused");
        }
        for good in ["web", "a.b", "k8s_POD-1+x", "0123abcdef"] {
            assert!(validate_id(good).is_ok(), "{good:?} must be accepted");
        }
    }

    #[test]
    fn missing_container_says_does_not_exist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = Runtime::new(dir.path().to_path_buf(), false);
        let err = rt.state("nope").expect_err("no such container");
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(rt.list().expect("empty root lists").is_empty());
    }
}
