//! A small corpus with known answers, shared by the integration tests.
#![allow(dead_code)]

use sealpost_search::IndexDoc;
use time::macros::datetime;

pub const KEY: [u8; 32] = [0x42; 32];

pub fn id(n: u64) -> String {
    format!("{n:032x}")
}

pub fn micros(at: time::OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1000) as i64
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Five messages; the tests name them by number.
pub fn corpus() -> Vec<IndexDoc> {
    vec![
        IndexDoc {
            id: id(1),
            date: micros(datetime!(2024-01-10 09:00 UTC)),
            from: strings(&["Alice Smith <alice@example.com>"]),
            to: strings(&["bob@clinic.org"]),
            subject: "Lab results for Zebulon".into(),
            body: "Your potassium level is normal. MRN 1234567".into(),
            category: "transactional".into(),
            phi: strings(&["mrn"]),
            patients: strings(&["MRN1234567"]),
            ..IndexDoc::default()
        },
        IndexDoc {
            id: id(2),
            date: micros(datetime!(2024-02-01 00:00 UTC)),
            from: strings(&["carol@example.com"]),
            to: strings(&["Alice Smith <alice@example.com>"]),
            cc: strings(&["dave@hospital.net"]),
            subject: "Spring newsletter".into(),
            body: "Join our wellness fair".into(),
            filenames: strings(&["flyer.pdf"]),
            has_attachment: true,
            category: "marketing".into(),
            ..IndexDoc::default()
        },
        IndexDoc {
            id: id(3),
            date: micros(datetime!(2024-02-15 12:00 UTC)),
            from: strings(&["Bob Jones <bob@clinic.org>"]),
            to: strings(&["carol@example.com"]),
            subject: "Referral".into(),
            body: "Please see the attached referral letter for Jane Doe.".into(),
            filenames: strings(&["referral_letter.txt"]),
            has_attachment: true,
            category: "transactional".into(),
            phi: strings(&["dictionary"]),
            patients: strings(&["Jane Doe"]),
            ..IndexDoc::default()
        },
        IndexDoc {
            id: id(4),
            // Exactly midnight: the first instant `after:2024-03-01` includes
            // and `before:2024-03-01` excludes.
            date: micros(datetime!(2024-03-01 00:00 UTC)),
            from: strings(&["alice@example.com"]),
            to: strings(&["Erin <erin@example.org>"]),
            subject: "Appointment reminder".into(),
            body: "Your appointment is on March 5. Call 555-123-4567".into(),
            category: "transactional".into(),
            phi: strings(&["phone"]),
            ..IndexDoc::default()
        },
        IndexDoc {
            id: id(5),
            // One microsecond before midnight.
            date: micros(datetime!(2024-02-29 23:59:59.999999 UTC)),
            from: strings(&["dave@hospital.net"]),
            to: strings(&["bob@clinic.org"]),
            subject: "Invoice".into(),
            body: "invoice number 42".into(),
            filenames: strings(&["invoice-2024.csv"]),
            has_attachment: true,
            category: "transactional".into(),
            ..IndexDoc::default()
        },
    ]
}
