//! Locating the runtime under test and running it with runc's command-line surface.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cmd::{self, CmdError, Output};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "no runtime under test: set VIGIL_RUNTIME (e.g. VIGIL_RUNTIME=/usr/sbin/runc) or build vigil so {0:?} exists (cargo build -p vigil)"
    )]
    NotBuilt(PathBuf),
    #[error("VIGIL_RUNTIME={0:?} does not name an existing file")]
    BadEnv(PathBuf),
    #[error(transparent)]
    Cmd(#[from] CmdError),
}

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("integration/ always has a parent: the workspace")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if absolute, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        Some(p) => workspace_root().join(p),
        None => workspace_root().join("target"),
    }
}

/// The runtime binary under test, as an absolute path.
///
/// `VIGIL_RUNTIME` if set, else `<target>/debug/vigil` if it exists, else an error saying how to
/// get one. This is the only place the tests choose a runtime.
pub fn runtime_bin() -> Result<PathBuf, RuntimeError> {
    if let Some(p) = std::env::var_os("VIGIL_RUNTIME") {
        let p = PathBuf::from(p);
        let p = if p.is_absolute() {
            p
        } else {
            find_in_path(&p).unwrap_or(p)
        };
        return p
            .canonicalize()
            .ok()
            .filter(|c| c.is_file())
            .ok_or(RuntimeError::BadEnv(p));
    }
    let built = target_dir().join("debug").join("vigil");
    if built.is_file() {
        Ok(built)
    } else {
        Err(RuntimeError::NotBuilt(built))
    }
}

/// First match of `name` in `PATH`, plus /usr/sbin and /sbin (root tools live there).
pub fn find_in_path(name: impl AsRef<Path>) -> Option<PathBuf> {
    let name = name.as_ref();
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// Writes (once) `dir/vigil-config.yaml`, a vigil host configuration whose journal lives in
/// `dir/vigil-journal`, so tests never write the host's `/var/lib/vigil`. Other runtimes ignore
/// it. The file is 0644 and owned by the (root) test user, as vigil requires.
pub fn test_config(dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("vigil-config.yaml");
    if !path.exists() {
        let text = format!("journalDir: {}\n", dir.join("vigil-journal").display());
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(path)
}

/// A runc-compatible binary with a fixed `--root`.
#[derive(Debug, Clone)]
pub struct RuntimeCli {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub timeout: Duration,
}

impl RuntimeCli {
    pub fn new(bin: impl Into<PathBuf>, root: impl Into<PathBuf>) -> Self {
        Self {
            bin: bin.into(),
            root: root.into(),
            timeout: Duration::from_secs(30),
        }
    }

    /// `BIN --root ROOT` ready for more arguments, with `VIGIL_CONFIG` pointing at a host
    /// configuration beside the root (see [`test_config`]) unless the caller's environment sets
    /// one.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        if std::env::var_os("VIGIL_CONFIG").is_none()
            && let Some(dir) = self.root.parent()
            && let Ok(cfg) = test_config(dir)
        {
            c.env("VIGIL_CONFIG", cfg);
        }
        c
    }

    /// Runs `BIN --root ROOT ARGS...`, stdin from /dev/null, output captured (never fails on a
    /// non-zero exit: check [`Output::code`]).
    pub fn run(&self, args: &[&str]) -> Result<Output, CmdError> {
        let mut c = self.command();
        c.args(args);
        cmd::run(&mut c, self.timeout)
    }

    /// Like [`RuntimeCli::run`] but with bytes written to the process's stdin.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Result<Output, CmdError> {
        let mut c = self.command();
        c.args(args);
        cmd::run_with_stdin(&mut c, stdin, self.timeout)
    }
}
