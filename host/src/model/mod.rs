//! The job's vocabulary, shared by every layer above it: expression ids,
//! workitems, live expressions as stored, the messages between them, a
//! job's states, and why a call or a step failed.
//!
//! Everything here is serialized into the store: field names are part of
//! the storage format. This module depends on nothing of ours but the
//! language (a stored tree is the language's JSON form), so the store, the
//! sandbox and the engine all build on it without importing each other.

mod error;
mod expression;
mod job;
mod message;

pub use error::{CallError, ErrorKind, Limit, StepError, StepErrorKind};
pub use expression::{AfterCancel, Expression, HandlerTarget, NodeJson, RegisteredHandler, Status, TreeRef};
pub use job::JobState;
pub use message::{Decision, Dispatch, Message, TimerKind};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A workitem's fields (and an expression's variables): a JSON object whose
/// keys keep their order.
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

    /// A new application of the expression at position `expid`, with a fresh
    /// random suffix.
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
    /// The fields themselves; participants read them and return updates.
    pub fields: Fields,
}
