//! `equals`: compares two values and sets the field `__result__` to
//! `true` or `false`, as Ruote's does — for `_if` without a test, whose
//! first child decides:
//!
//! ```ruby
//! _if do
//!   equals field_value: 'customer', other_value: 'British Petroleum'
//!   participant 'allister'
//! end
//! ```
//!
//! Each side is `value:`/`val:` (the value itself), `field_value:`/
//! `field_val:` (the field of that name, a dotted path) or
//! `variable_value:`/`var_value:`/`variable_val:`/`var_val:` (the
//! variable); the other side the same with `other_` in front. A missing
//! field or variable is `nil` (so it equals nothing set). Values compare as
//! JSON: `1` and `'1'` differ.

use super::super::flow::Flow;
use crate::model::*;
use super::COMMON_ATTRIBUTES;
use crate::language::Node;
use serde_json::Value;

pub(crate) struct Equals;

impl super::Kind for Equals {
    const NAMES: &'static [&'static str] = &["equals"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }
}

pub(crate) const RESULT_FIELD: &str = "__result__";

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, mut workitem: Workitem) {
    let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("equals: {m}")).at_line(node.span.line);
    let mut values = Vec::new();
    for (key, raw) in &node.attrs {
        if COMMON_ATTRIBUTES.contains(&key.as_str()) || key == "escape" {
            continue;
        }
        let kind = key.strip_prefix("other_").unwrap_or(key);
        let value = match super::attribute_value(flow, fei, node, &workitem, kind, raw) {
            Some(Ok(v)) => v,
            Some(Err(e)) => return flow.fail(fei, e),
            None => {
                return flow.fail(
                    fei,
                    bad(format!(
                        "unknown attribute '{key}' (value:, field_value:, variable_value:, and the same with other_)"
                    )),
                );
            }
        };
        values.push(value);
    }
    let [a, b] = values.as_slice() else {
        let m = format!("compares two values, got {} (equals value: 'a', other_field_value: 'f')", values.len());
        return flow.fail(fei, bad(m));
    };
    let equal = a == b;
    workitem.fields.insert(RESULT_FIELD.into(), Value::Bool(equal));
    flow.reply_to_parent(fei, workitem);
}

/// Whether a workitem says `__result__` is true (a boolean or the text).
pub(crate) fn result_is_true(workitem: &Workitem) -> bool {
    match workitem.fields.get(RESULT_FIELD) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}
