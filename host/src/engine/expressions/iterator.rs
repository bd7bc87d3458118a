//! `iterator`: runs its children once per item of a list, in order.
//! The list comes from `on_field:`/`on_f:` (a field), `on_var:`/`on_v:`,
//! `on:`/`on_val:`/`on_value:` (an array, or text split on `sep:`, default
//! ','), or `times:`/`branches:` (0..n). Each item goes into the variable
//! named by `to_var:`/`to_v:` (default `i`) or the field named by
//! `to_field:`/`to_f:` (or `to: 'f:name'`/`to: 'v:name'`); the variable
//! `ii` holds the index. It obeys cursor commands (`break`, `rewind`,
//! `skip`, `jump`).

use super::super::flow::Flow;
use crate::model::*;
use super::command::{self, is_direct_child};
use super::{Kind, Properties, attr, child_count, expand, state, update_state, value_text};
use crate::language::Node;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub(crate) struct Iterator;

impl Kind for Iterator {
    const NAMES: &'static [&'static str] = &["iterator"];
    const PROPERTIES: Properties = Properties { obeys_commands: true, keeps_variables: true, ..Properties::PLAIN };
    type State = State;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        if child_count(flow, fei) == 0 {
            return flow.reply_to_parent(fei, workitem);
        }
        let (list, target) = match list_and_target(flow, fei, node, &workitem) {
            Ok(x) => x,
            Err(e) => return flow.fail(fei, e),
        };
        if node.attr("scope").is_some_and(super::truthy)
            && let Some(e) = flow.get_mut(fei)
        {
            e.variables = Some(Fields::new());
        }
        super::set_state::<Iterator>(flow, fei, &State { list, position: -1, target, command_workitem: None });
        move_on(flow, fei, None, workitem);
    }

    fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
        let Some(e) = flow.get(fei) else { return };
        if is_direct_child(fei, from) {
            let mut pending = None;
            update_state::<Iterator>(flow, fei, |s| pending = s.command_workitem.take());
            return move_on(flow, fei, Some(from), pending.unwrap_or(workitem));
        }
        // A command from a descendant: cancel the current child first.
        let children = e.children.clone();
        update_state::<Iterator>(flow, fei, |s| s.command_workitem = Some(workitem));
        for child in children {
            flow.queue(Message::Cancel { fei: child, kill: false });
        }
    }
}

/// Where each item goes: a variable (the default, `i`) or a field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ItemTarget {
    pub name: String,
    #[serde(default)]
    pub field: bool,
}

impl Default for ItemTarget {
    fn default() -> Self {
        ItemTarget { name: "i".into(), field: false }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    #[serde(default)]
    pub list: Vec<Value>,
    /// The current item's index; -1 before the first.
    #[serde(default = "before_first")]
    pub position: i64,
    #[serde(default)]
    pub target: ItemTarget,
    /// A command from deeper down, waiting for the current child's cancellation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_workitem: Option<Workitem>,
}

fn before_first() -> i64 {
    -1
}

fn move_on(flow: &mut Flow, fei: &Fei, from: Option<&Fei>, mut workitem: Workitem) {
    let Some(e) = flow.get(fei) else { return };
    let Ok(node) = flow.node(&e.tree) else { return };
    let State { list, target, position: current, .. } = state::<Iterator>(flow, fei);
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
    update_state::<Iterator>(flow, fei, |s| s.position = position);
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
fn bind_item(flow: &mut Flow, fei: &Fei, target: &ItemTarget, value: Value, workitem: &mut Workitem) {
    if target.field {
        workitem.fields.insert(target.name.clone(), value);
    } else {
        flow.set_variable(fei, &target.name, Some(value));
    }
}

/// The list to iterate on and where each item goes.
pub(crate) fn list_and_target(
    flow: &Flow,
    fei: &Fei,
    node: &Node,
    workitem: &Workitem,
) -> Result<(Vec<Value>, ItemTarget), StepError> {
    let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name)).at_line(node.span.line);
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
    let to = |name: &str, field: bool| ItemTarget { name: name.to_owned(), field };
    let target = if let Some(v) = attr(node, &["to_field", "to_f", "to_fld"]) {
        to(&value_text(v), true)
    } else if let Some(v) = attr(node, &["to_var", "to_v", "to_variable"]) {
        to(&value_text(v), false)
    } else if let Some(v) = node.attr_str("to") {
        match v.split_once(':') {
            Some(("f", name)) => to(name, true),
            Some(("v", name)) => to(name, false),
            _ => to(v, true),
        }
    } else {
        ItemTarget::default()
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
