//! Other names of the same inodes through bind mounts.
//!
//! Landlock attaches a rule to the inode a path resolves to. When a right is taken away under
//! `/tmp/x` and granted on the siblings along the way, a sibling that is a bind mount of `/`
//! (or of `/tmp`) resolves to an inode *above* `/tmp/x`, and granting it would grant the right
//! on everything below, `/tmp/x` included. This module finds, from `/proc/self/mountinfo`, every
//! path under which an exception's inodes are also reachable, so that expansion carves those out
//! too: a mount of the same filesystem whose root contains the exception (the alias is the
//! exception's path inside that mount), or whose root is inside the exception (the alias is the
//! whole mount point).

use std::path::{Path, PathBuf};

/// One line of mountinfo: device, root of the mount within its filesystem, mount point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Mount {
    dev: String,
    root: PathBuf,
    mount_point: PathBuf,
}

impl Mount {
    /// Where it is mounted.
    pub(super) fn mount_point(&self) -> &Path {
        &self.mount_point
    }
}

/// Parse `/proc/self/mountinfo` text.
pub(super) fn parse(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let mut f = line.split(' ');
            let (_id, _parent) = (f.next()?, f.next()?);
            let dev = f.next()?.to_string();
            let root = unescape(f.next()?);
            let mount_point = unescape(f.next()?);
            Some(Mount {
                dev,
                root,
                mount_point,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(o)) => {
                out.push((o[0] - b'0') * 64 + (o[1] - b'0') * 8 + (o[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Paths other than `exception` under which its inodes are reachable (canonical `exception`).
pub(super) fn aliases(mounts: &[Mount], exception: &Path) -> Vec<PathBuf> {
    // The mount `exception` lives in: the deepest mount point above it, the last one mounted
    // when several share a mount point.
    let Some(home) = mounts
        .iter()
        .filter(|m| exception.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count())
    else {
        return Vec::new();
    };
    let Ok(inside) = exception.strip_prefix(&home.mount_point) else {
        return Vec::new();
    };
    let fs_path = home.root.join(inside);
    let mut out = Vec::new();
    for m in mounts.iter().filter(|m| m.dev == home.dev) {
        let alias = if let Ok(rest) = fs_path.strip_prefix(&m.root) {
            m.mount_point.join(rest)
        } else if m.root.starts_with(&fs_path) {
            m.mount_point.clone()
        } else {
            continue;
        };
        if alias != exception && !out.contains(&alias) {
            out.push(alias);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 254:0 / / rw - ext4 /dev/vda rw
23 22 0:5 / /proc rw - proc proc rw
30 22 254:0 / /tmp/rootbind rw - ext4 /dev/vda rw
31 22 254:0 /tmp/data/noexec/sub /mnt/sub rw - ext4 /dev/vda rw
32 22 254:0 /var/tmp /tmp/with\\040space rw - ext4 /dev/vda rw
33 22 0:40 / /tmp/data/noexec/tmpfs rw - tmpfs tmpfs rw
";

    #[test]
    fn bind_mounts_of_an_ancestor_or_a_descendant_are_aliases() {
        let mounts = parse(INFO);
        assert_eq!(mounts[4].mount_point, PathBuf::from("/tmp/with space"));
        let got = aliases(&mounts, Path::new("/tmp/data/noexec"));
        assert_eq!(
            got,
            vec![
                PathBuf::from("/tmp/rootbind/tmp/data/noexec"),
                PathBuf::from("/mnt/sub"),
            ]
        );
        // Another filesystem (the tmpfs) has no alias; nor does a path without bind mounts.
        assert!(aliases(&mounts, Path::new("/tmp/data/noexec/tmpfs/x")).is_empty());
        assert_eq!(
            aliases(&mounts, Path::new("/var/tmp/a")),
            vec![
                PathBuf::from("/tmp/rootbind/var/tmp/a"),
                PathBuf::from("/tmp/with space/a"),
            ]
        );
    }
}
