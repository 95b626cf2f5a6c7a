//! runc's log format, which engines parse: `--log FILE --log-format json` writes
//! `{"level":"error","msg":"...","time":"<RFC 3339>"}` per line; containerd shows the `msg` of
//! the last error line to the user. Text lines are `time="..." level=error msg="..."`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    level: &'a str,
    msg: &'a str,
    time: String,
}

/// Formats one log line in runc's shape.
pub fn format_line(format: LogFormat, level: &Level, msg: &str, time: String) -> String {
    let level = level.as_str().to_ascii_lowercase();
    match format {
        LogFormat::Json => serde_json::to_string(&JsonLine {
            level: &level,
            msg,
            time,
        })
        .expect("a struct of strings serialises"),
        LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}"),
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// A tracing layer writing runc-shaped lines to the `--log` file or stderr.
pub struct RuncLog {
    out: Mutex<Box<dyn Write + Send>>,
    format: LogFormat,
    max: Level,
}

impl RuncLog {
    pub fn new(path: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<Self> {
        let out: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(open_log(p)?),
            None => Box::new(std::io::stderr()),
        };
        Ok(Self {
            out: Mutex::new(out),
            format,
            max: if debug { Level::DEBUG } else { Level::WARN },
        })
    }

    /// Writes one line directly (the final error of a command).
    pub fn write(&self, level: &Level, msg: &str) {
        let line = format_line(self.format, level, msg, now());
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

fn open_log(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[derive(Default)]
struct Message {
    msg: String,
    fields: Vec<String>,
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.msg = format!("{value:?}");
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_owned();
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for &'static RuncLog {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        // libcgroups warns about every controller this kernel lacks; without --debug only
        // vigil's own warnings and everyone's errors are worth a line.
        let max = if self.max < Level::DEBUG && !meta.target().starts_with("vigil") {
            Level::ERROR
        } else {
            self.max
        };
        *meta.level() <= max
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut m = Message::default();
        event.record(&mut m);
        let mut msg = m.msg;
        for f in m.fields {
            msg.push(' ');
            msg.push_str(&f);
        }
        self.write(event.metadata().level(), &msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_runc_shape() {
        let line = format_line(
            LogFormat::Json,
            &Level::ERROR,
            "container \"x\" does not exist",
            now(),
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        let time = v["time"].as_str().expect("time is a string");
        chrono::DateTime::parse_from_rfc3339(time).expect("time is RFC 3339");
        assert_eq!(v.as_object().expect("object").len(), 3, "{line}");
    }

    #[test]
    fn text_line_quotes_the_message() {
        let line = format_line(LogFormat::Text, &Level::WARN, "a \"b\"", "T".into());
        assert_eq!(line, r#"time="T" level=warn msg="a \"b\"""#);
    }

    #[test]
    fn file_log_appends_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.json");
        std::fs::write(
            &path,
            "{\"level\":\"info\",\"msg\":\"earlier\",\"time\":\"t\"}\n",
        )
        .expect("seed log");
        let log = RuncLog::new(Some(&path), LogFormat::Json, false).expect("open log");
        log.write(&Level::ERROR, "boom");
        let text = std::fs::read_to_string(&path).expect("read log");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].contains("\"msg\":\"boom\""), "{}", lines[1]);
    }
}
