//! "Nearest listed path wins" compiled into Landlock's union-only path rules.
//!
//! For each right separately: a listed path that grants it is a grant root; a listed path
//! beneath it that lacks it is an exception. A grant root without exceptions becomes one rule;
//! otherwise it is replaced by rules on its directory entries, skipping exceptions and recursing
//! into entries that contain one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ::landlock::{AccessFs, BitFlags};

use super::{LandlockError, strictly_beneath};

type Rules = BTreeMap<PathBuf, BitFlags<AccessFs>>;

/// Expand canonical `entries` (path -> rights listed for it) for every right in `handled`.
pub(super) fn nearest_wins(
    entries: &BTreeMap<PathBuf, BitFlags<AccessFs>>,
    handled: BitFlags<AccessFs>,
) -> Result<Rules, LandlockError> {
    let mut out = Rules::new();
    for right in handled.iter() {
        for (root, rights) in entries {
            if !rights.contains(right) {
                continue;
            }
            let exceptions: Vec<&Path> = entries
                .iter()
                .filter(|(p, r)| !r.contains(right) && strictly_beneath(p, root))
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
        entries.insert(root.clone(), AccessFs::Execute | AccessFs::ReadFile);
        entries.insert(root.join("tmp/x"), BitFlags::from(AccessFs::ReadFile));
        let out = nearest_wins(&entries, AccessFs::Execute | AccessFs::ReadFile).expect("expand");
        // ReadFile: granted at root, no exception -> one rule on root.
        assert!(out[&root].contains(AccessFs::ReadFile));
        assert!(!out[&root].contains(AccessFs::Execute));
        // Execute: siblings of tmp, and siblings of x inside tmp; never x, tmp, or the symlink.
        for p in ["a", "b", "tmp/y"] {
            assert_eq!(out[&root.join(p)], BitFlags::from(AccessFs::Execute), "{p}");
        }
        assert!(!out.contains_key(&root.join("tmp")));
        assert!(!out.contains_key(&root.join("link")));
        assert_eq!(out[&root.join("tmp/x")], BitFlags::from(AccessFs::ReadFile));
    }
}
