//! The daemon's protocol: one JSON object per line each way, one request per connection.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vigil_monitor::MonitorRules;

/// What `create` sends to attach a container (its init waits for `start`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachRequest {
    pub id: String,
    /// Host pid of the container's init.
    pub init_pid: i32,
    /// The container's unified cgroup2 directory, when it has one.
    #[serde(default)]
    pub cgroup_dir: Option<PathBuf>,
    /// Policy name and digest, copied into every record of this container.
    pub policy: String,
    pub policy_digest: String,
    pub rules: MonitorRules,
}

/// A request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    Attach(Box<AttachRequest>),
    Detach { id: String },
    Ping,
}

/// A reply: `{"ok":true}` or `{"ok":false,"error":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            ok: true,
            error: None,
        }
    }

    pub fn err(message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(message.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let r: Request = serde_json::from_str(r#"{"op":"detach","id":"c1"}"#).expect("detach");
        assert_eq!(r, Request::Detach { id: "c1".into() });
        let ping = serde_json::to_string(&Request::Ping).expect("ping");
        assert_eq!(ping, r#"{"op":"ping"}"#);
        let a = Request::Attach(Box::new(AttachRequest {
            id: "c".into(),
            init_pid: 7,
            cgroup_dir: None,
            policy: "p".into(),
            policy_digest: "d".into(),
            rules: MonitorRules::default(),
        }));
        let text = serde_json::to_string(&a).expect("attach");
        assert_eq!(serde_json::from_str::<Request>(&text).expect("back"), a);
        assert_eq!(
            serde_json::to_string(&Reply::err("x")).expect("reply"),
            r#"{"ok":false,"error":"x"}"#
        );
    }
}
