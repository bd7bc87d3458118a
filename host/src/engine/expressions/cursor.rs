//! `cursor` (and `loop`/`repeat`, which start over at the end): a sequence
//! that obeys commands — `rewind`, `break`, `skip`, `back`, `jump to:` —
//! from its children, from participants (the `__command__` field) or from
//! its own `break_if:`/`rewind_if:` attributes.

use super::super::flow::Flow;
use crate::model::*;
use super::command::{self, is_direct_child};
use super::{Kind, Properties, child_count, set_state, state, value_text};
use crate::language::Node;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) struct Cursor;

impl Kind for Cursor {
    const NAMES: &'static [&'static str] = &["cursor"];
    const PROPERTIES: Properties = Properties { obeys_commands: true, ..Properties::PLAIN };
    type State = Pending;

    fn apply(flow: &mut Flow, fei: &Fei, _node: &Node, workitem: Workitem) {
        move_on(flow, fei, None, workitem);
    }

    fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
        reply(flow, fei, from, workitem);
    }
}

/// A cursor that starts over after its last child.
pub(crate) struct Loop;

impl Kind for Loop {
    const NAMES: &'static [&'static str] = &["loop", "repeat"];
    const PROPERTIES: Properties = Cursor::PROPERTIES;
    type State = Pending;

    fn apply(flow: &mut Flow, fei: &Fei, _node: &Node, workitem: Workitem) {
        move_on(flow, fei, None, workitem);
    }

    fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
        reply(flow, fei, from, workitem);
    }
}

/// A command that arrived from deeper down, waiting for the current
/// child's cancellation.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Pending {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_workitem: Option<Workitem>,
}

fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
    let Some(e) = flow.get(fei) else { return };
    if is_direct_child(fei, from) {
        // A command that arrived from deeper down waits for this child's
        // cancellation, then applies.
        let workitem = state::<Cursor>(flow, fei).command_workitem.unwrap_or(workitem);
        set_state::<Cursor>(flow, fei, &Pending::default());
        return move_on(flow, fei, Some(from), workitem);
    }
    // A command from a descendant: cancel the current child first.
    let children = e.children.clone();
    set_state::<Cursor>(flow, fei, &Pending { command_workitem: Some(workitem) });
    for child in children {
        flow.queue(Message::Cancel { fei: child, kill: false });
    }
}

fn move_on(flow: &mut Flow, fei: &Fei, from: Option<&Fei>, mut workitem: Workitem) {
    let Some(e) = flow.get(fei) else { return };
    let Ok(node) = flow.node(&e.tree) else { return };
    let applied = e.applied.clone();
    let is_loop = Loop::NAMES.contains(&e.kind.as_str());
    let count = child_count(flow, fei) as i64;
    let mut position = from.map(|f| f.child_index() as i64 + 1).unwrap_or(0);
    if let Some((com, arg)) = command::take(flow, fei, &node, &mut workitem) {
        match com.as_str() {
            "break" => return flow.reply_to_parent(fei, workitem),
            "rewind" | "continue" => position = 0,
            "reset" => {
                position = 0;
                workitem = applied;
            }
            "skip" => position += arg.as_i64().unwrap_or(1),
            "jump" => position = jump_to(flow, fei, &node, &workitem, &arg).unwrap_or(position),
            _ => {}
        }
    }
    if position >= count && is_loop && count > 0 {
        position = 0;
    }
    if position < 0 || position >= count {
        return flow.reply_to_parent(fei, workitem);
    }
    flow.apply_child(fei, position as usize, workitem);
}

/// The child a `jump` names: an index, or a child's name, tag, ref or first
/// argument. A child's tag may be computed (`tag: '${v:t}'`), so each is
/// expanded as it would be when applied.
fn jump_to(flow: &Flow, fei: &Fei, node: &Node, workitem: &Workitem, arg: &Value) -> Option<i64> {
    if let Some(i) = arg.as_i64() {
        return Some(i);
    }
    let target = value_text(arg);
    let names = |c: &Node| {
        let name = Value::String(c.name.clone());
        let attrs = [c.attr("tag"), c.attr("ref"), c.args.first()].into_iter().flatten();
        std::iter::once(name).chain(attrs.map(|v| super::expand(flow, fei, c, workitem, v).unwrap_or(Value::Null)))
            .collect::<Vec<_>>()
    };
    node.children.iter().position(|c| names(c).iter().any(|v| v.as_str() == Some(&target))).map(|i| i as i64)
}

#[cfg(test)]
mod tests {
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn a_jump_finds_a_computed_tag() {
        let source = "cursor do
  echo 'a'
  set var: 'v0', val: 'ctag'
  jump to: '${v:v0}'
  echo 'b'
  echo 'c', tag: '${v:v0}'
end";
        assert_eq!(run(source, json!({})).echoes, ["a", "c"]);
    }

    #[test]
    fn rewinds_then_breaks() {
        let source = "cursor do
  alpha
  inc 'v:n'
  rewind if: '${v:n} < 3'
  bravo
end";
        let job = run(source, json!({}));
        assert_eq!(job.calls, ["alpha", "alpha", "alpha", "bravo"]);
    }
}
