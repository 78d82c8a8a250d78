//! Classification at intake. For now: the category (R-CL-2) from the
//! `X-Sealpost-Category` header when the intake path has no API field.
//! PHI detection (R-CL-1) arrives with delivery.

use sealpost_model::Category;

/// The header named a category that does not exist.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown X-Sealpost-Category; expected transactional or marketing")]
pub struct CategoryError;

/// Reads `X-Sealpost-Category` from the header section of `raw`; default
/// transactional. The header section was already checked by intake.
pub fn category_from_headers(raw: &[u8]) -> Result<Category, CategoryError> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(raw.len());
    let headers = &raw[..end];
    let mut lines = headers.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        if !line[..colon].eq_ignore_ascii_case(b"x-sealpost-category") {
            continue;
        }
        let mut value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
        while let Some(next) = lines.peek() {
            if next.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                value.push_str(&String::from_utf8_lossy(next.strip_suffix(b"\r").unwrap_or(next)));
                lines.next();
            } else {
                break;
            }
        }
        return Category::parse(value.trim().to_ascii_lowercase().as_str()).map_err(|_| CategoryError);
    }
    Ok(Category::Transactional)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_header_is_read_case_insensitively_and_validated() {
        let m = b"From: a@b.c\r\nX-Sealpost-Category: Marketing\r\n\r\nbody\r\n";
        assert_eq!(category_from_headers(m), Ok(Category::Marketing));
        let m = b"From: a@b.c\r\n\r\nX-Sealpost-Category: marketing\r\n";
        assert_eq!(category_from_headers(m), Ok(Category::Transactional), "body lines are not headers");
        let m = b"From: a@b.c\r\nx-sealpost-category: promo\r\n\r\n";
        assert_eq!(category_from_headers(m), Err(CategoryError));
    }
}
