//! `concurrence`: applies all its children at once and replies when enough
//! of them have (all, or `count:`; a negative count means "all but n"),
//! cancelling the rest (`remaining: cancel`, the default) or leaving them
//! running (`remaining: forget`).
//!
//! The branches' workitems are merged as in Ruote: `merge:` picks the
//! winner (`first` to reply, the default; `last`; `highest`/`lowest` by
//! position), and `merge_type:` how: `override` (the winner's fields only,
//! the default), `mix` (all fields, the winner's prevailing), `isolate`
//! (each branch's fields under its index), `stack` (a list in `stack`),
//! `union`/`concat`/`deep` (arrays joined, objects merged), `ignore`.

use super::super::flow::Flow;
use super::super::model::*;
use super::{attr, child_count, expand, value_text};
use crate::language::Node;
use serde_json::{Value, json};

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let branches = child_count(flow, fei);
    let settings = match settings(flow, fei, node, &workitem, branches) {
        Ok(s) => s,
        Err(e) => return flow.fail(fei, e),
    };
    if let Some(e) = flow.get_mut(fei) {
        e.state = settings;
    }
    if branches == 0 {
        return flow.reply_to_parent(fei, workitem);
    }
    for i in 0..branches {
        flow.apply_child(fei, i, workitem.clone());
    }
}

/// Reads the merge settings once, at apply time.
pub(crate) fn settings(
    flow: &Flow,
    fei: &Fei,
    node: &Node,
    workitem: &Workitem,
    branches: usize,
) -> Result<Value, StepError> {
    let text = |names: &[&str], default: &str| -> Result<String, StepError> {
        match attr(node, names) {
            Some(v) => expand(flow, fei, node, workitem, v).map(|v| value_text(&v)),
            None => Ok(default.to_owned()),
        }
    };
    let merge = text(&["merge", "m"], "first")?;
    let merge_type = text(&["merge_type", "mt"], "override")?;
    let remaining = text(&["remaining", "rem", "r"], "cancel")?;
    let bad = |what: &str, v: &str, allowed: &str| {
        StepError::new("bad-input", format!("{}: {what} '{v}' is not one of {allowed}", node.name))
            .at_line(node.span.line)
    };
    if !["first", "last", "highest", "lowest"].contains(&merge.as_str()) {
        return Err(bad("merge", &merge, "first, last, highest, lowest"));
    }
    if !["override", "mix", "isolate", "stack", "union", "concat", "deep", "ignore"].contains(&merge_type.as_str()) {
        return Err(bad("merge_type", &merge_type, "override, mix, isolate, stack, union, concat, deep, ignore"));
    }
    if !["cancel", "forget"].contains(&remaining.as_str()) {
        return Err(bad("remaining", &remaining, "cancel, forget"));
    }
    let expected = match attr(node, &["count", "c", "wait_for", "wf"]) {
        None => branches,
        Some(v) => {
            let v = expand(flow, fei, node, workitem, v)?;
            let n = v.as_i64().or_else(|| value_text(&v).trim().parse().ok()).ok_or_else(|| {
                StepError::new("bad-input", format!("{}: count must be an integer", node.name)).at_line(node.span.line)
            })?;
            if n >= 0 { (n as usize).min(branches) } else { (branches as i64 + n).max(1) as usize }
        }
    };
    Ok(json!({ "merge": merge, "merge_type": merge_type, "remaining": remaining, "expected": expected, "replies": [] }))
}

pub(crate) fn reply(flow: &mut Flow, fei: &Fei, from: &Fei, workitem: Workitem) {
    let Some(e) = flow.get_mut(fei) else { return };
    let replies = e.state.get_mut("replies").and_then(Value::as_array_mut);
    let Some(replies) = replies else { return };
    replies.push(json!({ "index": from.child_index(), "fields": workitem.fields }));
    let count = replies.len();
    let expected = e.state.get("expected").and_then(Value::as_u64).unwrap_or(0) as usize;
    if count < expected && !e.children.is_empty() {
        return;
    }
    let merged = final_merge(&e.state, &e.applied);
    let remaining = e.state.get("remaining").and_then(Value::as_str).unwrap_or("cancel") == "forget";
    let children = std::mem::take(&mut e.children);
    for child in children {
        if remaining {
            if let Some(c) = flow.get_mut(&child) {
                c.forgotten = true;
                c.parent = None;
            }
        } else {
            flow.queue(Message::Cancel { fei: child.clone(), kill: false });
            if let Some(c) = flow.get_mut(&child) {
                // Its reply must not reach a concurrence that is gone.
                c.forgotten = true;
            }
        }
    }
    flow.reply_to_parent(fei, merged);
}

/// Merges the branches' workitems according to the settings.
pub(crate) fn final_merge(state: &Value, applied: &Workitem) -> Workitem {
    let merge = state.get("merge").and_then(Value::as_str).unwrap_or("first");
    let merge_type = state.get("merge_type").and_then(Value::as_str).unwrap_or("override");
    let mut replies: Vec<(usize, Fields)> = state
        .get("replies")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    let index = r.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                    let fields = r.get("fields").and_then(Value::as_object).cloned().unwrap_or_default();
                    (index, fields)
                })
                .collect()
        })
        .unwrap_or_default();
    if merge_type == "ignore" || replies.is_empty() {
        return applied.clone();
    }
    // Order the workitems so that the winner is merged last (and so prevails).
    if matches!(merge, "highest" | "lowest") {
        replies.sort_by_key(|(i, _)| *i);
    }
    let accumulating = matches!(merge_type, "stack" | "union" | "concat" | "deep");
    if matches!(merge, "first" | "highest") && !accumulating {
        replies.reverse();
    }
    let mut target: Option<Fields> = None;
    for (index, source) in replies {
        target = Some(merge_fields(index, target, source, merge_type));
    }
    Workitem { fields: target.unwrap_or_default() }
}

pub(crate) fn merge_fields(index: usize, target: Option<Fields>, source: Fields, merge_type: &str) -> Fields {
    let Some(mut target) = target else {
        return match merge_type {
            "stack" => Fields::from_iter([("stack".to_owned(), json!([source]))]),
            "isolate" => Fields::from_iter([(index.to_string(), Value::Object(source))]),
            _ => source,
        };
    };
    match merge_type {
        "override" => return source,
        "mix" => target.extend(source),
        "stack" => {
            if let Some(Value::Array(stack)) = target.get_mut("stack") {
                stack.push(Value::Object(source));
            }
        }
        "isolate" => {
            target.insert(index.to_string(), Value::Object(source));
        }
        _ => {
            for (k, sv) in source {
                match (target.get_mut(&k), sv) {
                    (Some(Value::Array(tv)), Value::Array(sv)) => {
                        for v in sv {
                            if merge_type != "union" || !tv.contains(&v) {
                                tv.push(v);
                            }
                        }
                        if merge_type == "union" {
                            dedup(tv);
                        }
                    }
                    (Some(Value::Object(tv)), Value::Object(sv)) => {
                        if merge_type == "deep" {
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

    fn state(merge: &str, merge_type: &str, replies: Value) -> Value {
        json!({ "merge": merge, "merge_type": merge_type, "replies": replies })
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
