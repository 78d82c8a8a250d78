//! Query syntax errors: a position and an expectation, never the query text
//! (a query may hold PHI, and errors end up in logs).

/// A query that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {position}: {kind}")]
pub struct QueryError {
    /// Where the problem is, in characters (not bytes) from the start.
    pub position: usize,
    /// What was wrong there.
    pub kind: QueryErrorKind,
}

impl QueryError {
    pub(crate) fn new(position: usize, kind: QueryErrorKind) -> Self {
        Self { position, kind }
    }
}

/// What was wrong at a [`QueryError`]'s position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryErrorKind {
    /// Nothing but whitespace.
    #[error("empty query")]
    Empty,
    /// Longer than [`crate::query::MAX_QUERY_CHARS`].
    #[error("query longer than {} characters", crate::query::MAX_QUERY_CHARS)]
    TooLong,
    /// Nested deeper than [`crate::query::MAX_DEPTH`].
    #[error("nested deeper than {} levels", crate::query::MAX_DEPTH)]
    TooDeep,
    /// A word, phrase, field or group was expected (after an operator, in
    /// empty parentheses, at the end).
    #[error("expected a search term")]
    ExpectedTerm,
    /// An opening parenthesis was not closed.
    #[error("expected ')'")]
    ExpectedCloseParen,
    /// A closing parenthesis without an opening one.
    #[error("unexpected ')'")]
    UnexpectedCloseParen,
    /// A quote that is not closed.
    #[error("unterminated quoted phrase")]
    UnterminatedQuote,
    /// `""`.
    #[error("empty quoted phrase")]
    EmptyPhrase,
    /// `name:` with a name that is not a field.
    #[error(
        "unknown field; expected one of from, to, cc, subject, body, filename, has, before, after, category, phi, patient, hold"
    )]
    UnknownField,
    /// `field:` followed by nothing.
    #[error("expected a value after the field name")]
    MissingValue,
    /// `has:` with something other than `attachment`.
    #[error("expected has:attachment")]
    ExpectedAttachment,
    /// `before:`/`after:` with something other than a date.
    #[error("expected a date as YYYY-MM-DD or YYYY/MM/DD")]
    ExpectedDate,
    /// `category:` with an unknown category.
    #[error("expected category:transactional or category:marketing")]
    ExpectedCategory,
    /// `phi:` with an unknown kind.
    #[error("expected phi:any or a PHI kind (ssn, mrn, dob, icd10, npi, mbi, health_plan_id, phone, dictionary)")]
    ExpectedPhiKind,
}
