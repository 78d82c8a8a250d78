//! Cutting large base64 bodies out of a message, and splicing them back.
//!
//! The archive stores an attachment once per tenant (R-AR-1). To do that
//! without giving up byte-exact originals, a message is split into a
//! *skeleton* (the message with some base64 bodies removed) and the
//! *decoded* bytes of those bodies, each with the [`Layout`] its encoded
//! form had. [`splice`] rebuilds the original from the skeleton and the
//! re-encoded bodies.
//!
//! Exactness is by construction, not by trust in the MIME parser: a body is
//! cut only if re-encoding its decoded bytes with the layout it was found in
//! reproduces the encoded bytes exactly. Anything else (odd line lengths,
//! whitespace, per-line padding, broken base64) stays in the skeleton as it
//! is. The parser only proposes candidates.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail_parser::{Encoding, MessageParser, PartType};

/// How a body's decoded bytes are encoded back: one base64 string (padding
/// only at its end) in lines of `line_len` characters, the last one possibly
/// shorter, separated by CRLF or LF, with no line break after the last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Characters per line (the last line may be shorter). At least 1.
    pub line_len: usize,
    /// CRLF (true) or LF line breaks.
    pub crlf: bool,
}

/// One body cut out of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutPart {
    /// Where its encoded form goes back into the skeleton: a byte offset
    /// into the skeleton (not the original).
    pub at: usize,
    /// The decoded bytes (the attachment itself).
    pub decoded: Vec<u8>,
    /// How to encode them back.
    pub layout: Layout,
}

/// A message split by [`cut`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The message without the cut bodies.
    pub skeleton: Vec<u8>,
    /// The cut bodies, in ascending order of `at`.
    pub parts: Vec<CutPart>,
}

/// A splice that cannot be done: the skeleton and the parts do not belong
/// together. Positions only, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpliceError {
    /// A part's offset is past the end of the skeleton or before the
    /// previous part's.
    #[error("part {index} goes at byte {at}, outside the skeleton's remaining {len} bytes or out of order")]
    BadOffset {
        /// The part's position in the list.
        index: usize,
        /// Its offset.
        at: usize,
        /// The skeleton's length.
        len: usize,
    },
    /// A layout with a line length of zero.
    #[error("part {index} has a line length of zero")]
    BadLayout {
        /// The part's position in the list.
        index: usize,
    },
}

/// Splits `raw` into a skeleton and the decoded bytes of every top-level
/// leaf part whose base64 body is at least `min_encoded` bytes long and is
/// laid out regularly (see [`Layout`]). Everything else stays in the
/// skeleton. `splice(&cut.skeleton, …)` with the parts re-encoded gives
/// back `raw` exactly.
pub fn cut(raw: &[u8], min_encoded: usize) -> Cut {
    let mut regions: Vec<(usize, usize, Vec<u8>, Layout)> = Vec::new();
    if raw.len() >= min_encoded
        && let Some(message) = MessageParser::default().parse(raw)
    {
        for part in &message.parts {
            if part.encoding != Encoding::Base64 || matches!(part.body, PartType::Multipart(_) | PartType::Message(_)) {
                continue;
            }
            let (start, end) = (part.offset_body as usize, part.offset_end as usize);
            let Some(body) = raw.get(start..end) else { continue };
            let Some((len, decoded, layout)) = regular_base64(body) else { continue };
            if len < min_encoded || regions.last().is_some_and(|(s, l, ..)| start < s + l) {
                continue;
            }
            regions.push((start, len, decoded, layout));
        }
    }
    let mut skeleton = Vec::with_capacity(raw.len() - regions.iter().map(|r| r.1).sum::<usize>());
    let mut parts = Vec::with_capacity(regions.len());
    let mut pos = 0;
    for (start, len, decoded, layout) in regions {
        skeleton.extend_from_slice(&raw[pos..start]);
        parts.push(CutPart { at: skeleton.len(), decoded, layout });
        pos = start + len;
    }
    skeleton.extend_from_slice(&raw[pos..]);
    Cut { skeleton, parts }
}

/// The encoded form of `decoded` in `layout`.
pub fn encode(decoded: &[u8], layout: Layout) -> Vec<u8> {
    let flat = STANDARD.encode(decoded);
    let eol: &[u8] = if layout.crlf { b"\r\n" } else { b"\n" };
    let step = layout.line_len.max(1);
    let lines = flat.len().div_ceil(step);
    let mut out = Vec::with_capacity(flat.len() + lines.saturating_sub(1) * eol.len());
    for (i, line) in flat.as_bytes().chunks(step).enumerate() {
        if i > 0 {
            out.extend_from_slice(eol);
        }
        out.extend_from_slice(line);
    }
    out
}

/// Rebuilds a message: `parts` are (offset into the skeleton, encoded
/// bytes), in ascending order of offset.
pub fn splice<'a>(skeleton: &[u8], parts: impl IntoIterator<Item = (usize, &'a [u8])>) -> Result<Vec<u8>, SpliceError> {
    let mut out = Vec::with_capacity(skeleton.len());
    let mut pos = 0;
    for (index, (at, encoded)) in parts.into_iter().enumerate() {
        if at < pos || at > skeleton.len() {
            return Err(SpliceError::BadOffset { index, at, len: skeleton.len() });
        }
        out.extend_from_slice(&skeleton[pos..at]);
        out.extend_from_slice(encoded);
        pos = at;
    }
    out.extend_from_slice(&skeleton[pos..]);
    Ok(out)
}

/// Checks that a layout is usable before encoding with it (a stored layout
/// comes back from sealed metadata; a zero line length is corrupt).
pub fn check_layout(index: usize, layout: Layout) -> Result<(), SpliceError> {
    if layout.line_len == 0 { Err(SpliceError::BadLayout { index }) } else { Ok(()) }
}

/// The longest prefix of `body` that is regular base64 (see [`Layout`]),
/// ending at its last base64 character: (its length, decoded bytes, layout).
/// None when the body does not start with such a prefix or when
/// re-encoding does not give the same bytes back.
fn regular_base64(body: &[u8]) -> Option<(usize, Vec<u8>, Layout)> {
    let is_b64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    let first_len = body.iter().take_while(|b| is_b64(b)).count();
    if first_len == 0 {
        return None;
    }
    let crlf = body.get(first_len..first_len + 2) == Some(b"\r\n");
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    // Walk lines of base64 characters separated by `eol`; the region ends
    // after the last line's characters (its line break stays outside).
    let mut end = first_len;
    let mut flat: Vec<u8> = body[..first_len].to_vec();
    loop {
        let next = end + eol.len();
        if body.get(end..next) != Some(eol) {
            break;
        }
        let len = body[next..].iter().take_while(|b| is_b64(b)).count();
        if len == 0 {
            break;
        }
        flat.extend_from_slice(&body[next..next + len]);
        end = next + len;
    }
    let decoded = STANDARD.decode(&flat).ok()?;
    let layout = Layout { line_len: first_len, crlf };
    (encode(&decoded, layout) == body[..end]).then_some((end, decoded, layout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rebuild(cut: &Cut) -> Vec<u8> {
        let encoded: Vec<(usize, Vec<u8>)> = cut.parts.iter().map(|p| (p.at, encode(&p.decoded, p.layout))).collect();
        splice(&cut.skeleton, encoded.iter().map(|(at, e)| (*at, e.as_slice()))).unwrap()
    }

    fn with_attachment(payload: &[u8], line_len: usize, eol: &str) -> Vec<u8> {
        let body = String::from_utf8(encode(payload, Layout { line_len, crlf: eol == "\r\n" })).unwrap();
        format!(
            "From: a@example.org{eol}To: b@example.org{eol}Subject: scan{eol}MIME-Version: 1.0{eol}\
             Content-Type: multipart/mixed; boundary=\"b1\"{eol}{eol}--b1{eol}Content-Type: text/plain{eol}{eol}\
             See attached.{eol}--b1{eol}Content-Type: application/pdf; name=\"x.pdf\"{eol}\
             Content-Transfer-Encoding: base64{eol}{eol}{body}{eol}--b1--{eol}"
        )
        .into_bytes()
    }

    #[test]
    fn a_large_attachment_is_cut_and_spliced_back_exactly() {
        let payload: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for (line_len, eol) in [(76, "\r\n"), (76, "\n"), (64, "\r\n"), (72, "\n")] {
            let raw = with_attachment(&payload, line_len, eol);
            let cut = cut(&raw, 8 * 1024);
            assert_eq!(cut.parts.len(), 1, "line length {line_len}");
            assert_eq!(cut.parts[0].decoded, payload);
            assert_eq!(cut.parts[0].layout, Layout { line_len, crlf: eol == "\r\n" });
            assert!(cut.skeleton.len() < 1_000, "the body left the skeleton");
            assert_eq!(rebuild(&cut), raw);
        }
    }

    #[test]
    fn small_and_irregular_bodies_stay_in_the_skeleton() {
        let payload = vec![0xA5u8; 20_000];
        let raw = with_attachment(&payload, 76, "\r\n");
        assert!(cut(&raw, 64 * 1024).parts.is_empty(), "below the threshold");
        // A line of a different length in the middle: not regular, not cut.
        let text = String::from_utf8(raw.clone()).unwrap();
        let encoded_line = &text[text.find("Content-Transfer-Encoding: base64\r\n\r\n").unwrap() + 37..][..76];
        let irregular = text.replacen(encoded_line, &format!("{}\r\n{}", &encoded_line[..40], &encoded_line[40..]), 1);
        let c = cut(irregular.as_bytes(), 8 * 1024);
        assert!(c.parts.is_empty());
        assert_eq!(c.skeleton, irregular.as_bytes());
    }

    #[test]
    fn a_splice_with_offsets_out_of_order_is_refused() {
        assert!(matches!(
            splice(b"abc", [(2, b"x".as_slice()), (1, b"y".as_slice())]),
            Err(SpliceError::BadOffset { index: 1, .. })
        ));
        assert!(matches!(splice(b"abc", [(4, b"x".as_slice())]), Err(SpliceError::BadOffset { index: 0, .. })));
        assert_eq!(splice(b"abc", [(0, b"x".as_slice()), (3, b"y".as_slice())]).unwrap(), b"xabcy");
    }

    proptest! {
        #[test]
        fn cut_then_splice_is_the_identity(raw in proptest::collection::vec(any::<u8>(), 0..4_000)) {
            let c = cut(&raw, 16);
            prop_assert_eq!(rebuild(&c), raw);
        }

        #[test]
        fn messages_with_attachments_round_trip(
            payload in proptest::collection::vec(any::<u8>(), 0..6_000),
            line_len in 1usize..120,
            crlf in any::<bool>(),
            min in 0usize..2_000,
        ) {
            let raw = with_attachment(&payload, line_len, if crlf { "\r\n" } else { "\n" });
            let c = cut(&raw, min);
            prop_assert_eq!(rebuild(&c), raw);
        }
    }
}
