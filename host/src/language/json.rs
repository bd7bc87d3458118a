//! The JSON form of definitions, for API clients that generate them.
//!
//! Output is always the object form `{"name", "args", "attrs", "children"}`. Input also
//! accepts Ruote's array form `["name", {attrs}, [children]]`, where a key whose value
//! is null is a positional argument (that is how Ruote stores `participant 'alice'`).
//! Attribute order matters (it is the order of positional arguments in Ruote's form),
//! so serde_json must be built with its `preserve_order` feature.

use std::fmt;

use serde_json::{Map, Value};

use super::parser::MAX_DEPTH;
use super::tree::{Definition, Node, Span, describe_value, is_define_name, unwrap_define};

/// A problem in JSON input, located by its JSON path (e.g. `root.children[2].attrs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if path.is_empty() { "at the top level" } else { path.as_str() })]
pub struct JsonError {
    /// Dotted path to the offending value; empty for the document itself.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

/// The object form of one node. A node parsed from text keeps its `line`
/// and `column`, so errors found when a stored definition runs still point
/// at the step the author wrote.
pub fn node_to_json(node: &Node) -> Value {
    let mut object = Map::new();
    object.insert("name".into(), Value::String(node.name.clone()));
    if node.span.is_known() {
        object.insert("line".into(), Value::from(node.span.line));
        object.insert("column".into(), Value::from(node.span.column));
    }
    object.insert("args".into(), Value::Array(node.args.clone()));
    let attrs: Map<String, Value> = node.attrs.iter().cloned().collect();
    object.insert("attrs".into(), Value::Object(attrs));
    let children = node.children.iter().map(node_to_json).collect();
    object.insert("children".into(), Value::Array(children));
    Value::Object(object)
}

/// `{"name": ..., "root": ...}`; a missing name is `null`.
pub fn definition_to_json(definition: &Definition) -> Value {
    let mut object = Map::new();
    let name = definition.name.clone().map_or(Value::Null, Value::String);
    object.insert("name".into(), name);
    object.insert("root".into(), node_to_json(&definition.root));
    Value::Object(object)
}

/// Reads a definition from JSON text.
///
/// # Errors
/// When `text` is not JSON, or not a definition (see [`definition_from_json`]).
pub fn definition_from_json_str(text: &str) -> Result<Definition, JsonError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| JsonError { path: String::new(), message: format!("invalid JSON: {e}") })?;
    definition_from_json(&value)
}

/// Reads a definition from either `{"name": "x", "root": <node>}` or a bare node.
///
/// A bare `define`/`process_definition` node (as Ruote trees start) is unwrapped the
/// same way the text form's lone `define 'x' do ... end` is; any other bare node is
/// the root itself.
///
/// # Errors
/// When a node has a wrong key or value type, nests deeper than
/// [`MAX_DEPTH`], or a `define` wrapper is malformed.
pub fn definition_from_json(value: &Value) -> Result<Definition, JsonError> {
    let mut path = Path::default();
    if let Value::Object(object) = value
        && object.contains_key("root")
    {
        let mut name = None;
        for (key, field) in object {
            match (key.as_str(), field) {
                ("root", _) => {}
                ("name", Value::Null) => {}
                ("name", Value::String(s)) => name = Some(s.clone()),
                ("name", other) => {
                    path.push_key("name");
                    return Err(path.error(format!("expected a string or null, found {}", describe_value(other))));
                }
                (other, _) => {
                    return Err(path.error(format!("unknown key `{other}`; a definition has `name` and `root`")));
                }
            }
        }
        path.push_key("root");
        let root = node(object.get("root").unwrap_or(&Value::Null), &mut path, 0)?;
        return Ok(Definition { name, root });
    }
    let root = node(value, &mut path, 0)?;
    if is_define_name(&root.name) {
        return unwrap_define(root).map_err(|message| path.error(message));
    }
    Ok(Definition { name: None, root })
}

/// Reads one node in either form.
///
/// # Errors
/// As [`definition_from_json`], for one node.
pub fn node_from_json(value: &Value) -> Result<Node, JsonError> {
    node(value, &mut Path::default(), 0)
}

/// The JSON path being read, kept as segments so errors can name exactly where they are.
#[derive(Default)]
struct Path(Vec<Segment>);

enum Segment {
    Key(String),
    Index(usize),
}

impl Path {
    fn push_key(&mut self, key: &str) {
        self.0.push(Segment::Key(key.to_string()));
    }

    fn push_index(&mut self, index: usize) {
        self.0.push(Segment::Index(index));
    }

    fn pop(&mut self) {
        self.0.pop();
    }

    #[cold]
    fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError { path: self.to_string(), message: message.into() }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

fn node(value: &Value, path: &mut Path, depth: usize) -> Result<Node, JsonError> {
    if depth >= MAX_DEPTH {
        return Err(path.error(format!("nesting is deeper than {MAX_DEPTH} levels")));
    }
    match value {
        Value::Object(object) => object_node(object, path, depth),
        Value::Array(items) => array_node(items, path, depth),
        other => {
            Err(path
                .error(format!("expected a node (an object or a Ruote-style array), found {}", describe_value(other))))
        }
    }
}

fn object_node(object: &Map<String, Value>, path: &mut Path, depth: usize) -> Result<Node, JsonError> {
    let mut node = Node::new(String::new(), Span::default());
    let mut has_name = false;
    for (key, field) in object {
        path.push_key(key);
        match (key.as_str(), field) {
            ("name", Value::String(name)) => {
                node.name = checked_name(name, path)?;
                has_name = true;
            }
            ("args", Value::Array(args)) => node.args = args.clone(),
            ("attrs", Value::Object(attrs)) => {
                node.attrs = attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            }
            ("children", Value::Array(children)) => {
                node.children = children_of(children, path, depth)?;
            }
            ("args" | "attrs" | "children", Value::Null) => {}
            ("line", Value::Number(n)) => node.span.line = n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            ("column", Value::Number(n)) => {
                node.span.column = n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
            }
            ("name" | "args" | "attrs" | "children", other) => {
                let expected = match key.as_str() {
                    "name" => "a string",
                    "attrs" => "an object",
                    _ => "an array",
                };
                return Err(path.error(format!("expected {expected}, found {}", describe_value(other))));
            }
            (other, _) => {
                path.pop();
                return Err(path.error(format!(
                    "unknown key `{other}`; a node has `name`, `args`, `attrs`, `children` (and optionally `line`, `column`)"
                )));
            }
        }
        path.pop();
    }
    if !has_name {
        return Err(path.error("a node needs a `name`"));
    }
    Ok(node)
}

/// Ruote's `[name, {attrs}, [children]]`; the attributes and children may be omitted.
fn array_node(items: &[Value], path: &mut Path, depth: usize) -> Result<Node, JsonError> {
    if items.is_empty() || items.len() > 3 {
        return Err(
            path.error(format!("a Ruote-style node is [name, attributes, children], found {} elements", items.len()))
        );
    }
    path.push_index(0);
    let name = match &items[0] {
        Value::String(name) => checked_name(name, path)?,
        other => {
            return Err(path.error(format!("expected a name, found {}", describe_value(other))));
        }
    };
    path.pop();
    let mut node = Node::new(name, Span::default());
    if let Some(attrs) = items.get(1) {
        path.push_index(1);
        match attrs {
            Value::Object(attrs) => {
                for (key, value) in attrs {
                    if value.is_null() {
                        node.args.push(Value::String(key.clone()));
                    } else {
                        node.attrs.push((key.clone(), value.clone()));
                    }
                }
            }
            Value::Null => {}
            other => {
                return Err(path.error(format!("expected an object, found {}", describe_value(other))));
            }
        }
        path.pop();
    }
    if let Some(children) = items.get(2) {
        path.push_index(2);
        match children {
            Value::Array(children) => node.children = children_of(children, path, depth)?,
            Value::Null => {}
            other => {
                return Err(path.error(format!("expected an array, found {}", describe_value(other))));
            }
        }
        path.pop();
    }
    Ok(node)
}

fn children_of(children: &[Value], path: &mut Path, depth: usize) -> Result<Vec<Node>, JsonError> {
    let mut out = Vec::with_capacity(children.len());
    for (index, child) in children.iter().enumerate() {
        path.push_index(index);
        out.push(node(child, path, depth + 1)?);
        path.pop();
    }
    Ok(out)
}

/// Names must look like the text form's, so a JSON definition can always be shown as text.
fn checked_name(name: &str, path: &Path) -> Result<String, JsonError> {
    let mut chars = name.chars();
    let valid =
        chars.next().is_some_and(|c| c == '_' || c.is_alphabetic()) && chars.all(|c| c == '_' || c.is_alphanumeric());
    if valid {
        Ok(name.to_string())
    } else {
        Err(path.error(format!(
            "`{name}` is not a valid expression name (letters, digits and `_`, not starting with a digit)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::parse;
    use serde_json::json;

    /// JSON-built trees have no positions; compare the text-built one without them.
    fn without_spans(mut node: Node) -> Node {
        node.span = Span::default();
        node.children = node.children.into_iter().map(without_spans).collect();
        node
    }

    #[test]
    fn round_trip_through_json() {
        let def = parse(
            "t.mm",
            "define 'deploy' do\n  participant 'alice', task: 'x', n: [1, {a: nil}]\n  \
             concurrence :count => 1 do\n    a\n    b 2.5\n  end\nend",
        )
        .unwrap();
        let json = definition_to_json(&def);
        assert_eq!(json["name"], json!("deploy"));
        assert_eq!(
            json["root"]["children"][0],
            json!({"name": "participant", "line": 2, "column": 3, "args": ["alice"], "attrs": {"task": "x", "n": [1, {"a": null}]}, "children": []})
        );
        let text = serde_json::to_string(&json).unwrap();
        assert!(text.find("\"task\"").unwrap() < text.find("\"n\"").unwrap(), "attrs keep order");
        let back = definition_from_json_str(&text).unwrap();
        assert_eq!(back.name, def.name);
        assert_eq!(back.root.children[0].span.line, 2, "lines survive the round trip");
        assert_eq!(without_spans(back.root), without_spans(def.root));
    }

    #[test]
    fn bare_node_is_the_root() {
        let def = definition_from_json(&json!({"name": "sequence", "children": [{"name": "a"}]})).unwrap();
        assert_eq!(def.name, None);
        assert_eq!(def.root.name, "sequence");
        assert_eq!(def.root.children[0].name, "a");
        assert!(def.root.children[0].args.is_empty());
    }

    #[test]
    fn ruote_array_form() {
        let tree = json!(["define", {"name": "x"}, [
            ["participant", {"alice": null, "task": "review", "timeout": "1h"}, []],
            ["concurrence", {"count": 1}, [["bob", {}, []], ["carol"]]]
        ]]);
        let def = definition_from_json(&tree).unwrap();
        assert_eq!(def.name.as_deref(), Some("x"));
        assert_eq!(def.root.name, "sequence");
        let participant = &def.root.children[0];
        assert_eq!(participant.args, vec![json!("alice")]);
        assert_eq!(
            participant.attrs,
            vec![("task".to_string(), json!("review")), ("timeout".to_string(), json!("1h"))]
        );
        let concurrence = &def.root.children[1];
        assert_eq!(concurrence.attr("count"), Some(&json!(1)));
        assert_eq!(concurrence.children[1].name, "carol");
    }

    #[test]
    fn ruote_form_matches_text_form() {
        let text = parse("t.mm", "participant 'alice', :task => 'review'").unwrap();
        let ruote = definition_from_json(&json!(["sequence", {}, [
            ["participant", {"alice": null, "task": "review"}, []]
        ]]))
        .unwrap();
        assert_eq!(ruote.root, without_spans(text.root));
    }

    #[test]
    fn errors_name_the_json_path() {
        let cases = [
            (
                json!({"name": "x", "root": {"name": "sequence", "children": [{"name": "a"}, {"name": "b"}, {"name": "c", "attrs": [1]}]}}),
                "root.children[2].attrs: expected an object, found an array",
            ),
            (
                json!({"root": {"name": "sequence", "children": [["a", {}, [[1]]]]}}),
                "root.children[0][2][0][0]: expected a name, found a number",
            ),
            (
                json!({"root": {"name": "s", "chilren": []}}),
                "root: unknown key `chilren`; a node has `name`, `args`, `attrs`, `children` (and optionally `line`, `column`)",
            ),
            (json!({"root": {"args": []}}), "root: a node needs a `name`"),
            (json!({"root": 3}), "root: expected a node (an object or a Ruote-style array), found a number"),
            (json!({"name": 3, "root": {}}), "name: expected a string or null, found a number"),
            (
                json!({"root": {}, "extra": 1}),
                "at the top level: unknown key `extra`; a definition has `name` and `root`",
            ),
            (json!([]), "at the top level: a Ruote-style node is [name, attributes, children], found 0 elements"),
            (
                json!(["a b"]),
                "[0]: `a b` is not a valid expression name (letters, digits and `_`, not starting with a digit)",
            ),
            (json!(["a", 1]), "[1]: expected an object, found a number"),
            (json!(["a", {}, {}]), "[2]: expected an array, found a hash"),
            (
                json!(["define", {"name": 1}, []]),
                "at the top level: the `name` of `define` must be a string, found a number",
            ),
        ];
        for (input, expected) in cases {
            let error = definition_from_json(&input).unwrap_err();
            assert_eq!(error.to_string(), expected, "for {input}");
        }
        let error = definition_from_json_str("{not json").unwrap_err();
        assert!(error.message.starts_with("invalid JSON: key must be a string at line 1"), "{error}");
    }

    #[test]
    fn deep_json_is_an_error() {
        let mut value = json!(["leaf"]);
        for _ in 0..(MAX_DEPTH + 5) {
            value = json!(["s", {}, [value]]);
        }
        let error = node_from_json(&value).unwrap_err();
        assert!(error.message.contains("nesting is deeper"), "{error}");
    }

    #[test]
    fn null_fields_are_empty() {
        let node = node_from_json(&json!({"name": "a", "args": null, "attrs": null, "children": null})).unwrap();
        assert_eq!(node, Node::new("a", Span::default()));
        let node = node_from_json(&json!(["a", null, null])).unwrap();
        assert_eq!(node, Node::new("a", Span::default()));
    }
}
