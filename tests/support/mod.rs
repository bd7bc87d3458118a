//! Helpers shared by the integration tests: the built test participants
//! and a real HTTP receiver on loopback.
#![allow(dead_code)]

pub mod engine;
pub mod moto;
pub mod polyglot;
pub mod server;
pub mod sshd;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The bytes of a participant built from `plugins/NAME` or
/// `tests/participants/NAME` by the host's build script.
pub fn participant_bytes(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("MASTERMIND_PARTICIPANTS_DIR")).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `mastermind` binary the tests run: this checkout's build, or
/// MASTERMIND_TEST_BIN (checkouts sharing a target directory share its
/// `debug/mastermind` too, which is whichever built last).
pub fn mastermind_bin() -> String {
    std::env::var("MASTERMIND_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_mastermind").to_owned())
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that records every request and
/// answers 200 with the request's head as the body (so a test can see what
/// was sent, headers included).
pub struct HttpReceiver {
    pub port: u16,
    requests: Arc<Mutex<Vec<(Instant, String)>>>,
    connections: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpReceiver {
    pub async fn start() -> Self {
        Self::start_answering(Duration::ZERO, |_| 200).await
    }

    /// The same, answering each request (head and body) `delay` after it
    /// was read, with the status `answer` gives it (e.g. 503 to make a
    /// step retry).
    pub async fn start_answering(delay: Duration, answer: impl Fn(&str) -> u16 + Send + Sync + 'static) -> Self {
        let answer = Arc::new(answer);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (reqs, conns) = (requests.clone(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                *conns.lock().unwrap() += 1;
                let (reqs, answer) = (reqs.clone(), answer.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
                    let request = format!("{head}{body}");
                    let status = answer(&request);
                    reqs.lock().unwrap().push((Instant::now(), request));
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason());
                    let reply = format!(
                        "HTTP/1.1 {status} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
                        reason.unwrap_or("Status"),
                        head.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        HttpReceiver { port, requests, connections, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request received so far: head and body.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().iter().map(|(_, r)| r.clone()).collect()
    }

    /// Every request received so far, with when it was read in full.
    pub fn requests_timed(&self) -> Vec<(Instant, String)> {
        self.requests.lock().unwrap().clone()
    }

    /// TCP connections accepted so far, whether or not a request followed.
    pub fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
