//! A dry run's plan on the terminal (`mastermind run --dry-run`): each
//! step in order, its participant, action and params, and each capability
//! call it would have made (`services::plan`).

use super::output;
use crate::services::plan::job_plan;
use crate::store::Store;
use serde_json::Value;

/// The most of a step's params shown in the table.
const PARAMS_SHOWN: usize = 80;

/// One line for a call a dry run answered: `http GET https://...`,
/// `ssh deploy@web1:22: systemctl restart app`, `ec2 run-instances us-east-1 ...`.
pub(super) fn describe_call(capability: &str, call: &Value) -> String {
    let text = |key: &str| call[key].as_str().unwrap_or_default().to_owned();
    let list = |key: &str| {
        call[key]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    };
    match capability {
        "http" | "chef" => format!("{capability} {} {}", text("method"), text("url")),
        "ssh" => format!("ssh {}: {}", list("hosts"), text("command")),
        "ec2" => format!("ec2 {} {} {}", text("action"), text("region"), list("instance_ids")).trim_end().to_owned(),
        other => format!("{other} {call}"),
    }
}

/// Prints the plan of the dry-run job `job_id` on stderr.
///
/// # Errors
/// When the store cannot be read.
pub(super) async fn print_plan(store: &Store, job_id: &str, colour: bool) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for (i, step) in job_plan(store, job_id).await?.iter().enumerate() {
        let made: Vec<String> = step.calls.iter().map(|c| describe_call(&c.capability, &c.call)).collect();
        let params = crate::capabilities::clip(&step.params.to_string(), PARAMS_SHOWN).into_owned();
        let line = step.line.map(|l| l.to_string()).unwrap_or_default();
        let first = made.first().cloned().unwrap_or_else(|| "-".into());
        rows.push(vec![(i + 1).to_string(), line, format!("{}.{}", step.participant, step.action), params, first]);
        for more in made.iter().skip(1) {
            rows.push(vec![String::new(), String::new(), String::new(), String::new(), more.clone()]);
        }
    }
    eprintln!("\nplan (dry run: nothing was sent):");
    eprint!(
        "{}",
        output::table(&["#", "LINE", "STEP", "PARAMS", "WOULD CALL"], &rows, "no participant step ran", colour)
    );
    Ok(())
}
