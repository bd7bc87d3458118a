//! The console in a real browser: Debian's Chromium, driven by
//! playwright-core (`tests/console/console.test.mjs`, run with Node's test
//! runner), against a real `mastermind serve` started here with no
//! configuration, as a first-time user would: its first-start output gives
//! the sign-in link and the tenant token the browser uses.
//!
//! `tests/run` installs Chromium and playwright-core. Set
//! MASTERMIND_CONSOLE_SCREENSHOTS=DIR to keep the screenshots (README's
//! come from here).

mod support;

use std::path::Path;
use std::time::Duration;
use support::server::{PUBLIC_ONLY, Server};

/// The first value printed after `prefix` on a line of the server's output.
async fn printed(server: &Server, prefix: &str) -> Option<String> {
    for _ in 0..100 {
        let logs = server.logs();
        if let Some(value) = logs.lines().find_map(|l| l.split(prefix).nth(1)) {
            return Some(value.trim().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("mastermind.db").display());
    let mut server = Server::start_with(dir.path(), &db, &["--generated-admin-token-for-tests", PUBLIC_ONLY]).await;
    let signin = printed(&server, "sign in to the console (the link works once, for 24 hours): ").await;
    let token = printed(&server, "tenant 'default' token, admin scope (shown once, keep it): ").await;
    let (Some(signin), Some(token)) = (signin, token) else {
        panic!("the first start printed no sign-in link or token:\n{}", server.logs());
    };
    assert!(signin.starts_with(&format!("{}/#/signin/mm_", server.url)), "{signin}");
    assert!(server.logs().contains(&format!("the console is at {}/", server.url)), "{}", server.logs());

    let wasm = dir.path().join("tester.wasm");
    std::fs::write(&wasm, support::participant_bytes("tester")).unwrap();
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/console");
    let mut node = tokio::process::Command::new("node");
    node.arg("--test")
        .arg("--test-concurrency=1")
        .arg(tests.join("console.test.mjs"))
        .env("MM_URL", &server.url)
        .env("MM_SIGNIN_URL", &signin)
        .env("MM_TOKEN", &token)
        .env("MM_WASM", &wasm)
        .current_dir(&tests)
        .kill_on_drop(true);
    if let Ok(shots) = std::env::var("MASTERMIND_CONSOLE_SCREENSHOTS") {
        node.env("MM_SCREENSHOTS", shots);
    }
    let run = tokio::time::timeout(Duration::from_secs(300), node.output())
        .await
        .expect("the browser tests took over 5 minutes")
        .expect("running node (tests/run installs it, with Chromium and playwright-core)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "browser tests failed:\n{stdout}\n{stderr}\nserver:\n{}", server.logs());
    assert!(stdout.contains("# fail 0"), "{stdout}");

    // A restart prints no secret again.
    let before = server.logs().matches("shown once").count();
    server.restart().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.logs().matches("shown once").count(), before, "{}", server.logs());
    assert_eq!(server.logs().matches("sign in to the console").count(), 1, "{}", server.logs());
}
