//! `lock 'deploy-${env}', limit: 1, timeout: '30m' do ... end`: at most
//! `limit` blocks hold a key at once, across every job of the tenant (and
//! every process on its database); the others wait for it in the order
//! they asked, durably: a waiting job holds no thread, call or connection.
//!
//! ```ruby
//! define 'deploy' do
//!   lock 'deploy-${env}' do
//!     ssh_exec.run host: '${host}', command: 'deploy ${version}'
//!     http.request method: 'POST', url: 'https://lb.example/rotate'
//!   end
//! end
//! ```
//!
//! - `limit:` (default 1): how many may hold the key at once. A waiter
//!   enters only while fewer than its own limit hold it.
//! - `timeout:` bounds the wait: once in, the block's own steps have their
//!   own timeouts. A waiter whose time is up is cancelled and `on_timeout`
//!   applies, as for any expression.
//! - The key is let go of when the block ends, is cancelled (or killed),
//!   or its job ends in any way. A job that failed inside the block (and
//!   waits for an operator's retry or cancel) keeps holding it: the block
//!   has not ended, and what it guards may be half done.
//! - Keys are per tenant. `define 'x', lock: 'key', lock_limit: 2,
//!   lock_timeout: '1h' do` locks a whole definition.
//!
//! Who holds and who waits (their positions) is listed by `/v1/locks`
//! and `mastermind locks`. The queue lives in the store (`store::locks`):
//! this expression only asks and lets go, in its job's batches, and a
//! `granted` message brings it in.

use super::super::flow::Flow;
use super::{Kind, apply_branch, attr, body, child_count, expand, value_text};
use crate::language::Node;
use crate::model::*;
use crate::store::LockChange;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) struct Lock;

impl Lock {
    /// The kind its expressions are stored with.
    pub(crate) const NAME: &'static str = "lock";
}

/// The most holders a `limit:` may allow.
pub const MAX_LIMIT: u64 = 10_000;
/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct LockState {
    /// The key, dollar notation resolved.
    pub key: String,
    /// Whether it got in (its block runs).
    pub held: bool,
}

impl Kind for Lock {
    const NAMES: &'static [&'static str] = &[Lock::NAME];
    type State = LockState;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        if child_count(flow, fei) == 0 {
            return flow.reply_to_parent(fei, workitem);
        }
        let fail = |m: String| StepError::new(StepErrorKind::BadInput, format!("lock: {m}")).at_line(node.span.line);
        let key = match node.args.first().or_else(|| attr(node, &["key"])) {
            Some(raw) => match expand(flow, fei, node, &workitem, raw) {
                Ok(v) => value_text(&v).trim().to_owned(),
                Err(e) => return flow.fail(fei, e),
            },
            None => String::new(),
        };
        if key.is_empty() {
            return flow.fail(fei, fail("which key? write lock 'deploy-prod' do ... end".into()));
        }
        if key.len() > MAX_KEY_BYTES {
            return flow.fail(fei, fail(format!("the key is {} bytes, more than {MAX_KEY_BYTES}", key.len())));
        }
        let limit = match node.attr("limit").map(|raw| expand(flow, fei, node, &workitem, raw)) {
            None => 1,
            Some(Err(e)) => return flow.fail(fei, e),
            Some(Ok(v)) => match limit_of(&v) {
                Some(n) => n,
                None => return flow.fail(fei, fail(format!("limit: a whole number from 1 to {MAX_LIMIT}, not {v}"))),
            },
        };
        super::set_state::<Lock>(flow, fei, &LockState { key: key.clone(), held: false });
        let line = node.span.line;
        flow.change_lock(LockChange::Request { key, fei: fei.0.clone(), max_holders: limit, line });
    }

    fn reply(flow: &mut Flow, fei: &Fei, _from: &Fei, workitem: Workitem) {
        leave(flow, fei);
        flow.reply_to_parent(fei, workitem)
    }

    fn on_cancel(flow: &mut Flow, fei: &Fei) {
        leave(flow, fei)
    }
}

/// `limit:` as a number of holders (a number, or text holding one).
fn limit_of(v: &Value) -> Option<u32> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (1..=MAX_LIMIT).contains(&n).then_some(n as u32)
}

fn leave(flow: &mut Flow, fei: &Fei) {
    let key = super::state::<Lock>(flow, fei).key;
    if !key.is_empty() {
        flow.change_lock(LockChange::Leave { key, fei: fei.0.clone() });
    }
}

/// The store let `fei` in: its wait is over (its timeout with it), and it
/// runs its block with the workitem it was applied with. A grant for a
/// lock no longer waiting (cancelled meanwhile) changes nothing.
pub(crate) fn granted(flow: &mut Flow, fei: &Fei) {
    let waiting = flow.get(fei).is_some_and(|e| e.kind == Lock::NAME && e.status == Status::Active)
        && !super::state::<Lock>(flow, fei).held;
    if !waiting {
        return;
    }
    super::update_state::<Lock>(flow, fei, |s| s.held = true);
    let Some(e) = flow.get_mut(fei) else { return };
    e.timeout_token += 1;
    let applied = e.applied.clone();
    match body(flow, fei) {
        Ok(tree) => apply_branch(flow, fei, 0, tree, applied, None),
        Err(e) => flow.fail(fei, e),
    }
}
