//! audit: read the kernel's audit records (seccomp type 1326, Landlock 1423/1424) as a
//! listener of the AUDIT_NLGRP_READLOG multicast group.
//!
//! Listening needs CAP_AUDIT_READ, coexists with auditd and changes no audit setting: vigil
//! never enables audit or changes its rules itself (enabling it is a host-wide decision). With
//! audit disabled, seccomp records are still emitted; Landlock records are not.

use std::os::fd::OwnedFd;
use std::time::Duration;

/// seccomp record (`SECCOMP_RET_LOG`, or any denial of a filter installed with
/// `SECCOMP_FILTER_FLAG_LOG`).
pub const AUDIT_SECCOMP: u16 = 1326;
/// Landlock denied access (ABI 7).
pub const AUDIT_LANDLOCK_ACCESS: u16 = 1423;
/// Landlock domain status (allocated/deallocated, with the creator's pid).
pub const AUDIT_LANDLOCK_DOMAIN: u16 = 1424;

/// Errors of the audit reader.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Creating or binding the netlink socket failed (EPERM without CAP_AUDIT_READ).
    #[error("cannot subscribe to the kernel audit log (NETLINK_AUDIT, AUDIT_NLGRP_READLOG)")]
    Subscribe(#[source] std::io::Error),
    /// recv() failed.
    #[error("recv() on the kernel audit socket failed")]
    Recv(#[source] std::io::Error),
}

/// One audit record: its type and its text (`audit(1700000000.123:42): pid=... syscall=83 ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Record type (see the `AUDIT_*` constants).
    pub kind: u16,
    /// The record's text.
    pub text: String,
}

impl AuditRecord {
    /// Value of `key=` in the text (`field("syscall")` -> `"83"`), without quotes.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.text.split_whitespace().find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.trim_matches('"'))
        })
    }
}

/// A subscription to the kernel's audit records.
#[derive(Debug)]
pub struct AuditReader {
    sock: OwnedFd,
    buf: Vec<u8>,
}

impl AuditReader {
    /// Join the read-log multicast group. Records emitted from now on are received.
    pub fn subscribe() -> Result<Self, AuditError> {
        let sock = crate::raw::audit_subscribe().map_err(AuditError::Subscribe)?;
        Ok(AuditReader {
            sock,
            buf: vec![0; 16 * 1024],
        })
    }

    /// Make [`recv`](Self::recv) return `Ok(None)` after `timeout` without a record.
    pub fn set_timeout(&self, timeout: Duration) -> Result<(), AuditError> {
        crate::raw::audit_set_timeout(&self.sock, timeout).map_err(AuditError::Recv)
    }

    /// The next record; `None` when the timeout expired.
    pub fn recv(&mut self) -> Result<Option<AuditRecord>, AuditError> {
        let Some(n) =
            crate::raw::audit_recv(&self.sock, &mut self.buf).map_err(AuditError::Recv)?
        else {
            return Ok(None);
        };
        Ok(parse(&self.buf[..n]))
    }
}

/// The first netlink message of a datagram as a record.
fn parse(data: &[u8]) -> Option<AuditRecord> {
    let len = u32::from_ne_bytes(data.get(0..4)?.try_into().ok()?) as usize;
    let kind = u16::from_ne_bytes(data.get(4..6)?.try_into().ok()?);
    // The kernel's multicast copies may carry a length that includes only the header + text;
    // take what is there.
    let body = data.get(16..len.min(data.len()).max(16))?;
    let end = body.iter().position(|b| *b == 0).unwrap_or(body.len());
    Some(AuditRecord {
        kind,
        text: String::from_utf8_lossy(&body[..end]).trim_end().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_seccomp_record() {
        let text = b"audit(1.2:3): auid=0 uid=0 pid=42 comm=\"mkdir\" exe=\"/bin/x\" syscall=83 code=0x50001";
        let mut msg = Vec::new();
        msg.extend_from_slice(&((16 + text.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&AUDIT_SECCOMP.to_ne_bytes());
        msg.extend_from_slice(&[0; 10]);
        msg.extend_from_slice(text);
        let r = parse(&msg).expect("record");
        assert_eq!(r.kind, AUDIT_SECCOMP);
        assert_eq!(r.field("syscall"), Some("83"));
        assert_eq!(r.field("comm"), Some("mkdir"));
        assert_eq!(r.field("missing"), None);
        assert_eq!(parse(b"short"), None);
    }
}
