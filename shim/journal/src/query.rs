//! Reading records back: streaming over segments and filtering.

use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

use crate::JournalError;
use crate::entry::Kind;
use crate::record::{self, Record};
use crate::segment::list_segments;
use crate::time::parse_time;

/// Record filters; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub container: Option<String>,
    pub kind: Option<Kind>,
    /// `data.action` of management records.
    pub action: Option<String>,
    /// `data.layer` of decision records (seccomp, landlock, fanotify, ebpf, ...).
    pub layer: Option<String>,
    /// `data.policy`.
    pub policy: Option<String>,
    /// `data.verdict` (allow, audit, deny).
    pub verdict: Option<String>,
    /// A regulated data class: `data.class`, or one of `data.classes`.
    pub class: Option<String>,
    /// Microseconds since the epoch, inclusive.
    pub since: Option<i64>,
    /// Microseconds since the epoch, exclusive.
    pub until: Option<i64>,
}

/// What a filter looks at; implemented for [`Record`] and the report's borrowed view.
pub(crate) trait Fields {
    fn kind(&self) -> Kind;
    fn container(&self) -> Option<&str>;
    /// A string field of `data` (`action`, `policy`, `layer`, `verdict`, `class`).
    fn data_str(&self, key: &str) -> Option<&str>;
    /// `data.class` is `class`, or `data.classes` contains it.
    fn has_class(&self, class: &str) -> bool;
    fn time(&self) -> &str;
}

impl Fields for Record {
    fn kind(&self) -> Kind {
        self.kind
    }
    fn container(&self) -> Option<&str> {
        self.container.as_deref()
    }
    fn data_str(&self, key: &str) -> Option<&str> {
        self.str(key)
    }
    fn has_class(&self, class: &str) -> bool {
        self.str("class") == Some(class)
            || self
                .data
                .get("classes")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(class)))
    }
    fn time(&self) -> &str {
        &self.time
    }
}

impl Filter {
    /// Whether `r` passes.
    pub fn matches(&self, r: &Record) -> bool {
        self.matches_fields(r)
    }

    pub(crate) fn matches_fields(&self, r: &impl Fields) -> bool {
        if self.kind.is_some_and(|k| r.kind() != k) {
            return false;
        }
        if self.container.is_some() && r.container() != self.container.as_deref() {
            return false;
        }
        for (want, key) in [
            (&self.action, "action"),
            (&self.layer, "layer"),
            (&self.policy, "policy"),
            (&self.verdict, "verdict"),
        ] {
            if let Some(w) = want
                && r.data_str(key) != Some(w.as_str())
            {
                return false;
            }
        }
        if let Some(c) = &self.class
            && !r.has_class(c)
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Ok(t) = parse_time(r.time()) else {
                return false;
            };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                return false;
            }
        }
        true
    }
}

/// Calls `each` with every parseable record (and its raw line) in order. Lines that do not
/// parse (a torn tail) are skipped; use [`crate::verify`] to judge integrity. `each` returns
/// `false` to stop.
pub fn for_each_record(
    dir: &Path,
    mut each: impl FnMut(&Record, &[u8]) -> bool,
) -> Result<(), JournalError> {
    for (_, path) in list_segments(dir)? {
        let f = std::fs::File::open(&path).map_err(JournalError::io("open segment", &path))?;
        let mut rd = std::io::BufReader::with_capacity(1 << 20, f);
        let mut line = Vec::with_capacity(1024);
        loop {
            line.clear();
            let n = rd
                .read_until(b'\n', &mut line)
                .map_err(JournalError::io("read segment", &path))?;
            if n == 0 {
                break;
            }
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            if let Ok(r) = record::parse(body)
                && !each(&r, body)
            {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Records matching `filter`, in order, at most `limit`.
pub fn query(
    dir: &Path,
    filter: &Filter,
    limit: Option<usize>,
) -> Result<Vec<Record>, JournalError> {
    let mut out = Vec::new();
    for_each_record(dir, |r, _| {
        if filter.matches(r) {
            out.push(r.clone());
        }
        limit.is_none_or(|l| out.len() < l)
    })?;
    Ok(out)
}

/// One readable table row for a record.
pub fn table_row(r: &Record) -> String {
    let d = |k: &str| r.data.get(k).map(short).unwrap_or_default();
    let what = match r.kind {
        Kind::Management => format!(
            "{} by uid {} pid {} ({}) policy {}",
            d("action"),
            d("uid"),
            d("pid"),
            d("cmdline"),
            d("policy")
        ),
        Kind::Decision => format!(
            "{} {} {} rule {} {}",
            d("layer"),
            d("verdict"),
            d("object"),
            d("rule"),
            d("class")
        ),
        _ => {
            let mut parts: Vec<String> = r
                .data
                .iter()
                .map(|(k, v)| format!("{k}={}", short(v)))
                .collect();
            parts.truncate(6);
            parts.join(" ")
        }
    };
    format!(
        "{:>8}  {}  {:<10}  {:<16}  {}",
        r.seq,
        &r.time[..r.time.len().min(19)],
        r.kind.as_str(),
        r.container.as_deref().unwrap_or("-"),
        what.trim()
    )
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
