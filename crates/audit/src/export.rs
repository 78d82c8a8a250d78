//! Export of stored rows as JSON Lines or CSV.

use serde::Serialize;

use crate::chain::StoredEvent;

/// The CSV header line (without a line ending), matching [`to_csv_row`].
pub const CSV_HEADER: &str = "seq,id,at,tenant,actor,action,target,outcome,detail,prev_hash,hash";

/// Formats Unix microseconds as RFC 3339 UTC with six fractional digits,
/// e.g. `2024-05-01T12:00:00.000000Z`.
pub fn rfc3339_micros(at_micros: i64) -> String {
    let days = at_micros.div_euclid(86_400_000_000);
    let rem = at_micros.rem_euclid(86_400_000_000);
    let (secs, micros) = (rem / 1_000_000, rem % 1_000_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[derive(Serialize)]
struct JsonRow<'a> {
    seq: i64,
    id: &'a str,
    at: String,
    tenant: &'a str,
    actor: &'a str,
    action: &'a str,
    target: Option<&'a str>,
    outcome: &'a str,
    detail: serde_json::Value,
    prev_hash: String,
    hash: String,
}

/// One JSON object (no trailing newline) with `seq`, `id`, `at` (RFC 3339
/// UTC), `tenant`, `actor`, `action`, `target`, `outcome`, `detail` (as an
/// object; as a string if the stored text is not valid JSON), `prev_hash`
/// and `hash` (hex), in that order.
pub fn to_json_line(row: &StoredEvent) -> String {
    let detail = serde_json::from_str::<serde_json::Value>(&row.detail)
        .unwrap_or_else(|_| serde_json::Value::String(row.detail.clone()));
    let out = JsonRow {
        seq: row.seq,
        id: &row.id,
        at: rfc3339_micros(row.at_micros),
        tenant: &row.tenant,
        actor: &row.actor,
        action: &row.action,
        target: row.target.as_deref(),
        outcome: &row.outcome,
        detail,
        prev_hash: hex::encode(&row.prev_hash),
        hash: hex::encode(&row.hash),
    };
    // Serializing plain strings, numbers and a parsed Value cannot fail.
    serde_json::to_string(&out).unwrap_or_default()
}

/// One CSV record (RFC 4180, no line ending) in the order of [`CSV_HEADER`];
/// `detail` is its JSON text. Fields with a comma, quote or line break are
/// quoted; a text field that a spreadsheet would run as a formula (starting
/// with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`.
pub fn to_csv_row(row: &StoredEvent) -> String {
    let fields = [
        row.seq.to_string(),
        csv_text(&row.id),
        rfc3339_micros(row.at_micros),
        csv_text(&row.tenant),
        csv_text(&row.actor),
        csv_text(&row.action),
        row.target.as_deref().map(csv_text).unwrap_or_default(),
        csv_text(&row.outcome),
        csv_text(&row.detail),
        hex::encode(&row.prev_hash),
        hex::encode(&row.hash),
    ];
    fields.join(",")
}

fn csv_text(s: &str) -> String {
    let guarded;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{s}");
        guarded.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> StoredEvent {
        StoredEvent {
            seq: 7,
            id: "0190f0aa".into(),
            at_micros: 1_714_564_800_123_456,
            tenant: "acme".into(),
            actor: "user:abc".into(),
            action: "message.accessed".into(),
            target: Some("m1".into()),
            outcome: "success".into(),
            detail: r#"{"n":1,"s":"x"}"#.into(),
            prev_hash: vec![0xab; 2],
            hash: vec![0xcd; 2],
        }
    }

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_micros(1_714_564_800_123_456), "2024-05-01T12:00:00.123456Z");
        assert_eq!(rfc3339_micros(951_782_400_000_000), "2000-02-29T00:00:00.000000Z");
        assert_eq!(rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
        // Extreme values do not panic.
        let _ = rfc3339_micros(i64::MAX);
        let _ = rfc3339_micros(i64::MIN);
    }

    #[test]
    fn json_line_has_all_fields_in_order() {
        let line = to_json_line(&row());
        assert_eq!(
            line,
            r#"{"seq":7,"id":"0190f0aa","at":"2024-05-01T12:00:00.123456Z","tenant":"acme","actor":"user:abc","action":"message.accessed","target":"m1","outcome":"success","detail":{"n":1,"s":"x"},"prev_hash":"abab","hash":"cdcd"}"#
        );
        let mut r = row();
        r.target = None;
        r.detail = "not json".into();
        let v: serde_json::Value = serde_json::from_str(&to_json_line(&r)).unwrap();
        assert!(v["target"].is_null());
        assert_eq!(v["detail"], "not json");
    }

    #[test]
    fn csv_row_quotes_and_guards() {
        assert_eq!(CSV_HEADER.split(',').count(), 11);
        assert_eq!(
            to_csv_row(&row()),
            r#"7,0190f0aa,2024-05-01T12:00:00.123456Z,acme,user:abc,message.accessed,m1,success,"{""n"":1,""s"":""x""}",abab,cdcd"#
        );
        let mut r = row();
        r.target = None;
        r.actor = "=HYPERLINK(\"x\")".into();
        let line = to_csv_row(&r);
        assert!(line.contains(r#","'=HYPERLINK(""x"")","#), "{line}");
        assert!(line.contains("message.accessed,,success"), "{line}");
    }
}
