//! `cron '15 4 * * sun' do ... end` and `every '10m' do ... end`: run the
//! children at each tick of a cron line (read in UTC, or `time_zone:`) or
//! every interval, each tick a branch of its own with the workitem the
//! expression was applied with. It never replies by itself: it runs until
//! it is cancelled, typically beside the step it reminds about:
//!
//! ```ruby
//! concurrence count: 1 do
//!   approval_gate
//!   every '1h' do
//!     notify_campfire message: 'still waiting for an approval'
//!   end
//! end
//! ```
//!
//! The schedule can also be `tab:`, `interval:` or `every:`. A tick's
//! branch replies to nobody; unlike Ruote's, which are forgotten, it is
//! cancelled with its `cron` (see docs/language.md). Each tick is a durable
//! timer: nothing holds a thread in between, and a restarted process
//! fires it on time.

use super::super::flow::Flow;
use crate::model::*;
use super::{Kind, apply_branch, arm_timer, attr, body, child_count, expand, state, update_state, value_text};
use crate::language::Node;
use crate::language::schedule::Frequency;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) struct Cron;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Ticks {
    /// Ticks so far: each one's branch is the child of that number.
    #[serde(default)]
    pub ticks: usize,
}

impl Kind for Cron {
    const NAMES: &'static [&'static str] = &["cron", "every"];
    type State = Ticks;

    fn apply(flow: &mut Flow, fei: &Fei, node: &Node, workitem: Workitem) {
        if child_count(flow, fei) == 0 {
            return flow.reply_to_parent(fei, workitem);
        }
        arm_next(flow, fei, node)
    }

    /// A tick's branch ended: the schedule goes on.
    fn reply(_flow: &mut Flow, _fei: &Fei, _from: &Fei, _workitem: Workitem) {}

    fn wake(flow: &mut Flow, fei: &Fei) {
        let Some(e) = flow.get(fei) else { return };
        let applied = e.applied.clone();
        let Ok(node) = flow.node(&e.tree) else { return };
        let tick = state::<Cron>(flow, fei).ticks;
        match body(flow, fei) {
            Ok(tree) => apply_branch(flow, fei, tick, tree, applied, None),
            Err(e) => return flow.fail(fei, e),
        }
        update_state::<Cron>(flow, fei, |s| s.ticks += 1);
        arm_next(flow, fei, &node)
    }
}

/// Arms the timer for the next tick after now.
fn arm_next(flow: &mut Flow, fei: &Fei, node: &Node) {
    let bad = |m: String| StepError::new(StepErrorKind::BadInput, format!("{}: {m}", node.name)).at_line(node.span.line);
    let applied = flow.get(fei).map(|e| e.applied.clone()).unwrap_or_default();
    let text = |raw: Option<&Value>| match raw {
        Some(raw) => expand(flow, fei, node, &applied, raw).map(|v| Some(value_text(&v))),
        None => Ok(None),
    };
    let schedule = node.args.first().or_else(|| attr(node, &["tab", "interval", "every", "frequency"]));
    let (schedule, time_zone) = match (text(schedule), text(attr(node, &["time_zone", "tz"]))) {
        (Ok(Some(s)), Ok(tz)) => (s, tz.unwrap_or_else(|| "UTC".into())),
        (Ok(None), _) => return flow.fail(fei, bad("how often? write every '10m' or cron '0 9 * * 1-5'".into())),
        (Err(e), _) | (_, Err(e)) => return flow.fail(fei, e),
    };
    let now = flow.now();
    match Frequency::parse(&schedule).and_then(|f| f.next_after(now, &time_zone)) {
        Ok(next) => arm_timer(flow, fei, TimerKind::Wake, next - now),
        Err(e) => flow.fail(fei, bad(e)),
    }
}

#[cfg(test)]
mod tests {
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn every_runs_its_children_at_each_interval_until_cancelled() {
        let source = "concurrence count: 1 do
  alpha delay_ms: 3500
  every '1s' do
    bravo
    charly
  end
end
delta";
        let job = run(source, json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        let ticks = ["bravo", "charly"].repeat(3);
        assert_eq!(job.calls, [&["alpha"][..], &ticks, &["delta"]].concat());
    }

    #[test]
    fn cron_ticks_on_its_line() {
        // The line's ticks follow the wall clock (the arithmetic is
        // language::schedule's): within a minute and a second, at least one.
        let job = run("concurrence count: 1 do\n  wait '61s'\n  cron '* * * * *' do\n    alpha\n  end\nend", json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert!(!job.calls.is_empty() && job.calls.iter().all(|c| c == "alpha"), "{:?}", job.calls);
    }

    #[test]
    fn a_bad_schedule_is_an_error_at_its_line() {
        let job = run("every 'often' do\n  alpha\nend", json!({}));
        assert_eq!(job.state, JobState::Failed);
        assert!(job.error.unwrap().message.starts_with("every: "));
        let job = run("cron do\n  alpha\nend", json!({}));
        assert!(job.error.unwrap().message.contains("how often?"));
    }
}
