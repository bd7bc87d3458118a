//! Log lines and progress reports, shown live to whoever watches the job.

use crate::bindings::mastermind::participant::log::{self as wit, Level};

pub fn debug(message: &str) {
    wit::log(Level::Debug, message);
}
pub fn info(message: &str) {
    wit::log(Level::Info, message);
}
pub fn warn(message: &str) {
    wit::log(Level::Warn, message);
}
pub fn error(message: &str) {
    wit::log(Level::Error, message);
}
/// What is happening now and, if known, how far along (0-100).
pub fn progress(message: &str, percent: Option<u8>) {
    wit::progress(message, percent);
}
