//! Fast verification of sealed epochs with the verification key.
//!
//! A valid seal MAC authenticates the epoch's range digest, and a matching range digest
//! proves that the epoch's bytes are exactly those the sealing writer hashed, so the records
//! inside a sealed epoch need no record-by-record check: each epoch is hashed in bulk (SIMD,
//! both cores), and only seals and the unsealed tail are parsed. Anything unexpected returns
//! `None` and [`crate::verify`] falls back to the record-by-record path, which names the
//! first bad record.

use std::path::PathBuf;

use crate::JournalError;
use crate::entry::Kind;
use crate::keys::{self, SealInput};
use crate::record::{self, ZERO_HASH, hex32};
use crate::verify::Verifier;

const SEAL_MARK: &[u8] = b",\"kind\":\"seal\",";

/// Verifies every sealed epoch in bulk and the tail record by record. `None`: something is
/// off (or there is nothing sealed); use the slow path.
pub(crate) fn sealed_epochs(
    segs: &[(u64, PathBuf)],
    key: &[u8; 32],
) -> Result<Option<Verifier>, JournalError> {
    if segs.is_empty() || segs.windows(2).any(|w| w[1].0 != w[0].0 + 1) {
        return Ok(None);
    }
    let (data, found) = read_all(segs)?;
    // The journal must start at its beginning (retention cases take the slow path).
    let Some(first) = data[0].split(|b| *b == b'\n').next() else {
        return Ok(None);
    };
    let Ok(init) = record::parse(first) else {
        return Ok(None);
    };
    if init.seq != 1 || init.prev != hex32(&ZERO_HASH) {
        return Ok(None);
    }
    let mut seals = Vec::new();
    for (i, found) in found.into_iter().enumerate() {
        match found {
            Some(f) => seals.extend(f.into_iter().map(|(st, en)| (i, st, en))),
            None => return Ok(None),
        }
    }
    if seals.is_empty() {
        return Ok(None);
    }
    // Each epoch: the slices between one seal (or the start) and the next seal.
    let mut epochs: Vec<Vec<(usize, usize, usize)>> = Vec::with_capacity(seals.len());
    let mut cur = (0usize, 0usize);
    for &(si, st, en) in &seals {
        let mut slices = Vec::new();
        for (seg, d) in data.iter().enumerate().take(si + 1).skip(cur.0) {
            let from = if seg == cur.0 { cur.1 } else { 0 };
            let to = if seg == si { st } else { d.len() };
            if to > from {
                slices.push((seg, from, to));
            }
        }
        epochs.push(slices);
        cur = (si, en + 1);
    }
    let digests = digest_epochs(&data, &epochs);
    let mut v = Verifier::new(Some(*key));
    let mut expected_first = 1u64;
    let mut k = *key;
    let mut last_hash = [0u8; 32];
    for (e, (&(si, st, en), digest)) in seals.iter().zip(&digests).enumerate() {
        let line = &data[si][st..en];
        let Some((stored, computed)) = record::line_hashes(line) else {
            return Ok(None);
        };
        let Ok(r) = record::parse(line) else {
            return Ok(None);
        };
        if stored != computed || r.kind != Kind::Seal {
            return Ok(None);
        }
        let (Some(epoch), Some(first_seq), Some(range), Some(mac)) = (
            r.u64("epoch"),
            r.u64("first_seq"),
            r.str("range"),
            r.str("mac"),
        ) else {
            return Ok(None);
        };
        if epoch != e as u64 || first_seq != expected_first || hex32(digest) != range {
            return Ok(None);
        }
        // The digest proves the epoch's bytes are the sealed ones; check that the seal sits
        // right after the epoch's last record: its seq and its hash.
        let Some(&(ls, lf, lt)) = epochs[e].last() else {
            return Ok(None);
        };
        let body = &data[ls][lf..lt - 1];
        let last = &body[memchr::memrchr(b'\n', body).map_or(0, |p| p + 1)..];
        match (record::line_hashes(last), head_seq(last)) {
            (Some((h, _)), Some(seq)) if hex32(&h) == r.prev && seq + 1 == r.seq => {}
            _ => return Ok(None),
        }
        let Some(&(fs, ff, _)) = epochs[e].first() else {
            return Ok(None);
        };
        if head_seq(&data[fs][ff..]) != Some(first_seq) {
            return Ok(None);
        }
        let want = keys::seal_mac(
            &k,
            &SealInput {
                epoch,
                seq: r.seq,
                head: &r.prev,
                first_seq,
                range,
            },
        );
        if hex32(&want) != mac {
            return Ok(None);
        }
        k = keys::ratchet(&k);
        expected_first = r.seq + 1;
        last_hash = stored;
        v.report.seals_verified += 1;
    }
    let &(si, _, en) = seals.last().expect("seals is not empty");
    v.report.segments = si + 1;
    v.report.records = expected_first - 1;
    v.report.first_seq = Some(1);
    v.report.last_seq = Some(expected_first - 1);
    v.report.last_seal_seq = Some(expected_first - 1);
    v.last_segment = Some(segs[si].0);
    v.prev_hash = Some(last_hash);
    v.range = Some(blake3::Hasher::new());
    v.epoch_first_seq = Some(expected_first);
    v.next_epoch = Some(seals.len() as u64);
    v.epoch_key = Some((seals.len() as u64, k));
    v.sealed = init
        .data
        .get("sealed")
        .and_then(|s| s.as_bool())
        .unwrap_or(false);
    v.epoch_records = init.u64("epoch_records");
    let line0 = memchr::memchr_iter(b'\n', &data[si][..=en]).count() as u64;
    let n = segs.len();
    v.segment_from(segs[si].0, &data[si], en + 1, line0, si + 1 == n);
    for (i, (num, _)) in segs.iter().enumerate().skip(si + 1) {
        if v.report.problem.is_some() {
            break;
        }
        v.segment_from(*num, &data[i], 0, 0, i + 1 == n);
    }
    Ok(Some(v))
}

/// The `seq` of a canonical record line.
fn head_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"v\":1,\"seq\":")?;
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..n]).ok()?.parse().ok()
}

/// Seal lines of one segment as (start, end-without-newline); `None` if one is unterminated.
fn find_seals(d: &[u8]) -> Option<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    for m in memchr::memmem::find_iter(d, SEAL_MARK) {
        let start = memchr::memrchr(b'\n', &d[..m]).map_or(0, |p| p + 1);
        if kind_offset(&d[start..]) != Some(m - start) {
            continue;
        }
        out.push((start, m + memchr::memchr(b'\n', &d[m..])?));
    }
    Some(out)
}

type Seals = Option<Vec<(usize, usize)>>;

/// Offset of `,"kind":"` in a canonical record line, if the line has the canonical head
/// `{"v":N,"seq":N,"time":"...","host":"..."`.
pub(crate) fn kind_offset(line: &[u8]) -> Option<usize> {
    let mut i = b"{\"v\":".len();
    if !line.starts_with(b"{\"v\":") {
        return None;
    }
    i += line[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = line.get(i..)?;
    if !rest.starts_with(b",\"seq\":") {
        return None;
    }
    i += 7;
    i += line[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    for field in [&b",\"time\":\""[..], &b",\"host\":\""[..]] {
        if !line.get(i..)?.starts_with(field) {
            return None;
        }
        i += field.len();
        // Skip the string body, honouring backslash escapes.
        loop {
            match *line.get(i)? {
                b'\\' => i += 2,
                b'"' => {
                    i += 1;
                    break;
                }
                _ => i += 1,
            }
        }
    }
    Some(i)
}

/// Reads every segment and finds its seals, on two threads.
fn read_all(segs: &[(u64, PathBuf)]) -> Result<(Vec<Vec<u8>>, Vec<Seals>), JournalError> {
    let read = |p: &PathBuf| {
        std::fs::read(p)
            .map(|d| {
                let s = find_seals(&d);
                (d, s)
            })
            .map_err(JournalError::io("read segment", p))
    };
    let (even, odd) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            segs.iter()
                .skip(1)
                .step_by(2)
                .map(|(_, p)| read(p))
                .collect::<Vec<_>>()
        });
        let even: Vec<_> = segs.iter().step_by(2).map(|(_, p)| read(p)).collect();
        (even, h.join())
    });
    let odd = odd.map_err(|_| JournalError::Usage("segment reader thread panicked".into()))?;
    let (mut data, mut seals) = (
        Vec::with_capacity(segs.len()),
        Vec::with_capacity(segs.len()),
    );
    let (mut e, mut o) = (even.into_iter(), odd.into_iter());
    for i in 0..segs.len() {
        let next = if i % 2 == 0 { e.next() } else { o.next() };
        let (d, s) =
            next.ok_or_else(|| JournalError::Usage("segment reader lost a file".into()))??;
        data.push(d);
        seals.push(s);
    }
    Ok((data, seals))
}

/// BLAKE3 of each epoch, on two threads.
fn digest_epochs(data: &[Vec<u8>], epochs: &[Vec<(usize, usize, usize)>]) -> Vec<[u8; 32]> {
    let one = |slices: &Vec<(usize, usize, usize)>| {
        let mut h = blake3::Hasher::new();
        for &(seg, from, to) in slices {
            h.update(&data[seg][from..to]);
        }
        *h.finalize().as_bytes()
    };
    let total: usize = epochs.iter().flatten().map(|(_, f, t)| t - f).sum();
    let mut acc = 0;
    let split = epochs
        .iter()
        .position(|e| {
            acc += e.iter().map(|(_, f, t)| t - f).sum::<usize>();
            acc * 2 >= total
        })
        .map_or(epochs.len(), |p| p + 1);
    let (a, b) = epochs.split_at(split);
    std::thread::scope(|s| {
        let h = s.spawn(|| b.iter().map(one).collect::<Vec<_>>());
        let mut out: Vec<_> = a.iter().map(one).collect();
        match h.join() {
            Ok(rest) => out.extend(rest),
            Err(_) => out.extend(b.iter().map(one)),
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_offset_skips_escaped_host() {
        let l = br#"{"v":1,"seq":12,"time":"2026-01-01T00:00:00.000000Z","host":"a\",\"kind\":\"seal\"","kind":"note","data":{"kind":"seal"}}"#;
        let off = kind_offset(l).unwrap();
        assert!(l[off..].starts_with(b",\"kind\":\"note\""));
        assert_eq!(kind_offset(b"{\"v\":1,\"seq\":"), None);
        assert_eq!(kind_offset(b"garbage"), None);
    }
}
