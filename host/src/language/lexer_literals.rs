//! Ruby literals Ruote definitions use, for the lexer in `lexer.rs`: word
//! lists (`%w[ a b ]`), integer ranges (`(2..5).to_a`) and regular
//! expressions (`/^web/`). Each becomes the tokens of the plain value it
//! stands for, so the parser needs no rule of its own.

use super::{Lexer, Token, TokenKind};
use crate::language::tree::Span;

/// The brackets a `%w` list may open with.
pub(super) fn is_word_list_open(c: char) -> bool {
    matches!(c, '[' | '(' | '{' | '<')
}

impl Lexer<'_> {
    /// Ruby's `(2..5).to_a` (`...` leaves the end out): the array of those
    /// integers, as the tokens of one. Not a range: nothing is consumed.
    pub(super) fn range_literal(&mut self) -> bool {
        /// Bounds the array a short literal can expand to.
        const MAX_RANGE: i64 = 10_000;
        let rest = &self.src[self.pos..];
        let Some(inner_end) = rest.find(')') else { return false };
        let Some(after) = rest[inner_end + 1..].strip_prefix(".to_a") else { return false };
        if after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            return false;
        }
        let inner = &rest[1..inner_end];
        let (from, to, exclusive) = match inner.split_once("...") {
            Some((a, b)) => (a, b, true),
            None => match inner.split_once("..") {
                Some((a, b)) => (a, b, false),
                None => return false,
            },
        };
        let (Ok(from), Ok(to)) = (from.trim().parse::<i64>(), to.trim().parse::<i64>()) else { return false };
        let to = if exclusive { to - 1 } else { to };
        let start = self.start();
        for _ in 0..inner_end + 1 + ".to_a".len() {
            self.bump();
        }
        if to.saturating_sub(from) >= MAX_RANGE {
            self.push(TokenKind::Invalid(format!("a range of more than {MAX_RANGE} numbers")), start);
            return true;
        }
        self.tokens.push(Token { kind: TokenKind::LBracket, span: self.span_at(start) });
        for (i, n) in (from..=to).enumerate() {
            if i > 0 {
                self.tokens.push(Token { kind: TokenKind::Comma, span: self.span_at(start) });
            }
            self.tokens.push(Token { kind: TokenKind::Number(n.into()), span: self.span_at(start) });
        }
        self.tokens.push(Token { kind: TokenKind::RBracket, span: self.span_at(start) });
        true
    }

    /// A Ruby regular expression literal, `/^web-\d+$/i`: kept as the text
    /// `/^web-\d+$/i`, which the places that take a pattern (`on_error`,
    /// `=~`, `of`, `filter`) read as one.
    pub(super) fn regex_literal(&mut self) -> TokenKind {
        let mut text = String::from("/");
        self.bump();
        loop {
            match self.bump() {
                None | Some('\n') => return TokenKind::Invalid("a regular expression without its closing `/`".into()),
                Some('\\') => {
                    text.push('\\');
                    if let Some(c) = self.bump() {
                        text.push(c);
                    }
                }
                Some('/') => break,
                Some(c) => text.push(c),
            }
        }
        text.push('/');
        while let Some(flag) = self.peek().filter(|c| c.is_ascii_alphabetic()) {
            text.push(flag);
            self.bump();
        }
        TokenKind::Str(text)
    }

    /// Ruby's `%w[ a b c ]` (also with `()`, `{}`, `<>`): the array
    /// `['a', 'b', 'c']`, as the tokens of one, so the parser needs no
    /// rule of its own. Each word's span is the word's place in the text.
    pub(super) fn word_list(&mut self) {
        let start = self.start();
        self.bump(); // %
        self.bump(); // w
        let close = match self.peek() {
            Some('(') => ')',
            Some('{') => '}',
            Some('<') => '>',
            _ => ']',
        };
        self.bump();
        self.push(TokenKind::LBracket, start);
        let mut first = true;
        loop {
            while self.peek().is_some_and(|c| c.is_whitespace() && c != '\n') {
                self.bump();
            }
            match self.peek() {
                Some(c) if c == close => {
                    let at = self.start();
                    self.bump();
                    self.push(TokenKind::RBracket, at);
                    return;
                }
                None | Some('\n') => {
                    let at = self.start();
                    self.push(TokenKind::Invalid(format!("`%w` list without its closing `{close}`")), at);
                    return;
                }
                Some(_) => {
                    let at = self.start();
                    if !first {
                        self.tokens.push(Token { kind: TokenKind::Comma, span: self.span_at(at) });
                    }
                    let mut word = String::new();
                    while let Some(c) = self.peek().filter(|c| !c.is_whitespace() && *c != close) {
                        word.push(c);
                        self.bump();
                    }
                    self.push(TokenKind::Str(word), at);
                    first = false;
                }
            }
        }
    }

    fn span_at(&self, start: (usize, u32, u32)) -> Span {
        let (offset, line, column) = start;
        Span { line, column, offset: u32::try_from(offset).unwrap_or(u32::MAX), len: 0 }
    }
}
