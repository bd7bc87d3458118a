//! `outcome`: field updates a call keeps even if it then fails, so an
//! error handler can clean up what the step already created.

use super::{CallCaps, CapabilityError};
use serde_json::{Map, Value};

/// What a call has kept so far, bounded like its output.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    pub(crate) updates: Map<String, Value>,
    /// Bytes of JSON kept so far.
    size: usize,
}

impl CallCaps {
    /// Keeps `updates` (a JSON object, redacted) over what was kept before.
    ///
    /// # Errors
    /// `bad-input` when `updates` is not a JSON object, or everything kept
    /// would exceed the call's output limit.
    pub fn outcome_keep(&mut self, updates: &str) -> Result<(), CapabilityError> {
        let size = self.kept.size + updates.len();
        if size > self.output_limit {
            return Err(CapabilityError::bad_input(format!(
                "outcome.keep: {} KiB kept in all, over the output limit of {} KiB",
                size / 1024,
                self.output_limit / 1024
            )));
        }
        let updates = match serde_json::from_str(&self.redact(updates)) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(CapabilityError::bad_input("outcome.keep: the updates must be a JSON object")),
            Err(e) => return Err(CapabilityError::bad_input(format!("outcome.keep: invalid JSON: {e}"))),
        };
        self.kept.size = size;
        self.kept.updates.extend(updates);
        Ok(())
    }
}
