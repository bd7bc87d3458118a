//! One rule of a filter (Ruote's `RuleSession`): the fields it targets,
//! each validation and transformation it names, and Ruote's `or`/`and`/
//! `default` once they ran.

use super::super::{path, value_text};
use super::Problem;
use crate::model::Fields;
use crate::language::dollar::to_display_string;
use serde_json::{Value, json};

/// One rule applied to the fields it targets.
pub(super) struct Session<'h> {
    hash: &'h mut Fields,
    rule: &'h Fields,
    /// (path, value, regex captures)
    targets: Vec<(String, Option<Value>, Vec<String>)>,
}

const SKIP: &[&str] = &["and", "or", "fields", "field", "f", "record", "flush"];

impl<'h> Session<'h> {
    pub(super) fn new(hash: &'h mut Fields, rule: &'h Fields) -> Result<Self, Problem> {
        let spec = rule
            .get("fields")
            .or(rule.get("field"))
            .or(rule.get("f"))
            .ok_or_else(|| Problem::Bad(format!("a rule needs a 'field': {}", Value::Object(rule.clone()))))?;
        let targets = match spec {
            Value::String(s) if s.len() >= 2 && s.starts_with('/') && s.ends_with('/') => {
                let inner = s.strip_prefix('/').and_then(|r| r.strip_suffix('/')).unwrap_or_default();
                let source = inner.replace('!', "\\.");
                let re = regex(&source)?;
                let tilde_too = source.starts_with("^~");
                let root = if rule.contains_key("restore") {
                    hash.get("~~").and_then(Value::as_object).cloned().unwrap_or_default()
                } else {
                    hash.clone()
                };
                let mut keys = Vec::new();
                flatten_keys(&Value::Object(root), "", &mut keys);
                keys.into_iter()
                    .filter(|k| tilde_too || !k.starts_with('~'))
                    .filter_map(|k| {
                        let caps = re.captures(&k)?;
                        let groups =
                            caps.iter().skip(1).map(|m| m.map(|m| m.as_str().to_owned()).unwrap_or_default()).collect();
                        let value = lookup(hash, &k);
                        Some((k, value, groups))
                    })
                    .collect()
            }
            Value::String(s) if s.contains('|') => {
                let present: Vec<_> = s
                    .split('|')
                    .map(str::trim)
                    .filter_map(|f| {
                        lookup(hash, f).filter(|v| !v.is_null()).map(|v| (f.to_owned(), Some(v), Vec::new()))
                    })
                    .collect();
                if present.is_empty() { vec![(s.clone(), None, Vec::new())] } else { present }
            }
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(|f| (f.to_owned(), lookup(hash, f), Vec::new()))
                .collect(),
            Value::Array(items) => {
                items.iter().map(|f| (value_text(f), lookup(hash, &value_text(f)), Vec::new())).collect()
            }
            other => return Err(Problem::Bad(format!("field {other} is not a field name"))),
        };
        Ok(Session { hash, rule, targets })
    }

    pub(super) fn run(mut self) -> Result<Vec<Value>, Problem> {
        let keys: Vec<&String> = self.rule.keys().filter(|k| !SKIP.contains(&k.as_str())).collect();
        let validation = !self.rule.contains_key("and") && !self.rule.contains_key("or");
        let rule_value = Value::Object(self.rule.clone());
        if validation && self.targets.is_empty() && keys.is_empty() {
            let spec = self.rule.get("fields").or(self.rule.get("field")).or(self.rule.get("f")).cloned();
            return Ok(vec![json!([rule_value, spec, null])]);
        }
        let mut deviations = Vec::new();
        for (field, value, captures) in std::mem::take(&mut self.targets) {
            let mut valid = None;
            if keys.is_empty() {
                valid = Some(value.as_ref().is_some_and(|v| !v.is_null()));
            }
            let rule = self.rule;
            for key in &keys {
                let Some(arg) = rule.get(key.as_str()) else { continue };
                if self.operate(key, arg, &field, value.as_ref(), &captures)? == Some(false) {
                    valid = Some(false);
                }
            }
            if let Some(d) = self.or_and(valid, &field, value.as_ref())? {
                deviations.push(json!([rule_value, field, d]));
            }
        }
        Ok(deviations)
    }

    fn set(&mut self, field: &str, value: Value) -> Result<(), Problem> {
        if field == "." {
            return match value {
                Value::Object(o) => {
                    self.hash.extend(o);
                    Ok(())
                }
                other => Err(Problem::Bad(format!("cannot replace the fields with {other}"))),
            };
        }
        path::set(self.hash, field, value).map_err(Problem::Bad)
    }

    /// One operation of the rule: `Some(valid)` for a validation, `None`
    /// for a transformation.
    fn operate(
        &mut self,
        key: &str,
        arg: &Value,
        field: &str,
        value: Option<&Value>,
        captures: &[String],
    ) -> Result<Option<bool>, Problem> {
        let null = Value::Null;
        let v = value.unwrap_or(&null);
        let list = |arg: &Value| -> Vec<Value> {
            match arg {
                Value::Array(items) => items.clone(),
                other => value_text(other).split(',').map(|s| Value::String(s.trim().to_owned())).collect(),
            }
        };
        Ok(match key {
            // Transformations.
            "remove" | "rm" | "delete" | "del" => {
                path::remove(self.hash, field);
                None
            }
            "set" | "s" => {
                self.set(field, arg.clone())?;
                None
            }
            "default" => None, // applied with `or` below
            "copy_to" | "cp_to" | "move_to" | "mv_to" => {
                let target = adjust(&value_text(arg), captures);
                self.set(&target, v.clone())?;
                if key.starts_with('m') {
                    path::remove(self.hash, field);
                }
                None
            }
            "copy_from" | "cp_from" | "move_from" | "mv_from" => {
                let source = value_text(arg);
                let copied = lookup(self.hash, &source).unwrap_or(Value::Null);
                self.set(field, copied)?;
                if key.starts_with('m') {
                    path::remove(self.hash, &source);
                }
                None
            }
            "merge_to" | "mg_to" | "push_to" | "pu_to" | "migrate_to" | "mi_to" => {
                let target_path = value_text(arg);
                let Some(mut target) = lookup(self.hash, &target_path).filter(|t| t.is_object() || t.is_array()) else {
                    return Ok(None);
                };
                merge_into(&mut target, field, v.clone());
                self.put_back(&target_path, target)?;
                if key.starts_with("mi") {
                    path::remove(self.hash, field);
                }
                None
            }
            "merge_from" | "mg_from" | "push_from" | "pu_from" | "migrate_from" | "mi_from" => {
                if !(v.is_object() || v.is_array()) {
                    return Ok(None);
                }
                let source_path = value_text(arg);
                let source = lookup(self.hash, &source_path).unwrap_or(Value::Null);
                let mut target = v.clone();
                merge_into(&mut target, &source_path, source);
                self.put_back(field, target)?;
                if source_path != "." && key.starts_with("mi") {
                    path::remove(self.hash, &source_path);
                }
                None
            }
            "restore" | "restore_from" | "rs" => {
                let prefix = if *arg == Value::Bool(true) { "~~".to_owned() } else { value_text(arg) };
                let old = lookup(self.hash, &format!("{prefix}.{field}")).unwrap_or(Value::Null);
                self.set(field, old)?;
                None
            }
            "take" | "discard" => {
                return Err(Problem::Bad(format!(
                    "'{key}' belongs to Ruote's :filter attribute, not to the filter expression"
                )));
            }
            // Validations.
            "size" | "sz" => {
                let (min, max) = size_bounds(arg)?;
                let size = match v {
                    Value::String(s) => Some(s.chars().count()),
                    Value::Array(a) => Some(a.len()),
                    Value::Object(o) => Some(o.len()),
                    _ => None,
                };
                Some(size.is_some_and(|n| min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)))
            }
            "empty" | "e" => {
                let empty = match v {
                    Value::String(s) => s.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.is_empty(),
                    _ => false,
                };
                Some(empty == super::super::truthy(arg))
            }
            "in" | "i" => Some(value.is_some() && list(arg).contains(v)),
            "has" | "h" => {
                let wanted = list(arg);
                Some(match v {
                    Value::Object(o) => wanted.iter().all(|w| w.as_str().is_some_and(|k| o.contains_key(k))),
                    Value::Array(a) => wanted.iter().all(|w| a.contains(w)),
                    _ => false,
                })
            }
            "includes" => Some(match v {
                Value::Array(a) => a.contains(arg),
                Value::Object(o) => o.values().any(|x| x == arg),
                _ => false,
            }),
            "type" | "t" => Some(of_type(v, arg)?),
            "match" | "m" => Some(!v.is_null() && regex(&value_text(arg))?.is_match(&to_display_string(v))),
            "smatch" | "sm" => {
                Some(v.as_str().is_some() && regex(&value_text(arg))?.is_match(v.as_str().unwrap_or_default()))
            }
            "is" => Some(v == arg),
            "valid" | "v" => Some(value_text(arg) == "true"),
            other => return Err(Problem::Bad(format!("unknown rule '{other}'"))),
        })
    }

    fn put_back(&mut self, target: &str, value: Value) -> Result<(), Problem> {
        if target == "." {
            if let Value::Object(mut o) = value {
                o.remove("~");
                o.remove("~~");
                self.hash.extend(o);
            }
            return Ok(());
        }
        self.set(target, value)
    }

    /// Ruote's `or` / `and` / `default`: a deviation when invalid and
    /// neither says what to do.
    fn or_and(&mut self, valid: Option<bool>, field: &str, value: Option<&Value>) -> Result<Option<Value>, Problem> {
        let or = self.rule.get("or").filter(|v| !v.is_null()).cloned();
        let and = self.rule.get("and").filter(|v| !v.is_null()).cloned();
        if valid == Some(false) {
            match (or, and) {
                (Some(o), _) => self.set(field, o)?,
                (None, None) => return Ok(Some(value.cloned().unwrap_or(Value::Null))),
                (None, Some(_)) => {}
            }
        } else if let Some(a) = and {
            self.set(field, a)?;
        } else if value.is_none_or(Value::is_null)
            && let Some(o) = or.or_else(|| self.rule.get("default").filter(|v| !v.is_null()).cloned())
        {
            self.set(field, o)?;
        }
        Ok(None)
    }
}

/// The value at a dotted path of the fields being filtered (`.` is the
/// whole of them).
fn lookup(hash: &Fields, field: &str) -> Option<Value> {
    if field == "." {
        let mut all = hash.clone();
        all.remove("~");
        all.remove("~~");
        return Some(Value::Object(all));
    }
    path::get(hash, field)
}

/// `b\1`: the regex's captures put into a target name.
fn adjust(target: &str, captures: &[String]) -> String {
    let mut out = String::new();
    let mut chars = target.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(d) = chars.peek().and_then(|d| d.to_digit(10))
        {
            chars.next();
            out.push_str(captures.get((d as usize).wrapping_sub(1)).map(String::as_str).unwrap_or(""));
        } else {
            out.push(c);
        }
    }
    out
}

/// Ruote's merge: into an array, push; a hash into a hash, merge; else set
/// under the last segment of the field's name.
fn merge_into(target: &mut Value, field: &str, value: Value) {
    match (target, value) {
        (Value::Array(items), v) => items.push(v),
        (Value::Object(t), Value::Object(v)) => {
            t.extend(v);
            t.remove("~");
            t.remove("~~");
        }
        (Value::Object(t), v) => {
            t.insert(field.rsplit('.').next().unwrap_or(field).to_owned(), v);
        }
        _ => {}
    }
}

fn size_bounds(arg: &Value) -> Result<(Option<usize>, Option<usize>), Problem> {
    let bad = || Problem::Bad(format!("size: {arg} is not a size or a range (4, '4,5', [4, 5], '4,', ',5')"));
    let num = |v: &Value| -> Result<Option<usize>, Problem> {
        match v {
            Value::Null => Ok(None),
            Value::Number(n) => n.as_u64().map(|n| Some(n as usize)).ok_or_else(bad),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => s.trim().parse().map(Some).map_err(|_| bad()),
            _ => Err(bad()),
        }
    };
    match arg {
        Value::Number(_) => {
            let n = num(arg)?;
            Ok((n, n))
        }
        Value::String(s) if !s.contains(',') => {
            let n = num(arg)?;
            Ok((n, n))
        }
        Value::String(s) => {
            let (a, b) = s.split_once(',').ok_or_else(bad)?;
            Ok((num(&json!(a))?, num(&json!(b))?))
        }
        Value::Array(items) => match items.as_slice() {
            [min] => Ok((num(min)?, None)),
            [min, max] => Ok((num(min)?, num(max)?)),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// Splits `array<string,number>,null` at its top-level commas.
fn split_types(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in spec.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current.trim().to_owned());
    out.into_iter().filter(|t| !t.is_empty()).collect()
}

fn of_type(value: &Value, types: &Value) -> Result<bool, Problem> {
    let types: Vec<String> = match types {
        Value::Array(items) => items.iter().map(value_text).collect(),
        other => split_types(&value_text(other)),
    };
    for t in types {
        let ok = match t.as_str() {
            "null" | "nil" => value.is_null(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "bool" | "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" | "hash" => value.is_object(),
            other => match other.split_once('<') {
                Some((container, rest)) if rest.ends_with('>') => {
                    let inner = Value::String(rest.strip_suffix('>').unwrap_or(rest).to_owned());
                    let children: Vec<&Value> = match (container, value) {
                        ("array", Value::Array(items)) => items.iter().collect(),
                        ("object" | "hash", Value::Object(map)) => map.values().collect(),
                        ("array" | "object" | "hash", _) => {
                            continue;
                        }
                        _ => return Err(Problem::Bad(format!("unknown type '{other}'"))),
                    };
                    let mut all = true;
                    for c in children {
                        all &= of_type(c, &inner)?;
                    }
                    all
                }
                _ => return Err(Problem::Bad(format!("unknown type '{other}'"))),
            },
        };
        if ok {
            return Ok(true);
        }
    }
    Ok(false)
}

fn regex(pattern: &str) -> Result<regex::Regex, Problem> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| Problem::Bad(format!("invalid regular expression /{pattern}/: {e}")))
}

/// Every dotted key of a value: `{a: 'b', c: [1, 2]}` gives `a, c, c.0, c.1`.
fn flatten_keys(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let key = format!("{prefix}{i}");
                out.push(key.clone());
                flatten_keys(item, &format!("{key}."), out);
            }
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in entries {
                let key = format!("{prefix}{k}");
                out.push(key.clone());
                flatten_keys(v, &format!("{key}."), out);
            }
        }
        _ => {}
    }
}
