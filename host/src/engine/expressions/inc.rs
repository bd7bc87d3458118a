//! `inc` and `dec`: add to (or take from) a numeric field or variable, or
//! append to (remove from) an array. `inc 'v:count'`, `inc 'f:n', val: 5`,
//! `inc field: 'hosts', val: 'web3'`, `dec 'v:left'`.

use super::super::flow::Flow;
use super::super::model::*;
use super::{attr, expand, value_text};
use crate::language::Node;
use serde_json::{Value, json};

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, mut workitem: Workitem) {
    let fail = |m: String| StepError::new("bad-input", format!("{}: {m}", node.name)).at_line(node.span.line);
    let target = match (node.first_arg_str(), attr(node, &["field", "f"]), attr(node, &["var", "v", "variable"])) {
        (Some(spec), _, _) => spec.to_owned(),
        (None, Some(f), _) => format!("f:{}", value_text(f)),
        (None, None, Some(v)) => format!("v:{}", value_text(v)),
        _ => return flow.fail(fei, fail("which field or variable? (inc 'v:count')".into())),
    };
    let by = match attr(node, &["val", "value"]).map(|v| expand(flow, fei, node, &workitem, v)).transpose() {
        Ok(v) => v.unwrap_or(json!(1)),
        Err(e) => return flow.fail(fei, e),
    };
    let (is_var, name) = match target.split_once(':') {
        Some(("v" | "var", n)) => (true, n.to_owned()),
        Some(("f" | "field", n)) => (false, n.to_owned()),
        _ => (false, target.clone()),
    };
    let current = if is_var { flow.variable(fei, &name) } else { workitem.fields.get(&name).cloned() };
    let down = node.name == "dec";
    let next = match (current.unwrap_or(Value::Null), &by) {
        (Value::Array(mut items), v) => {
            if down {
                items.retain(|x| x != v);
            } else {
                items.push(v.clone());
            }
            Value::Array(items)
        }
        (Value::Null, v) if !v.is_number() => json!([v]),
        (cur, v) => {
            let (Some(a), Some(b)) = (number(&cur), number(v)) else {
                return flow.fail(fei, fail(format!("'{target}' is {cur}, not a number or an array")));
            };
            let n = if down { a - b } else { a + b };
            if n.fract() == 0.0 && n.abs() < 9e15 { json!(n as i64) } else { json!(n) }
        }
    };
    if is_var {
        flow.set_variable(fei, &name, Some(next));
    } else {
        workitem.fields.insert(name, next);
    }
    flow.reply_to_parent(fei, workitem);
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Null => Some(0.0),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
