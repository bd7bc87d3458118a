//! `log` and `timer`: the capabilities every participant has.

use super::{CallCaps, ParticipantEvent};
use crate::sandbox::Limit;
use crate::sandbox::bindings::mastermind::participant::{log, timer};
use crate::sandbox::limits::LimitExceeded;
use std::time::Duration;

impl CallCaps {
    fn report(&mut self, event: ParticipantEvent, size: usize) -> wasmtime::Result<()> {
        let Some(left) = self.log_budget.checked_sub(size) else {
            return Err(LimitExceeded::new(
                Limit::Log,
                "log limit exceeded: the participant logged more than its per-call budget",
            )
            .into());
        };
        self.log_budget = left;
        if let Some(sink) = &self.events {
            sink.emit(event);
        }
        Ok(())
    }
}

impl log::Host for CallCaps {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        let size = message.len() + 16;
        let message = self.redact(&message);
        self.report(ParticipantEvent::Log { level: level.into(), message }, size)
    }

    async fn progress(&mut self, message: String, percent: Option<u8>) -> wasmtime::Result<()> {
        let size = message.len() + 16;
        let message = self.redact(&message);
        self.report(ParticipantEvent::Progress { message, percent: percent.map(|p| p.min(100)) }, size)
    }
}

impl timer::Host for CallCaps {
    async fn sleep(&mut self, ms: u64) -> wasmtime::Result<()> {
        let wanted = Duration::from_millis(ms);
        let left = self.time_left(None);
        if wanted >= left {
            tokio::time::sleep(left).await;
            return Err(LimitExceeded::new(Limit::Deadline, "deadline exceeded while the participant slept").into());
        }
        tokio::time::sleep(wanted).await;
        Ok(())
    }
}
