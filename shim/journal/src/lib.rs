//! vigil-journal: the tamper-evident audit journal of vigil.
//!
//! Records are JSON lines in numbered segment files, each chained to the one before by a
//! BLAKE3 hash and, per epoch, sealed with a forward-secure key (see `docs/journal.md`).
//! Several processes append to one chain under an advisory lock. Pure: depends on std, serde,
//! blake3, clap and thiserror only; no nix, libcontainer, aya or libc.
//!
//! ```no_run
//! use vigil_journal::{Caller, Entry, Journal, JournalOptions};
//! # fn main() -> Result<(), vigil_journal::JournalError> {
//! let j = Journal::open(std::path::Path::new("/var/lib/vigil/journal"), JournalOptions::default())?;
//! let seq = j.append(Entry::management("start", "web-1", &Caller::current(), Some("pci"), None))?;
//! # let _ = seq; Ok(()) }
//! ```

pub mod cli;
mod entry;
mod error;
pub mod export;
mod fastverify;
mod keys;
mod options;
pub mod query;
pub mod record;
pub mod render;
pub mod report;
mod retention;
pub mod segment;
pub mod time;
mod verify;
mod writer;

pub use entry::{Caller, Entry, Kind};
pub use error::JournalError;
pub use keys::{KeyState, key_for_epoch, parse_key, ratchet, seal_mac_for_tests};
pub use options::{JournalOptions, SyncPolicy};
pub use query::{Filter, query};
pub use record::Record;
pub use verify::{Problem, VerifyReport, verify, verify_bytes, verify_slow};
pub use writer::{Journal, hostname, init};
