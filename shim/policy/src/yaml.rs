//! A YAML document as a tree of nodes that remember where they came from.
//!
//! Built from yaml-rust2's event parser so that every key and value carries its line and column;
//! anchors and aliases are resolved, tags are ignored.

use crate::diag::{Diagnostic, Location};
use std::path::Path;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar as written; `quoted` tells `"8080"` from `8080`.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Key/value pairs in source order (keys are scalar nodes).
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub at: Location,
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { text, quoted } if !quoted && is_null(text) => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, quoted: false } if is_null(text))
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Parse one YAML document; an empty file gives `Ok(None)`.
pub fn parse(file: &Path, text: &str) -> Result<Option<Node>, Diagnostic> {
    let mut b = Builder {
        file,
        stack: Vec::new(),
        anchors: Vec::new(),
        root: None,
        docs: 0,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, true) {
        let m = e.marker();
        return Err(Diagnostic::error(
            Location::new(file, m.line(), m.col() + 1),
            format!("invalid YAML: {}", e.info()),
        ));
    }
    if b.docs > 1 {
        return Err(Diagnostic::error(
            Location::new(file, 1, 1),
            "a policy file holds one YAML document; found several (split them into files)",
        ));
    }
    Ok(b.root)
}

enum Frame {
    Seq(Node, usize, Vec<Node>),
    Map(Node, usize, Vec<(Node, Node)>, Option<Node>),
}

struct Builder<'a> {
    file: &'a Path,
    stack: Vec<Frame>,
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
    docs: usize,
}

impl Builder<'_> {
    fn loc(&self, m: Marker) -> Location {
        Location::new(self.file, m.line(), m.col() + 1)
    }

    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, pairs, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = self.loc(mark);
        match ev {
            Event::DocumentStart => self.docs += 1,
            Event::Scalar(text, style, anchor, _) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push(
                    Node {
                        value: Value::Scalar { text, quoted },
                        at,
                    },
                    anchor,
                );
            }
            Event::Alias(id) => {
                let found = self.anchors.iter().rev().find(|(a, _)| *a == id);
                let node = match found {
                    Some((_, n)) => Node {
                        value: n.value.clone(),
                        at,
                    },
                    None => Node {
                        value: Value::Scalar {
                            text: String::new(),
                            quoted: false,
                        },
                        at,
                    },
                };
                self.push(node, 0);
            }
            Event::SequenceStart(anchor, _) => {
                let placeholder = Node {
                    value: Value::Seq(Vec::new()),
                    at,
                };
                self.stack.push(Frame::Seq(placeholder, anchor, Vec::new()));
            }
            Event::MappingStart(anchor, _) => {
                let placeholder = Node {
                    value: Value::Map(Vec::new()),
                    at,
                };
                self.stack
                    .push(Frame::Map(placeholder, anchor, Vec::new(), None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(n, a, items)) => (
                        Node {
                            value: Value::Seq(items),
                            at: n.at,
                        },
                        a,
                    ),
                    Some(Frame::Map(n, a, pairs, _)) => (
                        Node {
                            value: Value::Map(pairs),
                            at: n.at,
                        },
                        a,
                    ),
                    None => return,
                };
                self.push(node, anchor);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_have_one_based_positions() {
        let text = "a: 1\nspec:\n  deny: [x, \"y\"]\n";
        let root = parse(Path::new("p.yaml"), text).unwrap().unwrap();
        let Value::Map(pairs) = &root.value else {
            panic!("not a map")
        };
        assert_eq!((pairs[0].0.at.line, pairs[0].0.at.column), (1, 1));
        let Value::Map(inner) = &pairs[1].1.value else {
            panic!("not a map")
        };
        assert_eq!((inner[0].0.at.line, inner[0].0.at.column), (3, 3));
        let Value::Seq(items) = &inner[0].1.value else {
            panic!("not a seq")
        };
        assert_eq!(items[1].at.column, 13);
        assert_eq!(
            items[1].value,
            Value::Scalar {
                text: "y".into(),
                quoted: true
            }
        );
    }

    #[test]
    fn syntax_error_has_a_location() {
        let e = parse(Path::new("bad.yaml"), "a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.location.line >= 1);
        assert!(e.message.starts_with("invalid YAML"), "{}", e.message);
    }

    #[test]
    fn aliases_resolve() {
        let root = parse(Path::new("p"), "a: &x [1]\nb: *x\n")
            .unwrap()
            .unwrap();
        let Value::Map(pairs) = &root.value else {
            panic!()
        };
        assert_eq!(pairs[1].1.kind(), "a list");
    }
}
