//! The participants a job can call, and how step names resolve to them.
//!
//! A step `create_ec2_server` calls action `create` of participant
//! `ec2_server`: every split of the name at an underscore is tried, action
//! first. `participant 'name', action: 'x'` and a bare participant name
//! (its default action) work too.

use crate::capabilities::Grants;
use crate::language::Node;
use crate::sandbox::{ActionSpec, Description, Participant};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A participant as a job sees it: the loaded component, what it may do,
/// and the non-secret settings it gets in its call context.
pub struct Registered {
    /// The loaded component.
    pub participant: Participant,
    /// The capabilities its calls may use.
    pub grants: Arc<Grants>,
    /// Non-secret configuration passed in each call's context.
    pub settings: Vec<(String, String)>,
}

/// How a job's steps find the participant actions they call: the tenant's
/// registry of components when the engine runs; a script in the
/// expressions' unit tests, so they run without Wasm or a database.
pub trait Resolver: Send + Sync {
    /// The (participant, action) a step node calls, or why it calls none.
    ///
    /// # Errors
    /// Why the step calls nothing (no such participant or action), for its
    /// author.
    fn resolve_step(&self, name: &str, node: &Node) -> Result<(String, String), String>;

    /// The description of one action, to check a step's params against.
    fn action(&self, participant: &str, action: &str) -> Option<ActionSpec>;
}

impl Resolver for Registry {
    fn resolve_step(&self, name: &str, node: &Node) -> Result<(String, String), String> {
        Registry::resolve_step(self, name, node)
    }

    fn action(&self, participant: &str, action: &str) -> Option<ActionSpec> {
        self.get(participant)?.participant.description().action(action).cloned()
    }
}

/// The participants of one tenant, by name: a [`Resolver`] for its jobs.
#[derive(Default)]
pub struct Registry {
    participants: BTreeMap<String, Arc<Registered>>,
    /// Uploads still compiling: by name when it was given at upload, else
    /// counted (a component's name is known once it is described). A step
    /// naming one is told to wait rather than that nothing has that name.
    compiling: Vec<String>,
    compiling_unnamed: usize,
}

impl Registry {
    /// No participants.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) a participant under its described name.
    pub fn insert(&mut self, participant: Participant, grants: Grants, settings: Vec<(String, String)>) {
        let name = participant.description().name.clone();
        self.participants.insert(name, Arc::new(Registered { participant, grants: Arc::new(grants), settings }));
    }

    /// Notes an upload still compiling, by the name it was given if any.
    pub fn note_compiling(&mut self, name: Option<String>) {
        match name {
            Some(name) => self.compiling.push(name),
            None => self.compiling_unnamed += 1,
        }
    }

    /// The participant registered as `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Registered>> {
        self.participants.get(name)
    }

    /// What each registered participant says about itself, by name.
    pub fn descriptions(&self) -> impl Iterator<Item = &Description> {
        self.participants.values().map(|r| r.participant.description())
    }

    /// The (participant, action) a step node calls, or why it calls none.
    ///
    /// # Errors
    /// Why the step calls nothing: no participant by that name, or no such
    /// action, said so the author can fix it.
    pub fn resolve_step(&self, name: &str, node: &Node) -> Result<(String, String), String> {
        self.resolve_registered(name, node).map_err(|e| self.while_compiling(name, node, e))
    }

    fn resolve_registered(&self, name: &str, node: &Node) -> Result<(String, String), String> {
        if super::expressions::is_explicit_step(name) {
            let Some(target) = node.first_arg_str().or_else(|| node.attr_str("ref")) else {
                return Err("participant: name the participant (participant 'ec2_server', action: 'create')".into());
            };
            return self.with_action(target, node.attr_str("action"));
        }
        if self.participants.contains_key(name) {
            return self.with_action(name, node.attr_str("action"));
        }
        for (i, _) in name.match_indices('_') {
            let (action, participant) = (&name[..i], &name[i + 1..]);
            if let Some(p) = self.participants.get(participant)
                && p.participant.description().action(action).is_some()
            {
                return Ok((participant.to_owned(), action.to_owned()));
            }
        }
        Err(format!(
            "unknown participant or subprocess '{name}': not an expression, a defined subprocess or a participant \
             action ({})",
            self.known()
        ))
    }

    fn with_action(&self, participant: &str, action: Option<&str>) -> Result<(String, String), String> {
        let Some(p) = self.participants.get(participant) else {
            return Err(format!("unknown participant '{participant}' ({})", self.known()));
        };
        let d = p.participant.description();
        let action = match action.or(d.default_action.as_deref()) {
            Some(a) => a,
            None => return Err(format!("participant '{participant}' has no default action: give action:")),
        };
        if d.action(action).is_none() {
            let actions: Vec<&str> = d.actions.iter().map(|a| a.name.as_str()).collect();
            return Err(format!(
                "participant '{participant}' has no action '{action}' (actions: {})",
                actions.join(", ")
            ));
        }
        Ok((participant.to_owned(), action.to_owned()))
    }

    /// An unknown participant's error, told when the step may name an
    /// upload that is still compiling.
    fn while_compiling(&self, name: &str, node: &Node, error: String) -> String {
        if !error.starts_with("unknown participant") {
            return error;
        }
        let target = if super::expressions::is_explicit_step(name) {
            node.first_arg_str().or_else(|| node.attr_str("ref")).unwrap_or(name)
        } else {
            name
        };
        let named =
            |p: &&String| target == p.as_str() || target.strip_suffix(p.as_str()).is_some_and(|a| a.ends_with('_'));
        if let Some(p) = self.compiling.iter().find(named) {
            return format!(
                "participant '{p}' is still compiling (it was just uploaded): try again once it is ready \
                 (`mastermind participants show {p}` says its state)"
            );
        }
        match self.compiling_unnamed {
            0 => error,
            n => format!("{error}; {n} upload(s) still compiling, known by their names once ready"),
        }
    }

    /// "known: echo (echo, merge), noop (noop, fib)".
    fn known(&self) -> String {
        if self.participants.is_empty() {
            return "no participants are registered".into();
        }
        let list: Vec<String> = self
            .participants
            .iter()
            .map(|(name, p)| {
                let actions: Vec<&str> = p.participant.description().actions.iter().map(|a| a.name.as_str()).collect();
                format!("{name} ({})", actions.join(", "))
            })
            .collect();
        format!("known participants: {}", list.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::Registry;
    use crate::language::{Node, Span};
    use serde_json::json;

    #[test]
    fn a_step_naming_an_upload_still_compiling_is_told_to_wait() {
        let mut registry = Registry::new();
        registry.note_compiling(Some("py_greeter".into()));
        let step = |registry: &Registry, name: &str| {
            registry.resolve_step(name, &Node::new(name, Span::default())).unwrap_err()
        };
        // By action_participant, by its bare name, and as `participant 'name'`.
        for error in [step(&registry, "greet_py_greeter"), step(&registry, "py_greeter")] {
            assert!(error.starts_with("participant 'py_greeter' is still compiling"), "{error}");
        }
        let mut explicit = Node::new("participant", Span::default());
        explicit.args.push(json!("py_greeter"));
        let error = registry.resolve_step("participant", &explicit).unwrap_err();
        assert!(error.starts_with("participant 'py_greeter' is still compiling"), "{error}");
        // Another name is unknown as before; an unnamed upload is counted.
        let error = step(&registry, "greet_other");
        assert!(error.starts_with("unknown participant"), "{error}");
        registry.note_compiling(None);
        let error = step(&registry, "greet_other");
        assert!(error.ends_with("; 1 upload(s) still compiling, known by their names once ready"), "{error}");
    }
}
