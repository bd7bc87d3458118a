//! Per-call limits and the resource limiter that enforces the memory part.

use super::error::{CallError, Limit};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The limits one participant call runs under. Set per tenant; the engine
/// may shorten the deadline for a step with a `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Linear memory per call, in bytes: every linear memory of the
    /// component's instances together.
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
///
/// The limits are the call's totals: a component may have many core
/// instances, each with its own memories and tables, and wasmtime asks the
/// limiter about each one separately. Counting per memory let a component
/// of 8 core instances hold 8 × 63 MiB under a 64 MiB limit.
pub(crate) struct CallLimiter {
    pub memory_bytes: usize,
    /// Bytes of linear memory granted so far, all memories together.
    memory_used: usize,
    /// Table elements granted so far, all tables together.
    table_used: usize,
}

impl CallLimiter {
    pub fn new(memory_bytes: usize) -> Self {
        CallLimiter { memory_bytes, memory_used: 0, table_used: 0 }
    }
}

/// Table elements per call, all tables together.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // A failed growth is not given back (wasmtime does not say by how
        // much it failed): erring towards the limit is the safe side.
        let total = self.memory_used.saturating_add(desired.saturating_sub(current));
        if total > self.memory_bytes {
            return Err(LimitExceeded::new(
                Limit::Memory,
                format!(
                    "memory limit exceeded: the participant asked for {} MiB in all, the limit is {} MiB per call",
                    total.div_ceil(1 << 20),
                    self.memory_bytes >> 20
                ),
            )
            .into());
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.table_used.saturating_add(desired.saturating_sub(current));
        if total > MAX_TABLE_ELEMENTS {
            return Err(LimitExceeded::new(
                Limit::Memory,
                format!("table limit exceeded: {total} elements in all, the limit is {MAX_TABLE_ELEMENTS} per call"),
            )
            .into());
        }
        self.table_used = total;
        Ok(true)
    }
}

pub(crate) fn human_duration(d: Duration) -> String {
    if d.as_secs() >= 1 { format!("{:.1}s", d.as_secs_f64()) } else { format!("{}ms", d.as_millis()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::component::{Component, Linker};
    use wasmtime::{Engine, Store};

    /// A component whose core instances each have a memory under the limit,
    /// but together over it: the call's total is what counts.
    #[test]
    fn the_memory_limit_is_the_total_of_every_instance() {
        let engine = Engine::default();
        // 8 core instances of 10 MiB each (160 pages of 64 KiB).
        let mut wat = String::from("(component (core module $m (memory 160))");
        for _ in 0..8 {
            wat.push_str(" (core instance (instantiate $m))");
        }
        wat.push(')');
        let component = Component::new(&engine, wat::parse_str(&wat).unwrap()).unwrap();
        let linker = Linker::<CallLimiter>::new(&engine);

        let mut store = Store::new(&engine, CallLimiter::new(64 << 20));
        store.limiter(|l| l);
        let error = linker.instantiate(&mut store, &component).expect_err("80 MiB under a 64 MiB limit");
        let limit = error.downcast_ref::<LimitExceeded>().expect("a limit error");
        assert_eq!(limit.limit, Limit::Memory);
        assert!(limit.message.contains("the limit is 64 MiB per call"), "{}", limit.message);

        let mut store = Store::new(&engine, CallLimiter::new(96 << 20));
        store.limiter(|l| l);
        linker.instantiate(&mut store, &component).expect("80 MiB under a 96 MiB limit");
        assert_eq!(store.data().memory_used, 80 << 20);
    }
}
