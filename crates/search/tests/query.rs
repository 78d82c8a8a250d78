//! The query language: what parses to what, where errors point, and the
//! properties every parser here must have.

use proptest::prelude::*;
use sealpost_classify::PhiKind;
use sealpost_model::Category;
use sealpost_search::query::{MAX_DEPTH, PhiFilter, Query, QueryErrorKind, TextField, parse};
use time::macros::date;

fn term(text: &str) -> Query {
    Query::Term { field: None, text: text.into() }
}

fn field(field: TextField, text: &str) -> Query {
    Query::Term { field: Some(field), text: text.into() }
}

fn err(q: &str) -> (usize, QueryErrorKind) {
    let e = parse(q).expect_err(q);
    (e.position, e.kind)
}

#[test]
fn juxtaposition_is_and_and_precedence_is_not_and_or() {
    assert_eq!(parse("a b").unwrap(), Query::And(vec![term("a"), term("b")]));
    assert_eq!(parse("a AND b").unwrap(), parse("a b").unwrap());
    assert_eq!(parse("a OR b c").unwrap(), Query::Or(vec![term("a"), Query::And(vec![term("b"), term("c")])]));
    assert_eq!(
        parse("NOT a b OR -c").unwrap(),
        Query::Or(vec![Query::And(vec![Query::Not(Box::new(term("a"))), term("b")]), Query::Not(Box::new(term("c")))])
    );
    assert_eq!(parse("(a OR b) c").unwrap(), Query::And(vec![Query::Or(vec![term("a"), term("b")]), term("c")]));
    // Lower-case keywords are words.
    assert_eq!(parse("a or b").unwrap(), Query::And(vec![term("a"), term("or"), term("b")]));
    // A hyphen inside a word is part of it.
    assert_eq!(parse("078-05-1120").unwrap(), term("078-05-1120"));
}

#[test]
fn fields_and_values() {
    assert_eq!(parse("from:alice@example.com").unwrap(), field(TextField::From, "alice@example.com"));
    assert_eq!(parse("From:alice").unwrap(), field(TextField::From, "alice"));
    assert_eq!(
        parse(r#"subject:"lab \"results\"""#).unwrap(),
        Query::Phrase { field: Some(TextField::Subject), text: "lab \"results\"".into() }
    );
    assert_eq!(parse("\"Zebulon Quixotic\"").unwrap(), Query::Phrase { field: None, text: "Zebulon Quixotic".into() });
    assert_eq!(parse("has:attachment").unwrap(), Query::HasAttachment);
    assert_eq!(parse("before:2024-03-01").unwrap(), Query::Before(date!(2024 - 03 - 01)));
    assert_eq!(parse("after:2024/02/29").unwrap(), Query::After(date!(2024 - 02 - 29)));
    assert_eq!(parse("category:marketing").unwrap(), Query::Category(Category::Marketing));
    assert_eq!(parse("phi:any").unwrap(), Query::Phi(PhiFilter::Any));
    assert_eq!(parse("phi:ssn").unwrap(), Query::Phi(PhiFilter::Kind(PhiKind::Ssn)));
    assert_eq!(parse("phi:plan_id").unwrap(), Query::Phi(PhiFilter::Kind(PhiKind::HealthPlanId)));
    assert_eq!(parse("patient:\"Jane Doe\"").unwrap(), Query::Patient("Jane Doe".into()));
    assert_eq!(parse("hold:Smith-v-Jones").unwrap(), Query::Hold("Smith-v-Jones".into()));
    assert_eq!(parse("filename:report.pdf").unwrap(), field(TextField::Filename, "report.pdf"));
    // Not a field name: digits before the colon.
    assert_eq!(parse("12:30").unwrap(), term("12:30"));
}

#[test]
fn errors_point_at_the_problem_and_never_echo_the_query() {
    assert_eq!(err(""), (0, QueryErrorKind::Empty));
    assert_eq!(err("   "), (0, QueryErrorKind::Empty));
    assert_eq!(err("(from:alice"), (11, QueryErrorKind::ExpectedCloseParen));
    assert_eq!(err("a )"), (2, QueryErrorKind::UnexpectedCloseParen));
    assert_eq!(err("a OR"), (4, QueryErrorKind::ExpectedTerm));
    assert_eq!(err("a AND AND b"), (6, QueryErrorKind::ExpectedTerm));
    assert_eq!(err("()"), (1, QueryErrorKind::ExpectedTerm));
    assert_eq!(err("a \"open"), (2, QueryErrorKind::UnterminatedQuote));
    assert_eq!(err("\"\""), (0, QueryErrorKind::EmptyPhrase));
    assert_eq!(err("ab zebulon:quixotic"), (3, QueryErrorKind::UnknownField));
    assert_eq!(err("from: x"), (5, QueryErrorKind::MissingValue));
    assert_eq!(err("has:pdf"), (4, QueryErrorKind::ExpectedAttachment));
    assert_eq!(err("before:2024-02-30"), (7, QueryErrorKind::ExpectedDate));
    assert_eq!(err("after:24-01-01"), (6, QueryErrorKind::ExpectedDate));
    assert_eq!(err("category:promo"), (9, QueryErrorKind::ExpectedCategory));
    assert_eq!(err("phi:blood"), (4, QueryErrorKind::ExpectedPhiKind));
    // Positions count characters, not bytes.
    assert_eq!(err("Zoë (x"), (6, QueryErrorKind::ExpectedCloseParen));

    let message = parse("from:\"Zebulon Quixotic\" (078-05-1120").unwrap_err().to_string();
    assert_eq!(message, "position 36: expected ')'");
    let message = parse("zebulon:quixotic").unwrap_err().to_string();
    assert!(!message.to_lowercase().contains("zebulon") && !message.contains("quixotic"), "{message}");
}

#[test]
fn nesting_is_bounded() {
    let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(parse(&ok).unwrap(), term("a"));
    let deep = format!("{}a{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert_eq!(err(&deep), (MAX_DEPTH, QueryErrorKind::TooDeep));
    // Far deeper than the stack would allow, were it not bounded.
    assert_eq!(err(&"NOT ".repeat(1000)).1, QueryErrorKind::TooDeep);
    assert_eq!(err(&"-".repeat(4000)).1, QueryErrorKind::TooDeep);
    assert_eq!(err(&"a ".repeat(3000)).1, QueryErrorKind::TooLong);
}

#[test]
fn canonical_form() {
    let q = parse("-x (a OR (b OR c)) from:\"A B\" d AND (e f) hold:\"Smith v. Jones\" phi:plan_id").unwrap();
    assert_eq!(q.to_string(), "NOT x (a OR (b OR c)) from:\"A B\" d (e f) hold:\"Smith v. Jones\" phi:health_plan_id");
    assert_eq!(parse(&q.to_string()).unwrap(), q);
}

/// Strings made of the language's own pieces, so most of them parse.
fn query_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("a".to_owned()),
        Just("Zoë".to_owned()),
        Just("078-05-1120".to_owned()),
        Just("AND".to_owned()),
        Just("OR".to_owned()),
        Just("NOT".to_owned()),
        Just("-".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("\"x y\"".to_owned()),
        Just("\"q\\\"uote\\\\\"".to_owned()),
        Just("from:".to_owned()),
        Just("subject:".to_owned()),
        Just("hold:".to_owned()),
        Just("patient:".to_owned()),
        Just("has:attachment".to_owned()),
        Just("before:2024-01-31".to_owned()),
        Just("after:2023/12/01".to_owned()),
        Just("category:transactional".to_owned()),
        Just("phi:mrn".to_owned()),
        Just("x:y".to_owned()),
        Just("12:00".to_owned()),
        "[a-z@.]{1,6}".prop_map(|s| s),
    ];
    prop::collection::vec((piece, prop_oneof![Just(""), Just(" ")]), 1..12)
        .prop_map(|pieces| pieces.into_iter().map(|(p, sep)| format!("{p}{sep}")).collect())
}

fn word() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.@_-]{0,8}".prop_filter("keywords and field prefixes", |w| !w.contains(':'))
}

fn text_field() -> impl Strategy<Value = TextField> {
    prop::sample::select(TextField::ALL.to_vec())
}

fn leaf() -> impl Strategy<Value = Query> {
    prop_oneof![
        word().prop_map(|text| Query::Term { field: None, text }),
        (text_field(), "[^\\s()\"]{1,8}").prop_map(|(f, text)| Query::Term { field: Some(f), text }),
        (prop::option::of(text_field()), "[^\"]{1,10}|[\"\\\\ a]{1,5}")
            .prop_filter("non-empty", |(_, t)| !t.is_empty())
            .prop_map(|(field, text)| Query::Phrase { field, text }),
        Just(Query::HasAttachment),
        (1000i32..9999, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| {
            Query::Before(time::Date::from_calendar_date(y, m.try_into().unwrap(), d).unwrap())
        }),
        (1000i32..9999, 1u8..=12, 1u8..=28)
            .prop_map(|(y, m, d)| Query::After(time::Date::from_calendar_date(y, m.try_into().unwrap(), d).unwrap())),
        prop::sample::select(Category::ALL.to_vec()).prop_map(Query::Category),
        prop::sample::select(PhiKind::ALL.to_vec()).prop_map(|k| Query::Phi(PhiFilter::Kind(k))),
        Just(Query::Phi(PhiFilter::Any)),
        "[^\"]{1,10}".prop_map(Query::Patient),
        "[A-Za-z0-9 .-]{1,10}".prop_map(Query::Hold),
    ]
}

fn ast() -> impl Strategy<Value = Query> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Query::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Query::Or),
            inner.prop_map(|q| Query::Not(Box::new(q))),
        ]
    })
}

proptest! {
    #[test]
    fn never_panics_and_errors_point_inside(q in any::<String>()) {
        if let Err(e) = parse(&q) {
            prop_assert!(e.position <= q.chars().count());
        }
    }

    #[test]
    fn query_like_input_round_trips(q in query_like()) {
        match parse(&q) {
            Ok(ast) => prop_assert_eq!(parse(&ast.to_string()), Ok(ast)),
            Err(e) => prop_assert!(e.position <= q.chars().count()),
        }
    }

    #[test]
    fn every_ast_prints_to_itself(ast in ast()) {
        let printed = ast.to_string();
        prop_assert_eq!(parse(&printed), Ok(ast), "printed: {}", printed);
    }
}
