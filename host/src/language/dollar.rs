//! Dollar notation: `${field}`, `${f:field}`, `${v:variable}` inside strings, and the
//! typed whole-string forms `$f:field` / `$v:variable`.
//!
//! A reference to a missing field or variable reads as empty text (null as a whole
//! `$f:x`), as in Ruote, when the [`Lookup`] says so; otherwise it is an error naming
//! what was missing. The engine reads a participant step's params strictly: a step that
//! silently receives `""` for a server id does real damage in infrastructure work.

use serde_json::{Map, Value};

/// Where references are resolved. Implementations receive the raw dotted path
/// (`server.tags.Name`) and may use [`lookup_path`] to walk it.
pub trait Lookup {
    /// The field at dotted `path`, or `None` when it is not set.
    fn field(&self, path: &str) -> Option<Value>;
    /// The variable at dotted `path`, or `None` when it is not set.
    fn variable(&self, path: &str) -> Option<Value>;

    /// Whether a missing field or variable reads as nothing (empty text
    /// inside a string, null as a whole `$f:x`), as in Ruote, rather than
    /// being an error. Expressions read leniently; a participant's params
    /// strictly, since a silent empty server id in a command does damage.
    fn missing_reads_empty(&self) -> bool {
        false
    }
}

/// A [`Lookup`] over two JSON documents, for callers that hold fields and variables as values.
#[derive(Debug, Clone, Copy)]
pub struct ValueLookup<'a> {
    /// The workitem's fields (an object).
    pub fields: &'a Value,
    /// The variables in scope (an object).
    pub variables: &'a Value,
}

impl Lookup for ValueLookup<'_> {
    fn field(&self, path: &str) -> Option<Value> {
        lookup_path(self.fields, path)
    }

    fn variable(&self, path: &str) -> Option<Value> {
        lookup_path(self.variables, path)
    }
}

/// How deeply `${...}` may nest inside another reference.
pub const MAX_NESTING: usize = 32;
/// How deeply [`substitute_value`] descends into arrays and hashes.
const MAX_VALUE_DEPTH: usize = 512;

/// Why dollar notation could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DollarError {
    /// A reference names a field or variable that is not set, and the
    /// [`Lookup`] reads strictly.
    #[error("{kind} `{name}` is not set")]
    Missing {
        /// `"field"` or `"variable"`.
        kind: &'static str,
        /// The dotted path that was not found.
        name: String,
    },
    /// A `${` has no closing `}`.
    #[error("unterminated `${{` in {text:?}")]
    Unterminated {
        /// The text holding it.
        text: String,
    },
    /// A `${p:x}` with a prefix other than `f:` and `v:`.
    #[error("unknown prefix `{prefix}:` in `${{{reference}}}`; use `f:` for a field or `v:` for a variable")]
    UnknownPrefix {
        /// The prefix found.
        prefix: String,
        /// The whole reference, without `${` and `}`.
        reference: String,
    },
    /// A `${}` with nothing inside.
    #[error("empty reference `${{}}` in {text:?}")]
    Empty {
        /// The text holding it.
        text: String,
    },
    /// References nest deeper than [`MAX_NESTING`], or a value deeper than
    /// the substitution descends.
    #[error("dollar notation is nested too deeply")]
    TooDeep,
    /// Substitution made two keys of one hash the same.
    #[error("two keys of a hash both become `{key}` after substitution")]
    DuplicateKey {
        /// The key both became.
        key: String,
    },
}

/// Walks a dotted path through hashes (by key) and arrays (by index):
/// `server.tags.Name`, `hosts.0`. An empty path or empty segment finds nothing.
pub fn lookup_path(root: &Value, path: &str) -> Option<Value> {
    if path.is_empty() {
        return None;
    }
    let mut current = root;
    for segment in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current.clone())
}

/// The text a value becomes when interpolated into a string.
pub fn to_display_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        // Serialising a `Value` cannot fail (its keys are always strings).
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Replaces every `${...}` in `text` with the referenced value's text.
/// `\${` produces a literal `${`.
///
/// # Errors
/// When a reference is malformed, nests too deeply, or names something
/// missing that the [`Lookup`] reads strictly.
pub fn interpolate(text: &str, lookup: &dyn Lookup) -> Result<String, DollarError> {
    if !text.contains("${") {
        return Ok(text.to_string());
    }
    let mut scanner = Scanner { text, pos: 0 };
    scanner.expand(lookup, 0)
}

/// Checks the dollar notation in `text` without resolving anything, so a
/// definition check can report an unterminated `${`, an empty `${}` or an
/// unknown prefix before the job runs.
///
/// # Errors
/// When a reference is unterminated, empty, has an unknown prefix or nests
/// too deeply.
pub fn check_syntax(text: &str) -> Result<(), DollarError> {
    /// Every reference resolves (to a plain word, so a nested reference
    /// still forms a valid outer one).
    struct Anything;
    impl Lookup for Anything {
        fn field(&self, _: &str) -> Option<Value> {
            Some(Value::String("x".into()))
        }
        fn variable(&self, _: &str) -> Option<Value> {
            Some(Value::String("x".into()))
        }
    }
    substitute_str(text, &Anything).map(drop)
}

/// Substitutes one string. `$f:path` / `$v:path` as the whole string yield the value
/// with its own type (an array stays an array); anything else is interpolated.
///
/// # Errors
/// As [`interpolate`].
pub fn substitute_str(text: &str, lookup: &dyn Lookup) -> Result<Value, DollarError> {
    if let Some((kind, rest)) = typed_reference(text) {
        let path = interpolate(rest, lookup)?;
        return resolve_kind(kind, &path, lookup);
    }
    interpolate(text, lookup).map(Value::String)
}

/// Applies [`substitute_str`] to every string in `value`, hash keys included (keys are
/// always interpolated to text).
///
/// # Errors
/// As [`interpolate`]; also when `value` is nested too deeply, or two keys
/// of a hash become the same.
pub fn substitute_value(value: &Value, lookup: &dyn Lookup) -> Result<Value, DollarError> {
    substitute_at(value, lookup, 0)
}

fn substitute_at(value: &Value, lookup: &dyn Lookup, depth: usize) -> Result<Value, DollarError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(DollarError::TooDeep);
    }
    Ok(match value {
        Value::String(s) => substitute_str(s, lookup)?,
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| substitute_at(item, lookup, depth + 1)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let key = interpolate(key, lookup)?;
                let item = substitute_at(item, lookup, depth + 1)?;
                if out.contains_key(&key) {
                    return Err(DollarError::DuplicateKey { key });
                }
                out.insert(key, item);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// `Some(inner)` when `text` is exactly one `${inner}` reference, so callers (conditions)
/// can keep the referenced value's type.
pub(crate) fn whole_reference(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    // The closing brace must match the opening one, not close a nested reference.
    let mut depth = 0usize;
    let bytes = inner.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' => depth = depth.checked_sub(1)?,
            _ => {}
        }
    }
    (depth == 0).then_some(inner)
}

/// Resolves the inside of a `${...}` (which may itself contain references).
pub(crate) fn resolve_reference(inner: &str, lookup: &dyn Lookup) -> Result<Value, DollarError> {
    let reference = interpolate(inner, lookup)?;
    resolve(&reference, &format!("${{{inner}}}"), lookup)
}

/// Ruote's whole-string references: `$f:path` (also `$fld:`, `$field:`)
/// and `$v:path` (also `$var:`, `$variable:`), whose path has no whitespace
/// (and may hold references itself: `$f:${v:which}`); and `$path`, a field,
/// whose path has no whitespace, `$`, `{`, `}` or `:`. Anything else
/// (`'$x '`, `'$$'`, `'$5 off'`) is plain text.
fn typed_reference(text: &str) -> Option<(&'static str, &str)> {
    let rest = text.strip_prefix('$')?;
    let (kind, path, plain): (_, _, fn(char) -> bool) = match rest.split_once(':') {
        Some(("f" | "fld" | "field", path)) => ("field", path, |c| !c.is_whitespace()),
        Some(("v" | "var" | "variable", path)) => ("variable", path, |c| !c.is_whitespace()),
        Some(_) => return None,
        None => ("field", rest, |c| !c.is_whitespace() && !matches!(c, '$' | '{' | '}')),
    };
    (!path.is_empty() && path.chars().all(plain)).then_some((kind, path))
}

/// Resolves an already-expanded reference such as `f:groups` or `server.name`.
fn resolve(reference: &str, whole: &str, lookup: &dyn Lookup) -> Result<Value, DollarError> {
    let reference = reference.trim();
    if reference.is_empty() {
        return Err(DollarError::Empty { text: shorten(whole) });
    }
    let (kind, path) = match reference.split_once(':') {
        Some((prefix, path)) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_lowercase()) => match prefix {
            "f" => ("field", path),
            "v" => ("variable", path),
            _ => {
                return Err(DollarError::UnknownPrefix {
                    prefix: prefix.to_string(),
                    reference: reference.to_string(),
                });
            }
        },
        _ => ("field", reference),
    };
    resolve_kind(kind, path.trim(), lookup)
}

fn resolve_kind(kind: &'static str, path: &str, lookup: &dyn Lookup) -> Result<Value, DollarError> {
    let found = if kind == "field" { lookup.field(path) } else { lookup.variable(path) };
    match found {
        Some(value) => Ok(value),
        None if lookup.missing_reads_empty() => Ok(Value::Null),
        None => Err(DollarError::Missing { kind, name: path.to_string() }),
    }
}

/// Keeps error messages readable when the offending text is long.
fn shorten(text: &str) -> String {
    const LIMIT: usize = 80;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl Scanner<'_> {
    /// Expands text up to the end (top level) or up to the `}` closing the reference
    /// being read (nested), consuming that brace. Each byte is visited once.
    fn expand(&mut self, lookup: &dyn Lookup, depth: usize) -> Result<String, DollarError> {
        if depth > MAX_NESTING {
            return Err(DollarError::TooDeep);
        }
        let bytes = self.text.as_bytes();
        let mut out = String::new();
        let mut run_start = self.pos;
        while self.pos < bytes.len() {
            let b = bytes[self.pos];
            if b == b'\\' && self.text[self.pos + 1..].starts_with("${") {
                out.push_str(&self.text[run_start..self.pos]);
                out.push_str("${");
                self.pos += 3;
                run_start = self.pos;
            } else if b == b'$' && bytes.get(self.pos + 1) == Some(&b'{') {
                out.push_str(&self.text[run_start..self.pos]);
                let open = self.pos;
                self.pos += 2;
                let inner = self.expand(lookup, depth + 1)?;
                let whole = &self.text[open..self.pos];
                let value = resolve(&inner, whole, lookup)?;
                out.push_str(&to_display_string(&value));
                run_start = self.pos;
            } else if b == b'}' && depth > 0 {
                out.push_str(&self.text[run_start..self.pos]);
                self.pos += 1;
                return Ok(out);
            } else {
                self.pos += 1;
            }
        }
        if depth > 0 {
            return Err(DollarError::Unterminated { text: shorten(self.text) });
        }
        out.push_str(&self.text[run_start..]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> Value {
        json!({
            "image_id": "ami-123",
            "count": 3,
            "ratio": 0.5,
            "ok": true,
            "nothing": null,
            "groups": ["web", "db"],
            "tags": {"Name": "web-1", "env": "prod"},
            "server": {"tags": {"Name": "srv"}, "ips": ["10.0.0.1", "10.0.0.2"]},
            "which_field": "image_id",
            "key": "Name",
        })
    }

    fn variables() -> Value {
        json!({"which": "count", "region": "eu-west-1", "deep": {"list": [1, [2, 3]]}})
    }

    fn with<T>(f: impl FnOnce(&dyn Lookup) -> T) -> T {
        let (fields, variables) = (fields(), variables());
        f(&ValueLookup { fields: &fields, variables: &variables })
    }

    fn interp(text: &str) -> Result<String, DollarError> {
        with(|l| interpolate(text, l))
    }

    fn subst(text: &str) -> Result<Value, DollarError> {
        with(|l| substitute_str(text, l))
    }

    #[test]
    fn path_walking() {
        let root = fields();
        assert_eq!(lookup_path(&root, "server.tags.Name"), Some(json!("srv")));
        assert_eq!(lookup_path(&root, "server.ips.1"), Some(json!("10.0.0.2")));
        assert_eq!(lookup_path(&root, "groups.0"), Some(json!("web")));
        assert_eq!(lookup_path(&root, "groups.2"), None);
        assert_eq!(lookup_path(&root, "groups.x"), None);
        assert_eq!(lookup_path(&root, "count.x"), None);
        assert_eq!(lookup_path(&root, "server..tags"), None);
        assert_eq!(lookup_path(&root, ""), None);
        assert_eq!(lookup_path(&root, "nothing"), Some(Value::Null));
    }

    #[test]
    fn interpolates_fields_and_variables() {
        assert_eq!(interp("id=${image_id}").unwrap(), "id=ami-123");
        assert_eq!(interp("${f:image_id}/${v:region}").unwrap(), "ami-123/eu-west-1");
        assert_eq!(interp("${server.tags.Name} ${ server.ips.0 }").unwrap(), "srv 10.0.0.1");
        assert_eq!(interp("plain text, $5 and {braces}").unwrap(), "plain text, $5 and {braces}");
        assert_eq!(interp("é${count}é").unwrap(), "é3é");
    }

    #[test]
    fn display_of_each_type() {
        assert_eq!(
            interp("${count} ${ratio} ${ok} [${nothing}] ${groups} ${tags}").unwrap(),
            r#"3 0.5 true [] ["web","db"] {"Name":"web-1","env":"prod"}"#
        );
    }

    #[test]
    fn nested_references_resolve_inside_out() {
        assert_eq!(interp("${f:${v:which}}").unwrap(), "3");
        assert_eq!(interp("${${which_field}}").unwrap(), "ami-123");
        assert_eq!(interp("${tags.${key}}").unwrap(), "web-1");
        assert_eq!(subst("$f:${v:which}").unwrap(), json!(3));
    }

    #[test]
    fn typed_whole_string_forms() {
        assert_eq!(subst("$f:groups").unwrap(), json!(["web", "db"]));
        assert_eq!(subst("$f:tags").unwrap(), json!({"Name": "web-1", "env": "prod"}));
        assert_eq!(subst("$f:count").unwrap(), json!(3));
        assert_eq!(subst("$v:deep.list.1").unwrap(), json!([2, 3]));
        assert_eq!(subst("$f:nothing").unwrap(), Value::Null);
        // Only the no-brace form is typed.
        assert_eq!(subst("${count}").unwrap(), json!("3"));
        assert_eq!(subst("${f:groups}").unwrap(), json!(r#"["web","db"]"#));
        // Not the whole string: plain text.
        assert_eq!(subst("x $f:groups").unwrap(), json!("x $f:groups"));
        assert_eq!(subst("$f:groups and more").unwrap(), json!("$f:groups and more"));
        assert_eq!(subst("$f:").unwrap(), json!("$f:"));
    }

    #[test]
    fn missing_references_are_errors() {
        assert_eq!(interp("id=${image}").unwrap_err(), DollarError::Missing { kind: "field", name: "image".into() });
        assert_eq!(interp("${v:nope}").unwrap_err(), DollarError::Missing { kind: "variable", name: "nope".into() });
        assert_eq!(
            subst("$f:server.tags.Missing").unwrap_err(),
            DollarError::Missing { kind: "field", name: "server.tags.Missing".into() }
        );
        assert_eq!(subst("$v:x").unwrap_err().to_string(), "variable `x` is not set");
        assert_eq!(
            interp("${f:${v:nope}}").unwrap_err(),
            DollarError::Missing { kind: "variable", name: "nope".into() }
        );
    }

    #[test]
    fn malformed_references_are_errors() {
        assert!(matches!(interp("a ${image_id"), Err(DollarError::Unterminated { .. })));
        assert!(matches!(interp("${f:${v:which}"), Err(DollarError::Unterminated { .. })));
        assert_eq!(
            interp("x ${r:1 + 1}").unwrap_err().to_string(),
            "unknown prefix `r:` in `${r:1 + 1}`; use `f:` for a field or `v:` for a variable"
        );
        assert!(matches!(interp("${}"), Err(DollarError::Empty { .. })));
        assert!(matches!(interp("${ }"), Err(DollarError::Empty { .. })));
        let deep = format!("{}x{}", "${".repeat(100), "}".repeat(100));
        assert_eq!(interp(&deep).unwrap_err(), DollarError::TooDeep);
        let long = format!("${{{}", "a".repeat(1000));
        assert!(interp(&long).unwrap_err().to_string().len() < 150);
    }

    #[test]
    fn escaped_dollar_is_literal() {
        assert_eq!(interp(r"cost \${price} for ${count}").unwrap(), "cost ${price} for 3");
        assert_eq!(interp(r"a \$ b \").unwrap(), r"a \$ b \");
        assert_eq!(subst(r"\${count}").unwrap(), json!("${count}"));
    }

    #[test]
    fn substitutes_whole_values_recursively() {
        let input = json!({
            "id": "${image_id}",
            "groups": "$f:groups",
            "list": ["${v:region}", 1, null, {"${key}": "$f:count"}],
            "n": 5
        });
        let out = with(|l| substitute_value(&input, l)).unwrap();
        assert_eq!(
            out,
            json!({
                "id": "ami-123",
                "groups": ["web", "db"],
                "list": ["eu-west-1", 1, null, {"Name": 3}],
                "n": 5
            })
        );
        let clash = json!({"${key}": 1, "Name": 2});
        assert_eq!(
            with(|l| substitute_value(&clash, l)).unwrap_err(),
            DollarError::DuplicateKey { key: "Name".into() }
        );
        let missing = json!([{"a": ["${zzz}"]}]);
        assert!(matches!(with(|l| substitute_value(&missing, l)), Err(DollarError::Missing { .. })));
    }

    #[test]
    fn whole_reference_detection() {
        assert_eq!(whole_reference("${a}"), Some("a"));
        assert_eq!(whole_reference("${f:${v:x}}"), Some("f:${v:x}"));
        assert_eq!(whole_reference("${a} ${b}"), None);
        assert_eq!(whole_reference("${a}x"), None);
        assert_eq!(whole_reference("a"), None);
        assert_eq!(with(|l| resolve_reference("f:${v:which}", l)).unwrap(), json!(3));
    }
}
