//! Signatures made by `sealpost-dkim` checked by an independent verifier: dkimpy, run from the
//! repository's test venv (`.venv-test`, made by `scripts/setup-test-env.sh`) through
//! `tests/dkimpy_verify.py`, with public keys from a local file instead of DNS.

use std::path::PathBuf;
use std::process::Command;

use sealpost_dkim::{Algorithm, DkimKey, Signer, dns_records};

const DOMAIN: &str = "sealpost.test";
const ALGORITHMS: [Algorithm; 2] = [Algorithm::Rsa2048, Algorithm::Ed25519];

/// A message with every header field the signer signs, plus some it does not.
const MESSAGE: &str = "Return-Path: <bounce@sealpost.test>\r\n\
    Received: from localhost by sealpost.test; Mon, 6 Jan 2025 10:00:00 +0000\r\n\
    From: Clinic Front Desk <desk@sealpost.test>\r\n\
    To: Patient <patient@example.net>\r\n\
    Cc: records@example.net\r\n\
    Reply-To: desk@sealpost.test\r\n\
    Subject: Your appointment\r\n\
    Date: Mon, 6 Jan 2025 10:00:00 +0000\r\n\
    Message-ID: <0193f0c8-1@sealpost.test>\r\n\
    MIME-Version: 1.0\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\
    Content-Transfer-Encoding: 7bit\r\n\
    List-Unsubscribe: <https://sealpost.test/u/abc>\r\n\
    List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
    X-Mailer: not signed\r\n\
    \r\n\
    Hello,\r\n\
    \r\n\
    your appointment is confirmed.\r\n";

enum Verdict {
    Pass(String),
    Fail(String),
}

/// Runs dkimpy over `message` with `keys` (lines of `<name> <TXT value>` or zone-file lines).
/// Panics, rather than passing or failing quietly, if the verifier cannot run.
fn dkimpy(keys: &str, message: &[u8]) -> Verdict {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("../../.venv-test/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-test-env.sh (as root) to create the test venv with dkimpy",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let (keys_path, message_path) = (dir.path().join("keys.txt"), dir.path().join("message.eml"));
    std::fs::write(&keys_path, keys).unwrap();
    std::fs::write(&message_path, message).unwrap();
    let out = Command::new(&python)
        .arg(root.join("tests/dkimpy_verify.py"))
        .arg(&keys_path)
        .arg(&message_path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run scripts/setup-test-env.sh", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match out.status.code() {
        Some(0) => Verdict::Pass(stdout),
        Some(1) => Verdict::Fail(stdout),
        _ => panic!("dkimpy verifier could not run: {stdout} {}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn key_line(selector: &str, key: &DkimKey) -> String {
    format!("{selector}._domainkey.{DOMAIN} {}\n", key.public_dns_value())
}

/// Signs `message` and returns the signed message (signature prepended) and the key file.
fn sign(algorithm: Algorithm, message: &str) -> (String, String) {
    let key = DkimKey::generate(algorithm).unwrap();
    let header = Signer::new(DOMAIN, "s1", &key).unwrap().sign(message.as_bytes()).unwrap();
    (format!("{header}{message}"), key_line("s1", &key))
}

#[track_caller]
fn assert_pass(verdict: Verdict, algorithm: Algorithm) {
    match verdict {
        Verdict::Pass(line) => {
            assert_eq!(line, format!("PASS a={} d={DOMAIN} s=s1", algorithm.as_str()));
        }
        Verdict::Fail(reason) => panic!("{algorithm}: dkimpy rejected the signature: {reason}"),
    }
}

#[track_caller]
fn assert_fail(verdict: Verdict, algorithm: Algorithm, expected_reason: &str) {
    match verdict {
        Verdict::Pass(line) => panic!("{algorithm}: dkimpy accepted a message it should reject: {line}"),
        Verdict::Fail(reason) => assert!(reason.contains(expected_reason), "{algorithm}: {reason}"),
    }
}

#[test]
fn both_algorithms_verify() {
    for algorithm in ALGORITHMS {
        let (signed, keys) = sign(algorithm, MESSAGE);
        assert_pass(dkimpy(&keys, signed.as_bytes()), algorithm);
    }
}

#[test]
fn a_body_changed_after_signing_fails() {
    for algorithm in ALGORITHMS {
        let (signed, keys) = sign(algorithm, MESSAGE);
        let tampered = signed.replace("is confirmed", "is cancelled");
        assert_ne!(tampered, signed);
        assert_fail(dkimpy(&keys, tampered.as_bytes()), algorithm, "body hash mismatch");
    }
}

#[test]
fn a_signed_header_changed_after_signing_fails() {
    for algorithm in ALGORITHMS {
        let (signed, keys) = sign(algorithm, MESSAGE);
        let tampered = signed.replace("Subject: Your appointment", "Subject: Your bill");
        assert_fail(dkimpy(&keys, tampered.as_bytes()), algorithm, "signature mismatch");
    }
}

#[test]
fn a_second_from_added_after_signing_fails() {
    // An added From (on top, where most clients show it) must break the signature. The signer
    // oversigns From (h= lists it twice, see the unit test in src/sign.rs); dkimpy would also
    // catch this without the oversign, other verifiers need it.
    for algorithm in ALGORITHMS {
        let (signed, keys) = sign(algorithm, MESSAGE);
        let (header, message) = signed.split_at(signed.find("Return-Path:").unwrap());
        let tampered = format!("{header}From: Mallory <ceo@sealpost.test>\r\n{message}");
        assert_fail(dkimpy(&keys, tampered.as_bytes()), algorithm, "signature mismatch");
    }
}

#[test]
fn unsigned_headers_may_change() {
    for algorithm in ALGORITHMS {
        let (signed, keys) = sign(algorithm, MESSAGE);
        let changed = signed.replace("X-Mailer: not signed", "X-Mailer: changed").replace(
            "Received: from localhost",
            "Received: from relay.example.net by mx.example.net; Mon, 6 Jan 2025 10:00:01 +0000\r\n\
             Received: from localhost",
        );
        assert_pass(dkimpy(&keys, changed.as_bytes()), algorithm);
    }
}

#[test]
fn a_wrong_key_fails() {
    for algorithm in ALGORITHMS {
        let (signed, _) = sign(algorithm, MESSAGE);
        let other = key_line("s1", &DkimKey::generate(algorithm).unwrap());
        assert_fail(dkimpy(&other, signed.as_bytes()), algorithm, "signature mismatch");
    }
}

#[test]
fn relaxed_canonicalization_survives_case_and_whitespace_changes() {
    for algorithm in ALGORITHMS {
        let (signed, keys) = sign(algorithm, MESSAGE);
        let rewritten = signed
            .replace("Subject: Your appointment", "SUBJECT:   Your \t appointment   ")
            .replace("To: Patient <patient@example.net>", "to: Patient\r\n\t<patient@example.net>")
            .replace("Content-Type: text/plain;", "content-type:text/plain;")
            .replace("your appointment is confirmed.\r\n", "your  appointment \tis confirmed.  \r\n\r\n\r\n");
        assert_ne!(rewritten, signed);
        assert_pass(dkimpy(&keys, rewritten.as_bytes()), algorithm);
    }
}

#[test]
fn a_folded_subject_verifies_folded_and_unfolded() {
    let folded = MESSAGE.replace(
        "Subject: Your appointment\r\n",
        "Subject: Your appointment on Monday at the north campus clinic,\r\n \
         please arrive fifteen minutes early\r\n\tand bring your insurance card\r\n",
    );
    for algorithm in ALGORITHMS {
        let (signed, keys) = sign(algorithm, &folded);
        assert_pass(dkimpy(&keys, signed.as_bytes()), algorithm);
        // Relaxed canonicalization unfolds, so a relay that refolds or unfolds does not break it.
        let unfolded = signed.replace("clinic,\r\n please", "clinic, please").replace("early\r\n\tand", "early and");
        assert_ne!(unfolded, signed);
        assert_pass(dkimpy(&keys, unfolded.as_bytes()), algorithm);
    }
}

#[test]
fn the_published_dkim_record_verifies_the_signature() {
    let rsa = DkimKey::generate(Algorithm::Rsa2048).unwrap();
    let ed = DkimKey::generate(Algorithm::Ed25519).unwrap();
    let selectors = [("rsa1".to_owned(), &rsa), ("ed1".to_owned(), &ed)];
    let records = dns_records(DOMAIN, &[], &selectors, "20250106", "dmarc@sealpost.test").unwrap();
    let dkim: Vec<_> = records.iter().filter(|r| r.name.contains("._domainkey.")).collect();
    assert_eq!(dkim.len(), 2);

    for ((selector, key), record) in selectors.iter().zip(&dkim) {
        assert_eq!(record.name, format!("{selector}._domainkey.{DOMAIN}"));
        assert_eq!(record.value, key.public_dns_value());
        let header = Signer::new(DOMAIN, selector, key).unwrap().sign(MESSAGE.as_bytes()).unwrap();
        let signed = format!("{header}{MESSAGE}");
        let expected = format!("PASS a={} d={DOMAIN} s={selector}", key.algorithm().as_str());
        // The value exactly as public_dns_value() gives it ...
        match dkimpy(&format!("{} {}\n", record.name, record.value), signed.as_bytes()) {
            Verdict::Pass(line) => assert_eq!(line, expected),
            Verdict::Fail(reason) => panic!("{selector}: {reason}"),
        }
        // ... and as the zone-file line an operator pastes (the RSA one split in 255-byte strings).
        match dkimpy(&format!("{record}\n"), signed.as_bytes()) {
            Verdict::Pass(line) => assert_eq!(line, expected),
            Verdict::Fail(reason) => panic!("{selector} zone line {record}: {reason}"),
        }
    }
}

#[test]
fn a_key_reloaded_from_pkcs8_signs_for_the_same_record() {
    for algorithm in ALGORITHMS {
        let key = DkimKey::generate(algorithm).unwrap();
        let reloaded = DkimKey::from_pkcs8_der(algorithm, &key.to_pkcs8_der()).unwrap();
        let header = Signer::new(DOMAIN, "s1", &reloaded).unwrap().sign(MESSAGE.as_bytes()).unwrap();
        assert_pass(dkimpy(&key_line("s1", &key), format!("{header}{MESSAGE}").as_bytes()), algorithm);
    }
}
