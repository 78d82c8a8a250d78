//! Message HTML made safe to embed in the portal's page.
//!
//! The page is served with `Content-Security-Policy: default-src 'none';
//! img-src 'self'; style-src 'self'`; what comes out of here must neither
//! break out of that page nor make it fetch anything but its own URLs.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ammonia::{Builder, UrlRelative, UrlRelativeEvaluate};

/// What a mail reader needs to lay text out: structure, tables, emphasis,
/// links and images. No forms, frames, embedded objects, media, SVG or
/// MathML; no `style`, `class` or `id` (style breaks the CSP, class and id
/// would let a sender borrow the portal's own CSS and scripts' element ids).
const TAGS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "b",
    "bdi",
    "bdo",
    "big",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "wbr",
];

/// Elements removed together with everything inside them: their content is
/// code, a document of its own, or form state, never text to read.
const DROP_WITH_CONTENT: &[&str] = &[
    "script", "style", "title", "noscript", "template", "iframe", "frame", "frameset", "noframes", "object", "embed",
    "applet", "textarea", "select", "svg", "math",
];

/// Attributes on every allowed element.
const GENERIC_ATTRIBUTES: &[&str] = &["dir", "lang", "title"];

/// Presentational attributes that old mail clients and templates still use.
/// Deliberately absent: `style`, `class`, `id`, `name`, `background`,
/// `srcset`, `poster`, `lowsrc`, `usemap`, `longdesc`, `cite`, `target`,
/// every `on*` handler.
const TAG_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("a", &["href"]),
    ("img", &["src", "alt", "width", "height", "align", "border", "hspace", "vspace"]),
    ("font", &["color", "face", "size"]),
    ("table", &["width", "border", "cellpadding", "cellspacing", "align", "bgcolor", "summary"]),
    ("td", &["colspan", "rowspan", "align", "valign", "width", "height", "bgcolor", "nowrap"]),
    ("th", &["colspan", "rowspan", "align", "valign", "width", "height", "bgcolor", "nowrap", "scope"]),
    ("tr", &["align", "valign", "bgcolor"]),
    ("thead", &["align", "valign"]),
    ("tbody", &["align", "valign"]),
    ("tfoot", &["align", "valign"]),
    ("col", &["span", "width", "align", "valign"]),
    ("colgroup", &["span", "width", "align", "valign"]),
    ("ol", &["start", "type", "reversed"]),
    ("ul", &["type"]),
    ("li", &["value", "type"]),
    ("p", &["align"]),
    ("div", &["align"]),
    ("h1", &["align"]),
    ("h2", &["align"]),
    ("h3", &["align"]),
    ("h4", &["align"]),
    ("h5", &["align"]),
    ("h6", &["align"]),
    ("hr", &["width", "size", "align", "noshade"]),
    ("time", &["datetime"]),
    ("del", &["datetime"]),
    ("ins", &["datetime"]),
    ("details", &["open"]),
];

/// Schemes that pass ammonia's URL check. `cid` only survives on `img src`
/// (rewritten to the portal's URL); links are narrowed to http, https and
/// mailto by [`filter_attribute`].
const URL_SCHEMES: &[&str] = &["http", "https", "mailto", "cid"];

/// Schemes a link may keep.
const LINK_SCHEMES: &[&str] = &["http", "https", "mailto"];

/// What [`sanitize`] returns: the safe HTML and the content ids its images
/// referred to (each once, in order of first use).
pub(crate) struct Sanitized {
    pub(crate) html: String,
    pub(crate) content_ids: Vec<String>,
}

/// `html` as safe HTML, with every `<img src="cid:X">` pointing at
/// `cid_url(X)` (X percent-decoded, as RFC 2392 writes it). Any other image
/// source is dropped (the alt text stays), so opening a message never
/// fetches anything from elsewhere: no tracking pixels.
///
/// Links keep only http, https and mailto targets and get
/// `rel="noopener noreferrer"`. Scripts, styles, forms, frames, objects,
/// `meta`/`link`/`base`, comments, event handlers and style attributes are
/// removed. `cid_url` should return a URL of the portal's own origin (it is
/// trusted as given) and is called once per distinct content id.
///
/// ```
/// let html = sealpost_view::sanitize_html(
///     r#"<p onclick="x()">Hi<img src="https://t.example/p.gif" alt="logo"><img src="cid:a%40b"></p>"#,
///     &|cid| format!("/inline/{cid}"),
/// );
/// assert_eq!(html, r#"<p>Hi<img alt="logo"><img src="/inline/a@b"></p>"#);
/// ```
pub fn sanitize_html(html: &str, cid_url: &dyn Fn(&str) -> String) -> String {
    sanitize(html, cid_url).html
}

pub(crate) fn sanitize(html: &str, cid_url: &dyn Fn(&str) -> String) -> Sanitized {
    // ammonia's filters must be 'static, Send and Sync, which `cid_url` is
    // not: a first pass collects the content ids, the second rewrites them
    // from a map. Without content ids the first pass is already the result.
    let found = Arc::new(Mutex::new(Vec::new()));
    let first = builder(HashMap::new(), Some(Arc::clone(&found))).clean(html).to_string();
    let mut content_ids = found.lock().map(|mut ids| std::mem::take(&mut *ids)).unwrap_or_default();
    let mut seen = HashSet::new();
    content_ids.retain(|id| seen.insert(id.clone()));
    if content_ids.is_empty() {
        return Sanitized { html: first, content_ids };
    }
    let urls: HashMap<String, String> = content_ids.iter().map(|id| (id.clone(), cid_url(id))).collect();
    let html = builder(urls, None).clean(html).to_string();
    Sanitized { html, content_ids }
}

/// The ammonia configuration, every setting explicit.
fn builder(urls: HashMap<String, String>, found: Option<Arc<Mutex<Vec<String>>>>) -> Builder<'static> {
    let allowed_relative = OnlyThese(urls.values().cloned().collect());
    let mut builder = Builder::empty();
    builder
        .tags(TAGS.iter().copied().collect())
        .clean_content_tags(DROP_WITH_CONTENT.iter().copied().collect())
        .generic_attributes(GENERIC_ATTRIBUTES.iter().copied().collect())
        .generic_attribute_prefixes(HashSet::new())
        .tag_attributes(TAG_ATTRIBUTES.iter().map(|(tag, attrs)| (*tag, attrs.iter().copied().collect())).collect())
        .tag_attribute_values(HashMap::new())
        .set_tag_attribute_values(HashMap::new())
        .allowed_classes(HashMap::new())
        .filter_style_properties(HashSet::new())
        .url_schemes(URL_SCHEMES.iter().copied().collect())
        // The only relative URLs left after the filter are the portal's
        // own, produced by `cid_url`.
        .url_relative(UrlRelative::Custom(Box::new(allowed_relative)))
        .link_rel(Some("noopener noreferrer"))
        .strip_comments(true)
        .id_prefix(None)
        .attribute_filter(move |element, attribute, value| {
            filter_attribute(&urls, found.as_deref(), element, attribute, value)
        });
    builder
}

/// Images: only `cid:` sources, mapped through `urls` (and recorded in
/// `found`). Links: only http, https and mailto. Everything else that
/// reached here was already allowed by name.
fn filter_attribute<'u>(
    urls: &HashMap<String, String>,
    found: Option<&Mutex<Vec<String>>>,
    element: &str,
    attribute: &str,
    value: &'u str,
) -> Option<Cow<'u, str>> {
    match (element, attribute) {
        ("img", "src") => {
            let id = content_id(value)?;
            if let Some(found) = found
                && let Ok(mut found) = found.lock()
            {
                found.push(id.clone());
            }
            urls.get(&id).map(|url| Cow::Owned(url.clone()))
        }
        ("a", "href") => is_link(value).then_some(Cow::Borrowed(value)),
        _ => Some(Cow::Borrowed(value)),
    }
}

/// The content id a `cid:` URL names (RFC 2392: percent-encoded), if `value`
/// is one.
pub(crate) fn content_id(value: &str) -> Option<String> {
    let value = value.trim();
    let scheme = value.get(..4)?;
    if !scheme.eq_ignore_ascii_case("cid:") {
        return None;
    }
    let id = percent_decode(&value[4..]);
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    (!id.is_empty()).then(|| id.to_owned())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_link(value: &str) -> bool {
    ammonia::url::Url::parse(value).is_ok_and(|url| LINK_SCHEMES.contains(&url.scheme()))
}

/// A relative-URL policy that lets through exactly the given URLs.
struct OnlyThese(HashSet<String>);

impl<'a> UrlRelativeEvaluate<'a> for OnlyThese {
    fn evaluate<'url>(&self, url: &'url str) -> Option<Cow<'url, str>> {
        self.0.contains(url).then_some(Cow::Borrowed(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(html: &str) -> String {
        sanitize_html(html, &|cid| format!("/m/1/cid/{cid}"))
    }

    #[test]
    fn tracking_pixels_and_remote_images_lose_their_source() {
        for src in [
            "https://tracker.example/p.gif",
            "http://x.example/a.png",
            "//x.example/a.png",
            "data:image/png;base64,iVBORw0KGgo=",
            "a.png",
            "/a.png",
            " javascript:alert(1)",
        ] {
            let out = clean(&format!(r#"<img src="{src}" alt="pixel">"#));
            assert_eq!(out, r#"<img alt="pixel">"#, "{src}");
        }
    }

    #[test]
    fn cid_images_point_at_the_portal() {
        let out = clean(r#"<img src="CID:%3Cpart1%40x%3E" alt="scan"><img src="cid:part1@x">"#);
        assert_eq!(out, r#"<img src="/m/1/cid/part1@x" alt="scan"><img src="/m/1/cid/part1@x">"#);
    }

    #[test]
    fn cid_url_is_asked_once_per_content_id() {
        let calls = std::cell::Cell::new(0);
        let out = sanitize(r#"<img src="cid:a"><img src="cid:a"><img src="cid:b">"#, &|id| {
            calls.set(calls.get() + 1);
            format!("/c/{id}")
        });
        assert_eq!(calls.get(), 2);
        assert_eq!(out.content_ids, ["a", "b"]);
    }

    #[test]
    fn scripts_styles_and_handlers_are_removed() {
        let out = clean(
            r#"<script>alert(1)</script><style>p{}</style><p style="color:red" onclick="x()" class="c" id="i">ok</p><img src=x onerror="alert(1)">"#,
        );
        assert_eq!(out, "<p>ok</p><img>");
    }

    #[test]
    fn links_keep_only_safe_schemes_and_get_rel() {
        assert_eq!(
            clean(r#"<a href="https://ex.example/a" target="_blank">a</a>"#),
            r#"<a href="https://ex.example/a" rel="noopener noreferrer">a</a>"#
        );
        assert_eq!(
            clean(r#"<a href="mailto:dr@ex.example">m</a>"#),
            r#"<a href="mailto:dr@ex.example" rel="noopener noreferrer">m</a>"#
        );
        for href in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "java\tscript:alert(1)",
            "vbscript:x",
            "cid:a",
            "/rel",
            "data:text/html,x",
        ] {
            let out = clean(&format!(r#"<a href="{href}">x</a>"#));
            assert_eq!(out, r#"<a rel="noopener noreferrer">x</a>"#, "{href}");
        }
    }

    #[test]
    fn documents_forms_frames_and_objects_are_removed() {
        let out = clean(
            r##"<html><head><meta http-equiv="refresh" content="0;url=https://x"><link rel="stylesheet" href="https://x/s.css"><base href="https://x/"><title>t</title></head><body background="https://x/bg.png"><form action="https://x"><input name="q" value="v"><button>Go</button></form><iframe src="https://x"></iframe><object data="x"></object><embed src="x"><video poster="https://x/p.png" src="v.mp4"></video><img srcset="https://x/a.png 2x" lowsrc="https://x/l.png" usemap="#m" alt="a"><table background="https://x/t.png"><tr><td>c</td></tr></table></body></html>"##,
        );
        assert_eq!(out, r#"Go<img alt="a"><table><tbody><tr><td>c</td></tr></tbody></table>"#);
    }

    #[test]
    fn comments_and_conditional_comments_are_removed() {
        assert_eq!(clean("a<!--[if mso]><script>x</script><![endif]-->b"), "ab");
    }
}
