//! Issue 14: a participant's own HTTP client — JavaScript's `fetch`,
//! Python's wasi:http calls — goes out through wasi:http, which the host
//! sends as its http capability, under the same grants and checks.

mod support;

use support::HttpReceiver;
use support::polyglot::{Lang, build, json_out, mastermind, text};

/// A hostile participant's own HTTP client (wasi:http) gets no further
/// than the contract's: an ungranted host is refused before any packet, and
/// the call fails as `denied`, whatever the participant made of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_participant_posting_to_an_ungranted_host_is_denied() {
    let wasm = tokio::task::spawn_blocking(|| build(Lang::Js, "hostile")).await.unwrap();
    let receiver = HttpReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("url={}", receiver.url("/collect"));
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || mastermind(&dir, &["participant", "invoke", wasm.to_str().unwrap(), "exfiltrate", "-p", &url])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error: denied: http: 127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("the participant then failed: could not post"), "{stderr}");
    assert_eq!(receiver.connections(), 0);
}

/// A participant's own HTTP client (JavaScript's `fetch`, Python's
/// wasi:http calls) goes out through wasi:http, which the host sends as its
/// http capability: only to a granted host, the secret filled in by the
/// host from `{secret:NAME}` and redacted from what comes back.
async fn wasi_http_is_sent_under_the_http_grants(lang: Lang) {
    let wasm = tokio::task::spawn_blocking(move || build(lang, "fetcher")).await.unwrap();
    let wasm = wasm.to_str().unwrap().to_owned();
    let receiver = HttpReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let grant = format!("http=127.0.0.1:{}", receiver.port);
    let invoke = |args: Vec<String>| {
        let dir = dir.path().to_owned();
        let wasm = wasm.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut all = vec!["participant".to_owned(), "invoke".into(), wasm];
                all.extend(args);
                mastermind(&dir, &all.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .await
            .unwrap()
        }
    };
    let secret_url = receiver.url("/v1/ping?key=%7Bsecret:token%7D");
    let granted = |action: &str, extra: &[&str]| {
        let mut args: Vec<String> =
            [action, "--grant", &grant, "--grant", "secret=token", "--secret", "token=s3cr3t-t0ken"]
                .into_iter()
                .map(str::to_owned)
                .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };

    let out = invoke(granted("get", &["-p", &format!("url={secret_url}"), "-p", "token_secret=token"])).await;
    let fields = json_out(&out);
    assert_eq!(fields["status"], 200, "{fields}");
    // The receiver echoes the request's head: the host filled in the secret
    // (URL and header) and the participant got it back redacted.
    let echoed = fields["body"].as_str().unwrap();
    assert!(echoed.starts_with("GET /v1/ping?key=[REDACTED] HTTP/1.1"), "{echoed}");
    assert!(echoed.to_ascii_lowercase().contains("authorization: bearer [redacted]"), "{echoed}");
    assert!(!fields.to_string().contains("s3cr3t-t0ken"), "{fields}");
    let seen = receiver.requests();
    assert!(seen[0].starts_with("GET /v1/ping?key=s3cr3t-t0ken HTTP/1.1"), "{seen:?}");
    assert!(seen[0].to_ascii_lowercase().contains("authorization: bearer s3cr3t-t0ken"), "{seen:?}");

    if let Lang::Js = lang {
        // A body goes out whole.
        let url = format!("url={}", receiver.url("/v1/items"));
        let fields = json_out(&invoke(granted("post", &["-p", &url, "-p", r#"payload:={"n":[1,2,3]}"#])).await);
        assert_eq!(fields["status"], 200, "{fields}");
        assert!(receiver.requests()[1].ends_with(r#"{"n":[1,2,3]}"#), "{:?}", receiver.requests());
    }

    // Not granted: nothing leaves, and the call fails as the refusal (the
    // participant saw only a failed request and said `retryable` or `fatal`).
    let connections = receiver.connections();
    let out = invoke(vec!["get".into(), "-p".into(), format!("url={}", receiver.url("/v1/ping"))]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "error: denied: http: 127.0.0.1:{0} is not granted to this participant (grant it with http=127.0.0.1:{0}); \
             the participant then failed: fetch",
            receiver.port
        )),
        "{stderr}"
    );
    // A secret it was not granted is refused the same way.
    let args = vec!["get".into(), "--grant".into(), grant.clone(), "-p".into(), format!("url={secret_url}")];
    let stderr = text(&invoke(args).await.stderr);
    assert!(stderr.contains("error: denied: http: secret 'token' is not granted"), "{stderr}");
    assert_eq!(receiver.connections(), connections, "a refused request reached the receiver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_fetch_is_sent_under_the_http_grants() {
    wasi_http_is_sent_under_the_http_grants(Lang::Js).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_wasi_http_requests_are_sent_under_the_http_grants() {
    wasi_http_is_sent_under_the_http_grants(Lang::Python).await;
}
