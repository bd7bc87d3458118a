//! Mastermind: an infrastructure orchestration engine whose workflow steps
//! are sandboxed WebAssembly participants.
//!
//! Layers, from the bottom up (see ARCHITECTURE.md):
//! - [`language`]: definition text (or JSON) to a typed tree, with
//!   diagnostics, dollar notation and conditions;
//! - [`model`]: a job's stored vocabulary (states, messages, expressions,
//!   call and step errors), shared by every layer above;
//! - [`capabilities`]: what a participant may ask the host to do (HTTP, SSH,
//!   EC2, Chef, logging, sleeping), the grants that allow it, and secrets;
//! - [`sandbox`]: loading, validating, caching and running participant
//!   components under per-call limits;
//! - [`store`]: jobs, expressions, messages and history on SQLite or
//!   PostgreSQL;
//! - [`engine`]: the durable workflow engine;
//! - [`builtin`]: the participants compiled into this binary;
//! - [`services`]: tenants and their runtimes, launching stored
//!   definitions, schedules and metrics, for every kind of process;
//! - [`api`]: the HTTP JSON API (`mastermind serve`);
//! - [`cli`]: the `mastermind` command.
// Every public item says why it exists, and every fallible public function
// when it fails (`cargo clippy -- -D warnings` in .ci/run makes these errors).
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod api;
pub mod builtin;
pub mod capabilities;
pub mod cli;
pub mod engine;
pub mod language;
pub mod model;
pub mod sandbox;
pub mod services;
pub mod store;
