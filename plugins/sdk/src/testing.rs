//! Runs a participant natively, in an author's `cargo test`: no Wasm, no
//! host, the same checks as a real call (unknown action, missing or
//! mistyped params are `bad-input` before `invoke` runs).
//!
//! ```ignore
//! use mastermind_sdk::testing::{self, Stub, TestHost};
//!
//! #[test]
//! fn greets() {
//!     let fields = testing::invoke::<Greeter>("greet", json!({"name": "world"}), json!({})).unwrap();
//!     assert_eq!(fields["greeting"], "hello, world");
//! }
//!
//! // Capabilities answer what a stub says; any the stub does not answer
//! // fail with a `denied` error saying so.
//! struct Up;
//! impl Stub for Up {
//!     fn http(&self, request: &http::Request) -> Result<http::Response> {
//!         assert_eq!(request.url(), "https://status.example.com/");
//!         Ok(http::Response::new(200, "up"))
//!     }
//! }
//!
//! #[test]
//! fn checks_the_status() {
//!     let run = TestHost::with_stub(Up).invoke::<Status>("check", json!({}), json!({}));
//!     assert_eq!(run.result.unwrap()["status"], "up");
//!     assert!(run.logged("up"));
//! }
//! ```
//!
//! Only in native builds: a component has the real host.

use crate::log::Level;
use crate::{Call, Context, Error, Fields, Participant, Result, chef, ec2, http, ssh};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// The host's capabilities as a test answers them. Every method has a
/// default that refuses with a `denied` error naming the capability, so a
/// stub implements only what its participant calls.
pub trait Stub {
    /// One HTTP request ([`http::Request::send`]).
    fn http(&self, request: &http::Request) -> Result<http::Response> {
        let _ = request;
        Err(unavailable("http"))
    }

    /// One command on its targets ([`ssh::Exec::run`]): one result per
    /// target, in order.
    fn ssh(&self, request: &ssh::Request) -> Result<Vec<Result<ssh::Output>>> {
        let _ = request;
        Err(unavailable("ssh"))
    }

    /// [`ec2::run_instances`].
    fn ec2_run_instances(&self, credentials: &str, request: &ec2::RunRequest) -> Result<Vec<ec2::Instance>> {
        let _ = (credentials, request);
        Err(unavailable("ec2"))
    }

    /// [`ec2::describe_instances`].
    fn ec2_describe_instances(
        &self,
        credentials: &str,
        region: &str,
        instance_ids: &[String],
        filters: &[(String, Vec<String>)],
    ) -> Result<Vec<ec2::Instance>> {
        let _ = (credentials, region, instance_ids, filters);
        Err(unavailable("ec2"))
    }

    /// [`ec2::change_state`].
    fn ec2_change_state(
        &self,
        credentials: &str,
        region: &str,
        instance_ids: &[String],
        action: ec2::StateAction,
    ) -> Result<Vec<ec2::StateChange>> {
        let _ = (credentials, region, instance_ids, action);
        Err(unavailable("ec2"))
    }

    /// One signed Chef API request ([`chef::Server::send`] and the helpers
    /// built on it).
    fn chef(&self, request: &chef::Request) -> Result<chef::Response> {
        let _ = request;
        Err(unavailable("chef"))
    }
}

/// A stub that answers nothing: every capability is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCapabilities;

impl Stub for NoCapabilities {}

/// The error a capability a test did not stub answers with.
pub fn unavailable(capability: &str) -> Error {
    Error::denied(format!(
        "{capability} is not available in unit tests: give the test a stub that answers it \
         (mastermind_sdk::testing::TestHost::with_stub)"
    ))
}

/// Calls participants as the host would, with the capabilities of a
/// [`Stub`] and a [`Context`] of the test's choosing.
pub struct TestHost {
    stub: Rc<dyn Stub>,
    context: Context,
}

impl Default for TestHost {
    fn default() -> Self {
        TestHost::with_stub(NoCapabilities)
    }
}

impl TestHost {
    /// A host that grants no capability.
    pub fn new() -> Self {
        Self::default()
    }

    /// A host whose capabilities `stub` answers.
    pub fn with_stub(stub: impl Stub + 'static) -> Self {
        let context = Context {
            job_id: "test-job".into(),
            step_id: "0".into(),
            attempt: 1,
            idempotency_key: "mm-test".into(),
            tenant: "test".into(),
            settings: Vec::new(),
        };
        TestHost { stub: Rc::new(stub), context }
    }

    /// Adds a setting, as an operator configures one for the participant.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.context.settings.push((name.into(), value.into()));
        self
    }

    /// The context calls get (job, step, attempt, idempotency key, tenant,
    /// settings).
    pub fn context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// Runs `action` with `params` and `fields` (JSON objects) as the host
    /// would: checked against the description first, then invoked.
    pub fn invoke<P: Participant>(&self, action: &str, params: Value, fields: Value) -> Run {
        let session = Entered::new(Session { stub: self.stub.clone(), run: Run::default() });
        let result = (|| {
            let params = as_object("params", params)?;
            let fields = as_object("fields", fields)?;
            let call = Call { action: action.to_owned(), params, fields, context: self.context.clone() };
            crate::guest::run::<P>(call)
        })();
        let mut run = session.leave();
        if let Err(e) = &result
            && let Some(kept) = &e.fields
        {
            run.kept.extend(kept.clone());
        }
        run.result = result;
        run
    }
}

/// Runs `action` of participant `P` with `params` and `fields` (JSON
/// objects), no capability granted; for what else a call did, use
/// [`TestHost::invoke`].
///
/// # Errors
/// The participant's error, or `bad-input` when the call does not match
/// its description.
pub fn invoke<P: Participant>(action: &str, params: Value, fields: Value) -> Result<Fields> {
    TestHost::new().invoke::<P>(action, params, fields).result
}

/// What one call returned and did.
#[derive(Debug, Clone)]
pub struct Run {
    /// The field updates, or the error.
    pub result: Result<Fields>,
    /// Its log lines, in order.
    pub logs: Vec<(Level, String)>,
    /// Its progress reports, in order.
    pub progress: Vec<(String, Option<u8>)>,
    /// The fields it kept for the workitem whatever happens
    /// ([`crate::outcome::keep`], [`Error::with_fields`]).
    pub kept: Fields,
    /// How long it slept in all ([`crate::sleep`] returns at once here).
    pub slept: Duration,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            result: Ok(Fields::new()),
            logs: Vec::new(),
            progress: Vec::new(),
            kept: Fields::new(),
            slept: Duration::ZERO,
        }
    }
}

impl Run {
    /// Whether a log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.logs.iter().any(|(_, line)| line.contains(text))
    }
}

fn as_object(what: &str, value: Value) -> Result<Fields> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Fields::new()),
        _ => Err(Error::bad_input(format!("{what} must be a JSON object"))),
    }
}

struct Session {
    stub: Rc<dyn Stub>,
    run: Run,
}

thread_local! {
    static CURRENT: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// This thread's current session while a call runs; the one it replaced
/// (a stub calling a participant in turn) is put back when it is left,
/// or dropped because the participant panicked.
struct Entered {
    previous: Option<Option<Session>>,
}

impl Entered {
    fn new(session: Session) -> Self {
        Entered { previous: Some(CURRENT.with(|c| c.replace(Some(session)))) }
    }

    /// What the call did.
    fn leave(mut self) -> Run {
        let previous = self.previous.take().unwrap_or_default();
        CURRENT.with(|c| c.replace(previous)).map(|s| s.run).unwrap_or_default()
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            CURRENT.with(|c| c.replace(previous));
        }
    }
}

/// The stub of the call running on this thread, if any (cloned out, so a
/// stub may itself log).
fn stub() -> Rc<dyn Stub> {
    CURRENT.with(|c| c.borrow().as_ref().map(|s| s.stub.clone())).unwrap_or_else(|| Rc::new(NoCapabilities))
}

/// Records into the running call's [`Run`]; false outside one.
fn record(f: impl FnOnce(&mut Run)) -> bool {
    CURRENT.with(|c| c.borrow_mut().as_mut().map(|s| f(&mut s.run)).is_some())
}

/// The native side of `crate::imports`: the generated imports'
/// signatures, answered by the running call's stub and recorded.
pub(crate) mod host {
    use super::{record, stub};
    use crate::bindings::mastermind::participant::{chef, ec2, http, ssh, types::CallError};
    use crate::log::Level;
    use std::time::Duration;

    pub(crate) fn log(level: Level, message: &str) {
        if !record(|r| r.logs.push((level, message.to_owned()))) {
            let level = match level {
                Level::Trace => "trace",
                Level::Debug => "debug",
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
            };
            eprintln!("{level}: {message}");
        }
    }

    pub(crate) fn progress(message: &str, percent: Option<u8>) {
        record(|r| r.progress.push((message.to_owned(), percent)));
    }

    pub(crate) fn sleep(ms: u64) {
        record(|r| r.slept += Duration::from_millis(ms));
    }

    pub(crate) fn keep(updates: &str) -> Result<(), CallError> {
        let fields = crate::guest::object("kept fields", updates)?;
        record(|r| r.kept.extend(fields));
        Ok(())
    }

    pub(crate) fn http_send(request: &http::Request) -> Result<http::Response, CallError> {
        let response = stub().http(&crate::http::Request::from_wit(request.clone()))?;
        Ok(http::Response {
            status: response.status,
            headers: response.headers.into_iter().map(|(name, value)| http::Header { name, value }).collect(),
            body: response.body,
        })
    }

    pub(crate) fn ssh_exec(request: &ssh::ExecRequest) -> Result<Vec<Result<ssh::ExecOutput, CallError>>, CallError> {
        let results = stub().ssh(request)?;
        Ok(results.into_iter().map(|r| r.map_err(CallError::from)).collect())
    }

    pub(crate) fn run_instances(credentials: &str, request: &ec2::RunRequest) -> Result<Vec<ec2::Instance>, CallError> {
        Ok(stub().ec2_run_instances(credentials, request)?)
    }

    pub(crate) fn describe_instances(
        credentials: &str,
        region: &str,
        instance_ids: &[String],
        filters: &[(String, Vec<String>)],
    ) -> Result<Vec<ec2::Instance>, CallError> {
        Ok(stub().ec2_describe_instances(credentials, region, instance_ids, filters)?)
    }

    pub(crate) fn change_state(
        credentials: &str,
        region: &str,
        instance_ids: &[String],
        action: ec2::StateAction,
    ) -> Result<Vec<ec2::StateChange>, CallError> {
        Ok(stub().ec2_change_state(credentials, region, instance_ids, action)?)
    }

    pub(crate) fn chef_send(request: &chef::Request) -> Result<chef::Response, CallError> {
        let response = stub().chef(request)?;
        Ok(chef::Response { status: response.status, body: response.body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Description, Kind, fields, json};

    struct Pinger;

    impl Participant for Pinger {
        fn describe() -> Description {
            Description::new("pinger", "Pings a URL").action(
                Action::new("ping", "GETs `url`").required("url", Kind::String, "where").optional(
                    "tries",
                    Kind::Integer,
                    "how many",
                ),
            )
        }

        fn invoke(call: Call) -> Result<Fields> {
            let url: String = call.param("url")?;
            crate::outcome::keep(fields! { "pinging" => url.clone() })?;
            crate::log::info(&format!("pinging {url}"));
            crate::log::progress("halfway", Some(50));
            crate::sleep(Duration::from_millis(1500));
            let response = http::Request::get(&url).bearer_secret("token").send()?.error_for_status("ping")?;
            Ok(
                fields! { "status" => response.status, "body" => response.text(), "key" => call.context.idempotency_key },
            )
        }
    }

    struct Answers(u16);

    impl Stub for Answers {
        fn http(&self, request: &http::Request) -> Result<http::Response> {
            assert_eq!((request.method(), request.url()), ("GET", "https://example.com/"));
            assert_eq!(request.secret_names(), ["token"]);
            Ok(http::Response::new(self.0, "pong"))
        }
    }

    #[test]
    fn a_call_is_checked_against_the_description_first() {
        let e = invoke::<Pinger>("ping", json!({"tries": "two"}), json!({})).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::BadInput);
        assert!(e.message.contains("missing required param(s): url"), "{e}");
        assert!(e.message.contains("param 'tries' must be an integer"), "{e}");
        let e = invoke::<Pinger>("pong", json!({}), json!({})).unwrap_err();
        assert!(e.message.contains("no action 'pong' (known: ping)"), "{e}");
        let e = invoke::<Pinger>("ping", json!([1]), json!({})).unwrap_err();
        assert!(e.message.contains("params must be a JSON object"), "{e}");
    }

    #[test]
    fn capabilities_not_stubbed_are_refused_with_a_clear_error() {
        let run = TestHost::new().invoke::<Pinger>("ping", json!({"url": "https://example.com/"}), json!({}));
        let e = run.result.clone().unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Denied);
        assert!(e.message.contains("http is not available in unit tests"), "{e}");
        // What it kept and logged before failing is still seen.
        assert_eq!(run.kept["pinging"], "https://example.com/");
        assert!(run.logged("pinging https://example.com/"));
    }

    #[test]
    fn a_stub_answers_and_the_run_records_what_the_call_did() {
        let host = TestHost::with_stub(Answers(200));
        let run = host.invoke::<Pinger>("ping", json!({"url": "https://example.com/"}), json!({}));
        let fields = run.result.clone().unwrap();
        assert_eq!(fields["status"], 200);
        assert_eq!(fields["body"], "pong");
        assert_eq!(fields["key"], "mm-test");
        assert_eq!(run.logs, vec![(Level::Info, "pinging https://example.com/".to_owned())]);
        assert_eq!(run.progress, vec![("halfway".to_owned(), Some(50))]);
        assert_eq!(run.slept, Duration::from_millis(1500));

        let run = TestHost::with_stub(Answers(503)).invoke::<Pinger>(
            "ping",
            json!({"url": "https://example.com/"}),
            json!({}),
        );
        let e = run.result.unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Retryable);
        assert!(e.message.contains("HTTP 503"), "{e}");
    }
}
