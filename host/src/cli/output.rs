//! How the client commands print: for people (aligned tables, one-line
//! answers, colour) when stdout is a terminal, JSON otherwise or with
//! `--json`, so a script that pipes a command's output keeps reading the
//! JSON it always read.
//!
//! The tables are a small function rather than a crate: neither comfy-table
//! nor tabled is in the dependency tree, and every cell here is a short
//! single-line value (ids, names, states, times) that needs no wrapping.

use serde_json::Value;
use std::io::{IsTerminal, Write};

/// What a command prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// The API's JSON, as it came.
    Json,
    /// Tables and short answers, coloured when `colour`.
    Human { colour: bool },
}

impl Output {
    /// JSON when asked for or when stdout is not a terminal; tables otherwise.
    pub(crate) fn choose(json: bool) -> Output {
        if json || !std::io::stdout().is_terminal() {
            Output::Json
        } else {
            Output::Human { colour: colour(std::io::stdout().is_terminal()) }
        }
    }
}

/// Whether to colour a stream: only a terminal, and only while NO_COLOR is
/// unset or empty (<https://no-color.org>) and TERM is not `dumb`.
pub(crate) fn colour(is_terminal: bool) -> bool {
    is_terminal
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Whether to colour what goes to stderr.
pub(crate) fn colour_stderr() -> bool {
    colour(std::io::stderr().is_terminal())
}

/// ANSI styles, empty when colour is off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    /// Whether these are colours at all.
    pub(crate) on: bool,
    pub(crate) bold: &'static str,
    pub(crate) dim: &'static str,
    pub(crate) green: &'static str,
    pub(crate) red: &'static str,
    pub(crate) yellow: &'static str,
    pub(crate) reset: &'static str,
}

impl Style {
    pub(crate) fn new(colour: bool) -> Style {
        if colour {
            Style {
                on: true,
                bold: "\x1b[1m",
                dim: "\x1b[2m",
                green: "\x1b[32m",
                red: "\x1b[31m",
                yellow: "\x1b[33m",
                reset: "\x1b[0m",
            }
        } else {
            Style { on: false, bold: "", dim: "", green: "", red: "", yellow: "", reset: "" }
        }
    }
}

/// Writes text to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn print_text(text: &str) -> anyhow::Result<()> {
    match write!(std::io::stdout(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// How many columns `text` takes on a terminal: its characters, less
/// the ANSI colour sequences (`ESC [ ... m`) in it.
fn width(text: &str) -> usize {
    let mut n = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// A table: a header row, then one row per item, columns aligned and two
/// spaces apart (the last column is not padded). `empty` is printed
/// instead when there are no rows. Cells may be coloured.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>], empty: &str, colour: bool) -> String {
    if rows.is_empty() {
        return format!("{empty}\n");
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let style = Style::new(colour);
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - width(cell) + 2));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = format!("{}{}{}\n", style.bold, line(headers.to_vec()), style.reset);
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// A JSON value as a table cell: strings bare, null as `-`, a list of
/// strings comma-separated.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.replace(['\n', '\r', '\t'], " "),
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// An RFC 3339 time of the API as `2026-05-20 14:03:11` (UTC, to the second).
pub(crate) fn time_cell(value: &Value) -> String {
    match value.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S").to_string(),
        None => cell(value),
    }
}

/// How long from `from` to `to` (to now when `to` is null): `850ms`, `12s`,
/// `3m 04s`, `2h 05m`, `3d 4h`.
pub(crate) fn duration_cell(from: &Value, to: &Value) -> String {
    let parse = |v: &Value| v.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let Some(start) = parse(from) else { return "-".into() };
    let end = parse(to).map(|t| t.with_timezone(&chrono::Utc)).unwrap_or_else(chrono::Utc::now);
    let ms = (end - start.with_timezone(&chrono::Utc)).num_milliseconds().max(0);
    human_duration(ms)
}

pub(crate) fn human_duration(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms}ms"),
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_aligned_and_the_last_is_not_padded() {
        let rows = vec![
            vec!["a".to_owned(), "long value".to_owned(), "x".to_owned()],
            vec!["bbbb".to_owned(), "v".to_owned(), "-".to_owned()],
        ];
        let text = table(&["ID", "NAME", "LAST"], &rows, "none", false);
        assert_eq!(text, "ID    NAME        LAST\na     long value  x\nbbbb  v           -\n");
        assert_eq!(table(&["ID"], &[], "no things", false), "no things\n");
        assert!(table(&["ID"], &[vec!["a".into()]], "", true).starts_with("\x1b[1mID\x1b[0m\n"));
        let coloured =
            vec![vec!["\x1b[32mok\x1b[0m".to_owned(), "x".to_owned()], vec!["failed".to_owned(), "y".to_owned()]];
        assert_eq!(table(&["S", "T"], &coloured, "", false), "S       T\n\x1b[32mok\x1b[0m      x\nfailed  y\n");
    }

    #[test]
    fn cells_and_durations_read_well() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!(["read", "run"])), "read,run");
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(time_cell(&json!("2026-05-20T14:03:11.123Z")), "2026-05-20 14:03:11");
        assert_eq!(human_duration(850), "850ms");
        assert_eq!(human_duration(12_400), "12s");
        assert_eq!(human_duration(184_000), "3m 04s");
        assert_eq!(human_duration(7_500_000), "2h 05m");
        assert_eq!(duration_cell(&json!("2026-05-20T14:00:00Z"), &json!("2026-05-20T14:00:01.5Z")), "1s");
    }
}
