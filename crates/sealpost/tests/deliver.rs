//! Delivery with adaptive encryption against real Postfix receivers
//! (issue 3, R-DL-1/2/5, R-PT-1): a message carrying PHI reaches a receiver
//! with a verified certificate over TLS; receivers without STARTTLS, with an
//! untrusted certificate, or behind a STARTTLS-stripping proxy get only a
//! PHI-free portal notification; with `tls-exclusive` nothing is sent and the
//! sender is told why, without PHI.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Opts, Server};
use sealpost_testkit::{
    DnsServer, PostfixOptions, PostfixReceiver, StarttlsStripper, TestCa, Tls, Zone, received_tls, self_signed,
    strip_trace_headers, write_pem,
};
use serde_json::{Value, json};

const SSN: &str = "078-05-1120";
const DIAGNOSIS: &str = "Acute Xylophonic Encephalitis";

fn has(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

struct Peers {
    _ca: TestCa,
    ca_path: std::path::PathBuf,
    dns: DnsServer,
    good: PostfixReceiver,
    plain: PostfixReceiver,
    untrusted: PostfixReceiver,
    sender_box: PostfixReceiver,
    _dir: tempfile::TempDir,
}

fn peers() -> Peers {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("ca");
    let ca_path = ca.write_cert(dir.path()).expect("ca file");
    let (cert_pem, key_pem) = ca.issue_chain(&["mx.good.test"]).expect("leaf");
    let good = PostfixReceiver::start(PostfixOptions::with_tls(Tls::Offered { cert_pem, key_pem })).expect("good");
    let plain = PostfixReceiver::start(PostfixOptions::with_tls(Tls::None)).expect("plain");
    let (cert_pem, key_pem) = self_signed(&["mx.untrusted.test"]).expect("self-signed");
    let untrusted =
        PostfixReceiver::start(PostfixOptions::with_tls(Tls::Offered { cert_pem, key_pem })).expect("untrusted");
    let (cert_pem, key_pem) = ca.issue_chain(&["mx.clinic.test"]).expect("leaf");
    let sender_box =
        PostfixReceiver::start(PostfixOptions::with_tls(Tls::Offered { cert_pem, key_pem })).expect("sender");
    let lo = std::net::Ipv4Addr::LOCALHOST;
    let zone = Zone::new()
        .a("mx.good.test", lo)
        .a("mx.plain.test", lo)
        .a("mx.untrusted.test", lo)
        .a("mx.strip.test", lo)
        .a("mx.clinic.test", lo);
    let dns = DnsServer::start(zone).expect("dns");
    let _ = write_pem;
    Peers { _ca: ca, ca_path, dns, good, plain, untrusted, sender_box, _dir: dir }
}

fn delivery_toml(p: &Peers, policy: &str, strip_port: u16) -> String {
    format!(
        r#"
[delivery]
enabled = true
workers = 4
name_servers = ["{dns}"]
# The test zone points MX hosts at loopback (issue 13.10: not without this).
allow_internal_mx = ["127.0.0.0/8", "::1"]
extra_ca_files = ["{ca}"]
retry_base_seconds = 1
policy = "{policy}"
portal_url = "https://portal.clinic.test/p"
notice_from = "no-reply@clinic.test"

[delivery.routes]
"good.test" = "mx.good.test:{good}"
"plain.test" = "mx.plain.test:{plain}"
"untrusted.test" = "mx.untrusted.test:{untrusted}"
"strip.test" = "mx.good.test:{strip}"
"clinic.test" = "mx.clinic.test:{sender}"
"#,
        dns = p.dns.addr(),
        ca = p.ca_path.display(),
        good = p.good.addr().port(),
        plain = p.plain.addr().port(),
        untrusted = p.untrusted.addr().port(),
        sender = p.sender_box.addr().port(),
        strip = strip_port,
    )
}

/// Waits until every recipient of `id` has left the queued/deferred states.
fn settled(server: &Server, id: &str, timeout: Duration) -> Value {
    let end = Instant::now() + timeout;
    loop {
        let state = server.api_state(id);
        let done = state["recipients"]
            .as_array()
            .is_some_and(|r| r.iter().all(|x| !matches!(x["state"].as_str(), Some("queued" | "deferred"))));
        if done || Instant::now() > end {
            return state;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn recipient<'a>(state: &'a Value, address: &str) -> &'a Value {
    state["recipients"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["address"] == address))
        .unwrap_or_else(|| panic!("no recipient {address} in {state}"))
}

fn send_phi(server: &Server, to: &[&str]) -> String {
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({
            "from": "doctor@clinic.test",
            "to": to,
            "subject": "Your results",
            "text": format!("Patient SSN {SSN}. Diagnosis: {DIAGNOSIS}, ICD-10 J45.909."),
        }),
    );
    assert_eq!(st, 202, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

/// Verifies every DKIM-Signature of `message` with dkimpy, keys from the
/// zone lines `sealpost dns records` printed. Returns the algorithms that passed.
fn dkimpy_verify_all(message: &[u8], zone: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    // Maildir stores LF line ends; the message was signed with CRLF.
    let mut crlf = Vec::new();
    for line in message.split(|&b| b == b'\n') {
        crlf.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        crlf.extend_from_slice(b"\r\n");
    }
    crlf.truncate(crlf.len() - 2);
    std::fs::write(dir.path().join("msg.eml"), &crlf).expect("write message");
    std::fs::write(dir.path().join("zone.txt"), zone).expect("write zone");
    let script = r#"
import re, sys, dkim
keys = {}
for line in open(sys.argv[1]):
    m = re.match(r'^(\S+)\s+IN\s+TXT\s+(".*")$', line.strip())
    if m and "._domainkey." in m.group(1):
        keys[m.group(1).rstrip(".").lower()] = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2)))
msg = open(sys.argv[2], "rb").read()
def dnsfunc(name, timeout=5):
    name = (name.decode() if isinstance(name, bytes) else name).rstrip(".").lower()
    v = keys.get(name)
    return v.encode() if v else None
d = dkim.DKIM(msg)
n = sum(1 for (k, v) in d.headers if k.lower() == b"dkim-signature")
for i in range(n):
    ok = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc)
    sig = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"][i]
    alg = re.search(rb"a=([a-z0-9-]+)", sig).group(1).decode()
    print(("PASS " if ok else "FAIL ") + alg)
"#;
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv-test/bin/python");
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("zone.txt"))
        .arg(dir.path().join("msg.eml"))
        .output()
        .expect("run dkimpy (scripts/setup-test-env.sh installs it into .venv-test)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "dkimpy: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("FAIL"), "a DKIM signature failed: {stdout}");
    stdout.lines().filter_map(|l| l.strip_prefix("PASS ")).map(str::to_owned).collect()
}

#[test]
fn tls_preferred_delivers_over_verified_tls_and_otherwise_notifies_without_phi() {
    let p = peers();
    let stripper = StarttlsStripper::start(p.good.addr()).expect("stripper");
    let opts = Opts { extra_toml: delivery_toml(&p, "tls-preferred", stripper.addr().port()), ..Opts::default() };
    let server = Server::start_with(Backend::Embedded, opts);
    let out = server.cli(&["keys", "dkim", "clinic.test"]);
    assert!(out.status.success(), "keys dkim: {}", common::text(&out));
    let out = server.cli(&["dns", "records", "clinic.test"]);
    assert!(out.status.success(), "dns records: {}", common::text(&out));
    let zone = String::from_utf8_lossy(&out.stdout).into_owned();
    for needle in ["v=spf1", "k=rsa", "k=ed25519", "_dmarc.clinic.test", "_mta-sts.clinic.test", "mode: enforce"] {
        assert!(zone.contains(needle), "dns records lacks {needle}: {zone}");
    }
    let id = send_phi(&server, &["pat@good.test", "pat@plain.test", "pat@untrusted.test", "pat@strip.test"]);
    let state = settled(&server, &id, Duration::from_secs(60));

    // Verified TLS: the message itself, over TLS, PHI intact.
    let good = recipient(&state, "pat@good.test");
    assert_eq!(good["state"], "delivered", "{state}");
    assert_eq!(good["method"], "tls", "{state}");
    let got = p.good.wait_for_messages(1, Duration::from_secs(30)).expect("good receiver got mail");
    let m = got.iter().find(|m| has(m, SSN)).expect("the PHI message reached the verified receiver");
    assert!(received_tls(m).is_some(), "not received over TLS");
    assert!(has(strip_trace_headers(m), "Subject: Your results"));
    let mut algs = dkimpy_verify_all(m, &zone);
    algs.sort();
    assert_eq!(algs, ["ed25519-sha256", "rsa-sha256"], "both DKIM signatures verify with dkimpy");

    // No STARTTLS, untrusted certificate, stripped STARTTLS: portal pickup;
    // the receivers see only the notification.
    for (addr, rx) in [("pat@plain.test", &p.plain), ("pat@untrusted.test", &p.untrusted)] {
        let r = recipient(&state, addr);
        assert_eq!(r["state"], "portal", "{addr}: {state}");
        assert_eq!(r["method"], "portal", "{addr}: {state}");
        let got = rx.wait_for_messages(1, Duration::from_secs(30)).expect("notification arrives");
        for m in &got {
            assert!(!has(m, SSN) && !has(m, DIAGNOSIS) && !has(m, "J45.909"), "PHI reached {addr}");
            assert!(!has(m, "Your results"), "the subject reached {addr}");
        }
        assert!(got.iter().any(|m| has(m, "https://portal.clinic.test/p/")), "{addr}: no portal link");
    }
    assert_eq!(recipient(&state, "pat@strip.test")["state"], "portal", "{state}");

    // The notification's link works (exchanged for a session, then the
    // sign-in page: the organisation, nothing of the message; the whole
    // portal flow is tests/portal.rs), a made-up token does not.
    let note = p.plain.maildir_messages().into_iter().next().expect("notification");
    let note = String::from_utf8_lossy(&note).into_owned();
    let start = note.find("https://portal.clinic.test/p/").expect("link") + "https://portal.clinic.test".len();
    let path: String = note[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "/_-".contains(*c)).collect();
    let http = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = http.get(server.url(&path)).send().expect("GET link");
    assert_eq!(r.status().as_u16(), 303, "{path}");
    let cookie = r.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("kv").to_owned();
    let r = http.get(server.url("/portal/")).header("cookie", cookie).send().expect("GET sign-in");
    assert_eq!(r.status().as_u16(), 200);
    let body = r.text().expect("body");
    assert!(body.contains("waiting") && !body.contains(SSN) && !body.contains("Your results"), "{body}");
    let (status, _) = server.get("/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "");
    assert_eq!(status, 404, "a made-up token must not resolve");
    assert!(stripper.stripped() > 0, "the proxy never stripped STARTTLS");
    assert!(!stripper.client_sent(SSN.as_bytes()), "PHI passed the STARTTLS-stripping proxy in clear");

    // Every decision is audited, and the chain verifies.
    assert!(server.count_action_db("delivery.decided") >= 4);
    assert_eq!(server.count_action_db("portal.notified"), 3);
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "{out}");
}

#[test]
fn tls_exclusive_sends_nothing_without_verified_tls_and_tells_the_sender_without_phi() {
    let p = peers();
    let opts = Opts { extra_toml: delivery_toml(&p, "tls-exclusive", 9), ..Opts::default() };
    let server = Server::start_with(Backend::Embedded, opts);
    let id = send_phi(&server, &["pat@plain.test"]);
    let state = settled(&server, &id, Duration::from_secs(60));
    assert_eq!(recipient(&state, "pat@plain.test")["state"], "bounced", "{state}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(p.plain.maildir_messages().is_empty(), "tls-exclusive sent something to a receiver without TLS");
    let notices = p.sender_box.wait_for_messages(1, Duration::from_secs(30)).expect("the sender is told");
    let n = &notices[0];
    assert!(has(n, &id), "the notice names the message id");
    assert!(has(n, "verified TLS"), "the notice says why");
    for secret in [SSN, DIAGNOSIS, "pat@plain.test", "Your results"] {
        assert!(!has(n, secret), "the failure notice carries {secret:?}");
    }
}

#[test]
fn a_recipient_with_an_openpgp_key_gets_pgp_mime_even_without_tls() {
    let p = peers();
    let opts = Opts { extra_toml: delivery_toml(&p, "tls-preferred", 9), ..Opts::default() };
    let server = Server::start_with(Backend::Embedded, opts);
    let gpg = common::Gpg::new("Patient <pat@plain.test>");
    let out = gpg.run(&["--armor", "--export", "pat@plain.test"], None);
    assert!(out.status.success());
    let key_file = gpg.home.path().join("pat.asc");
    std::fs::write(&key_file, &out.stdout).expect("write key");
    let out = server.cli(&["keys", "recipient", "add", key_file.to_str().expect("path")]);
    assert!(out.status.success(), "keys recipient add: {}", common::text(&out));
    let listed = server.cli(&["keys", "recipient", "list"]);
    assert!(common::text(&listed).contains("pgp"), "{}", common::text(&listed));
    assert!(!common::text(&listed).contains("pat@plain.test"), "the list shows an address");

    let id = send_phi(&server, &["pat@plain.test"]);
    let state = settled(&server, &id, Duration::from_secs(60));
    let r = recipient(&state, "pat@plain.test");
    assert_eq!((r["state"].as_str(), r["method"].as_str()), (Some("delivered"), Some("pgp")), "{state}");

    let got = p.plain.wait_for_messages(1, Duration::from_secs(30)).expect("delivered");
    let m = &got[0];
    assert!(received_tls(m).is_none(), "this receiver has no TLS: the test would prove nothing otherwise");
    for secret in [SSN, DIAGNOSIS, "Your results"] {
        assert!(!has(m, secret), "{secret:?} travelled in clear");
    }
    assert!(has(m, "multipart/encrypted"), "not PGP/MIME");
    let text = String::from_utf8_lossy(m);
    let start = text.find("-----BEGIN PGP MESSAGE-----").expect("armored part");
    let end = text.find("-----END PGP MESSAGE-----").expect("armor end") + "-----END PGP MESSAGE-----".len();
    let out = gpg.run(&["--batch", "--decrypt"], Some(text[start..end].as_bytes()));
    assert!(out.status.success(), "gpg --decrypt: {}", String::from_utf8_lossy(&out.stderr));
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(plain.contains(SSN) && plain.contains("Subject: Your results"), "decrypted: {plain}");
}

#[test]
fn a_recipient_with_an_smime_certificate_gets_smime_that_openssl_decrypts() {
    let p = peers();
    let opts = Opts { extra_toml: delivery_toml(&p, "tls-preferred", 9), ..Opts::default() };
    let server = Server::start_with(Backend::Embedded, opts);
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=Patient"])
        .args(["-addext", "subjectAltName=email:pat@plain.test"])
        .args(["-addext", "keyUsage=digitalSignature,keyEncipherment", "-addext", "extendedKeyUsage=emailProtection"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
    let out = server.cli(&["keys", "recipient", "add", cert.to_str().expect("path")]);
    assert!(out.status.success() && common::text(&out).contains("smime"), "add: {}", common::text(&out));

    let id = send_phi(&server, &["pat@plain.test"]);
    let state = settled(&server, &id, Duration::from_secs(60));
    let r = recipient(&state, "pat@plain.test");
    assert_eq!((r["state"].as_str(), r["method"].as_str()), (Some("delivered"), Some("smime")), "{state}");
    let got = p.plain.wait_for_messages(1, Duration::from_secs(30)).expect("delivered");
    let m = &got[0];
    for secret in [SSN, DIAGNOSIS, "Your results"] {
        assert!(!has(m, secret), "{secret:?} travelled in clear");
    }
    assert!(has(m, "application/pkcs7-mime"), "not S/MIME");
    let enc = dir.path().join("in.eml");
    std::fs::write(&enc, strip_trace_headers(m)).expect("write");
    let out = std::process::Command::new("openssl")
        .args(["cms", "-decrypt", "-in"])
        .arg(&enc)
        .arg("-recip")
        .arg(&cert)
        .arg("-inkey")
        .arg(&key)
        .output()
        .expect("openssl cms");
    assert!(out.status.success(), "openssl cms -decrypt: {}", String::from_utf8_lossy(&out.stderr));
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(plain.contains(SSN) && plain.contains("Subject: Your results"), "decrypted: {plain}");
}
