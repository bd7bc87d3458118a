//! `approval 'Deploy ${version} to prod?', approvers: ['alice'], form: {
//! reason: 'string' }`: the branch waits, durably (no thread or call is
//! held), until a person decides through the API (`/v1/approvals`).
//!
//! - Approved: the form's fields merge into the workitem, with `approval`
//!   saying who decided, when and why, and the flow goes on.
//! - Rejected: the step fails with a `rejected` error, which `on_error`
//!   handles like any other (`on_error: 'rejected'` names it).
//! - The common `timeout:` and `on_timeout:` apply as to any expression.
//!
//! `approvers:` names the tokens that may decide, `groups:` the groups of
//! tokens that may (each a name or a list); any token with the `approve`
//! or `admin` scope when neither is given. `form:` maps
//! each field the decider must give to its type: `string`, `integer`,
//! `number`, `boolean` or `any`. A decision that arrives after the
//! approval ended (timed out, cancelled) changes nothing.

use super::super::flow::Flow;
use super::{expand, value_text};
use crate::language::Node;
use crate::model::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub(crate) struct Approval;

/// What a pending approval shows to those who may decide it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalState {
    /// The question, with its dollar notation resolved.
    pub prompt: String,
    /// Names of the tokens that may decide (any approver when neither
    /// they nor groups are named).
    pub approvers: Vec<String>,
    /// Groups whose approver tokens may decide.
    pub groups: Vec<String>,
    /// The fields a decision must give, and their types.
    pub form: Map<String, Value>,
    /// When it was asked, in milliseconds since the Unix epoch.
    pub requested_at: i64,
    /// The definition line it was written on.
    pub line: u32,
}

/// The types a form field may have.
pub const FORM_TYPES: &[&str] = &["string", "integer", "number", "boolean", "any"];

impl super::Kind for Approval {
    const NAMES: &'static [&'static str] = &["approval"];
    type State = ApprovalState;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        let fail = |m: String| StepError::new(StepErrorKind::BadInput, format!("approval: {m}")).at_line(node.span.line);
        let prompt = match node.args.first().or_else(|| super::attr(node, &["prompt", "message"])) {
            Some(raw) => match expand(flow, fei, node, &workitem, raw) {
                Ok(v) => value_text(&v),
                Err(e) => return flow.fail(fei, e),
            },
            None => return flow.fail(fei, fail("what is asked? write approval 'Deploy to prod?'".into())),
        };
        let names = |attr: &str| match node.attr(attr).map(|raw| expand(flow, fei, node, &workitem, raw)) {
            None => Ok(Vec::new()),
            Some(Err(e)) => Err(e),
            Some(Ok(Value::String(s))) => {
                Ok(s.split(',').map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).collect())
            }
            Some(Ok(Value::Array(list))) => Ok(list.iter().map(value_text).collect()),
            Some(Ok(other)) => Err(fail(format!("{attr}: a name or a list, not {other}"))),
        };
        let (approvers, groups) = match (names("approvers"), names("groups")) {
            (Ok(a), Ok(g)) => (a, g),
            (Err(e), _) | (_, Err(e)) => return flow.fail(fei, e),
        };
        let form = match node.attr("form") {
            None => Map::new(),
            Some(Value::Object(form)) => form.clone(),
            Some(other) => return flow.fail(fei, fail(format!("form: {{ field: 'type' }}, not {other}"))),
        };
        if let Some((name, kind)) = form.iter().find(|(_, k)| !k.as_str().is_some_and(|k| FORM_TYPES.contains(&k))) {
            return flow.fail(fei, fail(format!("form: {name}: {kind} is not one of {}", FORM_TYPES.join(", "))));
        }
        let asked = super::super::flow::FlowEvent::ApprovalRequested { fei: fei.0.clone(), prompt: prompt.clone() };
        let state = ApprovalState { prompt, approvers, groups, form, requested_at: flow.now(), line: node.span.line };
        super::set_state::<Approval>(flow, fei, &state);
        flow.events.push(asked);
    }
}

/// Whether `value` has the form type `kind`.
pub fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

/// A person decided the approval `fei` (see the module documentation).
pub(crate) fn decide(flow: &mut Flow, fei: &Fei, decision: Decision) {
    let Some(expression) = flow.get(fei) else { return };
    if expression.kind != <Approval as super::Kind>::NAMES[0] || expression.status != Status::Active {
        return;
    }
    let state = super::state::<Approval>(flow, fei);
    if !decision.approved {
        let why = decision.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default();
        let error = StepError::new(StepErrorKind::Rejected, format!("rejected by {}{why}", decision.by));
        return flow.fail(fei, error.at_line(state.line));
    }
    let mut workitem = expression.applied.clone();
    for (name, value) in decision.fields {
        workitem.fields.insert(name, value);
    }
    let record = json!({ "approved": true, "by": decision.by, "comment": decision.comment, "at": decision.at });
    workitem.fields.insert("approval".into(), record);
    flow.reply_to_parent(fei, workitem);
}
