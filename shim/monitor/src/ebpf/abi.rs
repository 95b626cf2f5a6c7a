//! The Rust mirror of bpf/vigil_monitor.h: policy encoding and event decoding, without unsafe
//! (fields are written and read at `offset_of!` positions of `#[repr(C)]` mirrors).

use std::mem::{offset_of, size_of};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::netrule::libc_af;
use crate::rules::{Access, Mode, MonitorRules, NetRule, Proto, Verdict};

pub const MAX_RULES: usize = 32;
pub const LISTS: usize = 4;
pub const LIST_CONNECT_DENY: usize = 0;
pub const LIST_CONNECT_ALLOW: usize = 1;
pub const LIST_BIND_DENY: usize = 2;
pub const LIST_BIND_ALLOW: usize = 3;
pub const LIST_NAMES: [&str; LISTS] = ["connect_deny", "connect_allow", "bind_deny", "bind_allow"];
pub const F_ENFORCE: u32 = 1;
pub const F_CONNECT_ALLOW: u32 = 1 << 1;
pub const F_BIND_ALLOW: u32 = 1 << 2;
pub const F_LEARN: u32 = 1 << 3;
pub const NO_RULE: u8 = 0xff;

#[repr(C)]
pub struct RawRule {
    pub family: u8,
    pub proto: u8,
    pub prefix_len: u8,
    pub has_port: u8,
    pub port: u16,
    pub pad: u16,
    pub addr: [u8; 16],
}

#[repr(C)]
pub struct RawPolicy {
    pub flags: u32,
    pub count: [u32; LISTS],
    pub rules: [[RawRule; MAX_RULES]; LISTS],
}

#[repr(C)]
pub struct RawEvent {
    pub cgroup_id: u64,
    pub pid: u32,
    pub kind: u8,
    pub verdict: u8,
    pub family: u8,
    pub proto: u8,
    pub port: u16,
    pub list: u8,
    pub rule: u8,
    pub addr: [u8; 16],
    pub comm: [u8; 16],
    pub filename: [u8; 256],
}

pub const POLICY_SIZE: usize = size_of::<RawPolicy>();
pub const EVENT_SIZE: usize = size_of::<RawEvent>();

/// A policy map value.
pub type PolicyBytes = [u8; POLICY_SIZE];

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AbiError {
    #[error("{list} has {count} rules, the ebpf backend holds at most {MAX_RULES}")]
    TooManyRules { list: &'static str, count: usize },
}

/// The four rule lists of a policy, in map order.
pub fn lists(rules: &MonitorRules) -> [&[NetRule]; LISTS] {
    [
        &rules.connect_deny,
        rules.connect_allow.as_deref().unwrap_or(&[]),
        &rules.bind_deny,
        rules.bind_allow.as_deref().unwrap_or(&[]),
    ]
}

/// Encodes a container's network rules as a `struct vigil_policy`.
pub fn encode_policy(rules: &MonitorRules) -> Result<PolicyBytes, AbiError> {
    let mut out = [0u8; POLICY_SIZE];
    let mut flags = match rules.mode {
        Mode::Enforce => F_ENFORCE,
        Mode::Audit => 0,
        Mode::Learn => F_LEARN,
    };
    if rules.connect_allow.is_some() {
        flags |= F_CONNECT_ALLOW;
    }
    if rules.bind_allow.is_some() {
        flags |= F_BIND_ALLOW;
    }
    put(&mut out, offset_of!(RawPolicy, flags), &flags.to_ne_bytes());
    for (l, list) in lists(rules).into_iter().enumerate() {
        if list.len() > MAX_RULES {
            return Err(AbiError::TooManyRules {
                list: LIST_NAMES[l],
                count: list.len(),
            });
        }
        let count = list.len() as u32;
        put(
            &mut out,
            offset_of!(RawPolicy, count) + 4 * l,
            &count.to_ne_bytes(),
        );
        for (i, rule) in list.iter().enumerate() {
            let base = offset_of!(RawPolicy, rules) + (l * MAX_RULES + i) * size_of::<RawRule>();
            let (addr, family, prefix) = rule.addr_bytes();
            out[base + offset_of!(RawRule, family)] = family;
            out[base + offset_of!(RawRule, proto)] = rule.proto.map_or(0, Proto::number);
            out[base + offset_of!(RawRule, prefix_len)] = prefix;
            out[base + offset_of!(RawRule, has_port)] = u8::from(rule.port.is_some());
            put(
                &mut out,
                base + offset_of!(RawRule, port),
                &rule.port.unwrap_or(0).to_ne_bytes(),
            );
            put(&mut out, base + offset_of!(RawRule, addr), &addr);
        }
    }
    Ok(out)
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

/// One decoded ring buffer event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub cgroup_id: u64,
    pub pid: i32,
    pub access: Access,
    pub verdict: Verdict,
    /// (list, index); index `None`: not in the allow-list.
    pub rule: Option<(usize, Option<usize>)>,
    pub comm: String,
}

/// Decodes a `struct vigil_event`, `None` if malformed.
pub fn decode_event(b: &[u8]) -> Option<Event> {
    if b.len() < EVENT_SIZE {
        return None;
    }
    let u8_at = |off: usize| b[off];
    let arr16 =
        |off: usize| -> [u8; 16] { b[off..off + 16].try_into().expect("16 bytes in bounds") };
    let cgroup_id = u64::from_ne_bytes(b[offset_of!(RawEvent, cgroup_id)..][..8].try_into().ok()?);
    let pid = u32::from_ne_bytes(b[offset_of!(RawEvent, pid)..][..4].try_into().ok()?) as i32;
    let port = u16::from_ne_bytes(b[offset_of!(RawEvent, port)..][..2].try_into().ok()?);
    let addr = arr16(offset_of!(RawEvent, addr));
    let ip = match u8_at(offset_of!(RawEvent, family)) {
        libc_af::INET6 => IpAddr::V6(Ipv6Addr::from(addr)),
        _ => IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
    };
    let sa = SocketAddr::new(ip, port);
    let proto = match u8_at(offset_of!(RawEvent, proto)) {
        17 => Proto::Udp,
        _ => Proto::Tcp,
    };
    let access = match u8_at(offset_of!(RawEvent, kind)) {
        1 => Access::Connect { addr: sa, proto },
        2 => Access::Send { addr: sa, proto },
        3 => Access::Bind { addr: sa, proto },
        4 => Access::Exec {
            path: c_string(&b[offset_of!(RawEvent, filename)..][..256]),
        },
        _ => return None,
    };
    let verdict = match u8_at(offset_of!(RawEvent, verdict)) {
        0 => Verdict::Allow,
        1 => Verdict::Deny,
        _ => Verdict::Audit,
    };
    let list = usize::from(u8_at(offset_of!(RawEvent, list)));
    let idx = u8_at(offset_of!(RawEvent, rule));
    let rule = (list < LISTS).then_some((list, (idx != NO_RULE).then_some(usize::from(idx))));
    let comm = c_string(&b[offset_of!(RawEvent, comm)..][..16]);
    Some(Event {
        cgroup_id,
        pid,
        access,
        verdict,
        rule,
        comm,
    })
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The rule text for an event, in the words `decide()` uses.
pub fn rule_text(rules: &MonitorRules, rule: Option<(usize, Option<usize>)>) -> Option<String> {
    let (list, idx) = rule?;
    let name = LIST_NAMES.get(list)?;
    Some(match idx {
        Some(i) => format!("{name}: {}", lists(rules)[list].get(i)?.text()),
        None => format!("{name}: not listed"),
    })
}

#[cfg(test)]
mod tests;
