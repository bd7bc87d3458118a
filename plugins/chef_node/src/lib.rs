//! Chef nodes through the Chef Infra Server API: `list_chef_node`,
//! `create_chef_node name: 'web1', run_list: ['role[web]']`,
//! `search_chef_node query: 'name:web*'`... The host signs each request with
//! the client key named by `key`; this participant never sees the key.

use mastermind_sdk::chef::{self, Server, encode_query, name_problem};
use mastermind_sdk::prelude::*;
use mastermind_sdk::serde_json::Map;

struct ChefNode;

/// A step whose params have all been checked.
enum Step {
    List,
    Show(String),
    Create { name: String, run_list: Vec<String>, normal: Map<String, Value>, environment: String },
    Delete(String),
    SetRunList(String, Vec<String>),
    SetAttributes(String, Map<String, Value>),
    Search { query: String, rows: u32 },
}

fn action(name: &str, doc: &str) -> Action {
    chef::connection_params(Action::new(name, doc))
}

const NAME: &str = "the node's name";
const RUN_LIST: &str = "recipes and roles, e.g. ['recipe[nginx]', 'role[web]'] or 'recipe[nginx],role[web]'";

impl Participant for ChefNode {
    fn describe() -> Description {
        Description::new("chef_node", "Chef Infra nodes: list, show, create, delete, run list, attributes, search")
            .action(action("list", "Sets `nodes` to the names of all nodes, sorted"))
            .action(action("show", "Sets `node` to the node as the server has it").required("name", Kind::String, NAME))
            .action(
                action("create", "Creates a node and sets `node` to it")
                    .required("name", Kind::String, NAME)
                    .optional("run_list", Kind::Any, RUN_LIST)
                    .optional("attributes", Kind::Object, "the node's normal attributes")
                    .optional("normal", Kind::Object, "the same as `attributes` (Chef's name for them)")
                    .optional("environment", Kind::String, "the node's Chef environment (default `_default`)"),
            )
            .action(action("delete", "Deletes a node; sets `deleted_node` to its name").required(
                "name",
                Kind::String,
                NAME,
            ))
            .action(
                action("set_run_list", "Replaces a node's run list; sets `node`")
                    .required("name", Kind::String, NAME)
                    .required("run_list", Kind::Any, RUN_LIST),
            )
            .action(
                action(
                    "set_attributes",
                    "Deep-merges `attributes` into the node's normal attributes (null removes a key); sets `node`",
                )
                .required("name", Kind::String, NAME)
                .required("attributes", Kind::Object, "attributes to merge"),
            )
            .action(
                action("search", "Searches nodes; sets `search` to {query, total, names, rows}")
                    .required(
                        "query",
                        Kind::String,
                        "a Chef search query, e.g. `name:web*` or `role:db AND chef_environment:prod`",
                    )
                    .optional("rows", Kind::Integer, "at most this many rows (1-1000, default 1000)"),
            )
    }

    fn invoke(call: Call) -> Result<Fields> {
        let mut problems = Vec::new();
        let step = parse(&call, &mut problems);
        let server = Server::from_call(&call).map_err(|e| problems.push(e.message));
        match (step, server) {
            (Some(step), Ok(server)) if problems.is_empty() => run(&server, step),
            _ => Err(Error::bad_input(format!("{}: {}", call.action, problems.join("; ")))),
        }
    }
}

fn parse(call: &Call, problems: &mut Vec<String>) -> Option<Step> {
    let mut name = || -> String {
        let name: String = call.param("name").unwrap_or_default();
        problems.extend(name_problem("node name", &name));
        name
    };
    let step = match call.action.as_str() {
        "list" => Step::List,
        "show" => Step::Show(name()),
        "delete" => Step::Delete(name()),
        "create" => {
            let name = name();
            let run_list =
                call.params.get("run_list").filter(|v| !v.is_null()).map_or_else(Vec::new, |v| run_list(v, problems));
            let attributes: Option<Map<String, Value>> = call.optional("attributes").unwrap_or_default();
            let normal: Option<Map<String, Value>> = call.optional("normal").unwrap_or_default();
            if attributes.is_some() && normal.is_some() {
                problems.push("give `attributes` or `normal`, not both".into());
            }
            let environment: String =
                call.optional("environment").unwrap_or_default().unwrap_or_else(|| "_default".into());
            if environment.is_empty() || !environment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                problems.push(format!(
                    "environment '{environment}' is not a valid Chef environment name (letters, digits, '_', '-')"
                ));
            }
            Step::Create { name, run_list, normal: attributes.or(normal).unwrap_or_default(), environment }
        }
        "set_run_list" => {
            let name = name();
            let list = call.params.get("run_list").map_or_else(Vec::new, |v| run_list(v, problems));
            Step::SetRunList(name, list)
        }
        "set_attributes" => Step::SetAttributes(name(), call.param("attributes").unwrap_or_default()),
        "search" => {
            let query: String = call.param("query").unwrap_or_default();
            if query.trim().is_empty() || query.len() > 4000 || query.chars().any(char::is_control) {
                problems.push("query must be a non-empty one-line Chef search query, e.g. name:web*".into());
            }
            let rows: i64 = call.optional("rows").unwrap_or_default().unwrap_or(1000);
            if !(1..=1000).contains(&rows) {
                problems.push(format!("rows must be between 1 and 1000, got {rows}"));
            }
            Step::Search { query: query.trim().to_owned(), rows: u32::try_from(rows).unwrap_or(1000) }
        }
        _ => return None,
    };
    Some(step)
}

/// A run list from an array of strings or one comma-separated string, each
/// entry `recipe[...]`, `role[...]`, or a bare recipe name (which Chef reads
/// as `recipe[...]`, and which is written that way here).
fn run_list(value: &Value, problems: &mut Vec<String>) -> Vec<String> {
    let items: Vec<String> = match value {
        Value::String(s) => s.split(',').map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()).collect(),
        Value::Array(items) => {
            let strings: Vec<String> = items.iter().filter_map(|i| i.as_str().map(|s| s.trim().to_owned())).collect();
            if strings.len() != items.len() {
                problems.push("run_list must contain only strings".into());
            }
            strings
        }
        _ => {
            problems.push("run_list must be an array of strings or a comma-separated string".into());
            Vec::new()
        }
    };
    let valid_name = |s: &str| {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@'))
    };
    let mut out = Vec::new();
    for item in items {
        let inner =
            item.strip_prefix("recipe[").or_else(|| item.strip_prefix("role[")).and_then(|s| s.strip_suffix(']'));
        match inner {
            Some(name) if valid_name(name) => out.push(item),
            None if valid_name(&item) => out.push(format!("recipe[{item}]")),
            _ => problems.push(format!("run_list entry '{item}' is not recipe[NAME], role[NAME] or a recipe name")),
        }
    }
    out
}

fn run(server: &Server, step: Step) -> Result<Fields> {
    match step {
        Step::List => {
            let nodes = server.get("/nodes")?;
            let mut names: Vec<&String> = nodes.as_object().map(|m| m.keys().collect()).unwrap_or_default();
            names.sort();
            Ok(fields! { "nodes" => names })
        }
        Step::Show(name) => Ok(fields! { "node" => server.get(&format!("/nodes/{name}"))? }),
        Step::Create { name, run_list, normal, environment } => {
            let node = json!({
                "name": name, "chef_type": "node", "json_class": "Chef::Node", "chef_environment": environment,
                "run_list": run_list, "normal": normal, "default": {}, "override": {}, "automatic": {},
            });
            server.post("/nodes", &node)?;
            log::info(&format!("created Chef node {name}"));
            Ok(fields! { "node" => server.get(&format!("/nodes/{name}"))? })
        }
        Step::Delete(name) => {
            server.delete(&format!("/nodes/{name}"))?;
            log::info(&format!("deleted Chef node {name}"));
            Ok(fields! { "deleted_node" => name })
        }
        Step::SetRunList(name, run_list) => update(server, &name, |node| {
            node.insert("run_list".into(), json!(run_list));
        }),
        Step::SetAttributes(name, attributes) => update(server, &name, |node| {
            let normal = node.entry("normal").or_insert_with(|| json!({}));
            merge(normal, Value::Object(attributes));
        }),
        Step::Search { query, rows } => {
            let path = format!("/search/node?q={}&rows={rows}&start=0", encode_query(&query));
            let result = server.get(&path)?;
            let rows = result.get("rows").cloned().unwrap_or_else(|| json!([]));
            let names: Vec<Value> =
                rows.as_array().map(|r| r.iter().filter_map(|n| n.get("name").cloned()).collect()).unwrap_or_default();
            let total = result.get("total").cloned().unwrap_or_else(|| json!(names.len()));
            Ok(fields! { "search" => json!({ "query": query, "total": total, "names": names, "rows": rows }) })
        }
    }
}

/// Reads the node, changes it and writes it back whole, as the API wants.
fn update(server: &Server, name: &str, change: impl FnOnce(&mut Map<String, Value>)) -> Result<Fields> {
    let path = format!("/nodes/{name}");
    let Value::Object(mut node) = server.get(&path)? else {
        return Err(Error::fatal(format!("Chef GET {path}: the server's answer is not a node object")));
    };
    change(&mut node);
    let updated = server.put(&path, &Value::Object(node.clone()))?;
    Ok(fields! { "node" => if updated.is_object() { updated } else { Value::Object(node) } })
}

/// Objects merge key by key; anything else replaces; null removes the key.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                if v.is_null() {
                    into.remove(&k);
                } else if let Some(existing) = into.get_mut(&k) {
                    merge(existing, v);
                } else {
                    into.insert(k, v);
                }
            }
        }
        (into, from) => *into = from,
    }
}

mastermind_sdk::export!(ChefNode);
