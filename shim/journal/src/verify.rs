//! Verification: the hash chain, sequence numbers, segment continuity, seals.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::JournalError;
use crate::keys::{self, KeyState, SealInput};
use crate::record::{self, ZERO_HASH, hex32, parse_hex32};
use crate::segment::{self, list_segments, segment_name};

/// Runs of more records than the journal's epoch size plus this without a seal are reported
/// as missing seals (writers recovering from a crash may add a few records before sealing).
const SEAL_SLACK: u64 = 16;

/// Where verification failed and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Segment file name.
    pub segment: String,
    /// 1-based line in the segment (0: the segment as a whole).
    pub line: u64,
    /// Sequence number of the bad record, when it could be read.
    pub seq: Option<u64>,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}", self.segment, self.line)?;
        if let Some(s) = self.seq {
            write!(f, " (seq {s})")?;
        }
        write!(f, ": {}", self.what)
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub segments: usize,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Seals whose MAC was checked with the verification key.
    pub seals_verified: u64,
    /// Seals seen but not MAC-checked (no key given).
    pub seals_unchecked: u64,
    /// Sequence number of the last seal seen.
    pub last_seal_seq: Option<u64>,
    /// A partial record at the end of the newest segment (a crash); the next writer cuts it off.
    pub torn_tail: Option<Problem>,
    /// Things worth knowing that are not failures (gaps, retention, unchecked parts).
    pub notes: Vec<String>,
    /// The first thing wrong, if any.
    pub problem: Option<Problem>,
    /// Sealed epochs were checked in bulk (range digest + MAC) instead of record by record.
    #[serde(default)]
    pub bulk: bool,
}

impl VerifyReport {
    /// No problem found.
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

#[derive(Deserialize)]
struct Light<'a> {
    v: u32,
    seq: u64,
    #[serde(borrow)]
    kind: &'a str,
    #[serde(borrow)]
    prev: &'a str,
}

#[derive(Deserialize)]
struct SealData {
    epoch: u64,
    first_seq: u64,
    range: String,
    mac: String,
}

#[derive(Deserialize)]
struct RetentionData {
    through_seq: Option<u64>,
    through_hash: Option<String>,
}

#[derive(Deserialize)]
struct InitData {
    sealed: Option<bool>,
    epoch_records: Option<u64>,
}

#[derive(Deserialize)]
struct Full<T> {
    data: T,
}

/// Reads `v`, `seq`, `kind` and `prev` from a line in the canonical layout without a JSON
/// parser (the hash covers the exact bytes, so the layout is the writer's).
fn canonical(line: &[u8]) -> Option<Light<'_>> {
    let k = crate::fastverify::kind_offset(line)? + b",\"kind\":\"".len();
    let klen = memchr::memchr(b'"', line.get(k..)?)?;
    let kind = std::str::from_utf8(&line[k..k + klen]).ok()?;
    let rest = line.strip_prefix(b"{\"v\":")?;
    let vlen = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let v = std::str::from_utf8(&rest[..vlen]).ok()?.parse().ok()?;
    let rest = rest[vlen..].strip_prefix(b",\"seq\":")?;
    let slen = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let seq = std::str::from_utf8(&rest[..slen]).ok()?.parse().ok()?;
    let end = line.len().checked_sub(record::HASH_SUFFIX_LEN)?;
    let pstart = end.checked_sub(64 + 1)?;
    if line.get(pstart.checked_sub(9)?..pstart)? != b",\"prev\":\"" || line[end - 1] != b'"' {
        return None;
    }
    let prev = std::str::from_utf8(&line[pstart..end - 1]).ok()?;
    Some(Light { v, seq, kind, prev })
}

fn is_seal_line(line: &[u8]) -> bool {
    crate::fastverify::kind_offset(line)
        .is_some_and(|k| line[k..].starts_with(b",\"kind\":\"seal\""))
}

/// Stored and recomputed hash of every line of `bytes` (None for malformed lines), using
/// two threads for large inputs.
fn line_hashes_parallel(bytes: &[u8]) -> Vec<Option<([u8; 32], [u8; 32])>> {
    let hash_all = |b: &[u8]| -> Vec<Option<([u8; 32], [u8; 32])>> {
        b.split_inclusive(|c| *c == b'\n')
            .map(|l| record::line_hashes(l.strip_suffix(b"\n").unwrap_or(l)))
            .collect()
    };
    if bytes.len() < 1 << 20 {
        return hash_all(bytes);
    }
    let mid = memchr::memchr(b'\n', &bytes[bytes.len() / 2..])
        .map_or(bytes.len(), |p| bytes.len() / 2 + p + 1);
    let (a, b) = bytes.split_at(mid);
    std::thread::scope(|s| {
        let h = s.spawn(|| hash_all(b));
        let mut out = hash_all(a);
        match h.join() {
            Ok(rest) => out.extend(rest),
            Err(_) => out.extend(hash_all(b)),
        }
        out
    })
}

/// Verifies the journal in `dir`. With `key` (the initial verification key) seals are
/// MAC-checked; without it only the chain and the unkeyed parts of seals are.
pub fn verify(dir: &Path, key: Option<&[u8; 32]>) -> Result<VerifyReport, JournalError> {
    // The key state first: a writer sealing while we read then only adds to what we read.
    let state = keys::load_readonly(dir).unwrap_or(None);
    let segs = list_segments(dir)?;
    if let Some(k) = key
        && let Some(v) = crate::fastverify::sealed_epochs(&segs, k)?
    {
        return Ok(v.finish(state.as_ref()));
    }
    verify_segments(state, key, segs)
}

/// Record-by-record verification (also used to locate a problem the fast path saw).
pub fn verify_slow(
    dir: &Path,
    key: Option<&[u8; 32]>,
    segs: Vec<(u64, std::path::PathBuf)>,
) -> Result<VerifyReport, JournalError> {
    verify_segments(keys::load_readonly(dir).unwrap_or(None), key, segs)
}

fn verify_segments(
    state: Option<KeyState>,
    key: Option<&[u8; 32]>,
    segs: Vec<(u64, std::path::PathBuf)>,
) -> Result<VerifyReport, JournalError> {
    let mut v = Verifier::new(key.copied());
    let n = segs.len();
    for (i, (num, path)) in segs.into_iter().enumerate() {
        let bytes = std::fs::read(&path).map_err(JournalError::io("read segment", &path))?;
        v.segment(num, &bytes, i + 1 == n);
        if v.report.problem.is_some() {
            break;
        }
    }
    Ok(v.finish(state.as_ref()))
}

/// Verifies segments given as bytes, in order (`(number, contents)`). Never panics.
pub fn verify_bytes(segments: &[(u64, Vec<u8>)], key: Option<&[u8; 32]>) -> VerifyReport {
    let mut v = Verifier::new(key.copied());
    for (i, (num, bytes)) in segments.iter().enumerate() {
        v.segment(*num, bytes, i + 1 == segments.len());
        if v.report.problem.is_some() {
            break;
        }
    }
    v.finish(None)
}

pub(crate) struct Verifier {
    pub(crate) key: Option<[u8; 32]>,
    /// (epoch, key of that epoch) last derived.
    pub(crate) epoch_key: Option<(u64, [u8; 32])>,
    pub(crate) report: VerifyReport,
    pub(crate) last_segment: Option<u64>,
    pub(crate) prev_hash: Option<[u8; 32]>,
    /// The journal starts mid-way (retention): (seq before the first, its hash) to be
    /// confirmed by a retention record.
    pub(crate) anchor: Option<(u64, String, Problem)>,
    /// Running digest of the current epoch's lines; None when the epoch began before the
    /// first record we have.
    pub(crate) range: Option<blake3::Hasher>,
    pub(crate) epoch_first_seq: Option<u64>,
    pub(crate) next_epoch: Option<u64>,
    pub(crate) since_seal: u64,
    pub(crate) epoch_records: Option<u64>,
    pub(crate) sealed: bool,
}

impl Verifier {
    pub(crate) fn new(key: Option<[u8; 32]>) -> Verifier {
        Verifier {
            key,
            epoch_key: None,
            report: VerifyReport::default(),
            last_segment: None,
            prev_hash: None,
            anchor: None,
            range: None,
            epoch_first_seq: None,
            next_epoch: None,
            since_seal: 0,
            epoch_records: None,
            sealed: false,
        }
    }

    fn segment(&mut self, num: u64, bytes: &[u8], newest: bool) {
        self.segment_from(num, bytes, 0, 0, newest);
    }

    /// Checks the lines of segment `num` from byte `start` (line `line0` + 1) on. With
    /// `start > 0` the segment was already counted (the fast path verified its beginning).
    pub(crate) fn segment_from(
        &mut self,
        num: u64,
        bytes: &[u8],
        start: usize,
        line0: u64,
        newest: bool,
    ) {
        let name = segment_name(num);
        if start == 0 {
            self.report.segments += 1;
        }
        if start > 0 {
            // continuing a segment already counted
        } else if let Some(prev) = self.last_segment
            && num != prev + 1
        {
            self.fail(
                &name,
                0,
                None,
                format!(
                    "segment {} missing ({} is followed by {name})",
                    segment_name(prev + 1),
                    segment_name(prev)
                ),
            );
            return;
        }
        self.last_segment = Some(num);
        let hashes = line_hashes_parallel(&bytes[start..]);
        let mut pos = start;
        let mut line_no = line0;
        // Bytes from here up to `pos` still go into the epoch's range digest.
        let mut range_from = start;
        let mut idx = 0;
        while pos < bytes.len() {
            line_no += 1;
            let (line, next, complete) = match memchr::memchr(b'\n', &bytes[pos..]) {
                Some(i) => (&bytes[pos..pos + i], pos + i + 1, true),
                None => (&bytes[pos..], bytes.len(), false),
            };
            let pre = hashes.get(idx).copied().flatten();
            idx += 1;
            let seal_line = is_seal_line(line);
            if seal_line {
                if let Some(h) = self.range.as_mut() {
                    h.update(&bytes[range_from..pos]);
                }
                range_from = next;
            }
            let is_seal = match self.line(line, pre, &name, line_no) {
                Ok(s) => s,
                Err(what) => {
                    let rest_unparseable = bytes[next..]
                        .split(|b| *b == b'\n')
                        .all(|l| l.is_empty() || record::parse(l).is_err());
                    let torn =
                        newest && rest_unparseable && (!complete || record::parse(line).is_err());
                    let p = Problem {
                        segment: name.clone(),
                        line: line_no,
                        seq: None,
                        what,
                    };
                    if torn {
                        self.report.torn_tail = Some(Problem {
                            what: format!(
                                "torn record after a crash ({} bytes): {}",
                                bytes.len() - pos,
                                p.what
                            ),
                            ..p
                        });
                    } else {
                        self.report.problem = Some(p);
                    }
                    return;
                }
            };
            if self.report.problem.is_some() {
                return;
            }
            if !complete && !newest {
                self.fail(
                    &name,
                    line_no,
                    self.report.last_seq,
                    "last record lacks its newline in a segment that is not the newest: segment truncated".into(),
                );
                return;
            }
            if !complete {
                // A complete, valid record without its newline: the write was cut just short.
                self.report.torn_tail = Some(Problem {
                    segment: name.clone(),
                    line: line_no,
                    seq: self.report.last_seq,
                    what: "last record lacks its newline (crash during write)".into(),
                });
            }
            if is_seal != seal_line {
                self.fail(
                    &name,
                    line_no,
                    self.report.last_seq,
                    "malformed seal record".into(),
                );
                return;
            }
            pos = next;
        }
        if let Some(h) = self.range.as_mut() {
            h.update(&bytes[range_from..]);
        }
    }

    /// Checks one line; on failure returns what is wrong (the caller adds the location).
    /// Returns whether the line is a seal.
    fn line(
        &mut self,
        line: &[u8],
        pre: Option<([u8; 32], [u8; 32])>,
        seg: &str,
        line_no: u64,
    ) -> Result<bool, String> {
        let (stored, computed) = match pre {
            Some(h) => h,
            None => record::line_hashes(line).ok_or("malformed record: no trailing hash field")?,
        };
        let light: Light<'_> = match canonical(line) {
            Some(l) => l,
            None => serde_json::from_slice(line).map_err(|e| format!("malformed record: {e}"))?,
        };
        if light.v != record::SCHEMA_VERSION {
            return Err(format!("unsupported schema version {}", light.v));
        }
        let seq = light.seq;
        let here = |what: String| Problem {
            segment: seg.to_string(),
            line: line_no,
            seq: Some(seq),
            what,
        };
        if stored != computed {
            self.report.problem = Some(here(
                "hash mismatch: the record was edited after it was written".into(),
            ));
            return Ok(false);
        }
        let prev = parse_hex32(light.prev.as_bytes()).ok_or("malformed record: prev is not hex")?;
        match (self.report.last_seq, self.prev_hash) {
            (Some(last), Some(ph)) => {
                if seq != last + 1 {
                    let what = if seq <= last {
                        format!("seq {seq} after seq {last}: records reordered or duplicated")
                    } else {
                        format!(
                            "seq {seq} after seq {last}: {} record(s) deleted",
                            seq - last - 1
                        )
                    };
                    self.report.problem = Some(here(what));
                    return Ok(false);
                }
                if prev != ph {
                    self.report.problem = Some(here(format!(
                        "prev does not match the hash of seq {last}: record inserted or replaced"
                    )));
                    return Ok(false);
                }
            }
            _ => {
                self.report.first_seq = Some(seq);
                if seq == 1 && prev == ZERO_HASH {
                    self.range = Some(blake3::Hasher::new());
                    self.epoch_first_seq = Some(1);
                    self.next_epoch = Some(0);
                } else {
                    self.anchor = Some((
                        seq.saturating_sub(1),
                        hex32(&prev),
                        here(format!(
                            "journal starts at seq {seq} but no retention record covers the earlier records: segments dropped"
                        )),
                    ));
                    self.report.notes.push(format!(
                        "journal starts at seq {seq}; the epoch in progress there is not range-checked"
                    ));
                }
            }
        }
        self.report.records += 1;
        self.report.last_seq = Some(seq);
        self.prev_hash = Some(stored);
        self.since_seal += 1;
        match light.kind {
            "seal" => self.seal(line, seq, &hex32(&prev), here)?,
            "retention" => {
                let d: Full<RetentionData> = serde_json::from_slice(line)
                    .map_err(|e| format!("malformed retention record: {e}"))?;
                if let Some((s, h, _)) = &self.anchor
                    && d.data.through_seq == Some(*s)
                    && d.data.through_hash.as_deref() == Some(h.as_str())
                {
                    self.anchor = None;
                }
                self.report.notes.push(format!(
                    "seq {seq}: retention removed records through seq {}",
                    d.data.through_seq.unwrap_or(0)
                ));
            }
            "init" => {
                let d: Full<InitData> = serde_json::from_slice(line)
                    .map_err(|e| format!("malformed init record: {e}"))?;
                self.sealed = d.data.sealed.unwrap_or(false);
                self.epoch_records = d.data.epoch_records;
            }
            "gap" => self
                .report
                .notes
                .push(format!("seq {seq}: gap recorded ({seg} line {line_no})")),
            _ => {}
        }
        if self.key.is_some()
            && self.sealed
            && self.report.problem.is_none()
            && let Some(n) = self.epoch_records
            && self.since_seal > n + SEAL_SLACK
        {
            self.report.problem = Some(here(format!(
                "{} records without a seal (epochs are {n} records): seals removed",
                self.since_seal
            )));
        }
        Ok(light.kind == "seal")
    }

    fn seal(
        &mut self,
        line: &[u8],
        seq: u64,
        head: &str,
        here: impl Fn(String) -> Problem,
    ) -> Result<(), String> {
        let d: Full<SealData> =
            serde_json::from_slice(line).map_err(|e| format!("malformed seal: {e}"))?;
        let s = d.data;
        self.report.last_seal_seq = Some(seq);
        self.since_seal = 0;
        let fail = |me: &mut Verifier, what: String| {
            if me.report.problem.is_none() {
                me.report.problem = Some(here(what));
            }
        };
        if let Some(e) = self.next_epoch
            && s.epoch != e
        {
            fail(
                self,
                format!(
                    "seal for epoch {} where epoch {e} was due: seals removed or forged",
                    s.epoch
                ),
            );
        }
        if let Some(f) = self.epoch_first_seq
            && s.first_seq != f
        {
            fail(
                self,
                format!(
                    "seal covers from seq {} but the epoch began at seq {f}",
                    s.first_seq
                ),
            );
        }
        if let Some(h) = self.range.take() {
            // `segment` adds a line to the digest after checking it, and never adds seals,
            // so the digest covers exactly the epoch's records.
            let got = hex32(h.finalize().as_bytes());
            if got != s.range {
                fail(
                    self,
                    format!(
                        "seal range digest mismatch for epoch {}: records of the epoch were changed",
                        s.epoch
                    ),
                );
            }
        }
        if let Some(k0) = self.key {
            let k = match self.epoch_key {
                Some((e, k)) if e <= s.epoch => {
                    let mut k = k;
                    for _ in e..s.epoch {
                        k = keys::ratchet(&k);
                    }
                    k
                }
                _ => keys::key_for_epoch(&k0, s.epoch),
            };
            self.epoch_key = Some((s.epoch, k));
            let mac = keys::seal_mac(
                &k,
                &SealInput {
                    epoch: s.epoch,
                    seq,
                    head,
                    first_seq: s.first_seq,
                    range: &s.range,
                },
            );
            if hex32(&mac) != s.mac {
                fail(
                    self,
                    format!(
                        "seal MAC invalid for epoch {}: forged or re-chained (not made with this journal's key for that epoch)",
                        s.epoch
                    ),
                );
            } else {
                self.report.seals_verified += 1;
            }
        } else {
            self.report.seals_unchecked += 1;
        }
        self.next_epoch = Some(s.epoch + 1);
        self.epoch_first_seq = Some(seq + 1);
        self.range = Some(blake3::Hasher::new());
        Ok(())
    }

    fn fail(&mut self, seg: &str, line: u64, seq: Option<u64>, what: String) {
        if self.report.problem.is_none() {
            self.report.problem = Some(Problem {
                segment: seg.to_string(),
                line,
                seq,
                what,
            });
        }
    }

    pub(crate) fn finish(mut self, state: Option<&KeyState>) -> VerifyReport {
        if self.report.problem.is_some() {
            return self.report;
        }
        if let Some((_, _, p)) = self.anchor.take() {
            self.report.problem = Some(p);
            return self.report;
        }
        if let Some(st) = state {
            let seg = self
                .last_segment
                .map(segment_name)
                .unwrap_or_else(|| "(none)".into());
            let last = self.report.last_seq.unwrap_or(0);
            if st.epoch > 0
                && (self.report.last_seal_seq != Some(st.start_seq.saturating_sub(1))
                    && last < st.start_seq)
            {
                self.fail(&seg, 0, self.report.last_seq, format!(
                    "journal ends at seq {last} but the key file shows epoch {} sealed at seq {}: records truncated",
                    st.epoch - 1, st.start_seq.saturating_sub(1)));
            } else if last + 1 < st.start_seq {
                self.fail(&seg, 0, self.report.last_seq, format!(
                    "journal ends at seq {last} but the key file shows epoch {} starting at seq {}: records truncated",
                    st.epoch, st.start_seq));
            }
            if let Some(k0) = self.key
                && let Ok(cur) = st.key_bytes(Path::new(segment::KEY_FILE))
                && keys::key_for_epoch(&k0, st.epoch) != cur
            {
                self.fail(
                    segment::KEY_FILE,
                    0,
                    None,
                    format!(
                        "the key file's epoch {} key does not derive from this verification key",
                        st.epoch
                    ),
                );
            }
        }
        if self.key.is_none() && self.report.seals_unchecked > 0 {
            self.report
                .notes
                .push("seal MACs not checked: no verification key given".into());
        }
        self.report
    }
}
