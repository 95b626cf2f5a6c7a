//! Writes an HTML report over synthetic records spread over six hours, to look at the
//! rendering: `cargo run -p vigil-journal --example report_demo -- OUT.html`.

use vigil_journal::record::Record;
use vigil_journal::report::Report;
use vigil_journal::time::format_micros;
use vigil_journal::{Caller, Entry, Kind};

fn rec(seq: u64, us: i64, e: Entry) -> Record {
    Record {
        v: 1,
        seq,
        time: format_micros(us),
        host: "node-1".into(),
        kind: e.kind,
        container: e.container,
        data: e.data,
        prev: String::new(),
        hash: String::new(),
    }
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "report.html".into());
    let t0 = 1_795_000_000_000_000i64;
    let me = Caller {
        uid: 0,
        gid: 0,
        auid: Some(1000),
        pid: 4242,
        ppid: 4200,
        cmdline: "vigil start pay-1".into(),
        ..Caller::default()
    };
    let mut r = Report::default();
    let mut seq = 0;
    let mut push = |r: &mut Report, us: i64, e: Entry| {
        seq += 1;
        r.add(&rec(seq, us, e));
    };
    for (id, pol, caps, classes) in [
        (
            "pay-1",
            "pci",
            vec!["CAP_NET_BIND_SERVICE"],
            vec!["pci", "pii"],
        ),
        ("web-1", "default", vec!["CAP_CHOWN"], vec![]),
    ] {
        push(
            &mut r,
            t0,
            Entry::management("create", id, &me, Some(pol), Some("b3:9f2c")),
        );
        push(
            &mut r,
            t0 + 1,
            Entry::new(Kind::Lifecycle)
                .container(id)
                .with("state", "created")
                .with("policy", pol)
                .with("mode", "enforce")
                .with("capabilities", &caps)
                .with("namespaces", ["pid", "mnt", "net", "ipc", "uts", "cgroup"])
                .with("seccomp", "enforced, 212 syscalls")
                .with("landlock", "ABI 7, fs + tcp")
                .with("classes", &classes),
        );
    }
    for i in 0..2000i64 {
        let us = t0 + i * 10_800_000 + (i % 7) * 1_000_000;
        let burst = (i / 100) % 5 == 2;
        let v = if burst || i % 9 == 0 { "deny" } else { "audit" };
        push(
            &mut r,
            us,
            Entry::decision(
                if i % 3 == 0 { "web-1" } else { "pay-1" },
                "fanotify",
                "cards",
                if v == "deny" {
                    "/etc/shadow"
                } else {
                    "/data/cards.db"
                },
                v,
            )
            .with("class", "pci"),
        );
    }
    push(
        &mut r,
        t0 + 21_600_000_000,
        Entry::management("kill", "web-1", &me, Some("default"), None),
    );
    r.finish();
    std::fs::write(&out, vigil_journal::render::html(&r)).expect("write report");
    eprintln!("wrote {out}");
}
