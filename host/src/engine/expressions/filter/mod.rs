//! `filter`: Ruote's validation and transformation rules over the
//! workitem's fields.
//!
//! ```ruby
//! filter 'x', type: 'string'                         # one rule
//! filter in: [{ field: 'x', type: 'string' }, 'or',   # rules, with Ruote's
//!             { field: 'y', type: 'number' }]         # top-level 'or'
//! filter 'v:rules'                                    # rules in a variable or field
//! filter do                                           # rules as a block
//!   field 'x', type: 'string'
//!   y type: 'number', or: 0
//! end
//! ```
//!
//! A rule targets `field:`/`f:`/`fields:`: a name or dotted path, a
//! comma-separated list, `a|b` (at least one present), or `/regex/` over
//! every dotted key (`!` stands for `\.`). Validations: `type`/`t`
//! (`string`, `number`, `bool`/`boolean`, `null`/`nil`, `array`,
//! `object`/`hash`, `array<...>`, `object<...>`, alternatives `a,b`),
//! `match`/`m`, `smatch`/`sm`, `size`/`sz`, `empty`/`e`, `is`, `in`/`i`,
//! `has`/`h`, `includes`, `valid`/`v`. Transformations: `remove`
//! (`rm`/`delete`/`del`), `set`/`s`, `default`, `or` (when invalid or
//! missing), `and` (when valid), `copy_to`/`cp_to`, `move_to`/`mv_to`,
//! `copy_from`/`cp_from`, `move_from`/`mv_from`, `merge_to`/`mg_to`/
//! `push_to`/`pu_to`, `migrate_to`/`mi_to`, `merge_from`/..., `restore`/
//! `restore_from`/`rs`; `~` is the fields before this filter, `~~` the
//! fields the enclosing expression was applied with.
//!
//! A failed validation is an error of kind `validation` (Ruote's
//! `ValidationError`) listing the deviations, unless the first rule says
//! `record: true` (or a field name): then the deviations are appended to
//! `__validation_errors__` (or that field; `flush: true` empties it first)
//! and the flow goes on. `take`/`discard` belong to Ruote's `:filter`
//! attribute and are refused here.

use super::super::flow::Flow;
use crate::model::*;
use super::{COMMON_ATTRIBUTES, expand, path, value_text};
use crate::language::Node;
use crate::language::dollar::to_display_string;
use serde_json::{Value, json};
use session::Session;

pub(crate) struct Filter;

impl super::Kind for Filter {
    const NAMES: &'static [&'static str] = &["filter"];
    const PROPERTIES: super::Properties = super::Properties { children_are_data: true, ..super::Properties::PLAIN };
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

mod session;
#[cfg(test)]
mod tests;

pub(crate) const VALIDATION_ERRORS_FIELD: &str = "__validation_errors__";

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, mut workitem: Workitem) {
    workitem.fields.remove(super::equals::RESULT_FIELD);
    let mut rules = match rules(flow, fei, node, &workitem) {
        Ok(r) => r,
        Err(p) => return flow.fail(fei, p.into_error(node.span.line)),
    };
    let (record, flush) = match rules.first_mut().and_then(Value::as_object_mut) {
        Some(first) => (first.remove("record"), first.remove("flush").is_some_and(|f| super::truthy(&f))),
        None => (None, false),
    };
    let record = match record {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(VALIDATION_ERRORS_FIELD.to_owned()),
        Some(other) => Some(value_text(&other)),
    };
    let double_tilde = flow
        .get(fei)
        .and_then(|e| e.parent.as_ref())
        .and_then(|p| flow.get(p))
        .map(|p| p.applied.fields.clone())
        .unwrap_or_else(|| workitem.fields.clone());
    match (run(&rules, &workitem.fields, &double_tilde), record) {
        (Ok(fields), _) => workitem.fields = fields,
        // Ruote's `record:`: the deviations are kept and the flow goes on.
        (Err(Problem::Deviations(deviations)), Some(name)) => {
            let list = workitem.fields.entry(name).or_insert_with(|| json!([]));
            if flush || !list.is_array() {
                *list = json!([]);
            }
            if let Value::Array(list) = list {
                list.extend(deviations);
            }
        }
        (Err(problem), _) => return flow.fail(fei, problem.into_error(node.span.line)),
    }
    flow.reply_to_parent(fei, workitem);
}

enum Problem {
    /// The rules themselves are wrong.
    Bad(String),
    Step(StepError),
    /// Validation failed: `[rule, field, value]` each.
    Deviations(Vec<Value>),
}

impl Problem {
    /// The step's error: `bad-input` for wrong rules, `validation` (Ruote's
    /// `ValidationError`) for fields that fail them.
    fn into_error(self, line: u32) -> StepError {
        match self {
            Problem::Bad(m) => StepError::new(StepErrorKind::BadInput, format!("filter: {m}")).at_line(line),
            Problem::Step(e) => e,
            Problem::Deviations(d) => StepError::new(StepErrorKind::Validation, describe_deviations(&d)).at_line(line),
        }
    }
}

impl From<StepError> for Problem {
    fn from(e: StepError) -> Self {
        Problem::Step(e)
    }
}

fn describe_deviations(deviations: &[Value]) -> String {
    let each: Vec<String> = deviations
        .iter()
        .map(|d| {
            let field = d.get(1).map(to_display_string).unwrap_or_default();
            let value = d.get(2).map(Value::to_string).unwrap_or_default();
            let rule = d.get(0).map(Value::to_string).unwrap_or_default();
            format!("field '{field}' ({value}) fails {rule}")
        })
        .collect();
    format!("validation failed with {} deviation(s): {}", deviations.len(), each.join("; "))
}

/// The rules, from wherever the step gives them.
fn rules(flow: &Flow, fei: &Fei, node: &Node, workitem: &Workitem) -> Result<Vec<Value>, Problem> {
    let own: Vec<&(String, Value)> =
        node.attrs.iter().filter(|(k, _)| !COMMON_ATTRIBUTES.contains(&k.as_str())).collect();
    let first = node.args.first().map(|a| expand(flow, fei, node, workitem, a)).transpose()?;
    // `filter 'v:rules'` / `filter 'f:rules'`: rules stored elsewhere.
    if let Some(Value::String(text)) = &first
        && own.is_empty()
        && let Some((prefix, key)) = text.split_once(':')
        && matches!(prefix, "v" | "var" | "variable" | "f" | "field")
    {
        let stored = if prefix.starts_with('v') { flow.variable(fei, key) } else { path::get(&workitem.fields, key) };
        let stored = stored.ok_or_else(|| Problem::Bad(format!("'{text}' is not set")))?;
        let stored = match stored {
            Value::Object(mut o) if o.contains_key("in") => o.remove("in").unwrap_or(Value::Null),
            other => other,
        };
        return as_rules(stored, &format!("'{text}'"));
    }
    let has_field = own.iter().any(|(k, _)| matches!(k.as_str(), "field" | "f" | "fields"));
    if first.is_none()
        && !has_field
        && let Some(list) = node.attr("in")
    {
        return as_rules(expand(flow, fei, node, workitem, list)?, "in:");
    }
    if first.is_some() || !own.is_empty() {
        if !node.children.is_empty() {
            return Err(Problem::Bad("give rules either as attributes or as a block, not both".into()));
        }
        let mut rule = Fields::new();
        for (k, v) in own {
            rule.insert(k.clone(), expand(flow, fei, node, workitem, v)?);
        }
        if let Some(f) = first {
            rule.insert("field".into(), f);
        }
        return Ok(vec![Value::Object(rule)]);
    }
    if node.children.is_empty() {
        return Err(Problem::Bad("no rules (filter 'x', type: 'string', or filter in: [...], or a block)".into()));
    }
    let mut rules = Vec::new();
    for child in &node.children {
        if matches!(child.name.as_str(), "or" | "_or") {
            rules.push(json!("or"));
            continue;
        }
        let mut rule = Fields::new();
        for (k, v) in &child.attrs {
            rule.insert(k.clone(), expand(flow, fei, node, workitem, v)?);
        }
        let field = match child.args.first() {
            Some(a) if matches!(child.name.as_str(), "field" | "f" | "fields") => expand(flow, fei, node, workitem, a)?,
            _ => Value::String(child.name.clone()),
        };
        rule.entry("field").or_insert(field);
        rules.push(Value::Object(rule));
    }
    Ok(rules)
}

fn as_rules(value: Value, what: &str) -> Result<Vec<Value>, Problem> {
    match value {
        Value::Array(rules) => Ok(rules),
        Value::Object(rule) => Ok(vec![Value::Object(rule)]),
        other => Err(Problem::Bad(format!(
            "{what} is {}, not a list of rules",
            crate::language::tree::describe_value(&other)
        ))),
    }
}

/// Applies the rules to `fields`: the filtered fields, or the deviations
/// of the last alternative when every alternative (split by `'or'`) fails.
fn run(rules: &[Value], fields: &Fields, double_tilde: &Fields) -> Result<Fields, Problem> {
    let mut groups: Vec<Vec<&Fields>> = vec![Vec::new()];
    for rule in rules {
        match rule {
            Value::Object(r) => {
                if let Some(g) = groups.last_mut() {
                    g.push(r)
                }
            }
            Value::String(s) if s == "or" => groups.push(Vec::new()),
            other => return Err(Problem::Bad(format!("a rule must be a hash (or 'or'), not {other}"))),
        }
    }
    let mut last = Problem::Deviations(Vec::new());
    for group in groups {
        match filter_once(&group, fields, double_tilde) {
            Ok(f) => return Ok(f),
            Err(Problem::Deviations(d)) => last = Problem::Deviations(d),
            Err(other) => return Err(other),
        }
    }
    Err(last)
}

fn filter_once(rules: &[&Fields], fields: &Fields, double_tilde: &Fields) -> Result<Fields, Problem> {
    let mut hash = fields.clone();
    hash.insert("~".into(), Value::Object(fields.clone()));
    hash.insert("~~".into(), Value::Object(double_tilde.clone()));
    let mut deviations = Vec::new();
    for rule in rules {
        deviations.extend(Session::new(&mut hash, rule)?.run()?);
    }
    hash.remove("~");
    hash.remove("~~");
    if deviations.is_empty() { Ok(hash) } else { Err(Problem::Deviations(deviations)) }
}
