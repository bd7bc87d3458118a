//! Host-side bindings generated from `wit/participant.wit`.
//!
//! Every import is async (a participant waiting on the network or a timer
//! holds no thread) and trappable (a host function can end the call, e.g.
//! when the log budget is spent).
//!
//! The generated items carry the WIT file's own comments where it has
//! them; the contract is documented there, not here.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "participant",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use self::mastermind::participant::types::{CallError as WitError, ErrorKind as WitKind};
