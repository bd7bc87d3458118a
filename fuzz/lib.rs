//! The host's language module, alone, for fuzzing.
#[path = "../host/src/language/mod.rs"]
pub mod language;
