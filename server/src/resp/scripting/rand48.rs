//! Redis's `math.random`: the 48-bit linear congruential generator of
//! POSIX `lrand48` (multiplier 0x5DEECE66D, increment 11), so that a
//! script draws the same numbers here as in Redis, from the same seed and
//! on every node of a group (where every script starts from the
//! generator's initial state, so that a node that joined later, or ran
//! other scripts of its own, draws the same).

/// The generator's state (48 bits).
#[derive(Debug, Clone, Copy)]
pub(super) struct Rand48(u64);

const MASK: u64 = (1 << 48) - 1;
const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
/// The low 16 bits every seed gets (`srand48`'s).
const LOW: u64 = 0x330E;

impl Default for Rand48 {
    /// The state before any seed: Redis's static start, 0x1234ABCD330E.
    fn default() -> Self {
        Rand48(0x1234_ABCD_330E)
    }
}

impl Rand48 {
    /// `srand48(seed)`: the seed's 32 bits above the fixed low half word.
    pub(super) fn seed(&mut self, seed: i32) {
        self.0 = ((u64::from(seed as u32) << 16) | LOW) & MASK;
    }

    /// The next non-negative 31-bit draw (`lrand48`).
    pub(super) fn next(&mut self) -> i32 {
        self.0 = (self.0.wrapping_mul(A).wrapping_add(C)) & MASK;
        (self.0 >> 17) as i32
    }

    /// A number in [0, 1), as Redis's `math.random` makes one.
    pub(super) fn unit(&mut self) -> f64 {
        let max = i32::MAX;
        f64::from(self.next() % max) / f64::from(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_lrand48() {
        // glibc's lrand48 after srand48(0): 366850414, 1610402240.
        let mut r = Rand48::default();
        r.seed(0);
        assert_eq!(r.next(), 366_850_414);
        assert_eq!(r.next(), 1_610_402_240);
    }
}
