//! `run_ssh host: 'web1', user: 'deploy', command: 'uptime'`: one command
//! on one host. The host process holds the private key (the `key` secret)
//! and checks the host key; this component only says what to run where.

use mastermind_sdk::prelude::*;
use mastermind_sdk::ssh::{self, Exec};

struct Ssh;

impl Participant for Ssh {
    fn describe() -> Description {
        Description::new("ssh", "Runs a command on one host over SSH").action(
            Action::new("run", "Runs `command` on `host` as `user`; sets stdout, stderr and exit_status")
                .required("host", Kind::String, "host name or address")
                .required("user", Kind::String, "the remote user to log in as")
                .required("command", Kind::String, "the command line, run by the user's login shell")
                .optional("port", Kind::Integer, "SSH port (default 22)")
                .optional("key", Kind::String, "name of the secret holding the private key (default ssh_key)")
                .optional("stdin", Kind::String, "text sent to the command's standard input")
                .optional(
                    "timeout",
                    Kind::Any,
                    "seconds or a duration such as '90s' or '5m' (default: the step's deadline)",
                )
                .optional(
                    "host_key",
                    Kind::String,
                    "the host key's fingerprint, SHA256:... (default: trusted on first use)",
                )
                .optional("allow_failure", Kind::Boolean, "succeed even when the command exits non-zero"),
        )
    }

    fn invoke(call: Call) -> Result<Fields> {
        let host: String = call.param("host")?;
        let user: String = call.param("user")?;
        let command: String = call.param("command")?;
        let key: String = call.optional("key")?.unwrap_or_else(|| "ssh_key".to_owned());
        let stdin: Option<String> = call.optional("stdin")?;
        let host_key: Option<String> = call.optional("host_key")?;
        let allow_failure: bool = call.optional("allow_failure")?.unwrap_or(false);
        let port: i64 = call.optional("port")?.unwrap_or(22);

        let mut problems = Vec::new();
        if let Err(e) = ssh::check_host(&host) {
            problems.push(e);
        }
        if user.trim().is_empty() || user.contains(|c: char| c.is_whitespace() || c == '@') {
            problems.push(format!("user '{user}' must be a plain user name"));
        }
        if command.trim().is_empty() {
            problems.push("command is empty".to_owned());
        }
        if key.trim().is_empty() {
            problems.push("key (the secret's name) is empty".to_owned());
        }
        let port = u16::try_from(port).ok().filter(|p| *p > 0).unwrap_or_else(|| {
            problems.push(format!("port {port} is not a TCP port (1-65535)"));
            22
        });
        if let Some(fp) = &host_key
            && !ssh::is_fingerprint(fp)
        {
            problems.push(format!(
                "host_key '{fp}' must look like SHA256:<43 base64 characters>, as `ssh-keygen -lf` prints"
            ));
        }
        let timeout = call.duration("timeout").unwrap_or_else(|e| {
            problems.push(e.message);
            None
        });
        if !problems.is_empty() {
            return Err(Error::bad_input(format!("run_ssh: {}", problems.join("; "))));
        }

        let label = format!("{user}@{host}:{port}");
        let mut exec = Exec::new(&command, &key).target(&host, port, &user);
        if let Some(input) = &stdin {
            exec = exec.stdin(input);
        }
        if let Some(t) = timeout {
            exec = exec.timeout(t);
        }
        if let Some(fp) = &host_key {
            exec = exec.host_key(&format!("{}:{port}", bracketed(&host)), fp);
        }
        log::info(&format!("running on {label}"));
        let out = exec.run()?.pop().ok_or_else(|| Error::fatal("ssh: the host returned no result"))??;
        log::info(&format!("{label}: {} in {} ms", status_text(&out), out.duration_ms));

        if out.exit_status != Some(0) && !allow_failure {
            let stderr = ssh::tail(&out.stderr, 5, 400);
            let detail = if stderr.is_empty() {
                format!("stdout: {}", ssh::tail(&out.stdout, 5, 400))
            } else {
                format!("stderr: {stderr}")
            };
            return Err(Error::fatal(format!(
                "ssh: {label}: the command {}; {detail} (set allow_failure: true to continue anyway)",
                status_text(&out)
            )));
        }
        let mut fields = fields! { "stdout" => out.stdout, "stderr" => out.stderr, "exit_status" => out.exit_status };
        if let Some(signal) = out.exit_signal {
            fields.insert("exit_signal".into(), json!(signal));
        }
        Ok(fields)
    }
}

fn status_text(out: &ssh::Output) -> String {
    match (&out.exit_status, &out.exit_signal) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended without an exit status".to_owned(),
    }
}

fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() }
}

mastermind_sdk::export!(Ssh);
