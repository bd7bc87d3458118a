//! Turns definition text into tokens.
//!
//! The lexer never fails: a problem becomes an `Invalid` token carrying its message, and
//! the parser reports it when it reaches it. That keeps error reporting in one place and
//! lets recovery skip a bad token like any other.

use serde_json::Number;

use super::tree::Span;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// A name: statement names, `do`, `end`, `true`, `false`, `nil`.
    Ident(String),
    /// `key:` (Ruby 1.9 hash style); the text excludes the colon.
    Label(String),
    /// `'key':` or `"key":`.
    StrLabel(String),
    /// `:name` or `:'quoted name'`, without the colon.
    Symbol(String),
    Str(String),
    Number(Number),
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    /// `=>`
    Arrow,
    Dot,
    Newline,
    Semicolon,
    /// Text the lexer could not make sense of, with the reason.
    Invalid(String),
    Eof,
}

impl TokenKind {
    /// How the token is named in "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            TokenKind::Ident(name) => format!("`{name}`"),
            TokenKind::Label(name) => format!("`{name}:`"),
            TokenKind::StrLabel(name) => format!("`'{name}':`"),
            TokenKind::Symbol(name) => format!("`:{name}`"),
            TokenKind::Str(_) => "a string".into(),
            TokenKind::Number(_) => "a number".into(),
            TokenKind::LBracket => "`[`".into(),
            TokenKind::RBracket => "`]`".into(),
            TokenKind::LBrace => "`{`".into(),
            TokenKind::RBrace => "`}`".into(),
            TokenKind::LParen => "`(`".into(),
            TokenKind::RParen => "`)`".into(),
            TokenKind::Comma => "`,`".into(),
            TokenKind::Arrow => "`=>`".into(),
            TokenKind::Dot => "`.`".into(),
            TokenKind::Newline => "end of line".into(),
            TokenKind::Semicolon => "`;`".into(),
            TokenKind::Invalid(_) => "invalid text".into(),
            TokenKind::Eof => "end of input".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// Splits `source` into tokens, always ending with `Eof`.
///
/// Sources longer than `u32::MAX` bytes cannot be addressed by a [`Span`]; the caller
/// rejects them before lexing.
pub(crate) fn tokenize(source: &str) -> Vec<Token> {
    let mut lexer = Lexer { src: source, pos: 0, line: 1, column: 1, tokens: Vec::new() };
    lexer.run();
    lexer.tokens
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    column: u32,
    tokens: Vec<Token>,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    /// Advances one character, keeping line and column (in characters) current so no
    /// position ever has to be recomputed from the start of a line.
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(c)
    }

    fn start(&self) -> (usize, u32, u32) {
        (self.pos, self.line, self.column)
    }

    fn push(&mut self, kind: TokenKind, start: (usize, u32, u32)) {
        let (offset, line, column) = start;
        let span = Span {
            line,
            column,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            len: u32::try_from(self.pos - offset).unwrap_or(u32::MAX),
        };
        self.tokens.push(Token { kind, span });
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.start();
            match c {
                ' ' | '\t' | '\r' | '\u{feff}' => {
                    self.bump();
                }
                '\\' if matches!(self.peek_at(1), Some('\n')) => {
                    // Ruby line continuation.
                    self.bump();
                    self.bump();
                }
                '\\' if self.src[self.pos..].starts_with("\\\r\n") => {
                    self.bump();
                    self.bump();
                    self.bump();
                }
                '#' => self.skip_comment(),
                '=' if self.column == 1 && self.src[self.pos..].starts_with("=begin") => self.skip_block_comment(),
                '\n' => {
                    self.bump();
                    self.push(TokenKind::Newline, start);
                }
                ';' => self.single(TokenKind::Semicolon),
                ',' => self.single(TokenKind::Comma),
                '.' => self.single(TokenKind::Dot),
                '[' => self.single(TokenKind::LBracket),
                ']' => self.single(TokenKind::RBracket),
                '{' => self.single(TokenKind::LBrace),
                '}' => self.single(TokenKind::RBrace),
                '(' if self.range_literal() => {}
                '(' => self.single(TokenKind::LParen),
                '/' => {
                    let kind = self.regex_literal();
                    self.push(kind, start);
                }
                ')' => self.single(TokenKind::RParen),
                '=' if self.peek_at(1) == Some('>') => {
                    self.bump();
                    self.bump();
                    self.push(TokenKind::Arrow, start);
                }
                '%' if matches!(self.peek_at(1), Some('w' | 'W')) && self.peek_at(2).is_some_and(is_word_list_open) => {
                    self.word_list();
                }
                '\'' | '"' => {
                    let kind = match self.string(c) {
                        Ok(text) => self.maybe_label(text, TokenKind::StrLabel, TokenKind::Str),
                        Err(message) => TokenKind::Invalid(message),
                    };
                    let stop = matches!(kind, TokenKind::Invalid(_));
                    self.push(kind, start);
                    if stop {
                        // An unterminated string swallowed the rest of the input.
                        break;
                    }
                }
                ':' => {
                    let kind = self.symbol();
                    self.push(kind, start);
                }
                '-' | '+' if self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) => {
                    let kind = self.number();
                    self.push(kind, start);
                }
                c if c.is_ascii_digit() => {
                    let kind = self.number();
                    self.push(kind, start);
                }
                c if is_ident_start(c) => {
                    let name = self.ident();
                    let kind = self.maybe_label(name, TokenKind::Label, TokenKind::Ident);
                    self.push(kind, start);
                }
                other => {
                    self.bump();
                    let message = match other {
                        '=' => "unexpected `=`; attributes are written `key: value` or `:key => value`".to_string(),
                        '$' => "unexpected `$`; dollar notation must be inside a quoted string, as in '${field}'"
                            .to_string(),
                        c if c.is_control() => format!("unexpected control character {:?}", c),
                        c => format!("unexpected character `{c}`"),
                    };
                    self.push(TokenKind::Invalid(message), start);
                }
            }
        }
        let start = self.start();
        self.push(TokenKind::Eof, start);
    }

    fn single(&mut self, kind: TokenKind) {
        let start = self.start();
        self.bump();
        self.push(kind, start);
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// Ruby's `=begin` ... `=end` comment, both at the start of a line.
    fn skip_block_comment(&mut self) {
        let rest = &self.src[self.pos..];
        let end = rest.find("\n=end").map_or(rest.len(), |i| {
            let after = i + "\n=end".len();
            rest[after..].find('\n').map_or(rest.len(), |j| after + j)
        });
        let stop = self.pos + end;
        while self.pos < stop {
            self.bump();
        }
    }

    /// A label is a name or string followed directly by `:` (but not `::`).
    fn maybe_label(
        &mut self,
        text: String,
        label: fn(String) -> TokenKind,
        plain: fn(String) -> TokenKind,
    ) -> TokenKind {
        if self.peek() == Some(':') && self.peek_at(1) != Some(':') {
            self.bump();
            label(text)
        } else {
            plain(text)
        }
    }

    fn ident(&mut self) -> String {
        let begin = self.pos;
        while self.peek().is_some_and(is_ident_continue) {
            self.bump();
        }
        self.src[begin..self.pos].to_string()
    }

    fn symbol(&mut self) -> TokenKind {
        self.bump(); // ':'
        match self.peek() {
            Some(c) if is_ident_start(c) => TokenKind::Symbol(self.ident()),
            Some(q @ ('\'' | '"')) => match self.string(q) {
                Ok(text) => TokenKind::Symbol(text),
                Err(message) => TokenKind::Invalid(message),
            },
            Some(':') => {
                self.bump();
                TokenKind::Invalid("unexpected `::`; constants and namespaces are not supported".into())
            }
            _ => TokenKind::Invalid("expected a symbol name after `:`".into()),
        }
    }

    /// Integers (with `_` separators and an optional sign) and floats.
    fn number(&mut self) -> TokenKind {
        let begin = self.pos;
        if matches!(self.peek(), Some('-' | '+')) {
            self.bump();
        }
        let mut is_float = false;
        self.digits();
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            self.bump();
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = usize::from(matches!(self.peek_at(1), Some('-' | '+')));
            if self.peek_at(1 + sign).is_some_and(|c| c.is_ascii_digit()) {
                is_float = true;
                for _ in 0..=sign {
                    self.bump();
                }
                self.digits();
            }
        }
        // `12abc` is one bad token, not a number followed by a name.
        if self.peek().is_some_and(is_ident_continue) {
            while self.peek().is_some_and(is_ident_continue) {
                self.bump();
            }
            return TokenKind::Invalid(format!("invalid number `{}`", &self.src[begin..self.pos]));
        }
        let text = &self.src[begin..self.pos];
        if text.contains("__") || text.contains("_.") || text.contains("._") || text.ends_with('_') {
            return TokenKind::Invalid(format!("invalid number `{text}`; `_` may only separate digits"));
        }
        let clean: String = text.chars().filter(|&c| c != '_').collect();
        if is_float {
            return match clean.parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) => TokenKind::Number(n),
                None => TokenKind::Invalid(format!("number `{text}` is out of range")),
            };
        }
        if let Ok(n) = clean.parse::<i64>() {
            return TokenKind::Number(n.into());
        }
        match clean.trim_start_matches('+').parse::<u64>() {
            Ok(n) => TokenKind::Number(n.into()),
            Err(_) => TokenKind::Invalid(format!("integer `{text}` is out of range")),
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '_') {
            self.bump();
        }
    }

    /// Reads a quoted string starting at the opening quote.
    fn string(&mut self, quote: char) -> Result<String, String> {
        let open = (self.line, self.column);
        self.bump();
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(format!("unterminated string starting at line {}, column {}", open.0, open.1));
            };
            if c == quote {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(escaped) = self.bump() else { continue };
            if quote == '\'' {
                // Ruby: only `\\` and `\'` are escapes in single quotes.
                if escaped != '\\' && escaped != '\'' {
                    out.push('\\');
                }
                out.push(escaped);
                continue;
            }
            match escaped {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                'e' => out.push('\u{1b}'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'u' => out.push(self.unicode_escape()?),
                other => {
                    // Kept verbatim rather than dropping the backslash as Ruby does: it
                    // keeps `\${` (literal dollar notation) and regex classes like `\d`
                    // in conditions meaning what their authors meant.
                    out.push('\\');
                    out.push(other);
                }
            }
        }
    }

    /// `\uXXXX` (with surrogate pairs) or `\u{X...}`, after the `u`.
    fn unicode_escape(&mut self) -> Result<char, String> {
        if self.peek() == Some('{') {
            self.bump();
            let mut hex = String::new();
            while let Some(c) = self.peek() {
                if c == '}' || hex.len() > 6 {
                    break;
                }
                hex.push(c);
                self.bump();
            }
            if self.peek() != Some('}') {
                return Err("unterminated `\\u{...}` escape".into());
            }
            self.bump();
            return u32::from_str_radix(&hex, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("invalid unicode escape `\\u{{{hex}}}`"));
        }
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            return char::from_u32(high).ok_or_else(|| format!("invalid unicode escape `\\u{high:04X}`"));
        }
        if self.peek() == Some('\\') && self.peek_at(1) == Some('u') {
            self.bump();
            self.bump();
            let low = self.hex4()?;
            if (0xDC00..0xE000).contains(&low) {
                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                if let Some(c) = char::from_u32(code) {
                    return Ok(c);
                }
            }
        }
        Err(format!("unpaired surrogate in unicode escape `\\u{high:04X}`"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut value = 0u32;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| "a `\\u` escape needs four hex digits, as in `\\u00e9`".to_string())?;
            self.bump();
            value = value * 16 + digit;
        }
        Ok(value)
    }
}

#[path = "lexer_literals.rs"]
mod literals;
use literals::is_word_list_open;

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind::*;

    fn kinds(source: &str) -> Vec<TokenKind> {
        tokenize(source).into_iter().map(|t| t.kind).collect()
    }

    fn s(text: &str) -> TokenKind {
        Str(text.to_string())
    }

    #[test]
    fn statement_with_both_attribute_styles() {
        assert_eq!(
            kinds("participant 'a', :task => \"x\", to: 1"),
            vec![
                Ident("participant".into()),
                s("a"),
                Comma,
                Symbol("task".into()),
                Arrow,
                s("x"),
                Comma,
                Label("to".into()),
                Number(1.into()),
                Eof
            ]
        );
    }

    #[test]
    fn spans_count_lines_and_characters() {
        let tokens = tokenize("é 'x'\n  foo");
        assert_eq!(tokens[1].span, Span { line: 1, column: 3, offset: 3, len: 3 });
        assert_eq!(tokens[3].span, Span { line: 2, column: 3, offset: 9, len: 3 });
    }

    #[test]
    fn single_quoted_escapes() {
        assert_eq!(kinds(r"'a\'b\\c\n'")[0], s(r"a'b\c\n"));
    }

    #[test]
    fn double_quoted_escapes() {
        assert_eq!(
            kinds(r#""a\n\t\r\\\"\0\e\u00e9\u{1F600}\uD83D\uDE00 #{x} \d \${y}""#)[0],
            s("a\n\t\r\\\"\0\u{1b}é😀😀 #{x} \\d \\${y}")
        );
        assert!(matches!(&kinds(r#""\u12""#)[0], Invalid(m) if m.contains("four hex")));
        assert!(matches!(&kinds(r#""\uD800x""#)[0], Invalid(m) if m.contains("surrogate")));
        assert!(matches!(&kinds(r#""\u{110000}""#)[0], Invalid(m) if m.contains("invalid")));
    }

    #[test]
    fn unterminated_string_stops_lexing() {
        let tokens = tokenize("foo 'abc\nbar");
        assert!(
            matches!(&tokens[1].kind, Invalid(m) if m.contains("unterminated string starting at line 1, column 5"))
        );
        assert_eq!(tokens[2].kind, Eof);
    }

    #[test]
    fn numbers() {
        assert_eq!(
            kinds("1_000 -5 +3 2.5 -1e3 18446744073709551615"),
            vec![
                Number(1000.into()),
                Number((-5).into()),
                Number(3.into()),
                Number(serde_json::Number::from_f64(2.5).unwrap()),
                Number(serde_json::Number::from_f64(-1000.0).unwrap()),
                Number(u64::MAX.into()),
                Eof
            ]
        );
        for bad in ["1__0", "1_", "12abc", "99999999999999999999999", "1e999"] {
            assert!(matches!(&kinds(bad)[0], Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn symbols_and_labels() {
        assert_eq!(
            kinds(":name :'two words' 'k': v: a::b"),
            vec![
                Symbol("name".into()),
                Symbol("two words".into()),
                StrLabel("k".into()),
                Label("v".into()),
                Ident("a".into()),
                Invalid("unexpected `::`; constants and namespaces are not supported".into()),
                Ident("b".into()),
                Eof
            ]
        );
        assert!(matches!(&kinds(": x")[0], Invalid(_)));
    }

    #[test]
    fn comments_and_continuations() {
        assert_eq!(
            kinds("a # 'not a string\n=begin\nfoo 'x\n=end\nb \\\n c"),
            vec![Ident("a".into()), Newline, Newline, Ident("b".into()), Ident("c".into()), Eof]
        );
        assert_eq!(kinds("a '#not'")[1], s("#not"));
    }

    #[test]
    fn unexpected_characters_become_invalid_tokens() {
        let k = kinds("a = $ @");
        assert!(matches!(&k[1], Invalid(m) if m.contains("`=`")));
        assert!(matches!(&k[2], Invalid(m) if m.contains("dollar")));
        assert!(matches!(&k[3], Invalid(m) if m.contains("`@`")));
        assert!(matches!(&kinds("\u{7}")[0], Invalid(m) if m.contains("control")));
    }
}
