//! Evaluation through the public API: overlapping rules, minors, events,
//! leap days, address patterns, ties, and properties over random policies.

use std::collections::HashSet;

use proptest::prelude::*;
use sealpost_model::{Category, EmailAddress};
use sealpost_retention::{
    Action, AddressPattern, AgeRange, Anchor, Decision, Match, MessageFacts, Period, Policy, Rule, RuleId, StateTable,
    Until, UsState, default_policy, evaluate,
};
use time::Date;
use time::macros::date;

fn rule(id: &str, period: &str, action: Action) -> Rule {
    Rule {
        id: RuleId::parse(id).unwrap(),
        name: format!("rule {id}"),
        r#match: Match::default(),
        period: Period::parse(period).unwrap(),
        from: Anchor::MessageDate,
        action,
    }
}

fn policy(rules: Vec<Rule>) -> Policy {
    let policy = Policy { rules };
    policy.validate().unwrap();
    policy
}

fn facts(date: Date) -> MessageFacts {
    MessageFacts::new(date, Category::Transactional)
}

fn addr(s: &str) -> EmailAddress {
    EmailAddress::parse(s, false).unwrap()
}

fn no_states() -> StateTable {
    StateTable::empty()
}

/// A small table with both kinds of minor rule, independent of the shipped data.
fn states() -> StateTable {
    StateTable::from_toml(
        r#"
action = "review"
[states.NY]
scope = "hospital"
adult = "6y"
minors = { after_majority = "3y" }
source = "test"
verified = true
[states.TX]
scope = "hospital"
adult = "10y"
minors = { until_age = 20 }
source = "test"
verified = true
[states.AL]
scope = "hospital"
adult = "5y"
majority = 19
source = "test"
verified = true
[states.OH]
scope = "none"
adult = "none"
verified = false
note = "no period"
"#,
    )
    .unwrap()
}

fn date_of(d: &Decision) -> Date {
    match d.until {
        Until::Date(date) => date,
        Until::Indefinite => panic!("expected a date, got indefinite: {}", d.explanation),
    }
}

#[test]
fn nested_rules_the_narrower_longer_one_wins_where_it_applies() {
    let mut phi = rule("phi-10y", "10y", Action::Dispose);
    phi.r#match.phi = Some(true);
    let p = policy(vec![rule("all-6y", "6y", Action::Dispose), phi]);

    let mut with_phi = facts(date!(2024 - 05 - 01));
    with_phi.phi = true;
    let d = evaluate(&p, &no_states(), &with_phi);
    assert_eq!(d.rule_id.as_deref(), Some("phi-10y"));
    assert_eq!(d.until, Until::Date(date!(2034 - 05 - 01)));
    assert_eq!(d.explanation, "rule phi-10y, until 2034-05-01");
    assert_eq!(d.considered.len(), 2);

    let d = evaluate(&p, &no_states(), &facts(date!(2024 - 05 - 01)));
    assert_eq!(d.rule_id.as_deref(), Some("all-6y"));
    assert_eq!(d.considered, vec![("all-6y".to_owned(), Until::Date(date!(2030 - 05 - 01)))]);
}

#[test]
fn a_shorter_narrow_rule_never_shortens_a_longer_broad_one() {
    let mut marketing = rule("marketing-1y", "1y", Action::Dispose);
    marketing.r#match.category = Some(Category::Marketing);
    let p = policy(vec![marketing, rule("all-6y", "6y", Action::Dispose)]);
    let mut m = facts(date!(2024 - 01 - 10));
    m.category = Category::Marketing;
    let d = evaluate(&p, &no_states(), &m);
    assert_eq!(d.rule_id.as_deref(), Some("all-6y"));
    assert_eq!(d.considered.len(), 2);
}

#[test]
fn disjoint_rules_each_decide_their_own_messages() {
    let mut marketing = rule("marketing-2y", "2y", Action::Dispose);
    marketing.r#match.category = Some(Category::Marketing);
    let mut transactional = rule("transactional-7y", "7y", Action::Review);
    transactional.r#match.category = Some(Category::Transactional);
    let p = policy(vec![marketing, transactional]);

    let mut m = facts(date!(2024 - 01 - 10));
    m.category = Category::Marketing;
    let d = evaluate(&p, &no_states(), &m);
    assert_eq!((d.rule_id.as_deref(), d.action), (Some("marketing-2y"), Action::Dispose));
    assert_eq!(d.considered.len(), 1);

    let d = evaluate(&p, &no_states(), &facts(date!(2024 - 01 - 10)));
    assert_eq!((d.rule_id.as_deref(), d.action), (Some("transactional-7y"), Action::Review));
    assert_eq!(date_of(&d), date!(2031 - 01 - 10));
}

#[test]
fn equal_ends_go_to_review_then_to_the_earlier_rule() {
    let on = date!(2024 - 03 - 01);
    // Same action: the earlier rule decides.
    let p = policy(vec![rule("first", "6y", Action::Dispose), rule("second", "72m", Action::Dispose)]);
    let d = evaluate(&p, &no_states(), &facts(on));
    assert_eq!(d.rule_id.as_deref(), Some("first"));
    assert_eq!(d.considered[0].1, d.considered[1].1, "6y and 72m end on the same day");

    // Review beats dispose on the same day, whichever comes first.
    let p = policy(vec![rule("dispose", "6y", Action::Dispose), rule("review", "6y", Action::Review)]);
    assert_eq!(evaluate(&p, &no_states(), &facts(on)).rule_id.as_deref(), Some("review"));
    let p = policy(vec![rule("review", "6y", Action::Review), rule("dispose", "6y", Action::Dispose)]);
    let d = evaluate(&p, &no_states(), &facts(on));
    assert_eq!((d.rule_id.as_deref(), d.action), (Some("review"), Action::Review));

    // But a longer dispose rule beats a shorter review rule.
    let p = policy(vec![rule("review", "6y", Action::Review), rule("dispose", "6y1d", Action::Dispose)]);
    assert_eq!(evaluate(&p, &no_states(), &facts(on)).action, Action::Dispose);
}

#[test]
fn event_anchored_rules_count_from_the_event_or_wait_for_it() {
    let mut treatment = rule("treatment-7y", "7y", Action::Dispose);
    treatment.from = Anchor::LastTreatment;
    let p = policy(vec![rule("hipaa", "6y", Action::Dispose), treatment]);

    let mut f = facts(date!(2024 - 01 - 01));
    f.last_treatment = Some(date!(2025 - 06 - 30));
    let d = evaluate(&p, &no_states(), &f);
    assert_eq!(d.explanation, "rule treatment-7y, until 2032-06-30");

    // An old last treatment counts from itself and can lose to the message date.
    f.last_treatment = Some(date!(2010 - 01 - 01));
    assert_eq!(evaluate(&p, &no_states(), &f).rule_id.as_deref(), Some("hipaa"));

    // Unknown: never dispose early.
    f.last_treatment = None;
    let d = evaluate(&p, &no_states(), &f);
    assert_eq!(d.until, Until::Indefinite);
    assert_eq!(d.explanation, "rule treatment-7y, waiting for event last-treatment");
    assert_eq!(d.considered[1], ("treatment-7y".to_owned(), Until::Indefinite));
}

#[test]
fn majority_anchor_uses_the_jurisdictions_age_of_majority() {
    let mut majority = rule("majority-2y", "2y", Action::Review);
    majority.from = Anchor::PatientMajority;
    let p = policy(vec![majority]);

    let mut f = facts(date!(2020 - 01 - 01));
    let d = evaluate(&p, &states(), &f);
    assert_eq!(d.explanation, "rule majority-2y, waiting for event patient-majority");

    f.patient_dob = Some(date!(2010 - 04 - 10));
    assert_eq!(date_of(&evaluate(&p, &states(), &f)), date!(2030 - 04 - 10)); // 18 + 2
    f.jurisdiction = Some(UsState::AL); // majority 19 in the test table
    let d = evaluate(&p, &states(), &f);
    assert_eq!(d.rule_id.as_deref(), Some("majority-2y"), "AL's 5y adult rule ends 2025");
    assert_eq!(date_of(&d), date!(2031 - 04 - 10));
}

#[test]
fn a_child_keeps_the_record_until_majority_plus_n_when_that_is_later() {
    let p = default_policy();
    let mut child = facts(date!(2020 - 06 - 01));
    child.jurisdiction = Some(UsState::NY);
    child.patient_dob = Some(date!(2010 - 03 - 15)); // 10 on the message date
    let d = evaluate(&p, &states(), &child);
    assert_eq!(d.explanation, "rule state-NY, until 2031-03-15"); // 18th birthday + 3y
    assert_eq!(d.action, Action::Review, "state rules take the table's action");
    assert_eq!(
        d.considered,
        vec![
            ("hipaa-documentation".to_owned(), Until::Date(date!(2026 - 06 - 01))),
            ("state-NY".to_owned(), Until::Date(date!(2031 - 03 - 15))),
        ]
    );

    // Nearly adult: majority + 3y (2023) is earlier than the adult 6 years (2026).
    child.patient_dob = Some(date!(2002 - 07 - 01));
    assert_eq!(evaluate(&p, &states(), &child).explanation, "rule state-NY, until 2026-06-01");

    // An adult gets the adult period; so does a patient whose birth date is unknown.
    child.patient_dob = Some(date!(1980 - 01 - 01));
    assert_eq!(date_of(&evaluate(&p, &states(), &child)), date!(2026 - 06 - 01));
    child.patient_dob = None;
    assert_eq!(date_of(&evaluate(&p, &states(), &child)), date!(2026 - 06 - 01));
}

#[test]
fn until_age_rules_and_later_treatment_extend_the_state_rule() {
    let mut f = facts(date!(2020 - 06 - 01));
    f.jurisdiction = Some(UsState::TX);
    f.patient_dob = Some(date!(2019 - 01 - 01)); // age 1: 20th birthday in 2039
    assert_eq!(evaluate(&default_policy(), &states(), &f).explanation, "rule state-TX, until 2039-01-01");
    f.patient_dob = Some(date!(2005 - 01 - 01)); // age 15: 20th birthday 2025 < 10y
    assert_eq!(evaluate(&default_policy(), &states(), &f).explanation, "rule state-TX, until 2030-06-01");
    // The statute counts from the last treatment: a later one moves the end.
    f.last_treatment = Some(date!(2022 - 02 - 01));
    assert_eq!(evaluate(&default_policy(), &states(), &f).explanation, "rule state-TX, until 2032-02-01");
    // An earlier one never moves it before the message date's period.
    f.last_treatment = Some(date!(2001 - 02 - 01));
    assert_eq!(evaluate(&default_policy(), &states(), &f).explanation, "rule state-TX, until 2030-06-01");
}

#[test]
fn a_state_without_a_period_leaves_hipaa_in_charge() {
    let mut f = facts(date!(2024 - 05 - 01));
    f.jurisdiction = Some(UsState::OH);
    let d = evaluate(&default_policy(), &states(), &f);
    assert_eq!(d.explanation, "rule hipaa-documentation, until 2030-05-01");
    assert_eq!(d.considered.len(), 1);
    // A jurisdiction the table does not list contributes nothing either.
    f.jurisdiction = Some(UsState::WY);
    assert_eq!(evaluate(&default_policy(), &states(), &f).considered.len(), 1);
}

#[test]
fn leap_day_messages_end_on_march_first() {
    let p = policy(vec![rule("one-year", "1y", Action::Dispose)]);
    let d = evaluate(&p, &no_states(), &facts(date!(2024 - 02 - 29)));
    assert_eq!(d.explanation, "rule one-year, until 2025-03-01");
    // A leap-day baby turns 18 on 1 March in a common year.
    let mut f = facts(date!(2010 - 01 - 01));
    f.jurisdiction = Some(UsState::NY);
    f.patient_dob = Some(date!(2008 - 02 - 29));
    assert_eq!(evaluate(&default_policy(), &states(), &f).explanation, "rule state-NY, until 2029-03-01");
}

#[test]
fn address_custodian_and_query_conditions() {
    let mut from_clinic = rule("from-clinic", "8y", Action::Dispose);
    from_clinic.r#match.sender = vec![AddressPattern::parse("@clinic.example").unwrap()];
    let mut to_partner = rule("to-partner", "9y", Action::Dispose);
    to_partner.r#match.recipient = vec![AddressPattern::parse("*.partner.example").unwrap()];
    let mut custodian = rule("custodian", "10y", Action::Dispose);
    custodian.r#match.custodian = vec!["user-42".into()];
    let mut query = rule("litigation", "11y", Action::Review);
    query.r#match.query = Some("subject:litigation".into());
    let p = policy(vec![from_clinic, to_partner, custodian, query]);
    let ids = |f: &MessageFacts| -> Vec<String> {
        evaluate(&p, &no_states(), f).considered.into_iter().map(|(id, _)| id).collect()
    };

    let mut f = facts(date!(2024 - 01 - 01));
    assert!(ids(&f).is_empty(), "a bounce with no addresses matches no address rule");
    f.sender = Some(addr("Dr.Who@CLINIC.example"));
    f.recipients = vec![addr("a@partner.example"), addr("b@mail.partner.example")];
    assert_eq!(ids(&f), ["from-clinic", "to-partner"]);
    f.sender = Some(addr("x@sub.clinic.example"));
    f.recipients.truncate(1);
    assert!(ids(&f).is_empty(), "@domain is exact, *.domain excludes the domain itself");
    f.custodians = vec!["user-7".into(), "user-42".into()];
    f.matched_queries = HashSet::from(["litigation".to_owned(), "unrelated".to_owned()]);
    assert_eq!(ids(&f), ["custodian", "litigation"]);
}

#[test]
fn jurisdiction_phi_and_age_conditions() {
    let mut kids_ca = rule("kids-ca", "25y", Action::Review);
    kids_ca.r#match = Match {
        phi: Some(true),
        jurisdiction: vec![UsState::CA],
        patient_age: Some(AgeRange { min: None, max: Some(17) }),
        ..Match::default()
    };
    let p = policy(vec![kids_ca]);
    let mut f = facts(date!(2024 - 01 - 01));
    f.phi = true;
    f.jurisdiction = Some(UsState::CA);
    assert!(evaluate(&p, &no_states(), &f).rule_id.is_none(), "age unknown: the age condition fails");
    f.patient_dob = Some(date!(2006 - 01 - 02)); // 17 on the message date
    assert_eq!(evaluate(&p, &no_states(), &f).rule_id.as_deref(), Some("kids-ca"));
    f.patient_dob = Some(date!(2006 - 01 - 01)); // 18 that day
    assert!(evaluate(&p, &no_states(), &f).rule_id.is_none());
    f.patient_dob = Some(date!(2010 - 01 - 01));
    f.jurisdiction = Some(UsState::NV);
    assert!(evaluate(&p, &no_states(), &f).rule_id.is_none());
    f.jurisdiction = Some(UsState::CA);
    f.phi = false;
    assert!(evaluate(&p, &no_states(), &f).rule_id.is_none());
}

#[test]
fn nothing_matching_is_kept_for_review_and_forever_is_indefinite() {
    let d = evaluate(&Policy::default(), &no_states(), &facts(date!(2024 - 01 - 01)));
    assert_eq!((d.until, d.action, d.rule_id), (Until::Indefinite, Action::Review, None));
    assert_eq!(d.explanation, "no rule matched; kept indefinitely");

    let p = policy(vec![rule("hipaa", "6y", Action::Dispose), rule("board-minutes", "forever", Action::Dispose)]);
    let d = evaluate(&p, &no_states(), &facts(date!(2024 - 01 - 01)));
    assert_eq!(d.explanation, "rule board-minutes, kept indefinitely (permanent)");
}

#[test]
fn explanations_carry_ids_and_dates_only() {
    let mut f = facts(date!(2020 - 06 - 01));
    f.jurisdiction = Some(UsState::NY);
    f.sender = Some(addr("jane.patient@example.org"));
    f.patient_dob = Some(date!(2010 - 03 - 15));
    f.custodians = vec!["user-1".into()];
    let d = evaluate(&default_policy(), &states(), &f);
    let json = serde_json::to_string(&d).unwrap();
    for secret in ["jane", "example.org", "2010-03-15", "user-1"] {
        assert!(!json.contains(secret), "{json}");
    }
    let back: Decision = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
}

#[test]
fn default_policy_with_the_shipped_table() {
    let shipped = StateTable::shipped().unwrap();
    let mut f = facts(date!(2026 - 05 - 01));
    let d = evaluate(&default_policy(), &shipped, &f);
    assert_eq!(d.explanation, "rule hipaa-documentation, until 2032-05-01");
    // Every state rule ends no earlier than HIPAA's 6 years or loses to it.
    for state in UsState::ALL {
        f.jurisdiction = Some(*state);
        let d = evaluate(&default_policy(), &shipped, &f);
        assert!(d.until >= Until::Date(date!(2032 - 05 - 01)), "{state}");
    }
}

fn any_date() -> impl Strategy<Value = Date> {
    prop_oneof![
        8 => (2_415_021i32..2_488_070).prop_map(|j| Date::from_julian_day(j).unwrap()), // 1900-2100
        1 => Just(Date::MIN),
        1 => Just(Date::MAX),
    ]
}

fn any_rule(index: usize) -> impl Strategy<Value = Rule> {
    let period = prop_oneof![
        1 => Just(Period::Forever),
        9 => (0u16..30, 0u16..24, 0u16..400).prop_map(|(years, months, days)| Period::Span { years, months, days }),
    ];
    let anchor = prop_oneof![Just(Anchor::MessageDate), Just(Anchor::PatientMajority), Just(Anchor::LastTreatment)];
    let action = prop_oneof![Just(Action::Dispose), Just(Action::Review)];
    let conditions = (
        proptest::option::of(prop_oneof![Just(Category::Transactional), Just(Category::Marketing)]),
        proptest::option::of(any::<bool>()),
        proptest::option::of((0u8..20, 0u8..10)),
        proptest::collection::vec(prop_oneof![Just(UsState::NY), Just(UsState::TX), Just(UsState::CA)], 0..2),
        any::<bool>(),
    );
    (period, anchor, action, conditions).prop_map(
        move |(period, from, action, (category, phi, age, jurisdiction, query))| {
            let patient_age = age.map(|(lo, span)| AgeRange { min: Some(lo), max: Some(lo + span) });
            Rule {
                id: RuleId::parse(&format!("r{index}")).unwrap(),
                name: String::new(),
                r#match: Match {
                    category,
                    phi,
                    jurisdiction,
                    patient_age,
                    query: query.then(|| "q".to_owned()),
                    ..Match::default()
                },
                period,
                from,
                action,
            }
        },
    )
}

fn any_policy() -> impl Strategy<Value = Policy> {
    (0usize..6).prop_flat_map(|n| (0..n).map(any_rule).collect::<Vec<_>>().prop_map(|rules| Policy { rules }))
}

fn any_facts() -> impl Strategy<Value = MessageFacts> {
    (
        any_date(),
        any::<bool>(),
        proptest::option::of(prop_oneof![Just(UsState::NY), Just(UsState::TX), Just(UsState::AL), Just(UsState::OH)]),
        proptest::option::of(any_date()),
        proptest::option::of(any_date()),
        proptest::collection::hash_set("r[0-5]", 0..3),
    )
        .prop_map(|(date, phi, jurisdiction, patient_dob, last_treatment, matched_queries)| MessageFacts {
            phi,
            jurisdiction,
            patient_dob,
            last_treatment,
            matched_queries,
            ..MessageFacts::new(date, Category::Transactional)
        })
}

proptest! {
    #[test]
    fn the_decision_outlasts_every_matching_rule(policy in any_policy(), f in any_facts()) {
        let table = states();
        let decision = evaluate(&policy, &table, &f);
        // Each rule evaluated alone: if it matches, the full decision lasts at least as long.
        for rule in &policy.rules {
            // Same table: it supplies the age of majority for majority-anchored rules.
            let alone = evaluate(&Policy { rules: vec![rule.clone()] }, &table, &f);
            if let Some((id, until)) = alone.considered.iter().find(|(id, _)| id == rule.id.as_str()) {
                prop_assert!(decision.until >= *until, "{} outlasts the decision", id);
                prop_assert!(decision.considered.contains(&(id.clone(), *until)));
            }
        }
        // The state rule on its own, too.
        let state_only = evaluate(&Policy::default(), &table, &f);
        prop_assert!(decision.until >= state_only.until || state_only.rule_id.is_none());
        // The decision is one of the considered rules, with its own end.
        match &decision.rule_id {
            Some(id) => prop_assert!(decision.considered.contains(&(id.clone(), decision.until))),
            None => prop_assert!(decision.considered.is_empty()),
        }
        prop_assert!(decision.explanation.starts_with("rule ") || decision.rule_id.is_none());
    }

    #[test]
    fn adding_a_rule_never_shortens_retention(policy in any_policy(), extra in any_rule(9), f in any_facts()) {
        let before = evaluate(&policy, &states(), &f);
        let mut longer = policy.clone();
        longer.rules.push(extra);
        let after = evaluate(&longer, &states(), &f);
        if before.rule_id.is_some() {
            prop_assert!(after.until >= before.until);
        }
    }
}
