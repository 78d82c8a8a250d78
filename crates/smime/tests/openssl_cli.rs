//! Interop with the real peer: certificates made by `openssl req`, messages decrypted by
//! `openssl cms -decrypt` (which reads the S/MIME message as MIME).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use sealpost_smime::{Error, RecipientCert, Strength, Unusable, encrypt_mime};
use tempfile::TempDir;

const PLANTED: &str = "PLANTED-ATTACHMENT-4f1c9e";
const BODY_TEXT: &str = "Your HbA1c result is 6.1 percent.";
const SUBJECT: &str = "Lab results for Jane Roe";

struct Peer {
    cert: PathBuf,
    key: PathBuf,
}

impl Peer {
    fn recipient(&self) -> RecipientCert {
        RecipientCert::from_pem(&std::fs::read(&self.cert).unwrap()).unwrap()
    }
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl").args(args).output().expect("the openssl CLI is installed")
}

/// `openssl req -x509 -days 30` for `email` (SAN and subject emailAddress), then `extra`
/// arguments (`-addext ...`, `-pkeyopt ...`).
fn make_cert(dir: &Path, name: &str, email: &str, newkey: &str, extra: &[&str]) -> Peer {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let subj = format!("/CN={name}/emailAddress={email}");
    let san = format!("subjectAltName=email:{email}");
    let mut args = vec!["req", "-x509", "-newkey", newkey, "-nodes", "-subj", &subj, "-addext", &san, "-days", "30"];
    args.extend(extra);
    let (c, k) = (cert.to_str().unwrap().to_owned(), key.to_str().unwrap().to_owned());
    args.extend(["-keyout", &k, "-out", &c]);
    let out = openssl(&args);
    assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
    Peer { cert, key }
}

fn patient(dir: &Path, name: &str) -> Peer {
    make_cert(
        dir,
        name,
        "patient@example.net",
        "rsa:2048",
        &["-addext", "keyUsage=digitalSignature,keyEncipherment", "-addext", "extendedKeyUsage=emailProtection"],
    )
}

fn attachment_b64() -> String {
    let content = format!("%PDF-1.4 fake report\n{PLANTED}\n").repeat(20);
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    encoded.as_bytes().chunks(76).map(|l| format!("{}\r\n", std::str::from_utf8(l).unwrap())).collect()
}

fn message() -> Vec<u8> {
    format!(
        "Received: from clinic.example.com by sealpost\r\n\
         From: Dr Smith <dr@clinic.example.com>\r\n\
         To: patient@example.net\r\n\
         Cc: other@example.org\r\n\
         Subject: {SUBJECT}\r\n\
         Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n\
         Message-ID: <abc123@clinic.example.com>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         {BODY_TEXT}\r\n\
         --b1\r\n\
         Content-Type: application/pdf; name=\"report.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {}--b1--\r\n",
        attachment_b64()
    )
    .into_bytes()
}

fn write_out(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

fn decrypt(eml: &str, peer: &Peer) -> Result<String, String> {
    let out = openssl(&[
        "cms",
        "-decrypt",
        "-in",
        eml,
        "-recip",
        peer.cert.to_str().unwrap(),
        "-inkey",
        peer.key.to_str().unwrap(),
    ]);
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn cms_print(eml: &str) -> String {
    let out = openssl(&["cms", "-cmsout", "-print", "-in", eml]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn assert_inner_complete(inner: &str) {
    let attachment = attachment_b64();
    assert!(inner.contains(BODY_TEXT), "body missing:\n{inner}");
    assert!(inner.contains(&attachment), "attachment missing:\n{inner}");
    assert!(inner.contains(&format!("Subject: {SUBJECT}\r\n")), "protected Subject missing");
    assert!(inner.contains("From: Dr Smith <dr@clinic.example.com>\r\n"));
    assert!(inner.contains("Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"));
    assert!(inner.contains("Content-Type: multipart/mixed; boundary=\"b1\"; protected-headers=\"v1\"\r\n"));
    // The original body, byte for byte.
    let original = message();
    let original = String::from_utf8(original).unwrap();
    let body = original.split_once("\r\n\r\n").unwrap().1;
    assert!(inner.ends_with(body));
}

fn assert_outer_clean(outer: &str, smime_type: &str) {
    let attachment_line = attachment_b64().lines().next().unwrap().to_owned();
    for secret in [SUBJECT, BODY_TEXT, PLANTED, attachment_line.as_str(), "report.pdf", "Received:"] {
        assert!(!outer.contains(secret), "outer message leaks {secret:?}");
    }
    let (head, payload) = outer.split_once("\r\n\r\n").unwrap();
    assert_eq!(
        head,
        format!(
            "From: Dr Smith <dr@clinic.example.com>\r\nTo: patient@example.net\r\nCc: other@example.org\r\n\
             Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <abc123@clinic.example.com>\r\n\
             Subject: ...\r\nMIME-Version: 1.0\r\n\
             Content-Type: application/pkcs7-mime; smime-type={smime_type}; name=\"smime.p7m\"\r\n\
             Content-Disposition: attachment; filename=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64"
        )
    );
    let lines: Vec<&str> = payload.strip_suffix("\r\n").unwrap().split("\r\n").collect();
    assert!(lines[..lines.len() - 1].iter().all(|l| l.len() == 76), "base64 lines are not 76 characters");
    assert!(lines.last().unwrap().len() <= 76);
}

fn assert_crlf_only(bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
    assert!(bytes.ends_with(b"\r\n"));
}

#[test]
fn compatible_decrypts_with_openssl_and_hides_everything() {
    let dir = TempDir::new().unwrap();
    let peer = patient(dir.path(), "patient");
    let out = encrypt_mime(&message(), &[peer.recipient()], Strength::Compatible).unwrap();
    assert_crlf_only(&out);
    let eml = write_out(dir.path(), "out.eml", &out);

    assert_outer_clean(std::str::from_utf8(&out).unwrap(), "enveloped-data");
    let inner = decrypt(&eml, &peer).unwrap();
    assert_inner_complete(&inner);

    let structure = cms_print(&eml);
    assert!(structure.contains("pkcs7-envelopedData"), "{structure}");
    assert!(structure.contains("aes-256-cbc"), "{structure}");
    assert!(structure.contains("rsaEncryption"), "{structure}");

    let stranger = patient(dir.path(), "stranger");
    assert!(decrypt(&eml, &stranger).is_err(), "a key that is not a recipient decrypted the message");
}

#[test]
fn modern_is_gcm_with_oaep_and_decrypts_with_openssl() {
    let dir = TempDir::new().unwrap();
    let peer = patient(dir.path(), "patient");
    let out = encrypt_mime(&message(), &[peer.recipient()], Strength::Modern).unwrap();
    assert_crlf_only(&out);
    let eml = write_out(dir.path(), "out.eml", &out);

    assert_outer_clean(std::str::from_utf8(&out).unwrap(), "authEnveloped-data");
    assert_inner_complete(&decrypt(&eml, &peer).unwrap());

    let structure = cms_print(&eml);
    assert!(structure.contains("id-smime-ct-authEnvelopedData"), "{structure}");
    assert!(structure.contains("aes-256-gcm"), "{structure}");
    assert!(structure.contains("rsaesOaep"), "{structure}");
    assert!(structure.contains(":mgf1"), "{structure}");
    assert_eq!(structure.matches(":sha256").count(), 2, "OAEP hash and MGF1 hash are not SHA-256:\n{structure}");
    assert!(!structure.contains("rsaEncryption"), "{structure}");
}

#[test]
fn two_recipients_both_decrypt() {
    for strength in [Strength::Compatible, Strength::Modern] {
        let dir = TempDir::new().unwrap();
        let alice = patient(dir.path(), "alice");
        let bob = make_cert(dir.path(), "bob", "bob@example.org", "rsa:3072", &[]);
        let out = encrypt_mime(&message(), &[alice.recipient(), bob.recipient()], strength).unwrap();
        let eml = write_out(dir.path(), "out.eml", &out);
        assert_inner_complete(&decrypt(&eml, &alice).unwrap());
        assert_inner_complete(&decrypt(&eml, &bob).unwrap());
        let structure = cms_print(&eml);
        assert_eq!(structure.matches("d.ktri:").count(), 2, "{strength:?}: expected two RecipientInfos\n{structure}");
    }
}

#[test]
fn certificate_facts() {
    let dir = TempDir::new().unwrap();
    let peer = patient(dir.path(), "patient");
    let cert = peer.recipient();
    assert_eq!(cert.email_addresses(), ["patient@example.net"]);
    let out = openssl(&["x509", "-noout", "-fingerprint", "-sha256", "-in", peer.cert.to_str().unwrap()]);
    let expected = String::from_utf8(out.stdout).unwrap();
    let expected = expected.trim().split_once('=').unwrap().1.replace(':', "").to_lowercase();
    assert_eq!(cert.fingerprint_sha256(), expected);
    let debug = format!("{cert:?}");
    assert!(debug.contains(&expected) && !debug.contains("patient"), "{debug}");

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((cert.not_after() - (now + 30 * 86_400)).abs() < 120, "not_after {}", cert.not_after());
    assert_eq!(cert.usable_for_encryption(SystemTime::now()), Ok(()));
    let in_40_days = SystemTime::now() + Duration::from_secs(40 * 86_400);
    assert_eq!(cert.usable_for_encryption(in_40_days), Err(Unusable::Expired { not_after: cert.not_after() }));

    let der = openssl(&["x509", "-outform", "DER", "-in", peer.cert.to_str().unwrap()]).stdout;
    assert_eq!(RecipientCert::from_der(&der).unwrap().fingerprint_sha256(), expected);
}

fn rcgen_cert(not_before: (i32, u8), not_after: (i32, u8)) -> RecipientCert {
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType};
    let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::Rfc822Name("patient@example.net".try_into().unwrap())];
    params.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    let date = |(y, m): (i32, u8)| {
        time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), 1).unwrap().midnight().assume_utc()
    };
    params.not_before = date(not_before);
    params.not_after = date(not_after);
    RecipientCert::from_pem(params.self_signed(&key).unwrap().pem().as_bytes()).unwrap()
}

#[test]
fn expired_and_not_yet_valid_certificates_are_rejected() {
    let expired = rcgen_cert((2020, 1), (2021, 1));
    assert_eq!(expired.not_after(), 1_609_459_200);
    assert_eq!(expired.usable_for_encryption(SystemTime::now()), Err(Unusable::Expired { not_after: 1_609_459_200 }));
    // Only time makes it unusable: in 2020 it was fine.
    assert_eq!(expired.usable_for_encryption(UNIX_EPOCH + Duration::from_secs(1_590_000_000)), Ok(()));
    match encrypt_mime(&message(), std::slice::from_ref(&expired), Strength::Compatible) {
        Err(Error::Unusable { fingerprint, reason: Unusable::Expired { not_after: 1_609_459_200 } }) => {
            assert_eq!(fingerprint, expired.fingerprint_sha256())
        }
        other => panic!("expected Expired, got {other:?}"),
    }

    let future = rcgen_cert((2099, 1), (2100, 1));
    assert!(matches!(future.usable_for_encryption(SystemTime::now()), Err(Unusable::NotYetValid { .. })));
}

#[test]
fn certificates_with_the_wrong_purpose_or_key_are_rejected() {
    let dir = TempDir::new().unwrap();
    let server =
        make_cert(dir.path(), "server", "patient@example.net", "rsa:2048", &["-addext", "extendedKeyUsage=serverAuth"]);
    let sign_only =
        make_cert(dir.path(), "sign", "patient@example.net", "rsa:2048", &["-addext", "keyUsage=digitalSignature"]);
    let ec = make_cert(dir.path(), "ec", "patient@example.net", "ec", &["-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    let short = make_cert(dir.path(), "short", "patient@example.net", "rsa:1024", &[]);
    let now = SystemTime::now();
    assert_eq!(server.recipient().usable_for_encryption(now), Err(Unusable::ExtendedKeyUsage));
    assert_eq!(sign_only.recipient().usable_for_encryption(now), Err(Unusable::KeyUsage));
    assert_eq!(
        ec.recipient().usable_for_encryption(now),
        Err(Unusable::UnsupportedKey { algorithm: "id-ecPublicKey".into() })
    );
    assert_eq!(short.recipient().usable_for_encryption(now), Err(Unusable::WeakKey { bits: 1024 }));

    let good = patient(dir.path(), "patient").recipient();
    for strength in [Strength::Compatible, Strength::Modern] {
        let result = encrypt_mime(&message(), &[good.clone(), server.recipient()], strength);
        assert!(
            matches!(result, Err(Error::Unusable { reason: Unusable::ExtendedKeyUsage, .. })),
            "{strength:?}: {result:?}"
        );
    }
}

#[test]
fn garbage_is_refused() {
    let dir = TempDir::new().unwrap();
    let cert = patient(dir.path(), "patient").recipient();
    for garbage in [&b"garbage"[..], b"\x00\xff\x10\r\n\r\n", b"From: a@example.com\nSubject: LF only\n\nbody\n"] {
        let result = encrypt_mime(garbage, std::slice::from_ref(&cert), Strength::Compatible);
        assert!(matches!(result, Err(Error::Message(_))), "{result:?}");
    }
    assert!(matches!(encrypt_mime(&message(), &[], Strength::Compatible), Err(Error::NoRecipients)));
    assert!(matches!(RecipientCert::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n"), Err(Error::Certificate(_))));
    assert!(matches!(RecipientCert::from_der(b"\x30\x03\x02\x01\x01"), Err(Error::Certificate(_))));
}
