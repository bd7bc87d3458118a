//! `mastermind approvals list|approve|reject`: the approvals waiting in
//! your tenant's jobs, and your decision on one (`/v1/approvals`).

use super::client::{Client, emit, items};
use super::output::{self, Output};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::process::ExitCode;

/// Approvals on a server.
#[derive(Debug, Subcommand)]
pub enum Approvals {
    /// The approvals waiting for a decision: job, id, prompt, who may decide, the form.
    List {
        /// Print the API's JSON (the default when stdout is not a terminal).
        #[arg(long)]
        json: bool,
    },
    /// Approve: the form's fields go into the job, which goes on.
    Approve(DecisionArgs),
    /// Reject: the approval fails with a `rejected` error the definition may handle.
    Reject(DecisionArgs),
}

/// Which approval, and why.
#[derive(Debug, clap::Args)]
pub struct DecisionArgs {
    /// The job.
    job: String,
    /// The approval's id in the job, as listed.
    id: String,
    /// Why (kept in the audit log and the job).
    #[arg(long, short = 'm')]
    comment: Option<String>,
    /// A form field: `key=text` for a string, `key:=JSON` for any JSON value (approving only).
    #[arg(long = "field", short = 'f', value_name = "KEY=VALUE")]
    fields: Vec<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// Runs an `approvals` command.
///
/// # Errors
/// When the server refuses or cannot be reached, or a `--field` does not read.
pub async fn approvals(cmd: Approvals) -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    match cmd {
        Approvals::List { json } => {
            let list = client.send(Method::GET, "/v1/approvals", None).await?;
            emit(Output::choose(json), &list, |style| {
                let rows = items(&list)
                    .map(|a| {
                        vec![
                            output::cell(&a["job_id"]),
                            output::cell(&a["id"]),
                            output::cell(&a["prompt"]),
                            approvers(a),
                            form(&a["form"]),
                            output::time_cell(&a["requested_at"]),
                        ]
                    })
                    .collect::<Vec<_>>();
                output::table(
                    &["JOB", "ID", "PROMPT", "APPROVERS", "FORM", "ASKED (UTC)"],
                    &rows,
                    "no approval is waiting",
                    style.on,
                )
            })?;
        }
        Approvals::Approve(args) => decide(&client, args, "approve").await?,
        Approvals::Reject(args) => decide(&client, args, "reject").await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn decide(client: &Client, args: DecisionArgs, verb: &str) -> anyhow::Result<()> {
    let mut fields = Map::new();
    for spec in &args.fields {
        let (k, v) = super::parse_assignment(spec, "--field")?;
        fields.insert(k, v);
    }
    let body = json!({ "comment": args.comment, "fields": fields });
    let path = format!("/v1/approvals/{}/{}/{verb}", args.job, args.id);
    let decided = client.send(Method::POST, &path, Some(body)).await?;
    emit(Output::choose(args.json), &decided, |_| {
        format!("{} {} of job {}\n", output::cell(&decided["decision"]), args.id, args.job)
    })
}

/// Who may decide: the tokens and groups named, or any approver.
fn approvers(approval: &Value) -> String {
    let mut names: Vec<String> = items(&approval["approvers"]).map(output::cell).collect();
    names.extend(items(&approval["groups"]).map(|g| format!("group {}", output::cell(g))));
    if names.is_empty() { "any approver".into() } else { names.join(", ") }
}

fn form(form: &Value) -> String {
    let fields: Vec<String> = form
        .as_object()
        .map(|f| f.iter().map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or("any"))).collect())
        .unwrap_or_default();
    if fields.is_empty() { "—".into() } else { fields.join(", ") }
}
