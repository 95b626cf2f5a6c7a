//! NETLINK_AUDIT: read-only status query and the read-log multicast subscription.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::check;

/// Kernel audit status (`struct audit_status`, the fields we report).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditStatus {
    /// 0 = off, 1 = on, 2 = on and locked.
    pub enabled: u32,
    /// What the kernel does when it cannot log: 0 silent, 1 printk, 2 panic.
    pub failure: u32,
    /// pid of the registered audit daemon (0: none).
    pub pid: u32,
    /// Messages per second limit (0: none).
    pub rate_limit: u32,
    /// Queue length limit.
    pub backlog_limit: u32,
    /// Records lost so far.
    pub lost: u32,
    /// Records queued now.
    pub backlog: u32,
}

const NETLINK_AUDIT: libc::c_int = 9;

/// A NETLINK_AUDIT socket.
fn audit_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket() takes integers only.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_AUDIT,
        )
    };
    check(libc::c_long::from(fd))?;
    // SAFETY: fd is a fresh socket returned by the kernel and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// SO_RCVTIMEO on `sock` (zero: block forever).
pub(crate) fn audit_set_timeout(sock: &OwnedFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
    };
    // SAFETY: the option value points to a live timeval of the size given.
    let ret = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    check(libc::c_long::from(ret)).map(drop)
}

/// A NETLINK_AUDIT socket joined to the AUDIT_NLGRP_READLOG multicast group: it receives a
/// copy of every audit record without registering as the audit daemon (needs CAP_AUDIT_READ)
/// and changes no audit setting.
pub(crate) fn audit_subscribe() -> io::Result<OwnedFd> {
    const AUDIT_NLGRP_READLOG: u32 = 1;
    let sock = audit_socket()?;
    // SAFETY: an all-zero sockaddr_nl is valid; we then set the family and groups.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = 1 << (AUDIT_NLGRP_READLOG - 1);
    // SAFETY: addr is live for the call, with the length given.
    let ret = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    check(libc::c_long::from(ret))?;
    Ok(sock)
}

/// One datagram from a netlink socket into `buf`; `Ok(None)` on timeout.
pub(crate) fn audit_recv(sock: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: buf is a live, writable buffer of the length given.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    match check(n as libc::c_long) {
        Ok(n) => Ok(Some(usize::try_from(n).unwrap_or(0))),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Ask the kernel for its audit status with a read-only `AUDIT_GET` on a NETLINK_AUDIT socket.
pub(crate) fn audit_get() -> io::Result<AuditStatus> {
    const AUDIT_GET: u16 = 1000;
    const NLMSG_ERROR: u16 = 2;
    let sock = audit_socket()?;
    audit_set_timeout(&sock, Duration::from_secs(1))?;
    let mut req = [0u8; 16];
    req[0..4].copy_from_slice(&16u32.to_ne_bytes());
    req[4..6].copy_from_slice(&AUDIT_GET.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // SAFETY: an all-zero sockaddr_nl is valid; we then set the family (destination: kernel).
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: req and addr are live for the call, with the lengths given.
    let sent = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    check(sent as libc::c_long)?;
    let mut buf = [0u8; 8192];
    for _ in 0..4 {
        let Some(n) = audit_recv(&sock, &mut buf)? else {
            break;
        };
        let mut off = 0;
        while off + 16 <= n {
            let u32_at =
                |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
            let len = u32_at(off) as usize;
            let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            if len < 16 || off + len > n {
                break;
            }
            let body = off + 16;
            if ty == NLMSG_ERROR && len >= 20 {
                let errno = -(u32_at(body) as i32);
                if errno != 0 {
                    return Err(io::Error::from_raw_os_error(errno));
                }
            } else if ty == AUDIT_GET && len >= 16 + 32 {
                return Ok(AuditStatus {
                    enabled: u32_at(body + 4),
                    failure: u32_at(body + 8),
                    pid: u32_at(body + 12),
                    rate_limit: u32_at(body + 16),
                    backlog_limit: u32_at(body + 20),
                    lost: u32_at(body + 24),
                    backlog: u32_at(body + 28),
                });
            }
            off += (len + 3) & !3;
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "no AUDIT_GET reply from the kernel",
    ))
}
