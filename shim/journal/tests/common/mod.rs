//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vigil_journal::record::{self, Record, hex32};
use vigil_journal::{Entry, Journal, JournalOptions, Kind, segment};

/// A journal with small epochs and segments: 3+ segments, several seals.
pub fn small_opts() -> JournalOptions {
    JournalOptions {
        epoch_records: Some(5),
        epoch_duration: None,
        max_segment_bytes: 3000,
        host: Some("testhost".into()),
        ..JournalOptions::default()
    }
}

/// Creates a journal with `n` note records; returns (dir guard, dir, verification key).
pub fn build(n: u64) -> (tempfile::TempDir, PathBuf, [u8; 32]) {
    build_with(n, small_opts())
}

/// Like [`build`] with other options.
pub fn build_with(n: u64, opts: JournalOptions) -> (tempfile::TempDir, PathBuf, [u8; 32]) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let key = vigil_journal::init(&dir, opts.clone()).unwrap().unwrap();
    let j = Journal::open(&dir, opts).unwrap();
    for i in 0..n {
        j.append(
            Entry::new(Kind::Note)
                .container(format!("c{}", i % 3))
                .with("i", i),
        )
        .unwrap();
    }
    drop(j);
    (tmp, dir, vigil_journal::parse_key(&key).unwrap())
}

pub fn segs(dir: &Path) -> Vec<PathBuf> {
    segment::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

pub fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

pub fn write_lines(p: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    if !lines.is_empty() {
        s.push('\n');
    }
    std::fs::write(p, s).unwrap();
}

/// What an intruder without the old keys can do: rewrite records from `from_seq` on and
/// recompute every hash and seal range digest after it (seal MACs are signed with `mac_key`
/// for epoch `mac_epoch` if given, else left as they were).
pub fn rechain(
    dir: &Path,
    from_seq: u64,
    edit: impl Fn(&mut Record),
    forge: Option<([u8; 32], u64)>,
) {
    let mut prev: Option<[u8; 32]> = None;
    let mut range = blake3::Hasher::new();
    for p in segs(dir) {
        let mut out = Vec::new();
        for l in read_lines(&p) {
            let mut r = record::parse(l.as_bytes()).unwrap();
            if r.seq < from_seq {
                prev = Some(record::parse_hex32(r.hash.as_bytes()).unwrap());
                if r.kind == Kind::Seal {
                    range = blake3::Hasher::new();
                } else {
                    range.update(l.as_bytes());
                    range.update(b"\n");
                }
                out.push(l);
                continue;
            }
            edit(&mut r);
            let ph = prev.unwrap_or([0; 32]);
            if r.kind == Kind::Seal {
                let digest = hex32(range.finalize().as_bytes());
                r.data.insert("range".into(), digest.clone().into());
                if let Some((k, epoch)) = forge {
                    let mac = forge_mac(
                        &k,
                        epoch,
                        r.seq,
                        &hex32(&ph),
                        r.data["first_seq"].as_u64().unwrap(),
                        &digest,
                    );
                    r.data.insert("mac".into(), hex32(&mac).into());
                }
                range = blake3::Hasher::new();
            }
            let e = Entry {
                kind: r.kind,
                container: r.container.clone(),
                data: r.data.clone(),
            };
            let mut line = Vec::new();
            let h = record::encode(r.seq, &r.time, &r.host, &e, &ph, &mut line);
            prev = Some(h);
            if r.kind != Kind::Seal {
                range.update(&line);
                range.update(b"\n");
            }
            out.push(String::from_utf8(line).unwrap());
        }
        write_lines(&p, &out);
    }
}

/// The seal MAC as the writer computes it, for forging with a key the intruder has.
pub fn forge_mac(
    key: &[u8; 32],
    epoch: u64,
    seq: u64,
    head: &str,
    first: u64,
    range: &str,
) -> [u8; 32] {
    vigil_journal::seal_mac_for_tests(key, epoch, seq, head, first, range)
}
