//! Messages built with mail-builder (and a few written by hand where a
//! builder would not produce them) as the portal shows them.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use sealpost_view::{Mailbox, MessageView, ViewError, attachment, inline_image, view};

fn cid_url(cid: &str) -> String {
    format!("/portal/m/7/cid/{cid}")
}

fn show(raw: &[u8]) -> MessageView {
    view(raw, &cid_url).expect("a message")
}

fn build(builder: MessageBuilder<'_>) -> Vec<u8> {
    builder.write_to_vec().expect("builds")
}

fn base() -> MessageBuilder<'static> {
    MessageBuilder::new()
        .from(("Dr. Ana Müller", "ana@clinic.example"))
        .to(vec![
            Address::new_address(Some("Pat"), "pat@example.org"),
            Address::new_address(None::<&str>, "x@example.org"),
        ])
        .subject("Your results")
        .message_id("m1@clinic.example")
        .date(1_700_000_000_i64)
}

/// A small PNG: signature, then anything (only the signature is checked).
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Every byte value, twice, and a CRLF and a lone CR: what a careless
/// decoder would mangle.
fn binary() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    bytes.extend_from_slice(b"\r\n\r\x00end");
    bytes
}

#[test]
fn text_only() {
    let raw = build(
        base()
            .cc(("Nurse", "rn@clinic.example"))
            .reply_to("desk@clinic.example")
            .text_body("Grüße,\nyour A1c is 5.4 %.\n"),
    );
    let v = show(&raw);
    assert_eq!(v.subject.as_deref(), Some("Your results"));
    assert_eq!(v.from, [Mailbox { name: Some("Dr. Ana Müller".into()), address: "ana@clinic.example".into() }]);
    assert_eq!(
        v.to,
        [
            Mailbox { name: Some("Pat".into()), address: "pat@example.org".into() },
            Mailbox { name: None, address: "x@example.org".into() }
        ]
    );
    assert_eq!(v.cc, [Mailbox { name: Some("Nurse".into()), address: "rn@clinic.example".into() }]);
    assert_eq!(v.reply_to, [Mailbox { name: None, address: "desk@clinic.example".into() }]);
    assert_eq!(v.date, Some(1_700_000_000));
    assert_eq!(v.message_id.as_deref(), Some("m1@clinic.example"));
    assert_eq!(v.text.as_deref().map(|t| t.replace("\r\n", "\n")).as_deref(), Some("Grüße,\nyour A1c is 5.4 %.\n"));
    assert_eq!(v.html, None, "a text body is not turned into HTML");
    assert!(v.attachments.is_empty());
    assert!(v.references.is_empty());
}

#[test]
fn html_only() {
    let raw = build(base().html_body("<p>Your <b>results</b> are in.</p>"));
    let v = show(&raw);
    assert_eq!(v.text, None, "an HTML body is not turned into text");
    assert_eq!(v.html.as_deref(), Some("<p>Your <b>results</b> are in.</p>"));
    assert!(v.attachments.is_empty());
}

#[test]
fn multipart_alternative_gives_both_bodies() {
    let raw = build(base().text_body("plain version").html_body("<p>html version</p>"));
    assert!(String::from_utf8_lossy(&raw).contains("multipart/alternative"));
    let v = show(&raw);
    assert_eq!(v.text.as_deref(), Some("plain version"));
    assert_eq!(v.html.as_deref(), Some("<p>html version</p>"));
    assert!(v.attachments.is_empty());
}

#[test]
fn base64_binary_attachment_is_byte_exact() {
    let file = binary();
    let raw = build(base().text_body("see attached").attachment("Application/PDF", "scan.pdf", file.clone()));
    assert!(String::from_utf8_lossy(&raw).contains("base64"));
    let v = show(&raw);
    assert_eq!(v.text.as_deref(), Some("see attached"));
    assert_eq!(v.attachments.len(), 1);
    let info = &v.attachments[0];
    assert_eq!(
        (info.index, info.filename.as_str(), info.content_type.as_str(), info.size, info.inline),
        (0, "scan.pdf", "application/pdf", file.len(), false)
    );
    let (again, bytes) = attachment(&raw, 0).expect("attachment 0");
    assert_eq!(bytes, file);
    assert_eq!(&again, info);
    assert_eq!(attachment(&raw, 1), None);
}

#[test]
fn text_attachments_keep_their_charset_bytes() {
    // Latin-1 "Müller" in base64 and in quoted-printable: the parser turns
    // text into UTF-8, the download must not.
    let raw = b"From: a@clinic.example\r\nSubject: t\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
        --XX\r\nContent-Type: text/plain\r\n\r\nbody\r\n\
        --XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
        Content-Disposition: attachment; filename=a.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        TfxsbGVyDQpsaW5lIDINCg==\r\n\
        --XX\r\nContent-Type: text/csv; charset=iso-8859-1\r\n\
        Content-Disposition: attachment; filename=b.csv\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
        M=FCller;5.4\r\nline=\r\n 2\r\n\
        --XX--\r\n";
    let v = show(raw);
    assert_eq!(v.text.as_deref(), Some("body"));
    assert_eq!(v.attachments.len(), 2);
    let (a, bytes) = attachment(raw, 0).expect("a.txt");
    assert_eq!((a.filename.as_str(), bytes.as_slice()), ("a.txt", b"M\xfcller\r\nline 2\r\n".as_slice()));
    assert_eq!(a.size, bytes.len());
    assert_eq!(v.attachments[0].size, bytes.len());
    let (b, bytes) = attachment(raw, 1).expect("b.csv");
    assert_eq!((b.filename.as_str(), b.content_type.as_str()), ("b.csv", "text/csv"));
    assert_eq!(bytes, b"M\xfcller;5.4\r\nline 2");
}

#[test]
fn rfc2231_non_ascii_filename() {
    let name = "Befund Müller – März, 2026 (endgültig).pdf";
    let raw = build(base().text_body("x").attachment("application/pdf", name, b"%PDF-1.7".to_vec()));
    assert!(String::from_utf8_lossy(&raw).contains("filename*"), "mail-builder writes RFC 2231");
    assert_eq!(show(&raw).attachments[0].filename, name);
}

#[test]
fn rfc2047_non_ascii_filename() {
    let part = MimePart::new("application/pdf", b"%PDF".to_vec())
        .header("Content-Disposition", Raw::new("attachment; filename=\"=?UTF-8?B?w5xiZXJ3ZWlzdW5nLnBkZg==?=\""));
    let raw = build(base().body(MimePart::new("multipart/mixed", vec![MimePart::new("text/plain", "x"), part])));
    assert_eq!(show(&raw).attachments[0].filename, "Überweisung.pdf");
}

#[test]
fn filename_with_path_and_quotes() {
    let raw = b"From: a@clinic.example\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
        --XX\r\nContent-Type: text/plain\r\n\r\nbody\r\n\
        --XX\r\nContent-Type: application/pdf\r\n\
        Content-Disposition: attachment; filename=\"..\\\\..\\\\Windows\\\\\\\"lab\\\" results.pdf\"\r\n\r\n%PDF\r\n\
        --XX\r\nContent-Type: application/octet-stream; name=\"../../etc/pass\twd\"\r\n\r\nx\r\n\
        --XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"/\"\r\n\r\n%PDF\r\n\
        --XX--\r\n";
    let v = show(raw);
    let names: Vec<&str> = v.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(names, ["\"lab\" results.pdf", "passwd", "attachment-3.pdf"]);
    for name in names {
        assert!(!name.contains(['/', '\\']) && !name.chars().any(char::is_control), "{name:?}");
    }
    let disposition =
        sealpost_view::content_disposition(sealpost_view::Disposition::Attachment, &v.attachments[0].filename);
    assert_eq!(disposition, "attachment; filename=\"_lab_ results.pdf\"; filename*=UTF-8''%22lab%22%20results.pdf");
}

#[test]
fn unnamed_parts_get_numbered_names_with_extensions() {
    let inner = build(MessageBuilder::new().from("x@example.org").subject("fwd").text_body("inner"));
    let raw = build(base().body(MimePart::new(
        "multipart/mixed",
        vec![
            MimePart::new("text/plain", "outer"),
            MimePart::new("application/pdf", b"%PDF".to_vec()),
            MimePart::new("message/rfc822", inner.clone()),
            MimePart::new("application/x-unheard-of", b"?".to_vec()),
        ],
    )));
    let v = show(&raw);
    assert_eq!(v.text.as_deref(), Some("outer"));
    let listed: Vec<(&str, &str)> =
        v.attachments.iter().map(|a| (a.filename.as_str(), a.content_type.as_str())).collect();
    assert_eq!(
        listed,
        [
            ("attachment-1.pdf", "application/pdf"),
            ("attachment-2.eml", "message/rfc822"),
            ("attachment-3", "application/x-unheard-of")
        ]
    );
    let (_, forwarded) = attachment(&raw, 1).expect("the forwarded message");
    assert_eq!(forwarded, inner);
}

fn related(html: &str, parts: Vec<MimePart<'static>>) -> Vec<u8> {
    let mut children = vec![MimePart::new("text/html", html.to_owned())];
    children.extend(parts);
    build(base().body(MimePart::new("multipart/related", children)))
}

#[test]
fn inline_cid_image_in_multipart_related() {
    let raw = related(
        r#"<p>X-ray:<img src="cid:xray.1@clinic.example" alt="x-ray"></p>"#,
        vec![MimePart::new("image/png", PNG.to_vec()).inline().cid("xray.1@clinic.example")],
    );
    let v = show(&raw);
    assert_eq!(
        v.html.as_deref(),
        Some(r#"<p>X-ray:<img src="/portal/m/7/cid/xray.1@clinic.example" alt="x-ray"></p>"#)
    );
    assert_eq!(v.attachments.len(), 1);
    let image = &v.attachments[0];
    assert!(image.inline);
    assert_eq!(image.content_id.as_deref(), Some("xray.1@clinic.example"));
    assert_eq!((image.content_type.as_str(), image.size), ("image/png", PNG.len()));
    assert_eq!(image.filename, "attachment-1.png");
    assert_eq!(inline_image(&raw, "xray.1@clinic.example"), Some(("image/png".to_owned(), PNG.to_vec())));
    assert_eq!(inline_image(&raw, "other@clinic.example"), None);
}

#[test]
fn an_image_the_html_does_not_show_is_not_inline() {
    let raw = related("<p>no image</p>", vec![MimePart::new("image/png", PNG.to_vec()).inline().cid("unused@x")]);
    let v = show(&raw);
    assert!(!v.attachments[0].inline);
    assert_eq!(v.attachments[0].content_id.as_deref(), Some("unused@x"));
}

#[test]
fn svg_and_mislabelled_images_are_never_served_inline() {
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    let raw = related(
        r#"<img src="cid:s@x"><img src="cid:fake@x">"#,
        vec![
            MimePart::new("image/svg+xml", svg).inline().cid("s@x"),
            MimePart::new("image/png", b"<html><script>alert(1)</script>".to_vec()).inline().cid("fake@x"),
        ],
    );
    let v = show(&raw);
    assert_eq!(v.attachments.len(), 2);
    assert!(!v.attachments[0].inline, "svg is not an inline image");
    assert_eq!(inline_image(&raw, "s@x"), None);
    assert_eq!(inline_image(&raw, "fake@x"), None);
}

#[test]
fn tracking_pixel_scripts_handlers_and_styles_are_removed() {
    let raw = build(base().html_body(
        r#"<div style="background:url(https://tracker.example/bg.png)"><img src="https://tracker.example/p.gif" width="1" height="1"><script>steal()</script><img src="x" onerror="steal()"><a href="javascript:steal()">click</a><a href="https://portal.example/help">help</a><style>body{background:url(https://t.example/s)}</style></div>"#,
    ));
    let html = show(&raw).html.expect("html");
    assert_eq!(
        html,
        r#"<div><img height="1" width="1"><img><a rel="noopener noreferrer">click</a><a href="https://portal.example/help" rel="noopener noreferrer">help</a></div>"#
    );
    for bad in ["tracker", "<script", "onerror", "javascript:", "style", "url("] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
}

#[test]
fn threading_ids() {
    let raw = build(
        base()
            .in_reply_to("p2@clinic.example")
            .references(MessageId::new_list(["root@clinic.example", "p1@clinic.example"].into_iter())),
    );
    let v = show(&raw);
    assert_eq!(v.message_id.as_deref(), Some("m1@clinic.example"));
    assert_eq!(v.references, ["root@clinic.example", "p1@clinic.example", "p2@clinic.example"]);

    let raw = build(
        base()
            .in_reply_to("p1@clinic.example")
            .references(MessageId::new_list(["root@x", "p1@clinic.example"].into_iter())),
    );
    assert_eq!(show(&raw).references, ["root@x", "p1@clinic.example"], "In-Reply-To already in References");
}

#[test]
fn group_syntax_is_flattened() {
    let raw = b"From: a@clinic.example\r\nTo: Care team: b@clinic.example, \"Dr C\" <c@clinic.example>;, undisclosed-recipients:;\r\nSubject: g\r\n\r\nx\r\n";
    let to: Vec<String> = show(raw).to.into_iter().map(|m| m.address).collect();
    assert_eq!(to, ["b@clinic.example", "c@clinic.example"]);
}

#[test]
fn no_message_is_an_error() {
    assert_eq!(view(b"", &cid_url), Err(ViewError::NotAMessage { len: 0 }));
    assert_eq!(attachment(b"", 0), None);
    assert_eq!(inline_image(b"", "a"), None);
}
