//! `chef`: the contract's request and response, field for field.

use super::types::wit_result;
use crate::capabilities::{CallCaps, chef as cap};
use crate::sandbox::bindings::WitError;
use crate::sandbox::bindings::mastermind::participant::chef as wit;

impl wit::Host for CallCaps {
    async fn send(&mut self, request: wit::Request) -> wasmtime::Result<Result<wit::Response, WitError>> {
        Ok(wit_result(self.chef_send(request.into()).await))
    }
}

impl From<wit::Request> for cap::Request {
    fn from(r: wit::Request) -> Self {
        cap::Request {
            server_url: r.server_url,
            client_name: r.client_name,
            key_secret: r.key_secret,
            method: r.method,
            path: r.path,
            body: r.body,
        }
    }
}

impl From<cap::Response> for wit::Response {
    fn from(r: cap::Response) -> Self {
        wit::Response { status: r.status, body: r.body }
    }
}
