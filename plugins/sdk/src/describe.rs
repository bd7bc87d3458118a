use crate::bindings::mastermind::participant::types as wit;
use serde_json::Value;

/// The JSON type a param must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
    Any,
}

impl Kind {
    /// Whether `value` has this kind (an integer is also a number).
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            Kind::String => value.is_string(),
            Kind::Integer => value.is_i64() || value.is_u64(),
            Kind::Number => value.is_number(),
            Kind::Boolean => value.is_boolean(),
            Kind::Array => value.is_array(),
            Kind::Object => value.is_object(),
            Kind::Any => true,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Integer => "an integer",
            Kind::Number => "a number",
            Kind::Boolean => "a boolean",
            Kind::Array => "an array",
            Kind::Object => "an object",
            Kind::Any => "any value",
        }
    }

    fn to_wit(self) -> wit::ParamKind {
        match self {
            Kind::String => wit::ParamKind::String,
            Kind::Integer => wit::ParamKind::Integer,
            Kind::Number => wit::ParamKind::Number,
            Kind::Boolean => wit::ParamKind::Boolean,
            Kind::Array => wit::ParamKind::Array,
            Kind::Object => wit::ParamKind::Object,
            Kind::Any => wit::ParamKind::Any,
        }
    }
}

/// One param of an action.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub kind: Kind,
    pub required: bool,
    pub doc: String,
}

/// One action: its name, what it does and its params.
#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    pub doc: String,
    pub params: Vec<Param>,
}

impl Action {
    pub fn new(name: &str, doc: &str) -> Self {
        Action { name: name.into(), doc: doc.into(), params: Vec::new() }
    }

    pub fn required(self, name: &str, kind: Kind, doc: &str) -> Self {
        self.param(name, kind, true, doc)
    }

    pub fn optional(self, name: &str, kind: Kind, doc: &str) -> Self {
        self.param(name, kind, false, doc)
    }

    /// The action also takes params it does not list (the host's
    /// definition check otherwise refuses an unknown param as a typo).
    pub fn any_params(self, doc: &str) -> Self {
        self.param("*", Kind::Any, false, doc)
    }

    fn param(mut self, name: &str, kind: Kind, required: bool, doc: &str) -> Self {
        self.params.push(Param { name: name.into(), kind, required, doc: doc.into() });
        self
    }

    /// Every problem with `params` for this action, one line each.
    pub fn check(&self, params: &serde_json::Map<String, Value>) -> Vec<String> {
        let mut problems = Vec::new();
        let missing: Vec<&str> = self
            .params
            .iter()
            .filter(|p| p.required && params.get(&p.name).is_none_or(Value::is_null))
            .map(|p| p.name.as_str())
            .collect();
        if !missing.is_empty() {
            problems.push(format!("missing required param(s): {}", missing.join(", ")));
        }
        for p in &self.params {
            if let Some(v) = params.get(&p.name).filter(|v| !v.is_null())
                && !p.kind.accepts(v)
            {
                problems.push(format!("param '{}' must be {}, got {}", p.name, p.kind.name(), json_type(v)));
            }
        }
        problems
    }
}

/// A participant's self-description, returned by `describe`.
#[derive(Debug, Clone)]
pub struct Description {
    pub name: String,
    pub version: String,
    pub doc: String,
    pub default_action: Option<String>,
    pub actions: Vec<Action>,
}

impl Description {
    pub fn new(name: &str, doc: &str) -> Self {
        Description {
            name: name.into(),
            version: "0.1.0".into(),
            doc: doc.into(),
            default_action: None,
            actions: Vec::new(),
        }
    }

    pub fn version(mut self, version: &str) -> Self {
        self.version = version.into();
        self
    }

    pub fn action(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }

    /// The action a bare step calls; the first action when not set.
    pub fn default_action(mut self, name: &str) -> Self {
        self.default_action = Some(name.into());
        self
    }

    pub fn find(&self, action: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == action)
    }

    pub(crate) fn into_wit(self) -> wit::Description {
        let default_action = self.default_action.or_else(|| self.actions.first().map(|a| a.name.clone()));
        wit::Description {
            name: self.name,
            version: self.version,
            doc: self.doc,
            default_action,
            actions: self
                .actions
                .into_iter()
                .map(|a| wit::ActionSpec {
                    name: a.name,
                    doc: a.doc,
                    params: a
                        .params
                        .into_iter()
                        .map(|p| wit::ParamSpec {
                            name: p.name,
                            kind: p.kind.to_wit(),
                            required: p.required,
                            doc: p.doc,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
