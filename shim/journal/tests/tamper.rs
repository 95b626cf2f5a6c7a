//! Tampering is caught, and the first bad record is named.

mod common;

use common::*;
use vigil_journal::{Kind, verify};

fn problem(dir: &std::path::Path, key: Option<&[u8; 32]>) -> vigil_journal::Problem {
    let r = verify(dir, key).unwrap();
    r.problem
        .clone()
        .unwrap_or_else(|| panic!("tampering not detected: {r:?}"))
}

#[test]
fn untouched_journal_verifies_with_and_without_key() {
    let (_t, dir, key) = build(40);
    assert!(segs(&dir).len() >= 3, "want several segments");
    let r = verify(&dir, Some(&key)).unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.first_seq, Some(1));
    assert!(r.records > 40);
    assert!(r.seals_verified >= 7, "{r:?}");
    assert!(r.bulk, "sealed epochs verified in bulk");
    // The bulk (sealed-epoch) path and the record-by-record path agree.
    let slow = vigil_journal::verify_slow(
        &dir,
        Some(&key),
        vigil_journal::segment::list_segments(&dir).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            r.segments,
            r.records,
            r.first_seq,
            r.last_seq,
            r.seals_verified,
            r.last_seal_seq
        ),
        (
            slow.segments,
            slow.records,
            slow.first_seq,
            slow.last_seq,
            slow.seals_verified,
            slow.last_seal_seq
        )
    );
    let r = verify(&dir, None).unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.seals_verified, 0);
    assert!(r.seals_unchecked >= 7);
}

#[test]
fn edited_field_is_named() {
    let (_t, dir, key) = build(40);
    let seg = &segs(&dir)[1];
    let mut lines = read_lines(seg);
    let victim = lines
        .iter()
        .position(|l| l.contains("\"kind\":\"note\""))
        .unwrap();
    let seq = vigil_journal::record::parse(lines[victim].as_bytes())
        .unwrap()
        .seq;
    lines[victim] = lines[victim].replace("\"container\":\"c", "\"container\":\"x");
    write_lines(seg, &lines);
    let p = problem(&dir, Some(&key));
    assert!(!verify(&dir, Some(&key)).unwrap().bulk);
    assert_eq!(p.segment, "00000002.jsonl");
    assert_eq!(p.line, victim as u64 + 1);
    assert_eq!(p.seq, Some(seq));
    assert!(p.what.contains("hash mismatch"), "{p}");
    assert!(!verify(&dir, None).unwrap().ok());
}

#[test]
fn deleted_record_is_named() {
    let (_t, dir, _key) = build(40);
    let seg = &segs(&dir)[0];
    let mut lines = read_lines(seg);
    lines.remove(3);
    write_lines(seg, &lines);
    let p = problem(&dir, None);
    assert_eq!(
        (p.segment.as_str(), p.line, p.seq),
        ("00000001.jsonl", 4, Some(5))
    );
    assert!(p.what.contains("deleted"), "{p}");
}

#[test]
fn swapped_records_are_named() {
    let (_t, dir, _key) = build(40);
    let seg = &segs(&dir)[0];
    let mut lines = read_lines(seg);
    lines.swap(2, 3);
    write_lines(seg, &lines);
    let p = problem(&dir, None);
    assert_eq!((p.line, p.seq), (3, Some(4)));
    assert!(
        p.what.contains("deleted") || p.what.contains("reordered"),
        "{p}"
    );
}

#[test]
fn inserted_record_is_named() {
    let (_t, dir, _key) = build(40);
    let seg = &segs(&dir)[0];
    let mut lines = read_lines(seg);
    let copy = lines[2].clone();
    lines.insert(4, copy);
    write_lines(seg, &lines);
    let p = problem(&dir, None);
    assert_eq!(p.line, 5);
    assert!(p.what.contains("reordered or duplicated"), "{p}");
}

#[test]
fn truncated_middle_segment_is_caught() {
    let (_t, dir, _key) = build(40);
    let seg = &segs(&dir)[1];
    let mut lines = read_lines(seg);
    lines.truncate(lines.len() - 2);
    write_lines(seg, &lines);
    let p = problem(&dir, None);
    assert_eq!(p.segment, "00000003.jsonl");
    assert_eq!(p.line, 1);
    assert!(p.what.contains("2 record(s) deleted"), "{p}");
    // Cut mid-record instead: not a crash tail, since later segments exist.
    let bytes = std::fs::read(seg).unwrap();
    std::fs::write(seg, &bytes[..bytes.len() - 10]).unwrap();
    let p = problem(&dir, None);
    assert_eq!(p.segment, "00000002.jsonl");
    assert!(p.what.contains("malformed"), "{p}");
}

#[test]
fn truncated_tail_past_a_seal_is_caught_by_key_state() {
    let (_t, dir, key) = build(40);
    let all = segs(&dir);
    let (i, at) = all
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, p)| {
            read_lines(p)
                .iter()
                .rposition(|l| l.contains("\"kind\":\"seal\""))
                .map(|at| (i, at))
        })
        .unwrap();
    let mut lines = read_lines(&all[i]);
    lines.truncate(at);
    write_lines(&all[i], &lines);
    for later in &all[i + 1..] {
        std::fs::remove_file(later).unwrap();
    }
    // The chain itself is intact: only the key file's state shows the loss.
    let p = problem(&dir, Some(&key));
    assert!(p.what.contains("truncated"), "{p}");
    assert!(problem(&dir, None).what.contains("truncated"));
}

#[test]
fn dropped_segments_are_caught() {
    let (_t, dir, _key) = build(40);
    let s = segs(&dir);
    std::fs::remove_file(&s[1]).unwrap();
    let p = problem(&dir, None);
    assert!(p.what.contains("segment 00000002.jsonl missing"), "{p}");
    std::fs::remove_file(&s[0]).unwrap();
    let p = problem(&dir, None);
    assert!(p.what.contains("segments dropped"), "{p}");
}

#[test]
fn rechained_replacement_is_caught_by_seals() {
    let (_t, dir, key) = build(40);
    rechain(
        &dir,
        12,
        |r| {
            if r.seq == 12 {
                r.container = Some("innocent".into());
            }
        },
        None,
    );
    // Without the key a full re-chain is indistinguishable: that is what seals are for.
    assert!(verify(&dir, None).unwrap().ok());
    let p = problem(&dir, Some(&key));
    assert!(p.what.contains("seal MAC invalid"), "{p}");
    let r = verify(&dir, Some(&key)).unwrap();
    assert!(
        r.seals_verified >= 1,
        "the seals before the edit still verify"
    );
}

#[test]
fn seal_forged_with_a_later_key_is_caught() {
    let (_t, dir, key) = build(40);
    // The intruder holds the current key (from seal.key) and re-seals everything with it.
    let state = vigil_journal::KeyState::clone(
        &serde_json::from_str(
            std::fs::read_to_string(dir.join("seal.key"))
                .unwrap()
                .trim(),
        )
        .unwrap(),
    );
    let stolen = vigil_journal::parse_key(&state.key).unwrap();
    assert_eq!(stolen, vigil_journal::key_for_epoch(&key, state.epoch));
    rechain(
        &dir,
        3,
        |r| {
            if r.seq == 3 {
                r.data.insert("i".into(), 99.into());
            }
        },
        Some((stolen, state.epoch)),
    );
    let p = problem(&dir, Some(&key));
    assert!(p.what.contains("seal MAC invalid for epoch 0"), "{p}");
    // Claiming the later epoch number in place of the earlier is caught too.
    rechain(
        &dir,
        3,
        |r| {
            if r.kind == Kind::Seal && r.data["epoch"] == 0 {
                r.data.insert("epoch".into(), state.epoch.into());
            }
        },
        Some((stolen, state.epoch)),
    );
    let p = problem(&dir, Some(&key));
    assert!(p.what.contains("epoch 0 was due"), "{p}");
}

#[test]
fn removed_seals_are_caught_with_key() {
    let (_t, dir, key) = build(60);
    // Drop every seal and re-chain: no MAC to check, but the epochs lack their seals.
    for p in segs(&dir) {
        let lines: Vec<String> = read_lines(&p)
            .into_iter()
            .filter(|l| !l.contains("\"kind\":\"seal\""))
            .collect();
        write_lines(&p, &lines);
    }
    let mut seq = 0;
    let mut prev = [0u8; 32];
    for p in segs(&dir) {
        let mut out = Vec::new();
        for l in read_lines(&p) {
            let r = vigil_journal::record::parse(l.as_bytes()).unwrap();
            seq += 1;
            let e = vigil_journal::Entry {
                kind: r.kind,
                container: r.container,
                data: r.data,
            };
            let mut line = Vec::new();
            prev = vigil_journal::record::encode(seq, &r.time, &r.host, &e, &prev, &mut line);
            out.push(String::from_utf8(line).unwrap());
        }
        write_lines(&p, &out);
    }
    std::fs::remove_file(dir.join("seal.key")).unwrap();
    assert!(verify(&dir, None).unwrap().ok());
    let p = problem(&dir, Some(&key));
    assert!(p.what.contains("without a seal"), "{p}");
}

#[test]
fn wrong_key_fails_at_first_seal() {
    let (_t, dir, _key) = build(20);
    let p = problem(&dir, Some(&[9u8; 32]));
    assert!(p.what.contains("seal MAC invalid for epoch 0"), "{p}");
}

#[test]
fn wiped_segments_with_key_file_left_are_caught_and_writing_goes_on() {
    let (_t, dir, key) = build(40);
    for p in segs(&dir) {
        std::fs::remove_file(p).unwrap();
    }
    let j = vigil_journal::Journal::open(&dir, small_opts()).unwrap();
    for i in 0..12 {
        j.append(vigil_journal::Entry::new(Kind::Note).with("after_wipe", i))
            .unwrap();
    }
    drop(j);
    let p = problem(&dir, Some(&key));
    assert!(
        p.what.contains("seal MAC invalid")
            || p.what.contains("truncated")
            || p.what.contains("epoch"),
        "{p}"
    );
    let p = problem(&dir, None);
    assert!(p.what.contains("truncated"), "{p}");
}
