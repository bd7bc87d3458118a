//! `ssh`: the contract's request and per-target results. The result is two
//! layers deep (the request as a whole, then each target), and each layer's
//! error becomes a `call-error` of its own.

use super::types::wit_result;
use crate::capabilities::{CallCaps, ssh as cap};
use crate::sandbox::bindings::WitError;
use crate::sandbox::bindings::mastermind::participant::ssh as wit;

type ExecResults = Vec<Result<wit::ExecOutput, WitError>>;

impl wit::Host for CallCaps {
    async fn exec(&mut self, request: wit::ExecRequest) -> wasmtime::Result<Result<ExecResults, WitError>> {
        let results = self.ssh_exec(request.into()).await;
        Ok(results.map(|each| each.into_iter().map(wit_result).collect()).map_err(WitError::from))
    }
}

impl From<wit::ExecRequest> for cap::ExecRequest {
    fn from(r: wit::ExecRequest) -> Self {
        cap::ExecRequest {
            targets: r.targets.into_iter().map(Into::into).collect(),
            key_secret: r.key_secret,
            command: r.command,
            stdin: r.stdin,
            timeout_ms: r.timeout_ms,
            concurrency: r.concurrency,
            host_keys: r.host_keys,
        }
    }
}

impl From<wit::Target> for cap::ExecTarget {
    fn from(t: wit::Target) -> Self {
        cap::ExecTarget { host: t.host, port: t.port, user: t.user }
    }
}

impl From<cap::ExecOutput> for wit::ExecOutput {
    fn from(o: cap::ExecOutput) -> Self {
        wit::ExecOutput {
            stdout: o.stdout,
            stderr: o.stderr,
            exit_status: o.exit_status,
            exit_signal: o.exit_signal,
            duration_ms: o.duration_ms,
        }
    }
}
