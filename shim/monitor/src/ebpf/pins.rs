//! The pin directory: bpffs check, pinning and unpinning programs, maps and links.

use std::path::Path;

use aya::programs::links::FdLink;

use super::{
    BPF_FS_MAGIC, EVENTS_MAP, EXEC_PROGRAM, EbpfError, Inner, POLICY_MAP, SOCK_ADDR_PROGRAMS,
};

pub(super) fn check_bpffs(pin_dir: &Path) -> Result<(), EbpfError> {
    let probe = pin_dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    match nix::sys::statfs::statfs(probe) {
        Ok(s) if s.filesystem_type().0 as u64 == BPF_FS_MAGIC => Ok(()),
        _ => Err(EbpfError::NotBpffs {
            path: pin_dir.to_path_buf(),
        }),
    }
}

/// Pins programs, the policy map, the ring buffer and the exec link where their pin is missing
/// (`replace`: also where an earlier monitor left one).
pub(super) fn pin_all(inner: &mut Inner, pin_dir: &Path, replace: bool) -> Result<(), EbpfError> {
    std::fs::create_dir_all(pin_dir.join("links")).map_err(|source| EbpfError::PinDir {
        path: pin_dir.into(),
        source,
    })?;
    for name in SOCK_ADDR_PROGRAMS.into_iter().chain([EXEC_PROGRAM]) {
        let path = pin_dir.join(name);
        if replace {
            let _ = std::fs::remove_file(&path);
        }
        if !path.exists() {
            let prog = inner
                .ebpf
                .program_mut(name)
                .ok_or(EbpfError::Missing { name })?;
            prog.pin(&path)
                .map_err(|source| EbpfError::Pin { path, source })?;
        }
    }
    let policy_pin = pin_dir.join(POLICY_MAP);
    if !policy_pin.exists() {
        let map = inner
            .ebpf
            .map(POLICY_MAP)
            .ok_or(EbpfError::Missing { name: POLICY_MAP })?;
        map.pin(&policy_pin).map_err(|source| EbpfError::Pin {
            path: policy_pin,
            source,
        })?;
    }
    let events_pin = pin_dir.join(EVENTS_MAP);
    if !events_pin.exists() {
        inner
            .events
            .pin(&events_pin)
            .map_err(|source| EbpfError::Pin {
                path: events_pin,
                source,
            })?;
    }
    let exec_pin = pin_dir.join("exec_link");
    if !exec_pin.exists()
        && let Some(link) = inner.exec_link.take()
    {
        let link = FdLink::from(link);
        inner.exec_link = Some(link.pin(&exec_pin).map_err(|source| EbpfError::Pin {
            path: exec_pin,
            source,
        })?);
    }
    Ok(())
}

pub(super) fn unpin_all(pin_dir: &Path) {
    for name in
        SOCK_ADDR_PROGRAMS
            .into_iter()
            .chain([EXEC_PROGRAM, POLICY_MAP, EVENTS_MAP, "exec_link"])
    {
        let _ = std::fs::remove_file(pin_dir.join(name));
    }
    if let Ok(dirs) = std::fs::read_dir(pin_dir.join("links")) {
        for d in dirs.flatten() {
            remove_links(&d.path());
        }
    }
    let _ = std::fs::remove_dir(pin_dir.join("links"));
    let _ = std::fs::remove_dir(pin_dir);
}

/// Unpins a container's links (`links/<id>/...`): the last reference goes, the programs leave
/// its cgroup.
pub(super) fn remove_links(id_dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(id_dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = ?id_dir, error = %e, "failed to unpin links");
    }
}
