//! `error 'message'` (or `msg:` / `message:`): fails the step on purpose,
//! so `on_error` handlers apply. Without a message it says Ruote's "error
//! triggered from process definition".

use super::super::flow::Flow;
use super::super::model::*;
use crate::language::Node;

pub(crate) struct Error;

/// What a bare `error` says.
const DEFAULT_MESSAGE: &str = "error triggered from process definition";

impl super::Kind for Error {
    const NAMES: &'static [&'static str] = &["error"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
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

#[cfg(test)]
mod tests {
    use crate::engine::model::{JobState, StepErrorKind};
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
}
