//! Line ends of a message handed to `POST /v1/messages/raw`: CRLF as
//! stored, or LF throughout (files written by Unix tools, many EHR
//! exports), which becomes CRLF as sendmail does. A mix of the two, or a
//! bare CR, is refused: no guessing which line break was meant. SMTP never
//! comes here — it keeps refusing bare LF (the smuggling defence).

use std::borrow::Cow;

/// Why the line ends cannot be made CRLF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineEndError {
    /// Some lines end in CRLF, others in bare LF.
    #[error("mixed line ends: CRLF on line {crlf_line} but bare LF on line {lf_line}; use one kind throughout")]
    Mixed {
        /// The first line ending in CRLF (1-based).
        crlf_line: usize,
        /// The first line ending in bare LF (1-based).
        lf_line: usize,
    },
    /// A CR not followed by LF.
    #[error("bare CR on line {line}")]
    BareCr {
        /// Its line (1-based).
        line: usize,
    },
}

/// `raw` with CRLF line ends: unchanged when it has no bare LF; with every
/// LF made CRLF when it has no CR at all; refused otherwise.
pub fn to_crlf(raw: &[u8]) -> Result<Cow<'_, [u8]>, LineEndError> {
    let mut first_crlf = None;
    let mut first_lf = None;
    let mut line = 1;
    for (i, &b) in raw.iter().enumerate() {
        match b {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                first_crlf.get_or_insert(line);
            }
            b'\r' => return Err(LineEndError::BareCr { line }),
            b'\n' => {
                if i == 0 || raw[i - 1] != b'\r' {
                    first_lf.get_or_insert(line);
                }
                line += 1;
            }
            _ => {}
        }
    }
    match (first_crlf, first_lf) {
        (_, None) => Ok(Cow::Borrowed(raw)),
        (None, Some(_)) => {
            let lines = raw.iter().filter(|&&b| b == b'\n').count();
            let mut out = Vec::with_capacity(raw.len() + lines);
            for &b in raw {
                if b == b'\n' {
                    out.push(b'\r');
                }
                out.push(b);
            }
            Ok(Cow::Owned(out))
        }
        (Some(crlf_line), Some(lf_line)) => Err(LineEndError::Mixed { crlf_line, lf_line }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn crlf_is_kept_lf_is_converted_mixes_are_refused() {
        assert_eq!(to_crlf(b"a\r\nb\r\n").unwrap(), Cow::Borrowed(b"a\r\nb\r\n".as_slice()));
        assert!(matches!(to_crlf(b"a\r\nb\r\n").unwrap(), Cow::Borrowed(_)));
        assert_eq!(to_crlf(b"a\nb\n\nc").unwrap().as_ref(), b"a\r\nb\r\n\r\nc");
        assert_eq!(to_crlf(b"no line end").unwrap().as_ref(), b"no line end");
        assert_eq!(to_crlf(b"").unwrap().as_ref(), b"");
        assert_eq!(to_crlf(b"a\r\nb\nc\n"), Err(LineEndError::Mixed { crlf_line: 1, lf_line: 2 }));
        assert_eq!(to_crlf(b"a\nb\r\n"), Err(LineEndError::Mixed { crlf_line: 2, lf_line: 1 }));
        assert_eq!(to_crlf(b"a\nb\rc\n"), Err(LineEndError::BareCr { line: 2 }));
        assert_eq!(to_crlf(b"a\r"), Err(LineEndError::BareCr { line: 1 }));
        let msg = to_crlf(b"H: x\r\n\r\nline\nbare\r\n").unwrap_err().to_string();
        assert_eq!(msg, "mixed line ends: CRLF on line 1 but bare LF on line 3; use one kind throughout");
    }

    fn lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
        // Any bytes but CR and LF on a line.
        proptest::collection::vec(
            proptest::collection::vec(any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'), 0..40),
            0..12,
        )
    }

    proptest! {
        /// LF-only text becomes the same lines joined by CRLF; CRLF text is
        /// left as is; the result never has a bare LF or CR.
        #[test]
        fn lf_only_becomes_the_same_lines_in_crlf(lines in lines(), trailing in any::<bool>()) {
            let mut lf = lines.join(&b'\n');
            let mut crlf = lines.join(b"\r\n".as_slice());
            if trailing {
                lf.push(b'\n');
                crlf.extend_from_slice(b"\r\n");
            }
            prop_assert_eq!(to_crlf(&lf).unwrap().into_owned(), crlf.clone());
            prop_assert_eq!(to_crlf(&crlf).unwrap().into_owned(), crlf);
        }

        /// A CRLF anywhere in LF text (or the reverse) is refused, naming
        /// both lines.
        #[test]
        fn any_mix_is_refused(lines in lines(), at in 0usize..11) {
            prop_assume!(lines.len() >= 3);
            let at = at % (lines.len() - 1);
            let mut text = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                text.extend_from_slice(l);
                if i + 1 < lines.len() {
                    text.extend_from_slice(if i == at { b"\r\n".as_slice() } else { b"\n".as_slice() });
                }
            }
            let crlf_line = at + 1;
            let lf_line = if at == 0 { 2 } else { 1 };
            prop_assert_eq!(to_crlf(&text), Err(LineEndError::Mixed { crlf_line, lf_line }));
        }
    }
}
