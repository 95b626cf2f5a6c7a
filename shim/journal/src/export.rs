//! Export for log pipelines: JSON lines (the records as written, hashes included), OCSF 1.1
//! events, RFC 5424 syslog; to a writer, a file, a unix socket or UDP.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::JournalError;
use crate::entry::Kind;
use crate::query::{Filter, for_each_record};
use crate::record::Record;
use crate::time::parse_time;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The records exactly as stored (verifiable off-host).
    Jsonl,
    /// OCSF 1.1 events, one JSON object per line; the stored record rides in `raw_data`.
    Ocsf,
    /// RFC 5424 syslog lines; the stored record is the message.
    Syslog,
}

/// Where exported lines go, parsed from `-`, a path, `unix:PATH`, `unixgram:PATH` or
/// `udp:HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(std::path::PathBuf),
    Unix(std::path::PathBuf),
    Unixgram(std::path::PathBuf),
    Udp(String),
}

impl Destination {
    /// Parses a destination.
    pub fn parse(s: &str) -> Destination {
        if s == "-" {
            Destination::Stdout
        } else if let Some(p) = s.strip_prefix("unix:") {
            Destination::Unix(p.into())
        } else if let Some(p) = s.strip_prefix("unixgram:") {
            Destination::Unixgram(p.into())
        } else if let Some(a) = s.strip_prefix("udp:") {
            Destination::Udp(a.to_string())
        } else {
            Destination::File(s.into())
        }
    }
}

type Sink<'a> = Box<dyn FnMut(&[u8]) -> std::io::Result<()> + 'a>;

/// Exports the records `filter` selects; returns how many were sent.
pub fn export(
    dir: &Path,
    filter: &Filter,
    format: Format,
    dest: &Destination,
    stdout: &mut dyn Write,
) -> Result<u64, JournalError> {
    let name = format!("{dest:?}");
    let err = |e: std::io::Error| JournalError::Io {
        op: "export to",
        path: name.clone().into(),
        source: e,
    };
    let mut sink: Sink<'_> = match dest {
        Destination::Stdout => Box::new(|l: &[u8]| {
            stdout.write_all(l)?;
            stdout.write_all(b"\n")
        }),
        Destination::File(p) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(JournalError::io("open export file", p))?;
            let mut w = std::io::BufWriter::new(f);
            Box::new(move |l: &[u8]| {
                w.write_all(l)?;
                w.write_all(b"\n")?;
                w.flush()
            })
        }
        Destination::Unix(p) => {
            let mut s = std::os::unix::net::UnixStream::connect(p)
                .map_err(JournalError::io("connect", p))?;
            Box::new(move |l: &[u8]| {
                s.write_all(l)?;
                s.write_all(b"\n")
            })
        }
        Destination::Unixgram(p) => {
            let s = std::os::unix::net::UnixDatagram::unbound().map_err(err)?;
            s.connect(p).map_err(JournalError::io("connect", p))?;
            Box::new(move |l: &[u8]| s.send(l).map(|_| ()))
        }
        Destination::Udp(a) => {
            let s = std::net::UdpSocket::bind("0.0.0.0:0").map_err(err)?;
            s.connect(a).map_err(err)?;
            Box::new(move |l: &[u8]| s.send(l).map(|_| ()))
        }
    };
    let mut n = 0u64;
    let mut failure = None;
    for_each_record(dir, |r, raw| {
        if !filter.matches(r) {
            return true;
        }
        let line = match format {
            Format::Jsonl => raw.to_vec(),
            Format::Ocsf => ocsf(r, raw).to_string().into_bytes(),
            Format::Syslog => syslog(r, raw).into_bytes(),
        };
        match sink(&line) {
            Ok(()) => {
                n += 1;
                true
            }
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    })?;
    match failure {
        Some(e) => Err(err(e)),
        None => Ok(n),
    }
}

/// RFC 5424: `<PRI>1 TIME HOST vigil - KIND [vigil@32473 seq hash prev container] RECORD`.
/// Facility 13 (log audit); severity warning for denials, notice for management, info else.
pub fn syslog(r: &Record, raw: &[u8]) -> String {
    let sev = match (r.kind, r.str("verdict")) {
        (Kind::Decision, Some("deny")) | (Kind::Gap, _) => 4,
        (Kind::Management, _) => 5,
        _ => 6,
    };
    let host: String = r
        .host
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    let mut sd = format!(
        "[vigil@32473 seq=\"{}\" hash=\"{}\" prev=\"{}\"",
        r.seq, r.hash, r.prev
    );
    if let Some(c) = &r.container {
        sd.push_str(&format!(" container=\"{}\"", sd_escape(c)));
    }
    sd.push(']');
    format!(
        "<{}>1 {} {} vigil - {} {} {}",
        13 * 8 + sev,
        r.time,
        if host.is_empty() { "-".into() } else { host },
        r.kind.as_str(),
        sd,
        String::from_utf8_lossy(raw)
    )
}

fn sd_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

/// One OCSF 1.1 event for a record: File System Activity (1001), Process Activity (1007),
/// Network Activity (4001), API Activity (6003) for management actions, else Base Event (0).
pub fn ocsf(r: &Record, raw: &[u8]) -> Value {
    let d = |k: &str| r.data.get(k).cloned().unwrap_or(Value::Null);
    let time_ms = parse_time(&r.time).map(|us| us / 1000).unwrap_or(0);
    let verdict = r.str("verdict");
    let (action_id, action) = match verdict {
        Some("deny") => (2, "Denied"),
        Some("allow") | Some("audit") => (1, "Allowed"),
        _ => (0, "Unknown"),
    };
    let object = r.str("object").unwrap_or("");
    let layer = r.str("layer").unwrap_or("");
    let op = r.str("op").unwrap_or("");
    let process = json!({"pid": d("pid"), "cmd_line": d("cmdline"), "file": {"path": d("exe")},
                         "container": {"uid": r.container}});
    let (class_uid, category_uid, activity_id, class_name, mut ev) = match r.kind {
        Kind::Management => {
            let act = match r.str("action").unwrap_or("") {
                "create" => 1,
                "start" | "exec" | "pause" | "resume" | "kill" | "update" => 3,
                "delete" => 4,
                _ => 99,
            };
            (
                6003,
                6,
                act,
                "API Activity",
                json!({
                    "api": {"operation": d("action"), "service": {"name": "vigil"}},
                    "actor": {"user": {"uid": d("uid").to_string()}, "process": {"pid": d("pid"), "cmd_line": d("cmdline")}},
                    "resources": [{"uid": r.container, "type": "container"}],
                }),
            )
        }
        Kind::Decision if op == "exec" || layer == "exec" => (
            1007,
            1,
            1,
            "Process Activity",
            json!({
                "actor": {"process": process}, "process": {"file": {"path": object}},
            }),
        ),
        Kind::Decision
            if op == "connect"
                || op == "bind"
                || op == "sendmsg"
                || object.starts_with("tcp:")
                || object.starts_with("udp:") =>
        {
            (
                4001,
                4,
                1,
                "Network Activity",
                json!({
                    "actor": {"process": process},
                    "dst_endpoint": {"ip": d("daddr"), "port": d("dport")},
                    "connection_info": {"protocol_name": d("proto")},
                }),
            )
        }
        Kind::Decision => (
            1001,
            1,
            if op == "write" { 3 } else { 2 },
            "File System Activity",
            json!({
                "actor": {"process": process}, "file": {"path": object, "type": "file"},
            }),
        ),
        _ => (0, 0, 99, "Base Event", json!({})),
    };
    let obj = ev.as_object_mut().expect("events are built as objects");
    let fields = json!({
        "class_uid": class_uid, "class_name": class_name, "category_uid": category_uid,
        "activity_id": activity_id, "type_uid": class_uid * 100 + activity_id,
        "time": time_ms, "severity_id": if action_id == 2 { 3 } else { 1 },
        "action_id": action_id, "action": action,
        "message": format!("{} {} {}", r.kind, r.str("action").or(verdict).unwrap_or(""), object).trim().to_string(),
        "metadata": {"version": "1.1.0", "product": {"name": "vigil", "vendor_name": "vigil"},
                     "uid": r.hash, "sequence": r.seq, "original_time": r.time,
                     "labels": [format!("prev:{}", r.prev)]},
        "device": {"hostname": r.host},
        "unmapped": {"kind": r.kind, "container": r.container, "data": r.data},
        "raw_data": String::from_utf8_lossy(raw),
    });
    if let Value::Object(f) = fields {
        obj.extend(f);
    }
    ev
}
