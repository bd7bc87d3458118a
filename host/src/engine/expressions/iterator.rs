//! `iterator`: runs its children once per item of a list, in order.
//! The list comes from `on_field:`/`on_f:` (a field), `on_var:`/`on_v:`,
//! `on:`/`on_val:`/`on_value:` (an array, or text split on `sep:`, default
//! ','), or `times:`/`branches:` (0..n). Each item goes into the variable
//! named by `to_var:`/`to_v:` (default `i`) or the field named by
//! `to_field:`/`to_f:` (or `to: 'f:name'`/`to: 'v:name'`); the variable
//! `ii` holds the index. It obeys cursor commands (`break`, `rewind`,
//! `skip`, `jump`).

use super::super::flow::Flow;
use super::super::model::*;
use super::command::{self, is_direct_child};
use super::{attr, child_count, expand, value_text};
use crate::language::Node;
use serde_json::{Value, json};

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    if child_count(flow, fei) == 0 {
        return flow.reply_to_parent(fei, workitem);
    }
    let (list, target) = match list_and_target(flow, fei, node, &workitem) {
        Ok(x) => x,
        Err(e) => return flow.fail(fei, e),
    };
    if let Some(e) = flow.get_mut(fei) {
        if node.attr("scope").is_some_and(super::truthy) {
            e.variables = Some(Fields::new());
        }
        e.state = json!({ "list": list, "position": -1, "target": target });
    }
    move_on(flow, fei, None, workitem);
}

pub(crate) fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
    let Some(e) = flow.get(fei) else { return };
    if is_direct_child(fei, from) {
        let workitem = match e.state.get("command_workitem") {
            Some(w) => serde_json::from_value(w.clone()).unwrap_or(workitem),
            None => workitem,
        };
        if let Some(e) = flow.get_mut(fei)
            && let Some(s) = e.state.as_object_mut()
        {
            s.remove("command_workitem");
        }
        return move_on(flow, fei, Some(from), workitem);
    }
    let children = e.children.clone();
    if let Some(e) = flow.get_mut(fei)
        && let Some(s) = e.state.as_object_mut()
    {
        s.insert("command_workitem".into(), json!(workitem));
    }
    for child in children {
        flow.queue(Message::Cancel { fei: child, kill: false });
    }
}

fn move_on(flow: &mut Flow, fei: &Fei, from: Option<&Fei>, mut workitem: Workitem) {
    let Some(e) = flow.get(fei) else { return };
    let Ok(node) = flow.node(&e.tree) else { return };
    let list = e.state.get("list").and_then(Value::as_array).cloned().unwrap_or_default();
    let target = e.state.get("target").cloned().unwrap_or(Value::Null);
    let current = e.state.get("position").and_then(Value::as_i64).unwrap_or(-1);
    let mut position = current.max(0);
    let children = child_count(flow, fei);
    let child_id = from.map(|f| f.child_index() + 1).unwrap_or(0);
    match command::take(flow, fei, &node, &mut workitem) {
        Some((com, _)) if com == "break" => return flow.reply_to_parent(fei, workitem),
        Some((com, _)) if com == "rewind" || com == "continue" || com == "reset" => position = 0,
        Some((com, arg)) if com == "skip" => position += arg.as_i64().unwrap_or(1) + 1,
        Some((com, arg)) if com == "jump" => position = arg.as_i64().unwrap_or(position),
        _ => {
            if child_id >= children {
                position += 1;
            }
        }
    }
    if position < 0 {
        position += list.len() as i64;
    }
    if let Some(e) = flow.get_mut(fei) {
        e.state["position"] = json!(position);
    }
    if position == current && child_id < children {
        return flow.apply_child(fei, child_id, workitem);
    }
    let Some(value) = usize::try_from(position).ok().and_then(|p| list.get(p)).cloned() else {
        return flow.reply_to_parent(fei, workitem);
    };
    flow.set_variable(fei, "ii", Some(json!(position)));
    bind_item(flow, fei, &target, value, &mut workitem);
    flow.apply_child(fei, 0, workitem);
}

/// Puts the current item where `to_*` says.
fn bind_item(flow: &mut Flow, fei: &Fei, target: &Value, value: Value, workitem: &mut Workitem) {
    let name = target.get("name").and_then(Value::as_str).unwrap_or("i").to_owned();
    if target.get("field").and_then(Value::as_bool) == Some(true) {
        workitem.fields.insert(name, value);
    } else {
        flow.set_variable(fei, &name, Some(value));
    }
}

/// The list to iterate on and where each item goes: `{"name", "field"}`.
pub(crate) fn list_and_target(
    flow: &Flow,
    fei: &Fei,
    node: &Node,
    workitem: &Workitem,
) -> Result<(Vec<Value>, Value), StepError> {
    let bad = |m: String| StepError::new("bad-input", format!("{}: {m}", node.name)).at_line(node.span.line);
    let list = if let Some(n) = attr(node, &["times", "branches"]) {
        let n = expand(flow, fei, node, workitem, n)?;
        let n = n
            .as_u64()
            .or_else(|| value_text(&n).trim().parse().ok())
            .ok_or_else(|| bad("times must be a count".into()))?;
        (0..n).map(Value::from).collect()
    } else if let Some(f) = attr(node, &["on_field", "on_f", "on_fld"]) {
        let name = value_text(&expand(flow, fei, node, workitem, f)?);
        let v = flow.lookup(fei, workitem);
        let value = crate::language::dollar::Lookup::field(&v, &name)
            .ok_or_else(|| bad(format!("field '{name}' is not set")))?;
        split(node, value)
    } else if let Some(f) = attr(node, &["on_var", "on_v", "on_variable"]) {
        let name = value_text(&expand(flow, fei, node, workitem, f)?);
        let value = flow.variable(fei, &name).ok_or_else(|| bad(format!("variable '{name}' is not set")))?;
        split(node, value)
    } else if let Some(v) = attr(node, &["on", "on_val", "on_value"]) {
        split(node, expand(flow, fei, node, workitem, v)?)
    } else {
        return Err(bad("nothing to iterate on: give on_field:, on_var:, on: or times:".into()));
    };
    let target = if let Some(v) = attr(node, &["to_field", "to_f", "to_fld"]) {
        json!({ "name": value_text(v), "field": true })
    } else if let Some(v) = attr(node, &["to_var", "to_v", "to_variable"]) {
        json!({ "name": value_text(v), "field": false })
    } else if let Some(v) = node.attr_str("to") {
        match v.split_once(':') {
            Some(("f", name)) => json!({ "name": name, "field": true }),
            Some(("v", name)) => json!({ "name": name, "field": false }),
            _ => json!({ "name": v, "field": true }),
        }
    } else {
        json!({ "name": "i", "field": false })
    };
    Ok((list, target))
}

pub(crate) fn split(node: &Node, value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        Value::String(s) => {
            let sep = node.attr_str("separator").or(node.attr_str("sep")).unwrap_or(",");
            s.split(sep).map(str::trim).filter(|x| !x.is_empty()).map(|x| Value::String(x.to_owned())).collect()
        }
        Value::Object(map) => map.into_iter().map(|(k, v)| json!([k, v])).collect(),
        other => vec![other],
    }
}
