//! Typed readings of common attribute values: durations (`timeout: '2h'`) and error /
//! timeout handlers (`on_error: '10s: retry * 3, pass'`).

use std::fmt;
use std::time::Duration;

/// Why a duration attribute does not read, in its author's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    /// The text as written.
    pub input: String,
    /// What is wrong with it, and how to write it instead.
    pub reason: String,
}

/// Parses a duration: `30s`, `5m` (minutes, as in Ruote), `2h`, `1d`, `1w`, `1h30m`,
/// `500ms`, or a bare number of seconds (`90`, `1.5`). Long unit names (`2 hours`) are
/// accepted too.
///
/// # Errors
/// When `input` is empty, negative, too large or not a number with units.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let text = input.trim();
    let error = |reason: String| DurationError { input: input.to_string(), reason };
    if text.is_empty() {
        return Err(error("it is empty; write for example `30s`, `5m` or `2h`".into()));
    }
    if text.starts_with('-') {
        return Err(error("durations cannot be negative".into()));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().map(Duration::from_secs).map_err(|_| error("the number is too large".into()));
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return text
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| error("not a number of seconds".into()));
    }
    humantime::parse_duration(text).map_err(|e| error(explain(&e, text)))
}

/// humantime reports byte offsets; say what is wrong in the author's terms instead.
fn explain(error: &humantime::DurationError, text: &str) -> String {
    use humantime::DurationError as E;
    match error {
        E::InvalidCharacter(at) | E::NumberExpected(at) => {
            let found = text.get(*at..).and_then(|rest| rest.chars().next()).unwrap_or(' ');
            format!(
                "expected a number followed by a unit (ms, s, m, h, d, w) at `{found}`, \
                 as in `30s`, `5m` or `1h30m`"
            )
        }
        E::UnknownUnit { unit, .. } => {
            format!("unknown time unit `{unit}`; use ms, s, m (minutes), h, d or w")
        }
        E::NumberOverflow => "the duration is too large".to_string(),
        E::Empty => "it is empty".to_string(),
    }
}

/// What to do when a step fails or times out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerAction {
    /// Apply the step again, when its error may go away on its own (a
    /// retryable error, a timeout, a deadline); other errors go on to the
    /// next handler.
    Retry,
    /// `retry(any)`: apply the step again whatever its error.
    RetryAny,
    /// `pass`: reply to the parent as if the step had completed, with the
    /// fields it failed with.
    Pass,
    /// `cancel`: cancel the step and reply with the fields it was applied with.
    Cancel,
    /// `undo`: the same as `cancel`, as Ruote spells it.
    Undo,
    /// `redo`: apply the step again with the fields it started with (a
    /// `retry` starts from those it failed with).
    Redo,
    /// `cando`: cancel it (running its `on_cancel`), then apply it again.
    Cando,
    /// `error`: turn a timeout into an error (only meaningful in `on_timeout`).
    Raise,
    /// Run the named subprocess or participant.
    Handler(String),
}

impl fmt::Display for HandlerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerAction::Retry => f.write_str("retry"),
            HandlerAction::RetryAny => f.write_str("retry(any)"),
            HandlerAction::Pass => f.write_str("pass"),
            HandlerAction::Cancel => f.write_str("cancel"),
            HandlerAction::Undo => f.write_str("undo"),
            HandlerAction::Redo => f.write_str("redo"),
            HandlerAction::Cando => f.write_str("cando"),
            HandlerAction::Raise => f.write_str("error"),
            HandlerAction::Handler(name) => f.write_str(name),
        }
    }
}

impl HandlerAction {
    /// `retry` or `retry(any)`: the items that may be followed by others.
    pub fn is_retry(&self) -> bool {
        matches!(self, HandlerAction::Retry | HandlerAction::RetryAny)
    }
}

/// One item of a handler list: `[DELAY:] ACTION [* TIMES]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    /// Wait this long before acting.
    pub delay: Option<Duration>,
    /// What to do.
    pub action: HandlerAction,
    /// For `retry`: at most this many attempts before moving to the next item.
    pub times: Option<u32>,
}

/// Why an `on_error` or `on_timeout` value does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {attribute} value {input:?}: {reason}")]
pub struct HandlerError {
    /// `on_error` or `on_timeout`.
    pub attribute: &'static str,
    /// The value as written.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses an `on_error` value: a handler name, `retry`, `retry(any)`, `pass`, `cancel`,
/// `undo`, `redo`, or Ruote's composed list such as `'10s: retry * 3, pass'`.
///
/// # Errors
/// When an item is neither a known action nor a name, or its delay or
/// count does not read.
pub fn parse_on_error(input: &str) -> Result<Vec<Handler>, HandlerError> {
    parse_handlers(input, "on_error")
}

/// Parses an `on_timeout` value: as [`parse_on_error`], plus `error`.
///
/// # Errors
/// As [`parse_on_error`].
pub fn parse_on_timeout(input: &str) -> Result<Vec<Handler>, HandlerError> {
    parse_handlers(input, "on_timeout")
}

fn parse_handlers(input: &str, attribute: &'static str) -> Result<Vec<Handler>, HandlerError> {
    let error = |reason: String| HandlerError { attribute, input: input.to_string(), reason };
    if input.trim().is_empty() {
        return Err(error("it is empty".into()));
    }
    let mut handlers: Vec<Handler> = Vec::new();
    for (index, item) in input.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            return Err(error(format!("item {} is empty", index + 1)));
        }
        if let Some(last) = handlers.last()
            && !last.action.is_retry()
        {
            return Err(error(format!("`{item}` can never run: `{}` before it ends the handling", last.action)));
        }
        let handler = parse_item(item, attribute).map_err(|reason| error(format!("in `{item}`: {reason}")))?;
        handlers.push(handler);
    }
    Ok(handlers)
}

fn parse_item(item: &str, attribute: &str) -> Result<Handler, String> {
    let (delay, rest) = match item.split_once(':') {
        Some((delay, rest)) => {
            let delay = parse_duration(delay).map_err(|e| e.reason)?;
            (Some(delay), rest.trim())
        }
        None => (None, item),
    };
    let (action, times) = match rest.split_once('*') {
        Some((action, times)) => {
            let times = times.trim();
            let times = match times.parse::<u32>() {
                Ok(0) => return Err("`* 0` would never retry; leave the retry out".into()),
                Ok(n) => n,
                Err(_) => return Err(format!("`* {times}` needs a whole number of times")),
            };
            (action.trim(), Some(times))
        }
        None => (rest, None),
    };
    let action = match action {
        "retry" => HandlerAction::Retry,
        "retry(any)" => HandlerAction::RetryAny,
        "pass" => HandlerAction::Pass,
        "cancel" => HandlerAction::Cancel,
        "undo" => HandlerAction::Undo,
        "redo" => HandlerAction::Redo,
        "cando" => HandlerAction::Cando,
        "error" if attribute == "on_timeout" => HandlerAction::Raise,
        "error" => return Err("`error` is only meaningful in `on_timeout`".into()),
        "" => return Err("an action is missing".into()),
        name if is_handler_name(name) => HandlerAction::Handler(name.to_string()),
        name => {
            return Err(format!(
                "`{name}` is neither an action (retry, pass, cancel, undo, redo, cando{}) nor a \
                 subprocess or participant name",
                if attribute == "on_timeout" { ", error" } else { "" }
            ));
        }
    };
    if times.is_some() && !action.is_retry() {
        return Err(format!("`* N` only applies to `retry`, not `{action}`"));
    }
    Ok(Handler { delay, action, times })
}

/// Participant and subprocess names: letters, digits, `_`, `-` and `.`, starting with a
/// letter or `_`.
fn is_handler_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(secs(30)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("2h"), Ok(secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(secs(86_400)));
        assert_eq!(parse_duration("1w"), Ok(secs(604_800)));
        assert_eq!(parse_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("90"), Ok(secs(90)));
        assert_eq!(parse_duration(" 1.5 "), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2 hours"), Ok(secs(7200)));
        assert_eq!(parse_duration("0s"), Ok(secs(0)));
    }

    #[test]
    fn bad_durations() {
        for bad in ["", "  ", "abc", "5x", "-5s", "1..2", "99999999999999999999", "h", "5 m s"] {
            let error = parse_duration(bad).unwrap_err();
            assert_eq!(error.input, bad);
            assert!(error.to_string().starts_with("invalid duration"), "{error}");
        }
        assert!(parse_duration("").unwrap_err().reason.contains("empty"));
        assert!(parse_duration("-5s").unwrap_err().reason.contains("negative"));
        assert!(parse_duration("5x").unwrap_err().reason.contains("unknown time unit `x`"));
        assert!(parse_duration("5 m s").unwrap_err().reason.contains("at `s`"));
    }

    #[test]
    fn single_actions_and_handler_names() {
        let expect = [
            ("retry", HandlerAction::Retry),
            ("retry(any)", HandlerAction::RetryAny),
            ("pass", HandlerAction::Pass),
            ("cancel", HandlerAction::Cancel),
            ("undo", HandlerAction::Undo),
            ("redo", HandlerAction::Redo),
            ("cando", HandlerAction::Cando),
            ("alert_admin", HandlerAction::Handler("alert_admin".into())),
            ("notify-ops.v2", HandlerAction::Handler("notify-ops.v2".into())),
        ];
        for (input, action) in expect {
            assert_eq!(parse_on_error(input), Ok(vec![Handler { delay: None, action, times: None }]), "{input}");
        }
    }

    #[test]
    fn composed_form() {
        assert_eq!(
            parse_on_error("10s: retry * 3, pass"),
            Ok(vec![
                Handler { delay: Some(secs(10)), action: HandlerAction::Retry, times: Some(3) },
                Handler { delay: None, action: HandlerAction::Pass, times: None },
            ])
        );
        assert_eq!(
            parse_on_error("retry*2,1m:retry * 5,5m: alert_admin"),
            Ok(vec![
                Handler { delay: None, action: HandlerAction::Retry, times: Some(2) },
                Handler { delay: Some(secs(60)), action: HandlerAction::Retry, times: Some(5) },
                Handler { delay: Some(secs(300)), action: HandlerAction::Handler("alert_admin".into()), times: None },
            ])
        );
    }

    #[test]
    fn error_action_is_for_timeouts_only() {
        assert_eq!(
            parse_on_timeout("1m: retry * 2, error"),
            Ok(vec![
                Handler { delay: Some(secs(60)), action: HandlerAction::Retry, times: Some(2) },
                Handler { delay: None, action: HandlerAction::Raise, times: None },
            ])
        );
        let error = parse_on_error("error").unwrap_err();
        assert_eq!(error.attribute, "on_error");
        assert!(error.reason.contains("only meaningful in `on_timeout`"), "{error}");
    }

    #[test]
    fn garbage_is_rejected_clearly() {
        let cases = [
            ("", "it is empty"),
            ("retry * 3,", "item 2 is empty"),
            ("retry * x", "in `retry * x`: `* x` needs a whole number of times"),
            ("retry * 0", "in `retry * 0`: `* 0` would never retry; leave the retry out"),
            ("pass * 3", "in `pass * 3`: `* N` only applies to `retry`, not `pass`"),
            ("soon: retry", "in `soon: retry`: expected a number followed by a unit (ms, s, m, h, d, w) at `s`"),
            ("10x: retry", "in `10x: retry`: unknown time unit `x`; use ms, s, m (minutes), h, d or w"),
            ("10s:", "in `10s:`: an action is missing"),
            ("pass, retry", "`retry` can never run: `pass` before it ends the handling"),
            (
                "retry now",
                "in `retry now`: `retry now` is neither an action (retry, pass, cancel, undo, redo, cando) nor a subprocess or participant name",
            ),
        ];
        for (input, reason) in cases {
            let error = parse_on_error(input).unwrap_err();
            assert!(error.reason.starts_with(reason), "{input}: {}", error.reason);
            assert!(error.to_string().starts_with("invalid on_error value"), "{error}");
        }
    }
}
