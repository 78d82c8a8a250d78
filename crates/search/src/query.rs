//! The archive query language (R-AR-5): a typed AST, its parser and its
//! canonical printed form.
//!
//! ```text
//! query    := or
//! or       := and ("OR" and)*
//! and      := unary (["AND"] unary)*          juxtaposition is AND
//! unary    := ("NOT" | "-") unary | primary
//! primary  := "(" or ")" | "\"phrase\"" | field ":" (word | "\"phrase\"") | word
//! ```
//!
//! Precedence is NOT > AND > OR. `AND`, `OR` and `NOT` are keywords only in
//! upper case (`and` is an ordinary word); quote them to search for them.
//! Fields: `from:` `to:` `cc:` `subject:` `body:` `filename:` take a word or a
//! phrase; `has:attachment`; `before:`/`after:` take `YYYY-MM-DD` or
//! `YYYY/MM/DD` (UTC days: `before:` is exclusive, `after:` inclusive, so
//! `after:2024-03-01 before:2024-04-01` is all of March);
//! `category:transactional|marketing`; `phi:any` or a PHI kind;
//! `patient:…`; `hold:NAME`. A word that starts with letters and a colon is a
//! field, and an unknown one is an error: quote `"http://…"` to search for it.
//!
//! ```
//! use sealpost_search::query::{parse, Query};
//!
//! let q = parse("from:alice (subject:\"lab results\" OR has:attachment) -category:marketing").unwrap();
//! assert!(matches!(q, Query::And(_)));
//! assert_eq!(parse(&q.to_string()).unwrap(), q);
//! let err = parse("(from:alice").unwrap_err();
//! assert_eq!(err.to_string(), "position 11: expected ')'");
//! ```

mod error;
mod lexer;
mod parser;

use std::fmt;

use sealpost_classify::PhiKind;
use sealpost_model::Category;
use time::Date;

pub use error::{QueryError, QueryErrorKind};

/// Queries nested deeper than this (parentheses and negations) are refused,
/// so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// Queries longer than this many characters are refused.
pub const MAX_QUERY_CHARS: usize = 4096;

/// Parses a query. Errors name a character position, never the query text.
pub fn parse(q: &str) -> Result<Query, QueryError> {
    parser::parse(q)
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Every sub-query matches (two or more).
    And(Vec<Query>),
    /// At least one sub-query matches (two or more).
    Or(Vec<Query>),
    /// The sub-query does not match.
    Not(Box<Query>),
    /// A word, in one field or (without one) in any header, body or file name.
    Term {
        /// Where to look; `None` is everywhere.
        field: Option<TextField>,
        /// The word as typed (matching ignores case).
        text: String,
    },
    /// A quoted phrase: its words, adjacent and in order.
    Phrase {
        /// Where to look; `None` is everywhere.
        field: Option<TextField>,
        /// The text between the quotes, unescaped.
        text: String,
    },
    /// `has:attachment`.
    HasAttachment,
    /// `before:DATE`: sent before the start of that UTC day.
    Before(Date),
    /// `after:DATE`: sent at or after the start of that UTC day.
    After(Date),
    /// `category:…`.
    Category(Category),
    /// `phi:…`: PHI of any or of one kind was found.
    Phi(PhiFilter),
    /// `patient:…`: the patient identifiers given at submission, or the text
    /// as a phrase in the subject or body.
    Patient(String),
    /// `hold:NAME`: messages under that legal hold (resolved by the caller).
    Hold(String),
}

/// The fields a word or phrase can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextField {
    /// Sender addresses and display names.
    From,
    /// To addresses and display names.
    To,
    /// Cc addresses and display names.
    Cc,
    /// The Subject header.
    Subject,
    /// Text parts and text attachments.
    Body,
    /// Attachment file names.
    Filename,
}

impl TextField {
    /// Every field, in declaration order.
    pub const ALL: [TextField; 6] =
        [TextField::From, TextField::To, TextField::Cc, TextField::Subject, TextField::Body, TextField::Filename];

    /// The name used in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            TextField::From => "from",
            TextField::To => "to",
            TextField::Cc => "cc",
            TextField::Subject => "subject",
            TextField::Body => "body",
            TextField::Filename => "filename",
        }
    }
}

/// What `phi:` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhiFilter {
    /// Any kind of PHI.
    Any,
    /// One kind.
    Kind(PhiKind),
}

impl fmt::Display for PhiFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhiFilter::Any => f.write_str("any"),
            PhiFilter::Kind(kind) => f.write_str(kind.as_str()),
        }
    }
}

/// Prints the canonical form: keywords in upper case, `NOT` rather than `-`,
/// parentheses exactly where the tree needs them. It parses back to an equal
/// query.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::And(children) => {
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    // A nested AND keeps its parentheses so the tree survives.
                    write_grouped(f, child, matches!(child, Query::And(_) | Query::Or(_)))?;
                }
                Ok(())
            }
            Query::Or(children) => {
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" OR ")?;
                    }
                    write_grouped(f, child, matches!(child, Query::Or(_)))?;
                }
                Ok(())
            }
            Query::Not(child) => {
                f.write_str("NOT ")?;
                write_grouped(f, child, matches!(**child, Query::And(_) | Query::Or(_)))
            }
            Query::Term { field, text } => {
                if let Some(field) = field {
                    write!(f, "{}:", field.as_str())?;
                }
                f.write_str(text)
            }
            Query::Phrase { field, text } => {
                if let Some(field) = field {
                    write!(f, "{}:", field.as_str())?;
                }
                write_quoted(f, text)
            }
            Query::HasAttachment => f.write_str("has:attachment"),
            Query::Before(date) => write!(f, "before:{}", IsoDate(*date)),
            Query::After(date) => write!(f, "after:{}", IsoDate(*date)),
            Query::Category(category) => write!(f, "category:{}", category.as_str()),
            Query::Phi(filter) => write!(f, "phi:{filter}"),
            Query::Patient(text) => {
                f.write_str("patient:")?;
                write_value(f, text)
            }
            Query::Hold(name) => {
                f.write_str("hold:")?;
                write_value(f, name)
            }
        }
    }
}

fn write_grouped(f: &mut fmt::Formatter<'_>, q: &Query, parens: bool) -> fmt::Result {
    if parens { write!(f, "({q})") } else { write!(f, "{q}") }
}

/// A free value (patient, hold name): bare when it lexes back as one word.
fn write_value(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if lexer::is_bare_value(text) { f.write_str(text) } else { write_quoted(f, text) }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

/// `YYYY-MM-DD`, the form `before:`/`after:` print.
struct IsoDate(Date);

impl fmt::Display for IsoDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), u8::from(self.0.month()), self.0.day())
    }
}
