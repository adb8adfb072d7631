//! An integer's decimal text, both ways, without allocating: INCR reads
//! and stores one per call, and RESP commands and replies carry them, so
//! `to_string` would cost an allocation on nearly every request. Here, in
//! the protocol crate, because the engine (INCR) and the Redis face (its
//! arguments and replies) must agree on the one canonical form.

/// The decimal text of an `i64`, on the stack.
pub struct Decimal {
    /// A sign and up to 19 digits, right-aligned.
    text: [u8; 20],
    start: usize,
}

impl Decimal {
    /// Writes `n` as Redis and INCR write it: an optional minus, then digits.
    pub fn of(n: i64) -> Self {
        let mut text = [0u8; 20];
        let mut start = text.len();
        let mut rest = n.unsigned_abs();
        loop {
            start -= 1;
            text[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if n < 0 {
            start -= 1;
            text[start] = b'-';
        }
        Decimal { text, start }
    }

    /// The text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text[self.start..]
    }

    /// Reads an integer only if it is written exactly as [`Decimal::of`]
    /// writes it, which is Redis's rule for INCR's values and integer
    /// arguments: an optional minus, digits, no leading zero, no `-0`, no
    /// `+`, no spaces, within `i64`.
    pub fn parse(text: &[u8]) -> Option<i64> {
        let n = std::str::from_utf8(text).ok()?.parse().ok()?;
        (Decimal::of(n).as_bytes() == text).then_some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::Decimal;

    #[test]
    fn reads_as_to_string_writes() {
        for n in [0, 7, -7, 10, -10, 1234567890, i64::MAX, i64::MIN] {
            assert_eq!(Decimal::of(n).as_bytes(), n.to_string().as_bytes());
        }
    }

    #[test]
    fn integers_parse_as_redis_does() {
        for (text, n) in [
            ("0", 0),
            ("-1", -1),
            ("42", 42),
            ("9223372036854775807", i64::MAX),
        ] {
            assert_eq!(Decimal::parse(text.as_bytes()), Some(n), "{text}");
        }
        assert_eq!(Decimal::parse(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "-",
            "+1",
            "01",
            "-0",
            " 1",
            "1 ",
            "1a",
            "9223372036854775808",
            "1.5",
        ] {
            assert!(Decimal::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }
}
