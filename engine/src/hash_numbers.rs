//! The numbers and draws of the hash commands: HINCRBYFLOAT's reading
//! and writing of floats as Redis does them, and HRANDFIELD's random
//! picks. Apart from `hashes.rs` so that each file keeps to one concern.

use sessiond_protocol::SessionId;

/// Reads a number as Redis's `string2ld` does: no leading space, nothing
/// after it, not NaN, at most 5119 bytes. HINCRBYFLOAT's increment and
/// the value it adds to are read by this one rule.
pub fn parse_float(text: &[u8]) -> Option<f64> {
    if text.is_empty() || text.len() >= 5 * 1024 || text[0].is_ascii_whitespace() {
        return None;
    }
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    (!value.is_nan()).then_some(value)
}

/// A float as Redis's HINCRBYFLOAT writes it (`%.17Lf` without trailing
/// zeros): the shortest decimal that reads back as the same `f64`, in
/// fixed notation, cut to 17 digits after the point.
pub(crate) fn float_text(value: f64) -> String {
    let mut text = format!("{value}");
    if text.find('.').is_some_and(|dot| text.len() - dot - 1 > 17) {
        text = format!("{value:.17}");
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

/// HRANDFIELD's draws: splitmix64 seeded from the OS CSPRNG per call.
/// Not for secrets; it only has to be unpredictable enough that clients
/// cannot rely on an order.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new() -> Rng {
        Rng(SessionId::random().prefix())
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }

    /// `k` distinct numbers in `0..n` (`k` < `n`), in random order.
    pub(crate) fn distinct(&mut self, k: usize, n: usize) -> Vec<usize> {
        if k.saturating_mul(3) > n {
            // Most of them: a partial shuffle of all.
            let mut all: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = i + self.below(n - i);
                all.swap(i, j);
            }
            all.truncate(k);
            return all;
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let i = self.below(n);
            if seen.insert(i) {
                out.push(i);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_and_write_as_redis_does() {
        assert_eq!(parse_float(b"10.5"), Some(10.5));
        assert_eq!(parse_float(b"1e3"), Some(1000.0));
        assert_eq!(parse_float(b" 1"), None);
        assert_eq!(parse_float(b"1 "), None);
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b""), None);
        assert_eq!(float_text(10.6), "10.6");
        assert_eq!(float_text(3.0), "3");
        assert_eq!(float_text(-0.0), "0");
        assert_eq!(float_text(1e20), "100000000000000000000");
        assert_eq!(float_text(1e-20), "0");
        assert_eq!(float_text(-2.5), "-2.5");
    }

    #[test]
    fn distinct_draws_are_distinct() {
        let mut rng = Rng::new();
        for (k, n) in [(9, 10), (3, 100), (1, 2)] {
            let mut drawn = rng.distinct(k, n);
            assert!(drawn.iter().all(|i| *i < n));
            drawn.sort_unstable();
            drawn.dedup();
            assert_eq!(drawn.len(), k);
        }
    }
}
