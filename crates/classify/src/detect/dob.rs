//! Dates of birth: a date within a few words after "DOB", "date of birth",
//! "birth date", "born" or "birthday". A date alone is not a finding:
//! appointment and report dates are in nearly every clinical message.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::{builtin, gap_is_short, is_digit, standalone};

static KEYWORD: LazyLock<Regex> =
    LazyLock::new(|| builtin(r"(?i)\b(?:dob\b|d\.o\.b\b\.?|date\s+of\s+birth|birth\s*date|born(?:\s+on)?\b|birthday)"));

const MONTHS: &str = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?";

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    builtin(&format!(
        r"(?ix)
        \b (?:
            (?P<a1>[0-9]{{1,2}}) [/-] (?P<a2>[0-9]{{1,2}}) [/-] (?P<ay>[0-9]{{4}}|[0-9]{{2}})
          | (?P<iy>[0-9]{{4}}) [/-] (?P<im>[0-9]{{1,2}}) [/-] (?P<id>[0-9]{{1,2}})
          | (?P<ed>[0-9]{{1,2}}) \. (?P<em>[0-9]{{1,2}}) \. (?P<ey>[0-9]{{4}})
          | (?P<nm>{MONTHS}) \.? \s+ (?P<nd>[0-9]{{1,2}}) (?:st|nd|rd|th)? ,? \s+ (?P<ny>[0-9]{{4}})
          | (?P<wd>[0-9]{{1,2}}) (?:st|nd|rd|th)? \s+ (?P<wm>{MONTHS}) \.? ,? \s+ (?P<wy>[0-9]{{4}})
        ) \b"
    ))
});

/// How far after the keyword the date may start, in bytes and words
/// ("DOB (MM/DD/YYYY): 03/04/1984", "date of birth is March 3, 1984").
const GAP: usize = 24;
const GAP_WORDS: usize = 3;
/// Longer than any date the pattern accepts written normally ("September 30th, 1984").
const DATE_MAX: usize = 48;

pub(super) fn count(text: &str) -> u32 {
    let mut n = 0u32;
    // End of the last date counted, so "DOB (date of birth): 03/04/1984" is one finding.
    let mut counted_until = 0;
    for keyword in KEYWORD.find_iter(text) {
        // Search only as far as a date starting within the gap can reach, so
        // many keywords without dates cost no more than the text itself. A
        // date cut by the window end is rejected by `standalone` below.
        let window = &text[..text.floor_char_boundary(keyword.end() + GAP + DATE_MAX)];
        let mut at = keyword.end();
        while let Some(caps) = DATE.captures_at(window, at) {
            let Some(date) = caps.get(0) else { break };
            if date.start() > keyword.end() + GAP {
                break;
            }
            if date.start() >= counted_until
                && is_plausible(&caps)
                && standalone(text, date.range(), is_digit)
                && gap_is_short(&text[keyword.end()..date.start()], GAP, GAP_WORDS)
            {
                n += 1;
                counted_until = date.end();
                break;
            }
            at = super::next_boundary(text, date.start());
        }
    }
    n
}

/// Whether the captured date could be a real calendar date of birth.
fn is_plausible(caps: &Captures<'_>) -> bool {
    let num = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<u32>().ok());
    let (month, day, year) = if let (Some(a), Some(b)) = (num("a1"), num("a2")) {
        // US month/day first, but a day/month reading is accepted too.
        let (month, day) = if a <= 12 { (a, b) } else { (b, a) };
        (month, day, caps.name("ay").map(|y| (y.as_str().len(), num("ay"))))
    } else if let Some(y) = num("iy") {
        (num("im").unwrap_or(0), num("id").unwrap_or(0), Some((4, Some(y))))
    } else if let Some(y) = num("ey") {
        (num("em").unwrap_or(0), num("ed").unwrap_or(0), Some((4, Some(y))))
    } else if let Some(y) = num("ny") {
        (caps.name("nm").map_or(0, |m| month_number(m.as_str())), num("nd").unwrap_or(0), Some((4, Some(y))))
    } else {
        (caps.name("wm").map_or(0, |m| month_number(m.as_str())), num("wd").unwrap_or(0), Some((4, num("wy"))))
    };
    let year_ok = match year {
        Some((2, Some(_))) => true,
        Some((4, Some(y))) => (1880..=2100).contains(&y),
        _ => false,
    };
    (1..=12).contains(&month) && (1..=31).contains(&day) && year_ok
}

fn month_number(name: &str) -> u32 {
    let prefix: String = name.chars().take(3).flat_map(char::to_lowercase).collect();
    match prefix.as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => 0,
    }
}
