//! `mastermind run` and `mastermind check`.

use super::runtime;
use crate::language::{Definition, ParseErrors};
use crate::model::{JobState, StepError};
use crate::store::Store;
use anyhow::Context as _;
use clap::Args;
use serde_json::{Map, Value};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The definition: Mastermind language (.mm) or its JSON form (.json).
    file: Option<PathBuf>,
    /// A field: `key=text` for a string, `key:=JSON` for any JSON value.
    #[arg(long = "field", short = 'f', value_name = "KEY=VALUE")]
    fields: Vec<String>,
    /// A JSON file with the job's fields (--field values override it).
    #[arg(long = "fields", value_name = "FILE.json")]
    fields_file: Option<PathBuf>,
    /// The database: sqlite:PATH (default: in the user's data directory) or postgres://...
    /// (`?durability=normal|full`: what a commit survives, see the README)
    #[arg(long, env = "MASTERMIND_DB")]
    db: Option<String>,
    /// A secret participants may use: NAME=VALUE or NAME=@FILE.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
    /// A grant for a participant (built in or given with --participant):
    /// PARTICIPANT:KIND=VALUE, e.g. `http:http=api.example.com`,
    /// `ssh:ssh=deploy@web1`.
    #[arg(long = "grant", value_name = "PARTICIPANT:SPEC")]
    grants: Vec<String>,
    /// Your own participant: a component (.wasm), or a directory of them;
    /// repeatable. It runs in the same sandbox, under the same limits, as
    /// on a server, with only the grants --grant gives it.
    #[arg(long = "participant", value_name = "PATH.wasm")]
    participants: Vec<PathBuf>,
    /// Finish an interrupted job instead of starting one.
    #[arg(long, value_name = "JOB_ID", conflicts_with_all = ["file", "fields", "fields_file"])]
    resume: Option<String>,
    /// Show what the job would do, and do none of it: it runs in full
    /// (grants checked, dollar notation resolved, handlers taken), but
    /// every capability call (HTTP, SSH, EC2, Chef) is answered by the host
    /// — from --stubs, else a synthetic answer — and nothing is sent. The
    /// job is kept apart, in a database of its own that goes with it.
    #[arg(long, conflicts_with_all = ["resume", "db"])]
    dry_run: bool,
    /// A dry run's answers (JSON: `http`, `ssh`, `chef` lists and `ec2`;
    /// see docs/language.md, "Dry runs").
    #[arg(long, value_name = "FILE.json", requires = "dry_run")]
    stubs: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    file: PathBuf,
    /// Your own participant (.wasm, or a directory of them), so that steps
    /// calling it are checked against its description; repeatable.
    #[arg(long = "participant", value_name = "PATH.wasm")]
    participants: Vec<PathBuf>,
}

/// Reads and parses a definition file (text, or JSON by extension or content).
pub fn read_definition(path: &Path) -> anyhow::Result<Result<Definition, ParseErrors>> {
    let source = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display().to_string();
    let trimmed = source.trim_start();
    let is_json = path.extension().is_some_and(|e| e == "json") || trimmed.starts_with('{') || trimmed.starts_with('[');
    if is_json {
        return Ok(crate::language::json::definition_from_json_str(&source).map_err(|e| {
            ParseErrors::single(&name, &source, crate::language::Diagnostic::new(Default::default(), e.to_string()))
        }));
    }
    let mut parsed = crate::language::parse(&name, &source);
    if let Ok(d) = &mut parsed
        && d.name.is_none()
    {
        d.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    }
    Ok(parsed)
}

pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let definition = match read_definition(&args.file)? {
        Ok(d) => d,
        Err(errors) => {
            eprint!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    let sandbox = runtime::sandbox(None)?;
    let registry = runtime::local_registry(&sandbox, &[], &args.participants).await?;
    let problems = crate::engine::validate(&definition, &registry);
    if problems.is_empty() {
        println!("{}: ok", args.file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let source = std::fs::read_to_string(&args.file).unwrap_or_default();
    let mut errors = ParseErrors::new(args.file.display().to_string(), source);
    errors.diagnostics = problems;
    eprint!("{errors}");
    Ok(ExitCode::from(2))
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // A dry run's job lives and dies with this run, apart from real ones.
    let apart = if args.dry_run { Some(tempfile::tempdir().context("a directory for the dry run")?) } else { None };
    let db = match &apart {
        Some(dir) => format!("sqlite:{}", dir.path().join("dry-run.db").display()),
        None => args.db.clone().unwrap_or_else(runtime::default_db_url),
    };
    let stubs = match (&args.stubs, args.dry_run) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let stubs: crate::capabilities::Stubs =
                serde_json::from_str(&text).with_context(|| format!("the stubs in {}", path.display()))?;
            Some(Arc::new(stubs))
        }
        (None, true) => Some(Arc::default()),
        (None, false) => None,
    };
    let (definition, source, file_name) = match (&args.resume, &args.file) {
        (Some(_), _) => (None, String::new(), String::new()),
        (None, Some(file)) => match read_definition(file)? {
            Ok(d) => (Some(d), std::fs::read_to_string(file).unwrap_or_default(), file.display().to_string()),
            Err(errors) => {
                eprint!("{errors}");
                return Ok(ExitCode::from(2));
            }
        },
        (None, None) => anyhow::bail!("give a definition file to run, or --resume JOB_ID"),
    };
    let rt = runtime::start(&db, &args.secrets, &args.grants, &args.participants, stubs).await?;
    let engine = rt.engine.clone();
    let mut events = engine.subscribe();
    let job_id = match (&args.resume, definition) {
        (Some(id), _) => {
            engine.store().job(id).await?.with_context(|| format!("no job {id} in {db}"))?;
            id.clone()
        }
        (None, Some(definition)) => {
            let fields = collect_fields(&args)?;
            match engine.launch("local", &definition, fields, None).await {
                Ok(id) => id,
                Err(crate::engine::EngineError::Invalid(mut errors)) => {
                    errors.file_name = file_name;
                    errors.source = source;
                    eprint!("{errors}");
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        (None, None) => unreachable!("checked above"),
    };
    if args.dry_run {
        eprintln!("job {job_id} (dry run: nothing is sent)");
    } else {
        eprintln!("job {job_id} (database {})", crate::store::redacted_url(&db));
    }

    // Every event of the job is shown, once and in order: live from the
    // engine's broadcast, and from the store for any the broadcast did not
    // deliver (a lagging receiver, the last ones published as the job
    // ended). A resumed job's earlier events were shown by its first run.
    let shown = match &args.resume {
        Some(_) => engine.store().event_cursor(&job_id).await?.map_or(0, |(_, last)| last),
        None => 0,
    };
    let shown = Arc::new(AtomicI64::new(shown));
    let tty = std::io::stderr().is_terminal();
    let stop = CancellationToken::new();
    let worker = {
        let engine = engine.clone();
        let stop = stop.clone();
        tokio::spawn(async move { engine.run(stop).await })
    };
    let display = {
        let (engine, id, shown) = (engine.clone(), job_id.clone(), shown.clone());
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) if e.job_id == id => {
                        if e.seq > shown.load(Ordering::SeqCst) + 1 {
                            let _ = show_stored(engine.store(), &id, &shown, tty).await;
                        }
                        if e.seq == shown.load(Ordering::SeqCst) + 1 {
                            show(e.event.name(), &e.event.data(), tty);
                            shown.store(e.seq, Ordering::SeqCst);
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    };
    let job = engine.wait_for(&job_id).await?;
    // Stopped between two events (it only awaits between them), then the
    // store has every event the job's final state came with.
    display.abort();
    let _ = display.await;
    show_stored(engine.store(), &job_id, &shown, tty).await?;
    stop.cancel();
    let _ = worker.await;
    if args.dry_run {
        super::plan::print_plan(engine.store(), &job_id, tty).await?;
    }

    match job.state {
        JobState::Completed => {
            super::print_json(&Value::Object(job.fields))?;
            Ok(ExitCode::SUCCESS)
        }
        JobState::Canceled => {
            eprintln!("job {job_id} was canceled");
            Ok(ExitCode::from(3))
        }
        _ => {
            let error = job.error.map(|e| e.to_string()).unwrap_or_else(|| "unknown error".into());
            eprintln!("job {job_id} failed: {error}");
            if !args.dry_run {
                eprintln!("retry it with: mastermind run --resume {job_id} (after fixing the cause)");
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn collect_fields(args: &RunArgs) -> anyhow::Result<Map<String, Value>> {
    let mut fields = match &args.fields_file {
        Some(path) => super::read_json_object(path)?,
        None => Map::new(),
    };
    for spec in &args.fields {
        let (k, v) = super::parse_assignment(spec, "--field")?;
        fields.insert(k, v);
    }
    Ok(fields)
}

/// Shows the job's stored events after the last one shown.
async fn show_stored(store: &Store, job_id: &str, shown: &AtomicI64, tty: bool) -> anyhow::Result<()> {
    loop {
        let events = store.events_after(job_id, shown.load(Ordering::SeqCst), 500).await?;
        let Some(last) = events.last().map(|e| e.seq) else { return Ok(()) };
        for e in &events {
            show(&e.kind, &e.data, tty);
        }
        shown.store(last, Ordering::SeqCst);
    }
}

/// One line per event on stderr (coloured on a terminal), from the event's
/// name and data as streamed and stored.
fn show(kind: &str, data: &Value, tty: bool) {
    let (green, red, dim, reset) = if tty { ("\x1b[32m", "\x1b[31m", "\x1b[2m", "\x1b[0m") } else { ("", "", "", "") };
    let text = |key: &str| data[key].as_str().unwrap_or("").to_owned();
    let step = || format!("{}.{}", text("participant"), text("action"));
    let error = || match serde_json::from_value::<StepError>(data["error"].clone()) {
        Ok(e) => e.to_string(),
        Err(_) => data["error"].to_string(),
    };
    match kind {
        "step_started" => {
            let attempt = data["attempt"].as_u64().unwrap_or(1);
            let again = if attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
            eprintln!("{dim}->{reset} {} [line {}]{again}", step(), data["line"]);
        }
        "step_finished" if data["error"].is_null() => {
            eprintln!("{green}ok{reset} {} {dim}{} ms{reset}", step(), data["elapsed_ms"]);
        }
        "step_finished" => eprintln!("{red}!!{reset} {} {dim}{} ms{reset}: {}", step(), data["elapsed_ms"], error()),
        "log" => eprintln!("   {dim}{}:{reset} {}", text("level"), text("message")),
        "progress" => match data["percent"].as_u64() {
            Some(p) => eprintln!("   {p:>3}% {}", text("message")),
            None => eprintln!("   ... {}", text("message")),
        },
        "echo" => eprintln!("{}", text("text")),
        "planned" => {
            eprintln!("   {dim}would call{reset} {}", super::plan::describe_call(&text("capability"), &data["call"]))
        }
        "step_failed" => eprintln!("{red}step failed{reset}: {}", error()),
        "finished" => eprintln!("job {}", text("state")),
        _ => {}
    }
}
