//! Values (strings, numbers, arrays, hashes) for the statement parser in `parser.rs`.
//!
//! Arrays and hashes recurse through [`Parser::value`], bounded by the shared nesting
//! limit; like the statement path, these functions keep their frames small.

use serde_json::{Map, Value};

use super::{PResult, Parser, Want};
use crate::language::lexer::TokenKind;

impl Parser {
    /// After `key:` or `=>` a value may start on the next line (as in Ruby), but when
    /// none does, the error belongs at the end of the key's line, not on the next one.
    pub(super) fn skip_newlines_before_value(&mut self) {
        let mut ahead = self.pos;
        while matches!(self.tokens.get(ahead).map(|t| &t.kind), Some(TokenKind::Newline)) {
            ahead += 1;
        }
        let starts_value = match self.tokens.get(ahead).map(|t| &t.kind) {
            Some(TokenKind::Ident(word)) => matches!(word.as_str(), "true" | "false" | "nil"),
            Some(
                TokenKind::Str(_)
                | TokenKind::Symbol(_)
                | TokenKind::Number(_)
                | TokenKind::LBracket
                | TokenKind::LBrace,
            ) => true,
            _ => false,
        };
        if starts_value {
            self.pos = ahead;
        }
    }

    /// One value; `want` names it in the error when something else is found.
    pub(super) fn value(&mut self, want: Want<'_>) -> PResult<Value> {
        let value = match self.peek() {
            TokenKind::Str(_) | TokenKind::Symbol(_) => Value::String(self.take_text()),
            TokenKind::Number(n) => {
                let n = n.clone();
                self.bump();
                Value::Number(n)
            }
            TokenKind::Ident(word) => {
                let value = match word.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "nil" => Value::Null,
                    _ => return self.expected(want),
                };
                self.bump();
                value
            }
            TokenKind::LBracket => self.array()?,
            TokenKind::LBrace => self.hash()?,
            _ => return self.expected(want),
        };
        Ok(value)
    }

    fn open_bracket(&mut self) -> PResult<()> {
        let bracket = if matches!(self.peek(), TokenKind::LBrace) { '{' } else { '[' };
        let span = self.bump();
        self.open += 1;
        self.brackets.push((span, bracket));
        self.enter(span)?;
        self.skip_newlines();
        Ok(())
    }

    fn close_bracket(&mut self) {
        self.bump();
        self.open = self.open.saturating_sub(1);
        self.brackets.pop();
        self.leave();
    }

    /// After an item: a comma (with optional line breaks) or the closing bracket.
    fn item_separator(&mut self, close: char) -> PResult<()> {
        self.skip_newlines();
        match self.peek() {
            TokenKind::Comma => {
                self.bump();
                self.skip_newlines();
                Ok(())
            }
            TokenKind::RBracket | TokenKind::RBrace => Ok(()),
            _ => self.expected(Want::CommaOr(close)),
        }
    }

    fn array(&mut self) -> PResult<Value> {
        self.open_bracket()?;
        let mut items = Vec::new();
        while !matches!(self.peek(), TokenKind::RBracket) {
            items.push(self.value(Want::ArrayItem)?);
            self.item_separator(']')?;
            if matches!(self.peek(), TokenKind::RBrace) {
                return self.expected(Want::CommaOr(']'));
            }
        }
        self.close_bracket();
        Ok(Value::Array(items))
    }

    fn hash(&mut self) -> PResult<Value> {
        self.open_bracket()?;
        let mut map = Map::new();
        while !matches!(self.peek(), TokenKind::RBrace) {
            let key_span = self.span();
            let key = self.hash_key()?;
            self.skip_newlines();
            let value = self.value(Want::ValueAfter(&key))?;
            if map.contains_key(&key) {
                return self.fail(key_span, format!("hash key `{key}` is given twice"));
            }
            map.insert(key, value);
            self.item_separator('}')?;
            if matches!(self.peek(), TokenKind::RBracket) {
                return self.expected(Want::CommaOr('}'));
            }
        }
        self.close_bracket();
        Ok(Value::Object(map))
    }

    #[inline(never)]
    fn hash_key(&mut self) -> PResult<String> {
        match self.peek() {
            TokenKind::Label(_) | TokenKind::StrLabel(_) => Ok(self.take_text()),
            TokenKind::Str(_) | TokenKind::Symbol(_) => {
                let key = self.take_text();
                self.skip_newlines();
                if !matches!(self.peek(), TokenKind::Arrow) {
                    return self.expected(Want::ArrowAfterKey);
                }
                self.bump();
                Ok(key)
            }
            TokenKind::Number(_) => self.fail(self.span(), "hash keys must be strings or symbols".to_string()),
            _ => self.expected(Want::HashKey),
        }
    }
}
