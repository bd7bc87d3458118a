//! `concurrence`: applies all its children at once and replies when enough
//! of them have: all, `count:` (`wait_for:` an integer; a negative count
//! means "all but n"), the branches tagged as `wait_for:` lists
//! (`wait_for: 'alpha, bravo'`), or as soon as a branch's reply makes
//! `over_if:` hold (`over_unless:` fail). The branches still running are
//! cancelled (`remaining: cancel`, the default), left running
//! (`remaining: forget`), or cancelled and waited for, their workitems
//! merged too (`remaining: wait`).
//!
//! The branches' workitems are merged as in Ruote: `merge:` picks the
//! winner (`first` to reply, the default; `last`; `highest`/`lowest` by
//! position), and `merge_type:` how: `override` (the winner's fields only,
//! the default), `mix` (all fields, the winner's prevailing), `isolate`
//! (each branch's fields under its index), `stack` (a list in `stack`),
//! `union`/`concat`/`deep` (arrays joined, objects merged), `ignore`.

use super::super::flow::Flow;
use crate::model::*;
use super::{Kind, attr, child_count, expand, value_text};
use crate::language::{Node, condition};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub(crate) struct Concurrence;

impl Kind for Concurrence {
    const NAMES: &'static [&'static str] = &["concurrence"];
    type State = State;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        let branches = child_count(flow, fei);
        let settings = match settings(flow, fei, node, &workitem, branches) {
            Ok(s) => s,
            Err(e) => return flow.fail(fei, e),
        };
        // `count: 0` waits for nobody: the flow goes on at once.
        let waits_for_none = settings.expected == 0;
        super::set_state::<Concurrence>(flow, fei, &State { settings, ..State::default() });
        if branches == 0 || waits_for_none {
            return flow.reply_to_parent(fei, workitem);
        }
        for i in 0..branches {
            flow.apply_child(fei, i, workitem.clone());
        }
    }

    fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
        reply(flow, fei, from, workitem);
    }
}

/// Which branch's workitem wins the merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Merge {
    #[default]
    First,
    Last,
    Highest,
    Lowest,
}

/// How the branches' workitems are merged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MergeType {
    #[default]
    Override,
    Mix,
    Isolate,
    Stack,
    Union,
    Concat,
    Deep,
    Ignore,
}

/// What happens to the branches still running once enough have replied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Remaining {
    #[default]
    Cancel,
    Forget,
    Wait,
}

/// The merge settings, read once at apply time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Settings {
    #[serde(default)]
    pub merge: Merge,
    #[serde(default)]
    pub merge_type: MergeType,
    #[serde(default)]
    pub remaining: Remaining,
    /// How many replies end the concurrence.
    #[serde(default)]
    pub expected: usize,
    /// `wait_for:` tags: the concurrence is over once each tagged branch replied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for: Option<Vec<String>>,
}

/// How far a concurrence has got, kept apart from its replies so a reply
/// reads and writes only this.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Progress {
    /// Enough branches replied (with `remaining: wait`, the others are
    /// being cancelled and waited for).
    #[serde(default)]
    pub over: bool,
    /// Tags of `wait_for:` whose branches replied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_replied: Vec<String>,
}

/// One branch's reply.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Reply {
    #[serde(default)]
    pub index: usize,
    #[serde(default)]
    pub fields: Fields,
    /// Its workitem made `over_if:` hold: it prevails in the merge.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub winner: bool,
}

/// A concurrence's state: its settings and the replies so far. A reply is
/// appended to the stored list without reading the others back, so a wide
/// concurrence costs linear time, not quadratic.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    #[serde(flatten)]
    pub settings: Settings,
    #[serde(flatten)]
    pub progress: Progress,
    #[serde(default)]
    pub replies: Vec<Reply>,
}

/// One of an attribute's allowed words, or an error listing them.
fn choice<T: serde::de::DeserializeOwned>(node: &Node, what: &str, text: &str, allowed: &str) -> Result<T, StepError> {
    serde_json::from_value(Value::String(text.to_owned())).map_err(|_| {
        StepError::new(StepErrorKind::BadInput, format!("{}: {what} '{text}' is not one of {allowed}", node.name))
            .at_line(node.span.line)
    })
}

/// Reads the merge settings once, at apply time.
pub(crate) fn settings(
    flow: &Flow,
    fei: &Fei,
    node: &Node,
    workitem: &Workitem,
    branches: usize,
) -> Result<Settings, StepError> {
    let text = |names: &[&str], default: &str| -> Result<String, StepError> {
        match attr(node, names) {
            Some(v) => expand(flow, fei, node, workitem, v).map(|v| value_text(&v)),
            None => Ok(default.to_owned()),
        }
    };
    let merge = choice(node, "merge", &text(&["merge", "m"], "first")?, "first, last, highest, lowest")?;
    let merge_type = choice(
        node,
        "merge_type",
        &text(&["merge_type", "mt"], "override")?,
        "override, mix, isolate, stack, union, concat, deep, ignore",
    )?;
    let remaining =
        choice(node, "remaining", &text(&["remaining", "rem", "r"], "cancel")?, "cancel, forget, wait")?;
    let count = |v: &Value| v.as_i64().or_else(|| value_text(v).trim().parse().ok());
    let (count, wait_for) = match (attr(node, &["count", "c"]), attr(node, &["wait_for", "wf"])) {
        (Some(v), _) => {
            let v = expand(flow, fei, node, workitem, v)?;
            let n = count(&v).ok_or_else(|| {
                StepError::new(StepErrorKind::BadInput, format!("{}: count must be an integer", node.name))
                    .at_line(node.span.line)
            })?;
            (Some(n), None)
        }
        (None, Some(v)) => {
            let v = expand(flow, fei, node, workitem, v)?;
            match count(&v) {
                Some(n) => (Some(n), None),
                None => (None, Some(tags(&v))),
            }
        }
        (None, None) => (None, None),
    };
    let expected = match count {
        None => branches,
        Some(n) if n >= 0 => (n as usize).min(branches),
        Some(n) => (branches as i64 + n).max(1) as usize,
    };
    Ok(Settings { merge, merge_type, remaining, expected, wait_for })
}

/// A list of tags: an array, or comma-separated text.
fn tags(value: &Value) -> Vec<String> {
    let items: Vec<String> = match value {
        Value::Array(items) => items.iter().map(value_text).collect(),
        other => value_text(other).split(',').map(str::to_owned).collect(),
    };
    items.into_iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect()
}

/// A branch replied: once enough have, merge and reply, and deal with the
/// branches still running.
pub(crate) fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
    let Some(e) = flow.get(fei) else { return };
    let Ok(node) = flow.node(&e.tree) else { return };
    // `over_if:` / `over_unless:` look at the reply's workitem.
    let lookup = flow.lookup(fei, &workitem);
    let holds = |name: &str| node.attr(name).map(|c| condition::evaluate_value(c, &lookup).unwrap_or(false));
    let winner = holds("over_if") == Some(true) || holds("over_unless") == Some(false);
    // A concurrent_iterator's branches all have the same node: no tags.
    let tag = node.children.get(from.child_index()).and_then(|c| c.attr_str("tag")).map(str::to_owned);
    let Some(e) = flow.get_mut(fei) else { return };
    let Ok(settings) = Settings::deserialize(&e.state) else { return };
    let mut progress = Progress::deserialize(&e.state).unwrap_or_default();
    let Some(replies) = e.state.get_mut("replies").and_then(Value::as_array_mut) else { return };
    replies.push(json!(Reply { index: from.child_index(), fields: workitem.fields, winner }));
    let replied = replies.len();
    if let Some(tag) = tag
        && settings.wait_for.as_ref().is_some_and(|w| w.contains(&tag))
    {
        progress.tags_replied.push(tag);
    }
    let enough = match &settings.wait_for {
        Some(tags) => tags.iter().all(|t| progress.tags_replied.contains(t)),
        None => replied >= settings.expected,
    };
    let was_over = progress.over;
    progress.over = was_over || winner || enough || e.children.is_empty();
    if let (Some(state), Ok(Value::Object(p))) = (e.state.as_object_mut(), serde_json::to_value(&progress)) {
        state.extend(p);
    }
    if !progress.over {
        return;
    }
    if settings.remaining == Remaining::Wait && !e.children.is_empty() {
        // Cancel the others once, and merge their workitems as they come.
        if !was_over {
            for child in e.children.clone() {
                flow.queue(Message::Cancel { fei: child, kill: false });
            }
        }
        return;
    }
    let state = State::deserialize(&e.state).unwrap_or_default();
    let mut merged = final_merge(&state, &e.applied);
    if settings.merge_type == MergeType::Stack {
        // As Ruote, with the attributes the stack was made under.
        let attributes: Fields = node.attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        merged.fields.insert("stack_attributes".into(), Value::Object(attributes));
    }
    let children = std::mem::take(&mut e.children);
    for child in children {
        match settings.remaining {
            Remaining::Forget => {
                if let Some(c) = flow.get_mut(&child) {
                    c.forgotten = true;
                    c.parent = None;
                }
            }
            Remaining::Cancel | Remaining::Wait => {
                flow.queue(Message::Cancel { fei: child.clone(), kill: false });
                if let Some(c) = flow.get_mut(&child) {
                    // Its reply must not reach a concurrence that is gone.
                    c.forgotten = true;
                }
            }
        }
    }
    flow.reply_to_parent(fei, merged);
}

/// Merges the branches' workitems according to the settings.
pub(crate) fn final_merge(state: &State, applied: &Workitem) -> Workitem {
    let Settings { merge, merge_type, .. } = state.settings;
    let mut replies: Vec<(usize, Fields)> = state.replies.iter().map(|r| (r.index, r.fields.clone())).collect();
    if merge_type == MergeType::Ignore || replies.is_empty() {
        return applied.clone();
    }
    // Order the workitems so that the winner is merged last (and so prevails).
    if matches!(merge, Merge::Highest | Merge::Lowest) {
        replies.sort_by_key(|(i, _)| *i);
    }
    let accumulating = matches!(merge_type, MergeType::Stack | MergeType::Union | MergeType::Concat | MergeType::Deep);
    if matches!(merge, Merge::First | Merge::Highest) && !accumulating {
        replies.reverse();
    }
    // A branch that made `over_if:` hold wins whatever the order.
    if let Some(winner) = state.replies.iter().find(|r| r.winner)
        && let Some(at) = replies.iter().position(|(i, _)| *i == winner.index)
    {
        let won = replies.remove(at);
        replies.push(won);
    }
    let mut target: Option<Fields> = None;
    for (index, source) in replies {
        target = Some(merge_fields(index, target, source, merge_type));
    }
    Workitem { fields: target.unwrap_or_default() }
}

pub(crate) fn merge_fields(index: usize, target: Option<Fields>, source: Fields, merge_type: MergeType) -> Fields {
    let Some(mut target) = target else {
        return match merge_type {
            MergeType::Stack => Fields::from_iter([("stack".to_owned(), json!([source]))]),
            MergeType::Isolate => Fields::from_iter([(index.to_string(), Value::Object(source))]),
            _ => source,
        };
    };
    match merge_type {
        MergeType::Override => return source,
        MergeType::Mix => target.extend(source),
        MergeType::Stack => {
            if let Some(Value::Array(stack)) = target.get_mut("stack") {
                stack.push(Value::Object(source));
            }
        }
        MergeType::Isolate => {
            target.insert(index.to_string(), Value::Object(source));
        }
        _ => {
            for (k, sv) in source {
                match (target.get_mut(&k), sv) {
                    (Some(Value::Array(tv)), Value::Array(sv)) => {
                        for v in sv {
                            if merge_type != MergeType::Union || !tv.contains(&v) {
                                tv.push(v);
                            }
                        }
                        if merge_type == MergeType::Union {
                            dedup(tv);
                        }
                    }
                    (Some(Value::Object(tv)), Value::Object(sv)) => {
                        if merge_type == MergeType::Deep {
                            deep_merge(tv, sv)
                        } else {
                            tv.extend(sv)
                        }
                    }
                    (_, sv) => {
                        target.insert(k, sv);
                    }
                }
            }
        }
    }
    target
}

fn dedup(values: &mut Vec<Value>) {
    let mut seen = Vec::new();
    values.retain(|v| {
        if seen.contains(v) {
            false
        } else {
            seen.push(v.clone());
            true
        }
    });
}

fn deep_merge(target: &mut Fields, source: Fields) {
    for (k, sv) in source {
        match (target.get_mut(&k), sv) {
            (Some(Value::Object(tv)), Value::Object(sv)) => deep_merge(tv, sv),
            (_, sv) => {
                target.insert(k, sv);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(merge: &str, merge_type: &str, replies: Value) -> State {
        serde_json::from_value(json!({ "merge": merge, "merge_type": merge_type, "replies": replies })).unwrap()
    }

    #[test]
    fn merges_like_ruote() {
        // Ruote's ut_17_merge: two workitems, a:0,b:-1 then a:1.
        let replies = json!([{ "index": 0, "fields": { "a": 0, "b": -1 } }, { "index": 1, "fields": { "a": 1 } }]);
        let applied = Workitem::default();
        let m = |merge, mt| Value::Object(final_merge(&state(merge, mt, replies.clone()), &applied).fields);
        assert_eq!(m("last", "override"), json!({ "a": 1 }));
        assert_eq!(m("first", "override"), json!({ "a": 0, "b": -1 }));
        assert_eq!(m("last", "mix"), json!({ "a": 1, "b": -1 }));
        assert_eq!(m("first", "mix"), json!({ "a": 0, "b": -1 }));
        assert_eq!(m("last", "isolate"), json!({ "0": { "a": 0, "b": -1 }, "1": { "a": 1 } }));
        assert_eq!(m("last", "stack"), json!({ "stack": [{ "a": 0, "b": -1 }, { "a": 1 }] }));
        let arrays = json!([{ "index": 0, "fields": { "a": 0, "b": ["x", "y"], "c": { "aa": "bb" } } },
                            { "index": 1, "fields": { "a": 1, "b": ["y", "z"], "c": { "cc": "dd" } } }]);
        let u = final_merge(&state("first", "union", arrays.clone()), &applied).fields;
        assert_eq!(Value::Object(u), json!({ "a": 1, "b": ["x", "y", "z"], "c": { "aa": "bb", "cc": "dd" } }));
        let c = final_merge(&state("first", "concat", arrays), &applied).fields;
        assert_eq!(Value::Object(c), json!({ "a": 1, "b": ["x", "y", "y", "z"], "c": { "aa": "bb", "cc": "dd" } }));
    }
}
