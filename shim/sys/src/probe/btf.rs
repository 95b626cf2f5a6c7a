//! Just enough of the BTF format to find a function's type id in the kernel's BTF
//! (`/sys/kernel/btf/vmlinux`), which an LSM program needs as `attach_btf_id`.

use std::io;
use std::path::Path;

const BTF_MAGIC: u16 = 0xeb9f;
const KIND_FUNC: u32 = 12;

/// Type id of the `BTF_KIND_FUNC` named `name`, if any.
pub(super) fn find_func(path: &Path, name: &str) -> io::Result<Option<u32>> {
    let data = std::fs::read(path)?;
    find_func_in(&data, name)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed BTF: {what}"))
}

fn find_func_in(data: &[u8], name: &str) -> io::Result<Option<u32>> {
    let u32_at = |i: usize| -> io::Result<u32> {
        data.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| invalid("truncated"))
    };
    let magic = data.get(0..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    if magic != Some(BTF_MAGIC) {
        return Err(invalid("bad magic (or big-endian BTF)"));
    }
    let hdr_len = u32_at(4)? as usize;
    let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
    let (str_off, str_len) = (u32_at(16)? as usize, u32_at(20)? as usize);
    let types = hdr_len + type_off;
    let strings = data
        .get(hdr_len + str_off..hdr_len + str_off + str_len)
        .ok_or_else(|| invalid("string section out of bounds"))?;
    let name_matches = |off: usize| {
        strings
            .get(off..)
            .and_then(|s| s.split(|b| *b == 0).next())
            .is_some_and(|s| s == name.as_bytes())
    };
    let mut pos = types;
    let mut id = 1u32;
    while pos + 12 <= types + type_len {
        let name_off = u32_at(pos)? as usize;
        let info = u32_at(pos + 4)?;
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        if kind == KIND_FUNC && name_matches(name_off) {
            return Ok(Some(id));
        }
        let extra = match kind {
            1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
            3 => 12,                      // ARRAY
            4 | 5 | 15 | 19 => vlen * 12, // STRUCT, UNION, DATASEC, ENUM64
            6 | 13 => vlen * 8,           // ENUM, FUNC_PROTO
            2 | 7 | 8 | 9 | 10 | 11 | 12 | 16 | 18 => 0,
            other => return Err(invalid(&format!("unknown kind {other}"))),
        };
        pos += 12 + extra;
        id += 1;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_kernel_function_when_btf_exists() {
        let path = Path::new("/sys/kernel/btf/vmlinux");
        if !path.exists() {
            eprintln!("skip: {} absent", path.display());
            return;
        }
        let id = find_func(path, "bpf_lsm_file_open").expect("parse vmlinux BTF");
        let other = find_func(path, "vfs_read").expect("parse vmlinux BTF");
        assert!(id.is_some() || other.is_some(), "no known function found");
        assert_eq!(
            find_func(path, "no_such_function_xyz").expect("parse"),
            None
        );
    }

    #[test]
    fn rejects_non_btf() {
        assert!(find_func_in(b"not btf at all, just text....", "x").is_err());
    }
}
