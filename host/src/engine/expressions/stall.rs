//! `stall`: applied, it never replies. Its branch waits there until it is
//! cancelled (a `timeout:`, an `undo`, the job's cancel) or the job ends.
//! Ruote keeps it mostly for tests; here it also holds a concurrence open
//! for a `timeout:` to end.
//!
//! ```ruby
//! concurrence count: 1 do
//!   approval_gate
//!   stall timeout: '1h'
//! end
//! ```

use super::super::flow::Flow;
use crate::model::*;
use crate::language::Node;

pub(crate) struct Stall;

impl super::Kind for Stall {
    const NAMES: &'static [&'static str] = &["stall"];
    type State = ();

    fn apply(_flow: &mut Flow, _fei: &Fei, _node: &Node, _workitem: Workitem) {}
}

#[cfg(test)]
mod tests {
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn it_holds_its_branch_until_cancelled() {
        let job = run("concurrence count: 1 do\n  stall\n  alpha delay_ms: 500\nend\nbravo", json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.calls, ["alpha", "bravo"]);
        // A timeout ends it as any step's: the flow goes on, timed out.
        let job = run("stall timeout: '2s'\ncharly", json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.calls, ["charly"]);
        assert!(job.fields.get("__timed_out__").is_some(), "{}", job.fields);
    }
}
