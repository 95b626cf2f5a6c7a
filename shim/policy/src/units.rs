//! Sizes, CPU amounts and network endpoints as people write them.

use crate::model::{NetRule, Proto};
use std::net::IpAddr;

/// `64Mi`, `1G`, `512k`, `1048576` -> bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let mult: u64 = match suffix {
        "" => 1,
        "k" | "K" => 1000,
        "M" => 1000_u64.pow(2),
        "G" => 1000_u64.pow(3),
        "T" => 1000_u64.pow(4),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return Err(size_help(text)),
    };
    let n: f64 = num.parse().map_err(|_| size_help(text))?;
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(size_help(text));
    }
    Ok(bytes as u64)
}

fn size_help(text: &str) -> String {
    format!(
        "bad size {text:?}: write a number of bytes with an optional suffix Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000), e.g. 64Mi"
    )
}

/// `0.5`, `2`, `500m` -> thousandths of a CPU.
pub fn parse_cpu(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let help =
        || format!("bad cpu amount {t:?}: write a number of CPUs (0.5, 2) or millicpus (500m)");
    let millis = if let Some(m) = t.strip_suffix('m') {
        m.parse::<u64>().map_err(|_| help())?
    } else {
        let f: f64 = t.parse().map_err(|_| help())?;
        if !f.is_finite() || f <= 0.0 || f > 1_000_000.0 {
            return Err(help());
        }
        (f * 1000.0).round() as u64
    };
    if millis == 0 {
        return Err(format!(
            "cpu amount {t:?} is zero: the container could never run"
        ));
    }
    Ok(millis)
}

/// One network allow entry; see [`NetRule`].
pub fn parse_net(text: &str) -> Result<NetRule, String> {
    let t = text.trim();
    let (proto, rest) = if let Some(r) = t.strip_prefix("tcp:") {
        (Proto::Tcp, r)
    } else if let Some(r) = t.strip_prefix("udp:") {
        (Proto::Udp, r)
    } else {
        (Proto::Any, t)
    };
    let help = || {
        format!(
            "bad network entry {t:?}: write PORT, ADDRESS, ADDRESS:PORT, CIDR, CIDR:PORT or [IPv6]:PORT, optionally prefixed by tcp: or udp: (host names are not resolved: use an address)"
        )
    };
    if rest.is_empty() {
        return Err(help());
    }
    if let Ok(p) = rest.parse::<u16>() {
        if p == 0 {
            return Err(format!("bad network entry {t:?}: port 0 is not a port"));
        }
        return Ok(NetRule {
            proto,
            addr: None,
            prefix: None,
            port: Some(p),
        });
    }
    // [v6]:port or [v6]
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or_else(help)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(help()),
        };
        (h, port)
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':').ok_or_else(help)?;
        (h, Some(p))
    } else {
        (rest, None)
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(help)?),
        None => None,
    };
    let (addr_s, prefix_s) = match host.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (host, None),
    };
    let addr: IpAddr = addr_s.parse().map_err(|_| help())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_s {
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(help)?,
        None => max,
    };
    Ok(NetRule {
        proto,
        addr: Some(addr),
        prefix: Some(prefix),
        port,
    })
}

impl NetRule {
    /// True when every connection this rule allows is also allowed by `other`.
    pub fn within(&self, other: &NetRule) -> bool {
        let proto_ok = other.proto == Proto::Any || other.proto == self.proto;
        let port_ok = other.port.is_none() || other.port == self.port;
        let addr_ok = match (other.addr, self.addr) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(o), Some(s)) => {
                let (op, sp) = (other.prefix.unwrap_or(128), self.prefix.unwrap_or(128));
                sp >= op && prefix_contains(o, op, s)
            }
        };
        proto_ok && port_ok && addr_ok
    }
}

fn prefix_contains(net: IpAddr, prefix: u8, addr: IpAddr) -> bool {
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64Mi"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1.5Gi"), Ok(3 << 29));
        assert!(
            parse_size("64MB")
                .unwrap_err()
                .contains("bad size \"64MB\"")
        );
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpu("0.5"), Ok(500));
        assert_eq!(parse_cpu("250m"), Ok(250));
        assert_eq!(parse_cpu("2"), Ok(2000));
        assert!(parse_cpu("0").is_err());
        assert!(parse_cpu("half").is_err());
    }

    #[test]
    fn net_entries() {
        let r = parse_net("127.0.0.1:8081").unwrap();
        assert_eq!(r.port, Some(8081));
        assert_eq!(r.prefix, Some(32));
        let r = parse_net("udp:10.0.0.0/8").unwrap();
        assert_eq!((r.proto, r.prefix, r.port), (Proto::Udp, Some(8), None));
        let r = parse_net("[::1]:53").unwrap();
        assert_eq!(r.port, Some(53));
        assert_eq!(parse_net("::1").unwrap().prefix, Some(128));
        assert!(parse_net("example.com:80").is_err());
        assert!(parse_net("1.2.3.4:99999").is_err());
        let host = parse_net("10.1.2.3:443").unwrap();
        assert!(host.within(&parse_net("10.0.0.0/8").unwrap()));
        assert!(!host.within(&parse_net("11.0.0.0/8").unwrap()));
        assert!(!parse_net("443").unwrap().within(&host));
    }
}
