use crate::describe::json_type;
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Field updates returned by an action: each key replaces that field.
pub type Fields = Map<String, Value>;

/// Where the call comes from (see `context` in the WIT contract).
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub job_id: String,
    pub step_id: String,
    pub attempt: u32,
    /// Stable across retries of this step: use it to deduplicate remote work.
    pub idempotency_key: String,
    pub tenant: String,
    pub settings: Vec<(String, String)>,
}

impl Context {
    /// A non-secret setting the operator configured for this participant.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// One invocation: the action, its params, the job's fields and context.
#[derive(Debug, Clone)]
pub struct Call {
    pub action: String,
    pub params: Map<String, Value>,
    pub fields: Map<String, Value>,
    pub context: Context,
}

impl Call {
    /// A param converted to `T`; a clear `bad-input` error when it is
    /// missing or of the wrong type.
    pub fn param<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        match self.params.get(name) {
            None | Some(Value::Null) => Err(Error::bad_input(format!("missing required param '{name}'"))),
            Some(v) => convert(name, v),
        }
    }

    /// A param that may be absent (or null).
    pub fn optional<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        match self.params.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => convert(name, v).map(Some),
        }
    }

    /// A param, or a setting of the same name, or `default`.
    pub fn param_or_setting(&self, name: &str, setting: &str) -> Option<String> {
        match self.params.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) if !v.is_null() => Some(v.to_string()),
            _ => self.context.setting(setting).map(str::to_owned),
        }
    }
}

fn convert<T: DeserializeOwned>(name: &str, v: &Value) -> Result<T> {
    serde_json::from_value(v.clone())
        .map_err(|e| Error::bad_input(format!("param '{name}' is malformed ({} given): {e}", json_type(v))))
}
