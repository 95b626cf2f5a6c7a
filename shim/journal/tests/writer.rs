//! The writer API: records, chain, permissions, keys.

use std::os::unix::fs::PermissionsExt;

use vigil_journal::{Caller, Entry, Journal, JournalOptions, Kind, record, segment};

fn lines(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for (_, p) in segment::list_segments(dir).unwrap() {
        out.extend(
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    out
}

#[test]
fn appends_chained_records_with_caller() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let j = Journal::open(&dir, JournalOptions::default()).unwrap();
    let c = Caller::current();
    let s1 = j
        .append(Entry::management(
            "create",
            "web-1",
            &c,
            Some("pci"),
            Some("b3:aa"),
        ))
        .unwrap();
    let s2 = j
        .append(Entry::decision(
            "web-1",
            "landlock",
            "no-etc",
            "/etc/shadow",
            "deny",
        ))
        .unwrap();
    assert_eq!(s2, s1 + 1);
    drop(j);
    let ls = lines(&dir);
    let recs: Vec<_> = ls
        .iter()
        .map(|l| record::parse(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(recs[0].kind, Kind::Init);
    assert_eq!(recs[0].seq, 1);
    assert_eq!(recs[0].prev, "0".repeat(64));
    for w in recs.windows(2) {
        assert_eq!(w[1].prev, w[0].hash);
        assert_eq!(w[1].seq, w[0].seq + 1);
    }
    let m = recs.iter().find(|r| r.seq == s1).unwrap();
    assert_eq!(m.kind, Kind::Management);
    assert_eq!(m.container.as_deref(), Some("web-1"));
    assert_eq!(m.u64("uid"), Some(u64::from(c.uid)));
    assert_eq!(m.u64("pid"), Some(u64::from(std::process::id())));
    assert_eq!(m.str("policy"), Some("pci"));
    assert!(m.time.ends_with('Z') && m.time.len() == 27, "{}", m.time);
    for l in &ls {
        let (stored, computed) = record::line_hashes(l.as_bytes()).unwrap();
        assert_eq!(stored, computed);
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("00000001.jsonl")), 0o600);
    assert_eq!(mode(&dir.join("seal.key")), 0o600);
    // Reopening continues the same chain.
    let j = Journal::open(&dir, JournalOptions::default()).unwrap();
    let s3 = j.append(Entry::new(Kind::Note).with("x", 1)).unwrap();
    assert_eq!(s3, s2 + 1);
}

#[test]
fn init_hands_out_the_key_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let k = vigil_journal::init(&dir, JournalOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(k.len(), 64);
    assert!(vigil_journal::parse_key(&k).is_ok());
    assert!(!dir.join("initial.key").exists());
    assert_eq!(
        vigil_journal::init(&dir, JournalOptions::default()).unwrap(),
        None
    );
}

#[test]
fn rotation_and_retention_keep_a_verifiable_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let opts = JournalOptions {
        max_segment_bytes: 2000,
        retain_max_bytes: Some(6000),
        epoch_records: Some(4),
        ..JournalOptions::default()
    };
    let key = vigil_journal::init(&dir, opts.clone()).unwrap().unwrap();
    let key = vigil_journal::parse_key(&key).unwrap();
    let j = Journal::open(&dir, opts).unwrap();
    for i in 0..80 {
        j.append(Entry::new(Kind::Note).with("i", i)).unwrap();
    }
    drop(j);
    let segs = segment::list_segments(&dir).unwrap();
    assert!(segs[0].0 > 1, "old segments removed: {segs:?}");
    let total: u64 = segs
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(total < 6000 + 2000 + 1000, "size bounded: {total}");
    let r = vigil_journal::verify(&dir, Some(&key)).unwrap();
    assert!(r.ok(), "{r:?}");
    assert!(r.first_seq.unwrap() > 1);
    assert!(
        r.notes.iter().any(|n| n.contains("retention")),
        "{:?}",
        r.notes
    );
    assert!(
        lines(&dir)
            .iter()
            .any(|l| l.contains("\"kind\":\"retention\""))
    );
}

#[test]
fn time_based_epochs_seal_at_the_next_append() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let opts = JournalOptions {
        epoch_records: None,
        epoch_duration: Some(std::time::Duration::from_secs(1)),
        ..JournalOptions::default()
    };
    let key = vigil_journal::init(&dir, opts.clone()).unwrap().unwrap();
    let j = Journal::open(&dir, opts).unwrap();
    j.append(Entry::new(Kind::Note)).unwrap();
    assert!(!lines(&dir).iter().any(|l| l.contains("\"kind\":\"seal\"")));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    j.append(Entry::new(Kind::Note)).unwrap();
    drop(j);
    let ls = lines(&dir);
    let seal = ls
        .iter()
        .position(|l| l.contains("\"kind\":\"seal\""))
        .expect("sealed after 1 s");
    assert_eq!(
        seal,
        ls.len() - 2,
        "the seal precedes the record that ended the epoch"
    );
    let r = vigil_journal::verify(&dir, Some(&vigil_journal::parse_key(&key).unwrap())).unwrap();
    assert!(r.ok() && r.seals_verified == 1, "{r:?}");
}

#[test]
fn a_held_lock_times_out_instead_of_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    drop(Journal::open(&dir, JournalOptions::default()).unwrap());
    let other = std::fs::File::open(dir.join("journal.lock")).unwrap();
    other.lock().unwrap();
    let opts = JournalOptions {
        lock_timeout: std::time::Duration::from_millis(200),
        ..JournalOptions::default()
    };
    let t = std::time::Instant::now();
    let err = Journal::open(&dir, opts).err().expect("lock is held");
    assert!(
        matches!(err, vigil_journal::JournalError::LockTimeout { .. }),
        "{err}"
    );
    assert!(t.elapsed() >= std::time::Duration::from_millis(200));
    other.unlock().unwrap();
    assert!(Journal::open(&dir, JournalOptions::default()).is_ok());
}
