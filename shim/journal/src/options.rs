//! Writer configuration.

use std::time::Duration;

/// When appended records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Write and fsync before `append` returns (the CLI: few records per process).
    EveryAppend,
    /// Keep the journal lock and buffer records; write and fsync when `max_records` are
    /// pending or the oldest pending record is `max_delay` old, whichever comes first. A crash
    /// loses at most that window; other writers wait at most `max_delay` for the lock.
    Batch {
        max_records: usize,
        max_delay: Duration,
    },
}

/// How a journal is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    pub sync: SyncPolicy,
    /// Seal after this many records in an epoch (`None`: no count limit). The epoch options
    /// are fixed when the journal is created (kept in its key file); every writer follows them.
    pub epoch_records: Option<u64>,
    /// Seal when an epoch is this old at the next append (`None`: no time limit).
    pub epoch_duration: Option<Duration>,
    /// Start a new segment once the current one reaches this size.
    pub max_segment_bytes: u64,
    /// Remove whole segments older than this (by modification time).
    pub retain_max_age: Option<Duration>,
    /// Remove the oldest segments while the journal is larger than this.
    pub retain_max_bytes: Option<u64>,
    /// Host name written into records (default: the kernel's hostname).
    pub host: Option<String>,
    /// Create sealing keys when creating a new journal.
    pub sealing: bool,
    /// Give up waiting for the journal lock after this long (`append` then fails with
    /// `JournalError::LockTimeout`).
    pub lock_timeout: Duration,
}

impl Default for JournalOptions {
    /// Safe for the CLI: fsync per append, epochs of 10,000 records or one hour,
    /// 64 MiB segments, no retention.
    fn default() -> Self {
        JournalOptions {
            sync: SyncPolicy::EveryAppend,
            epoch_records: Some(10_000),
            epoch_duration: Some(Duration::from_secs(3600)),
            max_segment_bytes: 64 << 20,
            retain_max_age: None,
            retain_max_bytes: None,
            host: None,
            sealing: true,
            lock_timeout: Duration::from_secs(10),
        }
    }
}

impl JournalOptions {
    /// For the long-running monitor: batches of up to 512 records or 50 ms.
    pub fn daemon() -> Self {
        JournalOptions {
            sync: SyncPolicy::Batch {
                max_records: 512,
                max_delay: Duration::from_millis(50),
            },
            ..JournalOptions::default()
        }
    }
}
