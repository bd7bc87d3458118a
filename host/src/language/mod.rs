//! The workflow definition language: a Ruby-like subset of Ruote's process-definition
//! DSL (and an equivalent JSON form), plus the small evaluators steps need at run time:
//! dollar notation, conditions, durations, schedules and error-handler specifications.
//!
//! Nothing here evaluates Ruby. Definitions are data, so they can be validated,
//! stored and shown back to their authors with precise error locations.

pub mod attributes;
pub mod condition;
pub mod diagnostic;
pub mod dollar;
pub mod json;
mod lexer;
pub mod parser;
pub mod schedule;
pub mod tree;

pub use diagnostic::{Diagnostic, ParseErrors, render};
pub use parser::{MAX_DEPTH, MAX_ERRORS, parse};
pub use tree::{Definition, Node, Span};
