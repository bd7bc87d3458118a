//! `error 'message'` (or `msg:` / `message:`): fails the step on purpose,
//! so `on_error` handlers apply. Without a message it says Ruote's "error
//! triggered from process definition". `error re: '$f:err'` raises again
//! an error a handler kept. As in Ruote, an operator's retry of a job that
//! failed here goes on past it (the error was deliberate: retrying it is
//! acknowledging it), while an `on_error: 'retry'` raises it again.

use super::super::flow::Flow;
use crate::model::*;
use crate::language::Node;

pub(crate) struct Error;

/// What a bare `error` says.
const DEFAULT_MESSAGE: &str = "error triggered from process definition";

impl super::Kind for Error {
    const NAMES: &'static [&'static str] = &["error"];
    const PROPERTIES: super::Properties = super::Properties { retry_goes_past: true, ..super::Properties::PLAIN };
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        if let Some(raw) = node.attr("re") {
            return reraise(flow, fei, node, workitem, raw);
        }
        let message = match node.args.first().or_else(|| super::attr(node, &["msg", "message"])) {
            Some(raw) => match super::expand(flow, fei, node, &workitem, raw) {
                Ok(v) => super::value_text(&v),
                Err(e) => return flow.fail(fei, e),
            },
            None => String::new(),
        };
        let message = if message.trim().is_empty() { DEFAULT_MESSAGE.to_owned() } else { message };
        flow.fail(fei, StepError::new(StepErrorKind::Raised, message).at_line(node.span.line));
    }
}

/// `error re: '$f:err'`: raises again an error a handler kept (the
/// `__error__` it was given), with its kind and message; with nothing
/// kept, there is nothing to raise and the flow goes on.
fn reraise(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem, raw: &serde_json::Value) {
    let kept = match super::expand(flow, fei, node, &workitem, raw) {
        Ok(v) => v,
        Err(e) => return flow.fail(fei, e),
    };
    let error = match kept {
        serde_json::Value::Null => return flow.reply_to_parent(fei, workitem),
        serde_json::Value::String(s) if s.trim().is_empty() => return flow.reply_to_parent(fei, workitem),
        serde_json::Value::String(message) => StepError::new(StepErrorKind::Raised, message),
        other => match serde_json::from_value::<StepError>(other.clone()) {
            Ok(kept) => StepError::new(kept.kind, kept.message),
            Err(_) => StepError::new(StepErrorKind::Raised, super::value_text(&other)),
        },
    };
    flow.fail(fei, error.at_line(node.span.line));
}

#[cfg(test)]
mod tests {
    use crate::model::{JobState, StepErrorKind};
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn fails_the_job_with_its_message_at_its_line() {
        let job = run("alpha\nerror 'no capacity in ${region}'\nbravo", json!({"region": "eu-west-1"}));
        assert_eq!(job.calls, ["alpha"]);
        assert_eq!(job.state, JobState::Failed);
        let e = job.error.unwrap();
        assert_eq!((e.kind, e.message.as_str(), e.line), (StepErrorKind::Raised, "no capacity in eu-west-1", Some(2)));
    }

    #[test]
    fn a_bare_error_says_where_it_comes_from() {
        for source in ["error", "error ''", "error msg: ' '"] {
            let job = run(source, json!({}));
            assert_eq!(job.error.unwrap().message, "error triggered from process definition", "{source}");
        }
    }

    #[test]
    fn handlers_take_it() {
        let job = run("sequence on_error: 'pass' do\n  error 'x'\n  alpha\nend\nbravo", json!({}));
        assert_eq!(job.calls, ["bravo"]);
        assert_eq!(job.state, JobState::Completed);
    }

    #[test]
    fn re_raises_what_a_handler_kept() {
        let source = "define 'keep' do
  set 'f:err' => '$f:__error__'
end
sequence on_error: 'keep' do
  alpha fail: 'retryable'
end
error re: '$f:err'";
        let job = run(source, json!({}));
        assert_eq!(job.state, JobState::Failed);
        let e = job.error.unwrap();
        assert_eq!((e.kind, e.message.as_str(), e.line), (StepErrorKind::Retryable, "alpha.call: alpha failed", Some(7)));
        // Nothing kept, nothing raised.
        let job = run("error re: '$f:err'\nbravo", json!({}));
        assert_eq!((job.state, job.calls), (JobState::Completed, vec!["bravo".to_owned()]));
    }
}
