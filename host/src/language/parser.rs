//! Builds the tree from tokens, reporting every error it can in one pass.
//!
//! Errors are recorded in the parser and signalled upwards with `Stop`; the statement
//! loop then skips to the next statement, so one typo does not hide the next.
//! Recursion is bounded by [`MAX_DEPTH`] and every token is looked at a bounded number
//! of times, so hostile input can neither overflow the stack nor take quadratic time.

use std::fmt;

use serde_json::Value;

use super::diagnostic::{Diagnostic, ParseErrors};
use super::lexer::{Token, TokenKind, tokenize};
use super::tree::{Definition, Node, Span, describe_value, is_define_name, unwrap_define};

/// Deepest nesting of blocks, arrays and hashes combined.
pub const MAX_DEPTH: usize = 256;
/// Parsing stops after this many errors; later ones are usually consequences.
pub const MAX_ERRORS: usize = 20;

/// Parses definition text. `file_name` is only used in rendered errors.
///
/// # Errors
/// Every syntax error found (up to [`MAX_ERRORS`]), each with its place, as
/// one [`ParseErrors`].
pub fn parse(file_name: &str, source: &str) -> Result<Definition, ParseErrors> {
    if u32::try_from(source.len()).is_err() {
        let message = "definition is too large (over 4 GiB)";
        return Err(ParseErrors::single(file_name, "", Diagnostic::new(Span::default(), message)));
    }
    let mut parser = Parser {
        tokens: tokenize(source),
        pos: 0,
        depth: 0,
        open: 0,
        brackets: Vec::new(),
        errors: Vec::new(),
        gave_up: false,
    };
    let statements = parser.statements(None);
    let definition = if parser.errors.is_empty() { parser.finish(statements) } else { None };
    match definition {
        Some(definition) => Ok(definition),
        None => {
            let mut errors = ParseErrors::new(file_name, source);
            errors.truncated = parser.gave_up;
            errors.diagnostics = parser.errors;
            Err(errors)
        }
    }
}

/// An error has been recorded; unwind to the nearest recovery point.
#[derive(Debug)]
struct Stop;

type PResult<T> = Result<T, Stop>;

struct Statement {
    node: Node,
    has_block: bool,
}

/// What the parser was looking for, turned into text only when an error is reported,
/// so the happy path allocates nothing for messages.
#[derive(Clone, Copy)]
enum Want<'a> {
    StatementName,
    NameAfterRuote,
    Argument,
    ValueAfter(&'a str),
    ArrayItem,
    CommaOr(char),
    ArrowAfterKey,
    HashKey,
    EndOfStatement,
}

impl fmt::Display for Want<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Want::StatementName => f.write_str("a statement name"),
            Want::NameAfterRuote => f.write_str("an expression name after `Ruote.`"),
            Want::Argument => f.write_str("an argument"),
            Want::ValueAfter(key) => write!(f, "a value after `{key}`"),
            Want::ArrayItem => f.write_str("a value or `]`"),
            Want::CommaOr(close) => write!(f, "`,` or `{close}`"),
            Want::ArrowAfterKey => f.write_str("`=>` after the hash key"),
            Want::HashKey => f.write_str("a hash key or `}`"),
            Want::EndOfStatement => f.write_str("a new line or `;` after the statement"),
        }
    }
}

/// How the statement loop should continue after looking at the next token.
enum BlockEnd {
    Statement,
    Skip,
    Done,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Current nesting of blocks, arrays and hashes.
    depth: usize,
    /// Brackets opened and not yet closed in the current statement, so recovery can
    /// skip to the end of a multi-line hash instead of stopping inside it.
    open: usize,
    /// Where each `[` and `{` still open in the current statement was
    /// opened, so an error inside one can point back at it.
    brackets: Vec<(Span, char)>,
    errors: Vec<Diagnostic>,
    gave_up: bool,
}

// Parsing recurses once per nesting level, so the functions on the recursive path keep
// their frames small: tokens are moved out rather than cloned and error reporting lives
// in separate `#[cold]` functions.
impl Parser {
    fn peek(&self) -> &TokenKind {
        &self.current().kind
    }

    fn current(&self) -> &Token {
        // `tokenize` always ends with Eof and `bump` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn span(&self) -> Span {
        self.current().span
    }

    /// Moves past the current token.
    fn bump(&mut self) -> Span {
        let span = self.span();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        span
    }

    /// Moves past the current token, handing over its text. Tokens are never revisited
    /// once consumed, so taking the text out is safe.
    fn take_text(&mut self) -> String {
        let text = match self.tokens.get_mut(self.pos).map(|t| &mut t.kind) {
            Some(
                TokenKind::Ident(text)
                | TokenKind::Label(text)
                | TokenKind::StrLabel(text)
                | TokenKind::Symbol(text)
                | TokenKind::Str(text),
            ) => std::mem::take(text),
            _ => String::new(),
        };
        self.bump();
        text
    }

    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), TokenKind::Ident(name) if name == word)
    }

    fn skip_newlines(&mut self) {
        while matches!(self.peek(), TokenKind::Newline) {
            self.bump();
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), TokenKind::Newline | TokenKind::Semicolon) {
            self.bump();
        }
    }

    #[cold]
    #[inline(never)]
    fn report(&mut self, diagnostic: Diagnostic) {
        if self.errors.len() >= MAX_ERRORS {
            self.gave_up = true;
        } else {
            self.errors.push(diagnostic);
        }
    }

    #[cold]
    #[inline(never)]
    fn fail<T>(&mut self, span: Span, message: String) -> PResult<T> {
        self.report(Diagnostic::new(span, message));
        Err(Stop)
    }

    /// Records "expected X, found Y" at the current token (or the lexer's own message
    /// when the current token is one it could not read) and stops the statement.
    #[cold]
    #[inline(never)]
    fn expected<T>(&mut self, want: Want<'_>) -> PResult<T> {
        let token = self.current();
        let span = token.span;
        let diagnostic = match &token.kind {
            TokenKind::Invalid(message) => Diagnostic::new(span, message.clone()),
            TokenKind::Ident(name) if !matches!(name.as_str(), "do" | "end") => {
                Diagnostic::new(span, format!("expected {want}, found `{name}`"))
                    .with_help(format!("to pass text, quote it: '{name}'"))
            }
            TokenKind::Label(_) | TokenKind::StrLabel(_) | TokenKind::Symbol(_)
                if matches!(want, Want::StatementName) =>
            {
                Diagnostic::new(span, format!("expected {want}, found {}", token.kind.describe()))
                    .with_help("if this continues the previous line, end that line with `,`")
            }
            other => Diagnostic::new(span, format!("expected {want}, found {}", other.describe())),
        };
        // An error inside a bracket opened on an earlier line is most likely
        // that bracket left unclosed: say where it was opened.
        let diagnostic = match self.brackets.last() {
            Some(&(opened, bracket)) if opened.line < span.line => {
                diagnostic.with_note(opened, format!("this `{bracket}` (line {}) is never closed", opened.line))
            }
            _ => diagnostic,
        };
        self.report(diagnostic);
        Err(Stop)
    }

    fn enter(&mut self, span: Span) -> PResult<()> {
        if self.depth >= MAX_DEPTH {
            return self.fail(span, format!("nesting is deeper than {MAX_DEPTH} levels"));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Statements up to `end` (inside a block opened at `block`) or end of input.
    fn statements(&mut self, block: Option<Span>) -> Vec<Statement> {
        let mut out = Vec::new();
        while !self.gave_up {
            self.skip_separators();
            match self.block_end(block) {
                BlockEnd::Done => break,
                BlockEnd::Skip => continue,
                BlockEnd::Statement => {}
            }
            let depth = self.depth;
            self.open = 0;
            self.brackets.clear();
            match self.statement() {
                Ok(statement) => out.push(statement),
                Err(Stop) => {
                    self.depth = depth;
                    self.recover();
                }
            }
        }
        out
    }

    #[inline(never)]
    fn block_end(&mut self, block: Option<Span>) -> BlockEnd {
        match self.peek() {
            TokenKind::Eof => {
                if let Some(open) = block {
                    let message = format!("missing `end` for the `do` on line {}", open.line);
                    self.report(Diagnostic::new(self.span(), message));
                }
                BlockEnd::Done
            }
            TokenKind::Ident(name) if name == "end" => {
                if block.is_some() {
                    return BlockEnd::Done;
                }
                let span = self.bump();
                self.report(Diagnostic::new(span, "`end` without a matching `do`"));
                BlockEnd::Skip
            }
            _ => BlockEnd::Statement,
        }
    }

    /// Skips the rest of a broken statement: to the next line break outside brackets,
    /// or just before an `end` that closes the enclosing block. A `do` on the way is
    /// parsed (when nesting allows) so its `end` is not mistaken for the enclosing one
    /// and errors inside it are still reported.
    #[inline(never)]
    fn recover(&mut self) {
        let mut open = self.open;
        self.open = 0;
        // A line ending in `,` (or `=>`, or `key:`) continues the broken statement.
        let mut continues = false;
        loop {
            match self.peek() {
                TokenKind::Eof => return,
                TokenKind::Newline if continues => {}
                TokenKind::Newline | TokenKind::Semicolon if open == 0 => return,
                TokenKind::Ident(name) if open == 0 && name == "end" => return,
                TokenKind::Ident(name) if open == 0 && name == "do" => {
                    let span = self.bump();
                    if self.depth < MAX_DEPTH {
                        self.depth += 1;
                        self.statements(Some(span));
                        self.leave();
                        if self.is_ident("end") {
                            self.bump();
                        }
                    } else {
                        self.skip_block();
                    }
                    return;
                }
                TokenKind::LBracket | TokenKind::LBrace | TokenKind::LParen => open += 1,
                TokenKind::RBracket | TokenKind::RBrace | TokenKind::RParen => open = open.saturating_sub(1),
                _ => {}
            }
            if !matches!(self.peek(), TokenKind::Newline) {
                continues = matches!(
                    self.peek(),
                    TokenKind::Comma | TokenKind::Arrow | TokenKind::Label(_) | TokenKind::StrLabel(_)
                );
            }
            self.bump();
        }
    }

    /// Skips to the `end` matching an already consumed `do`, without recursion.
    fn skip_block(&mut self) {
        let mut level = 1usize;
        loop {
            match self.peek() {
                TokenKind::Eof => return,
                TokenKind::Ident(name) if name == "do" => level += 1,
                TokenKind::Ident(name) if name == "end" => {
                    level -= 1;
                    if level == 0 {
                        self.bump();
                        return;
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    fn statement(&mut self) -> PResult<Statement> {
        let (name, span) = self.statement_name()?;
        let mut node = Node::new(name, span);
        self.call_arguments(&mut node)?;
        let has_block = self.is_ident("do");
        if has_block {
            node.children = self.block()?;
        }
        self.end_of_statement(has_block)?;
        Ok(Statement { node, has_block })
    }

    /// The statement's name, accepting (and dropping) Ruote's `Ruote.` prefix.
    #[inline(never)]
    fn statement_name(&mut self) -> PResult<(String, Span)> {
        if !matches!(self.peek(), TokenKind::Ident(name) if name != "do") {
            return self.expected(Want::StatementName);
        }
        let span = self.span();
        let name = self.take_text();
        if !matches!(self.peek(), TokenKind::Dot) {
            return Ok((name, span));
        }
        if name != "Ruote" {
            let span = self.span();
            self.report(
                Diagnostic::new(span, "method calls are not supported")
                    .with_help("the only accepted prefix is `Ruote.` (as in `Ruote.process_definition`)"),
            );
            return Err(Stop);
        }
        self.bump();
        if !matches!(self.peek(), TokenKind::Ident(name) if name != "do" && name != "end") {
            return self.expected(Want::NameAfterRuote);
        }
        let span = self.span();
        Ok((self.take_text(), span))
    }

    #[inline(never)]
    fn call_arguments(&mut self, node: &mut Node) -> PResult<()> {
        if matches!(self.peek(), TokenKind::LParen) {
            self.bump();
            self.open += 1;
            self.skip_newlines();
            if !matches!(self.peek(), TokenKind::RParen) {
                self.arguments(node, true)?;
            }
            if !matches!(self.peek(), TokenKind::RParen) {
                return self.expected(Want::CommaOr(')'));
            }
            self.bump();
            self.open = self.open.saturating_sub(1);
        } else if self.starts_argument() || matches!(self.peek(), TokenKind::Comma) {
            // A leading comma is parsed as a missing first argument, which is what it is.
            self.arguments(node, false)?;
        }
        Ok(())
    }

    fn block(&mut self) -> PResult<Vec<Node>> {
        let do_span = self.bump();
        if self.enter(do_span).is_err() {
            self.skip_block();
            return Err(Stop);
        }
        let children = self.statements(Some(do_span));
        self.leave();
        if !self.is_ident("end") {
            return Err(Stop); // `statements` reported the missing `end`.
        }
        self.bump();
        Ok(children.into_iter().map(|s| s.node).collect())
    }

    #[inline(never)]
    fn end_of_statement(&mut self, has_block: bool) -> PResult<()> {
        match self.peek() {
            TokenKind::Newline | TokenKind::Semicolon | TokenKind::Eof => Ok(()),
            TokenKind::Ident(word) if word == "end" => Ok(()),
            TokenKind::Invalid(_) => self.expected(Want::EndOfStatement),
            _ if self.starts_argument() && !has_block => {
                let message = format!("expected `,` before {}", self.peek().describe());
                self.fail(self.span(), message)
            }
            _ => self.expected(Want::EndOfStatement),
        }
    }

    fn starts_argument(&self) -> bool {
        match self.peek() {
            TokenKind::Ident(word) => !matches!(word.as_str(), "do" | "end"),
            TokenKind::Label(_)
            | TokenKind::StrLabel(_)
            | TokenKind::Symbol(_)
            | TokenKind::Str(_)
            | TokenKind::Number(_)
            | TokenKind::LBracket
            | TokenKind::LBrace
            | TokenKind::Invalid(_) => true,
            _ => false,
        }
    }

    /// Comma-separated arguments. A trailing comma continues onto the next line;
    /// inside parentheses every line break is insignificant.
    fn arguments(&mut self, node: &mut Node, in_parens: bool) -> PResult<()> {
        // Where each attribute key was written, to point back at the first of a repeat.
        let mut key_spans: Vec<Span> = Vec::new();
        loop {
            self.argument(node, &mut key_spans)?;
            if in_parens {
                self.skip_newlines();
            }
            if !matches!(self.peek(), TokenKind::Comma) {
                return Ok(());
            }
            self.bump();
            self.skip_newlines();
            if in_parens && matches!(self.peek(), TokenKind::RParen) {
                return Ok(());
            }
        }
    }

    fn argument(&mut self, node: &mut Node, key_spans: &mut Vec<Span>) -> PResult<()> {
        let key_span = self.span();
        let key = if matches!(self.peek(), TokenKind::Label(_) | TokenKind::StrLabel(_)) {
            let key = self.take_text();
            self.skip_newlines_before_value();
            key
        } else {
            let value = self.value(Want::Argument)?;
            if !matches!(self.peek(), TokenKind::Arrow) {
                node.args.push(value);
                return Ok(());
            }
            self.bump();
            self.skip_newlines_before_value();
            match value {
                Value::String(key) => key,
                other => {
                    let message =
                        format!("attribute keys must be strings or symbols, found {}", describe_value(&other));
                    return self.fail(key_span, message);
                }
            }
        };
        let value = self.value(Want::ValueAfter(&key))?;
        match node.attrs.iter().position(|(k, _)| *k == key) {
            Some(first) => {
                let first = key_spans.get(first).copied().unwrap_or_default();
                self.report(Diagnostic::new(key_span, format!("attribute `{key}` is given twice")).with_help(format!(
                    "it is first given on line {}, column {}; remove one of them",
                    first.line, first.column
                )));
            }
            None => {
                node.attrs.push((key, value));
                key_spans.push(key_span);
            }
        }
        Ok(())
    }

    /// A lone `define 'x' do ... end` names the definition; anything else is the body.
    fn finish(&mut self, mut statements: Vec<Statement>) -> Option<Definition> {
        let single_define =
            statements.len() == 1 && statements[0].has_block && is_define_name(&statements[0].node.name);
        if single_define {
            let node = statements.pop()?.node;
            let span = node.span;
            return match unwrap_define(node) {
                Ok(definition) => Some(definition),
                Err(message) => {
                    self.report(Diagnostic::new(span, message));
                    None
                }
            };
        }
        let mut root = Node::new("sequence", Span { line: 1, column: 1, offset: 0, len: 0 });
        root.children = statements.into_iter().map(|s| s.node).collect();
        Some(Definition { name: None, root })
    }
}

#[path = "parser_values.rs"]
mod values;

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
