//! The compiled policy's monitor rules ([`vigil_policy::MonitorRules`]) as the monitor's input
//! ([`vigil_monitor::MonitorRules`]).
//!
//! The policy has one mode per category (filesystem, exec, network); the monitor has one for
//! the container: learn when the policy records, otherwise enforce when any category that has
//! rules enforces, otherwise audit. Policy network lists are allow-lists.

use std::net::IpAddr;

use vigil_monitor::{FailMode, Mode, MonitorRules, NetRule};
use vigil_policy::{FailMode as PolicyFailMode, Mode as PolicyMode, Proto};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("network rule {rule:?} of the policy has no monitor equivalent")]
    NetRule {
        rule: String,
        #[source]
        source: vigil_monitor::rules::NetRuleError,
    },
}

/// Converts; `host_fail_mode` applies when the policy sets no `monitor.failMode`.
pub fn rules_from_policy(
    p: &vigil_policy::MonitorRules,
    host_fail_mode: PolicyFailMode,
) -> Result<MonitorRules, ConvertError> {
    let mut deny_paths = p.deny_paths.clone();
    deny_paths.extend(p.deny_globs.iter().cloned());
    let has_fs = !deny_paths.is_empty() || !p.data_classes.is_empty();
    let has_net = p.connect.is_some() || p.bind.is_some();
    let modes = [
        (has_fs, p.filesystem_mode),
        (p.exec_allow.is_some(), p.exec_mode),
        (has_net, p.network_mode),
    ];
    let mode = if p.record {
        Mode::Learn
    } else if modes
        .iter()
        .any(|(has, m)| *has && *m == PolicyMode::Enforce)
    {
        Mode::Enforce
    } else {
        Mode::Audit
    };
    let fail_mode = match p.fail_mode.unwrap_or(host_fail_mode) {
        PolicyFailMode::Closed => FailMode::Closed,
        PolicyFailMode::Open => FailMode::Open,
    };
    Ok(MonitorRules {
        deny_paths,
        exec_allow: p.exec_allow.clone(),
        data_classes: p.data_classes.clone(),
        connect_deny: Vec::new(),
        connect_allow: net_rules(p.connect.as_deref())?,
        bind_deny: Vec::new(),
        bind_allow: net_rules(p.bind.as_deref())?,
        mode,
        fail_mode,
    })
}

fn net_rules(l: Option<&[vigil_policy::NetRule]>) -> Result<Option<Vec<NetRule>>, ConvertError> {
    let Some(l) = l else { return Ok(None) };
    l.iter()
        .map(|r| {
            let text = net_text(r);
            NetRule::parse(&text).map_err(|source| ConvertError::NetRule { rule: text, source })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `ADDRESS[:PORT][/tcp|/udp]` in the monitor's syntax.
fn net_text(r: &vigil_policy::NetRule) -> String {
    let addr = match (r.addr, r.prefix) {
        (None, _) => "*".to_string(),
        (Some(a @ IpAddr::V4(_)), Some(p)) if p < 32 => format!("{a}/{p}"),
        (Some(a @ IpAddr::V4(_)), _) => a.to_string(),
        (Some(a @ IpAddr::V6(_)), Some(p)) if p < 128 => format!("[{a}/{p}]"),
        (Some(a @ IpAddr::V6(_)), _) => format!("[{a}]"),
    };
    let port = r.port.map(|p| format!(":{p}")).unwrap_or_default();
    let proto = match r.proto {
        Proto::Tcp => "/tcp",
        Proto::Udp => "/udp",
        Proto::Any => "",
    };
    match (addr.as_str(), port.as_str()) {
        ("*", "") => format!("*{proto}"),
        _ => format!("{addr}{port}{proto}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use vigil_monitor::{Access, Verdict, decide};

    fn net(
        proto: Proto,
        addr: Option<&str>,
        prefix: Option<u8>,
        port: Option<u16>,
    ) -> vigil_policy::NetRule {
        vigil_policy::NetRule {
            proto,
            addr: addr.map(|a| a.parse().expect("addr")),
            prefix,
            port,
        }
    }

    #[test]
    fn deny_paths_globs_and_fail_mode_carry_over() {
        let p = vigil_policy::MonitorRules {
            deny_paths: vec!["/etc/secret-file".into()],
            deny_globs: vec!["/data/*.key".into()],
            uses_fanotify: true,
            ..Default::default()
        };
        let r = rules_from_policy(&p, PolicyFailMode::Open).expect("convert");
        assert_eq!(r.fail_mode, FailMode::Open, "host default applies");
        assert_eq!(r.mode, Mode::Enforce);
        let open = |path: &str| decide(&r, &Access::Open { path: path.into() }).verdict;
        assert_eq!(open("/etc/secret-file"), Verdict::Deny);
        assert_eq!(open("/data/a.key"), Verdict::Deny);
        assert_eq!(open("/etc/hostname"), Verdict::Allow);
        let closed = vigil_policy::MonitorRules {
            fail_mode: Some(PolicyFailMode::Closed),
            filesystem_mode: PolicyMode::Audit,
            ..p
        };
        let r = rules_from_policy(&closed, PolicyFailMode::Open).expect("convert");
        assert_eq!((r.fail_mode, r.mode), (FailMode::Closed, Mode::Audit));
    }

    #[test]
    fn network_allow_lists_become_monitor_rules() {
        let p = vigil_policy::MonitorRules {
            connect: Some(vec![
                net(Proto::Tcp, Some("10.0.0.0"), Some(8), Some(443)),
                net(Proto::Udp, None, None, Some(53)),
                net(Proto::Any, Some("::1"), Some(128), None),
            ]),
            ..Default::default()
        };
        let r = rules_from_policy(&p, PolicyFailMode::Closed).expect("convert");
        let connect = |a: &str, proto| {
            let addr: SocketAddr = a.parse().expect("sockaddr");
            decide(&r, &Access::Connect { addr, proto }).verdict
        };
        use vigil_monitor::Proto as P;
        assert_eq!(connect("10.1.2.3:443", P::Tcp), Verdict::Allow);
        assert_eq!(connect("10.1.2.3:80", P::Tcp), Verdict::Deny);
        assert_eq!(connect("8.8.8.8:53", P::Udp), Verdict::Allow);
        assert_eq!(connect("8.8.8.8:53", P::Tcp), Verdict::Deny);
        assert_eq!(connect("[::1]:9", P::Tcp), Verdict::Allow);
        assert!(r.bind_allow.is_none());
    }
}
