//! E.164 phone numbers: `+`, then 8 to 15 digits, the first not `0`.
//!
//! People write numbers with spaces, dashes, dots and parentheses; those
//! are dropped. Anything else (letters, a second `+`, an extension) is
//! refused rather than guessed at: a text to the wrong number is a
//! disclosure.

/// Fewest digits accepted after the `+` (country code included).
pub const MIN_DIGITS: usize = 8;
/// Most digits E.164 allows after the `+`.
pub const MAX_DIGITS: usize = 15;

/// Why a string is not an E.164 number. Never carries the number itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Nothing but separators (or nothing at all).
    #[error("it is empty")]
    Empty,
    /// The number does not start with `+` and a country code.
    #[error("it must start with '+' and the country code")]
    MissingPlus,
    /// A character that is neither a digit nor a separator.
    #[error(
        "character {character:?} at position {position} is not a digit (only spaces, '-', '.', '(' and ')' may separate digits)"
    )]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its position in the input, counted in characters from 0.
        position: usize,
    },
    /// A country code never starts with `0`.
    #[error("the country code cannot start with 0")]
    LeadingZero,
    /// Fewer than [`MIN_DIGITS`] digits.
    #[error("it has {0} digits, at least {MIN_DIGITS} are needed")]
    TooShort(usize),
    /// More than [`MAX_DIGITS`] digits.
    #[error("it has {0} digits, at most {MAX_DIGITS} are allowed")]
    TooLong(usize),
}

/// `input` as `+` and digits only, or why it is not an E.164 number.
///
/// ```
/// assert_eq!(sealpost_sms::normalize_e164("+1 (415) 555-0100").unwrap(), "+14155550100");
/// assert!(sealpost_sms::normalize_e164("0044 20 7946 0000").is_err());
/// ```
pub fn normalize_e164(input: &str) -> Result<String, crate::SmsError> {
    parse(input).map_err(Into::into)
}

fn parse(input: &str) -> Result<String, NumberError> {
    let mut out = String::with_capacity(MAX_DIGITS + 1);
    let mut seen_plus = false;
    let mut digits = 0usize;
    for (position, character) in input.chars().enumerate() {
        match character {
            ' ' | '-' | '.' | '(' | ')' => {}
            '+' if !seen_plus && digits == 0 => {
                seen_plus = true;
                out.push('+');
            }
            '0'..='9' if !seen_plus => return Err(NumberError::MissingPlus),
            '0' if digits == 0 => return Err(NumberError::LeadingZero),
            '0'..='9' => {
                digits += 1;
                if digits > MAX_DIGITS {
                    // Count them all so the error says how many there are.
                    let total = input.chars().filter(char::is_ascii_digit).count();
                    return Err(NumberError::TooLong(total));
                }
                out.push(character);
            }
            _ => return Err(NumberError::InvalidCharacter { character, position }),
        }
    }
    match digits {
        0 if !seen_plus => Err(NumberError::Empty),
        n if n < MIN_DIGITS => Err(NumberError::TooShort(n)),
        _ => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_dropped() {
        assert_eq!(parse("+1 (415) 555-0100").unwrap(), "+14155550100");
        assert_eq!(parse("+44.20.7946.0000").unwrap(), "+442079460000");
        assert_eq!(parse(" +49 30 123456 ").unwrap(), "+4930123456");
    }

    #[test]
    fn lengths_are_bounded() {
        assert_eq!(parse("+1234567").unwrap_err(), NumberError::TooShort(7));
        assert_eq!(parse("+12345678").unwrap(), "+12345678");
        assert_eq!(parse("+123456789012345").unwrap(), "+123456789012345");
        assert_eq!(parse("+1234567890123456").unwrap_err(), NumberError::TooLong(16));
    }

    #[test]
    fn everything_else_is_refused_precisely() {
        assert_eq!(parse("").unwrap_err(), NumberError::Empty);
        assert_eq!(parse(" - ").unwrap_err(), NumberError::Empty);
        assert_eq!(parse("+").unwrap_err(), NumberError::TooShort(0));
        assert_eq!(parse("14155550100").unwrap_err(), NumberError::MissingPlus);
        assert_eq!(parse("+0441234567").unwrap_err(), NumberError::LeadingZero);
        assert_eq!(parse("+1415555010x").unwrap_err(), NumberError::InvalidCharacter { character: 'x', position: 11 });
        assert_eq!(parse("+1 415+5550100").unwrap_err(), NumberError::InvalidCharacter { character: '+', position: 6 });
        assert_eq!(parse("++14155550100").unwrap_err(), NumberError::InvalidCharacter { character: '+', position: 1 });
        assert_eq!(parse("+1/415/5550100").unwrap_err(), NumberError::InvalidCharacter { character: '/', position: 2 });
        assert_eq!(parse("+１4155550100").unwrap_err(), NumberError::InvalidCharacter { character: '１', position: 1 });
    }

    #[test]
    fn errors_never_show_the_number() {
        let e = normalize_e164("+1415555010x").unwrap_err().to_string();
        assert!(!e.contains("1415"), "{e}");
    }
}
