//! Per-tenant fairness under a hostile neighbour: prints `bench: NAME =
//! VALUE UNIT` lines.
//!
//! Starts `mastermind serve` (embedded SQLite) as a second process. Tenant
//! `victim` launches a 3-step no-op job at a steady rate (open loop), each
//! request waiting for its job (`POST /v1/jobs?wait=30`): first alone, then
//! while tenant `attacker`, at its default limits but a 2 s deadline, keeps
//! launching hostile jobs without waiting for them:
//! - steps that sleep, so it sits at its concurrency limit,
//! - steps that spin the CPU until their deadline,
//! - steps that return 1 MiB of fields,
//! - SSH fan-outs of 256 targets to a listener that never answers.
//!
//! Reports the victim's p50/p99 alone and under attack, and the server's
//! peak RSS (VmHWM). Every peer is on 127.0.0.1.
//!
//! `cargo bench --bench fairness` (MASTERMIND_BENCH_RATE=20 victim jobs/s and
//! MASTERMIND_BENCH_SECONDS=10 per phase by default;
//! MASTERMIND_BENCH_ATTACKS=sleepy,spin,big,fanout picks the attacks, `flood`
//! adds 3-step no-op jobs; MASTERMIND_BENCH_ATTACKER_LAUNCHES=N raises the
//! attacker's launches per second and MASTERMIND_BENCH_ATTACKER_TASKS=N
//! launches from N tasks at once).

mod support;

use base64::Engine as _;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

const ADMIN: &str = "mm_bench_admin_token_abcdefghijklmnopqrstuvwxyz012345";

type Post = Box<dyn Fn(&str, &str, Value) -> futures::future::BoxFuture<'static, anyhow::Result<Value>> + Send + Sync>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rate: f64 = std::env::var("MASTERMIND_BENCH_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(20.0);
    let seconds: f64 = std::env::var("MASTERMIND_BENCH_SECONDS").ok().and_then(|r| r.parse().ok()).unwrap_or(10.0);
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_mastermind"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--allow-private-grants"])
        .args(["--db", &format!("sqlite:{}", dir.path().join("bench.db").display())])
        .env("MASTERMIND_ADMIN_TOKEN", ADMIN)
        .env("MASTERMIND_CACHE_DIR", dir.path().join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = server.id().unwrap_or_default();
    let http = reqwest::Client::builder().pool_max_idle_per_host(4096).build()?;
    let mut ready = false;
    for _ in 0..600 {
        if http.get(format!("{url}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::ensure!(ready, "the server did not start");

    let post: Post = {
        let (http, url) = (http.clone(), url.clone());
        Box::new(move |token: &str, path: &str, body: Value| {
            let request = http.post(format!("{url}{path}")).bearer_auth(token).json(&body);
            Box::pin(async move {
                let response = request.send().await?;
                let status = response.status();
                let body: Value = response.json().await?;
                anyhow::ensure!(status.is_success(), "{status}: {body}");
                anyhow::Ok(body)
            })
        })
    };
    let wasm = |name: &str| -> anyhow::Result<String> {
        let path = std::path::Path::new(env!("MASTERMIND_PARTICIPANTS_DIR")).join(format!("{name}.wasm"));
        Ok(base64::engine::general_purpose::STANDARD.encode(std::fs::read(path)?))
    };

    let victim = tenant(&post, "victim", json!({})).await?;
    support::upload_participant(&http, &url, &victim, json!({ "wasm": wasm("noop")? })).await?;
    post(&victim, "/v1/definitions", json!({ "name": "three", "source": "noop_noop\nnoop_noop\nnoop_noop\n" })).await?;

    let silent = silent_listener().await?;
    // MASTERMIND_BENCH_ATTACKER_LAUNCHES raises the attacker's launches per
    // second (default 50) and MASTERMIND_BENCH_ATTACKER_TASKS its launching
    // tasks (default 1): a flood that keeps the committer busy.
    let launches: Option<u64> = std::env::var("MASTERMIND_BENCH_ATTACKER_LAUNCHES").ok().and_then(|r| r.parse().ok());
    let tasks: usize = std::env::var("MASTERMIND_BENCH_ATTACKER_TASKS").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
    let mut limits = json!({ "deadline_ms": 2000, "output_bytes": 2 << 20 });
    if let Some(launches) = launches {
        limits["launches_per_second"] = json!(launches);
    }
    let attacker = tenant(&post, "attacker", limits).await?;
    put_secret(&http, &url, &attacker, "key", &ssh_key(dir.path())?).await?;
    support::upload_participant(&http, &url, &attacker, json!({ "wasm": wasm("noop")? })).await?;
    let grants = [format!("ssh=*@127.0.0.1:{silent}"), "secret=key".to_owned()];
    support::upload_participant(&http, &url, &attacker, json!({ "wasm": wasm("hostile")?, "grants": grants })).await?;
    let attacks = [
        ("sleepy", "sleep_noop ms: 1500\n".to_owned()),
        ("spin", "spin_hostile\n".to_owned()),
        ("big", "huge_output_hostile mib: 1\n".to_owned()),
        ("flood", "noop_noop\nnoop_noop\nnoop_noop\n".to_owned()),
        (
            "fanout",
            format!("ssh_fanout_hostile host: '127.0.0.1', port: {silent}, count: 256, key: 'key', timeout_ms: 1500\n"),
        ),
    ];
    let chosen = std::env::var("MASTERMIND_BENCH_ATTACKS").unwrap_or_else(|_| "sleepy,spin,big,fanout".into());
    let attacks: Vec<_> =
        attacks.into_iter().filter(|(name, _)| chosen.split(',').any(|c| c.trim() == *name)).collect();
    for (name, source) in &attacks {
        post(&attacker, "/v1/definitions", json!({ "name": name, "source": source })).await?;
    }
    println!("bench: fairness_attacks = {} ({chosen})", attacks.len());

    // Warm up: compile caches, connections, the SQLite file.
    for _ in 0..20 {
        post(&victim, "/v1/jobs?wait=30", json!({ "definition": "three" })).await?;
    }

    let quiet = run_victim(&post, &victim, rate, seconds).await;
    report("quiet", &quiet);

    let post = std::sync::Arc::new(post);
    let stop = tokio_util::sync::CancellationToken::new();
    let floods: Vec<_> = (0..tasks)
        .map(|_| {
            let (stop, attacker, post) = (stop.clone(), attacker.clone(), post.clone());
            let names: Vec<&'static str> = attacks.iter().map(|(n, _)| *n).collect();
            tokio::spawn(async move {
                let (mut launched, mut refused) = (0usize, 0usize);
                while !stop.is_cancelled() {
                    for name in &names {
                        match post(&attacker, "/v1/jobs", json!({ "definition": name })).await {
                            Ok(_) => launched += 1,
                            Err(_) => refused += 1,
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (launched, refused)
            })
        })
        .collect();
    // Let the attacker reach its concurrency limit first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let attacked = run_victim(&post, &victim, rate, seconds).await;
    stop.cancel();
    let (mut launched, mut refused) = (0, 0);
    for flood in floods {
        let (l, r) = flood.await?;
        launched += l;
        refused += r;
    }
    report("attacked", &attacked);
    println!("bench: fairness_attacker_jobs_launched = {launched} jobs");
    println!("bench: fairness_attacker_launches_refused = {refused} requests");
    let p99 = |l: &Latencies| l.pct(0.99).as_secs_f64();
    println!("bench: fairness_p99_ratio = {:.2} x", p99(&attacked) / p99(&quiet).max(1e-9));
    if let Some(kib) = peak_rss_kib(pid) {
        println!("bench: fairness_server_peak_rss = {:.0} MiB", kib as f64 / 1024.0);
    }
    server.start_kill()?;
    Ok(())
}

/// A tenant with `limits` and an admin token for it.
async fn tenant(post: &Post, name: &str, limits: Value) -> anyhow::Result<String> {
    let tenant = post(ADMIN, "/v1/tenants", json!({ "name": name, "limits": limits })).await?;
    let path = format!("/v1/tenants/{}/tokens", tenant["id"].as_str().unwrap_or_default());
    let token = post(ADMIN, &path, json!({ "name": "bench", "scopes": ["admin"] })).await?;
    Ok(token["token"].as_str().unwrap_or_default().to_owned())
}

async fn put_secret(http: &reqwest::Client, url: &str, token: &str, name: &str, value: &str) -> anyhow::Result<()> {
    let response =
        http.put(format!("{url}/v1/secrets/{name}")).bearer_auth(token).json(&json!({ "value": value })).send().await?;
    anyhow::ensure!(response.status().is_success(), "secret: {}", response.status());
    Ok(())
}

fn ssh_key(dir: &std::path::Path) -> anyhow::Result<String> {
    let path = dir.join("attacker_key");
    let out =
        std::process::Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&path).output()?;
    anyhow::ensure!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    Ok(std::fs::read_to_string(path)?)
}

/// Accepts connections and never says a word (an SSH server that hangs).
async fn silent_listener() -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut stream = stream;
                let mut buf = [0u8; 1024];
                while matches!(tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    Ok(port)
}

struct Latencies {
    sorted: Vec<Duration>,
    failures: usize,
    elapsed: Duration,
}

impl Latencies {
    fn pct(&self, p: f64) -> Duration {
        let last = self.sorted.len().max(1) - 1;
        self.sorted.get((last as f64 * p).round() as usize).copied().unwrap_or_default()
    }
}

/// The victim's open loop: one 3-step job every 1/rate s, each waited for.
async fn run_victim(post: &Post, token: &str, rate: f64, seconds: f64) -> Latencies {
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let request = post(token, "/v1/jobs?wait=30", json!({ "definition": "three" }));
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let job = request.await?;
            anyhow::ensure!(job["state"] == "completed", "job not completed: {}", job["state"]);
            anyhow::Ok(t.elapsed())
        }));
    }
    let mut sorted = Vec::with_capacity(total);
    let mut failures = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(d)) => sorted.push(d),
            Ok(Err(e)) => {
                failures += 1;
                if failures <= 3 {
                    eprintln!("victim request failed: {e:#}");
                }
            }
            Err(e) => {
                failures += 1;
                eprintln!("victim task failed: {e}");
            }
        }
    }
    sorted.sort();
    Latencies { sorted, failures, elapsed: started.elapsed() }
}

fn report(phase: &str, l: &Latencies) {
    println!("bench: fairness_{phase}_completed_rate = {:.1} jobs/s", l.sorted.len() as f64 / l.elapsed.as_secs_f64());
    println!("bench: fairness_{phase}_failed = {} jobs", l.failures);
    println!("bench: fairness_{phase}_p50 = {:.1} ms", l.pct(0.50).as_secs_f64() * 1000.0);
    println!("bench: fairness_{phase}_p99 = {:.1} ms", l.pct(0.99).as_secs_f64() * 1000.0);
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}
