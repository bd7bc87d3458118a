//! A participant step: `create_ec2_server image_id: '...'`,
//! `participant 'ec2_server', action: 'create', ...`, or a bare name.
//!
//! Apply resolves the params (dollar notation, `'$f:x'` keeps types) and
//! journals a dispatch; the call itself happens outside the job, and its
//! result comes back as a `result` message: field updates are merged into
//! the workitem, an error goes to the on_error machinery.

use super::super::flow::Flow;
use super::super::model::*;
use crate::language::Node;
use crate::sandbox::CallError;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Attributes of `participant` that name the target rather than being params.
const TARGET_ATTRIBUTES: &[&str] = &["ref", "action"];

pub(crate) fn apply(flow: &mut Flow, fei: &Fei, node: &Node, participant: String, action: String, workitem: Workitem) {
    let explicit = node.name == "participant";
    let mut params = Fields::new();
    for (key, value) in &node.attrs {
        if super::COMMON_ATTRIBUTES.contains(&key.as_str()) || (explicit && TARGET_ATTRIBUTES.contains(&key.as_str())) {
            continue;
        }
        match super::expand(flow, fei, node, &workitem, value) {
            Ok(v) => {
                params.insert(key.clone(), v);
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
    if let Some(e) = flow.get_mut(fei) {
        e.state = json!({ "participant": participant, "action": action });
    }
    let dispatch = Dispatch {
        fei: fei.clone(),
        participant,
        action,
        params,
        workitem,
        attempt,
        idempotency_key: idempotency_key(flow.job_id, fei),
        line: node.span.line,
        deadline_ms,
    };
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
    if e.status != Status::Active || e.kind != "participant" {
        return;
    }
    let line = flow.node(&e.tree).map(|n| n.span.line).unwrap_or(0);
    let mut workitem = e.applied.clone();
    match outcome {
        Ok(updates) => {
            for (k, v) in updates {
                if v.is_null() {
                    workitem.fields.remove(&k);
                } else {
                    workitem.fields.insert(k, v);
                }
            }
            flow.reply_to_parent(fei, workitem);
        }
        Err(error) => {
            let step = e.state.get("participant").and_then(Value::as_str).unwrap_or("participant").to_owned();
            let action = e.state.get("action").and_then(Value::as_str).unwrap_or("").to_owned();
            let mut err = StepError::from_call(&error).at_line(line);
            err.message = format!("{step}.{action}: {}", err.message);
            flow.fail(fei, err);
        }
    }
}
