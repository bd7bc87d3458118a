//! The engine's persistent vocabulary: expression ids, workitems, live
//! expressions and the messages between them. Everything here is
//! serialized into the store; field names are part of the storage format.

use crate::language::Node;
use crate::sandbox::{CallError, ErrorKind, Limit};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type Fields = Map<String, Value>;

/// A flow expression id: the expression's position in the definition tree
/// (`0_2_1`: root, third child, second child) plus a suffix unique to this
/// application, since loops and retries apply the same position again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fei(pub String);

impl Fei {
    /// The root expression of every job.
    pub fn root() -> Self {
        Fei("0!0".into())
    }

    pub fn new(expid: &str) -> Self {
        Fei(format!("{expid}!{:08x}", rand::random::<u32>()))
    }

    /// The position part (`0_2_1`).
    pub fn expid(&self) -> &str {
        self.0.split('!').next().unwrap_or(&self.0)
    }

    /// The id of child `index` of this expression.
    pub fn child(&self, index: usize) -> Fei {
        Fei::new(&format!("{}_{index}", self.expid()))
    }

    /// Which child of its parent this expression is (last expid segment).
    pub fn child_index(&self) -> usize {
        self.expid().rsplit('_').next().and_then(|s| s.parse().ok()).unwrap_or(0)
    }
}

impl std::fmt::Display for Fei {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What flows from step to step: the job's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Workitem {
    pub fields: Fields,
}

/// Where an expression's tree comes from: a position in the job's
/// definition (the usual case, so a 1,000-step sequence is stored once), or
/// a tree of its own (a subprocess body, a branch added at run time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeRef {
    Path(Vec<u32>),
    Inline(Box<NodeJson>),
}

/// A definition node as stored (the language's JSON form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeJson(pub Value);

impl NodeJson {
    pub fn from_node(node: &Node) -> Self {
        NodeJson(crate::language::json::node_to_json(node))
    }
}

/// An expression currently alive in a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expression {
    pub fei: Fei,
    pub parent: Option<Fei>,
    pub tree: TreeRef,
    /// The expression kind it was applied as (`sequence`, `participant`...).
    pub kind: String,
    /// The workitem it was applied with.
    pub applied: Workitem,
    /// Variables, for expressions that open a scope (root, subprocess, let, iterators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Fields>,
    /// Children still alive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Fei>,
    /// Kind-specific state (a sequence's position, a concurrence's replies).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub state: Value,
    #[serde(default)]
    pub status: Status,
    /// Incremented at each timer armed for this expression, so a stale
    /// timer that fires after its expression moved on is recognised.
    #[serde(default)]
    pub timer_token: u32,
    /// The same for its `timeout:` timer, which runs beside the others (a
    /// `wait` or a `once` with a timeout arms both).
    #[serde(default)]
    pub timeout_token: u32,
    /// How many times on_error has retried this expression.
    #[serde(default)]
    pub retries: u32,
    /// Tagged expressions can be jumped to or cancelled by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Set when the expression was forgotten (`forget`, concurrence
    /// `remaining: forget`): its reply goes nowhere.
    #[serde(default)]
    pub forgotten: bool,
    /// What to do once a cancellation started by an error or timeout
    /// handler has brought the children down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_cancel: Option<AfterCancel>,
    /// Error handlers its `on_error` children registered on it, tried in
    /// order before its own `on_error:` attribute.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_handlers: Vec<RegisteredHandler>,
}

/// An error handler registered by an `on_error` expression: for errors
/// whose message matches `pattern` (all errors without one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredHandler {
    /// A regular expression searched in the error's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    pub handler: HandlerTarget,
}

/// What handles an error: what an `on_error:` attribute may say (`retry`,
/// `pass`, a name...), or a tree to run in the failed expression's place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandlerTarget {
    Spec(String),
    Tree(NodeJson),
}

/// The second half of an on_error / on_timeout handler, run after the
/// expression's children are cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "then")]
pub enum AfterCancel {
    /// Reply to the parent as if done, with the fields it started with.
    Pass,
    /// Apply the expression again after `delay_ms`.
    Retry { delay_ms: u64 },
    /// Apply the named handler (subprocess or participant) in its place,
    /// with the failing step's fields (the applied ones when `None`).
    Handler {
        name: String,
        error: StepError,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workitem: Option<Workitem>,
    },
    /// The same with a tree (an `on_error` expression's block).
    HandlerTree {
        tree: NodeJson,
        error: StepError,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workitem: Option<Workitem>,
    },
    /// It was cancelled (not killed): apply its `on_cancel:` handler in its
    /// place, with the fields it was applied with.
    OnCancel { name: String },
    /// `cando`: its `on_cancel:` handler, then itself again.
    Cando,
    /// Reply to the parent with this workitem (a timeout: `__timed_out__`).
    ReplyWith { workitem: Workitem },
    /// Apply the expression again, as a new application, with the
    /// workitem it was first applied with (`redo`).
    Redo,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Status {
    #[default]
    Active,
    /// Cancelling its children; replies to its parent once they are gone.
    Cancelling,
    /// Failed with no handler; the job is failed until it is retried.
    Failed { error: StepError },
}

/// Why a step failed. A participant call's error keeps its kind — the
/// contract's four, or the sandbox's limit or crash — so a handler can tell
/// what it may do next; the others are the engine's own.
///
/// Stored and shown as text (`retryable`, `limit:memory`, `bad-input`...),
/// as earlier versions stored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum StepErrorKind {
    /// The participant says trying again may work.
    Retryable,
    /// The participant says trying again will not help.
    Fatal,
    /// A capability refused (not granted, or the address policy).
    Denied,
    /// The step's params, attributes or definition are wrong.
    BadInput,
    /// The sandbox stopped the call at one of its limits.
    Limit(Limit),
    /// The component trapped.
    Crashed,
    /// The step's `timeout:` expired.
    Timeout,
    /// An `error` expression raised it on purpose.
    Raised,
    /// A `filter` found fields that break its rules.
    Validation,
    /// The engine could not go on (a stored tree that does not read).
    Internal,
}

impl StepErrorKind {
    /// Whether a plain `retry` handler applies: the failure may go away
    /// on its own (a retryable error, a timeout, a deadline or a full pool).
    /// Other kinds fail the same way again unless a definition asks for
    /// `retry(any)`.
    pub fn retried_by_default(self) -> bool {
        matches!(
            self,
            StepErrorKind::Retryable
                | StepErrorKind::Timeout
                | StepErrorKind::Limit(Limit::Deadline | Limit::Concurrency)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StepErrorKind::Retryable => "retryable",
            StepErrorKind::Fatal => "fatal",
            StepErrorKind::Denied => "denied",
            StepErrorKind::BadInput => "bad-input",
            StepErrorKind::Limit(Limit::Memory) => "limit:memory",
            StepErrorKind::Limit(Limit::Deadline) => "limit:deadline",
            StepErrorKind::Limit(Limit::Stack) => "limit:stack",
            StepErrorKind::Limit(Limit::Output) => "limit:output",
            StepErrorKind::Limit(Limit::Log) => "limit:log",
            StepErrorKind::Limit(Limit::Concurrency) => "limit:concurrency",
            StepErrorKind::Crashed => "crashed",
            StepErrorKind::Timeout => "timeout",
            StepErrorKind::Raised => "error",
            StepErrorKind::Validation => "validation",
            StepErrorKind::Internal => "internal",
        }
    }

    /// A participant call's error kind.
    pub fn of_call(e: &CallError) -> Self {
        match (e.kind, e.limit) {
            (ErrorKind::Retryable, _) => StepErrorKind::Retryable,
            (ErrorKind::Fatal, _) => StepErrorKind::Fatal,
            (ErrorKind::Denied, _) => StepErrorKind::Denied,
            (ErrorKind::BadInput, _) => StepErrorKind::BadInput,
            (ErrorKind::Limit, Some(limit)) => StepErrorKind::Limit(limit),
            (ErrorKind::Limit, None) => StepErrorKind::Fatal,
            (ErrorKind::Crashed, _) => StepErrorKind::Crashed,
        }
    }
}

impl From<StepErrorKind> for String {
    fn from(kind: StepErrorKind) -> String {
        kind.as_str().to_owned()
    }
}

impl From<String> for StepErrorKind {
    /// Every kind this engine ever stored reads back; anything else (a row
    /// edited by hand) reads as fatal, which no handler retries by default.
    fn from(text: String) -> Self {
        const ALL: &[StepErrorKind] = &[
            StepErrorKind::Retryable,
            StepErrorKind::Fatal,
            StepErrorKind::Denied,
            StepErrorKind::BadInput,
            StepErrorKind::Limit(Limit::Memory),
            StepErrorKind::Limit(Limit::Deadline),
            StepErrorKind::Limit(Limit::Stack),
            StepErrorKind::Limit(Limit::Output),
            StepErrorKind::Limit(Limit::Log),
            StepErrorKind::Limit(Limit::Concurrency),
            StepErrorKind::Crashed,
            StepErrorKind::Timeout,
            StepErrorKind::Raised,
            StepErrorKind::Validation,
            StepErrorKind::Internal,
        ];
        ALL.iter().copied().find(|k| k.as_str() == text).unwrap_or(StepErrorKind::Fatal)
    }
}

impl std::fmt::Display for StepErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as recorded on a failed step and in history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepError {
    pub kind: StepErrorKind,
    pub message: String,
    /// The definition line of the step, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl StepError {
    pub fn new(kind: StepErrorKind, message: impl Into<String>) -> Self {
        StepError { kind, message: message.into(), line: None }
    }

    pub fn from_call(e: &CallError) -> Self {
        StepError { kind: StepErrorKind::of_call(e), message: e.message.clone(), line: None }
    }

    pub fn at_line(mut self, line: u32) -> Self {
        if line > 0 {
            self.line = Some(line);
        }
        self
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} (line {line}): {}", self.kind, self.message),
            None => write!(f, "{}: {}", self.kind, self.message),
        }
    }
}

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

/// A job's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Running,
    Paused,
    Failed,
    Completed,
    Canceled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Failed => "failed",
            JobState::Completed => "completed",
            JobState::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => JobState::Pending,
            "running" => JobState::Running,
            "paused" => JobState::Paused,
            "failed" => JobState::Failed,
            "completed" => JobState::Completed,
            "canceled" => JobState::Canceled,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, JobState::Completed | JobState::Canceled)
    }

    /// Every state, as the store's CHECK constraint lists them.
    pub const ALL: [JobState; 6] = [
        JobState::Pending,
        JobState::Running,
        JobState::Paused,
        JobState::Failed,
        JobState::Completed,
        JobState::Canceled,
    ];

    /// The states in which a job's batches run and its calls are made (a
    /// failed job still takes its cancel, its retry and its other
    /// branches' results). Defined here once: the store's claim queries
    /// and the committers ask this.
    pub const RUNNABLE: [JobState; 2] = [JobState::Running, JobState::Failed];

    pub fn is_runnable(self) -> bool {
        Self::RUNNABLE.contains(&self)
    }
}
