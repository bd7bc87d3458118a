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
            .action(
                url(Action::new("http", "Sends `method` to `url`, with secrets used as asked; returns `echo` too"))
                    .optional("method", Kind::String, "the method (GET)")
                    .optional("header_secret", Kind::Array, "[name, prefix, secret]: a header from a secret")
                    .optional("basic_secret", Kind::Array, "[user, secret]: HTTP Basic with a secret password")
                    .optional("url_secret", Kind::String, "a secret filling the URL's {secret:NAME}")
                    .optional("echo", Kind::Any, "returned as is in the `echo` field"),
            )
            .action(
                Action::new("chef_get", "GETs `path` from the Chef server `server_url`, signed with secret `key`")
                    .required("server_url", Kind::String, "the Chef server")
                    .required("path", Kind::String, "the API path")
                    .required("key", Kind::String, "the client key's secret"),
            )
            .action(
                Action::new("ec2_describe", "Describes the instances of `region`")
                    .required("region", Kind::String, "the region")
                    .required("credentials", Kind::String, "the credentials' secret"),
            )
            .action(
                Action::new("ssh_fanout", "Runs `true` on `count` copies of one target")
                    .required("host", Kind::String, "the host")
                    .required("port", Kind::Integer, "the port")
                    .required("count", Kind::Integer, "how many targets")
                    .required("key", Kind::String, "the key's secret")
                    .optional("timeout_ms", Kind::Integer, "per target"),
            )
            .action(Action::new("fail_with", "Fails with a message of `kib` KiB").required(
                "kib",
                Kind::Integer,
                "size",
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
            "http" => http(&call),
            "chef_get" => {
                let server = mastermind_sdk::chef::Server::new(
                    &call.param::<String>("server_url")?,
                    "hostile",
                    &call.param::<String>("key")?,
                );
                let response = server.send("GET", &call.param::<String>("path")?, None)?;
                Ok(fields! { "status" => response.status, "body" => response.body })
            }
            "ec2_describe" => {
                let region: String = call.param("region")?;
                let found =
                    mastermind_sdk::ec2::describe_instances(&call.param::<String>("credentials")?, &region, &[], &[])
                        .map_err(Error::from)?;
                Ok(fields! { "instances" => found.len() })
            }
            "ssh_fanout" => {
                let host: String = call.param("host")?;
                let port: u16 = call.param("port")?;
                let mut exec = mastermind_sdk::ssh::Exec::new("true", &call.param::<String>("key")?);
                for _ in 0..call.param::<usize>("count")? {
                    exec = exec.target(&host, port, "hostile");
                }
                if let Some(ms) = call.optional::<u64>("timeout_ms")? {
                    exec = exec.timeout(std::time::Duration::from_millis(ms));
                }
                let results = exec.run()?;
                let failed = results.iter().filter(|r| r.is_err()).count();
                Ok(fields! { "targets" => results.len(), "failed" => failed })
            }
            "fail_with" => Err(Error::fatal("e".repeat(call.param::<usize>("kib")? << 10))),
            other => Err(Error::bad_input(format!("unknown action {other}"))),
        }
    }
}

/// One HTTP request using secrets the ways the host offers.
fn http(call: &Call) -> Result<Fields> {
    let method = call.optional::<String>("method")?.unwrap_or_else(|| "GET".into());
    let mut request = Request::new(&method, &call.param::<String>("url")?);
    if let Some([name, prefix, secret]) = call.optional::<[String; 3]>("header_secret")? {
        request = request.secret_header(&name, &prefix, &secret);
    }
    if let Some([user, secret]) = call.optional::<[String; 2]>("basic_secret")? {
        request = request.basic_auth_secret_password(&user, &secret);
    }
    if let Some(name) = call.optional::<String>("url_secret")? {
        request = request.url_secret(&name);
    }
    let response = request.send()?;
    let echo = call.optional::<Value>("echo")?.unwrap_or(Value::Null);
    Ok(fields! { "status" => response.status, "body" => response.text(), "echo" => echo })
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
