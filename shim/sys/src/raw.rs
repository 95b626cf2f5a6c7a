//! Raw system calls: every `unsafe` block of vigil-sys that is not inside a dependency.
//! Each wrapper returns `std::io::Error` from errno; callers add context.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use seccompiler::sock_filter;

mod netlink;
pub use netlink::AuditStatus;
pub(crate) use netlink::{audit_get, audit_recv, audit_set_timeout, audit_subscribe};

/// `struct sock_fprog` from linux/filter.h.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

pub(crate) fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub(crate) fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only; no memory is passed.
    let ret = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    check(libc::c_long::from(ret)).map(drop)
}

/// `prctl(PR_GET_NO_NEW_PRIVS)`.
pub(crate) fn no_new_privs() -> io::Result<bool> {
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointer and returns 0 or 1.
    let ret = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    check(libc::c_long::from(ret)).map(|v| v == 1)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`.
pub(crate) fn seccomp_set_mode_filter(
    program: &[sock_filter],
    flags: libc::c_ulong,
) -> io::Result<()> {
    let len = libc::c_ushort::try_from(program.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = SockFprog {
        len,
        filter: program.as_ptr(),
    };
    // SAFETY: `prog` points to `len` valid sock_filter instructions (`program` is borrowed for the
    // whole call; seccompiler's sock_filter is #[repr(C)] like the kernel's); the kernel copies
    // the program and keeps no pointer to it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const SockFprog,
        )
    };
    check(ret).map(drop)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL)`: the kernel validates `flags` before reading
/// the program, so EFAULT means "flags supported" and nothing is installed.
pub(crate) fn seccomp_flags_supported(flags: libc::c_ulong) -> io::Result<bool> {
    // SAFETY: a NULL program pointer is never dereferenced by user space; the kernel fails
    // copy_from_user with EFAULT and installs nothing.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            std::ptr::null::<SockFprog>(),
        )
    };
    match check(ret) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EFAULT) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`: the kernel's ABI.
pub(crate) fn landlock_abi() -> io::Result<i32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with the VERSION flag the kernel requires a NULL attr and size 0 and reads nothing.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    check(ret).map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

/// `fanotify_init(flags, event_f_flags)`.
pub(crate) fn fanotify_init(
    flags: libc::c_uint,
    event_f_flags: libc::c_uint,
) -> io::Result<OwnedFd> {
    // SAFETY: fanotify_init takes integers only.
    let fd = unsafe { libc::fanotify_init(flags, event_f_flags) };
    check(libc::c_long::from(fd))?;
    // SAFETY: fd is a fresh descriptor returned by the kernel and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `bpf(BPF_PROG_LOAD)` attributes (the prefix of `union bpf_attr` we use), zero-padded so that
/// every field we do not set is zero, as the kernel requires.
#[repr(C)]
#[derive(Default)]
pub(crate) struct BpfProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; 16],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: u64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    pub attach_btf_obj_fd: u32,
    pub pad: [u32; 15],
}

/// `bpf(BPF_PROG_LOAD, attr)` for a program of raw 8-byte BPF instructions; the verifier log
/// (level 1) goes to `log`. `attach_btf_id` is 0 for program types that take none.
pub(crate) fn bpf_prog_load(
    prog_type: u32,
    expected_attach_type: u32,
    attach_btf_id: u32,
    insns: &[u64],
    log: &mut [u8],
) -> io::Result<OwnedFd> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    let license = c"GPL";
    let attr = BpfProgLoadAttr {
        prog_type,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: u32::try_from(log.len()).unwrap_or(u32::MAX),
        log_buf: log.as_mut_ptr() as u64,
        expected_attach_type,
        attach_btf_id,
        ..Default::default()
    };
    // SAFETY: attr is a #[repr(C)] prefix of union bpf_attr with every other byte zero; its
    // pointers (insns, license, log_buf) refer to buffers borrowed for the whole call, with the
    // lengths given; the kernel does not keep them. The size passed is the struct's size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const BpfProgLoadAttr,
            std::mem::size_of::<BpfProgLoadAttr>(),
        )
    };
    let fd = check(fd)?;
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: fd is a fresh program descriptor returned by the kernel and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
