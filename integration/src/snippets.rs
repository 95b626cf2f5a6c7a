//! The engine configuration snippets of `containerd-config/`, read and templated for tests, so
//! the documented snippets are the ones that are tested.

use std::path::{Path, PathBuf};

use crate::runtime::workspace_root;

/// The binary path the snippets use; tests replace it with the runtime under test.
pub const INSTALLED_PATH: &str = "/usr/local/bin/vigil";

#[derive(Debug, thiserror::Error)]
pub enum SnippetError {
    #[error("failed to read snippet {path:?}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snippet {path:?} does not mention {INSTALLED_PATH}: it would not select the runtime")]
    NoPath { path: PathBuf },
    #[error("snippet {path:?} is invalid: {why}")]
    Invalid { path: PathBuf, why: String },
}

/// `<workspace>/containerd-config/NAME`.
pub fn snippet_path(name: &str) -> PathBuf {
    workspace_root().join("containerd-config").join(name)
}

fn read(name: &str) -> Result<(PathBuf, String), SnippetError> {
    let path = snippet_path(name);
    let s = std::fs::read_to_string(&path).map_err(|source| SnippetError::Read {
        path: path.clone(),
        source,
    })?;
    Ok((path, s))
}

fn templated(name: &str, bin: &Path) -> Result<String, SnippetError> {
    let (path, s) = read(name)?;
    if !s.contains(INSTALLED_PATH) {
        return Err(SnippetError::NoPath { path });
    }
    Ok(s.replace(INSTALLED_PATH, &bin.display().to_string()))
}

/// containerd-runtime-class.toml with BinaryName = `bin`.
pub fn containerd_runtime_class(bin: &Path) -> Result<String, SnippetError> {
    templated("containerd-runtime-class.toml", bin)
}

/// The runtime table name of containerd-runtime-class.toml (`...runtimes.NAME]`).
pub fn containerd_runtime_name() -> Result<String, SnippetError> {
    let (path, s) = read("containerd-runtime-class.toml")?;
    s.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.")
        })
        .filter_map(|rest| rest.strip_suffix(']'))
        .find(|name| !name.contains('.'))
        .map(|n| n.trim_matches('"').to_string())
        .ok_or(SnippetError::Invalid {
            path,
            why: "no [...containerd.runtimes.NAME] table".into(),
        })
}

/// The `handler:` of kubernetes-runtimeclass.yaml.
pub fn kubernetes_handler() -> Result<String, SnippetError> {
    let (path, s) = read("kubernetes-runtimeclass.yaml")?;
    s.lines()
        .find_map(|l| l.strip_prefix("handler:"))
        .map(|h| h.trim().trim_matches('"').to_string())
        .ok_or(SnippetError::Invalid {
            path,
            why: "no top-level handler:".into(),
        })
}

/// The `runtimes` object of docker-daemon.json with every path = `bin`.
pub fn docker_runtimes(bin: &Path) -> Result<serde_json::Value, SnippetError> {
    let path = snippet_path("docker-daemon.json");
    let s = templated("docker-daemon.json", bin)?;
    let v: serde_json::Value = serde_json::from_str(&s).map_err(|e| SnippetError::Invalid {
        path: path.clone(),
        why: e.to_string(),
    })?;
    v.get("runtimes")
        .filter(|r| r.is_object())
        .cloned()
        .ok_or(SnippetError::Invalid {
            path,
            why: "no \"runtimes\" object".into(),
        })
}

/// podman-containers.conf with the runtime path = `bin`.
pub fn podman_containers_conf(bin: &Path) -> Result<String, SnippetError> {
    templated("podman-containers.conf", bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_snippets_name_one_runtime_and_template_the_path() {
        let name = containerd_runtime_name().expect("containerd snippet");
        assert_eq!(name, "vigil");
        assert_eq!(kubernetes_handler().expect("RuntimeClass snippet"), name);
        let bin = Path::new("/opt/test/vigil-under-test");
        let toml = containerd_runtime_class(bin).expect("containerd snippet");
        assert!(
            toml.contains("BinaryName = \"/opt/test/vigil-under-test\""),
            "{toml}"
        );
        assert!(!toml.contains(INSTALLED_PATH));
        let rt = docker_runtimes(bin).expect("docker snippet");
        assert_eq!(rt["vigil"]["path"], "/opt/test/vigil-under-test");
        let conf = podman_containers_conf(bin).expect("podman snippet");
        assert!(
            conf.contains("vigil = [\"/opt/test/vigil-under-test\"]"),
            "{conf}"
        );
    }
}
