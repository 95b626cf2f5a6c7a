//! Crash safety: torn records are detected, cut off and journaled; killed writers lose at most
//! their unflushed batch and never break the chain.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use vigil_journal::{Entry, Journal, JournalOptions, Kind, SyncPolicy, verify};

const ROLE: &str = "VIGIL_JOURNAL_CRASH_ROLE";

/// Not a test on its own: the body a child process runs when the parent re-executes this
/// test binary with `VIGIL_JOURNAL_CRASH_ROLE` set.
#[test]
fn child_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let dir = std::path::PathBuf::from(std::env::var("VIGIL_JOURNAL_DIR").unwrap());
    let opts = JournalOptions {
        sync: SyncPolicy::Batch {
            max_records: 50,
            max_delay: Duration::from_secs(600),
        },
        ..small_opts()
    };
    let j = Journal::open(&dir, opts).unwrap();
    match role.as_str() {
        "batch-then-hang" => {
            drop(j);
            // The journal's epochs are longer than this run (see the test), so no seal
            // forces a flush of the last batch; nor does a rotation.
            let opts = JournalOptions {
                sync: SyncPolicy::Batch {
                    max_records: 50,
                    max_delay: Duration::from_secs(600),
                },
                max_segment_bytes: 1 << 30,
                ..small_opts()
            };
            let j = Journal::open(&dir, opts).unwrap();
            let mut seq = 0;
            for i in 0..1000u64 {
                seq = j.append(Entry::new(Kind::Note).with("i", i)).unwrap();
            }
            j.flush().unwrap();
            println!("flushed {seq}");
            for i in 0..25u64 {
                j.append(Entry::new(Kind::Note).with("lost", i)).unwrap();
            }
            println!("hanging");
            std::thread::sleep(Duration::from_secs(600));
        }
        "write-forever" => {
            println!("started");
            for i in 0.. {
                j.append(
                    Entry::new(Kind::Note)
                        .with("i", i)
                        .with("pad", "x".repeat(200)),
                )
                .unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn spawn(role: &str, dir: &std::path::Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child_role", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env("VIGIL_JOURNAL_DIR", dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Kills the child on drop, whatever happens in the test.
struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn torn_partial_record_is_cut_and_journaled_as_gap() {
    let (_t, dir, key) = build(12);
    let last = segs(&dir).pop().unwrap();
    let good_len = std::fs::metadata(&last).unwrap().len();
    // A crash in the middle of writing the next record: half a line, no newline.
    let lines = read_lines(&last);
    let half = &lines[lines.len() - 1].as_bytes()[..60];
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(half);
    std::fs::write(&last, &bytes).unwrap();

    let r = verify(&dir, Some(&key)).unwrap();
    assert!(r.ok(), "a torn tail is a crash, not tampering: {r:?}");
    assert!(
        r.bulk,
        "the bulk path hands the torn tail to the record-by-record check"
    );
    let torn = r.torn_tail.expect("torn tail reported");
    assert_eq!(torn.line, lines.len() as u64 + 1);

    let j = Journal::open(&dir, small_opts()).unwrap();
    drop(j);
    assert_eq!(
        std::fs::read(&last).unwrap()[..good_len as usize],
        bytes[..good_len as usize]
    );
    let name = last.file_name().unwrap().to_str().unwrap();
    let saved = dir.join(format!("{name}.torn-{good_len}"));
    assert_eq!(
        std::fs::read(saved).unwrap(),
        half,
        "cut bytes kept for forensics"
    );
    let r = verify(&dir, Some(&key)).unwrap();
    assert!(r.ok() && r.torn_tail.is_none(), "{r:?}");
    let gap = read_lines(&last).pop().unwrap();
    let gap = vigil_journal::record::parse(gap.as_bytes()).unwrap();
    assert_eq!(gap.kind, Kind::Gap);
    assert_eq!(gap.u64("bytes"), Some(60));
    assert_eq!(gap.u64("offset"), Some(good_len));
}

#[test]
fn cut_mid_record_and_power_loss_zeros_are_recovered() {
    let (_t, dir, key) = build(12);
    let last = segs(&dir).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let last_seq_before = verify(&dir, None).unwrap().last_seq.unwrap();
    // Cut 20 bytes into the last record, then add NULs as a power loss can leave.
    let mut cut = bytes[..bytes.len() - 20].to_vec();
    cut.extend_from_slice(&[0; 100]);
    cut.push(b'\n');
    cut.extend_from_slice(&[0; 30]);
    std::fs::write(&last, &cut).unwrap();
    let r = verify(&dir, Some(&key)).unwrap();
    assert!(r.ok() && r.torn_tail.is_some(), "{r:?}");
    assert_eq!(r.last_seq, Some(last_seq_before - 1));
    let j = Journal::open(&dir, small_opts()).unwrap();
    let seq = j
        .append(Entry::new(Kind::Note).with("after", "crash"))
        .unwrap();
    drop(j);
    let r = verify(&dir, Some(&key)).unwrap();
    assert!(r.ok() && r.torn_tail.is_none(), "{r:?}");
    // The lost record's seq is reused by the gap: the chain has no hole.
    assert_eq!(seq, last_seq_before + 1);
    assert!(r.notes.iter().any(|n| n.contains("gap")), "{:?}", r.notes);
}

#[test]
fn writer_killed_with_unflushed_batch_loses_only_that_batch() {
    let (_t, dir, key) = build_with(
        3,
        JournalOptions {
            epoch_records: Some(5000),
            ..small_opts()
        },
    );
    let mut child = Kill(spawn("batch-then-hang", &dir));
    let out = BufReader::new(child.0.stdout.take().unwrap());
    let mut last_flushed = 0;
    for line in out.lines() {
        let line = line.unwrap();
        // The harness may print "test child_role ... " before our output on the same line.
        if let Some((_, s)) = line.split_once("flushed ") {
            last_flushed = s.trim().parse().unwrap();
        }
        if line.ends_with("hanging") {
            break;
        }
    }
    assert!(last_flushed > 1000);
    drop(child); // SIGKILL with 25 records pending in memory
    let r = verify(&dir, Some(&key)).unwrap();
    assert!(r.ok() && r.torn_tail.is_none(), "{r:?}");
    assert_eq!(
        r.last_seq,
        Some(last_flushed),
        "flushed records on disk, pending ones lost: {r:?}"
    );
    let j = Journal::open(&dir, small_opts()).unwrap();
    assert_eq!(
        j.append(Entry::new(Kind::Note)).unwrap(),
        r.last_seq.unwrap() + 1
    );
}

#[test]
fn writer_killed_while_writing_recovers() {
    let (_t, dir, key) = build(3);
    for round in 0..3 {
        let mut child = Kill(spawn("write-forever", &dir));
        let mut out = BufReader::new(child.0.stdout.take().unwrap());
        let mut line = String::new();
        while !line.trim().ends_with("started") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "child exited early");
        }
        std::thread::sleep(Duration::from_millis(150 + 70 * round));
        drop(child);
        let r = verify(&dir, Some(&key)).unwrap();
        assert!(r.ok(), "round {round}: {r:?}");
        let j = Journal::open(&dir, small_opts()).unwrap();
        j.append(Entry::new(Kind::Note).with("round", round))
            .unwrap();
        drop(j);
        let r = verify(&dir, Some(&key)).unwrap();
        assert!(r.ok() && r.torn_tail.is_none(), "round {round}: {r:?}");
        assert!(r.seals_verified > 0);
    }
}
