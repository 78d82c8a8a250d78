//! Properties over arbitrary input: nothing panics, sanitised HTML never
//! carries script or remote sources, `Content-Disposition` values are ASCII
//! and lossless.

use proptest::prelude::*;
use sealpost_view::{Disposition, attachment, content_disposition, inline_image, sanitize_html, view};

fn cid_url(cid: &str) -> String {
    let hex: String = cid.bytes().map(|b| format!("{b:02x}")).collect();
    format!("/cid/{hex}")
}

/// HTML-ish text from pieces that matter to a sanitiser, so that random
/// input often forms tags, attributes and dangerous URLs.
fn html_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<script>".to_owned()),
        Just("</script>".to_owned()),
        Just("<scr<script>ipt>".to_owned()),
        Just("<img src=".to_owned()),
        Just("<img".to_owned()),
        Just("<a href=".to_owned()),
        Just("<svg><script>".to_owned()),
        Just("<math><mi><style><img src=x onerror=alert(1)>".to_owned()),
        Just("<style>".to_owned()),
        Just("<iframe srcdoc=".to_owned()),
        Just("<form action=".to_owned()),
        Just("<p style=".to_owned()),
        Just("<div background=".to_owned()),
        Just("<table><td background=".to_owned()),
        Just("<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">".to_owned()),
        Just("<!--".to_owned()),
        Just("-->".to_owned()),
        Just("<![CDATA[".to_owned()),
        Just("<base href=".to_owned()),
        Just("<meta http-equiv=refresh content=".to_owned()),
        Just("<a ".to_owned()),
        Just("<p ".to_owned()),
        Just("<img alt=x ".to_owned()),
        Just(" onclick=alert(1) ".to_owned()),
        Just(" onmouseover=\"x()\"".to_owned()),
        Just(" style=\"color:red\" ".to_owned()),
        Just(" onerror=".to_owned()),
        Just(" onclick=".to_owned()),
        Just(" ONLOAD=".to_owned()),
        Just(" srcset=".to_owned()),
        Just(" src=".to_owned()),
        Just(" href=".to_owned()),
        Just(" style=".to_owned()),
        Just("javascript:".to_owned()),
        Just("jav&#x09;ascript:".to_owned()),
        Just("&#106;avascript:".to_owned()),
        Just(" java\nscript:".to_owned()),
        Just("data:text/html,".to_owned()),
        Just("https://t.example/p.gif".to_owned()),
        Just("//t.example/x".to_owned()),
        Just("cid:".to_owned()),
        Just("CID:a%40b".to_owned()),
        Just("url(".to_owned()),
        Just("alert(1)".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("`".to_owned()),
        Just(">".to_owned()),
        Just("/>".to_owned()),
        Just("</a>".to_owned()),
        Just(" ".to_owned()),
        "[a-z<>=\"' /:;&#%()-]{0,8}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// The start tags of serialised HTML with their attributes (names
/// lower-cased, values with character references decoded). Serialised
/// output escapes `<` in text and `"` in attribute values, so this small
/// scanner is exact for it.
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let name_end = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = &rest[name_end..];
        let mut attrs = Vec::new();
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
            if rest.is_empty() || rest.starts_with('>') {
                rest = rest.get(1..).unwrap_or("");
                break;
            }
            let attr_end = rest.find(|c: char| c.is_whitespace() || c == '=' || c == '>').unwrap_or(rest.len());
            let attr = rest[..attr_end].to_ascii_lowercase();
            rest = &rest[attr_end..];
            let mut value = String::new();
            if let Some(after) = rest.strip_prefix("=\"") {
                let end = after.find('"').unwrap_or(after.len());
                value = decode_entities(&after[..end]);
                rest = after.get(end + 1..).unwrap_or("");
            }
            attrs.push((attr, value));
        }
        found.push((name, attrs));
    }
    found
}

fn decode_entities(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A URL as a browser reads its scheme: without whitespace and controls.
fn squeezed(value: &str) -> String {
    value.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect::<String>().to_ascii_lowercase()
}

fn check_safe(out: &str) -> Result<(), TestCaseError> {
    let lower = out.to_ascii_lowercase();
    for bad in [
        "<script", "<style", "<iframe", "<form", "<svg", "<math", "<meta", "<link", "<base", "<object", "<embed",
        "<!--",
    ] {
        prop_assert!(!lower.contains(bad), "{bad} in {out:?}");
    }
    for (tag, attrs) in tags(out) {
        for (name, value) in attrs {
            prop_assert!(!name.starts_with("on"), "handler {name} on {tag}: {out:?}");
            prop_assert!(
                !matches!(
                    name.as_str(),
                    "style"
                        | "class"
                        | "id"
                        | "background"
                        | "srcset"
                        | "poster"
                        | "lowsrc"
                        | "usemap"
                        | "srcdoc"
                        | "action"
                ),
                "{name} on {tag}: {out:?}"
            );
            let url = squeezed(&value);
            prop_assert!(!url.contains("javascript:") && !url.contains("url("), "{name}={value:?} on {tag}: {out:?}");
            if name == "src" {
                prop_assert!(tag == "img" && value.starts_with("/cid/"), "src not from cid_url: {out:?}");
            }
            if name == "href" {
                prop_assert!(
                    tag == "a" && ["http:", "https:", "mailto:"].iter().any(|s| url.starts_with(s)),
                    "href {value:?}: {out:?}"
                );
            }
        }
    }
    Ok(())
}

/// Message-shaped bytes: headers, MIME boundaries, encodings and junk.
fn message_soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"From: a@b.example\r\n".to_vec()),
        Just(b"Subject: =?utf-8?B?w5w=?= x\r\n".to_vec()),
        Just(b"References: <a@b> <c@d>\r\n".to_vec()),
        Just(b"Content-Type: multipart/mixed; boundary=\"b\"\r\n".to_vec()),
        Just(b"Content-Type: multipart/related; boundary=b\r\n".to_vec()),
        Just(b"Content-Type: message/rfc822\r\n".to_vec()),
        Just(b"Content-Type: text/html; charset=iso-8859-1\r\n".to_vec()),
        Just(b"Content-Type: image/png; name*=UTF-8''%C3%9C.png\r\n".to_vec()),
        Just(b"Content-Disposition: attachment; filename*0*=UTF-8''a%; filename*1=\"/b\"\r\n".to_vec()),
        Just(b"Content-ID: <x@y>\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: quoted-printable\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"--b\r\n".to_vec()),
        Just(b"--b--\r\n".to_vec()),
        Just(b"iVBORw0KGgo=\r\n".to_vec()),
        Just(b"=FC=\r\n".to_vec()),
        Just(b"<img src=\"cid:x@y\"><script>x</script>".to_vec()),
        prop::collection::vec(any::<u8>(), 0..16),
    ];
    prop::collection::vec(piece, 0..32).prop_map(|pieces| pieces.concat())
}

fn exercise(raw: &[u8]) -> Result<(), TestCaseError> {
    let Ok(message) = view(raw, &cid_url) else { return Ok(()) };
    if let Some(html) = &message.html {
        check_safe(html)?;
    }
    for info in &message.attachments {
        prop_assert!(!info.filename.is_empty());
        prop_assert!(!info.filename.contains(['/', '\\']) && !info.filename.chars().any(char::is_control));
        prop_assert!(info.content_type.is_ascii() && !info.content_type.contains([' ', '\r', '\n', ';']));
        let (again, bytes) = attachment(raw, info.index).expect("a listed attachment can be fetched");
        prop_assert_eq!(bytes.len(), info.size);
        prop_assert_eq!(&again.filename, &info.filename);
        if let Some(id) = &info.content_id
            && let Some((content_type, _)) = inline_image(raw, id)
        {
            prop_assert!(["image/png", "image/jpeg", "image/gif", "image/webp"].contains(&content_type.as_str()));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn view_never_panics_on_bytes(raw in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&raw)?;
    }

    #[test]
    fn view_never_panics_on_message_shapes(raw in message_soup()) {
        exercise(&raw)?;
    }

    #[test]
    fn sanitized_html_is_safe(html in html_soup()) {
        check_safe(&sanitize_html(&html, &cid_url))?;
    }

    #[test]
    fn sanitize_never_panics_on_any_string(html in any::<String>()) {
        check_safe(&sanitize_html(&html, &cid_url))?;
    }

    #[test]
    fn content_disposition_is_ascii_and_lossless(name in file_name(), inline in any::<bool>()) {
        let kind = if inline { Disposition::Inline } else { Disposition::Attachment };
        let value = content_disposition(kind, &name);
        prop_assert!(value.is_ascii(), "{value:?}");
        prop_assert!(!value.bytes().any(|b| b.is_ascii_control()), "{value:?}");
        let prefix = if inline { "inline; filename=\"" } else { "attachment; filename=\"" };
        let rest = value.strip_prefix(prefix).expect("starts with the disposition");
        let (fallback, extended) = rest.split_once("\"; filename*=UTF-8''").expect("two parameters");
        prop_assert!(!fallback.contains(['"', '\\', '%']), "{fallback:?}");
        prop_assert!(!extended.contains(['"', ';', ' ', '\\', '\'']), "{extended:?}");
        let decoded = percent_decode(extended).expect("well-formed percent-encoding");
        let expected: String = name.chars().filter(|c| !c.is_control()).collect();
        prop_assert_eq!(decoded, expected);
    }
}

/// Names with the characters that matter to a header: controls (C0, DEL,
/// C1), quotes, backslashes, percent signs, non-ASCII; or any string.
fn file_name() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\"\\\\%;=' a-zé€😀./]{0,24}"]
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}
