//! Network rules: `ADDRESS[:PORT][/tcp|/udp]` with CIDR prefixes.
//!
//! Accepted forms: `127.0.0.1:9999`, `10.0.0.0/8`, `10.0.0.0/8:53/udp`, `*:53/udp`, `*`,
//! `[::1]:443/tcp`, `[fd00::/8]:53`, `::1`, `fd00::/8`. An IPv4 rule also matches the
//! IPv4-mapped IPv6 form (`::ffff:a.b.c.d`) of its addresses.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Transport protocol of a network access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// The IP protocol number (`IPPROTO_TCP`, `IPPROTO_UDP`).
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetRuleError {
    #[error("invalid network rule {rule:?}: {reason}")]
    Invalid { rule: String, reason: &'static str },
}

/// One parsed network rule; its text is kept to name the rule in decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NetRule {
    text: String,
    /// `None`: any address of any family.
    pub net: Option<(IpAddr, u8)>,
    pub port: Option<u16>,
    pub proto: Option<Proto>,
}

impl NetRule {
    /// Parses one rule.
    pub fn parse(text: &str) -> Result<NetRule, NetRuleError> {
        let bad = |reason| NetRuleError::Invalid {
            rule: text.to_string(),
            reason,
        };
        let mut s = text.trim();
        let mut proto = None;
        for (suffix, p) in [("/tcp", Proto::Tcp), ("/udp", Proto::Udp)] {
            if let Some(rest) = s.strip_suffix(suffix) {
                proto = Some(p);
                s = rest;
            }
        }
        let (addr, port) = if let Some(rest) = s.strip_prefix('[') {
            let (inner, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("expected ':PORT' after ']'"))?,
                ),
            };
            (inner, port)
        } else if s.matches(':').count() == 1 {
            let (a, p) = s.split_once(':').expect("one ':' was counted");
            (a, Some(p))
        } else {
            (s, None)
        };
        let port = match port {
            None | Some("*") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| bad("port is not a number 0-65535"))?,
            ),
        };
        let net = match addr {
            "*" => None,
            a => {
                let (ip, len) = match a.split_once('/') {
                    Some((ip, len)) => (ip, Some(len)),
                    None => (a, None),
                };
                let ip: IpAddr = ip.parse().map_err(|_| bad("not an IP address"))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let len = match len {
                    None => max,
                    Some(l) => l
                        .parse::<u8>()
                        .ok()
                        .filter(|l| *l <= max)
                        .ok_or_else(|| bad("bad prefix length"))?,
                };
                Some((ip, len))
            }
        };
        Ok(NetRule {
            text: text.to_string(),
            net,
            port,
            proto,
        })
    }

    /// The rule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the rule covers `addr` over `proto`.
    pub fn matches(&self, addr: &SocketAddr, proto: Proto) -> bool {
        if self.proto.is_some_and(|p| p != proto) || self.port.is_some_and(|p| p != addr.port()) {
            return false;
        }
        let Some((net, len)) = self.net else {
            return true;
        };
        let ip = match addr.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), len),
            _ => false,
        }
    }

    /// The rule's address as 16 bytes (IPv4 in the first 4), its family and prefix length.
    pub fn addr_bytes(&self) -> ([u8; 16], u8, u8) {
        let mut out = [0u8; 16];
        match self.net {
            None => (out, 0, 0),
            Some((IpAddr::V4(a), len)) => {
                out[..4].copy_from_slice(&a.octets());
                (out, libc_af::INET, len)
            }
            Some((IpAddr::V6(a), len)) => (a.octets(), libc_af::INET6, len),
        }
    }
}

/// Address family numbers as the kernel spells them.
pub mod libc_af {
    pub const INET: u8 = 2;
    pub const INET6: u8 = 10;
}

fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let full = usize::from(len / 8);
    let rest = len % 8;
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || (a[full] ^ b[full]) & (0xffu8 << (8 - rest)) == 0
}

impl fmt::Display for NetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for NetRule {
    type Error = NetRuleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        NetRule::parse(&s)
    }
}

impl From<NetRule> for String {
    fn from(r: NetRule) -> String {
        r.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn parses_every_documented_form() {
        let r = NetRule::parse("10.0.0.0/8:53/udp").expect("parse");
        assert_eq!(r.net, Some(("10.0.0.0".parse().expect("ip"), 8)));
        assert_eq!((r.port, r.proto), (Some(53), Some(Proto::Udp)));
        let r = NetRule::parse("[::1]:443/tcp").expect("parse");
        assert_eq!(
            (r.net, r.port),
            (Some(("::1".parse().expect("ip"), 128)), Some(443))
        );
        assert_eq!(
            NetRule::parse("fd00::/8").expect("parse").net,
            Some(("fd00::".parse().expect("ip"), 8))
        );
        assert_eq!(NetRule::parse("*").expect("parse").net, None);
        assert_eq!(NetRule::parse("*:53/udp").expect("parse").port, Some(53));
        assert_eq!(NetRule::parse("127.0.0.1").expect("parse").port, None);
    }

    #[test]
    fn rejects_bad_rules_naming_them() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1:http",
            "[::1",
            "nothost:80",
            "[::1]x",
        ] {
            let err = NetRule::parse(bad).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn matches_prefix_port_and_protocol() {
        let r = NetRule::parse("10.1.0.0/16:53/udp").expect("parse");
        assert!(r.matches(&sa("10.1.200.3:53"), Proto::Udp));
        assert!(!r.matches(&sa("10.1.200.3:53"), Proto::Tcp));
        assert!(!r.matches(&sa("10.2.0.1:53"), Proto::Udp));
        assert!(!r.matches(&sa("10.1.0.1:54"), Proto::Udp));
        let r = NetRule::parse("192.168.1.128/25").expect("parse");
        assert!(r.matches(&sa("192.168.1.200:1"), Proto::Tcp));
        assert!(!r.matches(&sa("192.168.1.127:1"), Proto::Tcp));
        assert!(
            r.matches(&sa("[::ffff:192.168.1.200]:1"), Proto::Tcp),
            "v4-mapped v6"
        );
        assert!(!r.matches(&sa("[::1]:1"), Proto::Tcp));
        assert!(
            NetRule::parse("*")
                .expect("parse")
                .matches(&sa("[::1]:9"), Proto::Udp)
        );
    }
}
