//! A YAML tree that remembers where every key and value was written.
//!
//! serde_yaml locates its own errors but keeps no positions on values, so the spec is read
//! with saphyr-parser's event stream into this tree first. Validation walks the tree (every
//! problem, located) and converts it to a `serde_yaml::Value` for the typed [`Spec`] only
//! afterwards; the tree then serves as the key-path → position index of semantic checks.
//!
//! [`Spec`]: super::Spec

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// Deeper nesting than this is refused (no spec needs it; it keeps recursion bounded).
const MAX_DEPTH: usize = 64;
/// Upper bound on nodes, aliases expanded included (an alias bomb stops here).
const MAX_NODES: usize = 100_000;

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    /// The first character of the file.
    pub const START: Pos = Pos { line: 1, col: 1 };

    fn of(span: Span) -> Pos {
        Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A scalar as written: its text, and whether it was plain (unquoted, so `10` is a number).
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Plain style and no `!!str` tag: the text is resolved by the YAML 1.2 core schema.
    pub plain: bool,
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
}

impl Scalar {
    /// Resolve the scalar's type (YAML 1.2 core schema: `yes` is a string, `0x1f` an int).
    pub fn resolve(&self) -> Resolved<'_> {
        let t = self.text.as_str();
        if !self.plain {
            return Resolved::Str(t);
        }
        match t {
            "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
            "true" | "True" | "TRUE" => return Resolved::Bool(true),
            "false" | "False" | "FALSE" => return Resolved::Bool(false),
            ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
            _ => {}
        }
        let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
        let negative = t.starts_with('-');
        if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
            return Resolved::Float(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return match t.parse::<i128>() {
                Ok(n) => Resolved::Int(n),
                Err(_) => t.parse().map_or(Resolved::Str(t), Resolved::Float),
            };
        }
        let radix = |prefix: &str, radix: u32| {
            t.strip_prefix(prefix)
                .filter(|d| !d.is_empty())
                .and_then(|d| i128::from_str_radix(d, radix).ok())
        };
        if let Some(n) = radix("0x", 16).or_else(|| radix("0o", 8)) {
            return Resolved::Int(n);
        }
        let float_chars = unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
        let has_digit = unsigned.bytes().any(|b| b.is_ascii_digit());
        if float_chars
            && has_digit
            && !unsigned.starts_with(['e', 'E'])
            && let Ok(f) = t.parse::<f64>()
        {
            return Resolved::Float(f);
        }
        Resolved::Str(t)
    }
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A located YAML value.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

impl Node {
    /// A short description for messages: "a list", "a mapping", "null", or the scalar quoted.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Seq(_) => "a list".into(),
            Kind::Map(_) => "a mapping".into(),
            Kind::Scalar(s) => match s.resolve() {
                Resolved::Null => "nothing (null)".into(),
                _ => format!("`{}`", s.text),
            },
        }
    }

    /// The value of `key` when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The position of the value at `path` (mapping keys, or list indexes as decimal
    /// text); when the path leaves the tree, the position of the deepest node it reached.
    pub fn value_pos(&self, path: &[String]) -> Pos {
        self.locate(path).1
    }

    /// Like [`Node::value_pos`] but points at the last key of `path` (or the list item).
    pub fn key_pos(&self, path: &[String]) -> Pos {
        self.locate(path).0
    }

    fn locate(&self, path: &[String]) -> (Pos, Pos) {
        let (mut key, mut node) = (self.pos, self);
        for seg in path {
            let next = match &node.kind {
                Kind::Map(entries) => entries
                    .iter()
                    .find(|e| &e.key == seg)
                    .map(|e| (e.key_pos, &e.value)),
                Kind::Seq(items) => seg
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .map(|n| (n.pos, n)),
                Kind::Scalar(_) => None,
            };
            match next {
                Some((k, n)) => (key, node) = (k, n),
                None => break,
            }
        }
        (key, node.pos)
    }

    /// Convert to a `serde_yaml::Value` (scalars resolved by the core schema).
    pub fn to_value(&self) -> serde_yaml::Value {
        use serde_yaml::Value;
        match &self.kind {
            Kind::Scalar(s) => match s.resolve() {
                Resolved::Null => Value::Null,
                Resolved::Bool(b) => Value::Bool(b),
                Resolved::Int(n) => int_value(n),
                Resolved::Float(f) => Value::Number(f.into()),
                Resolved::Str(t) => Value::String(t.to_owned()),
            },
            Kind::Seq(items) => Value::Sequence(items.iter().map(Node::to_value).collect()),
            Kind::Map(entries) => Value::Mapping(
                entries
                    .iter()
                    .map(|e| (Value::String(e.key.clone()), e.value.to_value()))
                    .collect(),
            ),
        }
    }

    fn size(&self) -> usize {
        1 + match &self.kind {
            Kind::Scalar(_) => 0,
            Kind::Seq(items) => items.iter().map(Node::size).sum(),
            Kind::Map(entries) => entries.iter().map(|e| e.value.size()).sum(),
        }
    }
}

/// An integer as a YAML number (falls back to a float beyond 64 bits).
pub fn int_value(n: i128) -> serde_yaml::Value {
    use serde_yaml::Value;
    if let Ok(i) = i64::try_from(n) {
        Value::Number(i.into())
    } else if let Ok(u) = u64::try_from(n) {
        Value::Number(u.into())
    } else {
        Value::Number((n as f64).into())
    }
}

/// A problem found while reading YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pos: Pos,
    pub message: String,
}

/// A parsed document: its root (`None` for an empty file) and the problems that did not
/// stop reading (duplicate keys, non-string keys, unsupported tags).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub root: Option<Node>,
    pub problems: Vec<Problem>,
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        /// `Some(None)`: a key was read that cannot be used; its value is skipped.
        key: Option<Option<(String, Pos)>>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    problems: Vec<Problem>,
    nodes: usize,
}

/// Parse one YAML document. `Err` is a syntax error (reading stops there).
pub fn parse(text: &str) -> Result<Parsed, Problem> {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        problems: Vec::new(),
        nodes: 0,
    };
    let mut documents = 0;
    for next in Parser::new_from_str(text) {
        let (event, span) = next.map_err(|e| Problem {
            pos: Pos {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            message: format!("invalid YAML: {}", e.info()),
        })?;
        let pos = Pos::of(span);
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Problem {
                        pos,
                        message: "a spec is one YAML document; remove the second one (`---`)"
                            .into(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain;
                let plain = match tag {
                    Some(tag) => b.scalar_tag(&tag, pos) && plain,
                    None => plain,
                };
                let node = Node {
                    pos,
                    kind: Kind::Scalar(Scalar {
                        text: text.into_owned(),
                        plain,
                    }),
                };
                b.finish(node, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                b.collection_tag(tag.as_deref(), pos);
                b.open(Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                })?;
            }
            Event::MappingStart(anchor, tag) => {
                b.collection_tag(tag.as_deref(), pos);
                b.open(Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                })?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match b.stack.pop() {
                    Some(Frame::Seq { pos, anchor, items }) => (
                        Node {
                            pos,
                            kind: Kind::Seq(items),
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        pos,
                        anchor,
                        entries,
                        ..
                    }) => (
                        Node {
                            pos,
                            kind: Kind::Map(entries),
                        },
                        anchor,
                    ),
                    None => continue,
                };
                b.finish(node, anchor)?;
            }
            Event::Alias(id) => {
                let Some(node) = b.anchors.get(&id) else {
                    return Err(Problem {
                        pos,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                let mut node = node.clone();
                node.pos = pos;
                b.count(node.size(), pos)?;
                b.attach(node)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
    Ok(Parsed {
        root: b.root,
        problems: b.problems,
    })
}

impl Builder {
    /// Returns whether the scalar keeps its plain-style resolution (`!!str` forces a string).
    fn scalar_tag(&mut self, tag: &Tag, pos: Pos) -> bool {
        if tag.is_yaml_core_schema() {
            return tag.suffix != "str";
        }
        self.unsupported_tag(tag, pos);
        true
    }

    fn collection_tag(&mut self, tag: Option<&Tag>, pos: Pos) {
        if let Some(tag) = tag.filter(|t| !t.is_yaml_core_schema()) {
            self.unsupported_tag(tag, pos);
        }
    }

    fn unsupported_tag(&mut self, tag: &Tag, pos: Pos) {
        self.problems.push(Problem {
            pos,
            message: format!("YAML tags are not supported here (`{tag}`); remove it"),
        });
    }

    fn open(&mut self, frame: Frame) -> Result<(), Problem> {
        let pos = match &frame {
            Frame::Seq { pos, .. } | Frame::Map { pos, .. } => *pos,
        };
        if self.stack.len() >= MAX_DEPTH {
            return Err(Problem {
                pos,
                message: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        self.count(1, pos)?;
        self.stack.push(frame);
        Ok(())
    }

    fn count(&mut self, n: usize, pos: Pos) -> Result<(), Problem> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(Problem {
                pos,
                message: format!(
                    "more than {MAX_NODES} values (aliases expanded); is this a spec?"
                ),
            });
        }
        Ok(())
    }

    /// A complete node: remember its anchor and attach it to its parent.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), Problem> {
        // Collections were counted when opened.
        if matches!(node.kind, Kind::Scalar(_)) {
            self.count(1, node.pos)?;
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.attach(node)
    }

    fn attach(&mut self, node: Node) -> Result<(), Problem> {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    *key = Some(match node.kind {
                        Kind::Scalar(s) => Some((s.text, node.pos)),
                        _ => {
                            self.problems.push(Problem {
                                pos: node.pos,
                                message:
                                    "a mapping key must be a plain name, not a list or mapping"
                                        .into(),
                            });
                            None
                        }
                    });
                }
                Some(None) => {}
                Some(Some((name, key_pos))) => {
                    if let Some(first) = entries.iter().find(|e| e.key == name) {
                        self.problems.push(Problem {
                            pos: key_pos,
                            message: format!(
                                "duplicate key `{name}` (first written at line {})",
                                first.key_pos.line
                            ),
                        });
                    } else {
                        entries.push(Entry {
                            key: name,
                            key_pos,
                            value: node,
                        });
                    }
                }
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn positions_of_keys_and_values() {
        let text = "name: shop\nresources:\n  users:\n    fields: { id: { type: uuid } }\n    \
                    indexes:\n      - [id, email]\n";
        let root = parse(text).unwrap().root.unwrap();
        let at = |p: &[&str]| (root.key_pos(&path(p)), root.value_pos(&path(p)));
        assert_eq!(
            at(&["name"]),
            (Pos { line: 1, col: 1 }, Pos { line: 1, col: 7 })
        );
        let type_ = at(&["resources", "users", "fields", "id", "type"]);
        assert_eq!(type_, (Pos { line: 4, col: 21 }, Pos { line: 4, col: 27 }));
        let email = at(&["resources", "users", "indexes", "0", "1"]);
        assert_eq!(email.1, Pos { line: 6, col: 14 });
        // A path that leaves the tree stops at the deepest node found.
        assert_eq!(
            at(&["resources", "users", "nope"]).1,
            Pos { line: 4, col: 5 }
        );
    }

    #[test]
    fn core_schema_resolution() {
        let s = |text: &str, plain| Scalar {
            text: text.into(),
            plain,
        };
        assert_eq!(s("yes", true).resolve(), Resolved::Str("yes"));
        assert_eq!(s("True", true).resolve(), Resolved::Bool(true));
        assert_eq!(s("~", true).resolve(), Resolved::Null);
        assert_eq!(s("0x1f", true).resolve(), Resolved::Int(31));
        assert_eq!(s("-12", true).resolve(), Resolved::Int(-12));
        assert_eq!(s("1.5e3", true).resolve(), Resolved::Float(1500.0));
        assert_eq!(s("12", false).resolve(), Resolved::Str("12"));
        assert_eq!(s("1.2.3", true).resolve(), Resolved::Str("1.2.3"));
        assert_eq!(s("e5", true).resolve(), Resolved::Str("e5"));
    }

    #[test]
    fn duplicate_keys_and_second_documents() {
        let parsed = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(parsed.problems.len(), 1);
        assert_eq!(parsed.problems[0].pos, Pos { line: 3, col: 1 });
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.message.starts_with("invalid YAML: "), "{}", err.message);
        assert!(err.pos.line >= 1 && err.pos.col >= 1);
    }
}
