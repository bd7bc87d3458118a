//! Crash recovery: a real `mastermind run` process is killed with SIGKILL
//! at many points of a multi-step job and resumed with `--resume`; every
//! job completes and no completed step runs twice.

mod support;

use mastermind::model::JobState;
use mastermind::store::Store;
use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const STEPS: usize = 24;

fn definition() -> String {
    let mut text = String::new();
    for i in 0..STEPS {
        text.push_str(&format!("echo_echo message: 'step {i}'\n"));
        if i % 3 == 0 {
            text.push_str("wait '30ms'\n");
        }
    }
    text
}

fn mastermind(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(support::mastermind_bin());
    cmd.env("MASTERMIND_CACHE_DIR", dir.join("cache")).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    cmd
}

/// Starts a run (or a resume), returns the child and the job id it prints.
async fn start(mut cmd: Command) -> (tokio::process::Child, String) {
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let id = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap_or_else(|| panic!("no job line"));
        if let Some(rest) = line.strip_prefix("job ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runs_resume_without_repeating_completed_steps() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("steps.mm");
    std::fs::write(&file, definition()).unwrap();
    // Warm the compiled-code cache so kill points land in the job, not in start-up.
    let warm = mastermind(dir.path()).args(["check"]).arg(&file).output().await.unwrap();
    assert!(warm.status.success(), "{}", String::from_utf8_lossy(&warm.stderr));

    for (round, first_kill_ms) in [25u64, 60, 100, 140, 190, 250, 320, 400].into_iter().enumerate() {
        let db = format!("sqlite:{}", dir.path().join(format!("round{round}.db")).display());
        let mut cmd = mastermind(dir.path());
        cmd.arg("run").arg(&file).args(["--db", &db]);
        let (mut child, job) = start(cmd).await;
        let mut kill_after = first_kill_ms;
        let mut kills = 0;
        loop {
            match tokio::time::timeout(Duration::from_millis(kill_after), child.wait()).await {
                Ok(status) => {
                    assert!(status.unwrap().success(), "round {round}: the run failed");
                    break;
                }
                Err(_) => {
                    child.kill().await.unwrap(); // SIGKILL
                    kills += 1;
                    let mut cmd = mastermind(dir.path());
                    cmd.args(["run", "--resume", &job, "--db", &db]);
                    child = start(cmd).await.0;
                    kill_after = if kills < 3 { 60 + 50 * kills } else { 60_000 };
                }
            }
        }
        let store = Store::open(&db).await.unwrap();
        let record = store.job(&job).await.unwrap().unwrap();
        assert_eq!(record.state, JobState::Completed, "round {round}");
        assert_eq!(record.fields["echo"], format!("step {}", STEPS - 1));
        let mut completed: HashMap<String, usize> = HashMap::new();
        for entry in store.history(&job).await.unwrap().into_iter().filter(|e| e.ok) {
            *completed.entry(entry.fei).or_default() += 1;
        }
        assert_eq!(completed.len(), STEPS, "round {round}: every step completed");
        assert!(completed.values().all(|n| *n == 1), "round {round}: a completed step ran twice: {completed:?}");
        eprintln!("round {round}: killed {kills} time(s), completed");
    }
}

/// What a commit survives is the URL's `durability`, as the database
/// itself reports it: SQLite's `synchronous`, PostgreSQL's
/// `synchronous_commit` on the store's connections (the server's own when
/// the URL says nothing).
#[tokio::test]
async fn the_urls_durability_is_what_the_database_runs_with() {
    use mastermind::store::Durability::{Full, Normal};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durability.db");
    for (query, expected) in [("", Normal), ("?durability=normal", Normal), ("?durability=full", Full)] {
        let store = Store::open(&format!("sqlite:{}{query}", path.display())).await.unwrap();
        assert_eq!(store.durability().await.unwrap(), expected, "sqlite{query}");
        store.close().await;
    }

    sqlx::any::install_default_drivers();
    let admin_url = support::engine::postgres_admin_url();
    let admin = sqlx::AnyPool::connect(&admin_url).await.expect("PostgreSQL for tests");
    let name = format!("mm_test_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let server: String =
        sqlx::query_scalar("SELECT current_setting('synchronous_commit')").fetch_one(&admin).await.unwrap();
    let servers_own = if server == "off" { Normal } else { Full };
    for (query, expected) in [("", servers_own), ("?durability=normal", Normal), ("?durability=full", Full)] {
        let store = Store::open(&format!("{url}{query}")).await.unwrap();
        assert_eq!(store.durability().await.unwrap(), expected, "postgres{query} (server: {server})");
        store.close().await;
    }
    let bad = Store::open(&format!("{url}?durability=sometimes")).await.err().expect("refused").to_string();
    assert!(bad.contains("durability is normal or full"), "{bad}");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&admin)
        .await
        .unwrap();
}
