//! Management actions to the audit journal: every `create`, `start`, `run`, `exec`, `kill`,
//! `pause`, `resume`, `update` and `delete`, with the caller, the container, the policy in
//! force and the outcome.
//!
//! The journal is opened before the action, so an unwritable journal stops the action before
//! anything is created (fail closed); the record is appended after it, with its outcome.

use anyhow::Context;
use vigil_journal::{Caller, Entry, Journal, JournalOptions};
use vigil_runtime::Runtime;

pub struct ManagementLog {
    journal: Journal,
}

impl ManagementLog {
    pub fn open(rt: &Runtime) -> anyhow::Result<Self> {
        let dir = &rt.config().journal_dir;
        let journal = Journal::open(dir, JournalOptions::default())
            .with_context(|| format!("cannot open the audit journal {}", dir.display()))?;
        Ok(Self { journal })
    }

    /// Appends the record of `action` on `id`; a failure to append is logged, not returned:
    /// the action already happened and the engine must learn its real outcome.
    pub fn record<T>(
        &self,
        action: &str,
        id: &str,
        policy: Option<(String, String)>,
        result: &anyhow::Result<T>,
    ) {
        let mut entry = Entry::management(
            action,
            id,
            &Caller::current(),
            policy.as_ref().map(|p| p.0.as_str()),
            policy.as_ref().map(|p| p.1.as_str()),
        );
        entry = match result {
            Ok(_) => entry.with("outcome", "ok"),
            Err(e) => entry
                .with("outcome", "error")
                .with("error", format!("{e:#}")),
        };
        if let Err(e) = self.journal.append(entry) {
            tracing::error!(container = %id, action, error = %e, "failed to journal a management action");
        }
    }

    /// A lifecycle record with how the container is segregated (read by `vigil audit report`).
    pub fn lifecycle(
        &self,
        id: &str,
        state: &str,
        facts: serde_json::Map<String, serde_json::Value>,
    ) {
        let mut entry = Entry::lifecycle(id, state);
        for (k, v) in facts {
            entry = entry.with(&k, v);
        }
        if let Err(e) = self.journal.append(entry) {
            tracing::error!(container = %id, state, error = %e, "failed to journal a lifecycle record");
        }
    }
}
