//! Durations as steps write them: a number of seconds (`30`, `2.5`) or
//! text such as `500ms`, `90s`, `5m`, `1h30m`, `2d`, the same spelling the
//! language uses for `timeout:` and `wait`.

use crate::Call;
use crate::error::{Error, Result};
use serde_json::Value;
use std::time::Duration;

/// Parses a duration; the error says what was expected.
pub fn parse_duration(value: &Value) -> std::result::Result<Duration, String> {
    let expected = "expected seconds (e.g. 30) or a duration such as '90s', '5m', '1h30m'";
    let duration = match value {
        Value::Number(n) => {
            let secs =
                n.as_f64().filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9).ok_or_else(|| expected.to_owned())?;
            Duration::from_secs_f64(secs)
        }
        Value::String(s) => parse_text(s.trim()).ok_or_else(|| format!("'{s}': {expected}"))?,
        _ => return Err(expected.to_owned()),
    };
    if duration.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(duration)
}

fn parse_text(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && (0.0..1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let secs = match rest[..unit_len].trim() {
            "ms" => number / 1000.0,
            "s" | "sec" | "secs" => number,
            "m" | "min" | "mins" => number * 60.0,
            "h" => number * 3600.0,
            "d" => number * 86400.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        if !(secs.is_finite() && secs < 1e9) {
            return None;
        }
        total += Duration::from_secs_f64(secs);
    }
    Some(total)
}

impl Call {
    /// An optional duration param; a malformed one is a `bad-input` error.
    pub fn duration(&self, name: &str) -> Result<Option<Duration>> {
        match self.params.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => parse_duration(v).map(Some).map_err(|e| Error::bad_input(format!("param '{name}': {e}"))),
        }
    }
}
