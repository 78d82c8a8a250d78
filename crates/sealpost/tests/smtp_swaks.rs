//! SMTP submission with a real client (swaks) against a running server
//! (R-IN-1, R-IN-4, R-IN-5, R-ID-5), plus raw conversations where swaks
//! cannot misbehave on purpose.

#[macro_use]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Opts, Server, Smtp, b64, contains, queued_id_in, sha256_hex, swaks, unique};

const MAX_SIZE: usize = 20_000;

/// A MIME message with a base64 attachment and lines that need dot-stuffing,
/// ending in CRLF. Returns (content, attachment bytes).
fn mime_message(marker: &str) -> (Vec<u8>, Vec<u8>) {
    let attachment: Vec<u8> = (0..3000).map(|_| fastrand::u8(..)).collect();
    let encoded = b64(&attachment);
    let mut wrapped = String::new();
    for chunk in encoded.as_bytes().chunks(76) {
        wrapped.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        wrapped.push_str("\r\n");
    }
    let content = format!(
        "From: Clinic <clinic@example.org>\r\n\
         To: patient@example.net\r\n\
         Subject: swaks readback {marker}\r\n\
         Message-ID: <{marker}@test.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b-{marker}\"\r\n\
         \r\n\
         --b-{marker}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         .a line starting with a dot\r\n\
         ..two dots\r\n\
         .\r\n\
         body {marker}\r\n\
         --b-{marker}\r\n\
         Content-Type: application/octet-stream; name=\"lab.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"lab.bin\"\r\n\
         \r\n\
         {wrapped}\
         --b-{marker}--\r\n"
    );
    (content.into_bytes(), attachment)
}

/// Writes `content` for `swaks --data @file`. swaks appends CRLF before the
/// terminating dot, so the file holds the content minus its final CRLF and
/// what swaks transmits (after un-stuffing) is exactly `content`.
fn write_for_swaks(dir: &Path, name: &str, content: &[u8]) -> String {
    let body = content.strip_suffix(b"\r\n").expect("content ends with CRLF");
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write message file");
    path.to_str().expect("utf-8 path").to_owned()
}

fn openssl_connect(port: u16, extra: &[&str]) -> (bool, String) {
    let addr = format!("127.0.0.1:{port}");
    // After the handshake, s_client sends QUIT and waits for the server to
    // close (-ign_eof), so the greeting and 221 are in the transcript.
    let mut child = Command::new("openssl")
        .args(["s_client", "-crlf", "-ign_eof", "-connect", &addr])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(b"QUIT\n");
    }
    let out = child.wait_with_output().expect("openssl output");
    (out.status.success(), common::text(&out))
}

fn accept_and_readback(backend: Backend) {
    let server = Server::start_with(backend, Opts { max_message_size: MAX_SIZE, ..Opts::default() });
    let work = tempfile::tempdir().expect("tempdir");
    let p = server.ports;
    let key = server.api_key.clone();

    // 1. STARTTLS + AUTH PLAIN with the API key; a self-built MIME message
    //    with an attachment and dot-leading lines; byte-exact readback.
    let marker = unique();
    let (content, attachment) = mime_message(&marker);
    assert!(content.len() < MAX_SIZE);
    let file = write_for_swaks(work.path(), "mime.eml", &content);
    let server_arg = format!("127.0.0.1:{}", p.starttls);
    let (ok, t) = swaks(&[
        "--server",
        &server_arg,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "apikey",
        "--auth-password",
        &key,
        "--from",
        "clinic@example.org",
        "--to",
        "patient@example.net",
        "--data",
        &format!("@{file}"),
    ]);
    assert!(ok, "swaks STARTTLS + AUTH PLAIN failed:\n{t}");
    assert!(t.contains("AUTH PLAIN") && t.contains("235 2.7.0"), "no AUTH PLAIN success:\n{t}");
    let id1 = queued_id_in(&t).unwrap_or_else(|| panic!("no queued id:\n{t}"));
    let stored = server.show_raw(&id1);
    assert_eq!(sha256_hex(&stored), sha256_hex(&content), "stored bytes differ from what swaks sent");
    assert!(contains(&stored, b"\r\n.a line starting with a dot\r\n..two dots\r\n.\r\n"), "dot-stuffing not undone");
    let flat: Vec<u8> = stored.iter().copied().filter(|b| *b != b'\r' && *b != b'\n').collect();
    assert!(contains(&flat, b64(&attachment).as_bytes()), "attachment base64 not in stored bytes");
    assert_eq!(server.api_state(&id1)["sha256"], sha256_hex(&content), "API sha256 of the original bytes");

    // 2. Implicit TLS + AUTH LOGIN with the admin user.
    let implicit = format!("127.0.0.1:{}", p.implicit);
    let marker2 = unique();
    let body2 = format!("implicit tls body {marker2}");
    let (ok, t) = swaks(&[
        "--server",
        &implicit,
        "--tlsc",
        "--auth",
        "LOGIN",
        "--auth-user",
        "admin",
        "--auth-password",
        &server.admin_password,
        "--from",
        "clinic@example.org",
        "--to",
        "patient@example.net",
        "--body",
        &body2,
    ]);
    assert!(ok, "swaks implicit TLS + AUTH LOGIN failed:\n{t}");
    assert!(t.contains("235 2.7.0"), "no AUTH LOGIN success:\n{t}");
    let id2 = queued_id_in(&t).unwrap_or_else(|| panic!("no queued id:\n{t}"));
    assert!(contains(&server.api_raw(&id2), body2.as_bytes()));

    // 3. swaks builds the MIME itself (--attach): the attachment's base64 is stored.
    let att_path = work.path().join("results.txt");
    let att_content = format!("lab results {} {}\n", unique(), "x".repeat(200));
    std::fs::write(&att_path, &att_content).expect("write attachment");
    let (ok, t) = swaks(&[
        "--server",
        &server_arg,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "apikey",
        "--auth-password",
        &key,
        "--from",
        "clinic@example.org",
        "--to",
        "patient@example.net",
        "--attach",
        &format!("@{}", att_path.display()),
    ]);
    assert!(ok, "swaks --attach failed:\n{t}");
    let id3 = queued_id_in(&t).unwrap_or_else(|| panic!("no queued id:\n{t}"));
    let raw3 = server.api_raw(&id3);
    let flat3: Vec<u8> = raw3.iter().copied().filter(|b| *b != b'\r' && *b != b'\n').collect();
    assert!(contains(&flat3, b64(att_content.as_bytes()).as_bytes()), "attachment base64 not stored");

    // 4. A bad password is refused with 535.
    let (ok, t) = swaks(&[
        "--server",
        &implicit,
        "--tlsc",
        "--auth",
        "LOGIN",
        "--auth-user",
        "admin",
        "--auth-password",
        "definitely-not-the-password",
        "--from",
        "clinic@example.org",
        "--to",
        "patient@example.net",
    ]);
    assert!(!ok, "a wrong password was accepted:\n{t}");
    assert!(t.contains("535 5.7.8"), "expected 535:\n{t}");
    assert!(queued_id_in(&t).is_none());

    // 5. Oversize: 552 and nothing stored.
    let before = server.stored();
    let mut big = format!("From: clinic@example.org\r\nTo: patient@example.net\r\nSubject: big {}\r\n\r\n", unique());
    while big.len() <= MAX_SIZE + 5000 {
        big.push_str(&"y".repeat(70));
        big.push_str("\r\n");
    }
    let big_file = write_for_swaks(work.path(), "big.eml", big.as_bytes());
    let (ok, t) = swaks(&[
        "--server",
        &server_arg,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "apikey",
        "--auth-password",
        &key,
        "--from",
        "clinic@example.org",
        "--to",
        "patient@example.net",
        "--data",
        &format!("@{big_file}"),
    ]);
    assert!(!ok, "oversize message accepted:\n{}", &t[t.len().saturating_sub(500)..]);
    assert!(t.contains("552 5.3.4"), "expected 552 5.3.4:\n{}", &t[t.len().saturating_sub(500)..]);
    assert_eq!(server.stored(), before, "an oversize message left rows or events behind");

    // 6. AUTH before TLS is refused (538 5.7.11); AUTH is not advertised.
    let mut s = Smtp::connect(p.starttls);
    let ehlo = s.expect("EHLO client.example", 250);
    assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"), "STARTTLS not offered: {ehlo:?}");
    assert!(!ehlo.lines.iter().any(|l| l.starts_with("AUTH")), "AUTH advertised before TLS: {ehlo:?}");
    let plain = b64(format!("\0apikey\0{key}").as_bytes());
    let r = s.cmd(&format!("AUTH PLAIN {plain}"));
    assert_eq!((r.code, r.lines[0].starts_with("5.7.11")), (538, true), "AUTH before TLS: {r:?}");
    let r = s.cmd("AUTH LOGIN");
    assert_eq!(r.code, 538, "AUTH LOGIN before TLS: {r:?}");

    // 7. Plaintext on the STARTTLS port: MAIL without STARTTLS -> 530.
    let r = s.cmd("MAIL FROM:<clinic@example.org>");
    assert_eq!(r.code, 530, "MAIL without STARTTLS: {r:?}");
    assert!(r.lines[0].starts_with("5.7.0"), "{r:?}");
    let r = s.cmd("RCPT TO:<patient@example.net>");
    assert_eq!(r.code, 503, "RCPT after a refused MAIL: {r:?}");
    s.expect("QUIT", 221);

    // 8. TLS 1.0/1.1 refused on both TLS listeners; TLS 1.2 works (control).
    //    SECLEVEL=0 makes the client willing to offer the old versions, so a
    //    failure is the server's refusal.
    for old in ["-tls1_1", "-tls1"] {
        let (ok, out) = openssl_connect(p.implicit, &[old, "-cipher", "DEFAULT:@SECLEVEL=0"]);
        assert!(!ok && out.contains("Cipher is (NONE)"), "{old} handshake succeeded on implicit TLS:\n{out}");
        assert!(out.contains("handshake failure") || out.contains("alert"), "{old}: {out}");
        let (ok, out) = openssl_connect(p.starttls, &["-starttls", "smtp", old, "-cipher", "DEFAULT:@SECLEVEL=0"]);
        assert!(!ok && out.contains("Cipher is (NONE)"), "{old} handshake succeeded after STARTTLS:\n{out}");
    }
    let (_, out) = openssl_connect(p.implicit, &["-tls1_2"]);
    assert!(
        out.contains("New, TLSv1.2, Cipher is") && out.contains("220 ") && out.contains("221 "),
        "TLS 1.2 control failed:\n{out}"
    );

    // 9. Relay listener: a trusted client sends without AUTH.
    let relay = format!("127.0.0.1:{}", p.relay);
    let marker9 = unique();
    let relay_content = common::simple_message("relay", &format!("relayed body {marker9}"));
    let relay_file = write_for_swaks(work.path(), "relay.eml", &relay_content);
    let (ok, t) = swaks(&[
        "--server",
        &relay,
        "--from",
        "scanner@example.org",
        "--to",
        "patient@example.net",
        "--data",
        &format!("@{relay_file}"),
    ]);
    assert!(ok, "relay without AUTH failed:\n{t}");
    let id9 = queued_id_in(&t).unwrap_or_else(|| panic!("no queued id:\n{t}"));
    assert_eq!(sha256_hex(&server.api_raw(&id9)), sha256_hex(&relay_content));

    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "audit verify: {out}");
}

both_backends!(accept_and_readback => accept_and_readback_embedded, accept_and_readback_scaleout);

fn swaks_auth(port: u16, user: &str, password: &str) -> (bool, String) {
    swaks_auth_from("127.0.0.1", port, user, password)
}

/// `swaks_auth` from another loopback address (`--local-interface`).
fn swaks_auth_from(local: &str, port: u16, user: &str, password: &str) -> (bool, String) {
    let server = format!("127.0.0.1:{port}");
    swaks(&[
        "--server",
        &server,
        "--local-interface",
        local,
        "--tlsc",
        "--auth",
        "PLAIN",
        "--auth-user",
        user,
        "--auth-password",
        password,
        "--from",
        "clinic@example.org",
        "--to",
        "patient@example.net",
        "--body",
        "lockout test",
    ])
}

/// After `max_failures` failures, even the right credentials fail until the
/// lockout window has passed (R-ID-5).
#[test]
fn lockout_after_repeated_failures() {
    const LOCKOUT: u64 = 4;
    let server =
        Server::start_with(Backend::Embedded, Opts { max_failures: 3, lockout_seconds: LOCKOUT, ..Opts::default() });
    let port = server.ports.implicit;
    let key = server.api_key.clone();

    let (ok, t) = swaks_auth(port, "apikey", &key);
    assert!(ok && queued_id_in(&t).is_some(), "the right key must work first:\n{t}");

    // A wrong key of the right shape, and garbage.
    let wrong = format!("{}x", &key[..key.len() - 1]);
    let started = Instant::now();
    for attempt in [wrong.as_str(), "sp_nonsense", wrong.as_str()] {
        let (ok, t) = swaks_auth(port, "apikey", attempt);
        assert!(!ok && t.contains("535 5.7.8"), "wrong key not refused with 535:\n{t}");
    }
    assert!(started.elapsed() < Duration::from_secs(LOCKOUT), "failures too slow for the window");
    let locked_at = Instant::now();

    // Locked: the right key is refused, and so is the admin from this address.
    let (ok, t) = swaks_auth(port, "apikey", &key);
    assert!(!ok && t.contains("535"), "right key accepted during lockout:\n{t}");
    assert!(queued_id_in(&t).is_none());
    let (ok, t) = swaks_auth(port, "admin", &server.admin_password);
    assert!(!ok && t.contains("535"), "admin accepted from a locked-out address:\n{t}");
    assert!(server.count_action_db("login.locked_out") >= 1, "no login.locked_out audit event");

    // After the window, the right key works again.
    let wait = Duration::from_secs(LOCKOUT) + Duration::from_millis(700);
    if let Some(rest) = wait.checked_sub(locked_at.elapsed()) {
        std::thread::sleep(rest);
    }
    let (ok, t) = swaks_auth(port, "apikey", &key);
    assert!(ok && queued_id_in(&t).is_some(), "right key still refused after the lockout window:\n{t}");
}

/// Issue 13.6: every API-key SMTP login uses the user name `apikey`; counting
/// failures by that name let a few bad attempts from anywhere lock every
/// tenant out. Failures count by key id and client address: bad keys from
/// one address lock that address (and a guessed key id), not other clients.
#[test]
fn bad_api_keys_from_one_client_do_not_lock_out_the_others() {
    let server = Server::start_with(Backend::Embedded, Opts { max_failures: 3, ..Opts::default() });
    let port = server.ports.implicit;
    let other_tenant_key = server.create_api_key("default", "send");
    let wrong = format!("{}x", &other_tenant_key[..other_tenant_key.len() - 1]);
    for attempt in [wrong.as_str(), "sp_nonsense", wrong.as_str(), wrong.as_str()] {
        let (ok, t) = swaks_auth_from("127.0.0.2", port, "apikey", attempt);
        assert!(!ok && t.contains("535"), "a wrong key was not refused:\n{t}");
    }
    // The attacking address is locked out, even with a right key...
    let (ok, t) = swaks_auth_from("127.0.0.2", port, "apikey", &server.api_key);
    assert!(!ok && t.contains("535"), "the attacking address was not locked out:\n{t}");
    // ...but another client's key works from its own address.
    let (ok, t) = swaks_auth(port, "apikey", &server.api_key);
    assert!(ok && queued_id_in(&t).is_some(), "one client's bad keys locked out another:\n{t}");
}
