//! Turns a parsed [`Query`] into a tantivy query over the schema.
//!
//! Words and phrases are cut with the index's analyzer: a word that yields
//! several terms (`078-05-1120`, `alice@example.com` in a body) is matched as
//! a phrase of them, one that yields none matches nothing. Address fields
//! also match the whole value, lower-cased, against the address terms of
//! [`crate::schema::address_terms`].

use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query as TantivyQuery, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use time::Date;

use crate::query::{PhiFilter, Query, TextField};
use crate::schema::{Fields, analyzer, tokens};

pub(crate) struct Compiler<'a> {
    fields: &'a Fields,
    analyzer: TextAnalyzer,
    holds: &'a dyn Fn(&str) -> Vec<String>,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(fields: &'a Fields, holds: &'a dyn Fn(&str) -> Vec<String>) -> Self {
        Self { fields, analyzer: analyzer(), holds }
    }

    pub(crate) fn compile(&mut self, query: &Query) -> Box<dyn TantivyQuery> {
        match query {
            Query::And(children) => {
                let mut clauses = Vec::with_capacity(children.len() + 1);
                for child in children {
                    match child {
                        Query::Not(inner) => clauses.push((Occur::MustNot, self.compile(inner))),
                        other => clauses.push((Occur::Must, self.compile(other))),
                    }
                }
                // Only exclusions: exclude from everything.
                if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Or(children) => {
                let clauses = children.iter().map(|child| (Occur::Should, self.compile(child))).collect();
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Not(inner) => {
                let inner = self.compile(inner);
                Box::new(BooleanQuery::new(vec![(Occur::Must, Box::new(AllQuery)), (Occur::MustNot, inner)]))
            }
            Query::Term { field, text } | Query::Phrase { field, text } => self.text(*field, text),
            Query::HasAttachment => term(self.fields.flags, "attachment"),
            Query::Before(date) => {
                let upper = Term::from_field_i64(self.fields.date, day_start_micros(*date));
                Box::new(RangeQuery::new(Bound::Unbounded, Bound::Excluded(upper)))
            }
            Query::After(date) => {
                let lower = Term::from_field_i64(self.fields.date, day_start_micros(*date));
                Box::new(RangeQuery::new(Bound::Included(lower), Bound::Unbounded))
            }
            Query::Category(category) => term(self.fields.category, category.as_str()),
            Query::Phi(PhiFilter::Any) => term(self.fields.phi, "any"),
            Query::Phi(PhiFilter::Kind(kind)) => term(self.fields.phi, kind.as_str()),
            Query::Patient(text) => {
                let fields = [self.fields.patient, self.fields.subject, self.fields.body];
                self.analyzed(&fields, &[], text)
            }
            Query::Hold(name) => {
                let ids = (self.holds)(name);
                let terms: Vec<Term> = ids
                    .iter()
                    .filter_map(|id| crate::schema::normalize_id(id))
                    .map(|id| Term::from_field_text(self.fields.id, &id))
                    .collect();
                if terms.is_empty() { Box::new(EmptyQuery) } else { Box::new(TermSetQuery::new(terms)) }
            }
        }
    }

    /// A word or phrase in one field or everywhere.
    fn text(&mut self, field: Option<TextField>, text: &str) -> Box<dyn TantivyQuery> {
        let f = self.fields;
        let (analyzed, raw): (Vec<Field>, Vec<Field>) = match field {
            Some(TextField::From) => (vec![f.from_name], vec![f.from_addr]),
            Some(TextField::To) => (vec![f.to_name], vec![f.to_addr]),
            Some(TextField::Cc) => (vec![f.cc_name], vec![f.cc_addr]),
            Some(TextField::Subject) => (vec![f.subject], vec![]),
            Some(TextField::Body) => (vec![f.body], vec![]),
            Some(TextField::Filename) => (vec![f.filename], vec![]),
            None => (
                vec![f.subject, f.body, f.from_name, f.to_name, f.cc_name, f.filename],
                vec![f.from_addr, f.to_addr, f.cc_addr],
            ),
        };
        self.analyzed(&analyzed, &raw, text)
    }

    /// Any of: the analyzed terms of `text` (as a phrase when several) in
    /// `analyzed`, or the whole lower-cased `text` as one term in `raw`.
    fn analyzed(&mut self, analyzed: &[Field], raw: &[Field], text: &str) -> Box<dyn TantivyQuery> {
        let words = tokens(&mut self.analyzer, text);
        let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        for &field in analyzed {
            match words.as_slice() {
                [] => {}
                [word] => clauses.push((Occur::Should, term(field, word))),
                _ => {
                    let terms = words.iter().map(|w| Term::from_field_text(field, w)).collect();
                    clauses.push((Occur::Should, Box::new(PhraseQuery::new(terms))));
                }
            }
        }
        let whole = text.trim().to_lowercase();
        if !whole.is_empty() {
            for &field in raw {
                clauses.push((Occur::Should, term(field, &whole)));
            }
        }
        match clauses.len() {
            0 => Box::new(EmptyQuery),
            1 => clauses.remove(0).1,
            _ => Box::new(BooleanQuery::new(clauses)),
        }
    }
}

fn term(field: Field, text: &str) -> Box<dyn TantivyQuery> {
    Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic))
}

/// Microseconds since the epoch at 00:00 UTC of `date`.
pub(crate) fn day_start_micros(date: Date) -> i64 {
    date.midnight().assume_utc().unix_timestamp().saturating_mul(1_000_000)
}
