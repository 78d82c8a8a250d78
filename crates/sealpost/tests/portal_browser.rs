//! The secure portal (issue 14) in a real browser: headless Chromium, driven
//! by `tests/web/portal.py` (selenium + axe-core), against the real pages of
//! a `sealpost serve` on each storage backend.
//!
//! A PHI message with a ~1 MiB attachment goes from `doctor@clinic.test` to
//! `pat@plain.test`, whose receiver has no TLS: under the default policy it
//! goes to the portal and the patient gets a notification. The browser opens
//! the notification's link, asks for a code (mailed to the same Maildir),
//! signs in, reads the message, downloads the attachment (SHA-256 compared),
//! replies with an attachment, opens an error page and signs out, in English
//! and in Spanish. Every page is checked by axe (WCAG 2.1 A/AA), for the
//! contract's headers and cookie, and screenshotted. Then ten wrong codes lock
//! the recipient (both languages, unlocked in between), the message is
//! retracted and the link shows the expired page; an unknown link shows its
//! page. The reply reaches the clinic's receiver over verified TLS, from the
//! patient, threaded, with its attachment; the portal events and audit
//! actions are there and the audit chain verifies.
//!
//! `SEALPOST_WEB_OUT=DIR` keeps the screenshots (else a temp dir is used).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Backend, Opts, Server, b64, sha256_hex};
use sealpost_testkit::{DnsServer, PostfixOptions, PostfixReceiver, TestCa, Tls, Zone, received_tls};
use serde_json::{Value, json};

const SSN: &str = "078-05-1120";
const PATIENT: &str = "pat@plain.test";
const DOCTOR: &str = "doctor@clinic.test";
const LINK_PREFIX: &str = "https://portal.clinic.test/p/";

struct Peers {
    _ca: TestCa,
    ca_path: PathBuf,
    dns: DnsServer,
    /// The patient's receiver: no STARTTLS, so PHI goes to the portal.
    plain: PostfixReceiver,
    /// The clinic's receiver: a certificate from the test CA (verified TLS).
    clinic: PostfixReceiver,
    _dir: tempfile::TempDir,
}

fn peers() -> Peers {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("ca");
    let ca_path = ca.write_cert(dir.path()).expect("ca file");
    let plain = PostfixReceiver::start(PostfixOptions::with_tls(Tls::None)).expect("plain receiver");
    let (cert_pem, key_pem) = ca.issue_chain(&["mx.clinic.test"]).expect("leaf");
    let clinic =
        PostfixReceiver::start(PostfixOptions::with_tls(Tls::Offered { cert_pem, key_pem })).expect("clinic receiver");
    let lo = std::net::Ipv4Addr::LOCALHOST;
    let dns = DnsServer::start(Zone::new().a("mx.plain.test", lo).a("mx.clinic.test", lo)).expect("dns");
    Peers { _ca: ca, ca_path, dns, plain, clinic, _dir: dir }
}

/// Delivery on, the default policy (tls-preferred), the portal link's origin
/// fixed (it is rewritten to the test server's before the browser uses it).
fn delivery_toml(p: &Peers) -> String {
    format!(
        r#"
[delivery]
enabled = true
workers = 4
name_servers = ["{dns}"]
allow_internal_mx = ["127.0.0.0/8", "::1"]
extra_ca_files = ["{ca}"]
retry_base_seconds = 1
portal_url = "https://portal.clinic.test/p"
notice_from = "no-reply@clinic.test"

[delivery.routes]
"plain.test" = "mx.plain.test:{plain}"
"clinic.test" = "mx.clinic.test:{clinic}"
"#,
        dns = p.dns.addr(),
        ca = p.ca_path.display(),
        plain = p.plain.addr().port(),
        clinic = p.clinic.addr().port(),
    )
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `portal.py ARGS…`; returns its JSON (panics with stdout/stderr when
/// it printed none).
fn harness(args: &[&str]) -> Value {
    let root = repo_root();
    let started = Instant::now();
    let out = Command::new(root.join(".venv-test/bin/python"))
        .arg(root.join("tests/web/portal.py"))
        .args(args)
        // The machine is shared and slow: give every browser wait room.
        .env("SEALPOST_WEB_TIMEOUT", std::env::var("SEALPOST_WEB_TIMEOUT").unwrap_or_else(|_| "60".into()))
        .output()
        .expect("run tests/web/portal.py (scripts/setup-test-env.sh installs .venv-test)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("portal.py {} took {:.1}s", args[0], started.elapsed().as_secs_f64());
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("portal.py {args:?} printed no JSON ({e}):\n{stdout}\nstderr:\n{stderr}"))
}

/// The harness said ok, and every page it showed had no axe violations, no
/// header or contract problems; returns the step names.
fn assert_clean(what: &str, r: &Value) -> Vec<String> {
    let pretty = serde_json::to_string_pretty(r).unwrap_or_default();
    assert_eq!(r["ok"], true, "{what}: {pretty}");
    assert_eq!(r["errors"], json!([]), "{what}: {pretty}");
    let steps = r["steps"].as_array().unwrap_or_else(|| panic!("{what}: no steps: {pretty}"));
    for s in steps {
        let name = s["name"].as_str().unwrap_or("?");
        assert_eq!(s["axe_violations"], json!([]), "{what}/{name}: axe violations: {pretty}");
        assert_eq!(s["missing_headers"], json!([]), "{what}/{name}: header problems: {pretty}");
        assert_eq!(s["contract_problems"], json!([]), "{what}/{name}: contract problems: {pretty}");
    }
    steps.iter().map(|s| s["name"].as_str().unwrap_or_default().to_owned()).collect()
}

/// The first header `name` of `message` (continuation lines unfolded).
fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\n\n").next().unwrap_or_default();
    let mut found: Option<String> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = found.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            found = Some(v.trim().to_owned());
        }
    }
    found
}

/// (filename, SHA-256 of the decoded bytes) of every attachment, by Python's `email`.
fn attachments_of(message: &[u8]) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.eml");
    std::fs::write(&path, message).expect("write message");
    let script = r#"
import email, hashlib, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=policy.default)
for part in m.iter_attachments():
    print(part.get_filename(), hashlib.sha256(part.get_payload(decode=True)).hexdigest())
"#;
    let out = Command::new(repo_root().join(".venv-test/bin/python"))
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.rsplit_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect()
}

fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn portal_in_a_browser(backend: Backend) {
    let t0 = Instant::now();
    let p = peers();
    let server = Server::start_with(backend, Opts { extra_toml: delivery_toml(&p), ..Opts::default() });
    let kept = std::env::var_os("SEALPOST_WEB_OUT").map(|d| PathBuf::from(d).join(format!("{backend:?}")));
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = kept.unwrap_or_else(|| tmp.path().join("shots"));
    std::fs::create_dir_all(&out).expect("screenshot dir");
    let out_dir = |name: &str| out.join(name).to_string_lossy().into_owned();

    // A PHI message with a ~1 MiB attachment of known SHA-256.
    let mut rng = fastrand::Rng::with_seed(14);
    let attachment: Vec<u8> = (0..1024 * 1024 + 333).map(|_| rng.u8(..)).collect();
    let attachment_sha = sha256_hex(&attachment);
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({
            "from": DOCTOR,
            "to": [PATIENT],
            "subject": "Your lab results",
            "text": format!("Dear patient,\n\nSSN {SSN}. Diagnosis: asthma, ICD-10 J45.909.\nThe full report is attached.\n"),
            "attachments": [{"filename": "lab-results.pdf", "content_type": "application/pdf",
                             "content": b64(&attachment)}],
        }),
    );
    assert_eq!(st, 202, "{b}");
    let id = b["id"].as_str().expect("id").to_owned();

    // The notification (PHI-free) carries the link.
    let notes = p.plain.wait_for_messages(1, Duration::from_secs(60)).expect("notification");
    let note = String::from_utf8_lossy(&notes[0]).into_owned();
    assert!(!note.contains(SSN) && !note.contains("Your lab results"), "PHI in the notification: {note}");
    let start = note.find(LINK_PREFIX).unwrap_or_else(|| panic!("no portal link in {note}"));
    let path: String = note[start + LINK_PREFIX.len() - "/p/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "/_-".contains(*c))
        .collect();
    let link = server.url(&path);
    let base = server.url("");
    let state = server.api_state(&id);
    assert_eq!(state["recipients"][0]["state"], "portal", "{state}");

    let reply_file = tmp.path().join("reply-scan.bin");
    let reply_bytes: Vec<u8> = (0..150_000).map(|_| rng.u8(..)).collect();
    std::fs::write(&reply_file, &reply_bytes).expect("reply attachment");
    let reply_sha = sha256_hex(&reply_bytes);
    let maildir = p.plain.maildir().to_string_lossy().into_owned();
    let reply_arg = reply_file.to_string_lossy().into_owned();

    // The whole flow, in English and in Spanish.
    for lang in ["en", "es"] {
        let shots = out_dir(&format!("flow-{lang}"));
        let r = harness(&[
            "flow",
            "--base",
            &base,
            "--link",
            &link,
            "--maildir",
            &maildir,
            "--attachment-sha256",
            &attachment_sha,
            "--reply-attachment",
            &reply_arg,
            "--out",
            &shots,
            "--to",
            PATIENT,
            "--lang",
            lang,
            "--error-page",
            "--signout",
        ]);
        let steps = assert_clean(&format!("flow {lang}"), &r);
        assert_eq!(
            steps,
            ["sign-in", "code-entry", "inbox", "message", "attachment", "reply", "sent", "error", "signed-out"],
            "flow {lang}"
        );
        assert_eq!(r["download_sha256"], attachment_sha.as_str(), "flow {lang}");
        let shots = std::fs::read_dir(&shots).expect("screenshots").count();
        assert!(shots >= 8, "flow {lang}: {shots} screenshots");
    }

    // The replies reach the clinic over verified TLS, from the patient,
    // threaded, with the attachment byte-exact.
    let got = p.clinic.wait_for_messages(2, Duration::from_secs(60)).expect("the replies reach the clinic");
    let replies: Vec<&Vec<u8>> = got
        .iter()
        .filter(|m| header(&String::from_utf8_lossy(m), "From").is_some_and(|f| f.contains(PATIENT)))
        .collect();
    assert_eq!(replies.len(), 2, "{} messages at the clinic, {} from the patient", got.len(), replies.len());
    for m in replies {
        let text = String::from_utf8_lossy(m);
        assert!(received_tls(m).is_some(), "a reply was not received over TLS:\n{text}");
        assert!(header(&text, "In-Reply-To").is_some_and(|v| v.contains('@')), "no In-Reply-To:\n{text}");
        assert!(header(&text, "To").is_some_and(|v| v.contains(DOCTOR)), "not to the doctor:\n{text}");
        assert!(text.contains("browser test reply"), "the reply's text is missing");
        let atts = attachments_of(m);
        assert_eq!(atts, [("reply-scan.bin".to_owned(), reply_sha.clone())], "reply attachments");
    }

    // The recipient's portal events, and the audit trail.
    let state = server.api_state(&id);
    let events: Vec<&str> = state["recipients"][0]["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["event"].as_str()).collect())
        .unwrap_or_default();
    for want in ["portal_opened", "portal_downloaded", "portal_replied"] {
        assert!(events.contains(&want), "no {want} in {state}");
    }
    for action in ["portal.viewed", "portal.downloaded", "portal.replied", "portal.signed_in", "portal.signed_out"] {
        assert!(server.count_action_db(action) >= 1, "no {action} in the audit log");
    }

    // Ten wrong codes lock the recipient (main#locked), in both languages.
    for lang in ["en", "es"] {
        let r = harness(&[
            "lockout",
            "--base",
            &base,
            "--link",
            &link,
            "--lang",
            lang,
            "--out",
            &out_dir(&format!("locked-{lang}")),
        ]);
        let steps = assert_clean(&format!("lockout {lang}"), &r);
        assert_eq!(steps, ["code-error", "locked"], "lockout {lang}");
        assert_eq!(r["failures"], 10, "lockout {lang}");
        let (st, b) = server.post("/v1/portal/unlock", &server.api_key, &json!({"address": PATIENT}));
        assert_eq!((st, &b["was_locked"]), (200, &json!(true)), "unlock: {b}");
    }
    assert!(server.count_action_db("portal.locked_out") >= 2, "lockouts not audited");

    // An unknown link has its own page.
    for lang in ["en", "es"] {
        let r = harness(&[
            "axe",
            "--url",
            &server.url("/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "--lang",
            lang,
            "--out",
            &out_dir(&format!("unknown-{lang}")),
        ]);
        assert_clean(&format!("unknown link {lang}"), &r);
        let markers = r["markers"].as_array().cloned().unwrap_or_default();
        assert!(markers.contains(&json!("main#expired")), "unknown link {lang}: {r}");
        assert!(!markers.contains(&json!("form#resend-form")), "unknown link {lang}: {r}");
    }

    // Retracted: the link now shows the expired page, with a way to ask for it again.
    let (st, b) = server.post(&format!("/v1/messages/{id}/retract"), &server.api_key, &json!({}));
    assert_eq!((st, &b["retracted"]), (200, &json!(1)), "retract: {b}");
    for lang in ["en", "es"] {
        let r = harness(&["axe", "--url", &link, "--lang", lang, "--out", &out_dir(&format!("expired-{lang}"))]);
        assert_clean(&format!("expired {lang}"), &r);
        let markers = r["markers"].as_array().cloned().unwrap_or_default();
        for want in ["main#expired", "form#resend-form"] {
            assert!(markers.contains(&json!(want)), "expired {lang}: no {want}: {r}");
        }
    }
    wait_until(Duration::from_secs(10), "portal.retracted audited", || server.count_action_db("portal.retracted") >= 1);

    let (code, verify) = server.audit_verify();
    assert_eq!(code, 0, "audit verify: {verify}");
    eprintln!("portal_browser {backend:?}: {:.1}s, screenshots in {}", t0.elapsed().as_secs_f64(), out.display());
}

#[test]
fn portal_in_a_real_browser_embedded() {
    portal_in_a_browser(Backend::Embedded);
}

#[test]
fn portal_in_a_real_browser_scale_out() {
    portal_in_a_browser(Backend::ScaleOut);
}
