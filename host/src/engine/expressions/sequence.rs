//! `sequence`: applies its children one after the other, each with the
//! workitem the previous one replied with. `let` is a sequence that opens a
//! variable scope (its attributes become variables).

use super::super::flow::Flow;
use crate::model::*;
use super::{Kind, child_count, state};
use crate::language::Node;
use serde::{Deserialize, Serialize};

pub(crate) struct Sequence;

impl Kind for Sequence {
    const NAMES: &'static [&'static str] = &["sequence"];
    type State = Position;

    fn apply(flow: &mut Flow, fei: &Fei, _node: &Node, workitem: Workitem) {
        start(flow, fei, workitem);
    }

    fn reply(flow: &mut Flow, fei: &Fei, _from: &Fei, workitem: Workitem) {
        reply(flow, fei, workitem);
    }
}

pub(crate) struct Let;

impl Kind for Let {
    const NAMES: &'static [&'static str] = &["let"];
    type State = Position;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        let mut vars = Fields::new();
        for (k, v) in &node.attrs {
            if !super::COMMON_ATTRIBUTES.contains(&k.as_str()) {
                match super::expand(flow, fei, node, &workitem, v) {
                    Ok(v) => vars.insert(k.clone(), v),
                    Err(e) => return flow.fail(fei, e),
                };
            }
        }
        if let Some(e) = flow.get_mut(fei) {
            e.variables = Some(vars);
        }
        start(flow, fei, workitem);
    }

    fn reply(flow: &mut Flow, fei: &Fei, _from: &Fei, workitem: Workitem) {
        reply(flow, fei, workitem);
    }
}

/// Which child runs now.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Position {
    #[serde(default)]
    pub position: usize,
}

/// Binds the subprocess definitions among the children (so they may be
/// called before they appear), then applies the first other child.
pub(crate) fn start(flow: &mut Flow, fei: &Fei, workitem: Workitem) {
    let definitions: Vec<usize> = flow
        .get(fei)
        .and_then(|e| flow.node(&e.tree).ok())
        .map(|n| {
            n.children.iter().enumerate().filter(|(_, c)| super::define::is_definition(c)).map(|(i, _)| i).collect()
        })
        .unwrap_or_default();
    for position in definitions {
        super::define::bind(flow, fei, position);
    }
    next(flow, fei, 0, workitem)
}

/// A child finished: the next one, or the end.
pub(crate) fn reply(flow: &mut Flow, fei: &Fei, workitem: Workitem) {
    let position = state::<Sequence>(flow, fei).position;
    next(flow, fei, position + 1, workitem)
}

fn next(flow: &mut Flow, fei: &Fei, position: usize, workitem: Workitem) {
    // Subprocess definitions inside a body are bound, not run.
    let mut position = position;
    let tree = flow.get(fei).map(|e| e.tree.clone());
    let node = tree.as_ref().and_then(|t| flow.node(t).ok());
    let count = child_count(flow, fei);
    while let Some(n) = &node
        && position < count
        && super::define::is_definition(&n.children[position])
    {
        position += 1;
    }
    if position >= count {
        return flow.reply_to_parent(fei, workitem);
    }
    super::set_state::<Sequence>(flow, fei, &Position { position });
    flow.apply_child(fei, position, workitem);
}

#[cfg(test)]
mod tests {
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn children_run_in_order_each_with_the_previous_fields() {
        let job = run("sequence do\n  alpha a: 1\n  bravo b: '${a}'\nend", json!({}));
        assert_eq!(job.calls, ["alpha", "bravo"]);
        assert_eq!(job.state, JobState::Completed);
        assert_eq!(job.fields, json!({"a": 1, "b": "1"}));
    }

    #[test]
    fn let_opens_a_scope_for_its_attributes() {
        let job = run("let who: 'world' do\n  echo 'hello ${v:who}'\nend\nset 'f:seen' => '$v:who'", json!({}));
        assert_eq!(job.echoes, ["hello world"]);
    }
}
