//! The parsed form of a workflow definition, shared by the text and JSON front ends.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a piece of a definition came from.
///
/// Both the byte range (for slicing the source) and the human position (for messages)
/// are kept, because later phases report against nodes long after the source text
/// has been tokenised and recomputing line/column from an offset would need the text.
/// Nodes built from JSON have no source position and carry `Span::default()` (line 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// 1-based line; 0 when the node did not come from text.
    pub line: u32,
    /// 1-based column counted in characters, not bytes.
    pub column: u32,
    /// Byte offset into the source.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Span {
    /// True when the span points into a source text (JSON-built nodes do not).
    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

/// One step of a workflow: an expression name with its arguments and nested steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The expression or participant it names (`sequence`, `create_ec2_server`).
    pub name: String,
    /// Positional arguments, in order.
    pub args: Vec<Value>,
    /// Keyed attributes in source order. Keys are unique (the parser rejects repeats),
    /// but a `Vec` keeps the author's order for error messages and round trips without
    /// depending on map ordering features.
    pub attrs: Vec<(String, Value)>,
    /// Nested steps (a `do ... end` block), in order.
    pub children: Vec<Node>,
    /// The statement's name token, so errors point at the step the author wrote.
    pub span: Span,
}

impl Node {
    /// A node with no arguments, attributes or children.
    pub fn new(name: impl Into<String>, span: Span) -> Self {
        Node { name: name.into(), args: Vec::new(), attrs: Vec::new(), children: Vec::new(), span }
    }

    /// The attribute stored under exactly `key` (keys never keep a leading `:`).
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The attribute under `key` when it is a string.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }

    /// The first positional argument when it is a string — the usual way a step
    /// names its target (`participant 'alice'`, `subprocess 'deploy'`).
    pub fn first_arg_str(&self) -> Option<&str> {
        self.args.first().and_then(Value::as_str)
    }

    /// Number of nodes in this subtree, including this one.
    pub fn size(&self) -> usize {
        1 + self.children.iter().map(Node::size).sum::<usize>()
    }
}

/// A whole workflow definition: an optional name and a root step (normally `sequence`).
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// The name given to `define`, if any.
    pub name: Option<String>,
    /// The step the job applies first.
    pub root: Node,
}

/// Statement names that wrap a whole definition rather than being a step of it.
pub const DEFINE_NAMES: [&str; 3] = ["define", "process_definition", "workflow_definition"];

/// Whether `name` is one of the definition wrappers (`define`, `process_definition`, ...).
pub fn is_define_name(name: &str) -> bool {
    DEFINE_NAMES.contains(&name)
}

/// Turns a `define 'name' do ... end` node into a definition.
///
/// The wrapper's remaining attributes (for instance `on_error`) are moved onto the root
/// `sequence`, because in Ruote they apply to the whole process. `lock:` (with
/// `lock_limit:` and `lock_timeout:`) makes the root a `lock` around that sequence: the
/// whole run holds the key. The error string
/// explains what is wrong with the wrapper's arguments; callers attach a location.
///
/// # Errors
/// When the wrapper has more than one positional argument, a name that is
/// not a string, or two names.
pub fn unwrap_define(node: Node) -> Result<Definition, String> {
    let Node { args, attrs, children, span, name: wrapper } = node;
    let mut args = args.into_iter();
    let mut name = match args.next() {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(format!("the name given to `{wrapper}` must be a string, found {}", describe_value(&other)));
        }
    };
    if let Some(extra) = args.next() {
        return Err(format!(
            "`{wrapper}` takes at most one positional argument (its name), found also {}",
            describe_value(&extra)
        ));
    }
    let mut root = Node::new("sequence", span);
    root.children = children;
    let mut lock = Node::new("lock", span);
    for (key, value) in attrs {
        if let Some(lock_attr) = key.strip_prefix("lock_") {
            lock.attrs.push((lock_attr.to_owned(), value));
        } else if key == "lock" {
            lock.args.push(value);
        } else if key == "name" {
            match (value, &name) {
                (Value::String(s), None) => name = Some(s),
                (Value::String(_), Some(_)) => {
                    return Err(format!("`{wrapper}` is given a name twice"));
                }
                (other, _) => {
                    return Err(format!(
                        "the `name` of `{wrapper}` must be a string, found {}",
                        describe_value(&other)
                    ));
                }
            }
        } else {
            root.attrs.push((key, value));
        }
    }
    if !lock.args.is_empty() || !lock.attrs.is_empty() {
        lock.children.push(root);
        root = lock;
    }
    Ok(Definition { name, root })
}

/// A short human description of a JSON value's type, for error messages.
pub fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::Null => "nil",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a hash",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Node {
        let mut node = Node::new("participant", Span::default());
        node.args.push(json!("alice"));
        node.attrs.push(("task".into(), json!("review")));
        node.attrs.push(("timeout".into(), json!(30)));
        node
    }

    #[test]
    fn helpers_find_exact_keys_only() {
        let node = sample();
        assert_eq!(node.first_arg_str(), Some("alice"));
        assert_eq!(node.attr_str("task"), Some("review"));
        assert_eq!(node.attr("timeout"), Some(&json!(30)));
        assert_eq!(node.attr_str("timeout"), None, "a number is not a string");
        assert_eq!(node.attr(":task"), None);
        assert_eq!(node.attr("missing"), None);
    }

    #[test]
    fn first_arg_str_ignores_non_strings() {
        let mut node = Node::new("wait", Span::default());
        node.args.push(json!(10));
        assert_eq!(node.first_arg_str(), None);
    }

    #[test]
    fn unwrap_define_takes_positional_name_and_moves_attrs() {
        let mut define = Node::new("define", Span::default());
        define.args.push(json!("deploy"));
        define.attrs.push(("on_error".into(), json!("pass")));
        define.children.push(sample());
        let def = unwrap_define(define).unwrap();
        assert_eq!(def.name.as_deref(), Some("deploy"));
        assert_eq!(def.root.name, "sequence");
        assert_eq!(def.root.attr_str("on_error"), Some("pass"));
        assert_eq!(def.root.children.len(), 1);
        assert_eq!(def.root.size(), 2);
    }

    #[test]
    fn unwrap_define_takes_name_attribute() {
        let mut define = Node::new("process_definition", Span::default());
        define.attrs.push(("name".into(), json!("x")));
        let def = unwrap_define(define).unwrap();
        assert_eq!(def.name.as_deref(), Some("x"));
        assert!(def.root.attrs.is_empty());
    }

    #[test]
    fn unwrap_define_rejects_bad_names() {
        let mut define = Node::new("define", Span::default());
        define.args.push(json!(42));
        assert!(unwrap_define(define).unwrap_err().contains("must be a string"));

        let mut define = Node::new("define", Span::default());
        define.args.push(json!("a"));
        define.attrs.push(("name".into(), json!("b")));
        assert!(unwrap_define(define).unwrap_err().contains("twice"));

        let mut define = Node::new("define", Span::default());
        define.args.push(json!("a"));
        define.args.push(json!("b"));
        assert!(unwrap_define(define).unwrap_err().contains("at most one"));
    }

    #[test]
    fn define_names() {
        assert!(is_define_name("define"));
        assert!(is_define_name("workflow_definition"));
        assert!(!is_define_name("sequence"));
        assert!(!Span::default().is_known());
    }
}
