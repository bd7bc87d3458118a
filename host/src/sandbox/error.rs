//! Why a component could not be loaded. A call's error is the job model's
//! [`CallError`] (re-exported by the sandbox).

pub use crate::model::{CallError, ErrorKind, Limit};

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly binary: {0}")]
    NotWasm(String),
    #[error(
        "this is a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("component is {size} bytes, over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("invalid component: {0}")]
    Invalid(String),
    #[error(
        "component imports {0}, which is not part of the participant world (allowed: mastermind:participant/* and WASI 0.2)"
    )]
    UnknownImport(String),
    #[error("component does not implement the participant world: {0}")]
    WrongWorld(String),
    #[error("component's describe failed: {0}")]
    Describe(CallError),
    #[error("compiled-code cache: {0}")]
    Cache(String),
}
