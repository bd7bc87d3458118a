//! `outcome`: `keep` takes the JSON text as the contract gives it.

use super::types::wit_result;
use crate::capabilities::CallCaps;
use crate::sandbox::bindings::WitError;
use crate::sandbox::bindings::mastermind::participant::outcome;

impl outcome::Host for CallCaps {
    async fn keep(&mut self, updates: String) -> wasmtime::Result<Result<(), WitError>> {
        Ok(wit_result(self.outcome_keep(&updates)))
    }
}
