//! `log` and `timer`: the imports that can end the call. Their capability
//! fails with [`LimitReached`], which becomes a trap carrying
//! [`LimitExceeded`], so the call's error names the limit as the memory
//! and deadline limits do.

use crate::capabilities::{CallCaps, LimitReached, log as cap};
use crate::sandbox::bindings::mastermind::participant::{log, timer};
use crate::sandbox::limits::LimitExceeded;

impl log::Host for CallCaps {
    async fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        self.log_line(level.into(), &message).map_err(trap)
    }

    async fn progress(&mut self, message: String, percent: Option<u8>) -> wasmtime::Result<()> {
        self.log_progress(&message, percent).map_err(trap)
    }
}

impl timer::Host for CallCaps {
    async fn sleep(&mut self, ms: u64) -> wasmtime::Result<()> {
        self.timer_sleep(ms).await.map_err(trap)
    }
}

fn trap(reached: LimitReached) -> wasmtime::Error {
    LimitExceeded::from(reached).into()
}

impl From<LimitReached> for LimitExceeded {
    fn from(reached: LimitReached) -> Self {
        LimitExceeded::new(reached.limit, reached.message)
    }
}

impl From<log::Level> for cap::Level {
    fn from(level: log::Level) -> Self {
        match level {
            log::Level::Trace => cap::Level::Trace,
            log::Level::Debug => cap::Level::Debug,
            log::Level::Info => cap::Level::Info,
            log::Level::Warn => cap::Level::Warn,
            log::Level::Error => cap::Level::Error,
        }
    }
}
