//! Dry runs: every capability call is answered by the host, and nothing
//! leaves the machine — no connection, no DNS lookup.
//!
//! A dry call is checked as a real one is (its grants, the secrets it
//! names, its input), then recorded in the plan (a `planned` event of the
//! step: method and URL, hosts and command, region and instances; secret
//! values never in it) and answered:
//! - from the first stub the user gave for it (a JSON file, see
//!   [`Stubs`]), matched by pattern (`*` matches any text);
//! - otherwise by a documented synthetic answer: HTTP and Chef `200` with
//!   `{}`; SSH exit status 0 and no output on every host; EC2 launches
//!   give `i-dryrun-...` instances, `running`, and a start, stop or
//!   terminate reaches its state at once (describing shows it).
//!
//! ```
//! let stubs: mastermind::capabilities::Stubs = serde_json::from_str(r#"{
//!   "http": [{"method": "GET", "url": "https://ci.example.com/builds/*", "status": 200, "body": {"ok": true}}],
//!   "ssh": [{"command": "systemctl is-active *", "stdout": "active\n"}],
//!   "ec2": {"state": "pending"}
//! }"#).unwrap();
//! assert_eq!(stubs.http.len(), 1);
//! ```

use super::chef;
use super::ec2::{Instance, RunRequest, StateAction, StateChange};
use super::http::{Header, Response};
use super::ssh::{ExecOutput, ExecRequest, ExecResults};
use super::{CallCaps, ParticipantEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a dry run answers, per capability (see the module documentation).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stubs {
    /// HTTP answers, the first whose method and URL match.
    pub http: Vec<HttpStub>,
    /// SSH answers, the first whose command (and host, if given) match.
    pub ssh: Vec<SshStub>,
    /// Chef answers, the first whose method and path match.
    pub chef: Vec<HttpStub>,
    /// How EC2 answers.
    pub ec2: Ec2Stub,
    /// The state of each instance the dry run launched or changed, so a
    /// participant waiting for a state sees it reached.
    #[serde(skip)]
    instances: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// One HTTP (or Chef) answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStub {
    /// `GET`, `POST`... or `*` (the default).
    #[serde(default = "any")]
    pub method: String,
    /// The URL pattern (HTTP) or the path pattern (Chef).
    #[serde(alias = "path")]
    pub url: String,
    /// The status answered.
    #[serde(default = "ok")]
    pub status: u16,
    /// The body: text as it is, anything else as JSON.
    #[serde(default)]
    pub body: Value,
}

/// One SSH answer, for every matching host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshStub {
    /// The command pattern.
    pub command: String,
    /// The host pattern (`*` by default).
    #[serde(default = "any")]
    pub host: String,
    /// Standard output.
    #[serde(default)]
    pub stdout: String,
    /// Standard error.
    #[serde(default)]
    pub stderr: String,
    /// The exit status.
    #[serde(default)]
    pub exit_status: u32,
}

/// How EC2 answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ec2Stub {
    /// The state launched instances are in (`running` by default); the
    /// states they are changed to are reached at once.
    pub state: String,
}

impl Default for Ec2Stub {
    fn default() -> Self {
        Ec2Stub { state: "running".into() }
    }
}

fn any() -> String {
    "*".into()
}

fn ok() -> u16 {
    200
}

/// Whether `text` matches `pattern`, where `*` matches any text (none
/// included) and everything else itself. Written here: a dozen lines, where
/// a glob crate would bring path rules (`/`, `**`, classes) that URLs and
/// command lines do not want.
pub fn matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Numbers the instances dry launches make, across the process.
static LAUNCHED: AtomicU64 = AtomicU64::new(1);

impl CallCaps {
    /// The dry run's stubs, when this process makes no real call.
    pub(super) fn dry_run(&self) -> Option<&Stubs> {
        self.dry_run.as_deref()
    }

    /// Records a call the step would have made.
    fn plan(&self, capability: &str, call: Value) {
        if let Some(events) = &self.events {
            events.emit(ParticipantEvent::Planned { capability: capability.to_owned(), call });
        }
    }

    pub(super) fn dry_http(&self, method: &str, url: &str) -> Response {
        self.plan("http", json!({ "method": method, "url": url }));
        let stub = self.dry_run().and_then(|s| s.http.iter().find(|h| stub_matches(h, method, url)));
        http_answer(stub)
    }

    pub(super) fn dry_chef(&self, client: &str, method: &str, path: &str, url: &str) -> chef::Response {
        self.plan("chef", json!({ "method": method, "url": url, "client": client }));
        let stub = self.dry_run().and_then(|s| s.chef.iter().find(|h| stub_matches(h, method, path)));
        let answer = http_answer(stub);
        chef::Response { status: answer.status, body: String::from_utf8_lossy(&answer.body).into_owned() }
    }

    pub(super) fn dry_ssh(&self, request: &ExecRequest) -> ExecResults {
        let hosts: Vec<String> = request.targets.iter().map(|t| format!("{}@{}:{}", t.user, t.host, t.port)).collect();
        self.plan("ssh", json!({ "hosts": hosts, "command": request.command }));
        let stubs = self.dry_run().map(|s| s.ssh.as_slice()).unwrap_or_default();
        request
            .targets
            .iter()
            .map(|t| {
                let stub = stubs.iter().find(|s| matches(&s.command, &request.command) && matches(&s.host, &t.host));
                Ok(ExecOutput {
                    stdout: stub.map(|s| s.stdout.clone()).unwrap_or_default(),
                    stderr: stub.map(|s| s.stderr.clone()).unwrap_or_default(),
                    exit_status: Some(stub.map(|s| s.exit_status).unwrap_or(0)),
                    exit_signal: None,
                    duration_ms: 0,
                })
            })
            .collect()
    }

    pub(super) fn dry_run_instances(&self, request: &RunRequest) -> Vec<Instance> {
        let count = request.count.max(1);
        let ids: Vec<String> =
            (0..count).map(|_| format!("i-dryrun-{:08x}", LAUNCHED.fetch_add(1, Ordering::Relaxed))).collect();
        self.plan(
            "ec2",
            json!({ "action": "run-instances", "region": request.region, "image_id": request.image_id,
                    "instance_type": request.instance_type, "count": count, "instance_ids": ids }),
        );
        for id in &ids {
            self.set_dry_state(id, self.launched_state());
        }
        ids.into_iter()
            .map(|id| Instance {
                image_id: Some(request.image_id.clone()),
                instance_type: Some(request.instance_type.clone()),
                key_name: request.key_name.clone(),
                availability_zone: request.availability_zone.clone(),
                tags: request.tags.clone(),
                ..self.dry_instance(id)
            })
            .collect()
    }

    pub(super) fn dry_describe(&self, region: &str, ids: &[String]) -> Vec<Instance> {
        self.plan("ec2", json!({ "action": "describe-instances", "region": region, "instance_ids": ids }));
        ids.iter().map(|id| self.dry_instance(id.clone())).collect()
    }

    pub(super) fn dry_change_state(&self, region: &str, ids: &[String], action: StateAction) -> Vec<StateChange> {
        let (name, to) = match action {
            StateAction::Start => ("start-instances", "running"),
            StateAction::Stop => ("stop-instances", "stopped"),
            StateAction::Reboot => ("reboot-instances", ""),
            StateAction::Terminate => ("terminate-instances", "terminated"),
        };
        self.plan("ec2", json!({ "action": name, "region": region, "instance_ids": ids }));
        if to.is_empty() {
            return Vec::new();
        }
        ids.iter()
            .map(|id| {
                let from = self.dry_state(id);
                self.set_dry_state(id, to.into());
                StateChange { instance_id: id.clone(), previous_state: from, current_state: to.into() }
            })
            .collect()
    }

    fn launched_state(&self) -> String {
        self.dry_run().map(|s| s.ec2.state.clone()).unwrap_or_else(|| "running".into())
    }

    /// The state a dry run left the instance in (as launched, if it never
    /// saw it: an instance the definition was given).
    fn dry_state(&self, id: &str) -> String {
        let known = self.dry_run().and_then(|s| s.instances.lock().ok()?.get(id).cloned());
        known.unwrap_or_else(|| self.launched_state())
    }

    fn set_dry_state(&self, id: &str, state: String) {
        if let Some(mut map) = self.dry_run().and_then(|s| s.instances.lock().ok()) {
            map.insert(id.to_owned(), state);
        }
    }

    fn dry_instance(&self, id: String) -> Instance {
        let state = self.dry_state(&id);
        Instance {
            instance_id: id,
            image_id: None,
            instance_type: None,
            state,
            state_reason: None,
            key_name: None,
            availability_zone: None,
            public_ip: Some("192.0.2.10".into()),
            private_ip: Some("10.0.0.10".into()),
            public_dns: None,
            private_dns: None,
            launch_time: None,
            subnet_id: None,
            vpc_id: None,
            security_groups: Vec::new(),
            tags: Vec::new(),
        }
    }
}

fn stub_matches(stub: &HttpStub, method: &str, url: &str) -> bool {
    (stub.method == "*" || stub.method.eq_ignore_ascii_case(method)) && matches(&stub.url, url)
}

fn http_answer(stub: Option<&HttpStub>) -> Response {
    let (status, body) = match stub {
        Some(s) => (s.status, s.body.clone()),
        None => (200, json!({})),
    };
    let body = match body {
        Value::String(text) => text.into_bytes(),
        Value::Null => Vec::new(),
        other => other.to_string().into_bytes(),
    };
    let headers = vec![Header { name: "content-type".into(), value: "application/json".into() }];
    Response { status, headers, body }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn a_star_matches_any_text() {
        assert!(matches("https://ci.example.com/builds/*", "https://ci.example.com/builds/1.4"));
        assert!(matches("*", ""));
        assert!(matches("deploy * now", "deploy web1 now"));
        assert!(matches("a*b*c", "abc"));
        assert!(!matches("a*b*c", "acb"));
        assert!(!matches("https://ci.example.com/", "https://ci.example.com/x"));
        assert!(matches("systemctl restart app", "systemctl restart app"));
    }
}
