//! Refusing configuration and policy files that someone other than root could have written.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("refusing {path:?}: owned by uid {uid}, not by {expected} (chown {expected} {path:?})")]
    Owner {
        path: PathBuf,
        uid: u32,
        expected: u32,
    },
    #[error("refusing {path:?}: writable by group or others (mode {mode:o}; chmod go-w {path:?})")]
    Writable { path: PathBuf, mode: u32 },
    #[error("failed to stat {path:?}")]
    Stat {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Who must own the files vigil reads. Production uses [`Trust::ROOT`]; unit tests inject the
/// uid that owns their temporary files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trust {
    /// Required owner uid; `None` skips the owner check (never in production).
    pub owner: Option<u32>,
}

impl Trust {
    pub const ROOT: Trust = Trust { owner: Some(0) };

    pub fn owner(uid: u32) -> Trust {
        Trust { owner: Some(uid) }
    }

    /// Check the file `path` (following symlinks): owner, and no group/other write bit.
    pub fn check(&self, path: &Path) -> Result<(), TrustError> {
        let meta = std::fs::metadata(path).map_err(|source| TrustError::Stat {
            path: path.to_path_buf(),
            source,
        })?;
        self.check_meta(path, meta.uid(), meta.mode())
    }

    /// The decision alone, for a given owner and mode.
    pub fn check_meta(&self, path: &Path, uid: u32, mode: u32) -> Result<(), TrustError> {
        if let Some(expected) = self.owner
            && uid != expected
        {
            return Err(TrustError::Owner {
                path: path.to_path_buf(),
                uid,
                expected,
            });
        }
        if mode & 0o022 != 0 {
            return Err(TrustError::Writable {
                path: path.to_path_buf(),
                mode: mode & 0o7777,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_and_mode_are_checked() {
        let p = Path::new("/etc/vigil/config.yaml");
        assert!(Trust::ROOT.check_meta(p, 0, 0o100644).is_ok());
        let e = Trust::ROOT.check_meta(p, 1000, 0o100644).unwrap_err();
        assert!(e.to_string().contains("owned by uid 1000, not by 0"), "{e}");
        let e = Trust::ROOT.check_meta(p, 0, 0o100664).unwrap_err();
        assert!(
            e.to_string()
                .contains("writable by group or others (mode 664"),
            "{e}"
        );
        assert!(Trust::ROOT.check_meta(p, 0, 0o100602).is_err());
    }

    #[test]
    fn real_file_checks() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.yaml");
        std::fs::write(&f, "x").unwrap();
        let uid = std::fs::metadata(&f).unwrap().uid();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Trust::owner(uid).check(&f).is_ok());
        assert!(Trust::owner(uid + 1).check(&f).is_err());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            Trust::owner(uid).check(&f),
            Err(TrustError::Writable { .. })
        ));
    }
}
