//! Errors that point into a definition's source, rendered with the offending line and a caret.

use std::fmt;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};

use super::tree::Span;

/// One problem found in a definition, located by its span.
///
/// Kept independent of the parser so later phases (an unknown participant on line N,
/// a bad duration in an attribute) report in exactly the same format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, as the headline of the rendered error.
    pub message: String,
    /// Where it is wrong: the caret's place.
    pub span: Span,
    /// How to fix it, when there is a likely fix.
    pub help: Option<String>,
    /// Other places that explain the error (where an unclosed bracket was
    /// opened), each with its label, shown after the main one as rustc does.
    pub notes: Vec<(Span, String)>,
}

impl Diagnostic {
    /// A diagnostic with no help and no notes.
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Diagnostic { message: message.into(), span, help: None, notes: Vec::new() }
    }

    /// The same with a `help:` line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The same with one more labelled place.
    pub fn with_note(mut self, span: Span, label: impl Into<String>) -> Self {
        self.notes.push((span, label.into()));
        self
    }

    /// Renders this diagnostic against the text it was found in.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        render(self, file_name, source)
    }
}

/// Renders `diagnostic` as plain text (no colours), in the rustc-like form:
///
/// ```text
/// error: expected a value after `region:`
///  --> deploy.mm:3:11
///   |
/// 3 |   region: ,
///   |           ^ here
/// ```
///
/// A span that does not fit `source` (a JSON-built node, or a stale source) still yields
/// the message and file name, so reporting never fails.
pub fn render(diagnostic: &Diagnostic, file_name: &str, source: &str) -> String {
    let mut group = Group::with_title(Level::ERROR.primary_title(diagnostic.message.as_str()));
    match locate(source, &diagnostic.span) {
        Some(located) => {
            let line_text = &source[located.line_start..located.line_end];
            group = group.element(
                Snippet::source(line_text)
                    .line_start(located.line)
                    .path(file_name)
                    .annotation(AnnotationKind::Primary.span(located.start..located.end).label("here")),
            );
        }
        None => {
            let mut origin = Origin::path(file_name);
            if diagnostic.span.is_known() {
                origin = origin.line(diagnostic.span.line as usize).char_column(diagnostic.span.column as usize);
            }
            group = group.element(origin);
        }
    }
    for (span, label) in &diagnostic.notes {
        match locate(source, span) {
            Some(located) => {
                group = group.element(
                    Snippet::source(&source[located.line_start..located.line_end])
                        .line_start(located.line)
                        .path(file_name)
                        .annotation(AnnotationKind::Context.span(located.start..located.end).label(label.as_str())),
                );
            }
            None => group = group.element(Level::NOTE.message(label.as_str())),
        }
    }
    if let Some(help) = &diagnostic.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    Renderer::plain().render(&[group])
}

/// The one source line a span starts on, and the span's byte range within that line.
struct Located {
    line: usize,
    line_start: usize,
    line_end: usize,
    start: usize,
    end: usize,
}

/// Finds the line a span starts on. Multi-line spans (a string with newlines) are cut
/// at the end of their first line: one line with a caret is what readers need.
fn locate(source: &str, span: &Span) -> Option<Located> {
    if !span.is_known() {
        return None;
    }
    let offset = usize::try_from(span.offset).ok()?;
    if offset > source.len() || !source.is_char_boundary(offset) {
        return None;
    }
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[offset..].find('\n').map_or(source.len(), |i| offset + i);
    // Trailing `\r` of CRLF files would otherwise be drawn as part of the line.
    let line_end =
        if source[line_start..line_end].ends_with('\r') && offset < line_end { line_end - 1 } else { line_end };
    let start = offset - line_start;
    let len = usize::try_from(span.len).unwrap_or(usize::MAX);
    let mut end = start.saturating_add(len).min(line_end - line_start);
    let line_text = &source[line_start..line_end];
    while end > start && !line_text.is_char_boundary(end) {
        end -= 1;
    }
    let start = start.min(end);
    // Counted rather than taken from the span, so a hand-made span with only a correct
    // offset still shows the right line number.
    let counted = source[..line_start].bytes().filter(|&b| b == b'\n').count() + 1;
    Some(Located { line: counted, line_start, line_end, start, end })
}

/// Every error found while parsing one source, with the source kept so they can be shown.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseErrors {
    /// The name shown in `-->` lines.
    pub file_name: String,
    /// The text parsed, to render each diagnostic against.
    pub source: String,
    /// The errors, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// Parsing stopped early because too many errors were found.
    pub truncated: bool,
}

impl ParseErrors {
    /// An empty set for `source`.
    pub fn new(file_name: impl Into<String>, source: impl Into<String>) -> Self {
        ParseErrors { file_name: file_name.into(), source: source.into(), diagnostics: Vec::new(), truncated: false }
    }

    /// A single-error set, for callers that find a problem outside the parser.
    pub fn single(file_name: &str, source: &str, diagnostic: Diagnostic) -> Self {
        let mut errors = ParseErrors::new(file_name, source);
        errors.diagnostics.push(diagnostic);
        errors
    }
}

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{}", render(diagnostic, &self.file_name, &self.source))?;
        }
        if self.truncated {
            writeln!(f, "error: stopped after {} errors in {}", self.diagnostics.len(), self.file_name)?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(line: u32, column: u32, offset: u32, len: u32) -> Span {
        Span { line, column, offset, len }
    }

    #[test]
    fn renders_line_and_caret() {
        let source = "foo a: 1,\n  region: ,\nbar\n";
        let d = Diagnostic::new(span(2, 11, 20, 1), "expected a value after `region:`");
        let text = d.render("deploy.mm", source);
        let expected = "\
error: expected a value after `region:`
 --> deploy.mm:2:11
  |
2 |   region: ,
  |           ^ here";
        assert_eq!(text.trim_end(), expected);
    }

    #[test]
    fn renders_help() {
        let d = Diagnostic::new(span(1, 1, 0, 3), "unknown participant `foo`").with_help("register it first");
        let text = d.render("x.mm", "foo 'a'");
        assert!(text.contains("^^^ here"), "{text}");
        assert!(text.contains("help: register it first"), "{text}");
    }

    #[test]
    fn caret_at_end_of_input() {
        let source = "foo [1, 2";
        let d = Diagnostic::new(span(1, 10, 9, 0), "expected `]`");
        let text = d.render("x.mm", source);
        assert!(text.contains(" --> x.mm:1:10"), "{text}");
        assert!(text.contains("1 | foo [1, 2"), "{text}");
    }

    #[test]
    fn multi_line_span_is_cut_to_first_line() {
        let source = "foo 'a\nb'\n";
        let d = Diagnostic::new(span(1, 5, 4, 5), "bad string");
        let text = d.render("x.mm", source);
        assert!(text.contains("1 | foo 'a"), "{text}");
        assert!(text.contains("^^ here"), "{text}");
        assert!(!text.contains("2 |"), "{text}");
    }

    #[test]
    fn unknown_or_stale_spans_still_render() {
        let d = Diagnostic::new(Span::default(), "bad node");
        let text = d.render("api.json", "{}");
        assert!(text.contains("error: bad node"), "{text}");
        assert!(text.contains("api.json"), "{text}");

        let d = Diagnostic::new(span(9, 3, 5000, 2), "stale");
        let text = d.render("x.mm", "short");
        assert!(text.contains("x.mm:9:3"), "{text}");

        // Offset in the middle of a multi-byte character.
        let d = Diagnostic::new(span(1, 2, 1, 1), "mid char");
        let text = d.render("x.mm", "é");
        assert!(text.contains("error: mid char"), "{text}");
    }

    #[test]
    fn crlf_lines_are_not_drawn_with_carriage_returns() {
        let source = "foo 1\r\nbar ?\r\n";
        let d = Diagnostic::new(span(2, 5, 11, 1), "unexpected `?`");
        let text = d.render("x.mm", source);
        assert!(text.contains("2 | bar ?\n"), "{text:?}");
    }

    #[test]
    fn parse_errors_display_renders_all() {
        let source = "a ?\nb ?\n";
        let mut errors = ParseErrors::new("x.mm", source);
        errors.diagnostics.push(Diagnostic::new(span(1, 3, 2, 1), "first"));
        errors.diagnostics.push(Diagnostic::new(span(2, 3, 6, 1), "second"));
        let text = errors.to_string();
        assert!(text.contains("error: first\n --> x.mm:1:3"), "{text}");
        assert!(text.contains("error: second\n --> x.mm:2:3"), "{text}");
        let error: &dyn std::error::Error = &errors;
        assert!(error.source().is_none());
    }
}
