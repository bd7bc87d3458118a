//! `mastermind locks`: who holds each of your tenant's lock keys and who
//! waits, in the order they will get in (`/v1/locks`).

use super::client::{Client, emit, items, query};
use super::output::{self, Output};
use clap::Args;
use reqwest::Method;
use serde_json::Value;
use std::process::ExitCode;

/// Which locks to list.
#[derive(Debug, Args)]
pub struct LocksArgs {
    /// Only the keys this job holds or waits for.
    #[arg(long)]
    job: Option<String>,
    /// Print the API's JSON (the default when stdout is not a terminal).
    #[arg(long)]
    json: bool,
}

/// Runs `locks`: one row per holder and waiter, by key.
///
/// # Errors
/// When the server refuses or cannot be reached.
pub async fn locks(args: LocksArgs) -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    let path = format!("/v1/locks{}", query(&[("job", args.job)]));
    let list = client.send(Method::GET, &path, None).await?;
    emit(Output::choose(args.json), &list, |style| {
        let mut rows = Vec::new();
        for lock in items(&list) {
            let place = |p: &Value, state: String, since: &Value| {
                vec![
                    output::cell(&lock["key"]),
                    state,
                    output::cell(&p["job_id"]),
                    output::cell(&p["id"]),
                    output::cell(&p["line"]),
                    output::cell(&p["limit"]),
                    output::time_cell(since),
                ]
            };
            for p in items(&lock["holders"]) {
                rows.push(place(p, "holds".into(), &p["held_since"]));
            }
            for p in items(&lock["waiting"]) {
                rows.push(place(p, format!("waits #{}", output::cell(&p["position"])), &p["requested_at"]));
            }
        }
        output::table(
            &["KEY", "STATE", "JOB", "ID", "LINE", "LIMIT", "SINCE (UTC)"],
            &rows,
            "no lock is held",
            style.on,
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
