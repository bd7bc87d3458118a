//! The messages between a job's expressions, each persisted before it is
//! acted on.

use super::{CallError, Fei, Fields, TreeRef, Workitem};
use serde::{Deserialize, Serialize};

/// One participant call to make, as journaled before it is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    /// The participant expression making the call; its result goes back there.
    pub fei: Fei,
    /// The participant's registered name (`ec2_server`).
    pub participant: String,
    /// The participant's action to invoke (`create`).
    pub action: String,
    /// The step's params, dollar notation already resolved.
    pub params: Fields,
    /// The fields the call is made with.
    pub workitem: Workitem,
    /// Which attempt this is: 1, then one more at each retry of the step.
    pub attempt: u32,
    /// Stable across retries and restarts: the job, the expression position
    /// and the application.
    pub idempotency_key: String,
    /// The step's definition line (0 when unknown), for errors and history.
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
    /// Apply (start) the tree at `tree` as expression `fei`, child of `parent`.
    Apply {
        /// The new expression's id.
        fei: Fei,
        /// Who gets its reply (`None` for the root).
        parent: Option<Fei>,
        /// The tree to apply.
        tree: TreeRef,
        /// The fields it starts with.
        workitem: Workitem,
        /// Variables its scope starts with, when given (a retry keeps its own).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variables: Option<Fields>,
        /// How many times on_error already retried it (kept across a retry).
        #[serde(default)]
        retries: u32,
    },
    /// A child is done: `from` replies to its parent `to` with its fields.
    Reply {
        /// The parent receiving the reply.
        to: Fei,
        /// The child that is done.
        from: Fei,
        /// The child's fields as it left them.
        workitem: Workitem,
    },
    /// Cancel the expression `fei` and its children.
    Cancel {
        /// The expression to cancel.
        fei: Fei,
        /// A kill skips on_cancel handlers and cancels forgotten branches too.
        #[serde(default)]
        kill: bool,
    },
    /// A participant call to make; handled by the dispatcher, not the job.
    Dispatch(Dispatch),
    /// A participant call's outcome, for its participant expression.
    Result {
        /// The participant expression that made the call.
        fei: Fei,
        /// The field updates, or why the call failed.
        outcome: Result<Fields, CallError>,
        /// The attempt it answers (see [`Dispatch::attempt`]).
        attempt: u32,
    },
    /// A timer of expression `fei` rang.
    Timer {
        /// The expression whose timer it is.
        fei: Fei,
        /// What the timer was armed for.
        kind: TimerKind,
        /// The expression's token when the timer was armed: a timer whose token no
        /// longer matches is stale and ignored.
        token: u32,
    },
    /// A person decided the `approval` expression `fei`.
    Decision {
        /// The approval decided.
        fei: Fei,
        /// What was decided, by whom.
        decision: Decision,
    },
    /// The `lock` expression `fei` holds its key now: it runs its block.
    Granted {
        /// The lock expression let in.
        fei: Fei,
    },
    /// Apply failed steps again (Ruote's replay-at-error), with fields
    /// replaced by `fields` when given.
    Retry {
        /// The fields the failed steps start again with; their own when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fields: Option<Fields>,
    },
}

impl Message {
    /// The message's type as stored and logged (`apply`, `reply`...).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Apply { .. } => "apply",
            Message::Reply { .. } => "reply",
            Message::Cancel { .. } => "cancel",
            Message::Dispatch(_) => "dispatch",
            Message::Result { .. } => "result",
            Message::Timer { .. } => "timer",
            Message::Retry { .. } => "retry",
            Message::Decision { .. } => "decision",
            Message::Granted { .. } => "granted",
        }
    }
}

/// A person's answer to an `approval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Approved, or rejected.
    pub approved: bool,
    /// The name of the token that decided.
    pub by: String,
    /// Why, in the decider's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The approval form's fields, merged into the workitem when approved.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub fields: Fields,
    /// When, in milliseconds since the Unix epoch.
    pub at: i64,
}
