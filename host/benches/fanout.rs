//! SSH fan-out benchmark: `uname -a` on 50 OpenSSH servers on loopback
//! through `ssh_multi`, Ansible's ad-hoc command (`-f 50`, the `raw` module)
//! and pssh (`-p 50`), measured in the same run. Prints `bench:` lines.
//!
//! Needs sshd (openssh-server), `ansible` (ansible-core; MASTERMIND_ANSIBLE
//! or on PATH) and `parallel-ssh` (Debian's pssh). Run with
//! `cargo bench --bench fanout`.

#[path = "../../tests/support/sshd.rs"]
#[allow(dead_code)]
mod sshd;

use mastermind::capabilities::{Grants, MemorySecrets};
use mastermind::sandbox::{CallEnv, CallRequest, Sandbox, SandboxConfig};
use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOSTS: usize = 50;

fn best_of<F: FnMut() -> anyhow::Result<()>>(runs: usize, mut f: F) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let started = Instant::now();
        f()?;
        best = best.min(started.elapsed());
    }
    Ok(best)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let lab = sshd::SshLab::new();
    let servers: Vec<sshd::Sshd> = (0..HOSTS).map(|i| lab.start(&format!("h{i}"))).collect();
    let key_file = lab.dir.path().join("client");

    // Mastermind: one ssh_multi call.
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let dir = std::path::PathBuf::from(env!("MASTERMIND_PARTICIPANTS_DIR"));
    let multi = sandbox.load(&std::fs::read(dir.join("ssh_multi.wasm"))?).await?;
    let mut secrets = MemorySecrets::new();
    secrets.insert("ssh_key", lab.client_key.clone());
    let env = CallEnv {
        grants: Arc::new(Grants::parse(&[format!("ssh={}@127.0.0.1:*", sshd::USER), "secret=ssh_key".into()])?),
        secrets: Arc::new(secrets),
        ..CallEnv::default()
    };
    let hosts: Vec<String> = servers.iter().map(|s| format!("{}@127.0.0.1:{}", sshd::USER, s.port)).collect();
    let params = json!({ "hosts": hosts, "command": "uname -a", "concurrency": HOSTS });
    let mut mastermind = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let out = sandbox.invoke(&multi, CallRequest::new("run", params.clone()), &env).await?;
        mastermind = mastermind.min(started.elapsed());
        let results = out.updates["results"].as_array().map(Vec::len).unwrap_or(0);
        anyhow::ensure!(results == HOSTS, "ssh_multi returned {results} results");
    }
    println!("bench: fanout_{HOSTS}_hosts_mastermind_ssh_multi = {:.0} ms", mastermind.as_secs_f64() * 1e3);

    // Ansible ad-hoc.
    let inventory = lab.dir.path().join("inventory.ini");
    let mut text = String::from("[all]\n");
    for (i, s) in servers.iter().enumerate() {
        text.push_str(&format!("h{i} ansible_host=127.0.0.1 ansible_port={} ansible_user={}\n", s.port, sshd::USER));
    }
    std::fs::write(&inventory, text)?;
    let ansible = std::env::var("MASTERMIND_ANSIBLE").unwrap_or_else(|_| "ansible".into());
    let ansible_time = best_of(3, || {
        let out = Command::new(&ansible)
            .args(["all", "-i"])
            .arg(&inventory)
            .args(["-m", "raw", "-a", "uname -a", "-f", &HOSTS.to_string(), "--private-key"])
            .arg(&key_file)
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env("ANSIBLE_SSH_ARGS", "-o UserKnownHostsFile=/dev/null -o ControlMaster=no")
            .output()?;
        anyhow::ensure!(out.status.success(), "ansible failed: {}", String::from_utf8_lossy(&out.stdout));
        Ok(())
    });
    // pssh.
    let hosts_file = lab.dir.path().join("pssh_hosts");
    std::fs::write(&hosts_file, servers.iter().map(|s| format!("127.0.0.1:{}\n", s.port)).collect::<String>())?;
    let pssh_time = best_of(3, || {
        let out = Command::new("parallel-ssh")
            .arg("-h")
            .arg(&hosts_file)
            .args(["-l", sshd::USER, "-p", &HOSTS.to_string(), "-x"])
            .arg(format!("-i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null", key_file.display()))
            .args(["uname", "-a"])
            .output()?;
        anyhow::ensure!(out.status.success(), "pssh failed: {}", String::from_utf8_lossy(&out.stdout));
        Ok(())
    });
    for (name, time) in [("ansible", ansible_time), ("pssh", pssh_time)] {
        match time {
            Ok(t) => {
                println!("bench: fanout_{HOSTS}_hosts_{name} = {:.0} ms", t.as_secs_f64() * 1e3);
                println!("bench: fanout_{name}_over_mastermind = {:.2} x", t.as_secs_f64() / mastermind.as_secs_f64());
            }
            Err(e) => println!("bench: fanout_{HOSTS}_hosts_{name} = skipped ({e})"),
        }
    }
    drop(servers);
    Ok(())
}
