//! `set` (`rset`) and `unset`: write or remove a field or a variable.
//!
//! `set 'f:name' => value`, `set 'v:name' => value`, `set 'name' => value`
//! (a field), `set field: 'name', value: ...`, `set var: 'name', value: ...`;
//! `unset 'f:name'`, `unset field: 'name'`. Field names are dotted paths
//! (`set 'f:server.tags.Name' => 'web'`). Values go through dollar
//! notation; `'$f:other'` copies a field with its type. As in Ruote, the
//! field `__result__` holds what was set (or removed) afterwards.

use super::super::flow::Flow;
use super::super::model::*;
use super::equals::RESULT_FIELD;
use super::{COMMON_ATTRIBUTES, expand, path, value_text};
use crate::language::Node;
use serde_json::Value;

pub(crate) struct Set;

impl super::Kind for Set {
    const NAMES: &'static [&'static str] = &["set", "rset", "unset"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

enum Target {
    Field(String),
    Variable(String),
}

fn target(spec: &str) -> Target {
    match spec.split_once(':') {
        Some(("f" | "field", name)) => Target::Field(name.to_owned()),
        Some(("v" | "var" | "variable", name)) => Target::Variable(name.to_owned()),
        _ => Target::Field(spec.to_owned()),
    }
}

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, mut workitem: Workitem) {
    let unset = node.name == "unset";
    let mut assignments: Vec<(Target, Option<Value>)> = Vec::new();
    let explicit_value = super::attr(node, &["value", "val"]);
    for (key, value) in &node.attrs {
        let k = key.as_str();
        if COMMON_ATTRIBUTES.contains(&k) || matches!(k, "value" | "val") {
            continue;
        }
        let t = match k {
            "field" | "f" => Target::Field(value_text(value)),
            "var" | "v" | "variable" => Target::Variable(value_text(value)),
            _ => {
                assignments.push((target(k), if unset { None } else { Some(value.clone()) }));
                continue;
            }
        };
        assignments.push((t, if unset { None } else { explicit_value.cloned().or(Some(Value::Null)) }));
    }
    for arg in &node.args {
        // `unset 'f:x'`, or a bare `set 'f:x'` (sets null).
        assignments.push((target(&value_text(arg)), if unset { None } else { Some(Value::Null) }));
    }
    if assignments.is_empty() {
        let e = StepError::new(StepErrorKind::BadInput,
            format!("{}: nothing to {} (write {} 'f:name' => value)", node.name, node.name, node.name),
        );
        return flow.fail(fei, e.at_line(node.span.line));
    }
    let mut result = Value::Null;
    for (t, value) in assignments {
        let value = match value.map(|v| expand(flow, fei, node, &workitem, &v)).transpose() {
            Ok(v) => v,
            Err(e) => return flow.fail(fei, e),
        };
        // Names take dollar notation too: `set 'v:v${v:i}' => 1`.
        let name = |n: String| expand(flow, fei, node, &workitem, &Value::String(n)).map(|v| value_text(&v));
        let t = match t {
            Target::Field(n) => name(n).map(Target::Field),
            Target::Variable(n) => name(n).map(Target::Variable),
        };
        let t = match t {
            Ok(t) => t,
            Err(e) => return flow.fail(fei, e),
        };
        result = match (t, value) {
            (Target::Field(name), Some(v)) => {
                if let Err(m) = path::set(&mut workitem.fields, &name, v.clone()) {
                    let e = StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name));
                    return flow.fail(fei, e.at_line(node.span.line));
                }
                v
            }
            (Target::Field(name), None) => path::remove(&mut workitem.fields, &name).unwrap_or(Value::Null),
            (Target::Variable(name), value) => {
                let previous = flow.variable(fei, &name);
                flow.set_variable(fei, &name, value.clone());
                value.or(previous).unwrap_or(Value::Null)
            }
        };
    }
    workitem.fields.insert(RESULT_FIELD.into(), result);
    flow.reply_to_parent(fei, workitem);
}
