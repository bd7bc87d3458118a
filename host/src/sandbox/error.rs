use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a participant call failed. The first four kinds come from the
/// contract (a participant or a capability returns them); `limit` and
/// `crashed` are the sandbox's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    Retryable,
    Fatal,
    Denied,
    BadInput,
    /// The sandbox stopped the call because it hit a limit (see [`Limit`]).
    Limit,
    /// The component trapped (a panic, an unreachable, a bad return value).
    Crashed,
}

impl ErrorKind {
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
    Memory,
    Deadline,
    Stack,
    Output,
    Log,
    /// No free instance slot in the pool: too many calls at once.
    Concurrency,
}

impl Limit {
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
    pub kind: ErrorKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    /// Field updates the participant kept before failing (`outcome.keep`):
    /// they travel with the error into the workitem its handler gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
}

impl CallError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CallError { kind, message: message.into(), limit: None, fields: None }
    }

    pub fn limit(limit: Limit, message: impl Into<String>) -> Self {
        CallError { kind: ErrorKind::Limit, message: message.into(), limit: Some(limit), fields: None }
    }
}

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly binary: {0}")]
    NotWasm(String),
    #[error(
        "this is a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("component is {size} bytes, over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("invalid component: {0}")]
    Invalid(String),
    #[error(
        "component imports {0}, which is not part of the participant world (allowed: mastermind:participant/* and WASI 0.2)"
    )]
    UnknownImport(String),
    #[error("component does not implement the participant world: {0}")]
    WrongWorld(String),
    #[error("component's describe failed: {0}")]
    Describe(CallError),
    #[error("compiled-code cache: {0}")]
    Cache(String),
}
