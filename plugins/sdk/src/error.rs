use crate::bindings::mastermind::participant::types::{CallError, ErrorKind as WitKind};
use std::fmt;

/// Why a call failed; the engine decides what to do next from the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Transient: the same step may succeed if retried.
    Retryable,
    /// Permanent.
    Fatal,
    /// The host refused a capability.
    Denied,
    /// Params missing or malformed.
    BadInput,
}

/// A failed call: a kind, one line for the operator, and the field updates
/// to keep in the job's workitem despite the failure (what the step already
/// created, so an error handler can clean it up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), fields: None }
    }

    /// Keeps `fields` in the job's workitem although the call fails:
    /// `Error::retryable("not running yet").with_fields(fields! { "instance_id" => id })`.
    pub fn with_fields(mut self, fields: serde_json::Map<String, serde_json::Value>) -> Self {
        self.fields.get_or_insert_with(Default::default).extend(fields);
        self
    }
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Fatal, message)
    }
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Retryable, message)
    }
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadInput, message)
    }
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Denied, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ErrorKind::Retryable => "retryable",
            ErrorKind::Fatal => "fatal",
            ErrorKind::Denied => "denied",
            ErrorKind::BadInput => "bad-input",
        };
        write!(f, "{kind}: {}", self.message)
    }
}

impl std::error::Error for Error {}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        let kind = match e.kind {
            WitKind::Retryable => ErrorKind::Retryable,
            WitKind::Fatal => ErrorKind::Fatal,
            WitKind::Denied => ErrorKind::Denied,
            WitKind::BadInput => ErrorKind::BadInput,
        };
        Error { kind, message: e.message, fields: None }
    }
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        let kind = match e.kind {
            ErrorKind::Retryable => WitKind::Retryable,
            ErrorKind::Fatal => WitKind::Fatal,
            ErrorKind::Denied => WitKind::Denied,
            ErrorKind::BadInput => WitKind::BadInput,
        };
        CallError { kind, message: e.message }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::fatal(format!("JSON: {e}"))
    }
}
