use super::*;

fn rules() -> MonitorRules {
    MonitorRules {
        deny_paths: vec!["/etc/secret".into(), "/keys/*.pem".into()],
        exec_allow: Some(vec!["/bin/busybox".into(), "/usr/bin/**".into()]),
        data_classes: BTreeMap::from([("pii".to_string(), vec!["/data/customers/**".to_string()])]),
        connect_deny: vec![
            NetRule::parse("10.0.0.0/8").expect("rule"),
            NetRule::parse("127.0.0.1:53/udp").expect("rule"),
        ],
        connect_allow: None,
        bind_deny: vec![NetRule::parse("*:22/tcp").expect("rule")],
        bind_allow: None,
        mode: Mode::Enforce,
        fail_mode: FailMode::Closed,
    }
}

fn open(p: &str) -> Access {
    Access::Open { path: p.into() }
}
fn exec(p: &str) -> Access {
    Access::Exec { path: p.into() }
}
fn connect(a: &str, proto: Proto) -> Access {
    Access::Connect {
        addr: a.parse().expect("addr"),
        proto,
    }
}

#[test]
fn denied_paths_are_denied_naming_the_rule() {
    let d = decide(&rules(), &open("/etc/secret"));
    assert_eq!(
        d,
        Decision {
            verdict: Verdict::Deny,
            rule: Some("deny_paths: /etc/secret".into())
        }
    );
    assert_eq!(
        decide(&rules(), &open("/keys/a.pem")).verdict,
        Verdict::Deny
    );
    assert_eq!(
        decide(&rules(), &open("/keys/sub/a.pem")).verdict,
        Verdict::Allow
    );
    assert_eq!(
        decide(&rules(), &open("/etc/passwd")),
        Decision {
            verdict: Verdict::Allow,
            rule: None
        }
    );
}

#[test]
fn exec_needs_the_allow_list_and_no_deny() {
    assert_eq!(
        decide(&rules(), &exec("/bin/busybox")).verdict,
        Verdict::Allow
    );
    assert_eq!(
        decide(&rules(), &exec("/usr/bin/x/y")).verdict,
        Verdict::Allow
    );
    let d = decide(&rules(), &exec("/tmp/busybox"));
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.rule.as_deref(), Some("exec_allow: not listed"));
    assert_eq!(
        decide(&rules(), &exec("/etc/secret")).rule.as_deref(),
        Some("deny_paths: /etc/secret")
    );
    let mut no_list = rules();
    no_list.exec_allow = None;
    assert_eq!(
        decide(&no_list, &exec("/tmp/busybox")).verdict,
        Verdict::Allow
    );
}

#[test]
fn data_classes_are_allowed_and_reported() {
    let d = decide(&rules(), &open("/data/customers/eu/1.csv"));
    assert_eq!(d.verdict, Verdict::Audit);
    assert_eq!(
        d.rule.as_deref(),
        Some("data_class pii: /data/customers/**")
    );
}

#[test]
fn network_deny_and_allow_lists() {
    let r = rules();
    assert_eq!(
        decide(&r, &connect("10.2.3.4:443", Proto::Tcp))
            .rule
            .as_deref(),
        Some("connect_deny: 10.0.0.0/8")
    );
    assert_eq!(
        decide(&r, &connect("127.0.0.1:53", Proto::Tcp)).verdict,
        Verdict::Allow
    );
    let send = Access::Send {
        addr: "127.0.0.1:53".parse().expect("addr"),
        proto: Proto::Udp,
    };
    assert_eq!(decide(&r, &send).verdict, Verdict::Deny);
    let bind = Access::Bind {
        addr: "0.0.0.0:22".parse().expect("addr"),
        proto: Proto::Tcp,
    };
    assert_eq!(
        decide(&r, &bind).rule.as_deref(),
        Some("bind_deny: *:22/tcp")
    );
    let mut allow = r.clone();
    allow.connect_allow = Some(vec![
        NetRule::parse("192.168.0.0/16:443/tcp").expect("rule"),
    ]);
    assert_eq!(
        decide(&allow, &connect("192.168.4.4:443", Proto::Tcp)).verdict,
        Verdict::Allow
    );
    assert_eq!(
        decide(&allow, &connect("192.168.4.4:80", Proto::Tcp))
            .rule
            .as_deref(),
        Some("connect_allow: not listed")
    );
}

#[test]
fn audit_and_learn_modes_never_deny() {
    let mut r = rules();
    r.mode = Mode::Audit;
    let d = decide(&r, &open("/etc/secret"));
    assert_eq!(
        d,
        Decision {
            verdict: Verdict::Audit,
            rule: Some("deny_paths: /etc/secret".into())
        }
    );
    assert_eq!(decide(&r, &open("/etc/passwd")).verdict, Verdict::Allow);
    r.mode = Mode::Learn;
    assert_eq!(
        decide(&r, &open("/etc/passwd")),
        Decision {
            verdict: Verdict::Audit,
            rule: None
        }
    );
    assert_eq!(decide(&r, &exec("/tmp/x")).verdict, Verdict::Audit);
}

#[test]
fn fail_mode_decides_the_undecidable() {
    let mut r = rules();
    assert_eq!(r.undecidable(), Verdict::Deny);
    r.fail_mode = FailMode::Open;
    assert_eq!(r.undecidable(), Verdict::Audit);
    r.fail_mode = FailMode::Closed;
    r.mode = Mode::Audit;
    assert_eq!(r.undecidable(), Verdict::Audit);
}

#[test]
fn rules_round_trip_through_json() {
    let r = rules();
    let json = serde_json::to_string(&r).expect("serialize");
    assert!(json.contains("\"10.0.0.0/8\""), "{json}");
    let back: MonitorRules = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, r);
    let err = serde_json::from_str::<MonitorRules>(r#"{"connect_deny":["10.0.0.0/99"]}"#)
        .expect_err("bad rule");
    assert!(err.to_string().contains("10.0.0.0/99"), "{err}");
}
