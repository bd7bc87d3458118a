//! `if` (`_if`) and `unless` (`_unless`): a condition (first argument or
//! `test:`) chooses between the first child (then) and the second (else).
//!
//! Without a condition, as in Ruote, the first child is the condition: it
//! runs first (usually an `equals`), and the field `__result__` it leaves
//! chooses between the second child (true) and the third (else).

use super::super::flow::Flow;
use crate::model::*;
use super::equals::result_is_true;
use super::{Kind, child_count, set_state, state};
use crate::language::{Node, condition};
use serde::{Deserialize, Serialize};

pub(crate) struct If;

impl Kind for If {
    const NAMES: &'static [&'static str] = &["if", "_if", "unless", "_unless"];
    type State = ConditionChild;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }

    fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
        reply(flow, fei, from, workitem)
    }
}

/// Set while the first child, which decides, runs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ConditionChild {
    #[serde(default)]
    pub condition_child: bool,
}

fn is_unless(name: &str) -> bool {
    name.trim_start_matches('_') == "unless"
}

fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let unless = is_unless(&node.name);
    let Some(test) = node.args.first().or_else(|| super::attr(node, &["test", "t"])) else {
        if child_count(flow, fei) == 0 {
            let e = StepError::new(StepErrorKind::BadInput,
                format!("{}: no condition (write {} '${{f:x}} == y' do ... end)", node.name, node.name),
            );
            return flow.fail(fei, e.at_line(node.span.line));
        }
        // The first child computes `__result__`.
        set_state::<If>(flow, fei, &ConditionChild { condition_child: true });
        return flow.apply_child(fei, 0, workitem);
    };
    let holds = match condition::evaluate_value(test, &flow.lookup(fei, &workitem)) {
        Ok(h) => h,
        Err(e) => {
            return flow.fail(fei, StepError::new(StepErrorKind::BadInput, format!("{}: {e}", node.name)).at_line(node.span.line));
        }
    };
    let branch = if holds != unless { 0 } else { 1 };
    apply_branch(flow, fei, branch, workitem);
}

fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
    let Some(e) = flow.get(fei) else { return };
    if !state::<If>(flow, fei).condition_child || from.child_index() != 0 {
        return flow.reply_to_parent(fei, workitem);
    }
    // Rows stored before the kind was always `if` say `unless` there.
    let unless = e.kind == "unless" || flow.node(&e.tree).is_ok_and(|n| is_unless(&n.name));
    set_state::<If>(flow, fei, &ConditionChild::default());
    let branch = if result_is_true(&workitem) != unless { 1 } else { 2 };
    apply_branch(flow, fei, branch, workitem);
}

fn apply_branch(flow: &mut Flow, fei: &Fei, branch: usize, workitem: Workitem) {
    if branch < child_count(flow, fei) {
        flow.apply_child(fei, branch, workitem);
    } else {
        flow.reply_to_parent(fei, workitem);
    }
}
