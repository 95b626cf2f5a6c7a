//! "Nearest listed path wins" compiled into Landlock's union-only path rules.
//!
//! For each right separately: a listed path that grants it is a grant root; a listed path
//! beneath it that takes it away (and does not also grant it) is an exception. A grant root without exceptions becomes one rule;
//! otherwise it is replaced by rules on its directory entries, skipping exceptions and recursing
//! into entries that contain one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ::landlock::{AccessFs, BitFlags};

use super::{LandlockError, strictly_beneath};

type Rules = BTreeMap<PathBuf, BitFlags<AccessFs>>;

/// What one listed path says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Entry {
    /// Rights granted beneath it.
    pub grants: BitFlags<AccessFs>,
    /// Rights taken away beneath it (ignored where also granted).
    pub revokes: BitFlags<AccessFs>,
}

/// Expand canonical `entries` (path -> rights listed for it) for every right in `handled`.
pub(super) fn nearest_wins(
    entries: &BTreeMap<PathBuf, Entry>,
    handled: BitFlags<AccessFs>,
) -> Result<Rules, LandlockError> {
    let mut out = Rules::new();
    for right in handled.iter() {
        for (root, entry) in entries {
            if !entry.grants.contains(right) {
                continue;
            }
            let exceptions: Vec<&Path> = entries
                .iter()
                .filter(|(p, e)| {
                    e.revokes.contains(right)
                        && !e.grants.contains(right)
                        && strictly_beneath(p, root)
                })
                .map(|(p, _)| p.as_path())
                .collect();
            grant(root, &exceptions, right, &mut out)?;
        }
    }
    Ok(out)
}

fn grant(
    root: &Path,
    exceptions: &[&Path],
    right: AccessFs,
    out: &mut Rules,
) -> Result<(), LandlockError> {
    if exceptions.is_empty() {
        *out.entry(root.to_path_buf()).or_default() |= right;
        return Ok(());
    }
    let io_err = |source| LandlockError::Path {
        path: root.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(root).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let child = entry.path();
        if exceptions.contains(&child.as_path()) {
            continue;
        }
        let file_type = entry.file_type().map_err(io_err)?;
        if file_type.is_symlink() {
            continue;
        }
        let inner: Vec<&Path> = exceptions
            .iter()
            .copied()
            .filter(|e| strictly_beneath(e, &child))
            .collect();
        if inner.is_empty() {
            *out.entry(child).or_default() |= right;
        } else {
            grant(&child, &inner, right, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_is_carved_out_by_granting_siblings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        for d in ["a", "b", "tmp", "tmp/x", "tmp/y"] {
            std::fs::create_dir(root.join(d)).expect("mkdir");
        }
        std::os::unix::fs::symlink(root.join("tmp"), root.join("link")).expect("symlink");
        let mut entries = BTreeMap::new();
        let grants = AccessFs::Execute | AccessFs::ReadFile;
        let revokes = BitFlags::empty();
        entries.insert(root.clone(), Entry { grants, revokes });
        // tmp/x takes Execute away; tmp/y lists ReadFile only, which leaves Execute inherited.
        let (grants, revokes) = (
            BitFlags::from(AccessFs::ReadFile),
            BitFlags::from(AccessFs::Execute),
        );
        entries.insert(root.join("tmp/x"), Entry { grants, revokes });
        let revokes = BitFlags::empty();
        entries.insert(root.join("tmp/y"), Entry { grants, revokes });
        let out = nearest_wins(&entries, AccessFs::Execute | AccessFs::ReadFile).expect("expand");
        // ReadFile: granted at root, no exception -> one rule on root.
        assert!(out[&root].contains(AccessFs::ReadFile));
        assert!(!out[&root].contains(AccessFs::Execute));
        // Execute: siblings of tmp, and siblings of x inside tmp; never x, tmp, or the symlink.
        for p in ["a", "b"] {
            assert_eq!(out[&root.join(p)], BitFlags::from(AccessFs::Execute), "{p}");
        }
        assert_eq!(
            out[&root.join("tmp/y")],
            AccessFs::Execute | AccessFs::ReadFile
        );
        assert!(!out.contains_key(&root.join("tmp")));
        assert!(!out.contains_key(&root.join("link")));
        assert_eq!(out[&root.join("tmp/x")], BitFlags::from(AccessFs::ReadFile));
    }
}
