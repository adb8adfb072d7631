//! An integer's decimal text without allocating: INCR stores one per call
//! and every RESP reply carries one or more, so `to_string` would cost an
//! allocation on nearly every request.

/// The decimal text of an `i64`, on the stack.
pub(crate) struct Decimal {
    /// A sign and up to 19 digits, right-aligned.
    text: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn of(n: i64) -> Self {
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

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.text[self.start..]
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
}
