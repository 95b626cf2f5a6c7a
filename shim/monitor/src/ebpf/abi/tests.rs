use super::*;

#[test]
fn layouts_match_the_c_header() {
    // The same numbers are _Static_assert'ed in bpf/vigil_monitor.h.
    assert_eq!(size_of::<RawRule>(), 24);
    assert_eq!(POLICY_SIZE, 3092);
    assert_eq!(EVENT_SIZE, 312);
    assert_eq!(offset_of!(RawRule, port), 4);
    assert_eq!(offset_of!(RawRule, addr), 8);
    assert_eq!(offset_of!(RawPolicy, count), 4);
    assert_eq!(offset_of!(RawPolicy, rules), 20);
    assert_eq!(offset_of!(RawEvent, pid), 8);
    assert_eq!(offset_of!(RawEvent, port), 16);
    assert_eq!(offset_of!(RawEvent, addr), 20);
    assert_eq!(offset_of!(RawEvent, comm), 36);
    assert_eq!(offset_of!(RawEvent, filename), 52);
}

fn rules() -> MonitorRules {
    MonitorRules {
        connect_deny: vec![
            NetRule::parse("127.0.0.1:9/udp").expect("rule"),
            NetRule::parse("[fd00::/8]").expect("rule"),
        ],
        connect_allow: Some(vec![]),
        ..Default::default()
    }
}

#[test]
fn encodes_flags_counts_and_rules() {
    let b = encode_policy(&rules()).expect("encode");
    assert_eq!(
        u32::from_ne_bytes(b[0..4].try_into().expect("4")),
        F_ENFORCE | F_CONNECT_ALLOW
    );
    assert_eq!(
        u32::from_ne_bytes(b[4..8].try_into().expect("4")),
        2,
        "connect_deny count"
    );
    assert_eq!(
        u32::from_ne_bytes(b[8..12].try_into().expect("4")),
        0,
        "connect_allow count"
    );
    let r0 = &b[20..44];
    assert_eq!(&r0[..4], &[2, 17, 32, 1], "family, proto, prefix, has_port");
    assert_eq!(u16::from_ne_bytes([r0[4], r0[5]]), 9);
    assert_eq!(&r0[8..12], &[127, 0, 0, 1]);
    let r1 = &b[44..68];
    assert_eq!(&r1[..4], &[10, 0, 8, 0]);
    assert_eq!(r1[8], 0xfd);
    let mut many = rules();
    many.bind_deny = vec![NetRule::parse("*:1").expect("rule"); MAX_RULES + 1];
    assert_eq!(
        encode_policy(&many),
        Err(AbiError::TooManyRules {
            list: "bind_deny",
            count: MAX_RULES + 1
        })
    );
}

#[test]
fn decodes_net_and_exec_events() {
    let mut b = [0u8; EVENT_SIZE];
    b[0..8].copy_from_slice(&77u64.to_ne_bytes());
    b[8..12].copy_from_slice(&1234u32.to_ne_bytes());
    b[12] = 2; // send
    b[13] = 1; // deny
    b[14] = 2;
    b[15] = 17;
    b[16..18].copy_from_slice(&9u16.to_ne_bytes());
    b[18] = 0;
    b[19] = 0;
    b[20..24].copy_from_slice(&[127, 0, 0, 1]);
    b[36..38].copy_from_slice(b"nc");
    let e = decode_event(&b).expect("decode");
    assert_eq!(
        (e.cgroup_id, e.pid, e.verdict, e.comm.as_str()),
        (77, 1234, Verdict::Deny, "nc")
    );
    assert_eq!(
        e.access,
        Access::Send {
            addr: "127.0.0.1:9".parse().expect("addr"),
            proto: Proto::Udp
        }
    );
    assert_eq!(
        rule_text(&rules(), e.rule).as_deref(),
        Some("connect_deny: 127.0.0.1:9/udp")
    );
    assert_eq!(
        rule_text(&rules(), Some((1, None))).as_deref(),
        Some("connect_allow: not listed")
    );
    b[12] = 4;
    b[18] = NO_RULE;
    b[52..59].copy_from_slice(b"/tmp/bb");
    let e = decode_event(&b).expect("decode exec");
    assert_eq!(
        (e.access, e.rule),
        (
            Access::Exec {
                path: "/tmp/bb".into()
            },
            None
        )
    );
    assert!(decode_event(&b[..100]).is_none());
}
