//! PGP/MIME output against the real peer: GnuPG 2.2 decrypts what
//! `encrypt_mime` wrote, with keys GnuPG generated.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

use sealpost_openpgp::{Error, RecipientKey, encrypt_mime};

const BODY_TEXT: &str = "Your HbA1c result is 6.1 percent; see the attached report.";
const SUBJECT: &str = "Lab results for Jane Roe";
/// Inside the base64 attachment only: must never be readable outside.
const PLANTED: &str = "PLANTED-MRN-0048151623";

/// A throwaway GnuPG home. Dropping it stops its gpg-agent, so no process
/// outlives the test, even when an assertion fails.
struct GnuPg {
    home: tempfile::TempDir,
}

impl GnuPg {
    fn new() -> Self {
        let version = Command::new("gpg").arg("--version").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "GnuPG (gpg) is not installed: run scripts/setup-test-env.sh as root"
        );
        let home = tempfile::tempdir().unwrap();
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        Self { home }
    }

    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--no-tty", "--passphrase", ""])
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn run_ok(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "gpg {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Generates a key (`extra` are the options before `--quick-gen-key`, e.g.
    /// a faked time) and returns its armored public key.
    fn generate(&self, extra: &[&str], uid: &str, algo: &str, usage: &str, expire: &str) -> String {
        let mut args = extra.to_vec();
        args.extend(["--quick-gen-key", uid, algo, usage, expire]);
        self.run_ok(&args, None);
        let exported = self.run_ok(&["--armor", "--export", uid], None);
        String::from_utf8(exported.stdout).unwrap()
    }

    /// Decrypts the armored OpenPGP message; returns the plaintext and the
    /// status lines (`--status-fd`).
    fn decrypt(&self, armored: &str) -> (Vec<u8>, String) {
        let out = self.run_ok(&["--status-fd", "2", "--decrypt"], Some(armored.as_bytes()));
        (out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl Drop for GnuPg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A multipart/mixed message: a text body and a base64 attachment that
/// contains `PLANTED`.
fn sample_message() -> Vec<u8> {
    let attachment = format!("Report for patient\r\nMRN: {PLANTED}\r\nHbA1c 6.1\r\n");
    let encoded = base64(attachment.as_bytes());
    let lines: Vec<&str> = encoded.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!(
        "From: Dr Ann Smith <ann@clinic.example.org>\r\n\
To: Patient <patient@example.net>\r\n\
Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\
Message-ID: <abc123@clinic.example.org>\r\n\
Subject: {SUBJECT}\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"inner-boundary\"\r\n\
\r\n\
--inner-boundary\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
{BODY_TEXT}\r\n\
--inner-boundary\r\n\
Content-Type: application/octet-stream; name=\"report.txt\"\r\n\
Content-Disposition: attachment; filename=\"report.txt\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{}\r\n\
--inner-boundary--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

/// The armored OpenPGP message inside the output's application/octet-stream
/// part, with the checks RFC 3156 §4 asks of the structure.
fn armored_part(outer: &str) -> String {
    let header = outer.split("\r\n\r\n").next().unwrap();
    assert!(header.contains("Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";"), "{header}");
    let boundary = header.split("boundary=\"").nth(1).unwrap().split('"').next().unwrap();
    let parts: Vec<&str> = outer.split(&format!("--{boundary}")).collect();
    assert_eq!(parts.len(), 4, "preamble, two parts, epilogue");
    assert!(parts[1].contains("Content-Type: application/pgp-encrypted\r\n"));
    assert!(parts[1].contains("\r\n\r\nVersion: 1\r\n"));
    assert!(parts[2].contains("Content-Type: application/octet-stream"));
    assert_eq!(parts[3], "--\r\n");
    let start = parts[2].find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = parts[2].find("-----END PGP MESSAGE-----").unwrap() + "-----END PGP MESSAGE-----".len();
    parts[2][start..end].to_string()
}

fn assert_crlf_only(bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
}

fn assert_outer_reveals_nothing(outer: &str) {
    for secret in [BODY_TEXT, PLANTED, SUBJECT, "report.txt", "inner-boundary"] {
        assert!(!outer.contains(secret), "outer message contains {secret:?}");
    }
    let header = outer.split("\r\n\r\n").next().unwrap();
    assert!(header.contains("\r\nSubject: ...\r\n"), "{header}");
    for routing in [
        "From: Dr Ann Smith <ann@clinic.example.org>\r\n",
        "To: Patient <patient@example.net>\r\n",
        "Message-ID: <abc123@clinic.example.org>\r\n",
        "MIME-Version: 1.0\r\n",
    ] {
        assert!(header.contains(routing), "{routing:?} missing in {header}");
    }
}

/// The decrypted inner entity shows the original message.
fn assert_inner_is_original(inner: &[u8]) {
    let inner = String::from_utf8(inner.to_vec()).unwrap();
    assert!(inner.contains(&format!("Subject: {SUBJECT}\r\n")), "{inner}");
    assert!(inner.contains("From: Dr Ann Smith <ann@clinic.example.org>\r\n"));
    assert!(inner.contains("protected-headers=\"v1\""));
    assert!(inner.contains(BODY_TEXT));
    let original = String::from_utf8(sample_message()).unwrap();
    let original_body = original.split_once("\r\n\r\n").unwrap().1;
    let inner_body = inner.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(inner_body, original_body, "body must be unchanged");
    // The attachment decodes to the planted string.
    let attachment_b64 = base64(format!("Report for patient\r\nMRN: {PLANTED}\r\nHbA1c 6.1\r\n").as_bytes());
    assert!(inner.replace("\r\n", "").contains(&attachment_b64));
}

/// Generates one key with `algo`/`usage`, encrypts the sample to it and has
/// GnuPG decrypt it.
fn round_trip(algo: &str, usage: &str) {
    let gpg = GnuPg::new();
    let armored_key = gpg.generate(&[], "Patient <patient@example.net>", algo, usage, "never");
    let key = RecipientKey::parse_armored(&armored_key).unwrap();
    assert!(key.can_encrypt());
    assert_eq!(key.user_ids(), ["Patient <patient@example.net>"]);
    assert_eq!(key.fingerprint().len(), 40);
    assert!(format!("{key:?}").contains(&key.fingerprint()));
    let listed = gpg.run_ok(&["--with-colons", "--fingerprint", "patient@example.net"], None);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&format!("fpr:::::::::{}:", key.fingerprint())));

    let encrypted = encrypt_mime(&sample_message(), &[key]).unwrap();
    assert_crlf_only(&encrypted);
    let outer = String::from_utf8(encrypted).unwrap();
    assert_outer_reveals_nothing(&outer);

    let (inner, status) = gpg.decrypt(&armored_part(&outer));
    // DECRYPTION_INFO <mdc method> <sym algo>: 2 = SEIPDv1 with MDC, 9 = AES-256.
    assert!(status.contains("[GNUPG:] DECRYPTION_INFO 2 9"), "{status}");
    assert!(status.contains("[GNUPG:] DECRYPTION_OKAY"), "{status}");
    assert_crlf_only(&inner);
    assert_inner_is_original(&inner);
}

#[test]
fn rsa3072_recipient_decrypts_with_gnupg() {
    round_trip("rsa3072", "encr");
}

#[test]
fn cv25519_subkey_recipient_decrypts_with_gnupg() {
    // future-default on 2.2: an Ed25519 primary key with a Cv25519 subkey.
    round_trip("future-default", "default");
}

#[test]
fn two_recipients_each_decrypt_with_their_own_key() {
    let alice = GnuPg::new();
    let bob = GnuPg::new();
    let alice_key = alice.generate(&[], "Alice <alice@example.net>", "future-default", "default", "never");
    let bob_key = bob.generate(&[], "Bob <bob@example.net>", "rsa3072", "encr", "never");
    let keys = [RecipientKey::parse_armored(&alice_key).unwrap(), RecipientKey::parse_armored(&bob_key).unwrap()];
    let outer = String::from_utf8(encrypt_mime(&sample_message(), &keys).unwrap()).unwrap();
    assert_outer_reveals_nothing(&outer);
    let armored = armored_part(&outer);

    let packets = alice.run(&["--list-packets"], Some(armored.as_bytes()));
    let listing = String::from_utf8_lossy(&packets.stdout);
    assert_eq!(listing.matches(":pubkey enc packet:").count(), 2, "{listing}");

    for gpg in [&alice, &bob] {
        let (inner, status) = gpg.decrypt(&armored);
        assert!(status.contains("[GNUPG:] DECRYPTION_OKAY"), "{status}");
        assert_inner_is_original(&inner);
    }
}

#[test]
fn sign_only_key_is_rejected() {
    let gpg = GnuPg::new();
    let armored = gpg.generate(&[], "Signer <signer@example.net>", "ed25519", "sign", "never");
    let key = RecipientKey::parse_armored(&armored).unwrap();
    let fingerprint = key.fingerprint();
    assert!(!key.can_encrypt());
    let err = encrypt_mime(&sample_message(), &[key]).unwrap_err();
    assert!(matches!(&err, Error::NoEncryptionKey { fingerprint: f } if *f == fingerprint), "{err:?}");
    assert_eq!(err.to_string(), format!("OpenPGP key {fingerprint} has no valid encryption-capable key or subkey"));
}

#[test]
fn expired_key_is_rejected() {
    let gpg = GnuPg::new();
    // Made in 2020 with one day of validity: expired now, encryption subkey and all.
    let armored = gpg.generate(
        &["--faked-system-time", "20200101T000000"],
        "Old <old@example.net>",
        "future-default",
        "default",
        "1d",
    );
    let key = RecipientKey::parse_armored(&armored).unwrap();
    let fingerprint = key.fingerprint();
    assert!(!key.can_encrypt());
    let err = encrypt_mime(&sample_message(), &[key]).unwrap_err();
    assert!(matches!(&err, Error::KeyExpired { fingerprint: f } if *f == fingerprint), "{err:?}");
}

#[test]
fn one_unusable_key_fails_the_whole_message() {
    let gpg = GnuPg::new();
    let good = gpg.generate(&[], "Good <good@example.net>", "future-default", "default", "never");
    let signer = gpg.generate(&[], "Signer <signer@example.net>", "ed25519", "sign", "never");
    let keys = [RecipientKey::parse_armored(&good).unwrap(), RecipientKey::parse_armored(&signer).unwrap()];
    assert!(matches!(encrypt_mime(&sample_message(), &keys), Err(Error::NoEncryptionKey { .. })));
}

#[test]
fn binary_key_parses_like_armored() {
    let gpg = GnuPg::new();
    let armored = gpg.generate(&[], "Patient <patient@example.net>", "future-default", "default", "never");
    let binary = gpg.run_ok(&["--export", "patient@example.net"], None).stdout;
    let from_binary = RecipientKey::parse_binary(&binary).unwrap();
    let from_armored = RecipientKey::parse_armored(&armored).unwrap();
    assert_eq!(from_binary.fingerprint(), from_armored.fingerprint());
    assert!(from_binary.can_encrypt());
}

#[test]
fn garbage_and_non_public_keys_are_rejected() {
    let gpg = GnuPg::new();
    let armored = gpg.generate(&[], "Patient <patient@example.net>", "future-default", "default", "never");
    let truncated = &armored[..armored.len() / 2];
    let corrupted = armored.replacen("\n", "\n!!!!", 4);
    let secret = gpg.run_ok(&["--armor", "--export-secret-keys", "patient@example.net"], None);
    let secret = String::from_utf8(secret.stdout).unwrap();
    let message = gpg.run_ok(&["--armor", "--encrypt", "--recipient", "patient@example.net"], Some(b"hello"));
    let message = String::from_utf8(message.stdout).unwrap();

    for input in ["", "not a key", truncated, &corrupted, &secret, &message] {
        let result = RecipientKey::parse_armored(input);
        assert!(
            matches!(result, Err(Error::InvalidKey { .. })),
            "accepted {:?}…: {result:?}",
            &input[..input.len().min(40)]
        );
    }
    for input in [&b""[..], b"\x99\x01\x0dgarbage", &[0xff; 64]] {
        assert!(matches!(RecipientKey::parse_binary(input), Err(Error::InvalidKey { .. })));
    }
}

#[test]
fn no_keys_and_malformed_messages_are_refused() {
    assert!(matches!(encrypt_mime(&sample_message(), &[]), Err(Error::NoRecipients)));
    let gpg = GnuPg::new();
    let armored = gpg.generate(&[], "Patient <patient@example.net>", "future-default", "default", "never");
    let key = RecipientKey::parse_armored(&armored).unwrap();
    let bare_lf = b"Subject: x\n\nbody\n";
    assert!(matches!(encrypt_mime(bare_lf, std::slice::from_ref(&key)), Err(Error::MalformedMessage(_))));
}
