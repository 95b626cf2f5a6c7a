//! "Nearest listed path wins" compiled into Landlock's union-only path rules.
//!
//! For each right separately: a listed path that grants it is a grant root; a listed path
//! beneath it that takes it away (and does not also grant it) is an exception, and so is every
//! other name of that path through bind mounts. A grant root without exceptions becomes one
//! rule; otherwise it is replaced by rules on its directory entries, skipping exceptions and
//! recursing into entries that contain one.
//!
//! Landlock attaches a rule to an inode and checks every inode on the walk up from the file
//! (crossing from a mount's root to the directory it is mounted on). So an entry must also be
//! recursed into, never granted whole, when its inode is one that such a walk from an exception
//! visits: an ancestor of the exception under another name, or the directory underneath a
//! mount point on the way (reachable through a non-recursive bind of the parent filesystem).

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};

use ::landlock::{AccessFs, BitFlags};

use super::mounts::{self, Mount};
use super::{LandlockError, strictly_beneath};

type Rules = BTreeMap<PathBuf, BitFlags<AccessFs>>;

/// (st_dev, st_ino) of an inode.
type Ino = (u64, u64);

/// Deeper than this, expansion is refused rather than risking a loop through bind mounts.
const MAX_DEPTH: usize = 64;

/// What one listed path says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Entry {
    /// Rights granted beneath it.
    pub grants: BitFlags<AccessFs>,
    /// Rights taken away beneath it (ignored where also granted).
    pub revokes: BitFlags<AccessFs>,
}

/// Expand canonical `entries` (path -> rights listed for it) for every right in `handled`.
/// `mounts` (from mountinfo) give the other names of an exception through bind mounts.
pub(super) fn nearest_wins(
    entries: &BTreeMap<PathBuf, Entry>,
    handled: BitFlags<AccessFs>,
    mounts: &[Mount],
) -> Result<Rules, LandlockError> {
    let mut out = Rules::new();
    let mount_points: HashSet<&Path> = mounts.iter().map(Mount::mount_point).collect();
    for right in handled.iter() {
        let taken: Vec<PathBuf> = entries
            .iter()
            .filter(|(_, e)| e.revokes.contains(right) && !e.grants.contains(right))
            .flat_map(|(p, _)| {
                let mut all = mounts::aliases(mounts, p);
                all.push(p.clone());
                all
            })
            .collect();
        let mut walked: HashSet<Ino> = HashSet::new();
        for p in &taken {
            walk_inodes(p, &mount_points, &mut walked);
        }
        let expansion = Expansion {
            right,
            walked: &walked,
        };
        for (root, entry) in entries {
            if !entry.grants.contains(right) {
                continue;
            }
            let exceptions: Vec<&Path> = taken
                .iter()
                .filter(|p| strictly_beneath(p, root))
                .map(PathBuf::as_path)
                .collect();
            if exceptions.is_empty() {
                *out.entry(root.clone()).or_default() |= right;
            } else {
                expansion.grant_children(root, &exceptions, 0, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// Inodes a Landlock walk from `path` up to `/` visits (those that exist).
fn walk_inodes(path: &Path, mount_points: &HashSet<&Path>, out: &mut HashSet<Ino>) {
    for q in path.ancestors() {
        if let Ok(m) = std::fs::metadata(q) {
            out.insert((m.dev(), m.ino()));
        }
        // A mount point: the walk also visits the directory it is mounted on, which only the
        // parent's directory listing shows (d_ino does not cross the mount).
        if let (true, Some(parent), Some(name)) =
            (mount_points.contains(q), q.parent(), q.file_name())
        {
            let dev = std::fs::metadata(parent).map(|m| m.dev());
            let under = std::fs::read_dir(parent).ok().and_then(|rd| {
                rd.flatten()
                    .find(|e| e.file_name() == name)
                    .map(|e| e.ino())
            });
            if let (Ok(dev), Some(ino)) = (dev, under) {
                out.insert((dev, ino));
            }
        }
    }
}

struct Expansion<'a> {
    right: AccessFs,
    walked: &'a HashSet<Ino>,
}

impl Expansion<'_> {
    fn grant_children(
        &self,
        root: &Path,
        exceptions: &[&Path],
        depth: usize,
        out: &mut Rules,
    ) -> Result<(), LandlockError> {
        let io_err = |source| LandlockError::Path {
            path: root.to_path_buf(),
            source,
        };
        if depth > MAX_DEPTH {
            return Err(io_err(std::io::Error::other(
                "expansion deeper than 64 levels (a bind-mount loop?)",
            )));
        }
        for entry in std::fs::read_dir(root).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let child = entry.path();
            if exceptions.contains(&child.as_path())
                || entry.file_type().map_err(io_err)?.is_symlink()
            {
                continue;
            }
            // What a rule on `child` would attach to (crosses a mount on `child`).
            let Ok(meta) = std::fs::metadata(&child) else {
                tracing::warn!(path = ?child, "cannot stat, left without the expanded right");
                continue;
            };
            let inner: Vec<&Path> = exceptions
                .iter()
                .copied()
                .filter(|e| strictly_beneath(e, &child))
                .collect();
            let on_walk = self.walked.contains(&(meta.dev(), meta.ino()));
            if inner.is_empty() && !on_walk {
                *out.entry(child).or_default() |= self.right;
            } else if meta.is_dir() {
                self.grant_children(&child, &inner, depth + 1, out)?;
            }
        }
        Ok(())
    }
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
        let out =
            nearest_wins(&entries, AccessFs::Execute | AccessFs::ReadFile, &[]).expect("expand");
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
