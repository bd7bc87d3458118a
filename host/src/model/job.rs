//! A job's lifecycle states.

use serde::{Deserialize, Serialize};

/// A job's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Created but not started: waits for `start`, which may merge override fields.
    Pending,
    /// Its batches run and its calls are made.
    Running,
    /// Stopped by a `pause`: its messages wait until `resume`.
    Paused,
    /// A step failed with no handler: waits for a `retry` or a `cancel`.
    Failed,
    /// Its root replied: done (final).
    Completed,
    /// Cancelled from outside, before or after it started (final).
    Canceled,
}

impl JobState {
    /// The state as stored and shown; [`JobState::parse`] reads it back.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Failed => "failed",
            JobState::Completed => "completed",
            JobState::Canceled => "canceled",
        }
    }

    /// The state named `s`, or `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => JobState::Pending,
            "running" => JobState::Running,
            "paused" => JobState::Paused,
            "failed" => JobState::Failed,
            "completed" => JobState::Completed,
            "canceled" => JobState::Canceled,
            _ => return None,
        })
    }

    /// Whether the job is over for good: nothing changes it any more.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Completed | JobState::Canceled)
    }

    /// Every state, as the store's CHECK constraint lists them.
    pub const ALL: [JobState; 6] = [
        JobState::Pending,
        JobState::Running,
        JobState::Paused,
        JobState::Failed,
        JobState::Completed,
        JobState::Canceled,
    ];

    /// The states in which a job's batches run and its calls are made (a
    /// failed job still takes its cancel, its retry and its other
    /// branches' results). Defined here once: the store's claim queries
    /// and the committers ask this.
    pub const RUNNABLE: [JobState; 2] = [JobState::Running, JobState::Failed];

    /// Whether the job is in [`JobState::RUNNABLE`].
    pub fn is_runnable(self) -> bool {
        Self::RUNNABLE.contains(&self)
    }
}
