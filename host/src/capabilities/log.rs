//! `log` and `timer`: the capabilities every participant has. Both can end
//! the call (a flood of logs, a sleep past the deadline), so they fail with
//! [`LimitReached`] rather than an error the participant could handle.

use super::{CallCaps, LimitReached, ParticipantEvent};
use crate::model::Limit;
use std::time::Duration;

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Finest detail.
    Trace,
    /// Detail for whoever debugs the participant.
    Debug,
    /// Ordinary progress.
    Info,
    /// Something looks wrong, but the call goes on.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// The level as events carry it (`warn`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl CallCaps {
    /// Reports a log line, redacted, and charges it to the log budget.
    ///
    /// # Errors
    /// [`LimitReached`] ([`Limit::Log`]) when the call's log budget is spent.
    pub fn log_line(&mut self, level: Level, message: &str) -> Result<(), LimitReached> {
        let size = message.len() + 16;
        let message = self.redact(message);
        self.report(ParticipantEvent::Log { level: level.as_str().into(), message }, size)
    }

    /// Reports progress (`percent` capped at 100), charged like a log line.
    ///
    /// # Errors
    /// As [`CallCaps::log_line`].
    pub fn log_progress(&mut self, message: &str, percent: Option<u8>) -> Result<(), LimitReached> {
        let size = message.len() + 16;
        let message = self.redact(message);
        self.report(ParticipantEvent::Progress { message, percent: percent.map(|p| p.min(100)) }, size)
    }

    /// Sleeps `ms` milliseconds, or until the deadline, which ends the call.
    ///
    /// # Errors
    /// [`LimitReached`] ([`Limit::Deadline`]) when the sleep would reach the
    /// call's deadline: it sleeps until then, and the call ends.
    pub async fn timer_sleep(&mut self, ms: u64) -> Result<(), LimitReached> {
        let wanted = Duration::from_millis(ms);
        let left = self.time_left(None);
        if wanted >= left {
            tokio::time::sleep(left).await;
            return Err(LimitReached::new(Limit::Deadline, "deadline exceeded while the participant slept"));
        }
        tokio::time::sleep(wanted).await;
        Ok(())
    }

    fn report(&mut self, event: ParticipantEvent, size: usize) -> Result<(), LimitReached> {
        let Some(left) = self.log_budget.checked_sub(size) else {
            return Err(LimitReached::new(
                Limit::Log,
                "log limit exceeded: the participant logged more than its per-call budget",
            ));
        };
        self.log_budget = left;
        if let Some(sink) = &self.events {
            sink.emit(event);
        }
        Ok(())
    }
}
