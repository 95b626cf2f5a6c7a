//! Eight processes append at once: one valid chain, every record present exactly once.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::*;
use vigil_journal::{Entry, Journal, JournalOptions, Kind, SyncPolicy, verify};

const ROLE: &str = "VIGIL_JOURNAL_WRITER";
const PER_WRITER: u64 = 150;

fn opts() -> JournalOptions {
    JournalOptions {
        epoch_records: Some(25),
        max_segment_bytes: 20_000,
        ..small_opts()
    }
}

/// Child body: writer number `VIGIL_JOURNAL_WRITER` appends its records.
#[test]
fn writer_role() {
    let Ok(w) = std::env::var(ROLE) else { return };
    let w: u64 = w.parse().unwrap();
    let dir = std::path::PathBuf::from(std::env::var("VIGIL_JOURNAL_DIR").unwrap());
    let sync = if w.is_multiple_of(2) {
        SyncPolicy::EveryAppend
    } else {
        SyncPolicy::Batch {
            max_records: 16,
            max_delay: Duration::from_millis(20),
        }
    };
    let j = Journal::open(&dir, JournalOptions { sync, ..opts() }).unwrap();
    for n in 0..PER_WRITER {
        j.append(
            Entry::new(Kind::Note)
                .container(format!("w{w}"))
                .with("w", w)
                .with("n", n),
        )
        .unwrap();
    }
}

#[test]
fn eight_processes_keep_one_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let key = vigil_journal::init(&dir, opts()).unwrap().unwrap();
    let key = vigil_journal::parse_key(&key).unwrap();
    let children: Vec<_> = (0..8)
        .map(|w| {
            Command::new(std::env::current_exe().unwrap())
                .args(["writer_role", "--exact", "--test-threads=1"])
                .env(ROLE, w.to_string())
                .env("VIGIL_JOURNAL_DIR", &dir)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer failed");
    }
    let r = verify(&dir, Some(&key)).unwrap();
    assert!(r.ok() && r.torn_tail.is_none(), "{r:?}");
    assert!(r.seals_verified >= 40, "{r:?}");
    assert!(
        r.bulk,
        "every seal written under contention checks out in bulk too"
    );
    assert!(segs(&dir).len() > 3, "rotation happened under contention");
    let mut seen = BTreeSet::new();
    let mut writers_interleaved = 0;
    let mut last_w = None;
    for p in segs(&dir) {
        for l in read_lines(&p) {
            let rec = vigil_journal::record::parse(l.as_bytes()).unwrap();
            if rec.kind == Kind::Note {
                let key = (rec.u64("w").unwrap(), rec.u64("n").unwrap());
                assert!(seen.insert(key), "record {key:?} twice");
                if last_w != Some(key.0) {
                    writers_interleaved += 1;
                    last_w = Some(key.0);
                }
            }
        }
    }
    assert_eq!(seen.len() as u64, 8 * PER_WRITER, "every record present");
    assert!(
        writers_interleaved > 8,
        "writers did run concurrently ({writers_interleaved} switches)"
    );
}

#[test]
fn cli_writer_is_not_starved_by_a_busy_batching_writer() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let key = vigil_journal::init(&dir, opts()).unwrap().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let daemon = {
        let (dir, stop) = (dir.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let sync = SyncPolicy::Batch {
                max_records: 64,
                max_delay: Duration::from_millis(50),
            };
            let j = Journal::open(
                &dir,
                JournalOptions {
                    sync,
                    max_segment_bytes: 1 << 30,
                    ..opts()
                },
            )
            .unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                j.append(Entry::new(Kind::Decision).container("busy").with("n", n))
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    // A separate open file description: contends for the flock like another process.
    let cli = Journal::open(
        &dir,
        JournalOptions {
            lock_timeout: Duration::from_secs(5),
            ..opts()
        },
    )
    .unwrap();
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let t = std::time::Instant::now();
        cli.append(
            Entry::new(Kind::Management)
                .container("c")
                .with("action", "start")
                .with("i", i),
        )
        .unwrap();
        slowest = slowest.max(t.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let n = daemon.join().unwrap();
    drop(cli);
    assert!(n > 100, "the batching writer was busy ({n} records)");
    assert!(
        slowest < Duration::from_secs(3),
        "a CLI append waited {slowest:?}"
    );
    let r = verify(&dir, Some(&vigil_journal::parse_key(&key).unwrap())).unwrap();
    assert!(r.ok(), "{r:?}");
    eprintln!("busy writer appended {n}; slowest CLI append {slowest:?}");
}

#[test]
fn verify_while_writing_never_reports_tampering() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let opts = JournalOptions {
        epoch_records: Some(5),
        ..opts()
    };
    let key = vigil_journal::parse_key(&vigil_journal::init(&dir, opts.clone()).unwrap().unwrap())
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (dir, stop, opts) = (dir.clone(), Arc::clone(&stop), opts.clone());
        std::thread::spawn(move || {
            let j = Journal::open(&dir, opts).unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                j.append(Entry::new(Kind::Note).with("n", n)).unwrap();
                n += 1;
            }
        })
    };
    let mut checks = 0;
    let until = std::time::Instant::now() + Duration::from_millis(1500);
    while std::time::Instant::now() < until {
        for k in [Some(&key), None] {
            let r = verify(&dir, k).unwrap();
            assert!(r.ok(), "verify during writes: {r:?}");
            checks += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(checks > 4);
}
