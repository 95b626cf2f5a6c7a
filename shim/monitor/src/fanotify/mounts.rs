//! Mount points of a process, from `/proc/<pid>/mountinfo`.

use std::path::PathBuf;

/// One mount: its mount point (octal escapes decoded) and filesystem type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub point: PathBuf,
    pub fstype: String,
}

/// The mounts, in mount order.
pub fn mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let point = l.split(' ').nth(4)?;
            let (_, rest) = l.split_once(" - ")?;
            let fstype = rest.split(' ').next()?;
            Some(Mount {
                point: PathBuf::from(unescape(point)),
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) => {
                out.push(
                    d.iter()
                        .fold(0u8, |acc, c| acc.wrapping_mul(8).wrapping_add(c - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mount_points_with_escapes() {
        let info = "\
655 600 0:52 / / rw,relatime - overlay overlay rw
656 655 0:53 / /proc rw,nosuid - proc proc rw
657 655 0:54 / /my\\040data rw - tmpfs tmpfs rw
";
        let m = mounts(info);
        let points: Vec<_> = m.iter().map(|m| m.point.clone()).collect();
        assert_eq!(
            points,
            vec![
                PathBuf::from("/"),
                PathBuf::from("/proc"),
                PathBuf::from("/my data")
            ]
        );
        assert_eq!(m[1].fstype, "proc");
    }
}
