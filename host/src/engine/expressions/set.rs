//! `set` and `unset`: write or remove a field or a variable.
//!
//! `set 'f:name' => value`, `set 'v:name' => value`, `set 'name' => value`
//! (a field), `set field: 'name', value: ...`, `set var: 'name', value: ...`;
//! `unset 'f:name'`, `unset field: 'name'`. Values go through dollar
//! notation; `'$f:other'` copies a field with its type.

use super::super::flow::Flow;
use super::super::model::*;
use super::{COMMON_ATTRIBUTES, expand, value_text};
use crate::language::Node;
use serde_json::Value;

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
        let e = StepError::new(
            "bad-input",
            format!("{}: nothing to {} (write {} 'f:name' => value)", node.name, node.name, node.name),
        );
        return flow.fail(fei, e.at_line(node.span.line));
    }
    for (t, value) in assignments {
        let value = match value.map(|v| expand(flow, fei, node, &workitem, &v)).transpose() {
            Ok(v) => v,
            Err(e) => return flow.fail(fei, e),
        };
        match t {
            Target::Field(name) => match value {
                Some(v) => {
                    workitem.fields.insert(name, v);
                }
                None => {
                    workitem.fields.remove(&name);
                }
            },
            Target::Variable(name) => flow.set_variable(fei, &name, value),
        }
    }
    flow.reply_to_parent(fei, workitem);
}
