//! `lose`: applies its children (all at once) and never replies to its
//! parent — a dead end, as Ruote's. Its children's replies go nowhere.
//! Cancelling it (a concurrence that has enough replies, `undo`, a
//! timeout, cancelling the job) cancels its children, and then it replies.
//!
//! ```ruby
//! concurrence count: 1 do
//!   approve_tester
//!   lose do
//!     sequence do
//!       wait '2d'
//!       remind_tester
//!     end
//!   end
//! end
//! ```

use super::super::flow::Flow;
use crate::model::*;
use super::child_count;
use crate::language::Node;

pub(crate) struct Lose;

impl super::Kind for Lose {
    const NAMES: &'static [&'static str] = &["lose"];
    type State = ();

    fn apply(flow: &mut Flow, fei: &Fei, _node: &Node, workitem: Workitem) {
        for i in 0..child_count(flow, fei) {
            flow.apply_child(fei, i, workitem.clone());
        }
    }

    /// Its children's replies go nowhere.
    fn reply(_flow: &mut Flow, _fei: &Fei, _from: &Fei, _workitem: Workitem) {}
}
