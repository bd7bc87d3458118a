//! `mastermind run` and `check` with the author's own participants
//! (`--participant PATH.wasm` or a directory, `--grant NAME:SPEC`): the
//! same sandbox, limits and deny-by-default grants as on a server.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Output;
use support::HttpReceiver;

async fn mastermind(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(support::mastermind_bin())
        .args(args)
        .env("MASTERMIND_CACHE_DIR", std::env::temp_dir().join("mastermind-test-compiled"))
        .env("MASTERMIND_DB", format!("sqlite:{}", dir.join("mm.db").display()))
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A directory holding the named test participants, and a definition.
fn workspace(participants: &[&str], definition: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("participants")).unwrap();
    for name in participants {
        std::fs::write(dir.path().join(format!("participants/{name}.wasm")), support::participant_bytes(name)).unwrap();
    }
    std::fs::write(dir.path().join("flow.mm"), definition).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_with_your_own_participant_runs_locally() {
    let dir = workspace(
        &["tester"],
        "sequence do\n  set_tester greeting: 'hi ${who}'\n  echo_echo message: '${greeting}'\nend\n",
    );
    let (d, flow) = (dir.path(), dir.path().join("flow.mm"));
    let flow = flow.to_str().unwrap();
    let wasm = d.join("participants/tester.wasm");
    let wasm = wasm.to_str().unwrap();

    // Without it, the step names an unknown participant: the definition is invalid (2).
    let out = mastermind(d, &["run", flow, "--field", "who=there"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("tester"), "{}", text(&out.stderr));

    // A file, then a directory.
    for given in [wasm, d.join("participants").to_str().unwrap()] {
        let out = mastermind(d, &["run", flow, "--field", "who=there", "--participant", given]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let fields: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(fields["greeting"], "hi there");
        assert_eq!(fields["echo"], "hi there");
    }

    // check knows it too.
    let out = mastermind(d, &["check", flow, "--participant", wasm]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mastermind(d, &["check", flow]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn your_own_participant_gets_only_the_grants_given() {
    let receiver = HttpReceiver::start().await;
    let url = receiver.url("/ping");
    let dir = workspace(&["hostile"], &format!("http_get_hostile url: '{url}'\n"));
    let (d, flow) = (dir.path(), dir.path().join("flow.mm"));
    let (flow, wasm) = (flow.to_str().unwrap(), d.join("participants/hostile.wasm"));
    let wasm = wasm.to_str().unwrap();

    let out = mastermind(d, &["run", flow, "--participant", wasm]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("denied"), "{}", text(&out.stderr));
    assert_eq!(receiver.requests().len(), 0, "an ungranted call went out");

    let host = url.trim_start_matches("http://").split('/').next().unwrap().to_owned();
    let grant = format!("hostile:http={host}");
    let out = mastermind(d, &["run", flow, "--participant", wasm, "--grant", &grant]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(receiver.requests().len(), 1);

    // A grant for no participant, and a component named like a built-in, are refused.
    let out = mastermind(d, &["run", flow, "--participant", wasm, "--grant", "nobody:http=example.com"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("nobody"), "{}", text(&out.stderr));
    std::fs::write(d.join("echo.wasm"), support::participant_bytes("echo")).unwrap();
    let out = mastermind(d, &["run", flow, "--participant", d.join("echo.wasm").to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("built in"), "{}", text(&out.stderr));
}
