//! Fast verification of sealed epochs with the verification key.
//!
//! A valid seal MAC authenticates the epoch's range digest, and a matching range digest
//! proves that the epoch's bytes are exactly those the sealing writer hashed, so the records
//! inside a sealed epoch need no record-by-record check: each epoch is hashed in bulk (SIMD)
//! while two threads read ahead, and only seals and the unsealed tail are parsed. Anything unexpected returns
//! `None` and [`crate::verify`] falls back to the record-by-record path, which names the
//! first bad record.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::mpsc;

use crate::JournalError;
use crate::entry::Kind;
use crate::keys::{self, SealInput};
use crate::record::{self, ZERO_HASH, hex32};
use crate::verify::Verifier;

const SEAL_MARK: &[u8] = b",\"kind\":\"seal\",";

/// Verifies every sealed epoch in bulk and the tail record by record. `None`: something is
/// off (or there is nothing sealed); use the slow path.
///
/// Two threads read the segments in chunks into reused buffers, this one finds the seals and
/// hashes each epoch as the bytes arrive.
pub(crate) fn sealed_epochs(
    segs: &[(u64, PathBuf)],
    key: &[u8; 32],
) -> Result<Option<Verifier>, JournalError> {
    sealed_epochs_chunked(segs, key, CHUNK)
}

fn sealed_epochs_chunked(
    segs: &[(u64, PathBuf)],
    key: &[u8; 32],
    chunk: usize,
) -> Result<Option<Verifier>, JournalError> {
    if segs.is_empty() || segs.windows(2).any(|w| w[1].0 != w[0].0 + 1) {
        return Ok(None);
    }
    // The chunks to read, in order; two reader threads take every other one.
    let mut plan = Vec::new();
    for (i, (_, path)) in segs.iter().enumerate() {
        let len = std::fs::metadata(path)
            .map_err(JournalError::io("stat segment", path))?
            .len();
        let mut offset = 0u64;
        loop {
            let want = chunk.min((len - offset) as usize);
            let last = offset + want as u64 >= len;
            plan.push((i, offset, want, last));
            offset += want as u64;
            if last {
                break;
            }
        }
    }
    let plan = &plan;
    let outcome = std::thread::scope(|s| {
        let mut readers = Vec::new();
        let mut inputs = Vec::new();
        let mut frees = Vec::new();
        for r in 0..2 {
            let (full_tx, full_rx) = mpsc::sync_channel::<Chunk>(1);
            let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
            for _ in 0..2 {
                let _ = free_tx.send(Vec::new());
            }
            readers.push(s.spawn(move || read_chunks(segs, plan, r, chunk, full_tx, free_rx)));
            inputs.push(full_rx);
            frees.push(free_tx);
        }
        let mut st = Stream::new(*key);
        let mut ok = true;
        for k in 0..plan.len() {
            let Ok(c) = inputs[k % 2].recv() else {
                ok = false;
                break;
            };
            if ok && !st.chunk(&c) {
                ok = false;
            }
            let _ = frees[k % 2].send(c.data);
        }
        drop(inputs);
        drop(frees);
        let mut read = Ok(());
        for h in readers {
            let r = h.join().unwrap_or_else(|_| {
                Err(JournalError::Usage("segment reader thread panicked".into()))
            });
            if read.is_ok() {
                read = r;
            }
        }
        read.map(|()| ok.then_some(st))
    })?;
    let Some(st) = outcome else { return Ok(None) };
    let (Some(init), Some((si, off, seal_seq, seal_hash))) = (st.init, st.last_seal) else {
        return Ok(None);
    };
    let Some(seg_first) = st.seg_first_seq.get(si).copied().flatten() else {
        return Ok(None);
    };
    let mut v = Verifier::new(Some(*key));
    v.report.bulk = true;
    v.report.segments = si;
    v.report.records = seal_seq;
    v.report.first_seq = Some(1);
    v.report.last_seq = Some(seal_seq);
    v.report.last_seal_seq = Some(seal_seq);
    v.report.seals_verified = st.epoch;
    v.last_segment = si.checked_sub(1).map(|p| segs[p].0);
    v.prev_hash = Some(seal_hash);
    v.range = Some(blake3::Hasher::new());
    v.epoch_first_seq = Some(seal_seq + 1);
    v.next_epoch = Some(st.epoch);
    v.epoch_key = Some((st.epoch, st.key));
    v.sealed = init.0;
    v.epoch_records = init.1;
    // The tail: from just after the last seal, record by record.
    let n = segs.len();
    for (i, (num, path)) in segs.iter().enumerate().skip(si) {
        if v.report.problem.is_some() {
            break;
        }
        let mut f = std::fs::File::open(path).map_err(JournalError::io("open segment", path))?;
        let from = if i == si { off } else { 0 };
        f.seek(SeekFrom::Start(from))
            .map_err(JournalError::io("seek segment", path))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(JournalError::io("read segment", path))?;
        let line0 = if i == si {
            match (seal_seq + 1).checked_sub(seg_first) {
                Some(l) => l,
                None => return Ok(None),
            }
        } else {
            0
        };
        if i == si {
            v.last_segment = si.checked_sub(1).map(|p| segs[p].0);
            if si == 0 {
                v.last_segment = None;
            }
        }
        v.segment_from(*num, &bytes, 0, line0, i + 1 == n);
    }
    Ok(Some(v))
}

const CHUNK: usize = 1 << 20;

struct Chunk {
    seg: usize,
    /// Offset of `data` in the segment.
    offset: u64,
    /// A reused buffer; the chunk is `data[..len]`.
    data: Vec<u8>,
    len: usize,
    /// Last chunk of its segment.
    last: bool,
}

/// Reads the chunks `plan[k]` with `k % 2 == part` into reused buffers, in order.
fn read_chunks(
    segs: &[(u64, PathBuf)],
    plan: &[(usize, u64, usize, bool)],
    part: usize,
    chunk_size: usize,
    out: mpsc::SyncSender<Chunk>,
    free: mpsc::Receiver<Vec<u8>>,
) -> Result<(), JournalError> {
    use std::os::unix::fs::FileExt;
    let mut open: Option<(usize, std::fs::File)> = None;
    for &(seg, offset, want, last) in plan.iter().skip(part).step_by(2) {
        let path = &segs[seg].1;
        if open.as_ref().is_none_or(|(i, _)| *i != seg) {
            let f = std::fs::File::open(path).map_err(JournalError::io("open segment", path))?;
            open = Some((seg, f));
        }
        let (_, f) = open.as_ref().expect("opened above");
        let Ok(mut buf) = free.recv() else {
            return Ok(());
        };
        if buf.len() < want {
            // Zeroed once per buffer; later chunks reuse it without clearing.
            buf.resize(chunk_size.max(want), 0);
        }
        let mut got = 0;
        while got < want {
            match f.read_at(&mut buf[got..want], offset + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(JournalError::io("read segment", path)(e)),
            }
        }
        let chunk = Chunk {
            seg,
            offset,
            data: buf,
            len: got,
            last,
        };
        if out.send(chunk).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// State of the streaming pass.
struct Stream {
    key: [u8; 32],
    /// Seals verified so far (= the current epoch number).
    epoch: u64,
    hasher: blake3::Hasher,
    expected_first: u64,
    need_first: bool,
    /// Stored hash and seq of the last complete line seen.
    last_line: Option<([u8; 32], u64)>,
    /// Partial line carried from the previous chunk of the same segment.
    carry: Vec<u8>,
    carry_offset: u64,
    /// (sealed, epoch_records) from the init record.
    init: Option<(bool, Option<u64>)>,
    /// (segment index, offset after the seal line, seal seq, seal hash).
    last_seal: Option<(usize, u64, u64, [u8; 32])>,
    /// seq of the first record of each segment.
    seg_first_seq: Vec<Option<u64>>,
}

impl Stream {
    fn new(key: [u8; 32]) -> Stream {
        Stream {
            key,
            epoch: 0,
            hasher: blake3::Hasher::new(),
            expected_first: 1,
            need_first: true,
            last_line: None,
            carry: Vec::new(),
            carry_offset: 0,
            init: None,
            last_seal: None,
            seg_first_seq: Vec::new(),
        }
    }

    /// Consumes one chunk; false if anything is off.
    fn chunk(&mut self, c: &Chunk) -> bool {
        if self.seg_first_seq.len() <= c.seg {
            self.seg_first_seq.resize(c.seg + 1, None);
        }
        if c.offset == 0 && !self.carry.is_empty() {
            return false; // a segment before this one ended mid-line
        }
        let d = &c.data[..c.len];
        let mut start = 0;
        if !self.carry.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', d) else {
                self.carry.extend_from_slice(d);
                return !c.last || self.torn_ok(c);
            };
            let mut line = std::mem::take(&mut self.carry);
            line.extend_from_slice(&d[..=nl]);
            let at = self.carry_offset;
            let marks: Vec<usize> = memchr::memmem::find_iter(&line, SEAL_MARK).collect();
            if !self.region(&line, &marks, c.seg, at) {
                return false;
            }
            start = nl + 1;
        }
        let end = memchr::memrchr(b'\n', &d[start..]).map_or(start, |p| start + p + 1);
        // The seal search runs here, not in the reader: reading (copying) is the slower half.
        let marks: Vec<usize> = memchr::memmem::find_iter(&d[start..end], SEAL_MARK).collect();
        if end > start && !self.region(&d[start..end], &marks, c.seg, c.offset + start as u64) {
            return false;
        }
        if end < d.len() {
            self.carry = d[end..].to_vec();
            self.carry_offset = c.offset + end as u64;
            if c.last {
                return self.torn_ok(c);
            }
        }
        true
    }

    /// A partial line at the end of a segment: fine only at the very end (the tail check
    /// reports it as torn); the caller cannot tell here, so leave it to the tail pass.
    fn torn_ok(&mut self, _c: &Chunk) -> bool {
        true
    }

    /// Complete lines (ending in newline) at `offset` of segment `seg`.
    fn region(&mut self, r: &[u8], marks: &[usize], seg: usize, offset: u64) -> bool {
        if offset == 0 {
            self.seg_first_seq[seg] = head_seq(r);
        }
        if self.init.is_none() {
            let first = &r[..memchr::memchr(b'\n', r).unwrap_or(r.len())];
            let Ok(init) = record::parse(first) else {
                return false;
            };
            if init.seq != 1 || init.prev != hex32(&ZERO_HASH) || init.kind != Kind::Init {
                return false;
            }
            let sealed = init
                .data
                .get("sealed")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            self.init = Some((sealed, init.u64("epoch_records")));
        }
        let Some(seals) = seal_lines(r, marks.iter().copied()) else {
            return false;
        };
        let mut pos = 0;
        for (st, en) in seals {
            if st > pos && !self.records(&r[pos..st]) {
                return false;
            }
            if !self.seal(&r[st..en], seg, offset + en as u64 + 1) {
                return false;
            }
            pos = en + 1;
        }
        pos >= r.len() || self.records(&r[pos..])
    }

    /// Record lines inside an epoch: hashed in bulk.
    fn records(&mut self, b: &[u8]) -> bool {
        if self.need_first {
            if head_seq(b) != Some(self.expected_first) {
                return false;
            }
            self.need_first = false;
        }
        self.hasher.update(b);
        let body = &b[..b.len() - 1];
        let last = &body[memchr::memrchr(b'\n', body).map_or(0, |p| p + 1)..];
        match (record::line_hashes(last), head_seq(last)) {
            (Some((h, _)), Some(seq)) => {
                self.last_line = Some((h, seq));
                true
            }
            _ => false,
        }
    }

    fn seal(&mut self, line: &[u8], seg: usize, after: u64) -> bool {
        let Some((stored, computed)) = record::line_hashes(line) else {
            return false;
        };
        let Ok(r) = record::parse(line) else {
            return false;
        };
        let (Some(epoch), Some(first_seq), Some(range), Some(mac)) = (
            r.u64("epoch"),
            r.u64("first_seq"),
            r.str("range"),
            r.str("mac"),
        ) else {
            return false;
        };
        let Some((prev_hash, prev_seq)) = self.last_line else {
            return false;
        };
        let digest = std::mem::take(&mut self.hasher).finalize();
        if stored != computed
            || r.kind != Kind::Seal
            || self.need_first
            || epoch != self.epoch
            || first_seq != self.expected_first
            || prev_seq + 1 != r.seq
            || hex32(&prev_hash) != r.prev
            || hex32(digest.as_bytes()) != range
        {
            return false;
        }
        let want = keys::seal_mac(
            &self.key,
            &SealInput {
                epoch,
                seq: r.seq,
                head: &r.prev,
                first_seq,
                range,
            },
        );
        if hex32(&want) != mac {
            return false;
        }
        self.key = keys::ratchet(&self.key);
        self.epoch += 1;
        self.expected_first = r.seq + 1;
        self.need_first = true;
        self.last_line = Some((stored, r.seq));
        self.last_seal = Some((seg, after, r.seq, stored));
        true
    }
}

/// The `seq` of a canonical record line.
fn head_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"v\":1,\"seq\":")?;
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..n]).ok()?.parse().ok()
}

/// Seal lines as (start, end-without-newline) given the positions of `SEAL_MARK` in `d`;
/// `None` if one is unterminated.
fn seal_lines(d: &[u8], marks: impl Iterator<Item = usize>) -> Option<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    for m in marks {
        let start = memchr::memrchr(b'\n', &d[..m]).map_or(0, |p| p + 1);
        if kind_offset(&d[start..]) != Some(m - start) {
            continue;
        }
        out.push((start, m + memchr::memchr(b'\n', &d[m..])?));
    }
    Some(out)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_offset_skips_escaped_host() {
        let l = br#"{"v":1,"seq":12,"time":"2026-01-01T00:00:00.000000Z","host":"a\",\"kind\":\"seal\"","kind":"note","data":{"kind":"seal"}}"#;
        let off = kind_offset(l).expect("test fixture");
        assert!(l[off..].starts_with(b",\"kind\":\"note\""));
        assert_eq!(kind_offset(b"{\"v\":1,\"seq\":"), None);
        assert_eq!(kind_offset(b"garbage"), None);
        assert_eq!(head_seq(l), Some(12));
    }

    fn journal(n: u64, epoch: u64, seg_bytes: u64) -> (tempfile::TempDir, PathBuf, [u8; 32]) {
        let tmp = tempfile::tempdir().expect("test fixture");
        let dir = tmp.path().join("j");
        let opts = crate::JournalOptions {
            epoch_records: Some(epoch),
            epoch_duration: None,
            max_segment_bytes: seg_bytes,
            ..crate::JournalOptions::default()
        };
        let key = crate::init(&dir, opts.clone())
            .expect("test fixture")
            .unwrap();
        let j = crate::Journal::open(&dir, opts).expect("test fixture");
        for i in 0..n {
            j.append(
                crate::Entry::new(Kind::Note)
                    .with("i", i)
                    .with("pad", "x".repeat((i % 50) as usize)),
            )
            .expect("test fixture");
        }
        drop(j);
        (tmp, dir, keys::parse_key(&key).expect("test fixture"))
    }

    #[test]
    fn any_chunk_size_gives_the_record_by_record_answer() {
        let (_t, dir, key) = journal(120, 7, 4000);
        let segs = crate::segment::list_segments(&dir).expect("test fixture");
        assert!(segs.len() > 3);
        let slow = crate::verify_slow(&dir, Some(&key), segs.clone()).expect("test fixture");
        assert!(slow.ok(), "{slow:?}");
        for chunk in [1, 7, 64, 100, 333, 1000, 4096, 1 << 20] {
            let v = sealed_epochs_chunked(&segs, &key, chunk)
                .expect("test fixture")
                .unwrap_or_else(|| panic!("chunk {chunk}: bulk path not taken"));
            let r = v.finish(None);
            assert!(r.ok(), "chunk {chunk}: {r:?}");
            assert_eq!(
                (
                    r.segments,
                    r.records,
                    r.last_seq,
                    r.seals_verified,
                    r.last_seal_seq
                ),
                (
                    slow.segments,
                    slow.records,
                    slow.last_seq,
                    slow.seals_verified,
                    slow.last_seal_seq
                ),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn any_chunk_size_hands_a_torn_tail_to_the_tail_check() {
        let (_t, dir, key) = journal(40, 6, 3000);
        let segs = crate::segment::list_segments(&dir).expect("test fixture");
        let last = &segs.last().expect("test fixture").1;
        let mut b = std::fs::read(last).expect("test fixture");
        b.extend_from_slice(b"{\"v\":1,\"seq\":99");
        std::fs::write(last, &b).expect("test fixture");
        for chunk in [1, 9, 256, 1 << 20] {
            let r = sealed_epochs_chunked(&segs, &key, chunk)
                .expect("test fixture")
                .expect("test fixture")
                .finish(None);
            assert!(r.ok() && r.torn_tail.is_some(), "chunk {chunk}: {r:?}");
        }
    }

    #[test]
    fn any_chunk_size_rejects_a_changed_byte() {
        let (_t, dir, key) = journal(60, 5, 3000);
        let segs = crate::segment::list_segments(&dir).expect("test fixture");
        let p = &segs[1].1;
        let mut b = std::fs::read(p).expect("test fixture");
        let at = b.len() / 2;
        b[at] = if b[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(p, &b).expect("test fixture");
        for chunk in [1, 13, 500, 1 << 20] {
            assert!(
                sealed_epochs_chunked(&segs, &key, chunk)
                    .expect("test fixture")
                    .is_none(),
                "chunk {chunk}"
            );
        }
    }
}
