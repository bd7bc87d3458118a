//! The messages between a job's expressions, each persisted before it is
//! acted on.

use super::{CallError, Fei, Fields, TreeRef, Workitem};
use serde::{Deserialize, Serialize};

/// One participant call to make, as journaled before it is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    pub fei: Fei,
    pub participant: String,
    pub action: String,
    pub params: Fields,
    pub workitem: Workitem,
    pub attempt: u32,
    /// Stable across retries and restarts: the job, the expression position
    /// and the application.
    pub idempotency_key: String,
    pub line: u32,
    /// Wall-clock limit for this call (the step's `timeout`, else the tenant's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// A `wait` is over.
    Wake,
    /// The expression's `timeout` expired.
    Timeout,
    /// An on_error retry delay is over: apply again.
    Retry,
}

/// A message between expressions, processed in order per job. Every
/// message is persisted before it is acted on and deleted in the same
/// transaction that stores its effects.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Apply {
        fei: Fei,
        parent: Option<Fei>,
        tree: TreeRef,
        workitem: Workitem,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variables: Option<Fields>,
        #[serde(default)]
        retries: u32,
    },
    Reply {
        to: Fei,
        from: Fei,
        workitem: Workitem,
    },
    Cancel {
        fei: Fei,
        /// A kill skips on_cancel handlers and cancels forgotten branches too.
        #[serde(default)]
        kill: bool,
    },
    /// A participant call to make; handled by the dispatcher, not the job.
    Dispatch(Dispatch),
    /// A participant call's outcome, for its participant expression.
    Result {
        fei: Fei,
        outcome: Result<Fields, CallError>,
        attempt: u32,
    },
    Timer {
        fei: Fei,
        kind: TimerKind,
        token: u32,
    },
    /// Apply failed steps again (Ruote's replay-at-error), with fields
    /// replaced by `fields` when given.
    Retry {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fields: Option<Fields>,
    },
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Apply { .. } => "apply",
            Message::Reply { .. } => "reply",
            Message::Cancel { .. } => "cancel",
            Message::Dispatch(_) => "dispatch",
            Message::Result { .. } => "result",
            Message::Timer { .. } => "timer",
            Message::Retry { .. } => "retry",
        }
    }
}
