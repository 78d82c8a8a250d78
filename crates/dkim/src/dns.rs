//! The DNS records (and the MTA-STS policy file) a sending domain publishes.

use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::key::DkimKey;
use crate::name;

/// One DNS resource record to publish.
///
/// `Display` writes it as a zone-file line with a fully qualified owner name and no TTL (the
/// zone's `$TTL` applies), e.g. `_dmarc.example.com. IN TXT "v=DMARC1; ..."`. TXT values are
/// split into quoted character-strings of at most 255 bytes (RFC 1035 §3.3.14), which
/// verifiers join back together (RFC 6376 §3.6.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// Owner name without the trailing dot, e.g. `s1._domainkey.example.com`.
    pub name: String,
    /// Record type; always `"TXT"` for now.
    pub kind: &'static str,
    /// The record's value, unquoted and unsplit.
    pub value: String,
}

/// Longest character-string inside a TXT record.
const MAX_TXT_STRING: usize = 255;

impl fmt::Display for DnsRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}. IN {}", self.name, self.kind)?;
        for chunk in txt_strings(&self.value) {
            f.write_str(" \"")?;
            for c in chunk.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}

/// Splits `value` into pieces of at most [`MAX_TXT_STRING`] bytes, on character boundaries.
fn txt_strings(value: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = value;
    while rest.len() > MAX_TXT_STRING {
        let mut end = MAX_TXT_STRING;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

/// The TXT records that make mail from `domain` authenticate: SPF, one DKIM key record per
/// selector, DMARC, MTA-STS and TLS-RPT, in that order.
///
/// - **SPF** at `<domain>`: `v=spf1 mx ip4:… ip6:… -all` authorizes the domain's MX hosts and
///   each of `spf_sources` (the addresses Sealpost sends from), in the order given, repeats
///   dropped. Mail sent from any other address (a second node, a smarthost) fails SPF until the
///   operator adds it; with `aspf=s` the envelope sender's domain must also be exactly
///   `<domain>`.
/// - **DKIM** at `<selector>._domainkey.<domain>`: [`DkimKey::public_dns_value`]. During a key
///   rotation publish old and new selectors side by side until mail signed with the old one
///   has been delivered.
/// - **DMARC** at `_dmarc.<domain>`: `p=quarantine`, aggregate reports to `report_address`,
///   strict DKIM and SPF alignment. If `report_address` is at another domain, that domain
///   must publish `<domain>._report._dmarc.<its domain> TXT "v=DMARC1"` to accept the
///   reports (RFC 7489 §7.1).
/// - **MTA-STS** at `_mta-sts.<domain>`: `v=STSv1; id=<mta_sts_id>`. Change the id whenever
///   the policy file ([`mta_sts_policy`]) changes; senders re-fetch the policy only then.
/// - **TLS-RPT** at `_smtp._tls.<domain>`: TLS failure reports to `report_address` (RFC 8460).
///
/// Names are checked and lowercased; `mta_sts_id` must be 1 to 32 letters and digits.
pub fn dns_records(
    domain: &str,
    spf_sources: &[IpAddr],
    selectors: &[(String, &DkimKey)],
    mta_sts_id: &str,
    report_address: &str,
) -> Result<Vec<DnsRecord>> {
    let domain = name::domain(domain)?;
    let report_address = name::report_address(report_address)?;
    if mta_sts_id.is_empty() || mta_sts_id.len() > 32 || !mta_sts_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::InvalidMtaStsId);
    }
    let txt = |name: String, value: String| DnsRecord { name, kind: "TXT", value };

    let mut records = vec![txt(domain.clone(), spf_value(spf_sources))];
    let mut seen = Vec::with_capacity(selectors.len());
    for (selector, key) in selectors {
        let selector = name::selector(selector)?;
        if seen.contains(&selector) {
            return Err(Error::DuplicateSelector);
        }
        records.push(txt(format!("{selector}._domainkey.{domain}"), key.public_dns_value()));
        seen.push(selector);
    }
    records.push(txt(
        format!("_dmarc.{domain}"),
        format!("v=DMARC1; p=quarantine; rua=mailto:{report_address}; adkim=s; aspf=s"),
    ));
    records.push(txt(format!("_mta-sts.{domain}"), format!("v=STSv1; id={mta_sts_id}")));
    records.push(txt(format!("_smtp._tls.{domain}"), format!("v=TLSRPTv1; rua=mailto:{report_address}")));
    Ok(records)
}

/// `v=spf1 mx`, an `ip4:`/`ip6:` mechanism per distinct source address, `-all`.
fn spf_value(sources: &[IpAddr]) -> String {
    let mut value = String::from("v=spf1 mx");
    let mut seen = Vec::with_capacity(sources.len());
    for ip in sources {
        if seen.contains(ip) {
            continue;
        }
        seen.push(*ip);
        match ip {
            IpAddr::V4(v4) => value.push_str(&format!(" ip4:{v4}")),
            IpAddr::V6(v6) => value.push_str(&format!(" ip6:{v6}")),
        }
    }
    value.push_str(" -all");
    value
}

/// How long senders may cache an MTA-STS policy: one week (RFC 8461 §3.2 suggests weeks).
pub const MTA_STS_MAX_AGE_SECS: u64 = 604_800;

/// An MTA-STS policy file (RFC 8461 §3.2) and where to serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtaStsPolicy {
    /// Where senders fetch it: `https://mta-sts.<domain>/.well-known/mta-sts.txt`. The host
    /// `mta-sts.<domain>` needs an address record and a certificate valid for that name.
    pub url: String,
    /// The file's contents (CRLF line endings), served as `text/plain`.
    pub text: String,
}

/// The MTA-STS policy for `domain`, in `enforce` mode, listing `mx_hosts` — which must match
/// the domain's MX records exactly (a leading `*.` matches one label), or senders that honour
/// the policy will refuse to deliver to the domain.
pub fn mta_sts_policy(domain: &str, mx_hosts: &[&str]) -> Result<MtaStsPolicy> {
    let domain = name::domain(domain)?;
    if mx_hosts.is_empty() {
        return Err(Error::NoMxHosts);
    }
    let mut text = String::from("version: STSv1\r\nmode: enforce\r\n");
    for host in mx_hosts {
        let host = match host.strip_prefix("*.") {
            Some(rest) => format!("*.{}", name::domain(rest)?),
            None => name::domain(host)?,
        };
        text.push_str(&format!("mx: {host}\r\n"));
    }
    text.push_str(&format!("max_age: {MTA_STS_MAX_AGE_SECS}\r\n"));
    Ok(MtaStsPolicy { url: format!("https://mta-sts.{domain}/.well-known/mta-sts.txt"), text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Algorithm;

    #[test]
    fn records_have_the_expected_names_and_values() {
        let rsa = DkimKey::generate(Algorithm::Rsa2048).unwrap();
        let ed = DkimKey::generate(Algorithm::Ed25519).unwrap();
        let selectors = [("rsa2025".to_owned(), &rsa), ("ed2025".to_owned(), &ed)];
        let records = dns_records("Example.COM", &[], &selectors, "20250101T1", "dmarc@reports.example.com").unwrap();

        let pairs: Vec<(&str, &str)> = records.iter().map(|r| (r.name.as_str(), r.kind)).collect();
        assert_eq!(
            pairs,
            [
                ("example.com", "TXT"),
                ("rsa2025._domainkey.example.com", "TXT"),
                ("ed2025._domainkey.example.com", "TXT"),
                ("_dmarc.example.com", "TXT"),
                ("_mta-sts.example.com", "TXT"),
                ("_smtp._tls.example.com", "TXT"),
            ]
        );
        assert_eq!(records[0].value, "v=spf1 mx -all");
        assert_eq!(records[1].value, rsa.public_dns_value());
        assert_eq!(records[2].value, ed.public_dns_value());
        assert_eq!(records[3].value, "v=DMARC1; p=quarantine; rua=mailto:dmarc@reports.example.com; adkim=s; aspf=s");
        assert_eq!(records[4].value, "v=STSv1; id=20250101T1");
        assert_eq!(records[5].value, "v=TLSRPTv1; rua=mailto:dmarc@reports.example.com");
    }

    #[test]
    fn long_txt_values_are_split_into_quoted_strings() {
        let rsa = DkimKey::generate(Algorithm::Rsa2048).unwrap();
        let records = dns_records("example.com", &[], &[("s1".to_owned(), &rsa)], "1", "r@example.com").unwrap();
        let line = records[1].to_string();
        let prefix = "s1._domainkey.example.com. IN TXT \"";
        assert!(line.starts_with(prefix), "{line}");
        assert!(line.ends_with('"'));
        let strings: Vec<&str> = line[prefix.len()..line.len() - 1].split("\" \"").collect();
        assert_eq!(strings.len(), 2, "{line}");
        assert!(strings.iter().all(|s| s.len() <= 255 && !s.is_empty()));
        assert_eq!(strings.concat(), rsa.public_dns_value());

        assert_eq!(records[0].to_string(), "example.com. IN TXT \"v=spf1 mx -all\"");
    }

    #[test]
    fn spf_names_the_source_addresses_once_each() {
        let sources: [IpAddr; 4] = [
            "192.0.2.10".parse().unwrap(),
            "2001:db8::25".parse().unwrap(),
            "192.0.2.10".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
        ];
        let records = dns_records("example.com", &sources, &[], "1", "r@example.com").unwrap();
        assert_eq!(records[0].name, "example.com");
        assert_eq!(records[0].value, "v=spf1 mx ip4:192.0.2.10 ip6:2001:db8::25 ip4:198.51.100.7 -all");
        let records = dns_records("example.com", &[], &[], "1", "r@example.com").unwrap();
        assert_eq!(records[0].value, "v=spf1 mx -all");
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        let record = DnsRecord { name: "x.example".into(), kind: "TXT", value: r#"a"b\c"#.into() };
        assert_eq!(record.to_string(), r#"x.example. IN TXT "a\"b\\c""#);
    }

    #[test]
    fn splitting_exact_boundaries() {
        assert_eq!(txt_strings(""), [""]);
        let v = "x".repeat(255);
        assert_eq!(txt_strings(&v), [v.as_str()]);
        let v = "x".repeat(511);
        assert_eq!(txt_strings(&v).iter().map(|s| s.len()).collect::<Vec<_>>(), [255, 255, 1]);
    }

    #[test]
    fn bad_inputs_are_rejected() {
        let ed = DkimKey::generate(Algorithm::Ed25519).unwrap();
        let one = [("s1".to_owned(), &ed)];
        assert!(matches!(dns_records("bad domain", &[], &one, "1", "r@example.com"), Err(Error::InvalidDomain)));
        assert!(matches!(dns_records("example.com", &[], &one, "", "r@example.com"), Err(Error::InvalidMtaStsId)));
        assert!(matches!(dns_records("example.com", &[], &one, "a-b", "r@example.com"), Err(Error::InvalidMtaStsId)));
        let long_id = "a".repeat(33);
        assert!(matches!(
            dns_records("example.com", &[], &one, &long_id, "r@example.com"),
            Err(Error::InvalidMtaStsId)
        ));
        assert!(matches!(
            dns_records("example.com", &[], &one, "1", "r;x@example.com"),
            Err(Error::InvalidReportAddress)
        ));
        let twice = [("s1".to_owned(), &ed), ("S1".to_owned(), &ed)];
        assert!(matches!(dns_records("example.com", &[], &twice, "1", "r@example.com"), Err(Error::DuplicateSelector)));
        let bad_selector = [("s 1".to_owned(), &ed)];
        assert!(matches!(
            dns_records("example.com", &[], &bad_selector, "1", "r@example.com"),
            Err(Error::InvalidSelector)
        ));
    }

    #[test]
    fn mta_sts_policy_file() {
        let policy = mta_sts_policy("Example.com", &["mx1.example.com", "*.mx.example.net"]).unwrap();
        assert_eq!(policy.url, "https://mta-sts.example.com/.well-known/mta-sts.txt");
        assert_eq!(
            policy.text,
            "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mx.example.net\r\nmax_age: 604800\r\n"
        );
        assert!(matches!(mta_sts_policy("example.com", &[]), Err(Error::NoMxHosts)));
        assert!(matches!(mta_sts_policy("example.com", &["mx one"]), Err(Error::InvalidDomain)));
    }
}
