//! Conditions for `if`/`unless` expressions and `if:`/`unless:` attributes.
//!
//! The condition is read before substitution, so `${x} is set` can tell a missing field
//! from an empty one and a value containing `==` cannot change the condition's meaning.

use regex::RegexBuilder;
use serde_json::Value;

use super::dollar::{self, DollarError, Lookup};

/// Parentheses and negations deeper than this are rejected rather than risking the stack.
const MAX_DEPTH: usize = 64;
/// Compiled regex size limit, so a condition cannot make the engine allocate wildly.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Why a condition could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The condition does not read.
    #[error("invalid condition {condition:?}: {message}")]
    Syntax {
        /// The condition's text.
        condition: String,
        /// What does not read, and where.
        message: String,
    },
    /// A `${...}` reference in it failed.
    #[error(transparent)]
    Dollar(#[from] DollarError),
    /// A `=~` pattern is not a valid regular expression.
    #[error("invalid regular expression {pattern:?}: {message}")]
    Regex {
        /// The pattern as written.
        pattern: String,
        /// Why the regex engine refused it.
        message: String,
    },
}

/// Evaluates a condition's raw text (with its `${...}` references unsubstituted).
///
/// # Errors
/// When the condition does not read, a reference in it fails, or a
/// regular expression in it is invalid.
pub fn evaluate(condition: &str, lookup: &dyn Lookup) -> Result<bool, ConditionError> {
    let tokens = lex(condition).map_err(|message| syntax(condition, message))?;
    if tokens.is_empty() {
        // Ruote: an empty condition is an empty value, which is false.
        return Ok(false);
    }
    let mut parser = Parser { source: condition, tokens: &tokens, pos: 0, depth: 0 };
    let expr = parser.or().map_err(|message| syntax(condition, message))?;
    if let Some(token) = tokens.get(parser.pos) {
        let message = format!("unexpected `{}`", token.text(condition));
        return Err(syntax(condition, message));
    }
    eval(&expr, lookup)
}

/// Evaluates an `if:`/`unless:` attribute, which may also be a JSON boolean.
///
/// # Errors
/// As [`evaluate`], for a string value.
pub fn evaluate_value(value: &Value, lookup: &dyn Lookup) -> Result<bool, ConditionError> {
    match value {
        Value::String(text) => evaluate(text, lookup),
        other => Ok(truthy(other)),
    }
}

fn syntax(condition: &str, message: String) -> ConditionError {
    ConditionError::Syntax { condition: condition.to_string(), message }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Match,
    Gt,
    Lt,
    Ge,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word,
    /// A quoted string, unescaped.
    Quoted(String),
    /// `/pattern/flags`, only directly after `=~`.
    Regex {
        pattern: String,
        flags: String,
    },
    Op(Op),
    And,
    Or,
    Not,
    Open,
    Close,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

impl Token {
    fn text<'s>(&self, source: &'s str) -> &'s str {
        source.get(self.start..self.end).unwrap_or("")
    }
}

fn lex(source: &str) -> Result<Vec<Token>, String> {
    let bytes = source.as_bytes();
    let mut tokens: Vec<Token> = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let b = bytes[pos];
        if b.is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        let start = pos;
        let two = source.get(pos..pos + 2).unwrap_or("");
        let (tok, len) = match (b, two) {
            (_, "&&") => (Tok::And, 2),
            (_, "||") => (Tok::Or, 2),
            (_, "==") => (Tok::Op(Op::Eq), 2),
            (_, "!=") => (Tok::Op(Op::Ne), 2),
            (_, "=~") => (Tok::Op(Op::Match), 2),
            (_, ">=") => (Tok::Op(Op::Ge), 2),
            (_, "<=") => (Tok::Op(Op::Le), 2),
            (b'>', _) => (Tok::Op(Op::Gt), 1),
            (b'<', _) => (Tok::Op(Op::Lt), 1),
            (b'!', _) => (Tok::Not, 1),
            (b'=', _) => return Err("unexpected `=`; compare with `==`".to_string()),
            (b'(', _) => (Tok::Open, 1),
            (b')', _) => (Tok::Close, 1),
            (b'\'' | b'"', _) => {
                let (text, end) = quoted(source, pos)?;
                (Tok::Quoted(text), end - pos)
            }
            (b'/', _) if matches!(tokens.last(), Some(Token { tok: Tok::Op(Op::Match), .. })) => {
                let (pattern, flags, end) = regex_literal(source, pos)?;
                (Tok::Regex { pattern, flags }, end - pos)
            }
            _ => (Tok::Word, word_end(source, pos)? - pos),
        };
        pos += len;
        let tok = match (&tok, &source[start..pos]) {
            (Tok::Word, "and") => Tok::And,
            (Tok::Word, "or") => Tok::Or,
            (Tok::Word, "not") => Tok::Not,
            _ => tok,
        };
        tokens.push(Token { tok, start, end: pos });
    }
    Ok(tokens)
}

/// A bare word runs to whitespace, a parenthesis or an operator; `${...}` is taken
/// whole, spaces and operators inside it included.
fn word_end(source: &str, start: usize) -> Result<usize, String> {
    let bytes = source.as_bytes();
    let mut pos = start;
    while pos < bytes.len() {
        let rest = &source[pos..];
        if rest.starts_with("${") {
            pos += reference_len(rest)?;
            continue;
        }
        let b = bytes[pos];
        let ends = b.is_ascii_whitespace()
            || matches!(b, b'(' | b')' | b'<' | b'>' | b'=')
            || ["==", "!=", "=~", "&&", "||"].iter().any(|op| rest.starts_with(op));
        if ends {
            break;
        }
        pos += rest.chars().next().map_or(1, char::len_utf8);
    }
    Ok(pos)
}

/// Length of the `${...}` at the start of `text`, nested references included.
fn reference_len(text: &str) -> Result<usize, String> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] == b'$' && bytes.get(pos + 1) == Some(&b'{') {
            depth += 1;
            pos += 2;
            continue;
        }
        if bytes[pos] == b'}' {
            depth -= 1;
            if depth == 0 {
                return Ok(pos + 1);
            }
        }
        pos += 1;
    }
    Err("unterminated `${`".to_string())
}

fn quoted(source: &str, start: usize) -> Result<(String, usize), String> {
    let quote = source.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = source[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((out, start + 1 + i + 1)),
            '\\' => match chars.next() {
                Some((_, next)) if next == quote || next == '\\' => out.push(next),
                Some((_, next)) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    Err(format!("unterminated string starting with {quote}"))
}

fn regex_literal(source: &str, start: usize) -> Result<(String, String, usize), String> {
    let mut pattern = String::new();
    let mut chars = source[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '/' => {
                let after = start + 1 + i + 1;
                let flags_len = source[after..].bytes().take_while(u8::is_ascii_alphabetic).count();
                let flags = source[after..after + flags_len].to_string();
                return Ok((pattern, flags, after + flags_len));
            }
            '\\' => {
                match chars.next() {
                    // `\/` is a slash in the pattern; other escapes are the regex's.
                    Some((_, '/')) => pattern.push('/'),
                    Some((_, next)) => {
                        pattern.push('\\');
                        pattern.push(next);
                    }
                    None => pattern.push('\\'),
                }
            }
            c => pattern.push(c),
        }
    }
    Err("unterminated regular expression".to_string())
}

#[derive(Debug)]
enum Operand {
    /// Raw text of one or more adjacent bare words.
    Bare(String),
    Quoted(String),
    Regex {
        pattern: String,
        flags: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    Set,
    Empty,
    Null,
}

#[derive(Debug)]
enum Expr {
    // Flat lists rather than nested pairs: a long `a && b && c ...` chain must not
    // become a deep tree that evaluating (or dropping) would recurse through.
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare(Operand, Op, Operand),
    Is { operand: Operand, test: Test, negated: bool },
    Bare(Operand),
}

struct Parser<'a> {
    source: &'a str,
    tokens: &'a [Token],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn word_is(&self, index: usize, word: &str) -> bool {
        self.tokens.get(index).is_some_and(|t| t.tok == Tok::Word && t.text(self.source) == word)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.unary()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("too deeply nested".to_string());
        }
        let expr = match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                Expr::Not(Box::new(self.unary()?))
            }
            Some(Tok::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err("missing `)`".to_string());
                }
                self.pos += 1;
                inner
            }
            _ => self.comparison()?,
        };
        self.depth -= 1;
        Ok(expr)
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.operand()?;
        if self.word_is(self.pos, "is") {
            self.pos += 1;
            let negated = self.peek() == Some(&Tok::Not);
            if negated {
                self.pos += 1;
            }
            let test = match self.tokens.get(self.pos).map(|t| t.text(self.source)) {
                Some("set") => Test::Set,
                Some("empty") => Test::Empty,
                Some("null" | "nil") => Test::Null,
                _ => return Err("expected `set`, `empty` or `null` after `is`".to_string()),
            };
            self.pos += 1;
            return Ok(Expr::Is { operand: left, test, negated });
        }
        let Some(Tok::Op(op)) = self.peek().cloned() else {
            return Ok(Expr::Bare(left));
        };
        self.pos += 1;
        // The lexer only produces regex tokens right after `=~`.
        let right = self.operand()?;
        Ok(Expr::Compare(left, op, right))
    }

    /// A quoted string, a regex, or the run of adjacent bare words (so `== in progress`
    /// compares with "in progress"), stopping at `is`.
    fn operand(&mut self) -> Result<Operand, String> {
        let Some(token) = self.tokens.get(self.pos) else {
            return Err("expected a value at the end".to_string());
        };
        match &token.tok {
            Tok::Quoted(text) => {
                self.pos += 1;
                Ok(Operand::Quoted(text.clone()))
            }
            Tok::Regex { pattern, flags } => {
                self.pos += 1;
                Ok(Operand::Regex { pattern: pattern.clone(), flags: flags.clone() })
            }
            Tok::Word if !self.word_is(self.pos, "is") => {
                let start = token.start;
                let mut end = token.end;
                self.pos += 1;
                while self.peek() == Some(&Tok::Word) && !self.word_is(self.pos, "is") {
                    end = self.tokens[self.pos].end;
                    self.pos += 1;
                }
                Ok(Operand::Bare(self.source[start..end].to_string()))
            }
            _ => Err(format!("expected a value, found `{}`", token.text(self.source))),
        }
    }
}

fn eval(expr: &Expr, lookup: &dyn Lookup) -> Result<bool, ConditionError> {
    Ok(match expr {
        // Short-circuiting lets `${x} is set && ${x} > 3` run when `x` is missing.
        Expr::Or(items) => {
            for item in items {
                if eval(item, lookup)? {
                    return Ok(true);
                }
            }
            false
        }
        Expr::And(items) => {
            for item in items {
                if !eval(item, lookup)? {
                    return Ok(false);
                }
            }
            true
        }
        Expr::Not(inner) => !eval(inner, lookup)?,
        Expr::Bare(operand) => truthy(&value_of(operand, lookup)?.value),
        Expr::Is { operand, test, negated } => {
            let value = match value_of(operand, lookup) {
                Ok(operand) if operand.missing => None,
                Ok(operand) => Some(operand.value),
                Err(error) => return Err(error),
            };
            let result = match (test, value) {
                (Test::Set, value) => value.is_some(),
                (Test::Empty, None) => true,
                (Test::Empty, Some(value)) => is_empty(&value),
                (Test::Null, value) => value == Some(Value::Null),
            };
            result != *negated
        }
        Expr::Compare(left, op, right) => {
            let left = value_of(left, lookup)?;
            // As in Ruote, a comparison whose left side is empty is false.
            if !left.quoted && dollar::to_display_string(&left.value).trim().is_empty() && left.value != Value::Null {
                return Ok(false);
            }
            if *op == Op::Match {
                return matches_regex(&left.value, right, lookup);
            }
            compare(&left, *op, &value_of(right, lookup)?)
        }
    })
}

/// An operand's value, and how it was written: a quoted string is text
/// (`'3'` is not the number 3); a bare word or a reference is read as
/// Ruote reads substituted text, so `${port} > 1000` compares numbers.
struct Evaluated {
    value: Value,
    quoted: bool,
    /// A reference to a missing field or variable: it reads as empty text,
    /// as in Ruote, except to `is set` / `is empty`.
    missing: bool,
}

/// A lone `${...}` (or `$f:x`) keeps its value's type so `is empty` sees arrays and
/// hashes; anything else is interpolated text.
fn value_of(operand: &Operand, lookup: &dyn Lookup) -> Result<Evaluated, ConditionError> {
    let resolved = match operand {
        Operand::Quoted(text) => dollar::interpolate(text, lookup).map(Value::String),
        Operand::Bare(text) if text == "nil" || text == "null" => Ok(Value::Null),
        Operand::Bare(text) => match dollar::whole_reference(text) {
            Some(inner) => dollar::resolve_reference(inner, lookup),
            None => dollar::substitute_str(text, lookup),
        },
        Operand::Regex { pattern, .. } => Ok(Value::String(pattern.clone())),
    };
    let quoted = matches!(operand, Operand::Quoted(_));
    match resolved {
        Ok(value) => Ok(Evaluated { value, quoted, missing: false }),
        Err(DollarError::Missing { .. }) => {
            Ok(Evaluated { value: Value::String(String::new()), quoted, missing: true })
        }
        Err(error) => Err(error.into()),
    }
}

/// Ruote's truth, the one rule for every condition and flag attribute:
/// everything is true except false, nil/null, empty text, arrays and hashes,
/// and the words `false`, `nil` and `null`.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => !matches!(s.trim(), "" | "false" | "nil" | "null"),
        other => !is_empty(other),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// A number, or text that is entirely a decimal number (not `inf` or `nan`).
fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
            let numeric = digits.starts_with(|c: char| c.is_ascii_digit())
                && digits.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
            if numeric { s.parse().ok() } else { None }
        }
        _ => None,
    }
}

/// The number an operand stands for: a JSON number, or unquoted text that
/// is one (a bare word or a reference's value).
fn number_of(operand: &Evaluated) -> Option<f64> {
    match &operand.value {
        Value::Number(n) => n.as_f64(),
        _ if operand.quoted => None,
        other => as_number(other),
    }
}

fn compare(left: &Evaluated, op: Op, right: &Evaluated) -> bool {
    use std::cmp::Ordering;
    let ordering = match (number_of(left), number_of(right)) {
        (Some(a), Some(b)) => a.partial_cmp(&b),
        // A number and quoted text are different things (Ruby: 3 != '3').
        (Some(_), None) if right.quoted => None,
        (None, Some(_)) if left.quoted => None,
        _ => Some(dollar::to_display_string(&left.value).cmp(&dollar::to_display_string(&right.value))),
    };
    match (op, ordering) {
        (Op::Eq, ordering) => ordering == Some(Ordering::Equal),
        (Op::Ne, ordering) => ordering != Some(Ordering::Equal),
        (_, None) => false,
        (Op::Gt, Some(o)) => o == Ordering::Greater,
        (Op::Lt, Some(o)) => o == Ordering::Less,
        (Op::Ge, Some(o)) => o != Ordering::Less,
        (Op::Le, Some(o)) => o != Ordering::Greater,
        (Op::Match, _) => false,
    }
}

/// `=~` with a `/regex/flags` literal, or with text that is a pattern (optionally
/// written between slashes). The pattern is substituted first, like any operand.
fn matches_regex(left: &Value, right: &Operand, lookup: &dyn Lookup) -> Result<bool, ConditionError> {
    let (pattern, flags) = match right {
        Operand::Regex { pattern, flags } => (dollar::interpolate(pattern, lookup)?, flags.clone()),
        other => {
            let text = dollar::to_display_string(&value_of(other, lookup)?.value);
            match text.strip_prefix('/').and_then(|rest| rest.rsplit_once('/')) {
                Some((pattern, flags)) if flags.bytes().all(|b| b.is_ascii_alphabetic()) => {
                    (pattern.to_string(), flags.to_string())
                }
                _ => (text, String::new()),
            }
        }
    };
    let mut builder = RegexBuilder::new(&pattern);
    builder.size_limit(REGEX_SIZE_LIMIT);
    for flag in flags.chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            // Ruby's `m` makes `.` match newlines.
            'm' => builder.dot_matches_new_line(true),
            'x' => builder.ignore_whitespace(true),
            other => {
                return Err(ConditionError::Regex {
                    pattern,
                    message: format!("unknown flag `{other}` (use i, m or x)"),
                });
            }
        };
    }
    let regex =
        builder.build().map_err(|e| ConditionError::Regex { pattern: pattern.clone(), message: e.to_string() })?;
    Ok(regex.is_match(&dollar::to_display_string(left)))
}

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
