//! Uploads compile off the request path (issue 14), against a real
//! `mastermind serve`: an upload answers `compiling` at once and ends
//! `ready` or `failed` with the load error; a server killed while uploads
//! compile resumes them when it starts again; a tenant's own limit on core
//! instances per component refuses an upload over it, naming it.

mod support;

use mastermind::store::{Store, UploadRecord};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::server::Server;

/// A component that exports `describe` and `invoke`, but of the wrong
/// types: it passes the quick checks and is refused once compiled.
const WRONG_TYPES: &str = r#"(component
    (core module $m (func (export "f")))
    (core instance $i (instantiate $m))
    (func $f (canon lift (core func $i "f")))
    (export "describe" (func $f))
    (export "invoke" (func $f)))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_reports_compiling_then_ready_and_its_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let api = server.tenant("acme").await;
    let (status, accepted) = api.upload_raw(&support::participant_bytes("tester"), &[], Some("tester")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!((accepted["state"].as_str(), accepted["name"].as_str()), (Some("compiling"), Some("tester")));
    assert!(accepted["description"].is_null() && accepted["version"].is_null(), "{accepted}");
    let shown = api.ok(Method::GET, "/v1/participants/tester", None).await;
    assert!(["compiling", "ready"].contains(&shown["state"].as_str().unwrap()), "{shown}");

    let ready = api.wait_upload(&accepted).await;
    assert_eq!((ready["state"].as_str(), ready["version"].as_i64()), (Some("ready"), Some(1)), "{ready}");
    assert!(ready["description"]["actions"].as_array().unwrap().iter().any(|a| a["name"] == "mark"), "{ready}");
    let list = api.ok(Method::GET, "/v1/participants", None).await;
    let entry = list.as_array().unwrap().iter().find(|p| p["name"] == "tester").unwrap_or_else(|| panic!("{list}"));
    assert_eq!((entry["state"].as_str(), entry["error"].is_null()), (Some("ready"), true), "{entry}");

    api.push("flow", "mark_tester name: 'x'\n").await;
    let id = api.launch("flow", json!({})).await;
    let job = api.wait_state(&id, &["completed", "failed"]).await;
    assert_eq!(job["state"], "completed", "{job}");
    assert_eq!(job["fields"]["trail"], json!(["x"]), "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_does_not_load_ends_failed_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let api = server.tenant("acme").await;
    let (status, failed) = api.upload(&wat::parse_str(WRONG_TYPES).unwrap(), &[]).await;
    assert_eq!((status, failed["state"].as_str()), (StatusCode::ACCEPTED, Some("failed")), "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.starts_with("component refused: component does not implement the participant world"), "{error}");
    // Listed with its error (it has no name: it never described itself),
    // and nothing of it runs.
    let list = api.ok(Method::GET, "/v1/participants", None).await;
    let entry = list.as_array().unwrap().iter().find(|p| p["upload"] == failed["upload"]).expect("listed");
    assert_eq!((entry["state"].as_str(), entry["error"].as_str()), (Some("failed"), Some(error)), "{entry}");

    // Named, its failure is the name's state; a later good upload is ready.
    let (_, failed) = api.upload_raw(&wat::parse_str(WRONG_TYPES).unwrap(), &[], Some("tester")).await;
    let failed = api.wait_upload(&failed).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let shown = api.ok(Method::GET, "/v1/participants/tester", None).await;
    assert_eq!((shown["state"].as_str(), shown["error"].as_str()), (Some("failed"), failed["error"].as_str()));
    let (_, ready) = api.upload(&support::participant_bytes("tester"), &[]).await;
    assert_eq!(ready["state"], "ready", "{ready}");
    assert_eq!(api.ok(Method::GET, "/v1/participants/tester", None).await["state"], "ready");

    // A component that calls itself otherwise than the name it was sent under.
    let (_, renamed) = api.upload_raw(&support::participant_bytes("tester"), &[], Some("other")).await;
    let renamed = api.wait_upload(&renamed).await;
    assert_eq!(renamed["state"], "failed", "{renamed}");
    assert!(renamed["error"].as_str().unwrap().contains("describes itself as 'tester', not 'other'"), "{renamed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_left_compiling_by_a_killed_server_are_compiled_when_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let api = server.tenant("acme").await;
    // Killed right after these are accepted: however far the queue got
    // (one compile at a time, the default), none is lost or made twice.
    let mut accepted = Vec::new();
    for name in ["tester", "hostile", "tester"] {
        let (status, body) = api.upload_raw(&support::participant_bytes(name), &[], Some(name)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        accepted.push(body);
    }
    server.kill().await;
    // One more left `compiling` as a server killed mid-compile leaves it,
    // written while no server runs: whatever the timing above, the next
    // start has at least this one to resume.
    let store = Store::open(&server.db).await.unwrap();
    let left = UploadRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: api.tenant_id.clone(),
        name: Some("hostile".into()),
        sha256: mastermind::sandbox::digest(&support::participant_bytes("hostile")),
        grants: Vec::new(),
        state: "compiling".into(),
        error: None,
        version: None,
        created_at: mastermind::store::now_ms(),
        finished_at: None,
    };
    store.catalogue().insert_upload(&left, &support::participant_bytes("hostile")).await.unwrap();
    store.close().await;
    accepted.push(json!({ "upload": left.id }));

    server.spawn().await;
    // Printed before it listens; read from its pipe by another task.
    for _ in 0..100 {
        if server.logs().contains("left compiling when the server stopped") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(server.logs().contains("left compiling when the server stopped"), "{}", server.logs());
    let mut versions = Vec::new();
    for upload in &accepted {
        let done = api.wait_upload(upload).await;
        assert_eq!(done["state"], "ready", "{done}");
        versions.push((done["name"].as_str().unwrap().to_owned(), done["version"].as_i64().unwrap()));
    }
    versions.sort();
    let expected = [("hostile", 1), ("hostile", 2), ("tester", 1), ("tester", 2)].map(|(n, v)| (n.to_owned(), v));
    assert_eq!(versions, expected);
    api.push("flow", "mark_tester name: 'after'\n").await;
    let id = api.launch("flow", json!({})).await;
    assert_eq!(api.wait_state(&id, &["completed", "failed"]).await["state"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_limit_on_core_instances_refuses_an_upload_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("mastermind.db").display());
    let server = Server::start_with(dir.path(), &db, &["--max-core-instances-per-component", "20"]).await;
    let api = server.tenant("acme").await;
    let admin = server.admin();
    let tenant = format!("/v1/tenants/{}", api.tenant_id);
    let mut limits = admin.ok(Method::GET, &tenant, None).await["limits"].clone();
    assert!(limits["max_core_instances_per_component"].is_null(), "the server's holds: {limits}");

    // Not above the server's.
    limits["max_core_instances_per_component"] = json!(21);
    let error = admin.fails(Method::PATCH, &tenant, Some(json!({ "limits": limits })), StatusCode::BAD_REQUEST).await;
    assert!(error["message"].as_str().unwrap().contains("between 1 and 20"), "{error}");

    limits["max_core_instances_per_component"] = json!(1);
    admin.ok(Method::PATCH, &tenant, Some(json!({ "limits": limits }))).await;
    let (status, body) = api.upload(&support::participant_bytes("tester"), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("over this tenant's limit of 1 per component"), "{message}");
    assert!(message.contains("max_core_instances_per_component"), "{message}");
    // Another tenant, at the server's limit, uploads it.
    let other = server.tenant("other").await;
    let (_, ready) = other.upload(&support::participant_bytes("tester"), &[]).await;
    assert_eq!(ready["state"], "ready", "{ready}");
    // Raised again, the tenant uploads it too.
    limits["max_core_instances_per_component"] = json!(20);
    admin.ok(Method::PATCH, &tenant, Some(json!({ "limits": limits }))).await;
    let (_, ready) = api.upload(&support::participant_bytes("tester"), &[]).await;
    assert_eq!(ready["state"], "ready", "{ready}");
}
