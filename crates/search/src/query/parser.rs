//! Recursive descent over the tokens: OR of ANDs of unary terms.

use sealpost_classify::PhiKind;
use sealpost_model::Category;
use time::{Date, Month};

use super::lexer::{Token, TokenKind, Value, tokenize};
use super::{MAX_DEPTH, MAX_QUERY_CHARS, PhiFilter, Query, QueryError, QueryErrorKind, TextField};

pub(super) fn parse(q: &str) -> Result<Query, QueryError> {
    let chars: Vec<char> = q.chars().take(MAX_QUERY_CHARS + 1).collect();
    if chars.len() > MAX_QUERY_CHARS {
        return Err(QueryError::new(MAX_QUERY_CHARS, QueryErrorKind::TooLong));
    }
    let tokens = tokenize(&chars)?;
    if tokens.is_empty() {
        return Err(QueryError::new(0, QueryErrorKind::Empty));
    }
    let mut parser = Parser { tokens, next: 0, end: chars.len(), depth: 0 };
    let query = parser.or()?;
    match parser.peek() {
        None => Ok(query),
        // `or` stops only at the end or at a `)` it did not open.
        Some(token) => Err(QueryError::new(token.pos, QueryErrorKind::UnexpectedCloseParen)),
    }
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// The query's length in characters: where "at the end" errors point.
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn peek_kind(&self) -> Option<&TokenKind> {
        self.peek().map(|t| &t.kind)
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    fn bump(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    /// Counts one more level of nesting; refuses past [`MAX_DEPTH`].
    fn descend(&mut self, pos: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::new(pos, QueryErrorKind::TooDeep));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Query, QueryError> {
        let mut children = vec![self.and()?];
        while self.peek_kind() == Some(&TokenKind::Or) {
            self.bump();
            children.push(self.and()?);
        }
        Ok(if children.len() == 1 { children.remove(0) } else { Query::Or(children) })
    }

    fn and(&mut self) -> Result<Query, QueryError> {
        let mut children = vec![self.unary()?];
        loop {
            match self.peek_kind() {
                None | Some(TokenKind::RParen | TokenKind::Or) => break,
                Some(TokenKind::And) => {
                    self.bump();
                    children.push(self.unary()?);
                }
                Some(_) => children.push(self.unary()?),
            }
        }
        Ok(if children.len() == 1 { children.remove(0) } else { Query::And(children) })
    }

    fn unary(&mut self) -> Result<Query, QueryError> {
        if matches!(self.peek_kind(), Some(TokenKind::Not | TokenKind::Minus)) {
            let pos = self.here();
            self.bump();
            self.descend(pos)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Query::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Query, QueryError> {
        let pos = self.here();
        let Some(token) = self.bump() else { return Err(QueryError::new(pos, QueryErrorKind::ExpectedTerm)) };
        match token.kind {
            TokenKind::LParen => {
                self.descend(pos)?;
                let inner = self.or()?;
                self.depth -= 1;
                match self.peek_kind() {
                    Some(TokenKind::RParen) => {
                        self.bump();
                        Ok(inner)
                    }
                    _ => Err(QueryError::new(self.here(), QueryErrorKind::ExpectedCloseParen)),
                }
            }
            TokenKind::Word(text) => Ok(Query::Term { field: None, text }),
            TokenKind::Quoted(text) => Ok(Query::Phrase { field: None, text }),
            TokenKind::Field { name, value } => field(&name, pos, value, pos + name.chars().count() + 1),
            TokenKind::RParen | TokenKind::And | TokenKind::Or | TokenKind::Not | TokenKind::Minus => {
                Err(QueryError::new(pos, QueryErrorKind::ExpectedTerm))
            }
        }
    }
}

/// Turns `name:value` into its typed query. `after_colon` is where a missing
/// value would have started.
fn field(name: &str, name_pos: usize, value: Option<Value>, after_colon: usize) -> Result<Query, QueryError> {
    let kind = field_kind(name).ok_or(QueryError::new(name_pos, QueryErrorKind::UnknownField))?;
    let Some(value) = value else { return Err(QueryError::new(after_colon, QueryErrorKind::MissingValue)) };
    let invalid = |kind| QueryError::new(value.pos, kind);
    Ok(match kind {
        FieldKind::Text(field) if value.quoted => Query::Phrase { field: Some(field), text: value.text },
        FieldKind::Text(field) => Query::Term { field: Some(field), text: value.text },
        FieldKind::Has if value.text.eq_ignore_ascii_case("attachment") => Query::HasAttachment,
        FieldKind::Has => return Err(invalid(QueryErrorKind::ExpectedAttachment)),
        FieldKind::Before => Query::Before(date(&value.text).ok_or(invalid(QueryErrorKind::ExpectedDate))?),
        FieldKind::After => Query::After(date(&value.text).ok_or(invalid(QueryErrorKind::ExpectedDate))?),
        FieldKind::Category => Query::Category(
            Category::parse(&value.text.to_ascii_lowercase()).map_err(|_| invalid(QueryErrorKind::ExpectedCategory))?,
        ),
        FieldKind::Phi => Query::Phi(phi(&value.text).ok_or(invalid(QueryErrorKind::ExpectedPhiKind))?),
        FieldKind::Patient => Query::Patient(value.text),
        FieldKind::Hold => Query::Hold(value.text),
    })
}

enum FieldKind {
    Text(TextField),
    Has,
    Before,
    After,
    Category,
    Phi,
    Patient,
    Hold,
}

/// Field names ignore case: `From:` is `from:`.
fn field_kind(name: &str) -> Option<FieldKind> {
    let name = name.to_ascii_lowercase();
    if let Some(field) = TextField::ALL.into_iter().find(|f| f.as_str() == name) {
        return Some(FieldKind::Text(field));
    }
    Some(match name.as_str() {
        "has" => FieldKind::Has,
        "before" => FieldKind::Before,
        "after" => FieldKind::After,
        "category" => FieldKind::Category,
        "phi" => FieldKind::Phi,
        "patient" => FieldKind::Patient,
        "hold" => FieldKind::Hold,
        _ => return None,
    })
}

/// `YYYY-MM-DD` or `YYYY/MM/DD`, a real calendar day.
fn date(text: &str) -> Option<Date> {
    let sep = if text.contains('/') { '/' } else { '-' };
    let mut parts = text.split(sep);
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year) && digits(month) && digits(day)) {
        return None;
    }
    let month = Month::try_from(month.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

/// `any` or a PHI kind in the spelling of `sealpost-classify`; `plan_id` is
/// accepted for `health_plan_id`.
fn phi(text: &str) -> Option<PhiFilter> {
    let text = text.to_ascii_lowercase();
    match text.as_str() {
        "any" => Some(PhiFilter::Any),
        "plan_id" => Some(PhiFilter::Kind(PhiKind::HealthPlanId)),
        other => PhiKind::parse(other).ok().map(PhiFilter::Kind),
    }
}
