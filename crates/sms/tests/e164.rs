//! `normalize_e164` as a property: what it accepts is canonical, and
//! separators never change the result.

use proptest::prelude::*;
use sealpost_sms::{NumberError, SmsError, normalize_e164};

fn digits() -> impl Strategy<Value = String> {
    "[1-9][0-9]{7,14}"
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", " ", "-", ".", "(", ")", " - "])
}

proptest! {
    #[test]
    fn separators_are_ignored(d in digits(), seps in prop::collection::vec(separator(), 16)) {
        let mut written = String::from("+");
        for (c, sep) in d.chars().zip(&seps) {
            written.push_str(sep);
            written.push(c);
        }
        prop_assert_eq!(normalize_e164(&written).unwrap(), format!("+{d}"));
    }

    #[test]
    fn output_is_canonical_and_idempotent(s in "\\PC{0,24}") {
        if let Ok(n) = normalize_e164(&s) {
            prop_assert!(n.starts_with('+'));
            let digits = &n[1..];
            prop_assert!((8..=15).contains(&digits.len()), "{}", n);
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(!digits.starts_with('0'));
            prop_assert_eq!(normalize_e164(&n).unwrap(), n);
        }
    }

    #[test]
    fn a_foreign_character_is_named_with_its_position(d in digits(), at in 0usize..8, c in "[a-zA-Z/#*,;]") {
        let c = c.chars().next().unwrap();
        let mut s = format!("+{d}");
        s.insert(at + 1, c);
        match normalize_e164(&s) {
            Err(SmsError::InvalidNumber(NumberError::InvalidCharacter { character, position })) => {
                prop_assert_eq!(character, c);
                prop_assert_eq!(position, at + 1);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn lengths_outside_8_to_15_are_refused(d in "[1-9][0-9]{0,6}|[1-9][0-9]{15,20}") {
        let e = normalize_e164(&format!("+{d}")).unwrap_err();
        let expected = if d.len() < 8 { NumberError::TooShort(d.len()) } else { NumberError::TooLong(d.len()) };
        prop_assert!(matches!(&e, SmsError::InvalidNumber(n) if *n == expected), "{:?}", e);
    }
}

#[test]
fn examples() {
    assert_eq!(normalize_e164("+1 (415) 555-0100").unwrap(), "+14155550100");
    assert_eq!(normalize_e164("+49.30.1234.5678").unwrap(), "+493012345678");
    assert!(matches!(normalize_e164("(415) 555-0100"), Err(SmsError::InvalidNumber(NumberError::MissingPlus))));
    assert!(matches!(normalize_e164("+0 415 555 0100"), Err(SmsError::InvalidNumber(NumberError::LeadingZero))));
    assert!(matches!(
        normalize_e164("+1 415 555 0100 ext 12"),
        Err(SmsError::InvalidNumber(NumberError::InvalidCharacter { character: 'e', position: 16 }))
    ));
}
