//! `outcome`: field updates a call keeps even if it then fails, so an
//! error handler can clean up what the step already created.

use super::CallCaps;
use crate::sandbox::bindings::WitError;
use crate::sandbox::bindings::mastermind::participant::outcome;
use serde_json::{Map, Value};

/// What a call has kept so far, bounded like its output.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    pub(crate) updates: Map<String, Value>,
    /// Bytes of JSON kept so far.
    size: usize,
}

impl outcome::Host for CallCaps {
    async fn keep(&mut self, updates: String) -> wasmtime::Result<Result<(), WitError>> {
        let size = self.kept.size + updates.len();
        if size > self.output_limit {
            return Ok(Err(WitError::bad_input(format!(
                "outcome.keep: {} KiB kept in all, over the output limit of {} KiB",
                size / 1024,
                self.output_limit / 1024
            ))));
        }
        let updates = match serde_json::from_str(&self.redact(&updates)) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Ok(Err(WitError::bad_input("outcome.keep: the updates must be a JSON object"))),
            Err(e) => return Ok(Err(WitError::bad_input(format!("outcome.keep: invalid JSON: {e}")))),
        };
        self.kept.size = size;
        self.kept.updates.extend(updates);
        Ok(Ok(()))
    }
}
