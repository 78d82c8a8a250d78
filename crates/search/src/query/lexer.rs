//! Splits a query into tokens, each with its character position.

use super::{QueryError, QueryErrorKind};

/// One token and where it starts (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) pos: usize,
    pub(super) kind: TokenKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenKind {
    LParen,
    RParen,
    /// A `-` that starts a token: negation.
    Minus,
    And,
    Or,
    Not,
    Word(String),
    Quoted(String),
    /// `name:` and what follows it without a space.
    Field {
        name: String,
        value: Option<Value>,
    },
}

/// The value of a `field:value` token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Value {
    pub(super) pos: usize,
    pub(super) text: String,
    pub(super) quoted: bool,
}

/// Characters that end a word.
fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '"')
}

/// True when `text` would lex back, after `field:`, as exactly this value.
pub(super) fn is_bare_value(text: &str) -> bool {
    !text.is_empty() && text.chars().all(is_word_char)
}

pub(super) fn tokenize(chars: &[char]) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i;
        let kind = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => {
                i += 1;
                TokenKind::LParen
            }
            ')' => {
                i += 1;
                TokenKind::RParen
            }
            '-' => {
                i += 1;
                TokenKind::Minus
            }
            '"' => {
                let (text, next) = quoted(chars, i)?;
                i = next;
                TokenKind::Quoted(text)
            }
            _ => {
                let end = chars[i..].iter().position(|&c| !is_word_char(c)).map_or(chars.len(), |n| i + n);
                let word = &chars[i..end];
                i = end;
                word_kind(chars, word, pos, &mut i)?
            }
        };
        tokens.push(Token { pos, kind });
    }
    Ok(tokens)
}

/// Classifies a bare word: keyword, `field:value` or plain word. `next` is
/// the index after the word; a field followed directly by a quote takes the
/// quoted phrase as its value and moves `next` past it.
fn word_kind(chars: &[char], word: &[char], pos: usize, next: &mut usize) -> Result<TokenKind, QueryError> {
    let text: String = word.iter().collect();
    match text.as_str() {
        "AND" => return Ok(TokenKind::And),
        "OR" => return Ok(TokenKind::Or),
        "NOT" => return Ok(TokenKind::Not),
        _ => {}
    }
    let Some(colon) = word.iter().position(|&c| c == ':') else { return Ok(TokenKind::Word(text)) };
    let name = &word[..colon];
    if name.is_empty() || !name.iter().all(|c| c.is_ascii_alphabetic() || *c == '_') {
        return Ok(TokenKind::Word(text));
    }
    let rest = &word[colon + 1..];
    let value = if !rest.is_empty() {
        Some(Value { pos: pos + colon + 1, text: rest.iter().collect(), quoted: false })
    } else if chars.get(*next) == Some(&'"') {
        let quote_pos = *next;
        let (phrase, after) = quoted(chars, quote_pos)?;
        *next = after;
        Some(Value { pos: quote_pos, text: phrase, quoted: true })
    } else {
        None
    };
    Ok(TokenKind::Field { name: name.iter().collect(), value })
}

/// Reads a quoted phrase starting at the quote `chars[start]`; returns its
/// unescaped text and the index after the closing quote. `\"` and `\\` are
/// escapes; any other backslash is kept as typed.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), QueryError> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' => {
                if text.is_empty() {
                    return Err(QueryError::new(start, QueryErrorKind::EmptyPhrase));
                }
                return Ok((text, i + 1));
            }
            '\\' if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                text.push(chars[i + 1]);
                i += 2;
            }
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err(QueryError::new(start, QueryErrorKind::UnterminatedQuote))
}
