//! A crude HTML-to-text pass for scanning: drops tags, comments, scripts and
//! styles, and decodes the few entities that can hide digits or names.
//!
//! It does not need to render, only to keep words apart where a browser would
//! and together where a browser would: inline tags (`<b>`, `<span>`, …) vanish,
//! every other tag becomes a space, so `123-<b>45</b>-6789` still reads as an SSN.

/// Tags that do not break a word when removed.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "em", "font", "i", "mark", "q", "s", "small", "span", "strong",
    "sub", "sup", "u", "wbr",
];

/// The text of an HTML document, for scanning only.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // Once a search for an end marker has failed, later searches for the
    // same marker would fail too; remembering that keeps hostile input
    // ("<!--" or "<script>" repeated) linear.
    let (mut no_comment_end, mut no_script_end, mut no_style_end) = (false, false, false);
    while let Some(lt) = rest.find(['<', '&']) {
        out.push_str(&rest[..lt]);
        let tail = &rest[lt..];
        if tail.starts_with('&') {
            let (decoded, used) = entity(tail);
            out.push_str(decoded.as_deref().unwrap_or("&"));
            rest = &tail[used..];
            continue;
        }
        if let Some(body) = tail.strip_prefix("<!--") {
            // An unclosed comment or script keeps its text: better a false
            // finding than PHI hidden behind a missing end marker.
            let end = if no_comment_end { None } else { body.find("-->") };
            no_comment_end = end.is_none();
            rest = end.map_or(body, |end| &body[end + 3..]);
            out.push(' ');
            continue;
        }
        if !tail[1..].starts_with(|c: char| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?')) {
            // "a < b": not a tag.
            out.push('<');
            rest = &tail[1..];
            continue;
        }
        let Some(gt) = tail.find('>') else {
            // An unclosed tag: keep the text, it may still hold PHI.
            out.push_str(tail);
            rest = "";
            break;
        };
        let name = tag_name(&tail[1..gt]);
        rest = &tail[gt + 1..];
        let opens = !tail[1..].starts_with('/');
        let no_end = match name.to_ascii_lowercase().as_str() {
            "script" if opens => Some(&mut no_script_end),
            "style" if opens => Some(&mut no_style_end),
            _ => None,
        };
        if let Some(no_end) = no_end
            && !*no_end
        {
            match skip_to_close(rest, &name) {
                Some(after) => rest = after,
                None => *no_end = true,
            }
        }
        if !INLINE.iter().any(|t| t.eq_ignore_ascii_case(&name)) {
            out.push(' ');
        }
    }
    out.push_str(rest);
    out
}

fn tag_name(tag: &str) -> String {
    tag.trim_start_matches(['/', '!', '?']).chars().take_while(|c| c.is_ascii_alphanumeric()).take(16).collect()
}

/// The text after the closing `</name>` (any case), or `None` if there is none.
fn skip_to_close<'a>(rest: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("</{}", name.to_ascii_lowercase());
    let mut from = 0;
    while let Some(i) = rest[from..].find("</") {
        let at = from + i;
        let candidate = rest.get(at..at + needle.len());
        if candidate.is_some_and(|c| c.eq_ignore_ascii_case(&needle)) {
            return Some(rest[at..].find('>').map_or("", |gt| &rest[at + gt + 1..]));
        }
        from = at + 2;
    }
    None
}

/// Decodes the entity at the start of `s` ("&amp;", "&#57;", "&#x39;"):
/// the replacement text and how many bytes it used, or `None` and 1.
fn entity(s: &str) -> (Option<String>, usize) {
    // Entity names are short; looking further would make `&` without `;` quadratic.
    let Some(semi) = s.bytes().skip(1).take(11).position(|b| b == b';') else { return (None, 1) };
    let name = &s[1..semi + 1];
    let decoded = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" | "rsquo" | "lsquo" => Some('\''),
        "nbsp" | "ensp" | "emsp" | "thinsp" => Some(' '),
        "ndash" | "mdash" | "hyphen" => Some('-'),
        _ => name.strip_prefix('#').and_then(|num| {
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            code.and_then(char::from_u32)
        }),
    };
    match decoded {
        Some(c) => (Some(c.to_string()), semi + 2),
        None => (None, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_and_decodes_entities() {
        assert_eq!(html_to_text("<p>SSN 123-<b>45</b>-6789</p>"), " SSN 123-45-6789 ");
        assert_eq!(html_to_text("a<br>b"), "a b");
        assert_eq!(html_to_text("&#49;23&amp;&nbsp;x &bogus; & y"), "123& x &bogus; & y");
        assert_eq!(html_to_text("<style>p{}</style>x<SCRIPT>var a='<b>';</script >y"), " x y");
        assert_eq!(html_to_text("a<!-- 123-45-6789 -->b"), "a b");
        assert_eq!(html_to_text("tail <b unclosed"), "tail <b unclosed");
        assert_eq!(html_to_text("<script>never closed"), " never closed");
        assert_eq!(html_to_text("a<!-- never closed"), "a  never closed");
        assert_eq!(html_to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(html_to_text("<script>a<script>b</script>c"), " c");
        assert_eq!(html_to_text("<!--a<!--b"), " a b");
        assert_eq!(html_to_text("é&#xE9;&#1114112;ü"), "éé&#1114112;ü");
    }
}
