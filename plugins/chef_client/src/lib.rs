//! Chef API clients through the Chef Infra Server API: `list_chef_client`,
//! `show_chef_client name: 'web1'`, `delete_chef_client name: 'web1'` (a
//! decommissioned machine's client). The host signs each request with the
//! client key named by `key`; this participant never sees the key.

use mastermind_sdk::chef::{self, Server, name_problem};
use mastermind_sdk::prelude::*;

struct ChefClient;

fn action(name: &str, doc: &str) -> Action {
    chef::connection_params(Action::new(name, doc))
}

impl Participant for ChefClient {
    fn describe() -> Description {
        Description::new("chef_client", "Chef API clients: list, show, delete")
            .action(action("list", "Sets `clients` to the names of all API clients, sorted"))
            .action(action("show", "Sets `client` to the client as the server has it").required(
                "name",
                Kind::String,
                "the client's name",
            ))
            .action(action("delete", "Deletes an API client; sets `deleted_client` to its name").required(
                "name",
                Kind::String,
                "the client's name (not the one signing the request)",
            ))
    }

    fn invoke(call: Call) -> Result<Fields> {
        let mut problems = Vec::new();
        let name: Option<String> = call.optional("name").unwrap_or_default();
        if let Some(name) = &name {
            problems.extend(name_problem("client name", name));
        }
        let server = Server::from_call(&call).map_err(|e| problems.push(e.message));
        if let (Ok(server), Some(name)) = (&server, &name)
            && call.action == "delete"
            && *name == server.client_name
        {
            problems.push(format!("refusing to delete client '{name}': it is the client signing this request"));
        }
        let server = match server {
            Ok(server) if problems.is_empty() => server,
            _ => return Err(Error::bad_input(format!("{}: {}", call.action, problems.join("; ")))),
        };
        let name = name.unwrap_or_default();
        match call.action.as_str() {
            "list" => {
                let clients = server.get("/clients")?;
                let mut names: Vec<&String> = clients.as_object().map(|m| m.keys().collect()).unwrap_or_default();
                names.sort();
                Ok(fields! { "clients" => names })
            }
            "show" => Ok(fields! { "client" => server.get(&format!("/clients/{name}"))? }),
            "delete" => {
                server.delete(&format!("/clients/{name}"))?;
                log::info(&format!("deleted Chef client {name}"));
                Ok(fields! { "deleted_client" => name })
            }
            other => Err(Error::bad_input(format!("unknown action {other}"))),
        }
    }
}

mastermind_sdk::export!(ChefClient);
