//! What Sealpost learns about a recipient's side at delivery time (issue 3,
//! R-DL-1): MTA-STS `enforce` (RFC 8461) keeps even PHI-free mail off a
//! server whose certificate does not verify; an authenticated DANE TLSA
//! record (RFC 7672) makes a self-signed certificate count as verified TLS
//! for PHI; and a key published in the recipient's Web Key Directory makes
//! the message go out OpenPGP-encrypted, which GnuPG decrypts.
//!
//! The DNS server on loopback plays a validating resolver (it sets the AD
//! bit), the HTTPS server plays the policy and key hosts.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Backend, Gpg, Opts, Server};
use sealpost_testkit::{DnsServer, HttpsServer, ReceiverOptions, Route, SmtpReceiver, TestCa, Zone, self_signed};
use serde_json::{Value, json};
use sha2::Digest;

const SSN: &str = "078-05-1120";
const BODY: &str = "Patient Zebulon Quixote, SSN 078-05-1120, diagnosis E11.9.";

fn wait_settled(server: &Server, id: &str, timeout: Duration) -> Value {
    let end = Instant::now() + timeout;
    loop {
        let s = server.api_state(id);
        let state = s["recipients"][0]["state"].as_str().unwrap_or_default().to_owned();
        if !matches!(state.as_str(), "queued" | "deferred") || Instant::now() > end {
            return s;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn seen(r: &SmtpReceiver) -> String {
    r.sessions()
        .iter()
        .flat_map(|s| s.transactions.iter())
        .map(|t| String::from_utf8_lossy(&t.data).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// SHA-256 of the DER of the first certificate in `pem` (TLSA 3 0 1 data).
fn cert_sha256(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body");
    sha2::Sha256::digest(der).to_vec()
}

#[test]
fn mta_sts_dane_and_wkd_shape_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("ca");
    let ca_path = ca.write_cert(dir.path()).expect("ca file");

    // One MX for the MTA-STS domains, with a certificate nobody trusts.
    let (cert, key) = self_signed(&["mx.shared.test"]).expect("self-signed");
    let shared = SmtpReceiver::start(ReceiverOptions { tls: Some((cert, key)), ..ReceiverOptions::default() })
        .expect("shared MX");
    // A routed MX with a self-signed certificate published by DANE, and one without TLSA.
    let (dane_cert, dane_key) = self_signed(&["mx.dane.test"]).expect("self-signed");
    let dane_digest = cert_sha256(&dane_cert);
    let dane = SmtpReceiver::start(ReceiverOptions { tls: Some((dane_cert, dane_key)), ..ReceiverOptions::default() })
        .expect("DANE MX");
    let (cert, key) = self_signed(&["mx.nodane.test"]).expect("self-signed");
    let nodane =
        SmtpReceiver::start(ReceiverOptions { tls: Some((cert, key)), ..ReceiverOptions::default() }).expect("MX");
    // The WKD recipient's MX offers no TLS at all.
    let wkd_mx = SmtpReceiver::start(ReceiverOptions::default()).expect("WKD MX");

    let gpg = Gpg::new("Pat Doe <pat@wkd.test>");
    let out = gpg.run(&["--export", "pat@wkd.test"], None);
    assert!(out.status.success() && !out.stdout.is_empty(), "gpg export");
    let hash = sealpost_outbound::wkd_hash("pat");
    let (https_cert, https_key) = ca.issue_chain(&["mta-sts.sts.test", "openpgpkey.wkd.test"]).expect("https leaf");
    let https = HttpsServer::start(
        &https_cert,
        &https_key,
        [
            Route::new(
                "/.well-known/mta-sts.txt",
                200,
                "text/plain",
                "version: STSv1\r\nmode: enforce\r\nmx: mx.shared.test\r\nmax_age: 86400\r\n",
            ),
            Route::new(
                &format!("/.well-known/openpgpkey/wkd.test/hu/{hash}"),
                200,
                "application/octet-stream",
                out.stdout.clone(),
            ),
        ],
    )
    .expect("https");

    let lo = Ipv4Addr::LOCALHOST;
    let zone = Zone::new()
        .mx("sts.test", 10, "mx.shared.test")
        .mx("nosts.test", 10, "mx.shared.test")
        .a("mx.shared.test", lo)
        .txt("_mta-sts.sts.test", "v=STSv1; id=20261123;")
        .a("mta-sts.sts.test", lo)
        .a("mx.dane.test", lo)
        .a("mx.nodane.test", lo)
        .tlsa(&format!("_{}._tcp.mx.dane.test", dane.addr().port()), 3, 0, 1, &dane_digest)
        .a("openpgpkey.wkd.test", lo)
        .authenticated(true);
    let dns = DnsServer::start(zone).expect("dns");
    let server = Server::start_with(
        Backend::Embedded,
        Opts {
            extra_toml: format!(
                r#"
[delivery]
enabled = true
retry_base_seconds = 1
name_servers = ["{dns}"]
# The test zone points MX hosts at loopback (issue 13.10: not without this).
allow_internal_mx = ["127.0.0.0/8", "::1"]
smtp_port = {smtp}
extra_ca_files = ["{ca}"]
https_port = {https}
notice_from = "no-reply@clinic.test"

[delivery.routes]
"dane.test" = "mx.dane.test:{dane}"
"nodane.test" = "mx.nodane.test:{nodane}"
"wkd.test" = "127.0.0.1:{wkd}"
"clinic.test" = "127.0.0.1:{wkd}"
"#,
                dns = dns.addr(),
                smtp = shared.addr().port(),
                ca = ca_path.display(),
                https = https.addr().port(),
                dane = dane.addr().port(),
                nodane = nodane.addr().port(),
                wkd = wkd_mx.addr().port(),
            ),
            ..Opts::default()
        },
    );
    let send = |to: &str, subject: &str, text: &str| {
        let (st, b) = server.post(
            "/v1/messages",
            &server.api_key,
            &json!({"from": "office@clinic.test", "to": to, "subject": subject, "text": text}),
        );
        assert_eq!(st, 202, "{b}");
        b["id"].as_str().expect("id").to_owned()
    };

    // MTA-STS: PHI-free mail to a domain without a policy goes over the
    // unverified TLS (tls-preferred); to the enforce domain it does not.
    let open = send("a@nosts.test", "Hours", "no-policy-domain-body");
    let enforced = send("b@sts.test", "Hours", "enforced-domain-body");
    // DANE: PHI goes over TLS verified by TLSA; without TLSA, to the portal.
    let by_dane = send("p@dane.test", "Results", BODY);
    let no_dane = send("q@nodane.test", "Results", BODY);
    // WKD: PHI to a recipient whose MX has no TLS, but whose key is published.
    let by_wkd = send("pat@wkd.test", "Your results", BODY);

    let s = wait_settled(&server, &open, Duration::from_secs(60));
    assert_eq!(s["recipients"][0]["state"], "delivered", "{s}");
    assert_eq!(s["recipients"][0]["method"], "opportunistic", "{s}");

    let s = wait_settled(&server, &by_dane, Duration::from_secs(60));
    let r = &s["recipients"][0];
    assert_eq!((r["state"].as_str(), r["method"].as_str()), (Some("delivered"), Some("tls")), "{s}");
    let delivered = r["events"].as_array().expect("events").iter().find(|e| e["event"] == "delivered").cloned();
    assert_eq!(delivered.map(|e| e["detail"]["dane"].clone()), Some(json!(true)), "{s}");
    assert!(seen(&dane).contains(SSN), "the DANE-verified MX got the message");

    let s = wait_settled(&server, &no_dane, Duration::from_secs(60));
    assert_eq!(s["recipients"][0]["state"], "portal", "{s}");
    assert!(!seen(&nodane).contains(SSN), "PHI reached an unverified server");

    let s = wait_settled(&server, &by_wkd, Duration::from_secs(60));
    let r = &s["recipients"][0];
    assert_eq!((r["state"].as_str(), r["method"].as_str()), (Some("delivered"), Some("pgp")), "{s}");
    let wkd_seen = seen(&wkd_mx);
    assert!(!wkd_seen.contains(SSN), "PHI in clear to the no-TLS MX");
    let start = wkd_seen.find("-----BEGIN PGP MESSAGE-----").expect("armored part");
    let end = wkd_seen.find("-----END PGP MESSAGE-----").expect("armor end") + "-----END PGP MESSAGE-----".len();
    let out = gpg.run(&["--batch", "--decrypt"], Some(&wkd_seen.as_bytes()[start..end]));
    assert!(out.status.success(), "gpg --decrypt: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(SSN), "decrypts to the original");
    let decided = server.audit_events().into_iter().any(|e| {
        e["action"] == "delivery.decided" && e["detail"]["reason"] == "recipient-pgp-wkd" && e["target"] == by_wkd
    });
    assert!(decided, "the decision names WKD");

    // The enforce domain is still waiting, and its MX never got the message.
    let s = server.api_state(&enforced);
    assert_eq!(s["recipients"][0]["state"], "deferred", "{s}");
    assert!(!seen(&shared).contains("enforced-domain-body"), "MTA-STS enforce was ignored");
    assert!(seen(&shared).contains("no-policy-domain-body"));
    assert!(https.requests().iter().any(|r| r.contains("/.well-known/mta-sts.txt")), "the policy was fetched");
}
