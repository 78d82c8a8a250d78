//! The index schema: which fields exist, how text is cut into terms, and how
//! an address becomes the terms `from:` matches.

use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenStream,
};

/// The tokenizer of every text field, at index and at query time.
pub(crate) const ANALYZER: &str = "sealpost";

/// Terms longer than this are dropped (base64 blobs, hashes): they cost index
/// space and nobody types them.
const MAX_TOKEN_BYTES: usize = 40;

pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The terms of `text` as the index sees them.
pub(crate) fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// The fields, resolved once.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    /// The message id: raw term (delete, holds) and fast column (hits).
    pub(crate) id: Field,
    /// The id's first and last 64 bits: tie-breakers so equal dates page
    /// stably, in id order.
    pub(crate) id_hi: Field,
    pub(crate) id_lo: Field,
    /// Unix microseconds.
    pub(crate) date: Field,
    pub(crate) from_addr: Field,
    pub(crate) to_addr: Field,
    pub(crate) cc_addr: Field,
    pub(crate) from_name: Field,
    pub(crate) to_name: Field,
    pub(crate) cc_name: Field,
    pub(crate) subject: Field,
    pub(crate) body: Field,
    pub(crate) filename: Field,
    /// `attachment` when the message has one.
    pub(crate) flags: Field,
    pub(crate) category: Field,
    /// PHI kinds found, and `any` when there is one.
    pub(crate) phi: Field,
    pub(crate) patient: Field,
}

pub(crate) fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    // Nothing is STORED: hits need only the id and date, read from fast
    // columns, and a document store would be one more copy of the text.
    let fields = Fields {
        id: builder.add_text_field("id", STRING | FAST),
        id_hi: builder.add_u64_field("id_hi", FAST),
        id_lo: builder.add_u64_field("id_lo", FAST),
        date: builder.add_i64_field("date", INDEXED | FAST),
        from_addr: builder.add_text_field("from_addr", STRING),
        to_addr: builder.add_text_field("to_addr", STRING),
        cc_addr: builder.add_text_field("cc_addr", STRING),
        from_name: builder.add_text_field("from_name", text.clone()),
        to_name: builder.add_text_field("to_name", text.clone()),
        cc_name: builder.add_text_field("cc_name", text.clone()),
        subject: builder.add_text_field("subject", text.clone()),
        body: builder.add_text_field("body", text.clone()),
        filename: builder.add_text_field("filename", text.clone()),
        flags: builder.add_text_field("flags", STRING),
        category: builder.add_text_field("category", STRING),
        phi: builder.add_text_field("phi", STRING),
        patient: builder.add_text_field("patient", text),
    };
    (builder.build(), fields)
}

/// The raw terms an address is found by: the whole address, its local part
/// and the pieces of it split at `.`, `+`, `_`, `-`, and its domain with
/// every parent domain of two labels or more. All lower case.
///
/// `Alice.Smith+lab@Mail.Example.com` gives `alice.smith+lab@mail.example.com`,
/// `alice.smith+lab`, `alice`, `smith`, `lab`, `mail.example.com`,
/// `example.com`.
pub(crate) fn address_terms(address: &str) -> Vec<String> {
    let address = address.trim().to_lowercase();
    let mut terms = Vec::new();
    if address.is_empty() {
        return terms;
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        terms.push(address);
        return terms;
    };
    if !local.is_empty() {
        terms.push(local.to_owned());
        terms.extend(local.split(['.', '+', '_', '-']).filter(|p| !p.is_empty() && *p != local).map(str::to_owned));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    for start in 0..labels.len().saturating_sub(1).max(1) {
        let suffix = labels[start..].join(".");
        if !suffix.is_empty() {
            terms.push(suffix);
        }
    }
    terms.push(address.clone());
    terms.sort();
    terms.dedup();
    terms
}

/// A message id in its indexed form (32 lowercase hex digits), or `None`.
pub(crate) fn normalize_id(id: &str) -> Option<String> {
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_terms_cover_the_ways_people_search() {
        let terms = address_terms("Alice.Smith+lab@Mail.Example.com");
        for expected in [
            "alice.smith+lab@mail.example.com",
            "alice.smith+lab",
            "alice",
            "smith",
            "lab",
            "mail.example.com",
            "example.com",
        ] {
            assert!(terms.iter().any(|t| t == expected), "{expected} missing from {terms:?}");
        }
        assert!(!terms.iter().any(|t| t == "com"), "a bare TLD would match half the archive");
        assert_eq!(address_terms("postmaster@localhost"), ["localhost", "postmaster", "postmaster@localhost"]);
        assert!(address_terms("  ").is_empty());
    }

    #[test]
    fn analyzer_folds_case_and_accents() {
        let mut analyzer = analyzer();
        assert_eq!(tokens(&mut analyzer, "Zoë O'Brien 078-05-1120"), ["zoe", "o", "brien", "078", "05", "1120"]);
    }
}
