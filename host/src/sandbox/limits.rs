//! Per-call limits and the resource limiter that enforces the memory part.

use super::error::{CallError, Limit};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The limits one participant call runs under. Set per tenant; the engine
/// may shorten the deadline for a step with a `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Linear memory per instance, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time for the whole call, host calls included.
    #[serde(with = "millis")]
    pub deadline: Duration,
    /// Size of the returned field updates (JSON text), in bytes.
    pub output_bytes: usize,
    /// Log and progress text per call, in bytes.
    pub log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            deadline: Duration::from_secs(15 * 60),
            output_bytes: 1 << 20,
            log_bytes: 256 << 10,
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// The error a limit produces, carried through wasmtime as a trap cause so
/// the call's error names the limit.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct LimitExceeded {
    pub limit: Limit,
    pub message: String,
}

impl LimitExceeded {
    pub fn new(limit: Limit, message: impl Into<String>) -> Self {
        LimitExceeded { limit, message: message.into() }
    }

    pub fn into_call_error(self) -> CallError {
        CallError::limit(self.limit, self.message)
    }
}

/// Stops memory and table growth past the call's limits with a trap that
/// names the limit, rather than letting the guest see a failed `grow` and
/// crash somewhere else.
pub(crate) struct CallLimiter {
    pub memory_bytes: usize,
}

const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(LimitExceeded::new(
                Limit::Memory,
                format!(
                    "memory limit exceeded: the participant asked for {} MiB, the limit is {} MiB",
                    desired.div_ceil(1 << 20),
                    self.memory_bytes >> 20
                ),
            )
            .into());
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(LimitExceeded::new(
                Limit::Memory,
                format!("table limit exceeded: {desired} elements, the limit is {MAX_TABLE_ELEMENTS}"),
            )
            .into());
        }
        Ok(true)
    }
}

pub(crate) fn human_duration(d: Duration) -> String {
    if d.as_secs() >= 1 { format!("{:.1}s", d.as_secs_f64()) } else { format!("{}ms", d.as_millis()) }
}
