//! The DATA phase decoder: finds the `<CRLF>.<CRLF>` terminator and removes
//! dot-stuffing (RFC 5321 §4.5.2), incrementally across arbitrary chunks.
//!
//! Only CRLF counts as a line end here. `\n.\n`, `\r.\r`, `\n.\r\n` and
//! friends do not end the data: treating them as a terminator is what SMTP
//! smuggling exploits. Such bare CR/LF end up in the content, where
//! [`crate::check_message`] rejects them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a line (start of data, or just after CRLF).
    LineStart,
    /// Inside a line.
    Middle,
    /// Just after a CR (already stored).
    Cr,
    /// A `.` at the start of a line (not stored yet).
    Dot,
    /// `.` CR at the start of a line (neither stored yet).
    DotCr,
}

/// Incremental DATA decoder.
///
/// ```
/// use sealpost_smtp::DataDecoder;
/// let mut d = DataDecoder::new(1000);
/// assert_eq!(d.decode(b"Subject: x\r\n\r\n..dot\r"), None);
/// assert_eq!(d.decode(b"\n.\r\nQUIT\r\n"), Some(4));
/// assert_eq!(d.data(), b"Subject: x\r\n\r\n.dot\r\n");
/// ```
#[derive(Clone, Debug)]
pub struct DataDecoder {
    state: State,
    data: Vec<u8>,
    limit: usize,
    total: u64,
    done: bool,
}

impl DataDecoder {
    /// A decoder that stores at most `limit` octets of content; past that it
    /// keeps looking for the terminator but drops the content.
    pub fn new(limit: usize) -> Self {
        Self { state: State::LineStart, data: Vec::new(), limit, total: 0, done: false }
    }

    /// Decodes a chunk. Returns `Some(n)` when the terminator ends within
    /// this chunk, `n` being the octets consumed including the terminator
    /// (the rest belongs to the next command); `None` when the whole chunk
    /// was consumed and more is needed. After the end, consumes nothing.
    pub fn decode(&mut self, input: &[u8]) -> Option<usize> {
        if self.done {
            return Some(0);
        }
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Middle {
                match input[i..].iter().position(|&b| b == b'\r') {
                    Some(p) => {
                        self.push(&input[i..=i + p]);
                        i += p + 1;
                        self.state = State::Cr;
                    }
                    None => {
                        self.push(&input[i..]);
                        i = input.len();
                    }
                }
                continue;
            }
            let b = input[i];
            i += 1;
            match self.state {
                State::LineStart => match b {
                    b'.' => self.state = State::Dot,
                    _ => self.byte(b),
                },
                State::Dot => match b {
                    b'\r' => self.state = State::DotCr,
                    // Dot-unstuffing: the leading dot is dropped.
                    _ => {
                        self.push(&[b]);
                        self.state = State::Middle;
                    }
                },
                State::DotCr => {
                    if b == b'\n' {
                        self.done = true;
                        return Some(i);
                    }
                    // `.` CR x: the dot is stuffing, the CR is content.
                    self.push(b"\r");
                    self.state = State::Cr;
                    self.byte(b);
                }
                State::Cr | State::Middle => self.byte(b),
            }
        }
        None
    }

    /// Stores one content octet and moves to the state that follows it.
    fn byte(&mut self, b: u8) {
        self.push(&[b]);
        self.state = match (self.state, b) {
            (_, b'\r') => State::Cr,
            (State::Cr, b'\n') => State::LineStart,
            _ => State::Middle,
        };
    }

    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = self.limit.saturating_sub(self.data.len());
        self.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Whether the terminator has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the content (after unstuffing) is larger than the limit.
    pub fn exceeded_limit(&self) -> bool {
        self.total > self.limit as u64
    }

    /// Content octets seen so far, after unstuffing (including dropped ones).
    pub fn total_len(&self) -> u64 {
        self.total
    }

    /// The stored content (truncated at the limit).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the stored content.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

/// Dot-stuffs content for transmission: a `.` at the start of any line
/// (after CRLF, or at the very start) is doubled. The caller appends the
/// `.<CRLF>` terminator (content must end with CRLF, or be empty).
pub fn dot_stuff(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 16);
    let mut line_start = true;
    for (i, &b) in content.iter().enumerate() {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n' && i > 0 && content[i - 1] == b'\r';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(input: &[u8], limit: usize) -> (Option<usize>, Vec<u8>, bool) {
        let mut d = DataDecoder::new(limit);
        let r = d.decode(input);
        let over = d.exceeded_limit();
        (r, d.into_data(), over)
    }

    #[test]
    fn immediate_terminator_is_empty_message() {
        assert_eq!(decode_all(b".\r\n", 10), (Some(3), vec![], false));
    }

    #[test]
    fn terminator_and_trailing_input() {
        let (n, data, _) = decode_all(b"a\r\nb\r\n.\r\nQUIT\r\n", 100);
        assert_eq!(n, Some(9));
        assert_eq!(data, b"a\r\nb\r\n");
    }

    #[test]
    fn dot_unstuffing() {
        let (n, data, _) = decode_all(b"..a\r\n...\r\n..\r\nx.y\r\n.\r\n", 100);
        assert!(n.is_some());
        assert_eq!(data, b".a\r\n..\r\n.\r\nx.y\r\n");
    }

    #[test]
    fn smuggling_variants_do_not_terminate() {
        for input in [
            &b"a\n.\nb"[..],
            b"a\r.\rb",
            b"a\n.\r\nb",
            b"a\r.\r\nb",
            b"a\r\n.\nb",
            b"a\r\n.\rb",
            b"a\r\n .\r\nb",
            b"a\r\n.\r\r\nb",
        ] {
            let (n, _, _) = decode_all(input, 100);
            assert_eq!(n, None, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn bare_endings_stay_in_content() {
        let (_, data, _) = decode_all(b"a\n.\nb\r\n.\r\n", 100);
        assert_eq!(data, b"a\n.\nb\r\n");
        // `.` CR x at a line start: the dot is stuffing, the CR stays.
        let (_, data, _) = decode_all(b".\rx\r\n.\r\n", 100);
        assert_eq!(data, b"\rx\r\n");
    }

    #[test]
    fn overflow_keeps_scanning_but_stops_storing() {
        let (n, data, over) = decode_all(b"0123456789\r\n.\r\n", 5);
        assert_eq!(n, Some(15));
        assert_eq!(data, b"01234");
        assert!(over);
        let (_, data, over) = decode_all(b"0123\r\n.\r\n", 6);
        assert_eq!(data, b"0123\r\n");
        assert!(!over);
    }

    #[test]
    fn decoder_after_done_consumes_nothing() {
        let mut d = DataDecoder::new(10);
        assert_eq!(d.decode(b".\r\n"), Some(3));
        assert!(d.is_done());
        assert_eq!(d.decode(b"more"), Some(0));
        assert_eq!(d.total_len(), 0);
    }

    #[test]
    fn dot_stuff_examples() {
        assert_eq!(dot_stuff(b".a\r\nb.\r\n.\r\n"), b"..a\r\nb.\r\n..\r\n");
        assert_eq!(dot_stuff(b"a\n.b\r\n"), b"a\n.b\r\n");
    }

    proptest! {
        /// Any body made of CRLF lines, dot-stuffed and terminated, decodes
        /// back to exactly the original bytes, however it is chunked.
        #[test]
        fn stuffed_body_round_trips(
            lines in proptest::collection::vec("[.a-z \\x80-\\xff]{0,20}", 0..20),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let body: Vec<u8> = lines.iter().flat_map(|l| {
                let mut v = l.as_bytes().to_vec();
                v.extend_from_slice(b"\r\n");
                v
            }).collect();
            let mut wire = dot_stuff(&body);
            wire.extend_from_slice(b".\r\nNEXT");
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
            points.sort_unstable();
            let mut d = DataDecoder::new(usize::MAX);
            let mut start = 0;
            let mut consumed = None;
            for end in points.into_iter().chain([wire.len()]) {
                if end < start { continue; }
                if let Some(n) = d.decode(&wire[start..end]) {
                    consumed = Some(start + n);
                    break;
                }
                start = end;
            }
            prop_assert_eq!(consumed, Some(wire.len() - 4));
            prop_assert_eq!(d.into_data(), body);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_respect_limit(input in proptest::collection::vec(any::<u8>(), 0..400), limit in 0usize..64) {
            let mut d = DataDecoder::new(limit);
            if let Some(n) = d.decode(&input) {
                prop_assert!(n <= input.len());
                prop_assert!(input[..n].ends_with(b"\r\n.\r\n") || n == 3);
            }
            prop_assert!(d.data().len() <= limit);
            prop_assert_eq!(d.exceeded_limit(), d.total_len() > limit as u64);
        }
    }
}
