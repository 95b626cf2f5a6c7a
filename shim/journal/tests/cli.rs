//! `vigil audit ...` through clap, as the binary will run it.

use clap::Parser;
use vigil_journal::cli::{AuditCommand, run};
use vigil_journal::{Caller, Entry, Journal, JournalOptions, Kind};

#[derive(Parser)]
struct Audit {
    #[command(subcommand)]
    cmd: AuditCommand,
}

fn audit(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let cmd = Audit::try_parse_from(std::iter::once("audit").chain(args.iter().copied()))
        .unwrap()
        .cmd;
    let mut out = Vec::new();
    let code = run(cmd, dir, &mut out).unwrap();
    (code, String::from_utf8(out).unwrap())
}

/// A journal like the runtime and monitor will write.
fn populate(dir: &std::path::Path) -> String {
    let (code, out) = audit(dir, &["init", "--epoch-records", "7"]);
    assert_eq!(code, 0);
    let key = out.lines().next().unwrap().to_string();
    let j = Journal::open(dir, JournalOptions::default()).unwrap();
    let me = Caller::current();
    for (id, policy, caps, classes) in [
        (
            "pay-1",
            "pci",
            vec!["CAP_NET_BIND_SERVICE"],
            vec!["pci", "pii"],
        ),
        ("web-1", "default", vec!["CAP_CHOWN", "CAP_SETUID"], vec![]),
    ] {
        j.append(Entry::management(
            "create",
            id,
            &me,
            Some(policy),
            Some("b3:1234"),
        ))
        .unwrap();
        j.append(
            Entry::new(Kind::Lifecycle)
                .container(id)
                .with("state", "created")
                .with("policy", policy)
                .with("mode", "enforce")
                .with("capabilities", &caps)
                .with("namespaces", ["pid", "mnt", "net", "ipc", "uts"])
                .with("seccomp", "enforced (212 syscalls allowed)")
                .with("landlock", "abi 7: fs + tcp")
                .with("classes", &classes),
        )
        .unwrap();
        j.append(Entry::management(
            "start",
            id,
            &me,
            Some(policy),
            Some("b3:1234"),
        ))
        .unwrap();
    }
    for i in 0..30 {
        let (verdict, obj) = if i % 3 == 0 {
            ("deny", "/etc/shadow")
        } else {
            ("audit", "/data/cards.db")
        };
        j.append(
            Entry::decision("pay-1", "fanotify", "cards", obj, verdict)
                .with("class", "pci")
                .with("pid", 42),
        )
        .unwrap();
    }
    j.append(
        Entry::decision("web-1", "ebpf", "egress", "tcp:10.0.0.9:443", "deny")
            .with("op", "connect")
            .with("daddr", "10.0.0.9")
            .with("dport", 443),
    )
    .unwrap();
    j.append(Entry::management(
        "kill",
        "web-1",
        &me,
        Some("default"),
        None,
    ))
    .unwrap();
    key
}

#[test]
fn init_verify_and_tamper_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let key = populate(&dir);
    assert_eq!(key.len(), 64);
    let (code, out) = audit(&dir, &["init"]);
    assert_eq!(code, 0);
    assert!(out.contains("already initialised"), "{out}");
    let (code, out) = audit(&dir, &["verify", "--key", &key]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(": OK") && out.contains("verified with the key"),
        "{out}"
    );
    let seg = dir.join("00000001.jsonl");
    let text = std::fs::read_to_string(&seg)
        .unwrap()
        .replacen("/etc/shadow", "/etc/hosts!", 1);
    std::fs::write(&seg, text).unwrap();
    let (code, out) = audit(&dir, &["verify", "--key", &key]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("first bad record: 00000001.jsonl line"),
        "{out}"
    );
    let (code, out) = audit(&dir, &["verify", "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["problem"]["what"]
            .as_str()
            .unwrap()
            .contains("hash mismatch")
    );
}

#[test]
fn query_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    populate(&dir);
    let (_, out) = audit(&dir, &["query", "--kind", "management", "--json"]);
    let recs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 5);
    assert!(recs.iter().all(|r| r["kind"] == "management"));
    let (_, out) = audit(&dir, &["query", "--action", "kill", "--json"]);
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains("web-1"));
    let (_, out) = audit(
        &dir,
        &[
            "query",
            "--container",
            "pay-1",
            "--verdict",
            "deny",
            "--json",
        ],
    );
    assert_eq!(out.lines().count(), 10);
    let (_, out) = audit(&dir, &["query", "--class", "pii", "--json"]);
    assert_eq!(
        out.lines().count(),
        1,
        "the lifecycle record lists pii: {out}"
    );
    let (_, out) = audit(&dir, &["query", "--layer", "ebpf"]);
    assert!(
        out.lines().nth(1).unwrap().contains("tcp:10.0.0.9:443"),
        "{out}"
    );
    let (_, out) = audit(
        &dir,
        &["query", "--policy", "pci", "--kind", "lifecycle", "--json"],
    );
    assert_eq!(out.lines().count(), 1);
    let (_, out) = audit(&dir, &["query", "--since", "1h", "--json"]);
    assert!(out.lines().count() > 40);
    let (_, out) = audit(&dir, &["query", "--until", "2000-01-01", "--json"]);
    assert_eq!(out.lines().count(), 0);
}

#[test]
fn report_answers_the_auditor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    populate(&dir);
    let (_, out) = audit(&dir, &["report", "--format", "json"]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let uid = format!("uid {}", Caller::current().uid);
    let me = r["users"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.starts_with(&uid))
        .unwrap()
        .1;
    assert_eq!(me["actions"]["create"], 2);
    assert_eq!(me["actions"]["kill"], 1);
    let pay = &r["containers"]["pay-1"];
    assert_eq!(pay["policy"], "pci");
    assert_eq!(pay["capabilities"][0], "CAP_NET_BIND_SERVICE");
    assert_eq!(pay["classes_reachable"], serde_json::json!(["pci", "pii"]));
    assert_eq!(pay["classes_accessed"]["pci"], 30);
    assert_eq!(pay["decisions"]["deny"], 10);
    assert_eq!(pay["blocked"]["/etc/shadow"], 10);
    let tl = r["timeline"].as_array().unwrap();
    let deny: u64 = tl.iter().map(|b| b["deny"].as_u64().unwrap()).sum();
    let aud: u64 = tl.iter().map(|b| b["audit"].as_u64().unwrap()).sum();
    assert_eq!((deny, aud), (11, 20));
    let (_, md) = audit(&dir, &["report"]);
    assert!(
        md.contains("## Management actions by user")
            && md.contains("| pay-1 | pci b3:1234 | enforce |"),
        "{md}"
    );
    let out_file = tmp.path().join("r.html");
    audit(
        &dir,
        &[
            "report",
            "--format",
            "html",
            "-o",
            out_file.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>")
            && html.contains("<svg")
            && html.contains("class=\"deny\"")
    );
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "self-contained"
    );
}

#[test]
fn export_formats_and_sockets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let key = populate(&dir);
    let stored: String = std::fs::read_to_string(dir.join("00000001.jsonl")).unwrap();
    let (_, out) = audit(&dir, &["export"]);
    assert_eq!(
        out, stored,
        "jsonl is the stored records, verifiable off-host"
    );
    // Verify an exported copy elsewhere.
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::write(copy.join("00000001.jsonl"), &out).unwrap();
    assert!(vigil_journal::verify(&copy, None).unwrap().ok());
    let exported = tmp.path().join("export.jsonl");
    std::fs::write(&exported, &out).unwrap();
    let (code, text) = audit(
        &dir,
        &[
            "verify",
            "--key",
            &key,
            "--file",
            exported.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("verified with the key"), "{text}");
    let edited = out.replacen("\"action\":\"kill\"", "\"action\":\"stop\"", 1);
    std::fs::write(&exported, edited).unwrap();
    let (code, text) = audit(
        &dir,
        &[
            "verify",
            "--key",
            &key,
            "--file",
            exported.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{text}");

    let (_, out) = audit(&dir, &["export", "--format", "ocsf", "--kind", "decision"]);
    let evs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evs.len(), 31);
    assert_eq!(evs[0]["class_uid"], 1001);
    assert_eq!(evs[0]["file"]["path"], "/etc/shadow");
    assert_eq!(evs[0]["action_id"], 2);
    assert_eq!(evs[30]["class_uid"], 4001);
    assert_eq!(evs[30]["dst_endpoint"]["port"], 443);
    let raw = evs[0]["raw_data"].as_str().unwrap();
    let (s, c) = vigil_journal::record::line_hashes(raw.as_bytes()).unwrap();
    assert_eq!(s, c, "the stored record travels in raw_data");
    let (_, out) = audit(&dir, &["export", "--format", "ocsf", "--action", "create"]);
    assert!(out.lines().all(|l| l.contains("\"class_uid\":6003")));

    let (_, out) = audit(&dir, &["export", "--format", "syslog", "--verdict", "deny"]);
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("<108>1 "), "{first}");
    assert!(
        first.contains(" vigil - decision [vigil@32473 seq=\""),
        "{first}"
    );

    // UDP on loopback, and a unix datagram socket.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = format!("udp:{}", udp.local_addr().unwrap());
    audit(
        &dir,
        &[
            "export", "--format", "syslog", "--action", "kill", "-o", &addr,
        ],
    );
    let mut buf = [0u8; 65536];
    let n = udp.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("\"action\":\"kill\""));
    let sock = tmp.path().join("s.sock");
    let ug = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    audit(
        &dir,
        &[
            "export",
            "--kind",
            "init",
            "-o",
            &format!("unixgram:{}", sock.display()),
        ],
    );
    let n = ug.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("\"kind\":\"init\""));
}

#[test]
fn parallel_report_equals_sequential() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    populate(&dir);
    let f = vigil_journal::Filter::default();
    let mut fast = vigil_journal::report::build(&dir, &f).unwrap();
    let mut slow = vigil_journal::report::Report::default();
    for r in vigil_journal::query(&dir, &f, None).unwrap() {
        slow.add(&r);
    }
    slow.finish();
    fast.generated.clear();
    slow.generated.clear();
    assert_eq!(fast.to_json(), slow.to_json());
    assert!(fast.records > 40);
}
