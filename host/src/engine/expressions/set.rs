//! `set` (`rset`) and `unset`: write or remove a field or a variable.
//!
//! `set 'f:name' => value`, `set 'v:name' => value`, `set 'name' => value`
//! (a field), `set field: 'name', value: ...`, `set var: 'name', value: ...`;
//! `unset 'f:name'`, `unset field: 'name'`. Field names are dotted paths
//! (`set 'f:server.tags.Name' => 'web'`). Values go through dollar
//! notation (not with `escape: true`); `'$f:other'` copies a field with
//! its type, as does `field_value: 'other'` (`variable_value:` a
//! variable). With a block, the value is what the block leaves in
//! `__result__`. As in Ruote, the field `__result__` holds what was set
//! (or removed) afterwards.

use super::super::flow::Flow;
use crate::model::*;
use super::equals::RESULT_FIELD;
use super::{COMMON_ATTRIBUTES, expand, path, value_text};
use crate::language::Node;
use serde_json::Value;

pub(crate) struct Set;

impl super::Kind for Set {
    const NAMES: &'static [&'static str] = &["set", "rset", "unset"];
    type State = ();

    /// `set 'f:x' do ... end` runs the block first, in a scope of its own:
    /// the value is the `__result__` it leaves (its last `set`'s value).
    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        if node.children.is_empty() || node.name == "unset" {
            return assign(flow, fei, node, workitem, None);
        }
        super::apply_block(flow, fei, workitem)
    }

    fn reply(flow: &mut Flow, fei: &Fei, _from: &Fei, workitem: Workitem) {
        let Some(Ok(node)) = flow.get(fei).map(|e| flow.node(&e.tree)) else { return };
        let value = super::block_value(&workitem);
        assign(flow, fei, &node, workitem, Some(value))
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

/// A value to assign: as written (dollar notation still to expand, in
/// order, so a later assignment sees an earlier one), or already read.
enum Pending {
    Raw(Value),
    Read(Value),
}

/// Does the assignments; `block` is the value a block computed.
fn assign(flow: &mut Flow, fei: &Fei, node: &Node, mut workitem: Workitem, block: Option<Value>) {
    let unset = node.name == "unset";
    let explicit = match block {
        Some(v) => Some(Ok(v)),
        None => node.attrs.iter().find_map(|(k, raw)| super::attribute_value(flow, fei, node, &workitem, k, raw)),
    };
    let explicit = match explicit.transpose() {
        Ok(v) => v.unwrap_or(Value::Null),
        Err(e) => return flow.fail(fei, e),
    };
    let mut assignments: Vec<(Target, Option<Pending>)> = Vec::new();
    for (key, value) in &node.attrs {
        let k = key.as_str();
        if COMMON_ATTRIBUTES.contains(&k) || super::is_value_attribute(k) {
            continue;
        }
        let t = match k {
            "field" | "f" => Target::Field(value_text(value)),
            "var" | "v" | "variable" => Target::Variable(value_text(value)),
            _ => {
                assignments.push((target(k), (!unset).then(|| Pending::Raw(value.clone()))));
                continue;
            }
        };
        assignments.push((t, (!unset).then(|| Pending::Read(explicit.clone()))));
    }
    for arg in &node.args {
        // `unset 'f:x'`, or a bare `set 'f:x'` (the block's value, or null).
        assignments.push((target(&value_text(arg)), (!unset).then(|| Pending::Read(explicit.clone()))));
    }
    if assignments.is_empty() {
        let e = StepError::new(
            StepErrorKind::BadInput,
            format!("{}: nothing to {} (write {} 'f:name' => value)", node.name, node.name, node.name),
        );
        return flow.fail(fei, e.at_line(node.span.line));
    }
    let mut result = Value::Null;
    for (t, value) in assignments {
        let value = match value {
            None => None,
            Some(Pending::Read(v)) => Some(v),
            Some(Pending::Raw(v)) => match expand(flow, fei, node, &workitem, &v) {
                Ok(v) => Some(v),
                Err(e) => return flow.fail(fei, e),
            },
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
