//! Errors at this crate's boundary. Messages name positions, rule ids and
//! state codes; they never repeat the offending text, which could be an
//! address or other patient data.

/// Why a period's text form (`6y`, `10y6m`, `90d`, `forever`) did not parse.
/// Positions are byte offsets into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// The text was empty.
    #[error("empty period; expected e.g. 6y, 10y6m, 90d or forever")]
    Empty,
    /// A unit letter came where a number was expected.
    #[error("expected a number at byte {position}")]
    ExpectedNumber {
        /// Byte offset.
        position: usize,
    },
    /// A number was not followed by `y`, `m` or `d`.
    #[error("expected unit y, m or d at byte {position}")]
    ExpectedUnit {
        /// Byte offset.
        position: usize,
    },
    /// Units repeated or out of the order y, m, d.
    #[error("unit at byte {position} repeated or out of order (y, m, d)")]
    UnitOrder {
        /// Byte offset.
        position: usize,
    },
    /// A number above 65535.
    #[error("number at byte {position} is larger than 65535")]
    TooLarge {
        /// Byte offset.
        position: usize,
    },
}

/// A string that is not one of the 50 states or DC as an upper-case code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a US state code (two upper-case letters, e.g. CA, NY, DC)")]
pub struct UsStateError;

/// Why an address pattern did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// Not a valid mailbox (for the exact-address form).
    #[error("not a valid address; expected user@domain, @domain or *.domain")]
    Address,
    /// The domain after `@` or `*.` is not a host name.
    #[error("invalid domain in address pattern")]
    Domain,
}

/// Why a rule id is not a slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule id must be 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit")]
pub struct RuleIdError;

/// Why a policy is not valid. Every variant names the rule by position
/// (0-based) and, where it parsed, by id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Two rules share an id; ids name rules in decisions, so they must be unique.
    #[error("rule {index} ({id}): duplicate rule id")]
    DuplicateId {
        /// Position of the second occurrence.
        index: usize,
        /// The repeated id.
        id: String,
    },
    /// `patient_age.min` is greater than `patient_age.max`.
    #[error("rule {index} ({id}): patient_age min is greater than max")]
    AgeRange {
        /// Position of the rule.
        index: usize,
        /// The rule's id.
        id: String,
    },
    /// An empty custodian id or keyword query, which would match nothing or everything.
    #[error("rule {index} ({id}): empty {field}")]
    Empty {
        /// Position of the rule.
        index: usize,
        /// The rule's id.
        id: String,
        /// `custodian` or `query`.
        field: &'static str,
    },
    /// The policy text is not valid TOML or JSON for a policy.
    #[error("policy does not parse at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column, 0 when unknown.
        column: usize,
        /// The parser's description of what it expected.
        message: String,
    },
}

/// Why a state medical-record table did not load. Entry errors name the
/// entry by its key (a state code as written in the file, at most 8 characters).
#[derive(Debug, thiserror::Error)]
pub enum StateTableError {
    /// The file could not be read.
    #[error("cannot read state table {path}")]
    Io {
        /// The path given.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML of the table's shape.
    #[error("state table does not parse at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column, 0 when unknown.
        column: usize,
        /// The parser's description of what it expected.
        message: String,
    },
    /// An entry key that is not a state code.
    #[error("entry {entry}: not a US state code")]
    UnknownState {
        /// The key, truncated.
        entry: String,
    },
    /// A field's period did not parse.
    #[error("entry {entry}: field {field}: {source}")]
    Period {
        /// The state code.
        entry: String,
        /// Which field.
        field: &'static str,
        /// The cause.
        #[source]
        source: PeriodError,
    },
    /// A field holds a value outside its range or contradicts another field.
    #[error("entry {entry}: field {field}: {reason}")]
    Invalid {
        /// The state code.
        entry: String,
        /// Which field.
        field: &'static str,
        /// What is wrong, in fixed words.
        reason: &'static str,
    },
}
