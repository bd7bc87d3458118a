//! The `chef` capability: grant checks. Signed requests land with the
//! built-in Chef participants.

use super::CallCaps;
use crate::sandbox::bindings::WitError;
use crate::sandbox::bindings::mastermind::participant::chef as wit;

impl wit::Host for CallCaps {
    async fn send(&mut self, request: wit::Request) -> wasmtime::Result<Result<wit::Response, WitError>> {
        let base = request.server_url.trim_end_matches('/');
        if !self.grants.allows_chef(base) {
            return Ok(Err(self.deny("chef", &format!("server {base}"), &format!("grant it with chef={base}"))));
        }
        if let Err(e) = self.secret("chef", &request.key_secret) {
            return Ok(Err(e));
        }
        Ok(Err(WitError::fatal("chef: signed requests are not available in this build yet")))
    }
}
