//! Why a component could not be loaded. A call's error is the job model's
//! [`CallError`] (re-exported by the sandbox).

pub use crate::model::{CallError, ErrorKind, Limit};

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly binary: {0}")]
    NotWasm(String),
    #[error(
        "this is a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    /// A core module rather than a component.
    CoreModule,
    /// Over the sandbox's size limit.
    #[error("component is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// The component's size, in bytes.
        size: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// It would create more core instances than one component may.
    #[error(
        "component creates {count} core instances when instantiated, over the limit of {max} per component (the sandbox's max_core_instances_per_component)"
    )]
    TooManyCoreInstances {
        /// Core instances one instantiation creates, nested components included.
        count: u32,
        /// The limit.
        max: u32,
    },
    /// A component that does not validate or compile.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// It imports something outside the participant world and WASI 0.2.
    #[error("component imports `{import}`: {why}")]
    UnknownImport {
        /// The import, as the component names it.
        import: String,
        /// Why the host refuses it.
        why: String,
    },
    /// Its imports are all allowed but do not link (a function of an
    /// allowed interface the host's version lacks, say).
    #[error("component cannot be linked with this host: {0}")]
    Link(String),
    /// Its exports do not match the contract's `describe` and `invoke`.
    #[error("component does not implement the participant world: {0}")]
    WrongWorld(String),
    /// Its `describe` failed or returned an invalid description.
    #[error("component's describe failed: {0}")]
    Describe(CallError),
    /// The compiled-code cache could not be used.
    #[error("compiled-code cache: {0}")]
    Cache(String),
}
