//! Why a participant call failed (the contract's error, with the sandbox's
//! limits) and why a step failed (the same, plus the engine's own kinds).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a participant call failed. The first four kinds come from the
/// contract (a participant or a capability returns them); `limit` and
/// `crashed` are the sandbox's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The participant says trying again may work.
    Retryable,
    /// The participant says trying again will not help.
    Fatal,
    /// A capability refused (not granted, or the address policy).
    Denied,
    /// The call's params or fields are wrong for the action.
    BadInput,
    /// The sandbox stopped the call because it hit a limit (see [`Limit`]).
    Limit,
    /// The component trapped (a panic, an unreachable, a bad return value).
    Crashed,
}

impl ErrorKind {
    /// The kind as the contract and the API spell it (`bad-input`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::Fatal => "fatal",
            ErrorKind::Denied => "denied",
            ErrorKind::BadInput => "bad-input",
            ErrorKind::Limit => "limit",
            ErrorKind::Crashed => "crashed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The per-call limits a runaway component can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// The component grew its memory past the tenant's limit.
    Memory,
    /// The call ran past its deadline (wall clock).
    Deadline,
    /// The component exhausted its stack.
    Stack,
    /// The call returned more bytes of field updates than allowed.
    Output,
    /// The call logged more than its log budget.
    Log,
    /// No free instance slot in the pool: too many calls at once.
    Concurrency,
}

impl Limit {
    /// The limit as stored and shown after `limit:` (`memory`).
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Memory => "memory",
            Limit::Deadline => "deadline",
            Limit::Stack => "stack",
            Limit::Output => "output",
            Limit::Log => "log",
            Limit::Concurrency => "concurrency",
        }
    }
}

/// A failed call, as the engine and the operator see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct CallError {
    /// What kind of failure: decides which handlers retry it.
    pub kind: ErrorKind,
    /// The participant's or the sandbox's explanation, for the operator.
    pub message: String,
    /// Which limit, when `kind` is [`ErrorKind::Limit`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    /// Field updates the participant kept before failing (`outcome.keep`):
    /// they travel with the error into the workitem its handler gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
}

impl CallError {
    /// An error of `kind`, with no limit and no kept fields.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CallError { kind, message: message.into(), limit: None, fields: None }
    }

    /// A [`ErrorKind::Limit`] error naming the limit hit.
    pub fn limit(limit: Limit, message: impl Into<String>) -> Self {
        CallError { kind: ErrorKind::Limit, message: message.into(), limit: Some(limit), fields: None }
    }
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
    /// A person rejected an `approval`.
    Rejected,
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

    /// The kind as stored and shown (`retryable`, `limit:memory`, `error` for
    /// [`StepErrorKind::Raised`]); its `From<String>` reads it back.
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
            StepErrorKind::Rejected => "rejected",
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
            StepErrorKind::Rejected,
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
    /// What kind of failure: decides which handlers apply.
    pub kind: StepErrorKind,
    /// The explanation, for the operator and for `on_error` patterns.
    pub message: String,
    /// The definition line of the step, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl StepError {
    /// An error of `kind` at no known line.
    pub fn new(kind: StepErrorKind, message: impl Into<String>) -> Self {
        StepError { kind, message: message.into(), line: None }
    }

    /// A participant call's error as the step's error (kind and message).
    pub fn from_call(e: &CallError) -> Self {
        StepError { kind: StepErrorKind::of_call(e), message: e.message.clone(), line: None }
    }

    /// The same error at definition line `line` (0, unknown, leaves it unset).
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
