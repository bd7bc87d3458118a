//! Test participant that misbehaves on purpose, one action per limit or
//! denial the sandbox must enforce. Never grant it anything in production.

use mastermind_sdk::http::Request;
use mastermind_sdk::prelude::*;
use std::hint::black_box;

struct Hostile;

impl Participant for Hostile {
    fn describe() -> Description {
        let url = |a: Action| a.required("url", Kind::String, "target URL");
        Description::new("hostile", "Tries to escape or exhaust the sandbox")
            .action(Action::new("spin", "Loops forever"))
            .action(Action::new("allocate", "Allocates memory until it fails"))
            .action(Action::new("recurse", "Recurses without end"))
            .action(Action::new("huge_output", "Returns a field of `mib` MiB").required("mib", Kind::Integer, "size"))
            .action(Action::new("log_flood", "Logs without end"))
            .action(Action::new("panic", "Panics"))
            .action(url(Action::new("http_get", "GETs `url`")))
            .action(url(Action::new("http_with_secret", "GETs `url` with secret `secret` as a bearer token")).required(
                "secret",
                Kind::String,
                "secret name",
            ))
            .action(Action::new("read_file", "Reads `path` through WASI").required("path", Kind::String, "file"))
            .action(Action::new("environment", "Returns the WASI environment and args"))
            .action(Action::new("tcp_connect", "Opens a TCP socket to `addr`").required(
                "addr",
                Kind::String,
                "host:port",
            ))
    }

    fn invoke(call: Call) -> Result<Fields> {
        match call.action.as_str() {
            "spin" => {
                let mut i: u64 = 0;
                loop {
                    i = black_box(i.wrapping_add(1));
                }
            }
            "allocate" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            "recurse" => Ok(fields! { "depth" => recurse(black_box(0)) }),
            "huge_output" => {
                let mib: usize = call.param("mib")?;
                Ok(fields! { "blob" => "x".repeat(mib << 20) })
            }
            "log_flood" => loop {
                log::info(&"flood ".repeat(100));
            },
            "panic" => panic!("hostile participant panicked on purpose"),
            "http_get" => {
                let response = Request::get(&call.param::<String>("url")?).send()?;
                Ok(fields! { "status" => response.status, "body" => response.text() })
            }
            "http_with_secret" => {
                let url: String = call.param("url")?;
                let response = Request::get(&url).bearer_secret(&call.param::<String>("secret")?).send()?;
                Ok(fields! { "status" => response.status, "body" => response.text() })
            }
            "read_file" => {
                let path: String = call.param("path")?;
                match std::fs::read_to_string(&path) {
                    Ok(content) => Ok(fields! { "content" => content }),
                    Err(e) => Err(Error::denied(format!("read {path}: {e}"))),
                }
            }
            "environment" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                let args: Vec<String> = std::env::args().collect();
                let cwd = std::env::current_dir().map(|p| p.display().to_string()).ok();
                Ok(fields! { "vars" => vars, "args" => args, "cwd" => cwd })
            }
            "tcp_connect" => {
                let addr: String = call.param("addr")?;
                match std::net::TcpStream::connect(addr.as_str()) {
                    Ok(_) => Ok(fields! { "connected" => true }),
                    Err(e) => Err(Error::denied(format!("connect {addr}: {e}"))),
                }
            }
            other => Err(Error::bad_input(format!("unknown action {other}"))),
        }
    }
}

/// Plain non-tail recursion on scalars: it lives on the wasm stack (not the
/// shadow stack in linear memory), so only the host's stack limit stops it.
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let below = recurse(depth + 1);
    below.rotate_left(3) ^ depth.wrapping_mul(0x9e37_79b9)
}

mastermind_sdk::export!(Hostile);
