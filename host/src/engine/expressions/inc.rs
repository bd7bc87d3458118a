//! `inc` / `increment` / `push` and `dec` / `decrement` / `pop`: add to (or
//! take from) a numeric field or variable, or append to (take from) an
//! array, as Ruote's.
//!
//! The target: `inc 'v:count'`, `inc 'f:n'` (a dotted path; `f:` is the
//! default), `inc field: 'n'`, `inc var: 'count'`, or the hash form
//! `inc 'v:count' => 2`. The delta: `val:`/`value:` or the hash form's
//! value, 1 by default (floats too). On an array, `inc` adds the value at
//! the `pos:` (`tail`, the default, or `head`); `dec` with a value removes
//! it, without one takes the element at `pos:`. `push` and `pop` always
//! treat the target as an array. The field `__result__` holds the element
//! taken by a `dec`/`pop`, else the new value; `to_v:`/`to_f:` name a
//! variable or field to keep it in as well. The delta may also be
//! `field_value:`/`variable_value:` (`f_val:`, `v_val:`...), or what a
//! block leaves in `__result__` (`inc 'v:x' do ... end`).

use super::super::flow::Flow;
use crate::model::*;
use super::equals::RESULT_FIELD;
use super::{COMMON_ATTRIBUTES, attr, expand, path, value_text};
use crate::language::Node;
use serde_json::{Value, json};

pub(crate) struct Inc;

impl super::Kind for Inc {
    const NAMES: &'static [&'static str] = &["inc", "dec", "increment", "decrement", "push", "pop"];
    type State = ();

    /// `inc 'v:x' do ... end` runs the block first, in a scope of its
    /// own: the delta is the `__result__` it leaves.
    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        if node.children.is_empty() {
            return apply(flow, fei, node, workitem, None).unwrap_or_else(|e| flow.fail(fei, e));
        }
        super::apply_block(flow, fei, workitem)
    }

    fn reply(flow: &mut Flow, fei: &Fei, _from: &Fei, workitem: Workitem) {
        let Some(Ok(node)) = flow.get(fei).map(|e| flow.node(&e.tree)) else { return };
        let delta = super::block_value(&workitem);
        apply(flow, fei, &node, workitem, Some(delta)).unwrap_or_else(|e| flow.fail(fei, e))
    }
}

/// Attributes that are settings rather than the hash form's target (and
/// the value attributes, [`super::is_value_attribute`]).
const SETTINGS: &[&str] = &[
    "pos", "position", "field", "f", "fld", "var", "v", "variable", "to_v", "to_var", "to_variable", "to_f", "to_fld",
    "to_field",
];

/// Does it, with `block` the delta a block computed.
fn apply(flow: &mut Flow, fei: &Fei, node: &Node, mut workitem: Workitem, block: Option<Value>) -> Result<(), StepError> {
    let fail = |m: String| StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name)).at_line(node.span.line);
    let setting = |k: &str| COMMON_ATTRIBUTES.contains(&k) || SETTINGS.contains(&k) || super::is_value_attribute(k);
    let hash_form = node.attrs.iter().find(|(k, _)| !setting(k));
    let (target, given) = match (node.first_arg_str(), attr(node, &["field", "f", "fld"]), attr(node, &["var", "v", "variable"]), hash_form) {
        (Some(spec), ..) => (spec.to_owned(), None),
        (None, Some(f), ..) => (format!("f:{}", value_text(f)), None),
        (None, None, Some(v), _) => (format!("v:{}", value_text(v)), None),
        (None, None, None, Some((k, v))) => (k.clone(), Some(v)),
        _ => return Err(fail("which field or variable? (inc 'v:count')".into())),
    };
    let delta = match (block, given) {
        (Some(v), _) => Some(v),
        (None, Some(raw)) => Some(expand(flow, fei, node, &workitem, raw)?),
        (None, None) => {
            node.attrs.iter().find_map(|(k, raw)| super::attribute_value(flow, fei, node, &workitem, k, raw)).transpose()?
        }
    };
    let (is_var, name) = match target.split_once(':') {
        Some(("v" | "var" | "variable", n)) => (true, n.to_owned()),
        Some(("f" | "fld" | "field", n)) => (false, n.to_owned()),
        _ => (false, target.clone()),
    };
    let current = if is_var { flow.variable(fei, &name) } else { path::get(&workitem.fields, &name) };
    let down = matches!(node.name.as_str(), "dec" | "decrement" | "pop");
    let as_array = matches!(node.name.as_str(), "push" | "pop");
    let at_head = match attr(node, &["pos", "position"]).map(value_text).as_deref() {
        None | Some("tail") => false,
        Some("head") => true,
        Some(other) => return Err(fail(format!("pos '{other}' is neither head nor tail"))),
    };
    let current = match current {
        Some(Value::Array(items)) => Value::Array(items),
        None | Some(Value::Null) if as_array || delta.as_ref().is_some_and(|d| !is_number(d)) => json!([]),
        Some(other) if as_array => json!([other]),
        other => other.unwrap_or(Value::Null),
    };
    let (next, result) = match current {
        Value::Array(mut items) => {
            let taken = match (&delta, down) {
                (Some(d), false) => {
                    if at_head { items.insert(0, d.clone()) } else { items.push(d.clone()) }
                    None
                }
                (None, false) => return Err(fail(format!("what to add to the array '{target}'? (val: ...)"))),
                (Some(d), true) => items.iter().position(|x| x == d).map(|i| items.remove(i)),
                (None, true) if at_head => (!items.is_empty()).then(|| items.remove(0)),
                (None, true) => items.pop(),
            };
            let next = Value::Array(items);
            let result = if down { taken.unwrap_or(Value::Null) } else { next.clone() };
            (next, result)
        }
        cur => {
            let by = delta.unwrap_or(json!(1));
            let (Some(a), Some(b)) = (number(&cur), number(&by)) else {
                return Err(fail(format!("'{target}' is {cur}, not a number or an array")));
            };
            let n = if down { a - b } else { a + b };
            let next = if n.fract() == 0.0 && n.abs() < 9e15 { json!(n as i64) } else { json!(n) };
            (next.clone(), next)
        }
    };
    if is_var {
        flow.set_variable(fei, &name, Some(next));
    } else {
        path::set(&mut workitem.fields, &name, next).map_err(fail)?;
    }
    // `to_v:` / `to_f:` keep the result (what a `dec` took) there too.
    if let Some(raw) = attr(node, &["to_v", "to_var", "to_variable"]) {
        flow.set_variable(fei, &value_text(&expand(flow, fei, node, &workitem, raw)?), Some(result.clone()));
    }
    if let Some(raw) = attr(node, &["to_f", "to_fld", "to_field"]) {
        let name = value_text(&expand(flow, fei, node, &workitem, raw)?);
        path::set(&mut workitem.fields, &name, result.clone()).map_err(fail)?;
    }
    workitem.fields.insert(RESULT_FIELD.into(), result);
    flow.reply_to_parent(fei, workitem);
    Ok(())
}

fn is_number(v: &Value) -> bool {
    number(v).is_some() && !v.is_null()
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Null => Some(0.0),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn numbers_go_up_and_down_by_one_by_default() {
        let job = run("inc 'v:x'\ninc 'v:x'\ndec 'v:x'\nset 'f:x' => '$v:x'\ninc 'f:y', val: 2.5", json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.fields["x"], json!(1));
        assert_eq!(job.fields["y"], json!(2.5));
    }

    #[test]
    fn the_hash_form_names_the_target_and_the_delta() {
        let job = run("inc 'f:count' => 3\ndec 'count' => 1", json!({"count": 10}));
        assert_eq!(job.fields["count"], json!(12));
        assert_eq!(job.fields["__result__"], json!(12));
    }

    #[test]
    fn arrays_grow_at_either_end_and_give_up_what_they_lose() {
        let job = run("inc 'f:l', val: 'c'\ninc 'f:l', val: 'z', pos: 'head'\ndec 'f:l', pos: 'head'", json!({"l": ["a"]}));
        assert_eq!(job.fields["l"], json!(["a", "c"]));
        assert_eq!(job.fields["__result__"], json!("z"));
        let job = run("pop 'f:l'", json!({"l": ["a", "b"]}));
        assert_eq!(job.fields, json!({"l": ["a"], "__result__": "b"}));
        let job = run("push 'f:l', val: 1", json!({}));
        assert_eq!(job.fields["l"], json!([1]));
        let job = run("dec 'f:l', val: 'b'", json!({"l": ["a", "b", "c"]}));
        assert_eq!(job.fields["l"], json!(["a", "c"]));
        assert_eq!(job.fields["__result__"], json!("b"));
    }

    #[test]
    fn something_else_is_an_error_at_its_line() {
        let job = run("set 'f:s' => 'text'\ninc 'f:s'", json!({}));
        assert_eq!(job.state, JobState::Failed);
        let e = job.error.unwrap();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("not a number or an array"), "{e}");
    }
}
