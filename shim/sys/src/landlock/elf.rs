//! The interpreters of an executable, which the kernel opens for execution too, so Landlock
//! must grant them Execute: the ELF interpreter (`PT_INTERP`, e.g.
//! `/lib64/ld-linux-x86-64.so.2`), or for a `#!` script its interpreter and that one's ELF
//! interpreter.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const PT_INTERP: u32 = 3;

/// Every file the kernel executes along with `path` (empty for a static binary).
pub(super) fn interpreters(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut next = Some(path.to_path_buf());
    // A script's interpreter may itself be a script (the kernel allows 4 levels).
    for _ in 0..5 {
        let Some(p) = next.take() else { break };
        let found = shebang(&p).or_else(|| interpreter(&p));
        if let Some(i) = &found {
            if out.contains(i) {
                break;
            }
            out.push(i.clone());
        }
        next = found;
    }
    out
}

/// The interpreter of a `#!` script.
fn shebang(path: &Path) -> Option<PathBuf> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 256];
    let n = f.read(&mut buf).ok()?;
    let line = buf[..n].strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|b| *b == b'\n').unwrap_or(line.len())];
    let text = std::str::from_utf8(line).ok()?;
    text.split_whitespace().next().map(PathBuf::from)
}

/// The interpreter named by `path`'s `PT_INTERP` header; `None` for a static binary, a script
/// or anything that is not a little-endian ELF file.
pub(super) fn interpreter(path: &Path) -> Option<PathBuf> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut hdr = [0u8; 64];
    f.read_exact(&mut hdr[..52]).ok()?;
    if hdr[0..4] != *b"\x7fELF" || hdr[5] != 1 {
        return None;
    }
    let is64 = match hdr[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    if is64 {
        f.read_exact(&mut hdr[52..64]).ok()?;
    }
    let u16_at = |i: usize| u64::from(u16::from_le_bytes([hdr[i], hdr[i + 1]]));
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let u64_at = |b: &[u8], i: usize| {
        u64::from_le_bytes([
            b[i],
            b[i + 1],
            b[i + 2],
            b[i + 3],
            b[i + 4],
            b[i + 5],
            b[i + 6],
            b[i + 7],
        ])
    };
    let (phoff, phentsize, phnum) = if is64 {
        (u64_at(&hdr, 32), u16_at(54), u16_at(56))
    } else {
        (u64::from(u32_at(&hdr, 28)), u16_at(42), u16_at(44))
    };
    let min_entry = if is64 { 56 } else { 32 };
    if phentsize < min_entry || phnum > 4096 {
        return None;
    }
    let mut ph = vec![0u8; usize::try_from(phentsize).ok()?];
    for i in 0..phnum {
        f.seek(SeekFrom::Start(phoff + i * phentsize)).ok()?;
        f.read_exact(&mut ph).ok()?;
        if u32_at(&ph, 0) != PT_INTERP {
            continue;
        }
        let (off, size) = if is64 {
            (u64_at(&ph, 8), u64_at(&ph, 32))
        } else {
            (u64::from(u32_at(&ph, 4)), u64::from(u32_at(&ph, 16)))
        };
        if size == 0 || size > 4096 {
            return None;
        }
        let mut name = vec![0u8; usize::try_from(size).ok()?];
        f.seek(SeekFrom::Start(off)).ok()?;
        f.read_exact(&mut name).ok()?;
        let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
        name.truncate(end);
        return Some(PathBuf::from(String::from_utf8(name).ok()?));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_static_and_non_elf() {
        let sh = Path::new("/bin/sh");
        if let Ok(real) = std::fs::canonicalize(sh) {
            let interp = interpreter(&real);
            eprintln!("{real:?} -> {interp:?}");
            if let Some(i) = interp {
                assert!(i.to_string_lossy().contains("ld-"), "{i:?}");
                assert!(i.exists());
            }
        }
        if Path::new("/bin/busybox").exists() {
            assert_eq!(
                interpreter(Path::new("/bin/busybox")),
                None,
                "busybox-static"
            );
        }
        assert_eq!(interpreter(Path::new("/etc/hostname")), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/bin/sh -e\necho hi\n").expect("write");
        let chain = interpreters(&script);
        assert_eq!(chain.first(), Some(&PathBuf::from("/bin/sh")));
        assert_eq!(interpreter(Path::new("/nonexistent")), None);
    }
}
