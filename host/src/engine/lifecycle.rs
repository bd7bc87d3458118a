//! A job's lifecycle as one state machine.
//!
//! ```text
//!   pending --start--> running --pause--> paused --resume--> running
//!   pending --cancel-> canceled
//!   running | paused | failed --cancel--> running (a cancel queued: the job ends canceled)
//!   failed --retry--> running (a retry queued)
//!   running --(its own batches)--> failed | completed | canceled
//! ```
//!
//! Every change made from outside the job — the API, the CLI, a schedule —
//! is a row of [`RULES`], and nothing else changes a job's state but its
//! own batches (`store/work.rs`). Guarantees:
//! - A control call changes the job only from the states its rule allows,
//!   checked by the store in the statement that changes it (`UPDATE ...
//!   WHERE id AND tenant AND state IN (...)`): of two racing calls, or of a
//!   call racing the batch that completes the job, one acts on what the
//!   other left and the loser answers a conflict naming the state it found.
//!   A pause never reopens a finished job; a cancel never overwrites a
//!   start.
//! - The message a rule queues (a cancel, a retry, a started job's first
//!   apply) commits with its state change, or neither does.
//! - Another tenant's job is not found, like a missing one.
//! - The database refuses any state not in [`JobState::ALL`] (a CHECK
//!   constraint), and which states run is [`JobState::RUNNABLE`].

use crate::model::JobState::{self, *};

/// What can be asked of a job from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Start a pending job.
    Start,
    /// Pause a running job: nothing new starts until it is resumed.
    Pause,
    /// Resume a paused job.
    Resume,
    /// Cancel a job, whatever it is doing, unless it has ended.
    Cancel,
    /// Apply a failed job's failed steps again.
    Retry,
    /// Deliver a person's decision to an approval (a paused job keeps it
    /// until it is resumed).
    Decide,
}

impl Control {
    /// The control as conflicts name it (`launch` for [`Control::Start`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Start => "launch",
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Cancel => "cancel",
            Control::Retry => "retry",
            Control::Decide => "decide",
        }
    }
}

/// One allowed transition.
#[derive(Debug)]
pub(crate) struct Rule {
    pub control: Control,
    pub from: &'static [JobState],
    pub to: JobState,
    /// The rule queues the control's message (`Engine` builds it).
    pub queues: bool,
    pub clears_error: bool,
}

/// Every transition a control call may make. Rules of one control start
/// from disjoint states, so at most one applies.
pub(crate) const RULES: &[Rule] = &[
    Rule { control: Control::Start, from: &[Pending], to: Running, queues: true, clears_error: false },
    Rule { control: Control::Pause, from: &[Running], to: Paused, queues: false, clears_error: false },
    Rule { control: Control::Resume, from: &[Paused], to: Running, queues: false, clears_error: false },
    // Nothing ran: the job itself is all there is to cancel.
    Rule { control: Control::Cancel, from: &[Pending], to: Canceled, queues: false, clears_error: false },
    // The cancel message brings the job's expressions down (a paused or
    // failed job runs again for that) and ends it canceled.
    Rule { control: Control::Cancel, from: &[Running, Paused, Failed], to: Running, queues: true, clears_error: true },
    Rule { control: Control::Retry, from: &[Failed], to: Running, queues: true, clears_error: true },
    Rule { control: Control::Decide, from: &[Running], to: Running, queues: true, clears_error: false },
    Rule { control: Control::Decide, from: &[Paused], to: Paused, queues: true, clears_error: false },
];

/// The rules of `control`, in table order.
pub(crate) fn rules(control: Control) -> impl Iterator<Item = &'static Rule> {
    RULES.iter().filter(move |r| r.control == control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_of_a_control_start_from_disjoint_states_and_never_from_a_final_one() {
        for control in
            [Control::Start, Control::Pause, Control::Resume, Control::Cancel, Control::Retry, Control::Decide]
        {
            let mut seen = Vec::new();
            for rule in rules(control) {
                for from in rule.from {
                    assert!(!from.is_final(), "{control:?} from {from:?}");
                    assert!(!seen.contains(from), "{control:?}: two rules from {from:?}");
                    seen.push(*from);
                }
            }
            assert!(!seen.is_empty(), "{control:?} has a rule");
        }
    }
}
