//! Checks for the names that go into DKIM-Signature tags and zone-file lines.

use crate::error::{Error, Result};

/// Returns `name` lowercased, without a trailing dot, if it is a host name made of LDH labels
/// (RFC 1123 §2.1; IDNs as A-labels) of at most 253 characters.
pub(crate) fn domain(name: &str) -> Result<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 || !name.split('.').all(is_ldh_label) {
        return Err(Error::InvalidDomain);
    }
    Ok(name.to_ascii_lowercase())
}

/// Returns `selector` lowercased if it is a DKIM selector: dot-separated LDH labels (RFC 6376
/// §3.1), short enough that `<selector>._domainkey.<domain>` stays a valid name.
pub(crate) fn selector(selector: &str) -> Result<String> {
    if selector.is_empty() || selector.len() > 63 || !selector.split('.').all(is_ldh_label) {
        return Err(Error::InvalidSelector);
    }
    Ok(selector.to_ascii_lowercase())
}

/// Returns the address (domain lowercased) if it is a plain ASCII `local@domain` that needs no
/// escaping inside a `mailto:` URI in a DMARC or TLS-RPT record. The local part is limited to
/// letters, digits and `+ - . _ =`: that keeps out the `,` `;` `!` those records use as
/// separators and every character a URI would need percent-encoded.
pub(crate) fn report_address(address: &str) -> Result<String> {
    let (local, host) = address.rsplit_once('@').ok_or(Error::InvalidReportAddress)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._=".contains(&b));
    let host = domain(host).map_err(|_| Error::InvalidReportAddress)?;
    if !local_ok {
        return Err(Error::InvalidReportAddress);
    }
    Ok(format!("{local}@{host}"))
}

fn is_ldh_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(domain("Example.COM.").unwrap(), "example.com");
        assert_eq!(domain("xn--bcher-kva.example").unwrap(), "xn--bcher-kva.example");
        for bad in ["", ".", "a..b", "-a.b", "a-.b", "a b.c", "bücher.example", "a\"b.c", "a\nb", &"a".repeat(64)] {
            assert!(domain(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn selectors() {
        assert_eq!(selector("S2025").unwrap(), "s2025");
        assert_eq!(selector("a.b").unwrap(), "a.b");
        for bad in ["", "a b", "a;b", "_x", "a..b"] {
            assert!(selector(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn report_addresses() {
        assert_eq!(report_address("dmarc+rua@Reports.Example").unwrap(), "dmarc+rua@reports.example");
        for bad in
            ["", "@a.b", "a@", "a b@c.d", "a,b@c.d", "a;b@c.d", "a!b@c.d", "\"a\"@c.d", "a@b;c", "a%b@c.d", "a?b@c.d"]
        {
            assert!(report_address(bad).is_err(), "{bad:?}");
        }
    }
}
