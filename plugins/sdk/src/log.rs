//! Log lines and progress reports, shown live to whoever watches the job.
//! Under [`crate::testing`] they are recorded for the test to check.

use crate::imports;

pub use crate::bindings::mastermind::participant::log::Level;

pub fn debug(message: &str) {
    imports::log(Level::Debug, message);
}
pub fn info(message: &str) {
    imports::log(Level::Info, message);
}
pub fn warn(message: &str) {
    imports::log(Level::Warn, message);
}
pub fn error(message: &str) {
    imports::log(Level::Error, message);
}
/// What is happening now and, if known, how far along (0-100).
pub fn progress(message: &str, percent: Option<u8>) {
    imports::progress(message, percent);
}
