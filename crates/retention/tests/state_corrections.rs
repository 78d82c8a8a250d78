//! The 2025 corrections of the shipped state table (docs/retention-table.md):
//! each corrected entry's periods, what a minor's record is kept for under
//! the default policy, the citation and evidence of every entry, and the
//! list of entries still unverified.
//!
//! Every period test here fails on the table as it was before the
//! corrections (no minors rule in AL, DC, ME, MN, MO, MT, ND; MD 5 years;
//! UT majority + 3; IA none; OK 5 years; KY without its section).

use sealpost_model::Category;
use sealpost_retention::RecordScope::{Hospital, Physician};
use sealpost_retention::{
    MessageFacts, MinorRule, Period, RecordScope, SHIPPED_TABLE, StateEntry, StateTable, Unconfirmed, Until, UsState,
    default_policy, evaluate,
};
use time::Date;
use time::macros::date;

fn shipped() -> StateTable {
    StateTable::shipped().unwrap()
}

fn entry(state: UsState) -> StateEntry {
    shipped().get(state).unwrap().clone()
}

fn minors(after_majority: Option<&str>, until_age: Option<u8>) -> Option<MinorRule> {
    Some(MinorRule { after_majority: after_majority.map(|p| Period::parse(p).unwrap()), until_age, minimum: None })
}

/// (scope, adult, majority, minors) of an entry.
fn periods(state: UsState) -> (RecordScope, Option<Period>, u8, Option<MinorRule>) {
    let e = entry(state);
    (e.scope, e.adult, e.majority, e.minors)
}

fn years(n: u16) -> Option<Period> {
    Some(Period::years(n))
}

#[test]
fn al_children_until_23() {
    assert_eq!(periods(UsState::AL), (Hospital, years(5), 19, minors(None, Some(23))));
}

#[test]
fn dc_minors_three_years_after_18() {
    assert_eq!(periods(UsState::DC), (Hospital, years(10), 18, minors(Some("3y"), None)));
    assert_eq!(entry(UsState::DC).source.as_deref(), Some("D.C. Mun. Regs. tit. 22-B, § 2030"));
}

#[test]
fn ia_physician_rule_instead_of_none() {
    assert_eq!(periods(UsState::IA), (Physician, years(7), 18, minors(Some("1y"), None)));
    assert!(entry(UsState::IA).unconfirmed.contains(&Unconfirmed::Scope), "the hospital subrule is unread");
}

#[test]
fn ky_keeps_the_longer_six_years_and_cites_the_section() {
    // The regulation says 5 years; the entry keeps the longer 6 (fail closed).
    assert_eq!(periods(UsState::KY), (Hospital, years(6), 18, minors(Some("3y"), None)));
    let ky = entry(UsState::KY);
    assert_eq!(ky.source.as_deref(), Some("902 Ky. Admin. Regs. 20:016, § 3(11)"));
    assert!(ky.note.unwrap().contains("5 years from discharge"));
    assert!(!ky.evidence.is_empty());
}

#[test]
fn md_2025_seven_years_and_majority_plus_seven() {
    assert_eq!(periods(UsState::MD), (Hospital, years(7), 18, minors(Some("7y"), None)));
    assert!(entry(UsState::MD).source.unwrap().contains("ch. 695"));
}

#[test]
fn me_minors_six_years_after_majority() {
    assert_eq!(periods(UsState::ME), (Hospital, years(7), 18, minors(Some("6y"), None)));
}

#[test]
fn mn_minors_the_longer_reading_majority_plus_seven() {
    assert_eq!(periods(UsState::MN), (Hospital, years(7), 18, minors(Some("7y"), None)));
    assert_eq!(entry(UsState::MN).unconfirmed, vec![Unconfirmed::Minors]);
}

#[test]
fn mo_minors_until_23() {
    assert_eq!(periods(UsState::MO), (Hospital, years(10), 18, minors(None, Some(23))));
}

#[test]
fn mt_minors_ten_years_after_majority() {
    assert_eq!(periods(UsState::MT), (Hospital, years(10), 18, minors(Some("10y"), None)));
    assert!(entry(UsState::MT).verified, "read in the rule's text on rules.mt.gov");
}

#[test]
fn nd_minors_until_21() {
    assert_eq!(periods(UsState::ND), (Hospital, years(10), 18, minors(None, Some(21))));
}

#[test]
fn ut_minors_four_years_after_18() {
    assert_eq!(periods(UsState::UT), (Hospital, years(7), 18, minors(Some("4y"), None)));
}

#[test]
fn ok_raised_to_the_pending_ten_years() {
    assert_eq!(periods(UsState::OK), (Hospital, years(10), 18, minors(Some("3y"), None)));
}

fn decide(state: UsState, dob: Option<Date>) -> String {
    let mut f = MessageFacts::new(date!(2026 - 05 - 01), Category::Transactional);
    f.jurisdiction = Some(state);
    f.patient_dob = dob;
    evaluate(&default_policy(), &shipped(), &f).explanation
}

/// A child born 2020-03-15, record dated 2026-05-01, default policy
/// (HIPAA 6 years: 2032-05-01): the state's minors rule decides.
#[test]
fn a_minors_record_is_kept_until_the_minors_rule_says() {
    let child = Some(date!(2020 - 03 - 15));
    for (state, until) in [
        (UsState::AL, "2043-03-15"), // until 23
        (UsState::DC, "2041-03-15"), // 18 + 3
        (UsState::ME, "2044-03-15"), // 18 + 6
        (UsState::MN, "2045-03-15"), // 18 + 7
        (UsState::MO, "2043-03-15"), // until 23
        (UsState::MT, "2048-03-15"), // 18 + 10
        (UsState::ND, "2041-03-15"), // until 21
        (UsState::MD, "2045-03-15"), // 18 + 7
        (UsState::UT, "2042-03-15"), // 18 + 4
        (UsState::IA, "2039-03-15"), // 18 + 1
        (UsState::OK, "2041-03-15"), // 18 + 3
    ] {
        assert_eq!(decide(state, child), format!("rule state-{state}, until {until}"), "{state}");
    }
}

/// A 17-year-old: the adult period ends later than the minors bound, and wins.
#[test]
fn the_adult_period_wins_when_it_ends_later() {
    let teen = Some(date!(2009 - 01 - 01));
    assert_eq!(decide(UsState::ND, teen), "rule state-ND, until 2036-05-01"); // 21st birthday 2030
    assert_eq!(decide(UsState::MO, teen), "rule state-MO, until 2036-05-01"); // 23rd birthday 2032
    // In AL the 23rd birthday of a 14-year-old outlasts both 5 years and HIPAA's 6.
    assert_eq!(decide(UsState::AL, Some(date!(2012 - 01 - 01))), "rule state-AL, until 2035-01-01");
}

#[test]
fn adults_get_the_corrected_adult_periods() {
    let adult = Some(date!(1970 - 01 - 01));
    assert_eq!(decide(UsState::MD, adult), "rule state-MD, until 2033-05-01");
    assert_eq!(decide(UsState::IA, None), "rule state-IA, until 2033-05-01");
    assert_eq!(decide(UsState::OK, None), "rule state-OK, until 2036-05-01");
    // AL's 5 years is shorter than HIPAA's 6 in the default policy.
    assert_eq!(decide(UsState::AL, adult), "rule hipaa-documentation, until 2032-05-01");
    // A patient who is an adult on the record's date gets no minors rule.
    assert_eq!(decide(UsState::MT, adult), "rule state-MT, until 2036-05-01");
}

#[test]
fn every_entry_has_a_citation_and_evidence() {
    let table = shipped();
    for (state, e) in table.entries() {
        let source = e.source.as_deref().unwrap_or_default();
        assert!(!source.trim().is_empty(), "{state}: no citation");
        assert!(!e.evidence.is_empty(), "{state}: no URL or document for the citation");
        assert!(e.evidence.iter().all(|s| s.trim().len() > 5), "{state}: a blank evidence item");
        // Where no citation was found the entry says so, and is not verified.
        if source.starts_with("None") {
            assert!(e.unconfirmed.contains(&Unconfirmed::Citation), "{state}: citation missing but not flagged");
        }
        assert_eq!(e.verified, e.unconfirmed.is_empty(), "{state}: verified iff nothing is unconfirmed");
        if !e.verified {
            assert!(e.note.is_some(), "{state}: unverified without a note");
        }
    }
}

#[test]
fn the_unverified_listing_names_each_open_entry_and_what_is_open() {
    let table = shipped();
    let open = table.unverified();
    let codes: Vec<&str> = open.iter().map(|e| e.state.code()).collect();
    assert_eq!(
        codes,
        [
            "AL", "AR", "CT", "DC", "DE", "FL", "GA", "IA", "ID", "KY", "LA", "MD", "ME", "MN", "MO", "MS", "ND", "NE",
            "NH", "NM", "OH", "OK", "OR", "RI", "SC", "SD", "TX", "UT", "VT", "WI", "WV", "WY",
        ]
    );
    let verified = table.entries().filter(|(_, e)| e.verified).count();
    assert_eq!(open.len() + verified, table.len());
    for e in &open {
        assert!(!e.unconfirmed.is_empty(), "{}", e.state);
        assert!(e.unconfirmed.windows(2).all(|w| w[0] < w[1]), "{}: sorted, no repeats", e.state);
        assert!(e.note.is_some() && e.source.is_some(), "{}", e.state);
    }
    let find = |s: UsState| open.iter().find(|e| e.state == s).unwrap();
    assert_eq!(find(UsState::AL).unconfirmed, [Unconfirmed::Adult, Unconfirmed::Minors]);
    assert_eq!(
        find(UsState::OH).unconfirmed,
        [Unconfirmed::Adult, Unconfirmed::Minors, Unconfirmed::Citation, Unconfirmed::Scope]
    );
    assert_eq!(find(UsState::WY).unconfirmed, [Unconfirmed::Adult, Unconfirmed::Minors, Unconfirmed::Citation]);

    // The shape the CLI can print or emit as JSON: codes and fixed words.
    let json = serde_json::to_value(find(UsState::MN)).unwrap();
    assert_eq!(json["state"], "MN");
    assert_eq!(json["unconfirmed"], serde_json::json!(["minors"]));
    assert!(json["source"].as_str().unwrap().contains("145.32"));
    assert_eq!(Unconfirmed::Scope.describe(), "scope (hospital or physician records)");
}

#[test]
fn an_edited_copy_without_the_new_fields_still_loads_and_lists_everything_open() {
    let old = r#"
action = "dispose"
[states.ME]
scope = "hospital"
adult = "7y"
verified = false
note = "7 years per secondary compilations."
[states.NY]
scope = "hospital"
adult = "6y"
source = "10 NYCRR 405.10(a)(4)"
verified = true
"#;
    let table = StateTable::from_toml(old).unwrap();
    let open = table.unverified();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].state, UsState::ME);
    assert_eq!(open[0].unconfirmed, Unconfirmed::ALL);
    assert!(table.get(UsState::NY).unwrap().evidence.is_empty());
    // A minor's record in ME under this old copy: the adult period alone.
    let mut f = MessageFacts::new(date!(2026 - 05 - 01), Category::Transactional);
    f.jurisdiction = Some(UsState::ME);
    f.patient_dob = Some(date!(2020 - 03 - 15));
    assert_eq!(evaluate(&default_policy(), &table, &f).until, Until::Date(date!(2033 - 05 - 01)));
}

#[test]
fn the_corrected_table_has_a_new_fingerprint() {
    // Stored decisions made under the previous table must be re-evaluated:
    // the fingerprint is how a caller can tell.
    let before = SHIPPED_TABLE
        .replace("minors = { until_age = 23 }\nsource = \"Ala.", "source = \"Ala.")
        .replace("minors = { after_majority = \"3y\" }\nsource = \"D.C.", "source = \"D.C.");
    let before = StateTable::from_toml(&before).unwrap();
    assert_ne!(before.rules_fingerprint(), shipped().rules_fingerprint());
    assert_eq!(shipped().rules_fingerprint(), shipped().rules_fingerprint());
}
