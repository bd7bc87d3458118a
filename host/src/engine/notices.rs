//! What a batch tells the tenant's webhooks: its job's end (completed,
//! failed, canceled) and the approvals it started waiting on. Each becomes
//! a row of the outbox stored with the batch (`store::notifications`) for
//! every webhook that wants the event — every job's (`every_job`), or the
//! job's definition names it: `define 'deploy', notify: 'ops' do` (a name
//! or a list). `services::notify` delivers them, away from the job.
//!
//! The body is what Slack-compatible incoming webhooks take (`text`), with
//! the details beside it for receivers that read JSON.

use super::flow::{BatchOutcome, FlowEvent};
use super::tenancy::TenantRuntime;
use crate::language::{Definition, Node};
use crate::model::JobState;
use crate::store::NewNotification;
use serde_json::{Value, json};

/// The events a webhook may ask for.
pub const EVENTS: &[&str] = &["job.completed", "job.failed", "job.canceled", "approval.pending"];

/// The webhooks a definition names with `notify:` (on `define`, so on its
/// root, or inside the `lock` a definition-wide `lock:` wraps it in).
pub fn notify_names(definition: &Definition) -> Vec<String> {
    fn names(node: &Node) -> Option<Vec<String>> {
        match node.attr("notify")? {
            Value::String(s) => Some(s.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect()),
            Value::Array(list) => Some(list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()),
            _ => None,
        }
    }
    let root = &definition.root;
    names(root)
        .or_else(|| (root.name == "lock").then(|| root.children.first().and_then(names)).flatten())
        .unwrap_or_default()
}

/// The outbox rows for what `outcome` did.
pub(super) fn notifications(
    runtime: &TenantRuntime,
    definition: &Definition,
    job_id: &str,
    outcome: &BatchOutcome,
) -> Vec<NewNotification> {
    if runtime.webhooks.is_empty() {
        return Vec::new();
    }
    let named = notify_names(definition);
    let job = json!({ "id": job_id, "definition": definition.name });
    let what = definition.name.as_deref().unwrap_or("job");
    let mut happened: Vec<(&str, String, Value)> = Vec::new();
    for event in &outcome.events {
        match event {
            FlowEvent::Finished { state: JobState::Completed } => {
                happened.push(("job.completed", format!("{what} {job_id} completed."), json!({ "job": job })))
            }
            FlowEvent::Finished { state: JobState::Canceled } => {
                happened.push(("job.canceled", format!("{what} {job_id} was canceled."), json!({ "job": job })))
            }
            FlowEvent::ApprovalRequested { fei, prompt } => happened.push((
                "approval.pending",
                format!("{what} {job_id} waits for an approval: {prompt}"),
                json!({ "job": job, "approval": { "id": fei, "prompt": prompt } }),
            )),
            _ => {}
        }
    }
    if outcome.changes.job_state == Some(JobState::Failed) {
        let error = outcome.changes.job_error.clone().flatten();
        let why = error.as_ref().map(|e| format!(": {}: {}", e.kind.as_str(), e.message)).unwrap_or_default();
        happened.push(("job.failed", format!("{what} {job_id} failed{why}"), json!({ "job": job, "error": error })));
    }
    let mut out = Vec::new();
    for (event, text, mut details) in happened {
        for webhook in &runtime.webhooks {
            let wanted = webhook.events.iter().any(|e| e == event);
            if wanted && (webhook.every_job || named.contains(&webhook.name)) {
                details["text"] = Value::String(text.clone());
                details["event"] = Value::String(event.to_owned());
                out.push(NewNotification {
                    webhook: webhook.name.clone(),
                    event: event.to_owned(),
                    body: details.to_string(),
                });
            }
        }
    }
    out
}
