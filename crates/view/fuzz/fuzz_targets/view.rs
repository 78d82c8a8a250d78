//! Shows arbitrary bytes as a message, then fetches every attachment and
//! inline image it lists. Must never panic; the sanitised HTML never holds
//! a script or an image source that `cid_url` did not make; every listed
//! attachment can be fetched with the size it was listed with.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealpost_view::{Disposition, attachment, content_disposition, inline_image, view};

fn cid_url(cid: &str) -> String {
    let hex: String = cid.bytes().map(|b| format!("{b:02x}")).collect();
    format!("/cid/{hex}")
}

fuzz_target!(|data: &[u8]| {
    let Ok(message) = view(data, &cid_url) else { return };
    if let Some(html) = &message.html {
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "{html}");
        for (at, _) in lower.match_indices(" src=\"") {
            assert!(lower[at..].starts_with(" src=\"/cid/"), "{html}");
        }
    }
    for info in &message.attachments {
        assert!(!info.filename.is_empty());
        let (_, bytes) = attachment(data, info.index).expect("a listed attachment can be fetched");
        assert_eq!(bytes.len(), info.size);
        assert!(content_disposition(Disposition::Attachment, &info.filename).is_ascii());
        if let Some(id) = &info.content_id {
            let _ = inline_image(data, id);
        }
    }
});
