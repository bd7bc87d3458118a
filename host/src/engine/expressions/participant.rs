//! A participant step: `create_ec2_server image_id: '...'`,
//! `participant 'ec2_server', action: 'create', ...`, or a bare name.
//!
//! Apply resolves the params (dollar notation, `'$f:x'` keeps types) and
//! journals a dispatch; the call itself happens outside the job, and its
//! result comes back as a `result` message: field updates are merged into
//! the workitem, an error goes to the on_error machinery.

use super::super::flow::Flow;
use crate::model::*;
use crate::language::Node;
use super::{Kind, set_state, state};
use crate::sandbox::CallError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(crate) struct Participant;

impl Kind for Participant {
    const NAMES: &'static [&'static str] = &[super::PARTICIPANT, "ref"];
    type State = Target;

    /// Resolves the step to a participant action and journals the call.
    /// `participant 'name'` may also name a subprocess in scope, which is
    /// then called instead, and the name may be computed at run time
    /// (`participant '${v:step}'`).
    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        let target = match named_target(flow, fei, node, &workitem) {
            Ok(t) => t,
            Err(e) => return flow.fail(fei, e),
        };
        let node = match target {
            Some((name, computed)) => {
                if let Some(tree) = super::subprocess::lookup(flow, fei, &name) {
                    return super::subprocess::call(flow, fei, node, tree, workitem);
                }
                if computed {
                    let mut resolved = node.clone();
                    resolved.args = vec![serde_json::Value::String(name)];
                    resolved.attrs.retain(|(k, _)| k != "ref");
                    std::borrow::Cow::Owned(resolved)
                } else {
                    std::borrow::Cow::Borrowed(node)
                }
            }
            None => std::borrow::Cow::Borrowed(node),
        };
        match flow.resolver.resolve_step(&node.name, &node) {
            Ok((participant, action)) => dispatch(flow, fei, &node, Target { participant, action }, workitem),
            Err(message) => flow.fail(fei, StepError::new(StepErrorKind::BadInput, message).at_line(node.span.line)),
        }
    }

    /// A call not yet made is withdrawn; one in flight is aborted.
    fn on_cancel(flow: &mut Flow, fei: &Fei) {
        flow.withdraw_dispatch(fei);
    }
}

/// The participant action a step calls.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Target {
    #[serde(default)]
    pub participant: String,
    #[serde(default)]
    pub action: String,
}

/// Attributes of `participant` that name the target rather than being params.
const TARGET_ATTRIBUTES: &[&str] = &["ref", "action"];

/// What `participant 'name'` (or `ref:`) names, and whether the name was
/// computed from fields or variables (resolved now, strictly).
fn named_target(flow: &Flow, fei: &Fei, node: &Node, workitem: &Workitem) -> Result<Option<(String, bool)>, StepError> {
    if !super::is_explicit_step(&node.name) {
        return Ok(None);
    }
    match node.args.first().or_else(|| node.attr("ref")) {
        Some(raw @ serde_json::Value::String(text)) if text.contains('$') => {
            let value = super::expand_strictly(flow, fei, node, workitem, raw)?;
            Ok(Some((super::value_text(&value), true)))
        }
        Some(serde_json::Value::String(text)) => Ok(Some((text.clone(), false))),
        _ => Ok(None),
    }
}

/// The params a participant step gives: its attributes, less those every
/// expression understands and, in `participant 'name', action: 'x'`, the
/// ones naming the target.
pub(crate) fn param_names(node: &Node) -> impl Iterator<Item = &str> {
    params(node).map(|(k, _)| k.as_str())
}

fn params(node: &Node) -> impl Iterator<Item = &(String, serde_json::Value)> {
    let explicit = super::is_explicit_step(&node.name);
    node.attrs.iter().filter(move |(k, _)| {
        let names_target = explicit && TARGET_ATTRIBUTES.contains(&k.as_str());
        !super::COMMON_ATTRIBUTES.contains(&k.as_str()) && !names_target
    })
}

fn dispatch(flow: &mut Flow, fei: &Fei, node: &Node, target: Target, workitem: Workitem) {
    let mut resolved = Fields::new();
    for (key, value) in params(node) {
        match super::expand_strictly(flow, fei, node, &workitem, value) {
            Ok(v) => {
                resolved.insert(key.clone(), v);
            }
            Err(e) => return flow.fail(fei, e),
        }
    }
    let (attempt, deadline_ms) = {
        let e = flow.get(fei);
        let attempt = e.map(|e| e.retries + 1).unwrap_or(1);
        let deadline = node
            .attr("timeout")
            .and_then(|t| crate::language::attributes::parse_duration(&super::value_text(t)).ok())
            .map(|d| d.as_millis() as u64);
        (attempt, deadline)
    };
    let dispatch = Dispatch {
        fei: fei.clone(),
        participant: target.participant.clone(),
        action: target.action.clone(),
        params: resolved,
        workitem,
        attempt,
        idempotency_key: idempotency_key(flow.job_id, fei),
        line: node.span.line,
        deadline_ms,
    };
    super::await_::happened(flow, super::await_::Event::ReachedParticipant, &target.participant, &dispatch.workitem);
    set_state::<Participant>(flow, fei, &target);
    let now = flow.now();
    flow.persist(Message::Dispatch(dispatch), now);
}

/// The same for every attempt at this step: the job and the application.
fn idempotency_key(job_id: &str, fei: &Fei) -> String {
    let digest = Sha256::digest(format!("{job_id}/{}", fei.0).as_bytes());
    format!("mm-{}", hex::encode(&digest[..16]))
}

pub(crate) fn result(flow: &mut Flow, fei: &Fei, outcome: Result<Fields, CallError>, _attempt: u32) {
    let Some(e) = flow.get(fei) else { return };
    if e.status != Status::Active || e.kind != super::PARTICIPANT {
        return;
    }
    let line = flow.node(&e.tree).map(|n| n.span.line).unwrap_or(0);
    let mut workitem = e.applied.clone();
    match outcome {
        Ok(updates) => {
            merge(&mut workitem, updates);
            let participant = state::<Participant>(flow, fei).participant;
            flow.reply_to_parent(fei, workitem.clone());
            super::await_::happened(flow, super::await_::Event::LeftParticipant, &participant, &workitem);
        }
        Err(mut error) => {
            // What the call kept before failing travels with the error: the
            // handler (and a retry) start from the fields as they are now.
            if let Some(kept) = error.fields.take() {
                merge(&mut workitem, kept);
                if let Some(e) = flow.get_mut(fei) {
                    e.applied = workitem;
                }
            }
            let target = state::<Participant>(flow, fei);
            let mut err = StepError::from_call(&error).at_line(line);
            err.message = format!("{}.{}: {}", target.participant, target.action, err.message);
            flow.fail(fei, err);
        }
    }
}

/// Field updates into a workitem: each key replaces its field; null removes it.
fn merge(workitem: &mut Workitem, updates: Fields) {
    for (k, v) in updates {
        if v.is_null() {
            workitem.fields.remove(&k);
        } else {
            workitem.fields.insert(k, v);
        }
    }
}
