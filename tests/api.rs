//! The HTTP API, over real HTTP against a real `mastermind serve` process:
//! every endpoint's happy path and errors, tenant isolation, token scopes,
//! uploads, secrets that never leak, webhook triggers, schedules, audit,
//! and a server killed mid-job.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::server::{Api, Server};

/// `on_both!(name, |dir, db| { ... })`: a test module `name` whose body
/// runs as `name::sqlite` and `name::postgres`, each with a fresh directory
/// (`dir`) and a fresh database (`db`, its URL).
macro_rules! on_both {
    ($name:ident, |$dir:ident, $db:ident| $body:block) => {
        mod $name {
            use super::*;
            async fn case($dir: &std::path::Path, $db: &str) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let db = format!("sqlite:{}", dir.path().join("mastermind.db").display());
                case(dir.path(), &db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let dir = tempfile::tempdir().unwrap();
                let db = support::server::Database::postgres().await;
                case(dir.path(), &db.url).await;
                db.drop().await;
            }
        }
    };
}

const TWO_STEPS: &str = "mark_tester name: 'one'\nmark_tester name: '${greeting}'\n";

/// A server and a tenant that has the `tester` participant uploaded.
async fn setup(dir: &std::path::Path, db: &str) -> (Server, Api) {
    let server = Server::start_with(dir, db, &[]).await;
    let api = server.tenant("acme").await;
    let (status, body) = api.upload(&support::participant_bytes("tester"), &[]).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("ready")), "{body}");
    (server, api)
}

on_both!(operations_endpoints_answer, |dir, db| {
    let server = Server::start_with(dir, db, &[]).await;
    let anonymous = Api::new(&server.url, "");
    assert_eq!(anonymous.ok(Method::GET, "/healthz", None).await, json!("ok"));
    assert_eq!(anonymous.ok(Method::GET, "/readyz", None).await, json!("ready"));
    // The metrics cover every tenant: the admin token's, not the public's
    // nor a tenant's.
    anonymous.fails(Method::GET, "/metrics", None, StatusCode::UNAUTHORIZED).await;
    server.tenant("acme").await.fails(Method::GET, "/metrics", None, StatusCode::FORBIDDEN).await;
    let metrics = server.admin().ok(Method::GET, "/metrics", None).await;
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("mastermind_jobs{state=\"running\"}"), "{metrics}");
    assert!(metrics.contains("mastermind_step_duration_seconds"), "{metrics}");
    let openapi = anonymous.ok(Method::GET, "/openapi.json", None).await;
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/jobs",
        "/v1/jobs/{id}/events",
        "/v1/participants",
        "/v1/secrets/{name}",
        "/hooks/{secret}",
        "/v1/schedules",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    // Unknown routes and methods answer in the error shape too.
    anonymous.fails(Method::GET, "/v1/nothing-here", None, StatusCode::NOT_FOUND).await;
    server.admin().fails(Method::DELETE, "/v1/tenants", None, StatusCode::METHOD_NOT_ALLOWED).await;
});

on_both!(tokens_and_scopes_are_enforced, |dir, db| {
    let server = Server::start_with(dir, db, &[]).await;
    let admin = server.admin();
    // No token, a wrong token: 401.
    Api::new(&server.url, "").fails(Method::GET, "/v1/jobs", None, StatusCode::UNAUTHORIZED).await;
    Api::new(&server.url, "mm_wrong").fails(Method::GET, "/v1/tenants", None, StatusCode::UNAUTHORIZED).await;
    // Tenants: created by the admin only, names unique, limits checked.
    let tenant = admin.ok(Method::POST, "/v1/tenants", Some(json!({ "name": "acme" }))).await;
    let id = tenant["id"].as_str().unwrap();
    assert_eq!(tenant["limits"]["max_concurrent_calls"], 16);
    admin.fails(Method::POST, "/v1/tenants", Some(json!({ "name": "acme" })), StatusCode::CONFLICT).await;
    admin.fails(Method::POST, "/v1/tenants", Some(json!({ "name": "bad name!" })), StatusCode::BAD_REQUEST).await;
    admin
        .fails(
            Method::POST,
            "/v1/tenants",
            Some(json!({ "name": "x", "limits": { "memory_bytes": 1 } })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    let listed = admin.ok(Method::GET, "/v1/tenants", None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let limits = json!({ "limits": { "memory_bytes": 33554432, "deadline_ms": 60000, "output_bytes": 65536, "log_bytes": 65536, "max_concurrent_calls": 4 } });
    let updated = admin.ok(Method::PATCH, &format!("/v1/tenants/{id}"), Some(limits)).await;
    assert_eq!(updated["limits"]["max_concurrent_calls"], 4);
    admin.fails(Method::GET, "/v1/tenants/nope", None, StatusCode::NOT_FOUND).await;
    // The admin token does not reach into tenants.
    admin.fails(Method::GET, "/v1/jobs", None, StatusCode::FORBIDDEN).await;

    let issue = |scopes: Value| {
        let admin = admin.clone();
        let id = id.to_owned();
        async move {
            let t = admin
                .ok(Method::POST, &format!("/v1/tenants/{id}/tokens"), Some(json!({ "name": "t", "scopes": scopes })))
                .await;
            assert!(t["token"].as_str().unwrap().starts_with("mm_"));
            admin.with_token(t["token"].as_str().unwrap())
        }
    };
    let owner = issue(json!(["admin"])).await;
    let runner = issue(json!(["run"])).await;
    let reader = issue(json!(["read"])).await;
    admin
        .fails(
            Method::POST,
            &format!("/v1/tenants/{id}/tokens"),
            Some(json!({ "name": "t", "scopes": ["root"] })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    // Tenant tokens cannot manage tenants.
    owner.fails(Method::GET, "/v1/tenants", None, StatusCode::FORBIDDEN).await;
    owner.fails(Method::POST, "/v1/tenants", Some(json!({ "name": "evil" })), StatusCode::FORBIDDEN).await;

    let (status, body) = owner.upload(&support::participant_bytes("tester"), &[]).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("ready")), "{body}");
    owner.push("flow", TWO_STEPS).await;
    // read: GETs only.
    reader.ok(Method::GET, "/v1/definitions", None).await;
    reader.fails(Method::POST, "/v1/jobs", Some(json!({ "definition": "flow" })), StatusCode::FORBIDDEN).await;
    reader
        .fails(Method::POST, "/v1/definitions", Some(json!({ "name": "x", "source": "noop" })), StatusCode::FORBIDDEN)
        .await;
    // run: jobs, not definitions, secrets or tokens.
    let job = runner.launch("flow", json!({ "greeting": "hi" })).await;
    runner.wait_state(&job, &["completed"]).await;
    runner
        .fails(Method::POST, "/v1/definitions", Some(json!({ "name": "x", "source": "noop" })), StatusCode::FORBIDDEN)
        .await;
    runner.fails(Method::PUT, "/v1/secrets/k", Some(json!({ "value": "vvvv" })), StatusCode::FORBIDDEN).await;
    runner.fails(Method::GET, "/v1/tokens", None, StatusCode::FORBIDDEN).await;
    // admin: tokens of its own tenant; a revoked token stops working.
    let made = owner.ok(Method::POST, "/v1/tokens", Some(json!({ "name": "ci", "scopes": ["read"] }))).await;
    let ci = owner.with_token(made["token"].as_str().unwrap());
    ci.ok(Method::GET, "/v1/jobs", None).await;
    let tokens = owner.ok(Method::GET, "/v1/tokens", None).await;
    assert!(tokens.as_array().unwrap().iter().all(|t| t.get("token").is_none()), "token text listed: {tokens}");
    owner.ok(Method::DELETE, &format!("/v1/tokens/{}", made["id"].as_str().unwrap()), None).await;
    ci.fails(Method::GET, "/v1/jobs", None, StatusCode::UNAUTHORIZED).await;
    owner
        .fails(Method::DELETE, &format!("/v1/tokens/{}", made["id"].as_str().unwrap()), None, StatusCode::NOT_FOUND)
        .await;
    // The audit log names who did what.
    let audit = owner.ok(Method::GET, "/v1/audit", None).await;
    let actions: Vec<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["action"].as_str().unwrap(), e["object_kind"].as_str().unwrap()))
        .collect();
    for wanted in ["upload participant", "push definition", "launch job", "create token", "revoke token"] {
        assert!(actions.iter().any(|a| a == wanted), "{wanted} not in {actions:?}");
    }
    let launch = audit.as_array().unwrap().iter().find(|e| e["action"] == "launch").unwrap();
    assert_eq!(launch["object_id"], job);
    assert!(launch["token"].is_string());
    owner.fails(Method::GET, "/v1/audit?limit=0", None, StatusCode::BAD_REQUEST).await;
});

on_both!(definitions_are_versioned_and_validated, |dir, db| {
    let (_server, api) = setup(dir, db).await;
    let v1 = api.push("deploy", "mark_tester name: 'a'\n").await;
    assert_eq!(v1["version"], 1);
    let v2 = api.push("deploy", TWO_STEPS).await;
    assert_eq!(v2["version"], 2);
    let shown = api.ok(Method::GET, "/v1/definitions/deploy", None).await;
    assert_eq!(shown["latest"]["version"], 2);
    assert_eq!(shown["versions"].as_array().unwrap().len(), 2);
    let old = api.ok(Method::GET, "/v1/definitions/deploy/versions/1", None).await;
    assert_eq!(old["source"], "mark_tester name: 'a'\n");
    api.fails(Method::GET, "/v1/definitions/deploy/versions/9", None, StatusCode::NOT_FOUND).await;
    api.fails(Method::GET, "/v1/definitions/deploy/versions/x", None, StatusCode::BAD_REQUEST).await;
    api.fails(Method::GET, "/v1/definitions/nothing", None, StatusCode::NOT_FOUND).await;
    let list = api.ok(Method::GET, "/v1/definitions", None).await;
    assert_eq!(list, json!([{ "name": "deploy", "latest_version": 2, "updated_at": list[0]["updated_at"] }]));
    // The JSON tree form.
    let tree = json!({ "name": "sequence", "children": [{ "name": "mark_tester", "attrs": { "name": "j" } }] });
    let (status, body) =
        api.call(Method::POST, "/v1/definitions", Some(json!({ "name": "from-json", "tree": tree }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Errors: line, column and a caret, as the CLI prints them.
    let bad = "sequence do\n  mark_tester name: 'a',\nend\n";
    let error = api
        .fails(
            Method::POST,
            "/v1/definitions",
            Some(json!({ "name": "bad", "source": bad })),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(error["code"], "invalid_definition");
    let first = &error["details"]["diagnostics"][0];
    assert!(first["line"].as_u64().unwrap() >= 2, "{error}");
    assert!(error["details"]["rendered"].as_str().unwrap().contains('^'), "{error}");
    let unknown = api
        .fails(
            Method::POST,
            "/v1/definitions",
            Some(json!({ "name": "bad", "source": "launch_rocket to: 'moon'\n" })),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(unknown["message"].as_str().unwrap().contains("error"), "{unknown}");
    assert!(unknown["details"]["rendered"].as_str().unwrap().contains("launch_rocket"), "{unknown}");
    let checked = api.ok(Method::POST, "/v1/definitions/validate", Some(json!({ "source": bad }))).await;
    assert_eq!(checked["valid"], false);
    assert_eq!(checked["diagnostics"][0]["line"], 3, "{checked}");
    assert!(checked["rendered"].as_str().unwrap().contains("definition.mm:3:1"), "{checked}");
    let fine = api.ok(Method::POST, "/v1/definitions/validate", Some(json!({ "source": TWO_STEPS }))).await;
    assert_eq!(fine["valid"], true);
    api.fails(Method::POST, "/v1/definitions", Some(json!({ "name": "x" })), StatusCode::BAD_REQUEST).await;
    api.fails(
        Method::POST,
        "/v1/definitions",
        Some(json!({ "name": "x", "source": "a", "extra": 1 })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // Not JSON at all.
    let (status, body) = api.call(Method::POST, "/v1/definitions", Some(json!("just a string"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad_request");

    // The text itself, as text/plain, named in the query (`curl
    // --data-binary @deploy.mm`): no JSON quoting.
    let text = |query: &str, body: &str| {
        api.http
            .post(format!("{}/v1/definitions{query}", api.url))
            .bearer_auth(&api.token)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body.to_owned())
            .send()
    };
    let pushed = text("?name=deploy", TWO_STEPS).await.unwrap();
    assert_eq!(pushed.status(), StatusCode::CREATED);
    let pushed: Value = pushed.json().await.unwrap();
    assert_eq!(
        (&pushed["name"], &pushed["version"], &pushed["source"]),
        (&json!("deploy"), &json!(3), &json!(TWO_STEPS))
    );
    let unnamed = text("", TWO_STEPS).await.unwrap();
    assert_eq!(unnamed.status(), StatusCode::BAD_REQUEST);
    assert!(unnamed.text().await.unwrap().contains("?name="));
    let bad_text = text("?name=bad", bad).await.unwrap();
    assert_eq!(bad_text.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad_text: Value = bad_text.json().await.unwrap();
    assert!(bad_text["error"]["details"]["rendered"].as_str().unwrap().contains('^'), "{bad_text}");
});

on_both!(jobs_run_and_are_controlled, |dir, db| {
    let (_server, api) = setup(dir, db).await;
    api.push("flow", TWO_STEPS).await;
    // Launch at once: the fields flow through both steps.
    let id = api.launch("flow", json!({ "greeting": "hello" })).await;
    let job = api.wait_state(&id, &["completed"]).await;
    assert_eq!(job["fields"]["trail"], json!(["one", "hello"]));
    assert_eq!(job["definition"], "flow@1");
    let history = job["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["params"]["name"], "hello");
    assert_eq!(history[1]["participant"], "tester");
    assert!(history.iter().all(|s| s["ok"] == true));
    // `wait` answers when the job is over.
    let waited = api
        .ok(Method::POST, "/v1/jobs?wait=30", Some(json!({ "definition": "flow", "fields": { "greeting": "sync" } })))
        .await;
    assert_eq!(waited["state"], "completed", "{waited}");
    assert_eq!(waited["fields"]["last"], "sync");
    api.fails(Method::POST, "/v1/jobs?wait=301", Some(json!({ "definition": "flow" })), StatusCode::BAD_REQUEST).await;
    // A missing field fails the step, naming the field.
    let failing = api.launch("flow", json!({})).await;
    let failed = api.wait_state(&failing, &["failed"]).await;
    assert!(failed["error"]["message"].as_str().unwrap().contains("greeting"), "{failed}");
    // Retry with an edited field.
    api.ok(Method::POST, &format!("/v1/jobs/{failing}/retry"), Some(json!({ "fields": { "greeting": "again" } })))
        .await;
    let retried = api.wait_state(&failing, &["completed"]).await;
    assert_eq!(retried["fields"]["trail"], json!(["one", "again"]));
    api.fails(Method::POST, &format!("/v1/jobs/{failing}/retry"), None, StatusCode::CONFLICT).await;

    // Create pending, then launch with deep-merged overrides.
    let pending = api
        .ok(Method::POST, "/v1/jobs", Some(json!({ "definition": "flow", "launch": false, "fields": { "greeting": "x", "deep": { "a": 1, "b": 2 } } })))
        .await;
    assert_eq!(pending["state"], "pending");
    let pid = pending["id"].as_str().unwrap();
    api.ok(
        Method::POST,
        &format!("/v1/jobs/{pid}/launch"),
        Some(json!({ "fields": { "greeting": "merged", "deep": { "b": 3 } } })),
    )
    .await;
    let merged = api.wait_state(pid, &["completed"]).await;
    assert_eq!(merged["fields"]["deep"], json!({ "a": 1, "b": 3 }));
    assert_eq!(merged["fields"]["last"], "merged");
    api.fails(Method::POST, &format!("/v1/jobs/{pid}/launch"), None, StatusCode::CONFLICT).await;

    // Pause, resume and cancel a slow job.
    api.push(
        "slow",
        "mark_tester name: 'a', sleep_ms: 300\nmark_tester name: 'b', sleep_ms: 300\nmark_tester name: 'c'\n",
    )
    .await;
    let slow = api.launch("slow", json!({})).await;
    api.ok(Method::POST, &format!("/v1/jobs/{slow}/pause"), None).await;
    api.fails(Method::POST, &format!("/v1/jobs/{slow}/pause"), None, StatusCode::CONFLICT).await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let paused = api.ok(Method::GET, &format!("/v1/jobs/{slow}"), None).await;
    assert_eq!(paused["state"], "paused");
    assert!(paused["history"].as_array().unwrap().len() <= 1, "{paused}");
    api.ok(Method::POST, &format!("/v1/jobs/{slow}/resume"), None).await;
    api.ok(Method::POST, &format!("/v1/jobs/{slow}/cancel"), None).await;
    let canceled = api.wait_state(&slow, &["canceled"]).await;
    assert!(canceled["finished_at"].is_string());
    api.fails(Method::POST, &format!("/v1/jobs/{slow}/cancel"), None, StatusCode::CONFLICT).await;

    // A call in flight is shown as running, then in the history.
    api.push("long", "mark_tester name: 'x', sleep_ms: 1500\n").await;
    let long = api.launch("long", json!({})).await;
    let mut running = Value::Null;
    for _ in 0..50 {
        let job = api.ok(Method::GET, &format!("/v1/jobs/{long}"), None).await;
        if job["running"].as_array().is_some_and(|r| !r.is_empty()) {
            running = job["running"][0].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        (running["participant"].as_str(), running["action"].as_str(), running["line"].as_u64()),
        (Some("tester"), Some("mark"), Some(1)),
        "{running}"
    );
    let done = api.wait_state(&long, &["completed"]).await;
    assert_eq!(done["running"], json!([]));
    assert_eq!(done["history"].as_array().unwrap().len(), 1);

    // Listing: filters and paging.
    let completed = api.ok(Method::GET, "/v1/jobs?state=completed", None).await;
    assert_eq!(completed["jobs"].as_array().unwrap().len(), 5);
    let by_definition = api.ok(Method::GET, "/v1/jobs?definition=slow", None).await;
    assert_eq!(by_definition["jobs"].as_array().unwrap().len(), 1);
    let page = api.ok(Method::GET, "/v1/jobs?limit=2", None).await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap();
    let rest = api.ok(Method::GET, &format!("/v1/jobs?limit=4&before={next}"), None).await;
    assert_eq!(rest["jobs"].as_array().unwrap().len(), 4);
    assert!(rest["next"].is_null());
    api.fails(Method::GET, "/v1/jobs?state=bogus", None, StatusCode::BAD_REQUEST).await;
    api.fails(Method::GET, "/v1/jobs?limit=100000", None, StatusCode::BAD_REQUEST).await;
    api.fails(Method::GET, "/v1/jobs/nope", None, StatusCode::NOT_FOUND).await;
    api.fails(Method::POST, "/v1/jobs", Some(json!({ "definition": "nope" })), StatusCode::NOT_FOUND).await;
    api.fails(Method::POST, "/v1/jobs", Some(json!({ "definition": "flow", "version": 7 })), StatusCode::NOT_FOUND)
        .await;
    api.fails(Method::POST, "/v1/jobs", Some(json!({ "definition": "flow", "fields": [1] })), StatusCode::BAD_REQUEST)
        .await;
});

on_both!(events_stream_a_job_live, |dir, db| {
    let (_server, api) = setup(dir, db).await;
    api.push("flow", "mark_tester name: 'a', sleep_ms: 200\necho 'between'\nmark_tester name: 'b'\n").await;
    // Created pending and watched before it starts.
    let job = api.ok(Method::POST, "/v1/jobs", Some(json!({ "definition": "flow", "launch": false }))).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let stream = api.open_events(&id).await;
    api.ok(Method::POST, &format!("/v1/jobs/{id}/launch"), None).await;
    let events = support::server::read_events(stream).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"state"));
    assert_eq!(names.iter().filter(|n| **n == "step_started").count(), 2, "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "step_finished").count(), 2, "{names:?}");
    assert!(names.contains(&"echo"), "{names:?}");
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "state");
    assert_eq!(data["state"], "completed");
    // The job's events, each once, in order: what a stream opened after
    // the end replays too, numbered 1, 2, ... (the SSE id).
    let stored: Vec<&(String, Value)> = events.iter().filter(|(n, _)| n != "state").collect();
    let expected = ["step_started", "step_finished", "echo", "step_started", "step_finished", "finished"];
    assert_eq!(stored.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), expected);
    let (first, ids, again) = support::server::read_numbered(api.open_events(&id).await).await;
    assert_eq!(first["state"], "completed");
    assert_eq!(ids, (1..=6).collect::<Vec<i64>>());
    assert_eq!(again, stored.iter().map(|(n, d)| (n.clone(), d.clone())).collect::<Vec<_>>());
    // Resumed after an event: by `after`, or by a reconnecting client's
    // Last-Event-ID.
    let after = api.http.get(format!("{}/v1/jobs/{id}/events?after=4", api.url)).bearer_auth(&api.token);
    let (_, ids, _) = support::server::read_numbered(after.send().await.unwrap()).await;
    assert_eq!(ids, vec![5, 6]);
    let resumed = api.http.get(format!("{}/v1/jobs/{id}/events", api.url)).bearer_auth(&api.token);
    let (_, ids, _) = support::server::read_numbered(resumed.header("Last-Event-ID", "5").send().await.unwrap()).await;
    assert_eq!(ids, vec![6]);
    api.fails(Method::GET, "/v1/jobs/nope/events", None, StatusCode::NOT_FOUND).await;
});

on_both!(uploads_are_validated_and_run_within_their_grants, |dir, db| {
    let server = Server::start_with(dir, db, &[]).await;
    let api = server.tenant("acme").await;
    // Refused: not wasm, a core module, a component of another world, too big, bad grants.
    let (status, body) = api.upload(b"not wasm at all", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("not a WebAssembly binary"), "{body}");
    let (status, body) = api.upload(&wat::parse_str("(module (func (export \"run\")))").unwrap(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("core WebAssembly module"), "{body}");
    let (status, body) = api.upload(&wat::parse_str("(component)").unwrap(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("participant world"), "{body}");
    let (status, body) =
        api.upload(&wat::parse_str(r#"(component (import "evil:net/raw-socket" (instance)))"#).unwrap(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, answer) = api.post_oversized("/v1/participants", 48 << 20).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(answer.contains(r#""code":"too_large""#), "{answer}");
    let (status, body) = api.upload(&support::participant_bytes("hostile"), &["teleport=mars"]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A built-in's name is taken: refused at once when the upload names
    // it, once described (the upload fails, leaving nothing) when not.
    let (status, _) = api.upload_raw(&support::participant_bytes("echo"), &[], Some("echo")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api.upload(&support::participant_bytes("echo"), &[]).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("failed")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("'echo' is a built-in participant"), "{body}");

    // Accepted, described, versioned.
    let receiver = support::HttpReceiver::start().await;
    let grant = format!("http=127.0.0.1:{}", receiver.port);
    let (status, body) = api.upload(&support::participant_bytes("hostile"), &[&grant]).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("ready")), "{body}");
    assert_eq!(body["version"], 1);
    let (_, body) = api.upload(&support::participant_bytes("hostile"), &[&grant]).await;
    assert_eq!(body["version"], 2);
    let shown = api.ok(Method::GET, "/v1/participants/hostile", None).await;
    assert_eq!(shown["versions"].as_array().unwrap().len(), 2);
    assert!(shown["description"]["actions"].as_array().unwrap().iter().any(|a| a["name"] == "http_get"));
    let list = api.ok(Method::GET, "/v1/participants", None).await;
    // The failed upload of `echo` above had no name given and none it may
    // keep: it is listed nameless, with its error, for a day.
    let names: Vec<&str> = list.as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    for builtin in ["ec2_server", "ssh", "http", "campfire", "chef_node", "hostile"] {
        assert!(names.contains(&builtin), "{builtin} not in {names:?}");
    }
    let nameless: Vec<&Value> = list.as_array().unwrap().iter().filter(|p| p["name"].is_null()).collect();
    assert_eq!(nameless.len(), 1, "{list}");
    assert_eq!(nameless[0]["state"], "failed", "{list}");
    api.ok(Method::GET, "/v1/participants/ec2_server", None).await;
    api.fails(Method::GET, "/v1/participants/nothing", None, StatusCode::NOT_FOUND).await;

    // Within its grants it reaches the receiver; outside them it is denied.
    let other = support::HttpReceiver::start().await;
    api.push("inside", &format!("http_get_hostile url: '{}'\n", receiver.url("/in"))).await;
    api.push("outside", &format!("http_get_hostile url: '{}'\n", other.url("/out"))).await;
    let inside = api.launch("inside", json!({})).await;
    let done = api.wait_state(&inside, &["completed"]).await;
    assert_eq!(done["fields"]["status"], 200);
    let outside = api.launch("outside", json!({})).await;
    let denied = api.wait_state(&outside, &["failed"]).await;
    assert_eq!(denied["error"]["kind"], "denied", "{denied}");
    assert_eq!(other.connections(), 0, "the denied call reached the network");

    // Deleting is refused while a job that is not over uses it.
    api.fails(Method::DELETE, "/v1/participants/hostile", None, StatusCode::CONFLICT).await;
    api.ok(Method::POST, &format!("/v1/jobs/{outside}/cancel"), None).await;
    api.wait_state(&outside, &["canceled"]).await;
    api.ok(Method::DELETE, "/v1/participants/hostile", None).await;
    api.fails(Method::DELETE, "/v1/participants/hostile", None, StatusCode::NOT_FOUND).await;
    api.fails(Method::DELETE, "/v1/participants/ssh", None, StatusCode::CONFLICT).await;
    let error = api
        .fails(Method::POST, "/v1/jobs", Some(json!({ "definition": "inside" })), StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert!(error["details"]["rendered"].as_str().unwrap().contains("hostile"), "{error}");
});

// A server's default policy: no upload may be granted a connection to a
// loopback, private or link-local host, whatever the grant kind and however
// the address is spelled; the metrics take their own token.
on_both!(uploads_may_not_be_granted_private_hosts_by_any_spelling, |dir, db| {
    let server = Server::start_with(dir, db, &[support::server::PUBLIC_ONLY, "--metrics-token", "scrape-me"]).await;
    let api = server.tenant("acme").await;
    let hostile = support::participant_bytes("hostile");
    for grant in [
        "chef=http://127.0.0.1:8889/organizations/x",
        "chef=http://localhost:4000",
        "chef=http://169.254.169.254/",
        "chef=https://[fd00::1]/organizations/x",
        "http=0x7f000001:8080",
        "http=2130706433",
        "http=127.1",
        "http=localhost",
        "http=[::1]:80",
        "http=10.0.0.1",
        "ssh=deploy@[::ffff:192.168.1.1]",
        "ssh=*@169.254.169.254:22",
    ] {
        let (status, body) = api.upload(&hostile, &[grant]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{grant}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("non-public"), "{grant}: {body}");
    }
    for grant in ["ec2=evil.example.com#", "ec2=us-west-2/x"] {
        let (status, body) = api.upload(&hostile, &[grant]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{grant}: {body}");
    }
    let (status, body) =
        api.upload(&hostile, &["http=93.184.216.34", "chef=https://93.184.216.34/x", "ec2=us-west-2"]).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("ready")), "{body}");
    let names = api.ok(Method::GET, "/v1/participants", None).await;
    assert!(names.as_array().unwrap().iter().any(|p| p["name"] == "hostile"));

    // Names of dots only are refused for secrets, definitions and tokens.
    // A client normalises `.` and `%2E` path segments away, so the secret's
    // name goes in a request written by hand.
    for name in ["%2E", "%2e%2E"] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
        let request = format!(
            "PUT /v1/secrets/{name} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 13\r\nconnection: close\r\n\r\n{{\"value\":\"x\"}}",
            api.token
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 400"), "PUT /v1/secrets/{name}: {reply}");
    }
    assert_eq!(api.ok(Method::GET, "/v1/secrets", None).await, json!([]));
    for name in [".", ".."] {
        let definition = json!({ "name": name, "source": "noop_tester\n" });
        api.fails(Method::POST, "/v1/definitions", Some(definition), StatusCode::BAD_REQUEST).await;
        api.fails(
            Method::POST,
            "/v1/tokens",
            Some(json!({ "name": name, "scopes": ["read"] })),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }

    let scraper = Api::new(&server.url, "scrape-me");
    let metrics = scraper.ok(Method::GET, "/metrics", None).await;
    assert!(metrics.as_str().unwrap().contains("mastermind_jobs"), "{metrics}");
    Api::new(&server.url, "").fails(Method::GET, "/metrics", None, StatusCode::UNAUTHORIZED).await;
});

on_both!(secrets_never_leak, |dir, db| {
    const VALUE: &str = "s3cr3t-V4lue-that-must-not-leak";
    let server = Server::start_with(dir, db, &[]).await;
    let api = server.tenant("acme").await;
    let receiver = support::HttpReceiver::start().await;
    let grants = [format!("http=127.0.0.1:{}", receiver.port), "secret=api_key".to_owned()];
    let (status, body) = api.upload(&support::participant_bytes("hostile"), &[&grants[0], &grants[1]]).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("ready")), "{body}");
    let mut bodies = Vec::new();
    bodies.push(api.call(Method::PUT, "/v1/secrets/api_key", Some(json!({ "value": VALUE }))).await.1);
    api.fails(Method::PUT, "/v1/secrets/api_key", Some(json!({ "value": "" })), StatusCode::BAD_REQUEST).await;
    api.fails(Method::PUT, "/v1/secrets/bad name", Some(json!({ "value": "x" })), StatusCode::BAD_REQUEST).await;
    bodies.push(api.ok(Method::GET, "/v1/secrets", None).await);
    assert_eq!(bodies[1][0]["name"], "api_key");
    assert!(bodies[1][0].get("value").is_none());
    // The participant sends the secret; the receiver echoes it back.
    api.push(
        "use",
        &format!(
            "http_with_secret_hostile url: '{}', secret: 'api_key'\necho 'done ${{status}}'\n",
            receiver.url("/hook")
        ),
    )
    .await;
    let id = api.launch("use", json!({})).await;
    bodies.push(api.wait_state(&id, &["completed"]).await);
    assert!(receiver.requests().iter().any(|r| r.contains(VALUE)), "the secret was not used");
    assert!(bodies[2]["fields"]["body"].as_str().unwrap().contains("[REDACTED]"), "{}", bodies[2]);
    let events = api.events(&id).await;
    bodies.push(json!(events.iter().map(|(n, d)| json!([n, d])).collect::<Vec<_>>()));
    bodies.push(api.ok(Method::GET, "/v1/jobs", None).await);
    bodies.push(api.ok(Method::GET, "/v1/audit", None).await);
    bodies.push(api.ok(Method::GET, "/v1/participants/hostile", None).await);
    for body in &bodies {
        assert!(!body.to_string().contains(VALUE), "secret in a response: {body}");
    }
    assert!(!server.logs().contains(VALUE), "secret in the server's output");
    // Not in the database either (sealed at rest).
    let stored = if db.starts_with("sqlite") {
        let file = std::fs::read(dir.join("mastermind.db")).unwrap();
        let wal = std::fs::read(dir.join("mastermind.db-wal")).unwrap_or_default();
        vec![file, wal]
    } else {
        let pool = sqlx::PgPool::connect(db).await.unwrap();
        let mut rows = Vec::new();
        for table in ["secrets", "jobs", "history", "events", "messages", "expressions", "audit"] {
            let text: Option<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT string_agg(t::text, ' ') FROM {table} t")))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            rows.push(text.unwrap_or_default().into_bytes());
        }
        pool.close().await;
        rows
    };
    for bytes in stored {
        assert!(!bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()), "secret stored in clear");
    }
    api.ok(Method::DELETE, "/v1/secrets/api_key", None).await;
    api.fails(Method::DELETE, "/v1/secrets/api_key", None, StatusCode::NOT_FOUND).await;
    // Without the secret the step is denied.
    let again = api.launch("use", json!({})).await;
    let failed = api.wait_state(&again, &["failed"]).await;
    assert!(
        failed["error"]["message"].as_str().unwrap().contains("secret 'api_key' is granted but not set"),
        "{failed}"
    );
});

on_both!(tenants_cannot_see_each_other, |dir, db| {
    let (server, a) = setup(dir, db).await;
    let b = server.tenant("other").await;
    a.push("flow", TWO_STEPS).await;
    a.ok(Method::PUT, "/v1/secrets/token", Some(json!({ "value": "aaaa-bbbb" }))).await;
    let job = a.launch("flow", json!({ "greeting": "x" })).await;
    a.wait_state(&job, &["completed"]).await;
    let trigger = a.ok(Method::POST, "/v1/triggers", Some(json!({ "definition": "flow" }))).await;
    let trigger_id = trigger["id"].as_str().unwrap();
    let schedule =
        a.ok(Method::POST, "/v1/schedules", Some(json!({ "definition": "flow", "cron": "0 0 1 1 *" }))).await;
    let schedule_id = schedule["id"].as_str().unwrap();
    let probes = [
        (Method::GET, "/v1/definitions/flow".to_owned()),
        (Method::GET, "/v1/definitions/flow/versions/1".to_owned()),
        (Method::GET, format!("/v1/jobs/{job}")),
        (Method::GET, format!("/v1/jobs/{job}/events")),
        (Method::POST, format!("/v1/jobs/{job}/cancel")),
        (Method::POST, format!("/v1/jobs/{job}/retry")),
        (Method::POST, format!("/v1/jobs/{job}/launch")),
        (Method::GET, "/v1/participants/tester".to_owned()),
        (Method::DELETE, "/v1/participants/tester".to_owned()),
        (Method::DELETE, "/v1/secrets/token".to_owned()),
        (Method::DELETE, format!("/v1/triggers/{trigger_id}")),
        (Method::DELETE, format!("/v1/schedules/{schedule_id}")),
        (Method::DELETE, format!("/v1/tokens/{}", a.tenant_id)),
    ];
    for (method, path) in probes {
        b.fails(method, &path, None, StatusCode::NOT_FOUND).await;
    }
    // Launching by name, or using the other's participant, fails too.
    b.fails(Method::POST, "/v1/jobs", Some(json!({ "definition": "flow" })), StatusCode::NOT_FOUND).await;
    b.fails(
        Method::POST,
        "/v1/definitions",
        Some(json!({ "name": "steal", "source": "mark_tester name: 'x'" })),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // Lists are empty.
    for path in ["/v1/definitions", "/v1/secrets", "/v1/triggers", "/v1/schedules"] {
        assert_eq!(b.ok(Method::GET, path, None).await, json!([]), "{path}");
    }
    assert_eq!(b.ok(Method::GET, "/v1/jobs", None).await["jobs"], json!([]));
    assert!(
        b.ok(Method::GET, "/v1/participants", None).await.as_array().unwrap().iter().all(|p| p["kind"] == "builtin")
    );
    assert!(b.ok(Method::GET, "/v1/audit", None).await.as_array().unwrap().iter().all(|e| e["object_kind"] != "job"));
    // A's objects are intact.
    a.ok(Method::GET, &format!("/v1/jobs/{job}"), None).await;
    assert_eq!(a.ok(Method::GET, "/v1/secrets", None).await.as_array().unwrap().len(), 1);
});

on_both!(webhook_triggers_launch_jobs_and_are_rate_limited, |dir, db| {
    let (server, api) = setup(dir, db).await;
    api.push("alert", "set_tester seen: '$f:alert'\n").await;
    let trigger = api.ok(Method::POST, "/v1/triggers", Some(json!({ "definition": "alert", "field": "alert", "per_minute": 2, "fields": { "source": "monitoring" } }))).await;
    let url = trigger["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&server.url) && url.contains("/hooks/mm_"), "{url}");
    let listed = api.ok(Method::GET, "/v1/triggers", None).await;
    assert!(listed[0].get("url").is_none(), "the secret URL is shown again: {listed}");
    let http = reqwest::Client::new();
    let fired = http.post(&url).json(&json!({ "host": "web1", "load": 9.5 })).send().await.unwrap();
    assert_eq!(fired.status(), StatusCode::ACCEPTED);
    let job_id = fired.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    let job = api.wait_state(&job_id, &["completed"]).await;
    assert_eq!(job["fields"]["seen"], json!({ "host": "web1", "load": 9.5 }));
    assert_eq!(job["fields"]["source"], "monitoring");
    let second = http.post(&url).body("not json").send().await.unwrap();
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    assert_eq!(http.post(&url).json(&json!(1)).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let limited = http.post(&url).json(&json!(2)).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.json::<Value>().await.unwrap()["error"]["code"], "rate_limited");
    let wrong = http.post(format!("{}/hooks/mm_wrong", server.url)).json(&json!({})).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    api.fails(Method::POST, "/v1/triggers", Some(json!({ "definition": "nothing" })), StatusCode::NOT_FOUND).await;
    api.fails(
        Method::POST,
        "/v1/triggers",
        Some(json!({ "definition": "alert", "per_minute": 0 })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    api.ok(Method::DELETE, &format!("/v1/triggers/{}", trigger["id"].as_str().unwrap()), None).await;
    assert_eq!(http.post(&url).json(&json!({})).send().await.unwrap().status(), StatusCode::NOT_FOUND);
});

on_both!(schedules_fire_once_per_tick, |dir, db| {
    let (_server, api) = setup(dir, db).await;
    api.push("tick", "mark_tester name: 'tick'\n").await;
    api.fails(
        Method::POST,
        "/v1/schedules",
        Some(json!({ "definition": "tick", "cron": "not cron" })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    api.fails(
        Method::POST,
        "/v1/schedules",
        Some(json!({ "definition": "tick", "cron": "* * * * *", "time_zone": "Mars/Base" })),
        StatusCode::BAD_REQUEST,
    )
    .await;
    api.fails(
        Method::POST,
        "/v1/schedules",
        Some(json!({ "definition": "none", "cron": "* * * * *" })),
        StatusCode::NOT_FOUND,
    )
    .await;
    // Every second.
    let schedule = api
        .ok(
            Method::POST,
            "/v1/schedules",
            Some(json!({ "definition": "tick", "cron": "* * * * * *", "time_zone": "Europe/Paris" })),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    api.ok(Method::DELETE, &format!("/v1/schedules/{}", schedule["id"].as_str().unwrap()), None).await;
    let jobs = api.ok(Method::GET, "/v1/jobs?definition=tick", None).await;
    let count = jobs["jobs"].as_array().unwrap().len();
    assert!((2..=4).contains(&count), "{count} jobs in 3.5 s of a per-second schedule");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let after = api.ok(Method::GET, "/v1/jobs?definition=tick", None).await;
    assert_eq!(after["jobs"].as_array().unwrap().len(), count, "a deleted schedule fired");
});

on_both!(a_killed_server_finishes_its_jobs_after_restart, |dir, db| {
    let (mut server, api) = setup(dir, db).await;
    api.push("long", "mark_tester name: 'a', sleep_ms: 300\nmark_tester name: 'b', sleep_ms: 300\nmark_tester name: 'c', sleep_ms: 300\nmark_tester name: 'd'\n").await;
    let id = api.launch("long", json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    server.kill().await;
    server.restart().await;
    let job = api.wait_state(&id, &["completed", "failed"]).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["fields"]["trail"], json!(["a", "b", "c", "d"]));
    // No completed step ran twice: one successful history row per step.
    let ok_steps = job["history"].as_array().unwrap().iter().filter(|s| s["ok"] == true).count();
    assert_eq!(ok_steps, 4, "{job}");
});

/// schemathesis (PyPI) against `/openapi.json`, as an admin-scoped tenant
/// and as the server's admin: no 5xx, every response conforms to the
/// document. tests/run installs it and sets MASTERMIND_SCHEMATHESIS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_or_schema_violations() {
    let st = std::env::var("MASTERMIND_SCHEMATHESIS")
        .expect("MASTERMIND_SCHEMATHESIS (the `st` program) is set by tests/run");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("mastermind.db").display());
    let (server, api) = setup(dir.path(), &db).await;
    api.push("flow", TWO_STEPS).await;
    for token in [api.token.as_str(), support::server::ADMIN_TOKEN] {
        let output = tokio::process::Command::new(&st)
            .arg("run")
            .arg(format!("{}/openapi.json", server.url))
            .args(["--checks", "not_a_server_error,response_schema_conformance"])
            .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "25", "--request-timeout", "10"])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            // One worker: with two threads, hypothesis's concurrent
            // `ast.parse` trips CPython 3.11's shared AST recursion counter
            // (python/cpython#106905: "AST constructor recursion depth
            // mismatch", an error of schemathesis's, not of the server).
            .args(["--generation-database", "none", "--seed", "7", "--workers", "1"])
            // It finds token ids in responses (the audit log) and would
            // revoke its own token half-way through.
            .args(["--exclude-operation-id", "revoke_token"])
            .arg("--report-dir")
            .arg(dir.path().join("schemathesis"))
            .env("NO_COLOR", "1")
            .current_dir(dir.path())
            .output()
            .await
            .expect("running schemathesis");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "schemathesis found problems:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // It really ran: every operation of the document was tested.
        let tested =
            stdout.lines().find_map(|l| l.trim().strip_prefix("Tested: ")).and_then(|n| n.trim().parse::<u32>().ok());
        assert!(tested.is_some_and(|n| n >= 30), "schemathesis tested too little:\n{stdout}");
    }
    assert!(!server.logs().contains("panicked"), "{}", server.logs());
}

/// A tenant flooding the server does not starve another: each tenant's
/// calls run under its own concurrency limit, and claims take every
/// tenant's oldest work first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_tenant_does_not_starve_another() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let admin = server.admin();
    let flood = server.tenant("flood").await;
    let quiet = server.tenant("quiet").await;
    let limits = json!({ "limits": { "memory_bytes": 67108864, "deadline_ms": 60000, "output_bytes": 1048576, "log_bytes": 262144, "max_concurrent_calls": 2 } });
    admin.ok(Method::PATCH, &format!("/v1/tenants/{}", flood.tenant_id), Some(limits)).await;
    for api in [&flood, &quiet] {
        let (status, body) = api.upload(&support::participant_bytes("tester"), &[]).await;
        assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("ready")), "{body}");
        api.push("slow", "mark_tester name: 'x', sleep_ms: 250\n").await;
    }
    // 40 calls of 250 ms, two at a time: 5 s of work for the flooding tenant.
    let mut flooded = Vec::new();
    for _ in 0..40 {
        flooded.push(flood.launch("slow", json!({})).await);
    }
    let started = std::time::Instant::now();
    let id = quiet.launch("slow", json!({})).await;
    quiet.wait_state(&id, &["completed"]).await;
    let waited = started.elapsed();
    let flood_done = {
        let page = flood.ok(Method::GET, "/v1/jobs?state=completed&limit=100", None).await;
        page["jobs"].as_array().unwrap().len()
    };
    assert!(waited < std::time::Duration::from_millis(2000), "the quiet tenant waited {waited:?}");
    assert!(flood_done < 40, "the flood was done before the quiet tenant's job ran ({flood_done} completed)");
    // And the flood's calls never ran more than two at a time: its 40 jobs
    // take at least 20 rounds of 250 ms.
    let last = flooded.last().unwrap();
    flood.wait_state(last, &["completed"]).await;
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(4000),
        "the flood ran faster than its limit allows: {:?}",
        started.elapsed()
    );
}

// A tenant launching faster than its `launches_per_second` is refused
// (429, naming the limit, nothing created) while another tenant launches
// as usual; the limit refills.
on_both!(launches_beyond_a_tenant_s_rate_are_refused, |dir, db| {
    let server = Server::start_with(dir, db, &[]).await;
    let admin = server.admin();
    let eager = server.tenant("eager").await;
    let other = server.tenant("other").await;
    let limits = json!({ "limits": { "launches_per_second": 3 } });
    let tenant = admin.ok(Method::PATCH, &format!("/v1/tenants/{}", eager.tenant_id), Some(limits)).await;
    assert_eq!(tenant["limits"]["launches_per_second"], 3);
    for api in [&eager, &other] {
        api.push("quick", "noop\n").await;
    }
    let body = json!({ "definition": "quick" });
    let mut refused = None;
    for _ in 0..10 {
        let (status, value) = eager.call(Method::POST, "/v1/jobs", Some(body.clone())).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(value);
            break;
        }
        assert_eq!(status, StatusCode::CREATED, "{value}");
    }
    let refused = refused.expect("the fourth launch within a second is refused");
    assert_eq!(refused["error"]["code"], "rate_limited");
    assert!(refused["error"]["message"].as_str().unwrap().contains("launches_per_second"), "{refused}");
    let created = eager.ok(Method::GET, "/v1/jobs?limit=100", None).await["jobs"].as_array().unwrap().len();
    assert!((3..=4).contains(&created), "{created} jobs created");
    // Another tenant is not held back, and the limit refills.
    for _ in 0..5 {
        other.launch("quick", json!({})).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    eager.launch("quick", json!({})).await;
    // Out of range is refused.
    let limits = json!({ "limits": { "launches_per_second": 0 } });
    admin
        .fails(Method::PATCH, &format!("/v1/tenants/{}", eager.tenant_id), Some(limits), StatusCode::BAD_REQUEST)
        .await;
});

/// Two servers sharing one PostgreSQL database: a per-second schedule fires
/// once per tick (not once per process), and a job launched through one
/// server is visible, and controllable, through the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_postgres_fire_each_tick_once() {
    let db = support::server::Database::postgres().await;
    let url = db.url.clone();
    let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = Server::start_with(dir1.path(), &url, &[]).await;
    let two = Server::start_with(dir2.path(), &url, &[]).await;
    let api = one.tenant("acme").await;
    let (status, body) = api.upload(&support::participant_bytes("tester"), &[]).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("ready")), "{body}");
    api.push("tick", "mark_tester name: 'tick'\n").await;
    let via_two = Api::new(&two.url, &api.token);
    // Seen through the other server at once (its tenancy cache is per process).
    let id = via_two.launch("tick", json!({})).await;
    api.wait_state(&id, &["completed"]).await;

    let schedule =
        api.ok(Method::POST, "/v1/schedules", Some(json!({ "definition": "tick", "cron": "* * * * * *" }))).await;
    let started = std::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    via_two.ok(Method::DELETE, &format!("/v1/schedules/{}", schedule["id"].as_str().unwrap()), None).await;
    let elapsed = started.elapsed().as_secs_f64();
    let jobs = api.ok(Method::GET, "/v1/jobs?definition=tick&limit=100", None).await;
    let fired = jobs["jobs"].as_array().unwrap().len() - 1;
    assert!(
        fired as f64 <= elapsed.ceil() + 1.0 && fired >= 3,
        "{fired} jobs for {elapsed:.1} s of a per-second schedule on two servers"
    );
    for job in jobs["jobs"].as_array().unwrap() {
        api.wait_state(job["id"].as_str().unwrap(), &["completed"]).await;
    }
    drop((one, two));
    db.drop().await;
}

// A tenant's limits apply to its calls: a participant that spins is
// stopped at the tenant's deadline, with an error naming the limit.
on_both!(tenant_limits_bound_its_calls, |dir, db| {
    let server = Server::start_with(dir, db, &[]).await;
    let api = server.tenant("tight").await;
    let limits = json!({ "limits": { "memory_bytes": 16777216, "deadline_ms": 300, "output_bytes": 4096, "log_bytes": 4096, "max_concurrent_calls": 2 } });
    let tenant = server.admin().ok(Method::PATCH, &format!("/v1/tenants/{}", api.tenant_id), Some(limits)).await;
    assert_eq!(server.admin().ok(Method::GET, &format!("/v1/tenants/{}", api.tenant_id), None).await, tenant);
    let (status, body) = api.upload(&support::participant_bytes("hostile"), &[]).await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::ACCEPTED, Some("ready")), "{body}");
    for (action, limit) in
        [("spin_hostile", "deadline"), ("allocate_hostile", "memory"), ("huge_output_hostile mib: 1", "output")]
    {
        let name = action.split_whitespace().next().unwrap();
        api.push(name, &format!("{action}\n")).await;
        let started = std::time::Instant::now();
        let id = api.launch(name, json!({})).await;
        let job = api.wait_state(&id, &["failed"]).await;
        assert_eq!(job["error"]["kind"], format!("limit:{limit}"), "{job}");
        assert!(job["error"]["message"].as_str().unwrap().contains(limit), "{limit}: {job}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
});

// The command-line client against a real server: push, launch and watch,
// show, upload, set a secret from stdin.
on_both!(the_command_line_client_drives_a_server, |dir, db| {
    let server = Server::start_with(dir, db, &[]).await;
    let api = server.tenant("cli").await;
    let client = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(support::mastermind_bin());
        cmd.args(args).env("MASTERMIND_URL", &server.url).env("MASTERMIND_TOKEN", &api.token).kill_on_drop(true);
        // No stored login (`mastermind login`) of the machine's user is read.
        cmd.env("XDG_CONFIG_HOME", dir.join("config"));
        cmd
    };
    let wasm = dir.join("tester.wasm");
    std::fs::write(&wasm, support::participant_bytes("tester")).unwrap();
    let out = client(&["participants", "upload", wasm.to_str().unwrap()]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = dir.join("greet.mm");
    std::fs::write(&file, "mark_tester name: '${who}'\necho 'hello ${who}'\n").unwrap();
    let out = client(&["definitions", "push", file.to_str().unwrap()]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pushed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pushed["name"], "greet");
    // Launch and watch: progress on stderr, final fields on stdout, exit 0.
    let out = client(&["jobs", "launch", "greet", "--field", "who=world", "--watch"]).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{}", api.ok(Method::GET, "/v1/jobs", None).await);
    // The steps show whether they ran before or after the watch began.
    assert!(stderr.contains("✓ line 1 tester.mark") && stderr.contains("state: completed"), "{stderr}");
    // Each event once, in order.
    assert_eq!(stderr.matches("▶ line 1 tester.mark").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("✓ line 1 tester.mark").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("hello world").count(), 1, "{stderr}");
    assert!(stderr.find("▶ line 1").unwrap() < stderr.find("hello world").unwrap(), "{stderr}");
    let fields: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fields["trail"], json!(["world"]));
    // A failing job: watch exits non-zero.
    let out = client(&["jobs", "launch", "greet", "--watch"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("who"), "{}", String::from_utf8_lossy(&out.stderr));
    let list = api.ok(Method::GET, "/v1/jobs", None).await;
    let id = list["jobs"][1]["id"].as_str().unwrap();
    let out = client(&["jobs", "show", id]).output().await.unwrap();
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["state"], "completed");
    // A secret from stdin, listed by name only.
    let mut child = client(&["secrets", "set", "token"]).stdin(std::process::Stdio::piped()).spawn().unwrap();
    use tokio::io::AsyncWriteExt;
    child.stdin.take().unwrap().write_all(b"from-stdin-value\n").await.unwrap();
    assert!(child.wait().await.unwrap().success());
    let out = client(&["secrets", "list"]).output().await.unwrap();
    let names = String::from_utf8_lossy(&out.stdout);
    assert!(names.contains("token") && !names.contains("from-stdin-value"), "{names}");
    // Errors come back as the server's message, with the caret for a bad definition.
    std::fs::write(&file, "sequence do\n  mark_tester name: 'a',\nend\n").unwrap();
    let out = client(&["definitions", "push", file.to_str().unwrap()]).output().await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains('^') && stderr.contains("422"), "{stderr}");
    // Mistakes in the client's settings are named, with the fix.
    let tried = |url: &str, token: Option<&str>| {
        let mut cmd = tokio::process::Command::new(support::mastermind_bin());
        cmd.args(["jobs", "list"]).env("MASTERMIND_URL", url).env_remove("MASTERMIND_TOKEN").kill_on_drop(true);
        cmd.env("XDG_CONFIG_HOME", dir.join("config"));
        if let Some(token) = token {
            cmd.env("MASTERMIND_TOKEN", token);
        }
        async move {
            let out = cmd.output().await.unwrap();
            assert!(!out.status.success());
            String::from_utf8_lossy(&out.stderr).into_owned()
        }
    };
    let bare = server.url.trim_start_matches("http://").to_owned();
    let no_scheme = tried(&bare, Some(&api.token)).await;
    assert!(no_scheme.contains(&format!("set it to http://{bare}")), "{no_scheme}");
    let no_token = tried(&server.url, None).await;
    assert!(no_token.contains("MASTERMIND_TOKEN is not set"), "{no_token}");
    let wrong_token = tried(&server.url, Some("mm_not_a_token_of_this_server")).await;
    assert!(wrong_token.contains("refused MASTERMIND_TOKEN"), "{wrong_token}");
    let nobody = tried(&format!("http://127.0.0.1:{}", support::free_port()), Some(&api.token)).await;
    assert!(nobody.contains("is `mastermind serve` running there?"), "{nobody}");
    for stderr in [&no_scheme, &no_token, &wrong_token, &nobody] {
        assert_eq!(stderr.lines().filter(|l| l.starts_with("error")).count(), 1, "printed once: {stderr}");
    }
});

/// `mastermind serve` on `db` with MASTERMIND_ADMIN_TOKEN set to `token`,
/// expected to refuse to start: what it printed.
async fn refused_start(db: &str, token: &str) -> String {
    let start = tokio::process::Command::new(support::mastermind_bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{}", support::free_port()), "--db", db])
        .env("MASTERMIND_ADMIN_TOKEN", token)
        .env("MASTERMIND_SECRET_KEY", "c2VjcmV0LWtleS1mb3ItdGhlLWFwaS10ZXN0cy0zMmI=")
        .env("MASTERMIND_CACHE_DIR", std::env::temp_dir().join("mastermind-test-compiled"))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), start).await.expect("it stops").unwrap();
    assert!(!out.status.success(), "started with MASTERMIND_ADMIN_TOKEN={token}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A MASTERMIND_ADMIN_TOKEN that differs from the stored one replaces it and
/// says so (the old one stops working); a replaced (revoked) token is never
/// brought back, a tenant's token is not an admin's, and a short one is
/// refused. Before, setting an old token again silently revived it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_is_replaced_loudly_and_never_revived() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("mastermind.db").display());
    let mut server = Server::start_with(dir.path(), &db, &[]).await;
    let first = server.admin();
    first.ok(Method::GET, "/v1/tenants", None).await;
    let tenant_token = server.tenant("acme").await.token.clone();

    let second = "mm_second_admin_token_0123456789abcdefghijk";
    server.admin_token = second.to_owned();
    server.restart().await;
    assert!(server.logs().contains("differs from the admin token stored"), "{}", server.logs());
    Api::new(&server.url, second).ok(Method::GET, "/v1/tenants", None).await;
    first.fails(Method::GET, "/v1/tenants", None, StatusCode::UNAUTHORIZED).await;
    server.kill().await;

    let revived = refused_start(&db, support::server::ADMIN_TOKEN).await;
    assert!(revived.contains("replaced since"), "{revived}");
    let tenants = refused_start(&db, &tenant_token).await;
    assert!(tenants.contains("a tenant's token"), "{tenants}");
    let short = refused_start(&db, "mm_short_token").await;
    assert!(short.contains("at least 32"), "{short}");

    // The second is still the admin token, and the first still refused.
    server.restart().await;
    Api::new(&server.url, second).ok(Method::GET, "/v1/tenants", None).await;
    first.fails(Method::GET, "/v1/tenants", None, StatusCode::UNAUTHORIZED).await;
}

/// Without MASTERMIND_ADMIN_TOKEN the first start makes an admin token and
/// prints it once; a restart does not print it again and it still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_prints_a_generated_admin_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("mastermind.db").display());
    let mut server = Server::start_with(dir.path(), &db, &["--generated-admin-token-for-tests"]).await;
    let printed: Vec<String> = server
        .logs()
        .lines()
        .filter_map(|l| l.split("admin token (shown once, keep it): ").nth(1))
        .map(str::to_owned)
        .collect();
    assert_eq!(printed.len(), 1, "{}", server.logs());
    let admin = Api::new(&server.url, &printed[0]);
    admin.ok(Method::GET, "/v1/tenants", None).await;
    server.restart().await;
    let again = server.logs().lines().filter(|l| l.contains("admin token (shown once")).count();
    assert_eq!(again, 1, "printed again after a restart");
    admin.ok(Method::GET, "/v1/tenants", None).await;
    // Stored hashed only.
    let bytes = std::fs::read(dir.path().join("mastermind.db")).unwrap();
    let wal = std::fs::read(dir.path().join("mastermind.db-wal")).unwrap_or_default();
    for b in [bytes, wal] {
        assert!(!b.windows(printed[0].len()).any(|w| w == printed[0].as_bytes()), "the token is stored in clear");
    }
}
