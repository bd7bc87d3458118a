//! `define 'name' do ... end` (`process_definition`, `workflow_definition`):
//! a subprocess definition. Inside a body it is bound to a variable of that
//! name when the enclosing sequence starts (so it may be called before or
//! after it appears); applied as the body of a subprocess call, it runs its
//! children in sequence.

use super::super::flow::Flow;
use crate::model::*;
use super::sequence::{self, Position};
use super::{Kind, Properties};
use crate::language::Node;
use serde_json::json;

pub(crate) struct Define;

impl Kind for Define {
    const NAMES: &'static [&'static str] = &["define", "process_definition", "workflow_definition"];
    const PROPERTIES: Properties = Properties { is_definition: true, ..Properties::PLAIN };
    type State = Position;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        let parent_is_call = flow
            .get(fei)
            .and_then(|e| e.parent.as_ref())
            .and_then(|p| flow.get(p))
            .is_some_and(|p| p.kind == super::subprocess::Subprocess::NAMES[0]);
        if parent_is_call {
            return sequence::start(flow, fei, workitem);
        }
        if let (Some(name), Some(e)) = (name_of(node), flow.get(fei)) {
            let tree = e.tree.clone();
            flow.set_variable(fei, &name, Some(json!({ "__subprocess__": tree })));
        }
        flow.reply_to_parent(fei, workitem);
    }

    /// As the body of a call, every child runs in turn.
    fn reply(flow: &mut Flow, fei: &Fei, _from: &Fei, workitem: Workitem) {
        sequence::reply(flow, fei, workitem);
    }
}

pub(crate) fn is_definition(node: &Node) -> bool {
    super::properties(&node.name).is_definition
}

pub(crate) fn name_of(node: &Node) -> Option<String> {
    node.first_arg_str().or_else(|| node.attr_str("name")).map(str::to_owned)
}

/// Binds child `position` of `scope` (a definition) to its name.
pub(crate) fn bind(flow: &mut Flow, scope: &Fei, position: usize) {
    let Some(e) = flow.get(scope) else { return };
    let Ok(tree) = flow.child_tree(&e.tree, position) else { return };
    let Ok(node) = flow.node(&tree) else { return };
    if let Some(name) = name_of(&node) {
        flow.set_variable(scope, &name, Some(json!({ "__subprocess__": tree })));
    }
}

#[cfg(test)]
mod tests {
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn every_spelling_runs_the_whole_body_when_called() {
        for keyword in ["define", "process_definition", "workflow_definition"] {
            let source = format!("{keyword} 'sub' do\n  alpha\n  bravo\nend\nsub\ncharly");
            let job = run(&source, json!({}));
            assert_eq!(job.calls, ["alpha", "bravo", "charly"], "{keyword}");
            assert_eq!(job.state, JobState::Completed);
        }
    }

    #[test]
    fn may_be_called_before_it_is_defined() {
        let job = run("sub\ndefine 'sub' do\n  alpha\nend", json!({}));
        assert_eq!(job.calls, ["alpha"]);
    }
}
