//! `once` (also `when`, `_when`, `as_soon_as`): waits until a condition
//! holds, then runs its children (if any) and replies. The condition is
//! checked at apply, then again every `frequency:` (`freq:`; 10 s unless
//! said, an interval or a cron line read in UTC). It sees the variables as
//! they are at each check, and the workitem it was applied with, so it
//! waits for another branch of the job to set a variable:
//!
//! ```ruby
//! concurrence do
//!   once '${v:/db_ready}', frequency: '2s' do
//!     deploy_app
//!   end
//!   sequence do
//!     create_db
//!     set 'v:/db_ready' => true
//!   end
//! end
//! ```
//!
//! Nothing holds a thread while it waits: each check is a durable timer.

use super::super::flow::Flow;
use crate::model::*;
use super::{Kind, apply_branch, arm_timer, attr, body, child_count, expand, value_text};
use crate::language::schedule::Frequency;
use crate::language::{Node, condition};

pub(crate) struct Once;

/// How often a condition is checked when the definition does not say.
const DEFAULT_FREQUENCY: &str = "10s";

impl Kind for Once {
    const NAMES: &'static [&'static str] = &["once", "when", "_when", "as_soon_as"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, _workitem: Workitem) {
        check(flow, fei, node)
    }

    fn wake(flow: &mut Flow, fei: &Fei) {
        let Some(e) = flow.get(fei) else { return };
        let Ok(node) = flow.node(&e.tree) else { return };
        check(flow, fei, &node)
    }
}

fn check(flow: &mut Flow, fei: &Fei, node: &Node) {
    let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name)).at_line(node.span.line);
    let applied = flow.get(fei).map(|e| e.applied.clone()).unwrap_or_default();
    let Some(test) = node.args.first().or_else(|| attr(node, &["test"])) else {
        return flow.fail(fei, bad("which condition? write once '${v:ready}'".into()));
    };
    match condition::evaluate_value(test, &flow.lookup(fei, &applied)) {
        Ok(true) if child_count(flow, fei) == 0 => flow.reply_to_parent(fei, applied),
        Ok(true) => match body(flow, fei) {
            Ok(tree) => apply_branch(flow, fei, 0, tree, applied, None),
            Err(e) => flow.fail(fei, e),
        },
        Ok(false) => {
            let text = match attr(node, &["frequency", "freq"]).map(|v| expand(flow, fei, node, &applied, v)) {
                None => DEFAULT_FREQUENCY.to_owned(),
                Some(Ok(v)) => value_text(&v),
                Some(Err(e)) => return flow.fail(fei, e),
            };
            let now = flow.now();
            match Frequency::parse(&text).and_then(|f| f.next_after(now, "UTC")) {
                Ok(next) => arm_timer(flow, fei, TimerKind::Wake, next - now),
                Err(e) => flow.fail(fei, bad(format!("frequency: {e}"))),
            }
        }
        Err(e) => flow.fail(fei, bad(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn waits_for_another_branch_then_runs_its_children() {
        let source = "concurrence do
  once '${v:/ready}', frequency: '1s' do
    bravo
  end
  sequence do
    alpha delay_ms: 3500
    set 'v:/ready' => true
  end
end";
        let job = run(source, json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.calls, ["alpha", "bravo"]);
    }

    #[test]
    fn a_condition_that_holds_goes_on_at_once() {
        let job = run("as_soon_as test: '${f:n} > 1'\nalpha", json!({"n": 2}));
        assert_eq!((job.state, job.calls), (JobState::Completed, vec!["alpha".to_owned()]));
    }

    #[test]
    fn a_condition_that_never_holds_waits_for_its_timeout() {
        let job = run("once '${v:never}', freq: '1s', timeout: '5s'\nalpha", json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.calls, ["alpha"]);
        assert!(job.fields.get("__timed_out__").is_some(), "{}", job.fields);
    }

    #[test]
    fn a_bad_frequency_is_an_error_at_its_line() {
        let job = run("sequence do\n  once '${v:x}', frequency: 'often'\nend", json!({}));
        assert_eq!(job.state, JobState::Failed);
        let error = job.error.unwrap();
        assert_eq!(error.line, Some(2));
        assert!(error.message.contains("frequency: "), "{}", error.message);
    }
}
