//! Retention: removing whole old segments by age or total size, journaled as a
//! `retention` record so that verification knows where the chain legitimately starts.

use std::time::SystemTime;

use crate::JournalError;
use crate::entry::{Entry, Kind};
use crate::segment::{self, list_segments};
use crate::writer::Writer;

/// Removes segments the options say to drop. Never removes the current segment or the one
/// where the current sealing epoch begins. Returns the record to append, if any were removed.
pub(crate) fn apply(w: &Writer) -> Result<Option<Entry>, JournalError> {
    if w.opts.retain_max_age.is_none() && w.opts.retain_max_bytes.is_none() {
        return Ok(None);
    }
    let keep_from = w
        .epoch_start_segment()
        .unwrap_or(u64::MAX)
        .min(w.current_segment());
    let segs = list_segments(&w.dir)?;
    let mut sizes = Vec::with_capacity(segs.len());
    for (n, p) in &segs {
        let m = std::fs::metadata(p).map_err(JournalError::io("stat segment", p))?;
        sizes.push((
            *n,
            p.clone(),
            m.len(),
            m.modified().unwrap_or(SystemTime::now()),
        ));
    }
    let mut total: u64 = sizes.iter().map(|s| s.2).sum();
    let now = SystemTime::now();
    let mut removed = Vec::new();
    let mut through = None;
    for (n, p, len, mtime) in &sizes {
        if *n >= keep_from {
            break;
        }
        let too_old = w
            .opts
            .retain_max_age
            .is_some_and(|a| now.duration_since(*mtime).is_ok_and(|age| age > a));
        let too_big = w.opts.retain_max_bytes.is_some_and(|b| total > b);
        if !too_old && !too_big {
            break;
        }
        if let Some(last) = segment::read_tail(p)?.last {
            through = Some((last.seq, last.hash));
        }
        std::fs::remove_file(p).map_err(JournalError::io("remove old segment", p))?;
        total -= len;
        removed.push(segment::segment_name(*n));
    }
    if removed.is_empty() {
        return Ok(None);
    }
    segment::sync_dir(&w.dir)?;
    tracing::info!(segments = removed.len(), "retention removed old segments");
    let mut e = Entry::new(Kind::Retention).with("removed", &removed);
    if let Some((seq, hash)) = through {
        e = e.with("through_seq", seq).with("through_hash", hash);
    }
    Ok(Some(e))
}
