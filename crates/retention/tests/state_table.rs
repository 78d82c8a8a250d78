//! The shipped state medical-record table.

use sealpost_retention::{Period, RecordScope, SHIPPED_TABLE, StateTable, UsState};

#[test]
fn shipped_table_loads_and_covers_every_state_and_dc() {
    let table = StateTable::shipped().unwrap();
    assert_eq!(table.len(), 51);
    for state in UsState::ALL {
        assert!(table.get(*state).is_some(), "{state} missing");
    }
}

#[test]
fn every_entry_has_a_source_or_says_why_not() {
    let table = StateTable::shipped().unwrap();
    for (state, entry) in table.entries() {
        let sourced = entry.source.as_deref().is_some_and(|s| !s.trim().is_empty());
        let explained = !entry.verified && entry.note.as_deref().is_some_and(|n| !n.trim().is_empty());
        assert!(sourced || explained, "{state}: no source and no note");
        if entry.verified {
            assert!(sourced, "{state}: verified without a source");
        }
    }
}

#[test]
fn entries_are_consistent() {
    let table = StateTable::shipped().unwrap();
    for (state, entry) in table.entries() {
        assert_eq!(entry.scope == RecordScope::None, entry.adult.is_none(), "{state}");
        assert!((18..=21).contains(&entry.majority), "{state}: majority {}", entry.majority);
        // A period of 0 would dispose at once: never what a statute says.
        assert_ne!(entry.adult, Some(Period::Span { years: 0, months: 0, days: 0 }), "{state}");
        if let Some(until_age) = entry.minors.and_then(|m| m.until_age) {
            assert!(until_age > entry.majority, "{state}: until_age {until_age} not after majority");
        }
    }
    // Spot checks against the regulation texts quoted in the file's notes.
    let ny = table.get(UsState::NY).unwrap();
    assert_eq!((ny.adult, ny.minors.and_then(|m| m.after_majority)), (Some(Period::years(6)), Some(Period::years(3))));
    assert_eq!(table.get(UsState::NC).unwrap().minors.and_then(|m| m.until_age), Some(30));
    assert_eq!(table.get(UsState::AK).unwrap().majority, 19);
    assert_eq!(table.get(UsState::MA).unwrap().adult, Some(Period::years(20)));
}

#[test]
fn an_edited_copy_loads_from_a_path() {
    let dir = std::env::temp_dir().join(format!("sealpost-retention-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("states.toml");
    let edited = SHIPPED_TABLE.replace("action = \"dispose\"", "action = \"review\"");
    std::fs::write(&path, &edited).unwrap();
    let table = StateTable::load(&path).unwrap();
    assert_eq!(table.action(), sealpost_retention::Action::Review);
    assert_eq!(table.len(), 51);

    // A broken edit names the entry and field.
    std::fs::write(
        &path,
        SHIPPED_TABLE.replacen("adult = \"7y\"\nmajority = 19", "adult = \"7 years\"\nmajority = 19", 1),
    )
    .unwrap();
    let err = StateTable::load(&path).unwrap_err().to_string();
    assert!(err.starts_with("entry AK: field adult:"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
