//! Retention (R-AR-2), disposal (R-AR-3) and the disposition queue, end to
//! end against a real `sealpost serve`: messages through the API, policies
//! and runs through the CLI with a fixed clock (`--now`), results read back
//! through the API, the database, the audit log and the data directory.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Backend, Server, contains, files_under, read_file, text, unique};
use serde_json::{Value, json};

/// Today's UTC date as (year, month, day): messages sent through the JSON
/// API are dated now.
fn today() -> (i64, u32, u32) {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64 / 86_400;
    civil(days)
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// `date` + `years`, 29 February rolling forward to 1 March (as the engine does).
fn plus_years((y, m, d): (i64, u32, u32), years: i64) -> String {
    let y = y + years;
    if (m, d) == (2, 29) && !is_leap(y) { format!("{y:04}-03-01") } else { format!("{y:04}-{m:02}-{d:02}") }
}

fn parse_ymd(s: &str) -> (i64, u32, u32) {
    let p: Vec<&str> = s.split('-').collect();
    (p[0].parse().expect("year"), p[1].parse().expect("month"), p[2].parse().expect("day"))
}

/// POSTs a JSON message; returns its id.
fn send(server: &Server, from: &str, to: &str, body: &str, extra: Value) -> String {
    let mut msg = json!({ "from": from, "to": [to], "subject": "Retention test", "text": body });
    if let (Some(m), Some(e)) = (msg.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    let (st, b) = server.post("/v1/messages", &server.api_key, &msg);
    assert_eq!(st, 202, "send: {b}");
    b["id"].as_str().expect("id").to_owned()
}

fn set_policy(server: &Server, toml: &str) {
    let path = server.data_dir().join(format!("policy-{}.toml", unique()));
    std::fs::write(&path, toml).expect("write policy");
    let out = server.cli(&["retention", "policy", "set", path.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "policy set: {}", text(&out));
}

/// `retention run` for tenant default; the tenant's report.
fn run(server: &Server, now: &str, dry_run: bool) -> Value {
    let mut args = vec!["retention", "run", "--tenant", "default", "--now", now];
    if dry_run {
        args.push("--dry-run");
    }
    let out = server.cli(&args);
    assert!(out.status.success(), "retention run: {}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("run prints JSON");
    v["default"].clone()
}

fn ids(v: &Value) -> BTreeSet<String> {
    v.as_array().expect("array").iter().map(|x| x.as_str().expect("id").to_owned()).collect()
}

fn retention(server: &Server, id: &str) -> Value {
    server.api_state(id)["retention"].clone()
}

fn add_user(server: &Server, name: &str, role: &str) -> String {
    let password = format!("pw-{}", unique());
    let out = server.cli_env(&["user", "add", name, "--role", role], &[("SEALPOST_NEW_PASSWORD", &password)]);
    assert!(out.status.success(), "user add: {}", text(&out));
    password
}

const OVERLAPPING: &str = r#"
[[rules]]
id = "hipaa-documentation"
name = "HIPAA"
period = "6y"
action = "dispose"

[[rules]]
id = "marketing-short"
name = "Marketing"
period = "1y"
action = "dispose"
match = { category = "marketing" }

[[rules]]
id = "phi-long"
name = "PHI"
period = "10y"
action = "dispose"
match = { phi = true }

[[rules]]
id = "partner"
name = "Partner mail"
period = "8y"
action = "review"
match = { recipient = ["@partner.example"] }

[[rules]]
id = "billing"
name = "Billing sender"
period = "7y"
action = "dispose"
match = { sender = ["billing@clinic.example"] }

[[rules]]
id = "dr-a"
name = "Dr A custodian"
period = "9y"
action = "dispose"
match = { custodian = ["dr.a@clinic.example"] }

[[rules]]
id = "counsel"
name = "Counsel"
period = "forever"
action = "review"
match = { recipient = ["counsel@law.example"] }
"#;

/// Rules overlapping in every way: the longest retention wins (never the
/// most specific or the first), ties go to `review`, `forever` beats every
/// date, and the explanation names the deciding rule and date.
#[test]
fn overlapping_rules_longest_wins() {
    let server = Server::start(Backend::Embedded);
    set_policy(&server, OVERLAPPING);
    let t = today();
    let plain = send(&server, "clinic@example.org", "p@example.net", "See you soon.", json!({}));
    let marketing =
        send(&server, "clinic@example.org", "p@example.net", "Our newsletter.", json!({ "category": "marketing" }));
    let phi = send(&server, "clinic@example.org", "p@example.net", "SSN 123-45-6789 on file.", json!({}));
    let partner = send(&server, "clinic@example.org", "x@partner.example", "Referral letter.", json!({}));
    // Matches partner (8y review) and billing (7y): 8y wins.
    let billing_partner = send(&server, "billing@clinic.example", "y@partner.example", "Invoice.", json!({}));
    // Matches dr-a (9y, custodian = sender) and phi-long (10y): 10y wins.
    let dr_a_phi = send(&server, "dr.a@clinic.example", "p@example.net", "SSN 123-45-6789 again.", json!({}));
    let dr_a = send(&server, "dr.a@clinic.example", "p@example.net", "Follow-up visit.", json!({}));
    // forever beats phi-long's 10y.
    let counsel = send(&server, "clinic@example.org", "counsel@law.example", "SSN 123-45-6789 for counsel.", json!({}));

    // The indexer evaluates each message under the policy in force as it
    // indexes it, so the run has nothing left to evaluate.
    common::wait_until(std::time::Duration::from_secs(60), "evaluation at index time", || {
        server.sql_scalar("SELECT count(*) FROM messages WHERE indexed = 1 AND retention_version IS NOT NULL") == 8
    });
    let report = run(&server, &plus_years(t, 0), true);
    assert_eq!(report["evaluation"]["evaluated"], 0, "evaluated at index time: {report}");
    assert!(ids(&report["disposed"]).is_empty(), "nothing is expired today: {report}");

    let expect = |id: &str, rule: &str, years: Option<i64>, action: &str| {
        let r = retention(&server, id);
        let until = years.map_or("indefinite".to_owned(), |y| plus_years(t, y));
        assert_eq!(r["rule"], rule, "{id}: {r}");
        assert_eq!(r["until"], until.as_str(), "{id}: {r}");
        assert_eq!(r["action"], action, "{id}: {r}");
        let explanation = if years.is_some() {
            format!("rule {rule}, until {until}")
        } else {
            format!("rule {rule}, kept indefinitely")
        };
        assert_eq!(r["explanation"], explanation.as_str(), "{id}: {r}");
    };
    expect(&plain, "hipaa-documentation", Some(6), "dispose");
    expect(&marketing, "hipaa-documentation", Some(6), "dispose");
    expect(&phi, "phi-long", Some(10), "dispose");
    expect(&partner, "partner", Some(8), "review");
    expect(&billing_partner, "partner", Some(8), "review");
    expect(&dr_a_phi, "phi-long", Some(10), "dispose");
    expect(&dr_a, "dr-a", Some(9), "dispose");
    expect(&counsel, "counsel", None, "review");

    // A policy change is a new version: the run evaluates everything again
    // (the stale versions, in parallel).
    set_policy(&server, "[[rules]]\nid = \"short\"\nname = \"S\"\nperiod = \"2y\"\naction = \"dispose\"\n");
    let report = run(&server, &plus_years(t, 0), true);
    assert_eq!(report["evaluation"]["evaluated"], 8, "{report}");
    expect(&counsel, "short", Some(2), "dispose");
    assert_eq!(server.count_action("retention.policy_changed"), 2);
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "{out}");
}

/// The shipped default policy with the state table: minors by date of
/// birth, the tenant's default jurisdiction, and a tie between HIPAA and a
/// state's equal period.
#[test]
fn minors_by_date_of_birth_and_state_table() {
    let server = Server::start(Backend::Embedded);
    let t = today();
    let dob = plus_years(t, -2);
    let send_with = |meta: Value| {
        send(&server, "clinic@example.org", "p@example.net", "Visit summary.", json!({ "metadata": meta }))
    };
    let ny_minor = send_with(json!({ "jurisdiction": "NY", "patient_dob": dob }));
    let ny_adult = send_with(json!({ "jurisdiction": "NY", "patient_dob": "1970-01-01" }));
    let tx_minor = send_with(json!({ "jurisdiction": "TX", "patient_dob": dob }));
    let tx_adult = send_with(json!({ "jurisdiction": "TX" }));
    let nowhere = send_with(json!({}));
    let bad_state = send_with(json!({ "jurisdiction": "XX" }));
    run(&server, &plus_years(t, 0), true);

    // NY: 3 years after majority (18) for a 2-year-old: dob + 21 years.
    let r = retention(&server, &ny_minor);
    assert_eq!(
        (r["rule"].as_str(), r["until"].as_str()),
        (Some("state-NY"), Some(plus_years(parse_ymd(&dob), 21).as_str()))
    );
    // NY adults: 6 years, equal to HIPAA's: the earlier (policy) rule wins the tie.
    assert_eq!(retention(&server, &ny_adult)["rule"], "hipaa-documentation");
    // TX minors: until age 20 (dob + 20 years) beats the adult 10 years.
    let r = retention(&server, &tx_minor);
    assert_eq!(
        (r["rule"].as_str(), r["until"].as_str()),
        (Some("state-TX"), Some(plus_years(parse_ymd(&dob), 20).as_str()))
    );
    let r = retention(&server, &tx_adult);
    assert_eq!((r["rule"].as_str(), r["until"].as_str()), (Some("state-TX"), Some(plus_years(t, 10).as_str())));
    assert_eq!(retention(&server, &nowhere)["rule"], "hipaa-documentation");
    assert_eq!(retention(&server, &bad_state)["rule"], "hipaa-documentation", "an unknown state adds no rule");

    // The tenant's default jurisdiction applies to messages naming none.
    let settings = server.data_dir().join("settings.json");
    std::fs::write(&settings, r#"{"jurisdiction": "TX"}"#).expect("write settings");
    let out = server.cli(&["settings", "set", settings.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out));
    // Changing the default jurisdiction alone makes the next run re-evaluate.
    run(&server, &plus_years(t, 0), true);
    assert_eq!(retention(&server, &nowhere)["rule"], "state-TX");
}

/// Periods counted from an event: the patient's majority (age of majority
/// from the state table, else 18) and the last treatment date; an event not
/// yet known keeps the message indefinitely.
#[test]
fn event_based_periods() {
    let server = Server::start(Backend::Embedded);
    set_policy(
        &server,
        r#"
[[rules]]
id = "hipaa-documentation"
name = "HIPAA"
period = "6y"
action = "dispose"

[[rules]]
id = "peds"
name = "Pediatrics"
period = "5y"
from = "patient-majority"
action = "dispose"
match = { sender = ["peds@clinic.example"] }

[[rules]]
id = "ortho"
name = "Orthopedics"
period = "7y"
from = "last-treatment"
action = "review"
match = { sender = ["ortho@clinic.example"] }
"#,
    );
    let t = today();
    let send_from =
        |from: &str, meta: Value| send(&server, from, "p@example.net", "Visit summary.", json!({ "metadata": meta }));
    let peds = send_from("peds@clinic.example", json!({ "patient_dob": "2015-03-10" }));
    // Alabama's age of majority is 19 in the shipped table.
    let peds_al = send_from("peds@clinic.example", json!({ "patient_dob": "2015-03-10", "jurisdiction": "AL" }));
    let peds_unknown = send_from("peds@clinic.example", json!({}));
    let last_treatment = plus_years(t, 2);
    let ortho = send_from("ortho@clinic.example", json!({ "last_treatment": last_treatment }));
    let ortho_unknown = send_from("ortho@clinic.example", json!({}));
    run(&server, &plus_years(t, 0), true);

    let r = retention(&server, &peds);
    assert_eq!((r["rule"].as_str(), r["until"].as_str()), (Some("peds"), Some("2038-03-10")), "18 + 5 years");
    let r = retention(&server, &peds_al);
    assert_eq!(r["until"], "2039-03-10", "19 + 5 years under Alabama's majority: {r}");
    let r = retention(&server, &peds_unknown);
    assert_eq!((r["rule"].as_str(), r["until"].as_str()), (Some("peds"), Some("indefinite")), "{r}");
    let r = retention(&server, &ortho);
    assert_eq!(r["until"], plus_years(parse_ymd(&last_treatment), 7).as_str(), "{r}");
    assert_eq!(r["action"], "review");
    assert_eq!(retention(&server, &ortho_unknown)["until"], "indefinite");
}

/// Hex of a BLOB column of one message, read from SQLite directly.
fn column_hex(server: &Server, column: &str, id: &str) -> Vec<u8> {
    assert!(column.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') && id.bytes().all(|b| b.is_ascii_hexdigit()));
    let hex = server.sql_column(&format!("SELECT hex({column}) FROM messages WHERE id = '{id}'"));
    hex::decode(hex.first().expect("row")).expect("hex")
}

/// With a fixed clock, a run disposes of exactly the expired, un-held
/// `dispose` messages; `review` ones wait in the queue; afterwards neither
/// the data, nor its index entries, nor its decryptable key exist anywhere
/// under the data directory.
#[test]
fn disposal_deletes_exactly_the_expired_unheld_set() {
    let mut server = Server::start(Backend::Embedded);
    set_policy(
        &server,
        r#"
[[rules]]
id = "hipaa-documentation"
name = "HIPAA"
period = "6y"
action = "dispose"

[[rules]]
id = "keep"
name = "Keep long"
period = "20y"
action = "dispose"
match = { sender = ["keep@clinic.example"] }

[[rules]]
id = "look-first"
name = "Review"
period = "10y"
action = "review"
match = { sender = ["review@clinic.example"] }
"#,
    );
    let t = today();
    let canary = format!("Quillon Vardemaster {}", unique());
    let a = send(&server, "clinic@example.org", "p@example.net", &format!("Dear {canary}, results."), json!({}));
    let b = send(&server, "clinic@example.org", "p@example.net", "Second message.", json!({}));
    let kept = send(&server, "keep@clinic.example", "p@example.net", "Kept twenty years.", json!({}));
    let review = send(&server, "review@clinic.example", "p@example.net", "Needs a look.", json!({}));
    let review2 = send(&server, "review@clinic.example", "p@example.net", "Needs a later look.", json!({}));
    let held = send(&server, "held@clinic.example", "p@example.net", "Under hold.", json!({}));
    let sha_a = server.api_state(&a)["sha256"].as_str().expect("sha").to_owned();
    let secrets: Vec<(String, Vec<u8>)> = [&a, &b]
        .iter()
        .flat_map(|id| ["wrapped_dek", "sealed_meta"].map(|c| (format!("{id} {c}"), column_hex(&server, c, id))))
        .collect();
    let control = column_hex(&server, "wrapped_dek", &kept);

    let legal = add_user(&server, "legal1", "legal");
    let out = server.cli_env(
        &[
            "hold",
            "create",
            "--name",
            "Matter 1",
            "--reason",
            "Litigation",
            "--custodian",
            "held@clinic.example",
            "--user",
            "legal1",
        ],
        &[("SEALPOST_PASSWORD", &legal)],
    );
    assert!(out.status.success(), "hold create: {}", text(&out));
    let hold_id = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    // The index finds the canary message before disposal...
    let surname = canary.split_whitespace().nth(1).expect("surname").to_owned();
    assert_eq!(search_total(&server, &surname, 1), 1, "indexed before disposal");

    // HIPAA's 6 and the review rule's 10 years have passed, `keep`'s 20 not.
    let now = plus_years(t, 12);
    let dry = run(&server, &now, true);
    assert_eq!(ids(&dry["disposed"]), BTreeSet::from([a.clone(), b.clone()]), "{dry}");
    assert_eq!(dry["held"], json!([[held, hold_id]]), "{dry}");
    assert_eq!(ids(&dry["awaiting_review"]), BTreeSet::from([review.clone(), review2.clone()]));
    assert!(!server.show_raw(&a).is_empty(), "a dry run disposes of nothing");

    let report = run(&server, &now, false);
    assert_eq!(ids(&report["disposed"]), BTreeSet::from([a.clone(), b.clone()]), "{report}");
    assert_eq!(report["failed"], 0);
    for id in [&kept, &review, &held] {
        assert!(!server.show_raw(id).is_empty(), "{id} must survive");
    }
    // ...and not after: the server's indexer purges disposed messages.
    assert_eq!(search_total(&server, &surname, 0), 0, "index entries of a disposed message");
    assert_eq!(search_total(&server, "\"Second message\"", 0), 0);
    // Once the deletions settle, one purge rewrites the segments that held
    // them (their terms leave the files; crates/search/tests/at_rest.rs).
    common::wait_until(std::time::Duration::from_secs(60), "the index purge", || {
        server.serve_log().contains("index purged of deleted documents")
    });
    let state = server.api_state(&a);
    assert_eq!(state["state"], "disposed", "{state}");
    assert!(state["retention"]["disposed_at"].is_string(), "{state}");
    let out = server.cli(&["message", "show", &a, "--raw"]);
    assert!(!out.status.success(), "a disposed message cannot be read");
    assert_eq!(server.sql_scalar(&format!("SELECT length(wrapped_dek) FROM messages WHERE id = '{a}'")), 0);
    assert_eq!(server.sql_scalar(&format!("SELECT count(*) FROM queue WHERE message_id = '{a}'")), 0);
    assert_eq!(server.sql_scalar(&format!("SELECT length(blob_ref) FROM messages WHERE id = '{a}'")), 0);

    // Certificates: ids, the original's SHA-256, the rule, the times.
    let out = server.cli(&["retention", "certificates"]);
    assert!(out.status.success(), "{}", text(&out));
    let certs: Value = serde_json::from_slice(&out.stdout).expect("certificates JSON");
    let cert_a =
        certs.as_array().expect("array").iter().find(|c| c["message"] == a.as_str()).expect("certificate of a");
    assert_eq!(cert_a["sha256"], sha_a.as_str());
    assert_eq!(cert_a["rule"], "hipaa-documentation");
    assert_eq!(certs.as_array().map(Vec::len), Some(2));

    // The review queue: approve one (disposed now), extend the other.
    let compliance = add_user(&server, "comp1", "compliance");
    let env = [("SEALPOST_PASSWORD", compliance.as_str())];
    let out = server.cli(&["retention", "review", "list", "--now", &now]);
    let queue: Value = serde_json::from_slice(&out.stdout).expect("review list JSON");
    let queued: BTreeSet<String> =
        queue.as_array().expect("array").iter().map(|i| i["id"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(queued, BTreeSet::from([review.clone(), review2.clone()]));
    let out = server.cli_env(&["retention", "review", "approve", &review, "--user", "comp1", "--now", &now], &env);
    assert!(out.status.success(), "approve: {}", text(&out));
    let later = plus_years(t, 30);
    let out = server.cli_env(
        &["retention", "review", "extend", &review2, "--until", &later, "--user", "comp1", "--now", &now],
        &env,
    );
    assert!(out.status.success(), "extend: {}", text(&out));
    let out = server.cli(&["retention", "review", "list", "--now", &now]);
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).expect("JSON"), json!([]));
    assert_eq!(server.api_state(&review)["state"], "disposed");
    assert!(
        retention(&server, &review2)["explanation"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("extended by review until {later}"))
    );
    // A person without the role is refused.
    let sender = add_user(&server, "sender1", "sender");
    let out = server
        .cli_env(&["retention", "review", "approve", &review2, "--user", "sender1"], &[("SEALPOST_PASSWORD", &sender)]);
    assert!(!out.status.success() && text(&out).contains("may not"), "{}", text(&out));

    // Every operation is audited, and the chain verifies.
    assert_eq!(server.count_action("message.disposed"), 3);
    let events = server.audit_events();
    let reviewed = |outcome: &str| {
        events.iter().filter(|e| e["action"] == "disposition.reviewed" && e["outcome"] == outcome).count()
    };
    assert_eq!((reviewed("success"), reviewed("failure")), (2, 1), "approve, extend; the refused sender");
    assert!(server.count_action("retention.run") >= 2);
    assert_eq!(server.count_action("hold.created"), 1);
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "{out}");

    // Nothing decryptable is left: grep every file under the data directory
    // for the disposed messages' wrapped keys and sealed metadata (and the
    // canary), with a surviving message's key as the control.
    let status = server.stop();
    assert!(status.is_some_and(|s| s.success()), "serve did not exit cleanly: {status:?}");
    let files = files_under(server.data_dir());
    let found = |needle: &[u8]| files.iter().filter(|f| read_file(f).is_some_and(|b| contains(&b, needle))).count();
    assert!(found(&control) > 0, "control: a live message's wrapped key must be found (the grep works)");
    for (what, bytes) in &secrets {
        assert!(bytes.len() >= 16, "{what}: too short to be meaningful");
        assert_eq!(found(bytes), 0, "{what} still under the data directory");
    }
    assert_eq!(found(canary.as_bytes()), 0, "canary text at rest");
}

/// Waits (up to a minute) until the API search for `q` finds `want`
/// messages; returns the last total seen.
fn search_total(server: &Server, q: &str, want: u64) -> u64 {
    let enc: String = q
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (st, body) = server.get(&format!("/v1/search?q={enc}"), &server.api_key);
        let total = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["total"].as_u64()).unwrap_or(u64::MAX);
        if (st == 200 && total == want) || std::time::Instant::now() > end {
            return total;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// Issue 13.1: a keyword-query rule answers from the search index, so a
/// message the index does not hold yet is not evaluated (and cannot
/// expire) under a policy with such a rule. An archive imported already
/// expired and a run before the server indexed it: nothing goes. After
/// indexing, the query rule's longer period keeps what it matches.
#[test]
fn a_query_rule_is_not_bypassed_by_messages_the_index_does_not_hold_yet() {
    let mut server = Server::start(Backend::Embedded);
    set_policy(
        &server,
        r#"
[[rules]]
id = "hipaa-documentation"
name = "HIPAA"
period = "6y"
action = "dispose"

[[rules]]
id = "labs-long"
name = "Lab results"
period = "30y"
action = "dispose"
match = { query = "subject:lab" }
"#,
    );
    server.stop();
    common::import_mbox(&server, "rule", &["Lab results", "Billing"]);

    let report = run(&server, "2030-01-01", false);
    assert!(ids(&report["disposed"]).is_empty(), "disposed before the query rule could see them: {report}");
    assert_eq!(server.sql_scalar("SELECT count(*) FROM messages WHERE disposed_at IS NULL"), 2);

    server.start_again();
    common::wait_until(Duration::from_secs(60), "everything indexed", || {
        server.sql_scalar("SELECT count(*) FROM messages WHERE indexed = 0") == 0
    });
    let report = run(&server, "2030-01-01", false);
    assert_eq!(ids(&report["disposed"]).len(), 1, "{report}");
    let lab = server.sql_column("SELECT id FROM messages WHERE disposed_at IS NULL");
    assert_eq!(lab.len(), 1);
    assert_eq!(retention(&server, &lab[0])["rule"], "labs-long", "the lab message is kept by the query rule");
}

/// Issue 13.16: `sealpost retention unverified` tells a compliance officer
/// which state entries are not confirmed against the regulation text.
#[test]
fn unverified_state_entries_are_listed() {
    let server = Server::start(Backend::Embedded);
    let out = server.cli(&["retention", "unverified", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let open: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let open = open.as_array().expect("array");
    let states: BTreeSet<&str> = open.iter().filter_map(|e| e["state"].as_str()).collect();
    // MN's minors rule is still open; CO was confirmed against the rule text.
    assert!(states.contains("MN") && !states.contains("CO"), "{states:?}");
    assert!(open.iter().all(|e| e["unconfirmed"].as_array().is_some_and(|u| !u.is_empty())));
    let out = server.cli(&["retention", "unverified"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.lines().any(|l| l.starts_with("MN\tunconfirmed: minors")), "{listing}");
    assert_eq!(listing.lines().count(), open.len() + 1, "{listing}");
}

/// Issue 13.4: KEK rotation after a disposal skips the shredded message
/// (it used to fail trying to unwrap its empty key) and re-wraps the rest.
#[test]
fn kek_rotation_skips_disposed_messages() {
    let server = Server::start(Backend::Embedded);
    let raw = |date: &str, n: u32| {
        format!(
            "From: records@example.org\r\nTo: p@example.net\r\nSubject: Note {n}\r\nDate: {date}\r\n\
             Message-ID: <rot-{n}-{}@example.org>\r\n\r\nBody {n}.\r\n",
            unique()
        )
    };
    let mut sent = Vec::new();
    for (n, date) in ["Mon, 05 Jan 2015 09:00:00 +0000", "Fri, 04 Dec 2026 09:00:00 +0000"].iter().enumerate() {
        let (st, b) = server.post(
            "/v1/messages/raw",
            &server.api_key,
            &json!({"from": "records@example.org", "to": ["p@example.net"], "raw": common::b64(raw(date, n as u32).as_bytes())}),
        );
        assert_eq!(st, 202, "{b}");
        sent.push(b["id"].as_str().expect("id").to_owned());
    }
    let report = run(&server, "2026-12-04", false);
    assert_eq!(ids(&report["disposed"]), BTreeSet::from([sent[0].clone()]), "{report}");
    let out = server.cli(&["keys", "rotate", "--tenant", "default"]);
    assert!(out.status.success(), "rotation after a disposal: {}", text(&out));
    assert_eq!(server.sql_scalar("SELECT count(*) FROM messages WHERE kek_version = 2"), 1, "the live one re-wrapped");
    assert!(String::from_utf8_lossy(&server.show_raw(&sent[1])).contains("Body 1."));
    assert_eq!(
        server.sql_scalar("SELECT count(*) FROM messages WHERE length(wrapped_dek) > 0 AND disposed_at IS NOT NULL"),
        0
    );
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "{out}");
}

/// Issue 13.12: `POST /v1/retention/run` refuses a real run dated in the
/// future (it would dispose of messages early); a dry run may look ahead.
#[test]
fn an_api_run_cannot_be_dated_in_the_future() {
    let server = Server::start(Backend::Embedded);
    let raw = "From: records@example.org\r\nTo: p@example.net\r\nSubject: Today\r\n\
               Date: Fri, 04 Dec 2026 09:00:00 +0000\r\nMessage-ID: <future-1@example.org>\r\n\r\nBody.\r\n";
    let (st, b) = server.post(
        "/v1/messages/raw",
        &server.api_key,
        &json!({"from": "records@example.org", "to": ["p@example.net"], "raw": common::b64(raw.as_bytes())}),
    );
    assert_eq!(st, 202, "{b}");
    common::wait_until(Duration::from_secs(60), "evaluation at index time", || {
        server.sql_scalar("SELECT count(*) FROM messages WHERE retention_version IS NOT NULL") == 1
    });
    let (st, b) = server.post("/v1/retention/run", &server.api_key, &json!({"now": "2099-01-01"}));
    assert_eq!((st, b["error"]["field"].as_str()), (400, Some("now")), "{b}");
    assert_eq!(server.sql_scalar("SELECT count(*) FROM messages WHERE disposed_at IS NULL"), 1);
    let (st, b) = server.post("/v1/retention/run", &server.api_key, &json!({"now": "2099-01-01", "dry_run": true}));
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["disposed"].as_array().map(Vec::len), Some(1), "the forecast: {b}");
    assert_eq!(server.sql_scalar("SELECT count(*) FROM messages WHERE disposed_at IS NULL"), 1);
}
