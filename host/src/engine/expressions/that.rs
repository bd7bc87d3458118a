//! `that` and `of`, the branches of a `given`, usable on their own too:
//! when the test holds, the children run one after the other (as in a
//! sequence); either way the field `__result__` says whether it held, so
//! the enclosing `given` knows to stop.
//!
//! `that '${x} == y'` (or `t:`/`test:`) takes a condition, like `if`.
//! `of 'value'` compares the `given`'s subject (the field `__given__`) with
//! the value — as text, or numerically when both are numbers — and
//! `of '/regex/'` matches it against a regular expression.

use super::super::flow::Flow;
use crate::model::*;
use super::equals::RESULT_FIELD;
use super::given::GIVEN_FIELD;
use super::{Kind, child_count, expand, set_state, state};
use crate::language::dollar::to_display_string;
use crate::language::{Node, condition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) struct That;

impl Kind for That {
    const NAMES: &'static [&'static str] = &["that", "of"];
    type State = Held;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        apply(flow, fei, node, workitem)
    }

    fn reply(flow: &mut Flow, fei: &Fei, _from: &Fei, workitem: Workitem) {
        reply(flow, fei, workitem)
    }
}

/// Whether the test held, and which child runs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Held {
    #[serde(default)]
    pub result: bool,
    #[serde(default)]
    pub position: usize,
}

fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
    let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name)).at_line(node.span.line);
    let Some(test) = node.args.first().or_else(|| super::attr(node, &["test", "t"])) else {
        let example = if node.name == "of" { "of 'ready' do ... end" } else { "that '${f:x} == y' do ... end" };
        return flow.fail(fei, bad(format!("nothing to test (write {example})")));
    };
    let holds = if node.name == "of" {
        let Some(subject) = workitem.fields.get(GIVEN_FIELD).cloned() else {
            return flow.fail(fei, bad("not inside a `given` with a subject (given '${f:x}' do ... end)".into()));
        };
        let value = match expand(flow, fei, node, &workitem, test) {
            Ok(v) => v,
            Err(e) => return flow.fail(fei, e),
        };
        match matches(&subject, &value) {
            Ok(h) => h,
            Err(m) => return flow.fail(fei, bad(m)),
        }
    } else {
        match condition::evaluate_value(test, &flow.lookup(fei, &workitem)) {
            Ok(h) => h,
            Err(e) => return flow.fail(fei, bad(e.to_string())),
        }
    };
    set_state::<That>(flow, fei, &Held { result: holds, position: 0 });
    if holds && child_count(flow, fei) > 0 {
        flow.apply_child(fei, 0, workitem);
    } else {
        end(flow, fei, holds, workitem);
    }
}

fn reply(flow: &mut Flow, fei: &Fei, workitem: Workitem) {
    let Held { result: holds, position } = state::<That>(flow, fei);
    let position = position + 1;
    if position < child_count(flow, fei) {
        set_state::<That>(flow, fei, &Held { result: holds, position });
        return flow.apply_child(fei, position, workitem);
    }
    end(flow, fei, holds, workitem);
}

fn end(flow: &mut Flow, fei: &Fei, holds: bool, mut workitem: Workitem) {
    workitem.fields.insert(RESULT_FIELD.into(), Value::Bool(holds));
    flow.reply_to_parent(fei, workitem);
}

/// Whether the subject of a `given` matches an `of` value.
fn matches(subject: &Value, value: &Value) -> Result<bool, String> {
    if let (Some(a), Some(b)) = (subject.as_f64(), value.as_f64()) {
        return Ok(a == b);
    }
    let subject = to_display_string(subject);
    let value = to_display_string(value);
    let trimmed = value.trim();
    if trimmed.len() >= 2 && trimmed.starts_with('/') && trimmed.ends_with('/') {
        let pattern = &trimmed[1..trimmed.len() - 1];
        let re = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("invalid regular expression /{pattern}/: {e}"))?;
        return Ok(re.is_match(&subject));
    }
    Ok(subject.trim() == trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn of_compares_text_numbers_and_regexes() {
        assert_eq!(matches(&json!("ready"), &json!("ready")), Ok(true));
        assert_eq!(matches(&json!("ready"), &json!("dead")), Ok(false));
        assert_eq!(matches(&json!(1), &json!(1.0)), Ok(true));
        assert_eq!(matches(&json!(1), &json!("1")), Ok(true));
        assert_eq!(matches(&json!("alpha"), &json!("/^a/")), Ok(true));
        assert_eq!(matches(&json!("bravo"), &json!("/^a/")), Ok(false));
        assert!(matches(&json!("x"), &json!("/(/")).is_err());
    }
}
