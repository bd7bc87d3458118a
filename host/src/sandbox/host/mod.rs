//! The host side of the WIT contract: each generated `Host` trait,
//! implemented for [`CallCaps`](crate::capabilities::CallCaps) by turning
//! WIT values into the capability's own and back.
//!
//! Kept apart from `capabilities` so the layer below knows nothing of
//! wasmtime or of the generated types: the checks there are plain Rust, and
//! a change to the contract's shape is a change here only. The one thing
//! decided here is what ends the call: a capability's
//! [`LimitReached`](crate::capabilities::LimitReached) becomes a trap the
//! sandbox names as that limit, while a
//! [`CapabilityError`](crate::capabilities::CapabilityError) goes back to
//! the participant as its `call-error`.

mod chef;
mod ec2;
mod http;
mod log;
mod outcome;
mod ssh;
mod types;
mod wasi_http;
