//! Tenant dictionary terms (patient names, diagnoses): case-insensitive,
//! whole words. A term's whitespace matches any run of whitespace (line
//! wraps), `'` matches `’` too, and a possessive `'s` after a term still counts.

use regex::{Regex, RegexBuilder};

use super::{for_each_candidate, is_word};
use crate::ClassifyError;

/// The longest accepted dictionary term, in characters.
pub const MAX_TERM_CHARS: usize = 200;
/// Compiled size limit of the whole dictionary; large enough for tens of
/// thousands of names.
const SIZE_LIMIT: usize = 256 << 20;

/// One regular expression over all terms, longest first so that of two terms
/// starting at the same place the longer one wins.
#[derive(Clone)]
pub(crate) struct DictionaryDetector {
    terms: Regex,
}

impl DictionaryDetector {
    /// `None` for an empty dictionary.
    pub(crate) fn new(terms: &[String]) -> Result<Option<Self>, ClassifyError> {
        let mut cleaned = Vec::with_capacity(terms.len());
        for (index, term) in terms.iter().enumerate() {
            let words: Vec<&str> = term.split_whitespace().collect();
            let chars: usize = words.iter().map(|w| w.chars().count()).sum::<usize>() + words.len().saturating_sub(1);
            if !(2..=MAX_TERM_CHARS).contains(&chars) {
                return Err(ClassifyError::DictionaryTerm { index });
            }
            cleaned.push(words);
        }
        if cleaned.is_empty() {
            return Ok(None);
        }
        let len = |words: &Vec<&str>| words.iter().map(|w| w.len()).sum::<usize>() + words.len();
        cleaned.sort_by(|a, b| len(b).cmp(&len(a)).then_with(|| a.cmp(b)));
        cleaned.dedup();
        let alternatives: Vec<String> = cleaned.iter().map(|words| term_pattern(words)).collect();
        let pattern = format!("(?i:{})", alternatives.join("|"));
        let terms = RegexBuilder::new(&pattern)
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .build()
            .map_err(|_| ClassifyError::DictionaryTooLarge { terms: terms.len() })?;
        Ok(Some(Self { terms }))
    }

    pub(crate) fn count(&self, text: &str) -> u32 {
        let mut n = 0u32;
        for_each_candidate(&self.terms, text, |caps| {
            let Some(m) = caps.get(0) else { return false };
            let found = word_start(&text[..m.start()]) && word_end(&text[m.end()..]);
            n += u32::from(found);
            found
        });
        n
    }
}

fn term_pattern(words: &[&str]) -> String {
    words
        .iter()
        .map(|word| word.split(['\'', '’']).map(regex::escape).collect::<Vec<_>>().join("['’]"))
        .collect::<Vec<_>>()
        .join(r"\s+")
}

/// A term starts a word unless a word character, or a word character and an
/// apostrophe ("O'Brien" does not contain the word "Brien"), comes before it.
fn word_start(before: &str) -> bool {
    let mut chars = before.chars().rev();
    match (chars.next(), chars.next()) {
        (Some(c), _) if is_word(c) => false,
        (Some('\'' | '’'), Some(c)) => !is_word(c),
        _ => true,
    }
}

/// A term ends a word if no word character follows, or only a possessive `'s`.
fn word_end(after: &str) -> bool {
    let mut chars = after.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(c), _, _) if is_word(c) => false,
        (Some('\'' | '’'), Some('s' | 'S'), next) => !next.is_some_and(is_word),
        (Some('\'' | '’'), Some(c), _) => !is_word(c),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector(terms: &[&str]) -> DictionaryDetector {
        let terms: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
        DictionaryDetector::new(&terms).ok().flatten().unwrap_or_else(|| panic!("dictionary should compile"))
    }

    #[test]
    fn whole_words_case_insensitive() {
        let d = detector(&["O'Brien", "Ann", "Anna", "type 2 diabetes", "Zoë"]);
        assert_eq!(d.count("Seen: Mrs O'BRIEN today"), 1);
        assert_eq!(d.count("Mrs O’Brien’s chart"), 1);
        assert_eq!(d.count("Anna and Ann, not Annabel nor Joann"), 2);
        assert_eq!(d.count("History of Type 2\n  Diabetes."), 1);
        assert_eq!(d.count("ZOË arrived"), 1);
        assert_eq!(d.count("Zoëy arrived"), 0);
        assert_eq!(d.count("x_Ann"), 0);
        assert_eq!(d.count("Ann's file; Ann'sx"), 1);
        assert_eq!(d.count("d'Ann"), 0);
    }

    #[test]
    fn terms_are_checked() {
        assert!(DictionaryDetector::new(&[]).is_ok_and(|d| d.is_none()));
        let bad = vec!["ok term".to_string(), " x ".to_string()];
        assert_eq!(DictionaryDetector::new(&bad).err(), Some(ClassifyError::DictionaryTerm { index: 1 }));
        let long = vec!["x".repeat(MAX_TERM_CHARS + 1)];
        assert!(DictionaryDetector::new(&long).is_err());
    }
}
