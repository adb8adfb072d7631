//! The load generator's random numbers: fast and good enough to pick keys,
//! operations and benchmark session ids, never secrets.

/// SplitMix64: a tiny, fast, statistically decent generator. Workers only
/// need to pick keys and operations, not unpredictability.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift (Lemire), without
    /// the bias a modulo would add for large `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// The next 16 random bytes.
    pub fn next_bytes16(&mut self) -> [u8; 16] {
        let high = u128::from(self.next_u64()) << 64;
        (high | u128::from(self.next_u64())).to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range() {
        let mut rng = SplitMix64::new(1);
        for n in [1, 2, 3, 100, u64::MAX] {
            for _ in 0..1000 {
                assert!(rng.below(n) < n);
            }
        }
    }

    #[test]
    fn bytes_differ_between_draws() {
        let mut rng = SplitMix64::new(7);
        assert_ne!(rng.next_bytes16(), rng.next_bytes16());
    }
}
