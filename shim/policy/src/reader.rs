//! Typed reading of YAML nodes, collecting every diagnostic instead of stopping at the first.

use crate::diag::{Diagnostic, Location, suggest};
use crate::model::Item;
use crate::yaml::{Node, Value};

#[derive(Default)]
pub struct Reader {
    pub diags: Vec<Diagnostic>,
}

impl Reader {
    pub fn error(&mut self, at: &Location, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(at.clone(), msg));
    }

    pub fn warn(&mut self, at: &Location, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(at.clone(), msg));
    }

    /// The pairs of a mapping whose keys are all in `keys`; unknown and repeated keys are
    /// reported (with the closest known key) and skipped.
    pub fn map<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        keys: &[&str],
    ) -> Vec<(&'n str, &'n Node)> {
        let Value::Map(pairs) = &node.value else {
            if !node.is_null() {
                self.error(
                    &node.at,
                    format!("{what} must be a mapping, found {}", node.kind()),
                );
            }
            return Vec::new();
        };
        let mut out: Vec<(&str, &Node)> = Vec::new();
        for (k, v) in pairs {
            let Some(key) = k.as_str() else {
                self.error(&k.at, format!("keys of {what} must be plain words"));
                continue;
            };
            if !keys.contains(&key) {
                self.error(
                    &k.at,
                    format!(
                        "unknown key {key:?} in {what}{} (known keys: {})",
                        suggest(key, keys.iter().copied()),
                        keys.join(", ")
                    ),
                );
                continue;
            }
            if out.iter().any(|(seen, _)| *seen == key) {
                self.error(&k.at, format!("key {key:?} appears twice in {what}"));
                continue;
            }
            out.push((key, v));
        }
        out
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<Item<String>> {
        match &node.value {
            Value::Scalar { text, .. } if !node.is_null() => {
                Some(Item::new(text.clone(), node.at.clone()))
            }
            _ => {
                self.error(
                    &node.at,
                    format!("{what} must be a string, found {}", node.kind()),
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.as_str() {
            Some("true" | "True" | "TRUE") => Some(true),
            Some("false" | "False" | "FALSE") => Some(false),
            _ => {
                self.error(&node.at, format!("{what} must be true or false"));
                None
            }
        }
    }

    pub fn uint(&mut self, node: &Node, what: &str) -> Option<u64> {
        let text = node.as_str().unwrap_or("");
        let parsed = if let Some(hex) = text.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).ok()
        } else {
            text.replace('_', "").parse::<u64>().ok()
        };
        if parsed.is_none() {
            self.error(
                &node.at,
                format!("{what} must be a non-negative integer, found {text:?}"),
            );
        }
        parsed
    }

    /// A list (a single scalar is accepted as a list of one).
    pub fn seq<'n>(&mut self, node: &'n Node, what: &str) -> Vec<&'n Node> {
        match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Scalar { .. } if node.is_null() => Vec::new(),
            Value::Scalar { .. } => vec![node],
            Value::Map(_) => {
                self.error(&node.at, format!("{what} must be a list, found a mapping"));
                Vec::new()
            }
        }
    }

    pub fn strings(&mut self, node: &Node, what: &str) -> Vec<Item<String>> {
        let items = self.seq(node, what);
        items
            .into_iter()
            .filter_map(|n| self.string(n, &format!("an entry of {what}")))
            .collect()
    }

    /// A list of absolute paths; `globs` says whether `*`, `?` and `[` are allowed.
    pub fn paths(&mut self, node: &Node, what: &str, globs: bool) -> Vec<Item<String>> {
        let mut out = Vec::new();
        for p in self.strings(node, what) {
            if !p.value.starts_with('/') {
                self.error(
                    &p.at,
                    format!(
                        "path {:?} in {what} must be absolute (start with /)",
                        p.value
                    ),
                );
                continue;
            }
            if p.value.split('/').any(|c| c == "..") {
                self.error(
                    &p.at,
                    format!("path {:?} in {what} must not contain ..", p.value),
                );
                continue;
            }
            let has_glob = p.value.contains(['*', '?', '[']);
            if has_glob && !globs {
                self.error(
                    &p.at,
                    format!("{what} takes plain paths, not glob patterns ({:?}); globs are allowed in filesystem.deny and dataClasses", p.value),
                );
                continue;
            }
            if has_glob && glob::Pattern::new(&p.value).is_err() {
                self.error(
                    &p.at,
                    format!("invalid glob pattern {:?} in {what}", p.value),
                );
                continue;
            }
            let norm = normalize_path(&p.value);
            out.push(Item::new(norm, p.at));
        }
        out
    }
}

/// `/etc//nginx/` -> `/etc/nginx`; `.` components removed.
pub fn normalize_path(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// True when `path` is `dir` or below it.
pub fn is_under(path: &str, dir: &str) -> bool {
    dir == "/"
        || path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_helpers() {
        assert_eq!(normalize_path("/etc//nginx/./"), "/etc/nginx");
        assert!(is_under("/etc/nginx", "/etc"));
        assert!(!is_under("/etcx", "/etc"));
        assert!(is_under("/a", "/"));
    }
}
