//! `vigil audit ...`: clap subcommands and their runner, so the binary adds them in one line:
//! `Audit { #[command(subcommand)] cmd: AuditCommand }` and
//! `vigil_journal::cli::run(cmd, &journal_dir, &mut std::io::stdout())`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::export::{Destination, Format};
use crate::query::{Filter, query, table_row};
use crate::time::parse_time;
use crate::{JournalError, JournalOptions, Kind, render, report};

/// The audit subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuditCommand {
    /// Create the journal if needed and print its initial verification key (once: store it
    /// off this host; it is needed to check seals).
    Init(InitArgs),
    /// Check the hash chain and seals; exit 1 naming the first bad record.
    Verify(VerifyArgs),
    /// List records matching filters (a table, or --json for one record per line).
    Query(QueryArgs),
    /// The auditor's report: management actions by user, container segregation and data
    /// classes, blocked and audited activity over time.
    Report(ReportArgs),
    /// Export records as JSON lines, OCSF or RFC 5424 syslog.
    Export(ExportArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Seal every N records.
    #[arg(long, default_value_t = 10_000)]
    pub epoch_records: u64,
    /// Seal at least every N seconds (checked at the next append).
    #[arg(long, default_value_t = 3600)]
    pub epoch_seconds: u64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The initial verification key (hex) printed by `init`.
    #[arg(long, env = "VIGIL_AUDIT_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Read the verification key from a file.
    #[arg(long, conflicts_with = "key")]
    pub key_file: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Verify an exported JSON-lines file (`vigil audit export` without filters) instead of
    /// the journal directory, e.g. off the host.
    #[arg(long)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    #[arg(long)]
    pub container: Option<String>,
    /// lifecycle, management, decision, gap, seal, attach, detach, retention, init, learn, note
    #[arg(long)]
    pub kind: Option<String>,
    /// Management action (create, start, exec, kill, pause, resume, update, delete).
    #[arg(long)]
    pub action: Option<String>,
    /// Enforcement layer (seccomp, landlock, fanotify, ebpf, ...).
    #[arg(long)]
    pub layer: Option<String>,
    #[arg(long)]
    pub policy: Option<String>,
    /// allow, audit or deny.
    #[arg(long)]
    pub verdict: Option<String>,
    /// Regulated data class.
    #[arg(long)]
    pub class: Option<String>,
    /// RFC 3339 time, a date, or a duration ago (2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub until: Option<String>,
}

impl FilterArgs {
    /// The filter these arguments describe.
    pub fn to_filter(&self) -> Result<Filter, JournalError> {
        let kind = match &self.kind {
            Some(k) => Some(
                Kind::parse(k).ok_or_else(|| JournalError::Usage(format!("unknown kind {k:?}")))?,
            ),
            None => None,
        };
        Ok(Filter {
            container: self.container.clone(),
            kind,
            action: self.action.clone(),
            layer: self.layer.clone(),
            policy: self.policy.clone(),
            verdict: self.verdict.clone(),
            class: self.class.clone(),
            since: self.since.as_deref().map(parse_time).transpose()?,
            until: self.until.as_deref().map(parse_time).transpose()?,
        })
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// One JSON record per line (as stored, hashes included).
    #[arg(long)]
    pub json: bool,
    /// At most N records.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,
    /// `-` (stdout), a file, `unix:PATH`, `unixgram:PATH` or `udp:HOST:PORT`.
    #[arg(long, short, default_value = "-")]
    pub output: String,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs an audit subcommand on the journal in `journal_dir`, writing to `out`. Returns the
/// process exit code (verify: 0 intact, 1 tampered).
pub fn run(
    cmd: AuditCommand,
    journal_dir: &Path,
    out: &mut dyn Write,
) -> Result<i32, JournalError> {
    let w = |e: std::io::Error| JournalError::Io {
        op: "write output",
        path: "stdout".into(),
        source: e,
    };
    match cmd {
        AuditCommand::Init(a) => {
            let opts = JournalOptions {
                epoch_records: Some(a.epoch_records),
                epoch_duration: Some(Duration::from_secs(a.epoch_seconds)),
                ..JournalOptions::default()
            };
            match crate::init(journal_dir, opts)? {
                Some(k) => writeln!(
                    out,
                    "{k}\n\nThis is the journal's verification key. It is shown once and no longer \
                     kept on this host: store it somewhere else (it proves the seals; anyone holding \
                     it can also forge them). Check the journal with `vigil audit verify --key KEY`."
                )
                .map_err(w)?,
                None => writeln!(
                    out,
                    "journal {journal_dir:?} already initialised; its verification key was handed out before"
                )
                .map_err(w)?,
            }
            Ok(0)
        }
        AuditCommand::Verify(a) => {
            let key = match (&a.key, &a.key_file) {
                (Some(k), _) => Some(crate::parse_key(k)?),
                (None, Some(f)) => {
                    let k =
                        std::fs::read_to_string(f).map_err(JournalError::io("read key file", f))?;
                    Some(crate::parse_key(&k)?)
                }
                _ => None,
            };
            let r = match &a.file {
                Some(f) => {
                    let bytes = std::fs::read(f).map_err(JournalError::io("read export", f))?;
                    crate::verify_bytes(&[(1, bytes)], key.as_ref())
                }
                None => crate::verify(journal_dir, key.as_ref())?,
            };
            if a.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string(&r).map_err(JournalError::Json)?
                )
                .map_err(w)?;
            } else {
                print_verify(out, journal_dir, &r, key.is_some()).map_err(w)?;
            }
            Ok(if r.ok() { 0 } else { 1 })
        }
        AuditCommand::Query(a) => {
            let f = a.filter.to_filter()?;
            let recs = query(journal_dir, &f, a.limit)?;
            if !a.json {
                writeln!(
                    out,
                    "{:>8}  {:<19}  {:<10}  {:<16}  what",
                    "seq", "time", "kind", "container"
                )
                .map_err(w)?;
            }
            for r in &recs {
                if a.json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string(r).map_err(JournalError::Json)?
                    )
                    .map_err(w)?;
                } else {
                    writeln!(out, "{}", table_row(r)).map_err(w)?;
                }
            }
            Ok(0)
        }
        AuditCommand::Report(a) => {
            let rep = report::build(journal_dir, &a.filter.to_filter()?)?;
            let text = match a.format {
                ReportFormat::Md => render::markdown(&rep),
                ReportFormat::Html => render::html(&rep),
                ReportFormat::Json => rep.to_json(),
            };
            match &a.output {
                Some(p) => std::fs::write(p, text).map_err(JournalError::io("write report", p))?,
                None => out.write_all(text.as_bytes()).map_err(w)?,
            }
            Ok(0)
        }
        AuditCommand::Export(a) => {
            let f = a.filter.to_filter()?;
            crate::export::export(
                journal_dir,
                &f,
                a.format,
                &Destination::parse(&a.output),
                out,
            )?;
            Ok(0)
        }
    }
}

fn print_verify(
    out: &mut dyn Write,
    dir: &Path,
    r: &crate::VerifyReport,
    keyed: bool,
) -> std::io::Result<()> {
    let status = if r.ok() { "OK" } else { "FAILED" };
    writeln!(out, "journal {}: {status}", dir.display())?;
    writeln!(
        out,
        "  {} segment(s), {} record(s), seq {}..{}",
        r.segments,
        r.records,
        r.first_seq.unwrap_or(0),
        r.last_seq.unwrap_or(0)
    )?;
    if keyed {
        writeln!(out, "  seals: {} verified with the key", r.seals_verified)?;
    } else {
        writeln!(
            out,
            "  seals: {} seen, not checked (no --key)",
            r.seals_unchecked
        )?;
    }
    if let Some(p) = &r.problem {
        writeln!(out, "  first bad record: {p}")?;
    }
    if let Some(t) = &r.torn_tail {
        writeln!(out, "  warning: {t}")?;
    }
    for n in &r.notes {
        writeln!(out, "  note: {n}")?;
    }
    Ok(())
}
