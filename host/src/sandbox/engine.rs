//! The wasmtime engine every participant runs on, and its epoch clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of deadlines, and how
/// often a busy guest yields its thread to other calls.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Engine-wide sizing. Per-call limits ([`super::Limits`]) must fit inside.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Component instances that may be alive at once (concurrent calls).
    pub max_instances: u32,
    /// Core instances per component on average, which sizes the pool's
    /// total (`max_instances` times this): a Rust wasm32-wasip2 component
    /// uses a few (the program plus adapter shims), a componentize-py one
    /// 14. Calls past the total wait for a slot like calls past
    /// `max_instances`.
    pub core_instances_per_component: u32,
    /// The most core instances one component may create. A component over
    /// it is refused at load, naming this limit; under it, it runs. Large
    /// enough for the Python and JavaScript toolchains' components
    /// (componentize-py 14, componentize-js 4), small enough that one
    /// component cannot take a large share of the pool.
    pub max_core_instances_per_component: u32,
    /// The largest linear memory any call may be granted.
    pub max_memory_bytes: usize,
    /// Wasm stack per call; deep recursion past it traps.
    pub max_wasm_stack: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_instances: 1024,
            core_instances_per_component: 8,
            max_core_instances_per_component: 32,
            max_memory_bytes: 1 << 30,
            max_wasm_stack: 512 << 10,
        }
    }
}

pub(crate) fn build(config: &EngineConfig) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    let instances = config.max_instances.max(1);
    let per_component = config.max_core_instances_per_component.max(1);
    // The total must hold at least one component at the maximum.
    let cores = instances.saturating_mul(config.core_instances_per_component.max(1)).max(per_component);
    pool.total_component_instances(instances)
        .total_core_instances(cores)
        .max_core_instances_per_component(per_component)
        .total_memories(cores)
        .total_tables(cores)
        .total_stacks(instances)
        .max_memory_size(config.max_memory_bytes)
        // Keep a few slots warm per instance so a fresh call reuses pages.
        .max_unused_warm_slots(64)
        // Reset a finished call's memory by zeroing the pages it dirtied
        // (found with PAGEMAP_SCAN where the kernel has it) rather than by
        // madvise: every madvise flushes the TLB of each CPU running the
        // process, which cost more than the call itself (docs/benchmarks.md).
        // Contents never survive from one call to the next either way.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto);

    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(config.max_wasm_stack)
        .async_stack_size(config.max_wasm_stack + (1 << 20))
        // Memories are small and bounds-checked; reserving 4 GiB of address
        // space per slot would make a large pool impossible.
        .memory_reservation(config.max_memory_bytes as u64)
        .memory_guard_size(64 << 10)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = stop.clone();
        std::thread::Builder::new().name("mastermind-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
