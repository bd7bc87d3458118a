//! `forget`: applies its children, all at once, and replies at once: the
//! flow goes on while they run on their own (as `forget: true` on each).
//! Their replies go nowhere. They end with the job, as forgotten branches
//! do here (see docs/language.md).
//!
//! ```ruby
//! forget do
//!   notify_campfire message: 'deploying ${version}'
//! end
//! deploy_app
//! ```

use super::super::flow::Flow;
use crate::model::*;
use super::child_count;
use crate::language::Node;

pub(crate) struct Forget;

impl super::Kind for Forget {
    const NAMES: &'static [&'static str] = &["forget"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, _node: &Node, workitem: Workitem) {
        let children = child_count(flow, fei);
        if children == 0 {
            return flow.reply_to_parent(fei, workitem);
        }
        for i in 0..children {
            flow.apply_child(fei, i, workitem.clone());
        }
        let parent = flow.get(fei).and_then(|e| e.parent.clone());
        if let Some(parent) = parent {
            flow.queue(Message::Reply { to: parent, from: fei.clone(), workitem });
        }
        if let Some(e) = flow.get_mut(fei) {
            e.forgotten = true;
        }
    }

    /// Once its children are done, it goes (replying to no one).
    fn reply(flow: &mut Flow, fei: &Fei, _from: &Fei, workitem: Workitem) {
        if flow.get(fei).is_some_and(|e| e.children.is_empty()) {
            flow.reply_to_parent(fei, workitem);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::JobState;
    use crate::engine::scripted::run;
    use serde_json::json;

    #[test]
    fn the_flow_goes_on_at_once() {
        let job = run("forget do\n  alpha delay_ms: 100\n  bravo delay_ms: 100\nend\ncharly\nwait '1s'", json!({}));
        assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
        assert_eq!(job.calls, ["alpha", "bravo", "charly"]);
        // The forgotten branches' fields do not come back.
        assert_eq!(job.fields, json!({}));
    }
}
