//! A job run in memory with scripted participants, for the expressions'
//! unit tests (in the style of Ruote's `eft_*` tests): a definition, the
//! participant calls and echoes it makes in order, its final fields, state
//! and error — in microseconds, without Wasm or a database.
//!
//! Every step that is not an expression or a defined subprocess calls a
//! participant of that name (as Ruote's catch-all participant). Messages
//! are processed in the order they are due; timers and slow participants
//! (`delay_ms:`) move a virtual clock instead of sleeping.
//!
//! ```ignore
//! let run = scripted::run("sequence do\n  alpha\n  bravo\nend", json!({}));
//! assert_eq!(run.calls, ["alpha", "bravo"]);
//! assert_eq!(run.state, JobState::Completed);
//! ```

use super::flow::{Flow, FlowEvent};
use super::registry::Resolver;
use crate::language::{Node, parse};
use crate::model::*;
use crate::sandbox::{ActionSpec, CallError, ErrorKind};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Resolves every name to the participant of that name.
struct Anyone;

impl Resolver for Anyone {
    fn resolve_step(&self, name: &str, node: &Node) -> Result<(String, String), String> {
        let name = if super::expressions::is_explicit_step(name) { node.first_arg_str().unwrap_or(name) } else { name };
        Ok((name.to_owned(), "call".to_owned()))
    }

    fn action(&self, _: &str, _: &str) -> Option<ActionSpec> {
        None
    }
}

/// What a job did.
#[derive(Debug)]
pub struct Run {
    /// Participant names in the order they were called.
    pub calls: Vec<String>,
    /// `echo` lines in order.
    pub echoes: Vec<String>,
    pub state: JobState,
    pub fields: Value,
    pub error: Option<StepError>,
}

/// Runs `source` with `fields`. Participants answer with their params as
/// field updates, except for these params: `fail: 'kind'` fails the call
/// with that error kind (`fail_times: n`, only the first n attempts; an
/// empty kind does not fail), and
/// `delay_ms: n` answers n virtual milliseconds later.
pub fn run(source: &str, fields: Value) -> Run {
    let definition = parse("test.mm", source).unwrap_or_else(|e| panic!("{e}"));
    let mut pending: BTreeMap<(i64, u64), Message> = BTreeMap::new();
    let mut seq = 0u64;
    let mut push = |pending: &mut BTreeMap<(i64, u64), Message>, due: i64, m: Message| {
        seq += 1;
        pending.insert((due, seq), m);
    };
    let workitem = Workitem { fields: fields.as_object().cloned().unwrap_or_default() };
    let root = Message::Apply {
        fei: Fei::root(),
        parent: None,
        tree: TreeRef::Path(Vec::new()),
        workitem,
        variables: None,
        retries: 0,
    };
    push(&mut pending, 0, root);
    let mut run =
        Run { calls: Vec::new(), echoes: Vec::new(), state: JobState::Running, fields: json!({}), error: None };
    let mut exprs: HashMap<Fei, Expression> = HashMap::new();
    let mut steps = 0;
    while let Some(((due, _), message)) = pending.pop_first() {
        steps += 1;
        assert!(steps < 100_000, "the job does not end");
        if let Message::Dispatch(d) = message {
            run.calls.push(d.participant.clone());
            let (delay, outcome) = answer(&d);
            push(&mut pending, due + delay, Message::Result { fei: d.fei, outcome, attempt: d.attempt });
            continue;
        }
        let mut flow = Flow::new("job", run.state, &definition, &Anyone, std::mem::take(&mut exprs));
        let real_now = crate::store::now_ms();
        flow.run(message);
        let outcome = flow.into_changes(Vec::new());
        exprs = outcome.expressions;
        run.state = outcome.state;
        for event in outcome.events {
            if let FlowEvent::Echo { text } = event {
                run.echoes.push(text);
            }
        }
        let changes = outcome.changes;
        pending.retain(|_, m| !matches!(m, Message::Dispatch(d) if changes.withdrawn_dispatches.contains(&d.fei.0)));
        for m in changes.messages {
            // Due times are on the real clock: the delay moves the virtual one.
            push(&mut pending, due + (m.due_at - real_now).max(0), m.message);
        }
        if let Some(fields) = changes.job_fields {
            run.fields = Value::Object(fields);
        }
        if let Some(error) = changes.job_error {
            run.error = error;
        }
        if run.state.is_final() {
            break;
        }
    }
    run
}

/// A scripted participant's answer: (virtual delay, outcome).
fn answer(d: &Dispatch) -> (i64, Result<Fields, CallError>) {
    let delay = d.params.get("delay_ms").and_then(Value::as_i64).unwrap_or(0);
    let times = d.params.get("fail_times").and_then(Value::as_u64).unwrap_or(u64::MAX);
    if let Some(kind) = d.params.get("fail").and_then(Value::as_str).filter(|k| !k.is_empty())
        && u64::from(d.attempt) <= times
    {
        let kind: ErrorKind = serde_json::from_value(json!(kind)).unwrap_or(ErrorKind::Fatal);
        return (delay, Err(CallError::new(kind, format!("{} failed", d.participant))));
    }
    let mut updates = d.params.clone();
    for control in ["delay_ms", "fail", "fail_times"] {
        updates.remove(control);
    }
    (delay, Ok(updates))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loop that never waits still ends its batch, with the rest of its
    /// work persisted for the next one (where a cancel can get in).
    #[test]
    fn a_loop_that_never_waits_does_not_hold_its_batch() {
        let definition = parse("test.mm", "cursor do\n  rewind\nend").unwrap();
        let mut flow = Flow::new("job", JobState::Running, &definition, &Anyone, HashMap::new());
        flow.run(Message::Apply {
            fei: Fei::root(),
            parent: None,
            tree: TreeRef::Path(Vec::new()),
            workitem: Workitem::default(),
            variables: None,
            retries: 0,
        });
        let outcome = flow.into_changes(Vec::new());
        assert!(!outcome.changes.messages.is_empty(), "the rest is persisted for the next batch");
        assert_eq!(outcome.state, JobState::Running);
    }
}
