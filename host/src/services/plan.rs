//! A job's plan: each participant step in the order it ran, with its
//! params and the capability calls it made — which, in a dry run, are the
//! calls it would have made (its `planned` events). Read by `mastermind
//! run --dry-run` and `GET /v1/jobs/{id}/plan`.

use crate::store::{Store, StoreError};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// One step of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// The participant expression.
    pub fei: String,
    /// Its definition line.
    pub line: Option<u32>,
    /// The participant and the action called.
    pub participant: String,
    /// The action.
    pub action: String,
    /// The params it was called with.
    pub params: Value,
    /// Whether the call succeeded.
    pub ok: bool,
    /// The capability calls it made, in order.
    pub calls: Vec<PlannedCall>,
}

/// A capability call a dry run answered.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedCall {
    /// `http`, `ssh`, `ec2` or `chef`.
    pub capability: String,
    /// Method and URL, hosts and command, region and instances.
    pub call: Value,
}

/// The plan of `job_id`, from its history and its `planned` events.
///
/// # Errors
/// A [`StoreError`] when the store cannot be read.
pub async fn job_plan(store: &Store, job_id: &str) -> Result<Vec<PlannedStep>, StoreError> {
    let mut calls: HashMap<String, Vec<PlannedCall>> = HashMap::new();
    let mut after = 0;
    loop {
        let events = store.events_after(job_id, after, 500).await?;
        let Some(last) = events.last().map(|e| e.seq) else { break };
        for e in events.iter().filter(|e| e.kind == "planned") {
            let fei = e.data["fei"].as_str().unwrap_or_default().to_owned();
            let capability = e.data["capability"].as_str().unwrap_or_default().to_owned();
            calls.entry(fei).or_default().push(PlannedCall { capability, call: e.data["call"].clone() });
        }
        after = last;
    }
    Ok(store
        .history(job_id)
        .await?
        .into_iter()
        .map(|step| PlannedStep {
            // A step tried twice shows its calls once, at its first attempt.
            calls: calls.remove(&step.fei).unwrap_or_default(),
            fei: step.fei,
            line: step.line,
            participant: step.participant,
            action: step.action,
            params: step.params,
            ok: step.ok,
        })
        .collect())
}
