//! `concurrent_iterator`: like `iterator`, but all items at once, each
//! branch with its own variables; branches merge like a `concurrence`
//! (`count:`, `merge:`, `merge_type:`, `remaining:`). `add_branches` adds
//! items while it runs.

use super::super::flow::Flow;
use crate::model::*;
use super::iterator::ItemTarget;
use super::{Kind, Properties, attr, child_count, concurrence, iterator, set_state, state, update_state};
use crate::language::Node;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub(crate) struct ConcurrentIterator;

impl Kind for ConcurrentIterator {
    const NAMES: &'static [&'static str] = &["concurrent_iterator", "citerator"];
    const PROPERTIES: Properties = Properties { keeps_variables: true, ..Properties::PLAIN };
    type State = State;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        let children = child_count(flow, fei);
        let (list, target) = match iterator::list_and_target(flow, fei, node, &workitem) {
            Ok(x) => x,
            Err(e) => return flow.fail(fei, e),
        };
        if children == 0 || list.is_empty() {
            return flow.reply_to_parent(fei, workitem);
        }
        let settings = match concurrence::settings(flow, fei, node, &workitem, list.len()) {
            Ok(s) if s.expected == 0 => return flow.reply_to_parent(fei, workitem),
            Ok(s) => s,
            Err(e) => return flow.fail(fei, e),
        };
        // Without a positive count, branches added later are waited for too.
        let fixed = attr(node, &["count", "c", "wait_for", "wf"]).is_some_and(|c| c.as_i64().is_none_or(|n| n >= 0));
        let state = State {
            concurrence: concurrence::State { settings, ..Default::default() },
            target,
            size: 0,
            grows: !fixed,
            times: attr(node, &["times", "branches"]).is_some(),
        };
        set_state::<ConcurrentIterator>(flow, fei, &state);
        if let Err(e) = add(flow, fei, list, &workitem) {
            flow.fail(fei, e);
        }
    }

    /// A branch may ask for more branches, as the `add_branches`
    /// expression does, with the field `__add_branches__` (Ruote's way for
    /// a participant): a list, or comma-separated text.
    fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, mut workitem: Workitem) {
        if let Some(more) = workitem.fields.remove(ADD_BRANCHES_FIELD)
            && flow.get(fei).is_some_and(|e| e.status == Status::Active)
        {
            let items = flow.get(fei).and_then(|e| flow.node(&e.tree).ok()).map(|n| iterator::split(&n, more.clone()));
            if let Err(e) = add_branches(flow, fei, items.unwrap_or_default()) {
                return flow.fail(fei, e);
            }
        }
        concurrence::reply(flow, fei, from, workitem);
    }
}

/// The field a branch's workitem asks for more branches in.
const ADD_BRANCHES_FIELD: &str = "__add_branches__";

/// A concurrence's state, plus what the iteration needs to add branches.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct State {
    #[serde(flatten)]
    pub concurrence: concurrence::State,
    #[serde(default)]
    pub target: ItemTarget,
    /// Branches applied so far.
    #[serde(default)]
    pub size: usize,
    /// Branches added later are waited for too.
    #[serde(default = "yes")]
    pub grows: bool,
    /// Iterating on `times:`: a number adds that many indexes.
    #[serde(default)]
    pub times: bool,
}

fn yes() -> bool {
    true
}

/// Applies one branch per item, numbered after the existing ones.
fn add(flow: &mut Flow, fei: &Fei, items: Vec<Value>, workitem: &Workitem) -> Result<(), StepError> {
    let body = super::body(flow, fei)?;
    let State { target: ItemTarget { name, field: to_field }, size: first, .. } = state::<ConcurrentIterator>(flow, fei);
    for (offset, value) in items.into_iter().enumerate() {
        let i = first + offset;
        let mut w = workitem.clone();
        let mut vars = Fields::new();
        vars.insert("ii".into(), json!(i));
        if to_field {
            w.fields.insert(name.clone(), value);
        } else {
            vars.insert(name.clone(), value);
        }
        update_state::<ConcurrentIterator>(flow, fei, |s| s.size = i + 1);
        super::apply_branch(flow, fei, i, body.clone(), w, Some(vars));
    }
    Ok(())
}

/// `add_branches`: more items for a running concurrent iterator. On a
/// `times:` iterator a single number `n` adds the next `n` indexes.
pub(crate) fn add_branches(flow: &mut Flow, fei: &Fei, items: Vec<Value>) -> Result<(), StepError> {
    let Some(e) = flow.get(fei) else { return Ok(()) };
    let applied = e.applied.clone();
    let State { size, times, grows, .. } = state::<ConcurrentIterator>(flow, fei);
    let size = size as u64;
    let items = match items.as_slice() {
        [n] if times => match n.as_u64().or_else(|| n.as_str().and_then(|s| s.trim().parse().ok())) {
            Some(n) => (size..size + n).map(Value::from).collect(),
            None => items,
        },
        _ => items,
    };
    if grows {
        let added = items.len();
        update_state::<ConcurrentIterator>(flow, fei, |s| s.concurrence.settings.expected += added);
    }
    add(flow, fei, items, &applied)
}
