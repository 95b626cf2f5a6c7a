//! The writer: one hash chain shared by every process, via an advisory lock.
//!
//! Each append takes the exclusive lock on `journal.lock` (unless this process already holds
//! it for a batch), recovers the chain head from the newest segment if another process wrote
//! since, appends, and (per [`SyncPolicy`]) writes, fsyncs and releases the lock.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::entry::{Entry, Kind};
use crate::keys::{self, KeyState, SealInput};
use crate::options::{JournalOptions, SyncPolicy};
use crate::record::{self, ZERO_HASH, hex32, parse_hex32};
use crate::segment::{self, INITIAL_KEY_FILE, LOCK_FILE, WAIT_FILE, list_segments, segment_name};
use crate::time::{TimeCache, now_micros};
use crate::{JournalError, retention};

/// An open journal. Cheap to share: `append` takes `&self`.
pub struct Journal {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    w: Writer,
    shutdown: bool,
}

pub(crate) struct Writer {
    pub(crate) dir: PathBuf,
    pub(crate) opts: JournalOptions,
    host: String,
    lock: File,
    held: bool,
    seg_no: u64,
    seg: Option<File>,
    /// Bytes of the current segment on disk (excluding `buf`).
    disk_len: u64,
    next_seq: u64,
    prev: [u8; 32],
    keys: Option<KeyState>,
    /// BLAKE3 of this epoch's lines so far, while this process wrote all of them; it has
    /// consumed `buf[..range_from]`.
    range: Option<blake3::Hasher>,
    range_from: usize,
    buf: Vec<u8>,
    pending: usize,
    held_since: Option<Instant>,
    /// (segment, length) when we last released the lock: unchanged means nobody else wrote.
    last_seen: Option<(u64, u64)>,
    /// Records buffered but lost to a failed write, journaled as a gap next time.
    lost: u64,
    clock: TimeCache,
    /// Lock file on which waiting writers hold a shared lock.
    wait: File,
    /// A full batch was just released: let waiting writers in before re-taking the lock.
    yield_pending: bool,
}

impl Journal {
    /// Opens (creating if needed, directory 0700 and files 0600) the journal in `dir`.
    /// A torn last record left by a crash is cut off here (kept in a `.torn` file) and a `gap`
    /// record is appended saying so. A new journal gets sealing keys when `opts.sealing`; its
    /// initial verification key waits in `initial.key` until [`crate::init`] hands it out.
    pub fn open(dir: &Path, opts: JournalOptions) -> Result<Journal, JournalError> {
        segment::ensure_dir(dir)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = segment::open_append(&lock_path)?;
        let wait = segment::open_append(&dir.join(WAIT_FILE))?;
        let host = opts.host.clone().unwrap_or_else(hostname);
        let w = Writer {
            dir: dir.to_path_buf(),
            opts: opts.clone(),
            host,
            lock,
            held: false,
            seg_no: 0,
            seg: None,
            disk_len: 0,
            next_seq: 1,
            prev: ZERO_HASH,
            keys: None,
            range: None,
            range_from: 0,
            buf: Vec::with_capacity(64 * 1024),
            pending: 0,
            held_since: None,
            last_seen: None,
            lost: 0,
            clock: TimeCache::default(),
            wait,
            yield_pending: false,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State { w, shutdown: false }),
            wake: Condvar::new(),
        });
        {
            let mut st = lock_state(&shared)?;
            let res = st.w.acquire().and_then(|_| st.w.flush(true));
            st.w.release();
            res?;
        }
        let flusher = match opts.sync {
            SyncPolicy::Batch { max_delay, .. } => {
                let s = Arc::clone(&shared);
                Some(std::thread::spawn(move || flusher(s, max_delay)))
            }
            SyncPolicy::EveryAppend => None,
        };
        Ok(Journal { shared, flusher })
    }

    /// Appends `entry` and returns its sequence number. With [`SyncPolicy::EveryAppend`] the
    /// record is on disk (fsync'd) when this returns.
    pub fn append(&self, entry: Entry) -> Result<u64, JournalError> {
        let mut st = lock_state(&self.shared)?;
        let was_held = st.w.held;
        let res = st.w.append(&entry);
        if res.is_err() {
            st.w.fail();
        } else if !was_held && st.w.held {
            self.shared.wake.notify_all();
        }
        res
    }

    /// Writes and fsyncs everything pending and releases the lock.
    pub fn flush(&self) -> Result<(), JournalError> {
        let mut st = lock_state(&self.shared)?;
        let res = st.w.flush(true);
        if res.is_err() {
            st.w.fail();
        }
        st.w.release();
        res
    }

    /// Ends the current epoch now (if it has records), writing its seal.
    pub fn seal_now(&self) -> Result<(), JournalError> {
        let mut st = lock_state(&self.shared)?;
        let res =
            st.w.acquire()
                .and_then(|_| st.w.seal())
                .and_then(|_| st.w.flush(true));
        if res.is_err() {
            st.w.fail();
        }
        st.w.release();
        res
    }

    /// The journal directory.
    pub fn dir(&self) -> PathBuf {
        self.shared
            .state
            .lock()
            .map(|s| s.w.dir.clone())
            .unwrap_or_default()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.shutdown = true;
            if let Err(e) = st.w.flush(true) {
                tracing::error!(error = %e, "journal flush on close failed");
            }
            st.w.release();
        }
        self.shared.wake.notify_all();
        if let Some(h) = self.flusher.take() {
            let _ = h.join();
        }
    }
}

fn lock_state(s: &Shared) -> Result<MutexGuard<'_, State>, JournalError> {
    s.state.lock().map_err(|_| JournalError::Poisoned)
}

fn flusher(s: Arc<Shared>, max_delay: std::time::Duration) {
    let Ok(mut st) = s.state.lock() else { return };
    loop {
        if st.shutdown {
            return;
        }
        let wait = match st.w.held_since {
            None => max_delay,
            Some(t) => {
                let age = t.elapsed();
                if age >= max_delay {
                    if let Err(e) = st.w.flush(true) {
                        tracing::error!(error = %e, "journal batch flush failed");
                        st.w.fail();
                    }
                    st.w.release();
                    st.w.yield_pending = true;
                    continue;
                }
                max_delay - age
            }
        };
        st = match s.wake.wait_timeout(st, wait) {
            Ok((g, _)) => g,
            Err(_) => return,
        };
    }
}

/// The kernel's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

impl Writer {
    fn append(&mut self, entry: &Entry) -> Result<u64, JournalError> {
        self.acquire()?;
        if self.epoch_due() {
            self.seal()?;
        }
        if self.disk_len + self.buf.len() as u64 >= self.opts.max_segment_bytes {
            self.rotate()?;
        }
        let seq = self.push(entry);
        let full = match self.opts.sync {
            SyncPolicy::EveryAppend => true,
            // Bound both the batch and how long other writers wait for the lock.
            SyncPolicy::Batch {
                max_records,
                max_delay,
            } => {
                self.pending >= max_records
                    || self.held_since.is_some_and(|t| t.elapsed() >= max_delay)
            }
        };
        if full {
            self.flush(true)?;
            self.release();
            self.yield_pending = matches!(self.opts.sync, SyncPolicy::Batch { .. });
        }
        Ok(seq)
    }

    /// Encodes a record into the buffer; returns its seq.
    fn push(&mut self, entry: &Entry) -> u64 {
        let seq = self.next_seq;
        let time = self.clock.format(now_micros());
        self.prev = record::encode(seq, &time, &self.host, entry, &self.prev, &mut self.buf);
        self.buf.push(b'\n');
        self.next_seq += 1;
        self.pending += 1;
        seq
    }

    fn epoch_due(&self) -> bool {
        let Some(k) = &self.keys else { return false };
        let in_epoch = self.next_seq.saturating_sub(k.start_seq);
        if in_epoch == 0 {
            return false;
        }
        let by_count = k.epoch_records.is_some_and(|n| in_epoch >= n);
        let by_time = k
            .epoch_seconds
            .is_some_and(|d| now_micros() - k.start_time >= d as i64 * 1_000_000);
        by_count || by_time
    }

    /// Waits for the lock at most `opts.lock_timeout` (a stopped or hung writer must not hang
    /// every `vigil` invocation).
    fn take_lock(&mut self) -> Result<(), JournalError> {
        let path = self.dir.join(LOCK_FILE);
        let deadline = Instant::now() + self.opts.lock_timeout;
        // A batching writer that just released the lock lets waiting writers (each `vigil`
        // process announces itself with a shared lock on `journal.wait`) go first: flock does
        // not hand the lock over, and a busy batching writer would otherwise starve them.
        if self.yield_pending {
            self.yield_pending = false;
            loop {
                match self.wait.try_lock() {
                    Ok(()) => {
                        let _ = self.wait.unlock();
                        break;
                    }
                    Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                    Err(_) => break,
                }
            }
        }
        match self.lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(JournalError::io("lock", path)(e)),
        }
        let wait_path = self.dir.join(WAIT_FILE);
        self.wait
            .lock_shared()
            .map_err(JournalError::io("lock", &wait_path))?;
        // Block in the kernel's queue on a helper thread, so that we can stop waiting.
        let res = (|| {
            let clone = self
                .lock
                .try_clone()
                .map_err(JournalError::io("lock", &path))?;
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let got = clone.lock();
                let ok = got.is_ok();
                if tx.send(got).is_err() && ok {
                    // The writer gave up waiting: do not keep the lock.
                    let _ = clone.unlock();
                }
            });
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(JournalError::io("lock", path.clone())(e)),
                Err(_) => Err(JournalError::LockTimeout {
                    path: path.clone(),
                    waited: self.opts.lock_timeout,
                }),
            }
        })();
        let _ = self.wait.unlock();
        res
    }

    /// Takes the lock and makes sure our view of the chain head matches the disk.
    pub(crate) fn acquire(&mut self) -> Result<(), JournalError> {
        if self.held {
            return Ok(());
        }
        self.take_lock()?;
        self.held = true;
        self.held_since = Some(Instant::now());
        let segs = list_segments(&self.dir)?;
        let newest = segs
            .last()
            .map(|(n, p)| (*n, std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)));
        if newest.is_some() && newest == self.last_seen && self.seg.is_some() {
            return Ok(());
        }
        self.recover(&segs)
    }

    fn recover(&mut self, segs: &[(u64, PathBuf)]) -> Result<(), JournalError> {
        self.range = None;
        self.buf.clear();
        self.range_from = 0;
        self.pending = 0;
        let mut gap: Option<Entry> = None;
        if segs.is_empty() {
            self.seg_no = 1;
            self.next_seq = 1;
            self.prev = ZERO_HASH;
        } else {
            let (newest, path) = segs.last().expect("segs is not empty");
            self.seg_no = *newest;
            let tail = segment::read_tail(path)?;
            if tail.torn_bytes() > 0 {
                gap = Some(cut_torn(path, &tail)?);
            }
            let mut last = tail.last;
            for (_, p) in segs.iter().rev().skip(1) {
                if last.is_some() {
                    break;
                }
                last = segment::read_tail(p)?.last;
            }
            match last {
                Some(r) => {
                    self.next_seq = r.seq + 1;
                    self.prev =
                        parse_hex32(r.hash.as_bytes()).ok_or_else(|| JournalError::Corrupt {
                            path: path.clone(),
                            line: 0,
                            reason: "last record's hash is not hex".into(),
                        })?;
                    self.keys = keys::load(&self.dir)?;
                    if r.kind == Kind::Seal
                        && let Some(k) = &self.keys
                        && r.u64("epoch") == Some(k.epoch)
                    {
                        // Sealed, then crashed before the key was ratcheted: finish it.
                        let len = tail.valid_len;
                        self.ratchet_key(len)?;
                    }
                }
                None => {
                    self.next_seq = 1;
                    self.prev = ZERO_HASH;
                }
            }
        }
        let path = self.dir.join(segment_name(self.seg_no));
        let f = segment::open_append(&path)?;
        self.disk_len = f
            .metadata()
            .map_err(JournalError::io("stat segment", &path))?
            .len();
        self.seg = Some(f);
        if segs.is_empty() {
            self.create_new()?;
        } else if self.keys.is_none() {
            self.keys = keys::load(&self.dir)?;
        }
        if let Some(g) = gap {
            self.push(&g);
        }
        if self.lost > 0 {
            let g = Entry::new(Kind::Gap)
                .with("reason", "write failed; buffered records lost")
                .with("records", self.lost);
            self.lost = 0;
            self.push(&g);
        }
        Ok(())
    }

    /// A brand-new journal: sealing keys (if enabled) and an `init` record.
    fn create_new(&mut self) -> Result<(), JournalError> {
        self.keys = keys::load(&self.dir)?;
        if self.keys.is_none() && self.opts.sealing {
            let k0 = keys::random_key()?;
            segment::write_atomic(
                &self.dir.join(INITIAL_KEY_FILE),
                keys::key_hex(&k0).as_bytes(),
            )?;
            let st = KeyState {
                v: 1,
                epoch: 0,
                key: keys::key_hex(&k0),
                start_seq: self.next_seq,
                start_segment: self.seg_no,
                start_offset: self.disk_len,
                start_time: now_micros(),
                epoch_records: self.opts.epoch_records,
                epoch_seconds: self.opts.epoch_duration.map(|d| d.as_secs().max(1)),
            };
            keys::store(&self.dir, &st)?;
            self.keys = Some(st);
            self.range = Some(blake3::Hasher::new());
        }
        let init = Entry::new(Kind::Init)
            .with("schema", record::SCHEMA_VERSION)
            .with("sealed", self.keys.is_some())
            .with("epoch_records", self.opts.epoch_records)
            .with(
                "epoch_seconds",
                self.opts.epoch_duration.map(|d| d.as_secs()),
            );
        self.push(&init);
        Ok(())
    }

    /// Writes a seal for the current epoch and ratchets the key.
    pub(crate) fn seal(&mut self) -> Result<(), JournalError> {
        let Some(k) = self.keys.clone() else {
            return Ok(());
        };
        if self.next_seq == k.start_seq {
            return Ok(());
        }
        let key_path = self.dir.join(segment::KEY_FILE);
        let key = k.key_bytes(&key_path)?;
        self.hash_pending_range();
        let range = match self.range.take() {
            Some(h) => hex32(h.finalize().as_bytes()),
            None => {
                self.flush(false)?;
                self.range_from_disk(&k)?
            }
        };
        let head = hex32(&self.prev);
        let seq = self.next_seq;
        let mac = keys::seal_mac(
            &key,
            &SealInput {
                epoch: k.epoch,
                seq,
                head: &head,
                first_seq: k.start_seq,
                range: &range,
            },
        );
        let e = Entry::new(Kind::Seal)
            .with("epoch", k.epoch)
            .with("first_seq", k.start_seq)
            .with("range", &range)
            .with("mac", hex32(&mac));
        self.push(&e);
        self.range_from = self.buf.len();
        self.flush(true)?;
        let len = self.disk_len;
        self.ratchet_key(len)
    }

    /// Feeds the buffered lines not yet hashed into the epoch's range digest.
    fn hash_pending_range(&mut self) {
        if let Some(h) = self.range.as_mut() {
            h.update(self.buf.get(self.range_from..).unwrap_or_default());
        }
        self.range_from = self.buf.len();
    }

    fn ratchet_key(&mut self, offset: u64) -> Result<(), JournalError> {
        let Some(k) = self.keys.clone() else {
            return Ok(());
        };
        let key = k.key_bytes(&self.dir.join(segment::KEY_FILE))?;
        let next = KeyState {
            v: 1,
            epoch: k.epoch + 1,
            key: keys::key_hex(&keys::ratchet(&key)),
            start_seq: self.next_seq,
            start_segment: self.seg_no,
            start_offset: offset,
            start_time: now_micros(),
            epoch_records: k.epoch_records,
            epoch_seconds: k.epoch_seconds,
        };
        keys::store(&self.dir, &next)?;
        self.keys = Some(next);
        self.range = Some(blake3::Hasher::new());
        Ok(())
    }

    /// BLAKE3 of the epoch's lines as they are on disk (another writer wrote some of them),
    /// read in chunks from where the epoch began.
    fn range_from_disk(&self, k: &KeyState) -> Result<String, JournalError> {
        use std::io::{Read, Seek, SeekFrom};
        let mut h = blake3::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        for (n, p) in list_segments(&self.dir)? {
            if n < k.start_segment || n > self.seg_no {
                continue;
            }
            let mut f = File::open(&p).map_err(JournalError::io("open segment", &p))?;
            if n == k.start_segment {
                f.seek(SeekFrom::Start(k.start_offset))
                    .map_err(JournalError::io("seek segment", &p))?;
            }
            loop {
                let got = f
                    .read(&mut buf)
                    .map_err(JournalError::io("read segment", &p))?;
                if got == 0 {
                    break;
                }
                h.update(&buf[..got]);
            }
        }
        Ok(hex32(h.finalize().as_bytes()))
    }

    fn rotate(&mut self) -> Result<(), JournalError> {
        self.flush(true)?;
        self.seg_no += 1;
        let path = self.dir.join(segment_name(self.seg_no));
        self.seg = Some(segment::open_append(&path)?);
        self.disk_len = 0;
        segment::sync_dir(&self.dir)?;
        if let Some(e) = retention::apply(self)? {
            self.push(&e);
        }
        Ok(())
    }

    /// Writes the buffer to the current segment, fsyncing if `sync`.
    pub(crate) fn flush(&mut self, sync: bool) -> Result<(), JournalError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.hash_pending_range();
        let path = self.dir.join(segment_name(self.seg_no));
        let f = self.seg.as_mut().ok_or_else(|| JournalError::Io {
            op: "write",
            path: path.clone(),
            source: std::io::Error::other("segment not open"),
        })?;
        f.write_all(&self.buf)
            .map_err(JournalError::io("write segment", &path))?;
        if sync {
            f.sync_data()
                .map_err(JournalError::io("fsync segment", &path))?;
        }
        self.disk_len += self.buf.len() as u64;
        self.buf.clear();
        self.range_from = 0;
        self.pending = 0;
        Ok(())
    }

    pub(crate) fn release(&mut self) {
        if !self.held || !self.buf.is_empty() {
            return;
        }
        self.last_seen = Some((self.seg_no, self.disk_len));
        if let Err(e) = self.lock.unlock() {
            tracing::error!(error = %e, "journal unlock failed");
        }
        self.held = false;
        self.held_since = None;
    }

    /// After an error: drop what is buffered (counted as lost) and force recovery next time.
    fn fail(&mut self) {
        self.lost += self.pending as u64;
        self.buf.clear();
        self.range_from = 0;
        self.pending = 0;
        self.last_seen = None;
        self.seg = None;
        self.release();
    }

    pub(crate) fn current_segment(&self) -> u64 {
        self.seg_no
    }

    pub(crate) fn epoch_start_segment(&self) -> Option<u64> {
        self.keys.as_ref().map(|k| k.start_segment)
    }
}

/// Cuts a torn tail off `path`, saving the bytes next to it, and describes it as a gap entry.
fn cut_torn(path: &Path, tail: &segment::Tail) -> Result<Entry, JournalError> {
    let bytes = std::fs::read(path).map_err(JournalError::io("read segment", path))?;
    let torn = bytes.get(tail.valid_len as usize..).unwrap_or_default();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("segment")
        .to_string();
    let saved = format!("{name}.torn-{}", tail.valid_len);
    segment::write_atomic(&path.with_file_name(&saved), torn)?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(JournalError::io("open segment", path))?;
    f.set_len(tail.valid_len)
        .and_then(|_| f.sync_all())
        .map_err(JournalError::io("truncate torn record in", path))?;
    tracing::warn!(segment = %name, offset = tail.valid_len, bytes = torn.len(), "cut torn record");
    Ok(Entry::new(Kind::Gap)
        .with("reason", "torn record after crash cut off")
        .with("segment", &name)
        .with("offset", tail.valid_len)
        .with("bytes", torn.len())
        .with("saved_as", saved))
}

/// Creates the journal in `dir` if needed and hands out the initial verification key, once:
/// the key is returned and its file on the host overwritten and removed. Returns `None` if it
/// was already handed out (or the journal is unsealed).
pub fn init(dir: &Path, opts: JournalOptions) -> Result<Option<String>, JournalError> {
    drop(Journal::open(dir, opts)?);
    let path = dir.join(INITIAL_KEY_FILE);
    let key = match std::fs::read_to_string(&path) {
        Ok(k) => k.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(JournalError::Io {
                op: "read initial key",
                path,
                source: e,
            });
        }
    };
    keys::parse_key(&key)?;
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
        use std::os::unix::fs::FileExt;
        let _ = f
            .write_all_at(&vec![b'0'; key.len()], 0)
            .and_then(|_| f.sync_all());
    }
    std::fs::remove_file(&path).map_err(JournalError::io("remove initial key", &path))?;
    segment::sync_dir(dir)?;
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    #[test]
    fn journal_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<super::Journal>();
    }
}
