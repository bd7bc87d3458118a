//! A live expression as stored: where its tree comes from, its state and
//! the handlers waiting on it.

use super::{Fei, Fields, StepError, Workitem};
use crate::language::Node;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an expression's tree comes from: a position in the job's
/// definition (the usual case, so a 1,000-step sequence is stored once), or
/// a tree of its own (a subprocess body, a branch added at run time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeRef {
    /// Child indexes from the definition's root (`[]` is the root itself).
    Path(Vec<u32>),
    /// A tree stored with the expression.
    Inline(Box<NodeJson>),
}

/// A definition node as stored (the language's JSON form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeJson(pub Value);

impl NodeJson {
    /// A node in its stored form.
    pub fn from_node(node: &Node) -> Self {
        NodeJson(crate::language::json::node_to_json(node))
    }
}

/// An expression currently alive in a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expression {
    /// Its id.
    pub fei: Fei,
    /// Who gets its reply (`None` for the root).
    pub parent: Option<Fei>,
    /// The tree it runs.
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
    /// Running, cancelling its children, or failed.
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
    /// What handles a matching error.
    pub handler: HandlerTarget,
}

/// What handles an error: what an `on_error:` attribute may say (`retry`,
/// `pass`, a name...), or a tree to run in the failed expression's place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandlerTarget {
    /// An `on_error:` spec: `retry`, `pass`, `cancel`, a handler's name...
    Spec(String),
    /// A block to apply in the failed expression's place.
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
    Retry {
        /// How long to wait before applying it again.
        delay_ms: u64,
    },
    /// Apply the named handler (subprocess or participant) in its place,
    /// with the failing step's fields (the applied ones when `None`).
    Handler {
        /// The handler's name.
        name: String,
        /// The error being handled; the handler's workitem carries it.
        error: StepError,
        /// The failing step's fields, when they differ from the applied ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workitem: Option<Workitem>,
    },
    /// The same with a tree (an `on_error` expression's block).
    HandlerTree {
        /// The handler's block.
        tree: NodeJson,
        /// The error being handled; the handler's workitem carries it.
        error: StepError,
        /// The failing step's fields, when they differ from the applied ones.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workitem: Option<Workitem>,
    },
    /// It was cancelled (not killed): apply its `on_cancel:` handler in its
    /// place, with the fields it was applied with.
    OnCancel {
        /// The `on_cancel:` handler's name.
        name: String,
    },
    /// `cando`: its `on_cancel:` handler, then itself again.
    Cando,
    /// Reply to the parent with this workitem (a timeout: `__timed_out__`).
    ReplyWith {
        /// The fields to reply with.
        workitem: Workitem,
    },
    /// Apply the expression again, as a new application, with the
    /// workitem it was first applied with (`redo`).
    Redo,
}

/// Where a live expression is in its life.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Status {
    /// Applied and working (or waiting on its children, a timer or a call).
    #[default]
    Active,
    /// Cancelling its children; replies to its parent once they are gone.
    Cancelling,
    /// Failed with no handler; the job is failed until it is retried.
    Failed {
        /// Why it failed, as shown to the operator.
        error: StepError,
    },
}
