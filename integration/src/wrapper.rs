//! A logging wrapper around the runtime under test, handed to engines instead of the binary.
//!
//! Each invocation appends one line (its arguments, tab-separated) to a log and then `exec`s the
//! real binary with the same arguments, so the wrapper changes nothing but lets a test prove that
//! the engine called the runtime under test, and shows the exact flags engines pass.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WrapperError {
    #[error("failed to write runtime wrapper {path:?}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct RuntimeWrapper {
    pub path: PathBuf,
    pub log: PathBuf,
    pub real: PathBuf,
}

impl RuntimeWrapper {
    /// Writes `dir/NAME` (a sh script) wrapping `real`, logging to `dir/NAME.calls`.
    pub fn create(dir: &Path, name: &str, real: &Path) -> Result<Self, WrapperError> {
        let path = dir.join(name);
        let log = dir.join(format!("{name}.calls"));
        let config = crate::runtime::test_config(dir).map_err(|source| WrapperError::Write {
            path: dir.join("vigil-config.yaml"),
            source,
        })?;
        let script = format!(
            "#!/bin/sh\n# logs each call, then runs the runtime under test unchanged (vigil with a test\n# host configuration: its journal stays in this temp dir)\n(IFS=\"$(printf '\\t')\"; printf '%s\\n' \"$*\") >> '{}'\n: \"${{VIGIL_CONFIG:={}}}\"\nexport VIGIL_CONFIG\nexec '{}' \"$@\"\n",
            log.display(),
            config.display(),
            real.display()
        );
        let err = |source| WrapperError::Write {
            path: path.clone(),
            source,
        };
        std::fs::write(&path, script).map_err(err)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(err)?;
        Ok(Self {
            path,
            log,
            real: real.to_path_buf(),
        })
    }

    /// Every logged call so far, each as its argument list.
    pub fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect()
    }

    /// The logged calls whose arguments include `subcommand` (e.g. "create").
    pub fn calls_with(&self, subcommand: &str) -> Vec<Vec<String>> {
        self.calls()
            .into_iter()
            .filter(|c| c.iter().any(|a| a == subcommand))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_logs_arguments_and_runs_the_real_binary() {
        let dir = tempfile::tempdir().expect("temp dir");
        let echo = crate::runtime::find_in_path("echo").expect("echo exists");
        let w = RuntimeWrapper::create(dir.path(), "rt", &echo).expect("wrapper");
        let out = std::process::Command::new(&w.path)
            .args(["--root", "/r", "create", "a b"])
            .output()
            .expect("runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "--root /r create a b\n"
        );
        assert_eq!(w.calls(), vec![vec!["--root", "/r", "create", "a b"]]);
        assert_eq!(w.calls_with("create").len(), 1);
        assert!(w.calls_with("delete").is_empty());
    }
}
