//! `run_ssh_multi hosts: ['deploy@web1', 'web2:2222'], user: 'deploy',
//! command: 'uptime'`: one command on many hosts, `concurrency` at a time.
//! Every host gets its own result; the step fails if any host failed
//! unless `allow_failures` is set. The host process holds the key.

use mastermind_sdk::prelude::*;
use mastermind_sdk::ssh::{self, Exec};

struct SshMulti;

/// One host of the `hosts` param, as the step wrote it.
struct Host {
    host: String,
    port: u16,
    user: String,
}

impl Participant for SshMulti {
    fn describe() -> Description {
        Description::new("ssh_multi", "Runs a command on many hosts over SSH").action(
            Action::new("run", "Runs `command` on every host; sets results and failed_hosts")
                .required(
                    "hosts",
                    Kind::Array,
                    "'user@host:port' strings (user and port optional) or {host, port, user} objects",
                )
                .required("command", Kind::String, "the command line, run by each user's login shell")
                .optional("user", Kind::String, "the user for hosts that name none")
                .optional("port", Kind::Integer, "the port for hosts that name none (default 22)")
                .optional("key", Kind::String, "name of the secret holding the private key (default ssh_key)")
                .optional("stdin", Kind::String, "text sent to each command's standard input")
                .optional("concurrency", Kind::Integer, "how many hosts run at once (default 10, 0: all)")
                .optional(
                    "timeout",
                    Kind::Any,
                    "per host: seconds or a duration such as '90s' (default: the step's deadline)",
                )
                .optional("host_keys", Kind::Object, "pinned fingerprints: {'host' or 'host:port' => 'SHA256:...'}")
                .optional("allow_failures", Kind::Boolean, "succeed even when some hosts fail"),
        )
    }

    fn invoke(call: Call) -> Result<Fields> {
        let entries: Vec<Value> = call.param("hosts")?;
        let command: String = call.param("command")?;
        let default_user: Option<String> = call.optional("user")?;
        let default_port: i64 = call.optional("port")?.unwrap_or(22);
        let key: String = call.optional("key")?.unwrap_or_else(|| "ssh_key".to_owned());
        let stdin: Option<String> = call.optional("stdin")?;
        let concurrency: i64 = call.optional("concurrency")?.unwrap_or(10);
        let host_keys: Map = call.optional("host_keys")?.unwrap_or_default();
        let allow_failures: bool = call.optional("allow_failures")?.unwrap_or(false);

        let mut problems = Vec::new();
        let default_port = u16::try_from(default_port).ok().filter(|p| *p > 0).unwrap_or_else(|| {
            problems.push(format!("port {default_port} is not a TCP port (1-65535)"));
            22
        });
        if entries.is_empty() {
            problems.push("hosts is empty".to_owned());
        }
        let mut hosts = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match parse_host(entry, default_user.as_deref(), default_port) {
                Ok(h) => hosts.push(h),
                Err(e) => problems.push(format!("hosts[{i}]: {e}")),
            }
        }
        if command.trim().is_empty() {
            problems.push("command is empty".to_owned());
        }
        if key.trim().is_empty() {
            problems.push("key (the secret's name) is empty".to_owned());
        }
        let concurrency = u32::try_from(concurrency).unwrap_or_else(|_| {
            problems.push(format!("concurrency {concurrency} must be 0 (all at once) or more"));
            0
        });
        for (host, fp) in &host_keys {
            match fp.as_str() {
                Some(fp) if ssh::is_fingerprint(fp) => {}
                _ => problems.push(format!(
                    "host_keys['{host}'] must be a fingerprint like SHA256:<43 base64 characters>, got {fp}"
                )),
            }
        }
        let timeout = call.duration("timeout").unwrap_or_else(|e| {
            problems.push(e.message);
            None
        });
        if !problems.is_empty() {
            return Err(Error::bad_input(format!("run_ssh_multi: {}", problems.join("; "))));
        }

        let mut exec = Exec::new(&command, &key).concurrency(concurrency);
        for h in &hosts {
            exec = exec.target(&h.host, h.port, &h.user);
        }
        for (host, fp) in &host_keys {
            exec = exec.host_key(host, fp.as_str().unwrap_or_default());
        }
        if let Some(input) = &stdin {
            exec = exec.stdin(input);
        }
        if let Some(t) = timeout {
            exec = exec.timeout(t);
        }
        log::info(&format!(
            "running on {} hosts, {} at a time",
            hosts.len(),
            if concurrency == 0 { hosts.len() } else { concurrency as usize }
        ));
        let outcomes = exec.run()?;

        let (mut results, mut failed_hosts, mut failures) = (Vec::new(), Vec::new(), Vec::new());
        let mut all_retryable = true;
        for (h, outcome) in hosts.iter().zip(outcomes) {
            let label = format!("{}@{}:{}", h.user, h.host, h.port);
            let (stdout, stderr, exit_status, error) = match outcome {
                Ok(out) => {
                    let error = match (&out.exit_status, &out.exit_signal) {
                        (None, Some(signal)) => Some(format!("killed by signal {signal}")),
                        _ => None,
                    };
                    if out.exit_status != Some(0) {
                        all_retryable = false;
                        let status = error
                            .clone()
                            .unwrap_or_else(|| format!("exit status {}", out.exit_status.unwrap_or_default()));
                        failures.push(format!("{label}: {status}: {}", ssh::tail(&out.stderr, 3, 200)));
                    }
                    (out.stdout, out.stderr, out.exit_status, error)
                }
                Err(e) => {
                    all_retryable &= e.kind == ErrorKind::Retryable;
                    failures.push(e.message.trim_start_matches("ssh: ").to_owned());
                    (String::new(), String::new(), None, Some(e.message))
                }
            };
            if exit_status != Some(0) {
                failed_hosts.push(json!(label));
            }
            results.push(json!({
                "host": h.host, "port": h.port, "user": h.user,
                "stdout": stdout, "stderr": stderr, "exit_status": exit_status, "error": error,
            }));
        }
        log::info(&format!("{} of {} hosts succeeded", hosts.len() - failed_hosts.len(), hosts.len()));
        if !failures.is_empty() && !allow_failures {
            let message = format!(
                "ssh_multi: {} of {} hosts failed: {} (set allow_failures: true to continue anyway)",
                failures.len(),
                hosts.len(),
                failures.join("; ")
            );
            return Err(if all_retryable { Error::retryable(message) } else { Error::fatal(message) });
        }
        Ok(fields! { "results" => results, "failed_hosts" => failed_hosts })
    }
}

type Map = mastermind_sdk::serde_json::Map<String, Value>;

fn parse_host(entry: &Value, default_user: Option<&str>, default_port: u16) -> std::result::Result<Host, String> {
    let (user, host, port) = match entry {
        Value::String(spec) => ssh::parse_target(spec)?,
        Value::Object(map) => {
            if let Some(unknown) = map.keys().find(|k| !matches!(k.as_str(), "host" | "port" | "user")) {
                return Err(format!("unknown key '{unknown}' (known: host, port, user)"));
            }
            let host = map.get("host").and_then(Value::as_str).ok_or("needs a 'host' string")?;
            ssh::check_host(host)?;
            let port = match map.get("port") {
                None | Some(Value::Null) => None,
                Some(p) => Some(
                    p.as_u64()
                        .and_then(|p| u16::try_from(p).ok())
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("port {p} is not a TCP port"))?,
                ),
            };
            let user = match map.get("user") {
                None | Some(Value::Null) => None,
                Some(Value::String(u)) => Some(u.clone()),
                Some(other) => return Err(format!("user must be a string, got {other}")),
            };
            (user, host.trim_start_matches('[').trim_end_matches(']').to_owned(), port)
        }
        other => return Err(format!("expected 'user@host:port' or {{host, port, user}}, got {other}")),
    };
    let user = user
        .or_else(|| default_user.map(str::to_owned))
        .ok_or_else(|| format!("{host} names no user and no `user` param is given"))?;
    if user.trim().is_empty() || user.contains(char::is_whitespace) {
        return Err(format!("user '{user}' must be a plain user name"));
    }
    Ok(Host { host, port: port.unwrap_or(default_port), user })
}

mastermind_sdk::export!(SshMulti);
