//! `mastermind webhooks list|set|remove|deliveries`: where your tenant's
//! job ends and pending approvals are posted (`/v1/webhooks`).

use super::client::{Client, emit, items};
use super::output::{self, Output};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::ExitCode;

/// Webhooks on a server.
#[derive(Debug, Subcommand)]
pub enum Webhooks {
    /// The webhooks: name, where (scheme and host), events, which jobs.
    List {
        /// Print the API's JSON (the default when stdout is not a terminal).
        #[arg(long)]
        json: bool,
    },
    /// Create or replace a webhook.
    Set {
        /// Its name (what a definition's `notify:` names).
        name: String,
        /// The URL to post to.
        #[arg(long, conflicts_with = "url_secret", required_unless_present = "url_secret")]
        url: Option<String>,
        /// Or the name of a secret holding the URL (a Slack webhook's URL is a credential).
        #[arg(long)]
        url_secret: Option<String>,
        /// An event to post (repeatable): job.completed, job.failed, job.canceled, approval.pending; all when absent.
        #[arg(long = "event", value_name = "EVENT")]
        events: Vec<String>,
        /// Post every job's events, not only those of jobs whose definition names it.
        #[arg(long)]
        every_job: bool,
    },
    /// Remove a webhook.
    Remove {
        /// Its name.
        name: String,
    },
    /// A webhook's latest deliveries: delivered, pending or failed, with the last error.
    Deliveries {
        /// Its name.
        name: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `webhooks` command.
///
/// # Errors
/// When the server refuses or cannot be reached.
pub async fn webhooks(cmd: Webhooks) -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    match cmd {
        Webhooks::List { json } => {
            let list = client.send(Method::GET, "/v1/webhooks", None).await?;
            emit(Output::choose(json), &list, |style| {
                let rows: Vec<Vec<String>> = items(&list)
                    .map(|w| {
                        let to = match &w["url"] {
                            Value::String(url) => url.clone(),
                            _ => format!("secret {}", output::cell(&w["url_secret"])),
                        };
                        let jobs = if w["every_job"] == true { "every job" } else { "jobs naming it" };
                        vec![output::cell(&w["name"]), to, events(&w["events"]), jobs.to_owned()]
                    })
                    .collect();
                output::table(&["NAME", "POSTS TO", "EVENTS", "FOR"], &rows, "no webhook is set", style.on)
            })?;
        }
        Webhooks::Set { name, url, url_secret, events, every_job } => {
            let mut body = json!({ "url": url, "url_secret": url_secret, "every_job": every_job });
            if !events.is_empty() {
                body["events"] = json!(events);
            }
            let set = client.send(Method::PUT, &format!("/v1/webhooks/{name}"), Some(body)).await?;
            emit(Output::choose(false), &set, |_| format!("webhook {name} set\n"))?;
        }
        Webhooks::Remove { name } => {
            client.send(Method::DELETE, &format!("/v1/webhooks/{name}"), None).await?;
            println!("webhook {name} removed");
        }
        Webhooks::Deliveries { name, json } => {
            let list = client.send(Method::GET, &format!("/v1/webhooks/{name}/deliveries"), None).await?;
            emit(Output::choose(json), &list, |style| {
                let rows: Vec<Vec<String>> = items(&list)
                    .map(|d| {
                        vec![
                            output::cell(&d["id"]),
                            output::cell(&d["event"]),
                            output::cell(&d["job_id"]),
                            output::cell(&d["status"]),
                            output::cell(&d["attempts"]),
                            output::time_cell(&d["created_at"]),
                            output::cell(&d["last_error"]),
                        ]
                    })
                    .collect();
                output::table(
                    &["ID", "EVENT", "JOB", "STATUS", "TRIES", "AT (UTC)", "LAST ERROR"],
                    &rows,
                    "nothing was posted yet",
                    style.on,
                )
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn events(list: &Value) -> String {
    items(list).filter_map(Value::as_str).collect::<Vec<_>>().join(" ")
}
