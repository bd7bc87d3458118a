//! Errors and timeouts: `on_error`, `on_timeout` and what happens when no
//! handler takes an error.
//!
//! As in Ruote, the nearest expression (the failing one or an ancestor)
//! with an `on_error` attribute handles an error. Its handlers are consumed
//! in order — `'10s: retry * 3, pass'` retries three times, ten seconds
//! apart, then passes — and once they are used up the error goes further
//! up. The handling expression is cancelled (children first), then:
//! `retry` applies it again, `pass` replies as if it had completed,
//! `cancel`/`undo` replies as cancelled, a name applies that subprocess or
//! participant in its place with the error in the `__error__` field. An
//! error nobody handles fails the step and the job; the job can be retried
//! from that step.

use super::expressions;
use super::flow::{Flow, FlowEvent};
use crate::language::attributes::{Handler, HandlerAction, parse_on_error, parse_on_timeout};
use crate::language::{Node, Span};
use crate::model::*;
use serde_json::{Value, json};

pub(crate) fn on_error(flow: &mut Flow, fei: &Fei, error: StepError) {
    // Handlers see the fields as they were at the failing step.
    let failing = flow.get(fei).map(|e| e.applied.clone()).unwrap_or_default();
    let mut cursor = Some(fei.clone());
    while let Some(current) = cursor {
        let Some(e) = flow.get(&current) else { break };
        let parent = e.parent.clone();
        let retries = e.retries;
        // Handlers its `on_error` children registered, then its attribute.
        let mut specs: Vec<HandlerTarget> = e
            .error_handlers
            .iter()
            .filter(|h| h.pattern.as_deref().is_none_or(|p| matches_error(p, &error)))
            .map(|h| h.handler.clone())
            .collect();
        if let Some(attribute) = flow.node(&e.tree).ok().and_then(|n| n.attr("on_error").cloned()) {
            specs.push(HandlerTarget::Spec(spec_text(&attribute)));
        }
        for target in specs {
            match target {
                HandlerTarget::Tree(tree) => {
                    let after = AfterCancel::HandlerTree { tree, error, workitem: Some(failing) };
                    return handle_by_cancelling(flow, &current, after);
                }
                HandlerTarget::Spec(spec) if spec.trim().is_empty() => {
                    // An empty on_error stops the search: the error is not
                    // handled here nor above (Ruote's "nullify").
                    return unhandled(flow, fei, error);
                }
                HandlerTarget::Spec(spec) => match handler_for(&spec, retries, error.kind) {
                    Ok(Some(handler)) => return take(flow, &current, handler, error, failing),
                    Ok(None) => {}
                    Err(bad) => {
                        return unhandled(
                            flow,
                            fei,
                            StepError::new(StepErrorKind::BadInput, format!("on_error: {bad}")),
                        );
                    }
                },
            }
        }
        cursor = parent;
    }
    unhandled(flow, fei, error);
}

/// An `on_error` attribute as handler text (a list becomes `a, b`).
fn spec_text(spec: &Value) -> String {
    match spec {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(expressions::value_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// Whether a registered handler's pattern takes an error: the error's kind
/// named exactly (`'timeout'`, `'bad-input'`: what Ruote's class names
/// are), or a regular expression (with or without slashes) found in its
/// message.
fn matches_error(pattern: &str, error: &StepError) -> bool {
    let pattern = pattern.trim();
    if pattern == error.kind.as_str() {
        return true;
    }
    let message = error.message.as_str();
    // `/pattern/flags`, as a Ruby literal; else the whole text.
    let (pattern, flags) = match pattern.strip_prefix('/').and_then(|p| p.rsplit_once('/')) {
        Some((inner, flags)) if flags.chars().all(|c| c.is_ascii_alphabetic()) => (inner, flags),
        _ => (pattern, ""),
    };
    regex::RegexBuilder::new(pattern)
        .case_insensitive(flags.contains('i'))
        .size_limit(1 << 20)
        .build()
        .is_ok_and(|re| re.is_match(message))
}

/// The handler for the next attempt at an error of `kind`, once `retries`
/// retries were made. A plain `retry` passes over an error that would only
/// fail again (fatal, denied, bad input...): the next item takes it.
fn handler_for(text: &str, retries: u32, kind: StepErrorKind) -> Result<Option<Handler>, String> {
    let handlers = parse_on_error(text).map_err(|e| e.to_string())?;
    let mut budget = retries;
    for h in handlers {
        if h.action.is_retry() {
            let times = h.times.unwrap_or(1);
            if h.action == HandlerAction::Retry && !kind.retried_by_default() {
                continue;
            }
            if budget < times {
                return Ok(Some(h));
            }
            budget -= times;
        } else {
            return Ok(Some(h));
        }
    }
    Ok(None)
}

fn take(flow: &mut Flow, handler_fei: &Fei, handler: Handler, error: StepError, failing: Workitem) {
    let delay_ms = handler.delay.map(|d| d.as_millis() as u64).unwrap_or(0);
    let after = match handler.action {
        HandlerAction::Retry | HandlerAction::RetryAny => {
            // As in Ruote, a retry starts again from the fields as they
            // were when the error happened.
            if let Some(e) = flow.get_mut(handler_fei) {
                e.applied = failing;
            }
            AfterCancel::Retry { delay_ms }
        }
        HandlerAction::Redo => AfterCancel::Retry { delay_ms },
        HandlerAction::Cando => AfterCancel::Cando,
        HandlerAction::Pass => AfterCancel::ReplyWith { workitem: failing },
        HandlerAction::Cancel | HandlerAction::Undo => {
            let applied = flow.get(handler_fei).map(|e| e.applied.clone()).unwrap_or_default();
            AfterCancel::ReplyWith { workitem: applied }
        }
        HandlerAction::Raise => return unhandled(flow, handler_fei, error),
        HandlerAction::Handler(name) => AfterCancel::Handler { name, error, workitem: Some(failing) },
    };
    handle_by_cancelling(flow, handler_fei, after);
}

/// Cancels the handling expression's children, then does `after`.
fn handle_by_cancelling(flow: &mut Flow, handler_fei: &Fei, after: AfterCancel) {
    if let Some(e) = flow.get_mut(handler_fei) {
        e.after_cancel = Some(after);
    }
    expressions::cancel(flow, handler_fei, false);
}

/// The expression's timeout fired.
pub(crate) fn on_timeout(flow: &mut Flow, fei: &Fei) {
    let Some(e) = flow.get(fei) else { return };
    let node = flow.node(&e.tree).ok();
    let line = node.as_ref().map(|n| n.span.line).unwrap_or(0);
    let mut timed_out = e.applied.clone();
    timed_out.fields.insert("__timed_out__".into(), json!({ "fei": fei.0, "at": flow.now() }));
    let spec = node.as_ref().and_then(|n| n.attr("on_timeout")).map(expressions::value_text);
    let error = StepError::new(StepErrorKind::Timeout, "the step timed out").at_line(line);
    let handler = match spec.as_deref() {
        None | Some("") | Some("cancel") => AfterCancel::ReplyWith { workitem: timed_out },
        Some("error") => return on_error(flow, fei, error),
        Some(spec) => match parse_on_timeout(spec) {
            Ok(mut hs) if !hs.is_empty() => match hs.remove(0).action {
                HandlerAction::Retry | HandlerAction::RetryAny | HandlerAction::Redo | HandlerAction::Cando => {
                    AfterCancel::Retry { delay_ms: 0 }
                }
                HandlerAction::Pass => AfterCancel::Pass,
                HandlerAction::Raise => return on_error(flow, fei, error),
                HandlerAction::Cancel | HandlerAction::Undo => AfterCancel::ReplyWith { workitem: timed_out },
                HandlerAction::Handler(name) => AfterCancel::Handler { name, error, workitem: None },
            },
            _ => {
                return on_error(
                    flow,
                    fei,
                    StepError::new(StepErrorKind::BadInput, format!("on_timeout: cannot read '{spec}'")),
                );
            }
        },
    };
    if let Some(e) = flow.get_mut(fei) {
        e.after_cancel = Some(handler);
    }
    expressions::cancel(flow, fei, false);
}

/// A cancelled expression's children are all gone: finish the handler
/// that started the cancellation, or just reply.
pub(crate) fn cancelled(flow: &mut Flow, fei: &Fei, workitem: Workitem) {
    let Some(e) = flow.get(fei) else { return };
    let applied = e.applied.clone();
    match e.after_cancel.clone() {
        None => {
            let w = if e.kind == expressions::PARTICIPANT { applied } else { workitem };
            flow.reply_to_parent(fei, w)
        }
        Some(AfterCancel::Pass) => flow.reply_to_parent(fei, applied),
        Some(AfterCancel::ReplyWith { workitem }) => flow.reply_to_parent(fei, workitem),
        Some(AfterCancel::Retry { delay_ms }) => {
            if let Some(e) = flow.get_mut(fei) {
                e.status = Status::Active;
                e.after_cancel = None;
            }
            if delay_ms == 0 {
                retry_now(flow, fei);
            } else {
                expressions::arm_timer(flow, fei, TimerKind::Retry, delay_ms as i64);
            }
        }
        Some(AfterCancel::Redo) => redo(flow, fei),
        Some(AfterCancel::Handler { name, error, workitem }) => {
            let line = flow.get(fei).and_then(|e| flow.node(&e.tree).ok()).map(|n| n.span.line).unwrap_or(0);
            replace_with(flow, fei, Node::new(name, Span { line, ..Span::default() }), Some(error), workitem)
        }
        Some(AfterCancel::HandlerTree { tree, error, workitem }) => {
            match crate::language::json::node_from_json(&tree.0) {
                Ok(node) => replace_with(flow, fei, node, Some(error), workitem),
                Err(e) => unhandled(flow, fei, StepError::new(StepErrorKind::Internal, format!("handler tree: {e}"))),
            }
        }
        Some(AfterCancel::Cando) => cando(flow, fei),
        Some(AfterCancel::OnCancel { name }) => {
            let line = flow.get(fei).and_then(|e| flow.node(&e.tree).ok()).map(|n| n.span.line).unwrap_or(0);
            replace_with(flow, fei, Node::new(name, Span { line, ..Span::default() }), None, None)
        }
    }
}

/// `cando`: the cancelled expression's `on_cancel` handler runs, then the
/// expression again from the fields it started with — both in its place,
/// as a sequence. Without an `on_cancel` it is a retry.
fn cando(flow: &mut Flow, fei: &Fei) {
    let Some(e) = flow.get(fei) else { return };
    let Ok(node) = flow.node(&e.tree) else { return };
    let Some(on_cancel) = node.attr_str("on_cancel").filter(|n| !n.trim().is_empty()).map(str::to_owned) else {
        if let Some(e) = flow.get_mut(fei) {
            e.status = Status::Active;
            e.after_cancel = None;
        }
        return retry_now(flow, fei);
    };
    let span = Span { line: node.span.line, ..Span::default() };
    let mut again = node.into_owned();
    // Applied again, it must not hand its error to `cando` for ever.
    again.attrs.retain(|(k, _)| k != "on_error");
    let mut sequence = Node::new("sequence", span);
    sequence.children = vec![Node::new(on_cancel, span), again];
    replace_with(flow, fei, sequence, None, None);
}

/// Applies `handler` in place of the cancelled expression `fei`, with the
/// failing step's fields (the applied ones when `None`) and the error, if
/// any, in the field `__error__`.
fn replace_with(flow: &mut Flow, fei: &Fei, handler: Node, error: Option<StepError>, workitem: Option<Workitem>) {
    let Some(e) = flow.get(fei).cloned() else { return };
    let mut workitem = workitem.unwrap_or_else(|| e.applied.clone());
    if let Some(error) = error {
        workitem.fields.insert("__error__".into(), serde_json::to_value(&error).unwrap_or(Value::Null));
    }
    flow.remove_for_reapply(fei);
    flow.queue(Message::Apply {
        fei: e.fei.clone(),
        parent: e.parent.clone(),
        tree: TreeRef::Inline(Box::new(NodeJson::from_node(&handler))),
        workitem,
        variables: e.variables.clone(),
        retries: 0,
    });
}

/// Applies an expression again, in place, with the workitem it started
/// with (an on_error retry whose delay is over, or a retry from the API).
pub(crate) fn retry_now(flow: &mut Flow, fei: &Fei) {
    let Some(e) = flow.get(fei).cloned() else { return };
    flow.remove_for_reapply(fei);
    flow.queue(Message::Apply {
        fei: e.fei.clone(),
        parent: e.parent.clone(),
        tree: e.tree.clone(),
        workitem: e.applied.clone(),
        variables: if e.parent.is_some() { scope_variables(&e) } else { e.variables.clone() },
        retries: e.retries + 1,
    });
}

/// Applies a cancelled expression again with the workitem it started with,
/// as a new application (a new id, so a late result of its old participant
/// call is not taken for the new one's; the root keeps its id).
fn redo(flow: &mut Flow, fei: &Fei) {
    let Some(e) = flow.get(fei).cloned() else { return };
    flow.remove_for_reapply(fei);
    let new = if e.parent.is_some() { Fei::new(e.fei.expid()) } else { e.fei.clone() };
    if let Some(parent) = &e.parent
        && let Some(p) = flow.get_mut(parent)
        && let Some(child) = p.children.iter_mut().find(|c| **c == *fei)
    {
        *child = new.clone();
    }
    flow.queue(Message::Apply {
        fei: new,
        parent: e.parent.clone(),
        tree: e.tree.clone(),
        workitem: e.applied.clone(),
        variables: if e.parent.is_some() { scope_variables(&e) } else { e.variables.clone() },
        retries: 0,
    });
}

/// Variables an expression was applied with (scopes it opened itself are
/// rebuilt by applying it again).
fn scope_variables(e: &Expression) -> Option<Fields> {
    if expressions::properties(&e.kind).keeps_variables { e.variables.clone() } else { None }
}

/// No handler: the step fails, and with it the job (other branches go on).
fn unhandled(flow: &mut Flow, fei: &Fei, error: StepError) {
    if let Some(e) = flow.get_mut(fei) {
        e.status = Status::Failed { error: error.clone() };
    }
    flow.set_state(JobState::Failed);
    flow.set_error(Some(error.clone()));
    flow.events.push(FlowEvent::StepFailed { fei: fei.0.clone(), error });
}

/// Applies every failed step again; the job runs again.
pub(crate) fn retry_failed(flow: &mut Flow, fields: Option<Fields>) {
    let failed: Vec<Fei> =
        flow.exprs.values().filter(|e| matches!(e.status, Status::Failed { .. })).map(|e| e.fei.clone()).collect();
    if failed.is_empty() {
        return;
    }
    for fei in &failed {
        if let Some(e) = flow.get_mut(fei) {
            e.status = Status::Active;
            // Edited fields replace those of the failed step's workitem;
            // the others stay as the step saw them.
            if let Some(fields) = &fields {
                for (k, v) in fields {
                    e.applied.fields.insert(k.clone(), v.clone());
                }
            }
        }
        // A deliberate failure (`error`), retried by the operator, is
        // acknowledged: the flow goes on past it.
        let deliberate =
            flow.get(fei).filter(|e| expressions::properties(&e.kind).retry_goes_past).map(|e| e.applied.clone());
        match deliberate {
            Some(applied) => flow.reply_to_parent(fei, applied),
            None => retry_now(flow, fei),
        }
    }
    flow.set_state(JobState::Running);
    flow.set_error(None);
}
