//! The secure portal over plain HTTP form posts, no JavaScript (issue 14,
//! R-PT-1..4, R-PT-6): a PHI message to a recipient without TLS is held
//! for the portal; the PHI-free notification and the one-time code are
//! taken from a real Postfix receiver; the recipient exchanges the link,
//! signs in with the code, reads, downloads byte-exact, and replies with
//! an attachment, which reaches the clinic's own receiver over verified
//! TLS, archived and threaded. Around it: wrong, reused and expired codes,
//! lockout and unlock, CSRF and origin refusals, another recipient's
//! session kept out, retraction, the headers on every response, and the
//! canary PHI nowhere in logs or in plain text on disk.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Backend, Opts, Server, files_under, read_file, sha256_hex, wait_until};
use reqwest::blocking::{Client, Response, multipart};
use sealpost_testkit::{DnsServer, PostfixOptions, PostfixReceiver, TestCa, Tls, Zone, received_tls};
use serde_json::json;

const SSN: &str = "078-05-1120";
const REPLY_CANARY: &str = "Reply canary: my MRN is 88-421-7781";

struct Peers {
    _ca: TestCa,
    ca_path: std::path::PathBuf,
    dns: DnsServer,
    patients: PostfixReceiver,
    clinic: PostfixReceiver,
    _dir: tempfile::TempDir,
}

fn peers() -> Peers {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("ca");
    let ca_path = ca.write_cert(dir.path()).expect("ca file");
    let patients = PostfixReceiver::start(PostfixOptions::with_tls(Tls::None)).expect("patients");
    let (cert_pem, key_pem) = ca.issue_chain(&["mx.clinic.test"]).expect("leaf");
    let clinic = PostfixReceiver::start(PostfixOptions::with_tls(Tls::Offered { cert_pem, key_pem })).expect("clinic");
    let lo = std::net::Ipv4Addr::LOCALHOST;
    let dns = DnsServer::start(Zone::new().a("mx.plain.test", lo).a("mx.clinic.test", lo)).expect("dns");
    Peers { _ca: ca, ca_path, dns, patients, clinic, _dir: dir }
}

fn toml(p: &Peers) -> String {
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
"plain.test" = "mx.plain.test:{patients}"
"clinic.test" = "mx.clinic.test:{clinic}"
"#,
        dns = p.dns.addr(),
        ca = p.ca_path.display(),
        patients = p.patients.addr().port(),
        clinic = p.clinic.addr().port(),
    )
}

/// A browser without JavaScript: follows no redirects by itself, keeps the
/// portal's cookies, sends what a same-origin form post sends.
struct Browser {
    http: Client,
    base: String,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new(server: &Server) -> Browser {
        let http = Client::builder()
            .danger_accept_invalid_certs(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Browser { http, base: server.url(""), cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, r: &Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().expect("ascii cookie");
            if v.starts_with("__Host-sealpost_portal=") {
                for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
                    assert!(v.contains(attr), "session cookie without {attr}: {v}");
                }
            }
            let (kv, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').expect("cookie");
            if val.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    fn get(&mut self, path: &str) -> (u16, Option<String>, String) {
        let r =
            self.http.get(format!("{}{path}", self.base)).header("cookie", self.cookie_header()).send().expect("GET");
        self.finish(r)
    }

    fn get_bytes(&mut self, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let r =
            self.http.get(format!("{}{path}", self.base)).header("cookie", self.cookie_header()).send().expect("GET");
        assert_security_headers(&r);
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, headers, r.bytes().expect("body").to_vec())
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, Option<String>, String) {
        self.post_from(path, form, "same-origin")
    }

    fn post_from(&mut self, path: &str, form: &[(&str, &str)], site: &str) -> (u16, Option<String>, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("sec-fetch-site", site)
            .form(form)
            .send()
            .expect("POST");
        self.finish(r)
    }

    fn post_multipart(&mut self, path: &str, form: multipart::Form) -> (u16, Option<String>, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("sec-fetch-site", "same-origin")
            .multipart(form)
            .send()
            .expect("POST");
        self.finish(r)
    }

    fn finish(&mut self, r: Response) -> (u16, Option<String>, String) {
        assert_security_headers(&r);
        self.keep(&r);
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|l| l.to_str().expect("location").to_owned());
        (status, location, r.text().expect("body"))
    }

    fn session(&self) -> Option<String> {
        self.cookies.get("__Host-sealpost_portal").cloned()
    }
}

fn assert_security_headers(r: &Response) {
    let h = r.headers();
    let csp = h.get("content-security-policy").map(|v| v.to_str().unwrap_or("")).unwrap_or("");
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{}: CSP {csp:?}", r.url());
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    for (name, want) in [("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer")] {
        assert_eq!(h.get(name).map(|v| v.to_str().unwrap_or("")), Some(want), "{}: {name}", r.url());
    }
    assert!(h.contains_key("strict-transport-security"), "{}: HSTS", r.url());
    if !r.url().path().ends_with(".css") {
        assert_eq!(h.get("cache-control").map(|v| v.to_str().unwrap_or("")), Some("no-store"), "{}", r.url());
    }
}

/// The value of the first `name="csrf"` hidden input.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().expect("csrf value").to_owned()
}

/// Every `href="/portal/m/..."` of the inbox, in order.
fn message_links(page: &str) -> Vec<String> {
    page.match_indices("class=\"message-link\" href=\"")
        .map(|(i, m)| page[i + m.len()..].split('"').next().expect("href").to_owned())
        .collect()
}

/// The messages in a maildir addressed to `to`, oldest first (Postfix
/// delivers one file per message).
fn mail_to(receiver: &PostfixReceiver, to: &str) -> Vec<String> {
    receiver
        .maildir_messages()
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .filter(|m| m.lines().any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to)))
        .collect()
}

fn wait_mail(receiver: &PostfixReceiver, to: &str, n: usize, what: &str) -> Vec<String> {
    wait_until(Duration::from_secs(60), what, || mail_to(receiver, to).len() >= n);
    mail_to(receiver, to)
}

/// The portal link's path (`/p/TOKEN`) in a notification.
fn link_path(notification: &str) -> String {
    let start = notification.find("https://portal.clinic.test/p/").expect("link") + "https://portal.clinic.test".len();
    notification[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "/_-".contains(*c)).collect()
}

/// The six-digit code in a code mail.
fn code_in(mail: &str) -> String {
    let body = mail.split("\n\n").skip(1).collect::<Vec<_>>().join("\n\n");
    let digits: Vec<&str> = body.split(|c: char| !c.is_ascii_digit()).filter(|w| w.len() == 6).collect();
    digits.first().expect("a six-digit code").to_string()
}

fn is_code_mail(m: &str) -> bool {
    m.contains("Subject: Your sign-in code") || m.contains("Subject: =?utf-8")
}

/// Signs `b` in from its pending session: asks for a code, waits for it,
/// enters it. Returns the code used.
fn sign_in(b: &mut Browser, server: &Server, p: &Peers, to: &str) -> String {
    let (st, _, page) = b.get("/portal/");
    assert_eq!(st, 200, "{page}");
    let before = mail_to(&p.patients, to).into_iter().filter(|m| is_code_mail(m)).count();
    let (st, loc, body) = b.post("/portal/code", &[("csrf", &csrf(&page))]);
    assert_eq!((st, loc.as_deref()), (303, Some("/portal/verify")), "{body}");
    wait_until(Duration::from_secs(60), "the code mail", || {
        mail_to(&p.patients, to).into_iter().filter(|m| is_code_mail(m)).count() > before
    });
    let mail = mail_to(&p.patients, to).into_iter().rfind(|m| is_code_mail(m)).expect("code mail");
    assert!(!mail.contains(SSN) && !mail.contains("Your results"), "PHI in the code mail:\n{mail}");
    let code = code_in(&mail);
    let (_, _, page) = b.get("/portal/verify");
    let pending = b.session();
    let (st, loc, body) = b.post("/portal/verify", &[("csrf", &csrf(&page)), ("code", &code)]);
    assert_eq!((st, loc.as_deref()), (303, Some("/portal/")), "{body}");
    assert_ne!(b.session(), pending, "the session id changes at sign-in");
    let _ = server;
    code
}

fn portal_flow(backend: Backend) {
    let p = peers();
    let server = Server::start_with(backend, Opts { extra_toml: toml(&p), ..Opts::default() });
    let attachment: Vec<u8> = (0..300_000u32).flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()).collect();
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({
            "from": "doctor@clinic.test",
            "to": ["pat@plain.test", "pat2@plain.test"],
            "subject": "Your results",
            "text": format!("Patient SSN {SSN}. Your results are attached."),
            "attachments": [{ "filename": "résultats labo.pdf", "content_type": "application/pdf", "content": common::b64(&attachment) }],
        }),
    );
    assert_eq!(st, 202, "{b}");
    let id = b["id"].as_str().expect("id").to_owned();
    let note = wait_mail(&p.patients, "pat@plain.test", 1, "the notification").remove(0);
    assert!(!note.contains(SSN) && !note.contains("Your results"), "PHI in the notification:\n{note}");
    let path = link_path(&note);
    let note2 = wait_mail(&p.patients, "pat2@plain.test", 1, "the second notification").remove(0);
    let path2 = link_path(&note2);

    // The link: exchanged at once, the browser sent on without the token.
    let mut b = Browser::new(&server);
    let (st, loc, _) = b.get(&path);
    assert_eq!((st, loc.as_deref()), (303, Some("/portal/")));
    assert!(b.session().is_some(), "a session cookie");
    let (st, _, page) = b.get("/portal/");
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("Default organization") && page.contains("send-code"), "{page}");
    assert!(!page.contains(SSN) && !page.contains("Your results"), "PHI before sign-in:\n{page}");
    assert!(!page.contains(&path[3..]), "the token is not on the page");
    let (st, _, _) = b.get("/portal/m/01912345-6789-7abc-8def-0123456789ab");
    assert_eq!(st, 303, "no message before sign-in");

    // CSRF: no token, a wrong one, or a cross-site post is refused.
    let token = csrf(&page);
    assert_eq!(b.post("/portal/code", &[]).0, 403);
    assert_eq!(b.post("/portal/code", &[("csrf", "forged")]).0, 403);
    assert_eq!(b.post_from("/portal/code", &[("csrf", &token)], "cross-site").0, 403);

    // A wrong code fails with the error tied to the field; the right one signs in.
    let (st, _, _) = b.post("/portal/code", &[("csrf", &token)]);
    assert_eq!(st, 303);
    let code_mail = wait_mail(&p.patients, "pat@plain.test", 2, "the code").into_iter().rfind(|m| is_code_mail(m));
    let code = code_in(&code_mail.expect("code mail"));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (st, _, page) = b.post("/portal/verify", &[("csrf", &token), ("code", wrong)]);
    assert_eq!(st, 400, "{page}");
    assert!(page.contains("id=\"code-error\"") && page.contains("aria-invalid=\"true\""), "{page}");
    assert!(page.contains("aria-describedby=\"code-error code-hint\""), "{page}");
    let pending = b.session();
    let (st, loc, _) = b.post("/portal/verify", &[("csrf", &token), ("code", &code)]);
    assert_eq!((st, loc.as_deref()), (303, Some("/portal/")));
    assert_ne!(b.session(), pending, "rotated at sign-in");
    // The pending session is gone; reusing the code elsewhere fails.
    let mut again = Browser::new(&server);
    again.get(&path);
    let (_, _, page) = again.get("/portal/");
    let (st, _, page) = again.post("/portal/verify", &[("csrf", &csrf(&page)), ("code", &code)]);
    assert_eq!(st, 400, "a used code must fail:\n{page}");

    // Inbox, message, attachment.
    let (st, _, inbox) = b.get("/portal/");
    assert_eq!(st, 200);
    let links = message_links(&inbox);
    assert_eq!(links.len(), 1, "{inbox}");
    assert!(inbox.contains("Your results"), "{inbox}");
    let (st, _, page) = b.get(&links[0]);
    assert_eq!(st, 200, "{page}");
    assert!(page.contains(SSN), "the signed-in recipient reads the message");
    let at = page.find("class=\"attachment\" href=\"").expect("attachment link") + "class=\"attachment\" href=\"".len();
    let href = page[at..].split('"').next().expect("href").to_owned();
    let (st, headers, bytes) = b.get_bytes(&href);
    assert_eq!(st, 200);
    assert_eq!(sha256_hex(&bytes), sha256_hex(&attachment), "byte-exact download");
    let disposition = headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("filename*=UTF-8''r%C3%A9sultats"),
        "{disposition}"
    );

    // Reply with an attachment: it reaches the clinic over verified TLS.
    let reply_file = b"lab order scan".repeat(1000);
    let (_, _, form_page) = b.get(&format!("{}/reply", links[0]));
    let form =
        multipart::Form::new().text("csrf", csrf(&form_page)).text("body", format!("Thank you. {REPLY_CANARY}")).part(
            "attachment",
            multipart::Part::bytes(reply_file.clone()).file_name("scan.txt").mime_str("text/plain").unwrap(),
        );
    let (st, loc, body) = b.post_multipart(&format!("{}/reply", links[0]), form);
    assert_eq!(st, 303, "{body}");
    assert_eq!(loc.as_deref(), Some(format!("{}?sent=1", links[0]).as_str()));
    let (_, _, page) = b.get(&format!("{}?sent=1", links[0]));
    assert!(page.contains("id=\"notice\""), "{page}");
    let replies = p.clinic.wait_for_messages(1, Duration::from_secs(60)).expect("the reply at the clinic");
    let reply = String::from_utf8_lossy(&replies[0]).into_owned();
    assert!(reply.contains("From: pat@plain.test") || reply.contains("From: <pat@plain.test>"), "{reply}");
    assert!(reply.contains("In-Reply-To:") && reply.contains("Subject: Re: Your results"), "{reply}");
    assert!(reply.contains("scan.txt"), "the reply's attachment: {reply}");
    assert!(received_tls(&replies[0]).is_some(), "the reply travelled over TLS:\n{reply}");

    // Events on the message, for this recipient.
    let state = server.api_state(&id);
    let pat = state["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .find(|r| r["address"] == "pat@plain.test")
        .expect("pat");
    let events: Vec<&str> =
        pat["events"].as_array().expect("events").iter().filter_map(|e| e["event"].as_str()).collect();
    for e in ["portal_notified", "portal_opened", "portal_downloaded", "portal_replied"] {
        assert!(events.contains(&e), "{e} missing: {events:?}");
    }
    assert_eq!(events.iter().filter(|e| **e == "portal_opened").count(), 1, "first view only: {events:?}");

    // A second recipient: locked out by wrong codes, unlocked by the admin,
    // signed in, and still cannot open the first one's message.
    let mut b2 = Browser::new(&server);
    b2.get(&path2);
    let (_, _, page) = b2.get("/portal/");
    let t2 = csrf(&page);
    assert_eq!(b2.post("/portal/code", &[("csrf", &t2)]).0, 303);
    // Its code mail arrives before the lockout makes it useless (so the
    // code counted later is the next one).
    wait_mail(&p.patients, "pat2@plain.test", 2, "pat2's first code");
    let mut last = (0, String::new());
    for i in 0..10 {
        let (st, _, page) = b2.post("/portal/verify", &[("csrf", &t2), ("code", &format!("{:06}", 999_990 + i))]);
        last = (st, page);
    }
    assert_eq!(last.0, 403, "locked after 10 failures: {}", last.1);
    assert!(last.1.contains("id=\"locked\""), "{}", last.1);
    assert_eq!(b2.post("/portal/code", &[("csrf", &t2)]).0, 403, "no codes while locked");
    let (st, body) = server.post("/v1/portal/unlock", &server.api_key, &json!({ "address": "pat2@plain.test" }));
    assert_eq!((st, &body["was_locked"]), (200, &json!(true)), "{body}");
    sign_in(&mut b2, &server, &p, "pat2@plain.test");
    let (st, _, page) = b2.get(&links[0]);
    assert_eq!(st, 404, "another recipient's message:\n{page}");
    assert!(!page.contains(SSN));
    let (st, _, bytes) = b2.get_bytes(&href);
    assert_eq!(st, 404, "another recipient's attachment");
    assert_ne!(sha256_hex(&bytes), sha256_hex(&attachment));

    // Retraction: the message disappears from the inbox and its page says so.
    let (st, body) = server.post(&format!("/v1/messages/{id}/retract"), &server.api_key, &json!({}));
    assert_eq!((st, &body["retracted"]), (200, &json!(2)), "{body}");
    let (_, _, inbox) = b.get("/portal/");
    assert!(message_links(&inbox).is_empty(), "{inbox}");
    let (st, _, page) = b.get(&links[0]);
    assert_eq!(st, 410, "{page}");
    assert!(page.contains("id=\"expired\""), "{page}");
    let mut late = Browser::new(&server);
    late.get(&path);
    let (st, _, page) = late.get("/portal/");
    assert_eq!(st, 410, "{page}");
    assert!(page.contains("id=\"resend\""), "{page}");
    let (st, _, page) = late.post("/portal/resend", &[("csrf", &csrf(&page))]);
    assert_eq!(st, 200, "{page}");
    wait_until(Duration::from_secs(60), "the resend request at the clinic", || p.clinic.maildir_messages().len() >= 2);
    let asked = p.clinic.maildir_messages().into_iter().map(|m| String::from_utf8_lossy(&m).into_owned());
    let asked: Vec<String> = asked.filter(|m| m.contains("Please resend")).collect();
    assert_eq!(asked.len(), 1);
    assert!(
        !asked[0].contains(SSN) && !asked[0].contains("Your results") && !asked[0].contains("pat@plain.test"),
        "{}",
        asked[0]
    );

    // Sign out ends the session.
    let (_, _, page) = b.get("/portal/");
    let (st, _, _) = b.post("/portal/signout", &[("csrf", &csrf(&page))]);
    assert_eq!(st, 200);
    let (_, _, page) = b.get("/portal/");
    assert!(page.contains("id=\"signed-out\""), "{page}");

    // Spanish, chosen by the switch and remembered.
    let mut es = Browser::new(&server);
    let (_, _, page) = es.get("/portal/?lang=es");
    assert!(page.contains("lang=\"es\""), "{page}");
    let (_, _, page) = es.get("/portal/");
    assert!(page.contains("lang=\"es\""), "the choice is remembered: {page}");

    // Audit: ids only, every step recorded, the chain verifies.
    for (action, least) in [
        ("portal.session_started", 4),
        ("portal.code_sent", 3),
        ("portal.signed_in", 2),
        ("portal.locked_out", 1),
        ("portal.unlocked", 1),
        ("portal.viewed", 2),
        ("portal.downloaded", 1),
        ("portal.replied", 1),
        ("portal.retracted", 1),
        ("portal.resend_requested", 1),
        ("portal.signed_out", 1),
    ] {
        assert!(server.count_action_db(action) >= least, "{action}: {}", server.count_action_db(action));
    }
    for e in server.audit_events() {
        let line = e.to_string();
        assert!(
            !line.contains("plain.test") && !line.contains(SSN) && !line.contains("88-421"),
            "PHI in audit: {line}"
        );
    }
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "{out}");

    // Canary PHI (the message and the reply) never in logs or in plain text on disk.
    let log = server.serve_log();
    for canary in [SSN, "88-421-7781", "pat@plain.test"] {
        assert!(!log.contains(canary), "{canary} in the log");
        for f in files_under(server.data_dir()) {
            if let Some(bytes) = read_file(&f) {
                assert!(!common::contains(&bytes, canary.as_bytes()), "{canary} in plain text in {}", f.display());
            }
        }
    }
}

#[test]
fn portal_flow_without_javascript_embedded() {
    portal_flow(Backend::Embedded);
}

#[test]
fn portal_flow_without_javascript_scale_out() {
    portal_flow(Backend::ScaleOut);
}

/// An unknown or malformed link answers the plain "does not work" page,
/// with every header, and makes no session.
#[test]
fn unknown_links_make_no_session() {
    let server = Server::start(Backend::Embedded);
    let mut b = Browser::new(&server);
    for path in ["/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &format!("/p/{}", "x".repeat(300))] {
        let (st, _, page) = b.get(path);
        assert_eq!(st, 404, "{path}");
        assert!(page.contains("id=\"expired\""), "{page}");
        assert!(b.session().is_none());
    }
    let (st, _, page) = b.get("/portal/");
    assert_eq!(st, 200);
    assert!(page.contains("id=\"signed-out\""), "{page}");
    let (st, _, css) = b.get("/portal/static/portal.css");
    assert_eq!(st, 200);
    assert!(css.contains("--accent"));
}

/// Time: an unopened message gets one PHI-free reminder before it expires;
/// a code stops working when its time is up; an idle session ends.
#[test]
fn reminders_code_expiry_and_idle_sessions() {
    let p = peers();
    let extra = format!(
        "{}\n[portal]\ncode_ttl_seconds = 2\nsession_idle_seconds = 6\nreminder_hours = 100000\nhousekeeping_seconds = 1\n",
        toml(&p)
    );
    let server = Server::start_with(Backend::Embedded, Opts { extra_toml: extra, ..Opts::default() });
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({ "from": "doctor@clinic.test", "to": ["pat@plain.test"], "subject": "Your results", "text": format!("SSN {SSN}") }),
    );
    assert_eq!(st, 202, "{b}");
    let id = b["id"].as_str().expect("id").to_owned();
    let reminders = || {
        mail_to(&p.patients, "pat@plain.test")
            .into_iter()
            .filter(|m| m.contains("Subject: Reminder"))
            .collect::<Vec<_>>()
    };
    wait_until(Duration::from_secs(60), "the reminder", || !reminders().is_empty());
    std::thread::sleep(Duration::from_secs(3));
    let sent = reminders();
    assert_eq!(sent.len(), 1, "one reminder only");
    assert!(
        !sent[0].contains(SSN) && !sent[0].contains("Your results") && sent[0].contains("Default organization"),
        "{}",
        sent[0]
    );
    let state = server.api_state(&id);
    let events = state["recipients"][0]["events"].to_string();
    assert!(events.contains("portal_reminded"), "{events}");

    // A code past its time fails, and says to ask for a new one.
    let note = mail_to(&p.patients, "pat@plain.test").into_iter().find(|m| m.contains("/p/")).expect("notification");
    let mut b = Browser::new(&server);
    b.get(&link_path(&note));
    let (_, _, page) = b.get("/portal/");
    let token = csrf(&page);
    assert_eq!(b.post("/portal/code", &[("csrf", &token)]).0, 303);
    wait_until(Duration::from_secs(60), "the code", || {
        mail_to(&p.patients, "pat@plain.test").iter().any(|m| is_code_mail(m))
    });
    let code = code_in(&mail_to(&p.patients, "pat@plain.test").into_iter().find(|m| is_code_mail(m)).expect("code"));
    b.get("/portal/verify"); // activity keeps the session alive
    std::thread::sleep(Duration::from_secs(3));
    let (st, _, page) = b.post("/portal/verify", &[("csrf", &token), ("code", &code)]);
    assert_eq!(st, 400, "an expired code must fail:\n{page}");
    assert!(page.contains("expired"), "{page}");

    // Idle for longer than the timeout: the session is gone.
    std::thread::sleep(Duration::from_secs(7));
    let (st, _, page) = b.get("/portal/");
    assert_eq!(st, 200);
    assert!(page.contains("id=\"signed-out\""), "an idle session must end:\n{page}");
    assert!(server.count_action_db("portal.reminded") == 1);
}

/// Links sent before the portal existed (pickups without an address hash,
/// as migration 0007 leaves them) still work: the first use learns the
/// address from the sealed envelope, and the message is in the inbox.
#[test]
fn links_sent_before_the_portal_still_work() {
    let p = peers();
    let server = Server::start_with(Backend::Embedded, Opts { extra_toml: toml(&p), ..Opts::default() });
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({ "from": "doctor@clinic.test", "to": ["pat@plain.test"], "subject": "Your results", "text": format!("SSN {SSN}") }),
    );
    assert_eq!(st, 202, "{b}");
    let note = wait_mail(&p.patients, "pat@plain.test", 1, "the notification").remove(0);
    let db = rusqlite::Connection::open(server.data_dir().join("sealpost.db")).expect("sqlite");
    db.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    let changed = db.execute("UPDATE portal_pickups SET address_hash = NULL", []).expect("forget the address hash");
    assert_eq!(changed, 1);
    let mut b = Browser::new(&server);
    let (st, loc, _) = b.get(&link_path(&note));
    assert_eq!((st, loc.as_deref()), (303, Some("/portal/")));
    sign_in(&mut b, &server, &p, "pat@plain.test");
    let (_, _, inbox) = b.get("/portal/");
    assert_eq!(message_links(&inbox).len(), 1, "{inbox}");
    assert_eq!(server.sql_scalar("SELECT COUNT(*) FROM portal_pickups WHERE address_hash IS NULL"), 0, "learned");
}

/// A tenant's brand (organisation, support contact, accent colour) shows
/// in the notification and on the pages; a colour too light for white
/// text (WCAG 2.1 AA) is refused, naming the field.
#[test]
fn branding_shows_in_notifications_and_pages() {
    let p = peers();
    let server = Server::start_with(Backend::Embedded, Opts { extra_toml: toml(&p), ..Opts::default() });
    let put = |brand: serde_json::Value| {
        let r = server
            .http()
            .put(server.url("/v1/settings"))
            .bearer_auth(&server.api_key)
            .json(&json!({ "portal_brand": brand }))
            .send()
            .expect("PUT settings");
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().unwrap_or_default())
    };
    let (st, body) = put(json!({ "accent": "#ffff00" }));
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["error"]["field"], "portal_brand.accent", "{body}");
    let (st, body) =
        put(json!({ "organisation": "Riverside Clinic", "support": "Call 555-0100", "accent": "#7a1f5c" }));
    assert_eq!(st, 200, "{body}");
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({ "from": "doctor@clinic.test", "to": ["pat@plain.test"], "subject": "Your results", "text": format!("SSN {SSN}") }),
    );
    assert_eq!(st, 202, "{b}");
    let note = wait_mail(&p.patients, "pat@plain.test", 1, "the notification").remove(0);
    assert!(note.contains("Riverside Clinic"), "{note}");
    let mut b = Browser::new(&server);
    b.get(&link_path(&note));
    let (_, _, page) = b.get("/portal/");
    assert!(page.contains("Riverside Clinic") && page.contains("Call 555-0100"), "{page}");
    assert!(page.contains("href=\"/portal/brand.css\""), "{page}");
    let (st, _, css) = b.get("/portal/brand.css");
    assert_eq!(st, 200);
    assert!(css.contains("--accent: #7a1f5c"), "{css}");
    let (_, _, css) = Browser::new(&server).get("/portal/brand.css");
    assert!(css.trim().is_empty(), "no session, no brand: {css}");
}
