//! INCRBYFLOAT's arithmetic, as Redis does it: in the x87's 80-bit `long
//! double` (a 64-bit mantissa), parsed as `strtold` parses, added with
//! round-to-nearest-even, and printed as `"%.17Lf"` with the trailing zeros
//! cut. Clients compare the text: `5000` plus `0.1` is
//! `5000.10000000000000009` in Redis, and `0.1` plus `0.2` is `0.3`, which
//! neither `f64` arithmetic nor its shortest printing gives. Rust has no
//! 80-bit float, so the value is kept as a mantissa and a binary exponent
//! and every step is done exactly on big integers, then rounded once, as
//! the hardware rounds. The operands are short (Redis refuses a float of
//! 5120 characters or more), so the big integers are a few thousand limbs
//! at most.

use std::cmp::Ordering;

/// Redis's longest float text (`MAX_LONG_DOUBLE_CHARS`): longer is invalid.
const MAX_CHARS: usize = 5 * 1024;
/// The exponent of the least significant bit of the smallest subnormal
/// long double: nothing finer is kept.
const MIN_LSB: i64 = -16445;
/// The largest exponent of a normalised mantissa's least significant bit.
const MAX_LSB: i64 = 16383 - 63;

/// A long double: `mantissa * 2^exp`, or an infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LongDouble {
    negative: bool,
    value: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Zero, or `mantissa * 2^exp` (the mantissa's top bit is set unless
    /// the value is subnormal).
    Finite {
        mantissa: u64,
        exp: i64,
    },
    Infinite,
}

impl LongDouble {
    /// Parses `text` as Redis's `string2ld` does: `strtold`'s syntax
    /// (decimal, `0x` hexadecimal, `inf`), the whole text, no leading
    /// space, not NaN, and not out of range (an overflow, or an underflow
    /// to zero). `None` is Redis's "not a valid float".
    pub(crate) fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_CHARS || text[0].is_ascii_whitespace() {
            return None;
        }
        let (negative, body) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = body.to_ascii_lowercase();
        let value = if lower == b"inf" || lower == b"infinity" {
            Kind::Infinite
        } else if lower.starts_with(b"0x") {
            parse_hex(&body[2..])?
        } else {
            parse_decimal(body)?
        };
        Some(LongDouble { negative, value })
    }

    /// The sum, rounded to nearest even; `None` for NaN (infinities of
    /// opposite signs).
    pub(crate) fn add(self, other: LongDouble) -> Option<LongDouble> {
        let (a, b) = match (self.value, other.value) {
            (Kind::Infinite, Kind::Infinite) if self.negative != other.negative => return None,
            (Kind::Infinite, _) => return Some(self),
            (_, Kind::Infinite) => return Some(other),
            (
                Kind::Finite {
                    mantissa: a,
                    exp: ea,
                },
                Kind::Finite {
                    mantissa: b,
                    exp: eb,
                },
            ) => ((a, ea), (b, eb)),
        };
        if a.0 == 0 {
            return Some(match b.0 {
                // -0 + -0 is -0; any other pair of zeros is +0.
                0 => LongDouble {
                    negative: self.negative && other.negative,
                    value: Kind::Finite {
                        mantissa: 0,
                        exp: 0,
                    },
                },
                _ => other,
            });
        }
        if b.0 == 0 {
            return Some(self);
        }
        let low = a.1.min(b.1);
        let x = Big::from_u128(u128::from(a.0)).shl((a.1 - low) as usize);
        let y = Big::from_u128(u128::from(b.0)).shl((b.1 - low) as usize);
        let (negative, sum) = if self.negative == other.negative {
            (self.negative, x.add(&y))
        } else {
            match x.cmp(&y) {
                Ordering::Equal => {
                    return Some(LongDouble {
                        negative: false,
                        value: Kind::Finite {
                            mantissa: 0,
                            exp: 0,
                        },
                    });
                }
                Ordering::Greater => (self.negative, x.sub(&y)),
                Ordering::Less => (other.negative, y.sub(&x)),
            }
        };
        Some(LongDouble {
            negative,
            value: round(sum, low, false),
        })
    }

    /// Whether the value is an infinity.
    pub(crate) fn is_infinite(self) -> bool {
        self.value == Kind::Infinite
    }

    /// The value as Redis's `ld2string(…, LD_STR_HUMAN)` writes it:
    /// `"%.17Lf"`, trailing zeros and a bare point cut, `-0` as `0`.
    /// Infinities as `inf` and `-inf` (INCRBYFLOAT never stores one).
    pub(crate) fn to_human(self) -> String {
        let (mantissa, exp) = match self.value {
            Kind::Infinite => return if self.negative { "-inf" } else { "inf" }.into(),
            Kind::Finite { mantissa, exp } => (mantissa, exp),
        };
        // round(mantissa * 2^exp * 10^17), ties to even as glibc's printf.
        let mut scaled = Big::from_u128(u128::from(mantissa));
        for _ in 0..17 {
            scaled.mul_small(10);
        }
        let whole = if exp >= 0 {
            scaled.shl(exp as usize)
        } else {
            let shift = (-exp) as usize;
            let half = scaled.bit(shift - 1);
            let sticky = scaled.any_below(shift - 1);
            let mut whole = scaled.shr(shift);
            if half && (sticky || whole.bit(0)) {
                whole = whole.add(&Big::from_u128(1));
            }
            whole
        };
        let mut digits = whole.to_decimal();
        while digits.len() < 18 {
            digits.insert(0, '0');
        }
        let point = digits.len() - 17;
        let mut text = String::with_capacity(digits.len() + 2);
        if self.negative {
            text.push('-');
        }
        text.push_str(&digits[..point]);
        let fraction = digits[point..].trim_end_matches('0');
        if !fraction.is_empty() {
            text.push('.');
            text.push_str(fraction);
        }
        if text == "-0" {
            text = "0".into();
        }
        text
    }
}

/// A decimal float's digits and exponent, exactly, then rounded once.
fn parse_decimal(body: &[u8]) -> Option<Kind> {
    let mut digits = Big::default();
    let (mut seen_digit, mut seen_point, mut exp10, mut significant) = (false, false, 0i64, 0i64);
    let mut rest = body;
    while let Some((&c, tail)) = rest.split_first() {
        match c {
            b'0'..=b'9' => {
                seen_digit = true;
                if c != b'0' || significant > 0 {
                    digits.mul_small(10);
                    digits.add_small(u32::from(c - b'0'));
                    significant += 1;
                }
                if seen_point {
                    exp10 -= 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        rest = tail;
    }
    if !seen_digit {
        return None;
    }
    if let Some((&e, tail)) = rest.split_first()
        && (e == b'e' || e == b'E')
    {
        exp10 = exp10.saturating_add(parse_exponent(tail)?);
        rest = &[];
    }
    if !rest.is_empty() {
        return None;
    }
    if digits.is_zero() {
        return Some(Kind::Finite {
            mantissa: 0,
            exp: 0,
        });
    }
    // The value lies in [10^(top), 10^(top+1)): out of range far beyond
    // what a long double holds (about 1.19e4932 to 3.6e-4951).
    let top = exp10 + significant - 1;
    if top > 4933 {
        return None;
    }
    if top < -4952 {
        return None;
    }
    let value = if exp10 >= 0 {
        let mut n = digits;
        for _ in 0..exp10 {
            n.mul_small(10);
        }
        round(n, 0, false)
    } else {
        let mut divisor = Big::from_u128(1);
        for _ in 0..-exp10 {
            divisor.mul_small(10);
        }
        // A quotient of 66 bits or more: enough for 64 and the rounding.
        let shift = (divisor.bit_len() + 66).saturating_sub(digits.bit_len());
        let (quotient, exact) = digits.shl(shift).div(&divisor);
        round(quotient, -(shift as i64), !exact)
    };
    finite_or_none(value)
}

/// A hexadecimal float after its `0x`: digits, an optional point, an
/// optional binary exponent `p`.
fn parse_hex(body: &[u8]) -> Option<Kind> {
    let mut digits = Big::default();
    let (mut seen_digit, mut seen_point, mut exp2) = (false, false, 0i64);
    let mut rest = body;
    while let Some((&c, tail)) = rest.split_first() {
        match (c as char).to_digit(16) {
            Some(d) => {
                seen_digit = true;
                if d != 0 || !digits.is_zero() {
                    digits.mul_small(16);
                    digits.add_small(d);
                }
                if seen_point {
                    exp2 -= 4;
                }
            }
            None if c == b'.' && !seen_point => seen_point = true,
            None => break,
        }
        rest = tail;
    }
    if !seen_digit {
        return None;
    }
    if let Some((&p, tail)) = rest.split_first()
        && (p == b'p' || p == b'P')
    {
        exp2 = exp2.saturating_add(parse_exponent(tail)?);
        rest = &[];
    }
    if !rest.is_empty() {
        return None;
    }
    if digits.is_zero() {
        return Some(Kind::Finite {
            mantissa: 0,
            exp: 0,
        });
    }
    let top = exp2 + digits.bit_len() as i64;
    if !(-16500..=16500).contains(&top) {
        return None;
    }
    finite_or_none(round(digits, exp2, false))
}

/// An exponent's optional sign and digits (all of the rest), saturating.
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().fold(0i64, |n, d| {
        n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    Some(if negative { -n } else { n })
}

/// What `strtold` reports as out of range is invalid to Redis: an
/// overflow, or a nonzero value rounded to zero.
fn finite_or_none(value: Kind) -> Option<Kind> {
    match value {
        Kind::Finite { mantissa: 0, .. } | Kind::Infinite => None,
        finite => Some(finite),
    }
}

/// `n * 2^exp` (plus a little more if `sticky`) rounded to a long double,
/// nearest even; subnormals keep fewer bits, overflow is infinite.
fn round(n: Big, exp: i64, sticky: bool) -> Kind {
    let bits = n.bit_len() as i64;
    if bits == 0 {
        return Kind::Finite {
            mantissa: 0,
            exp: 0,
        };
    }
    let lsb = (exp + bits - 64).max(MIN_LSB);
    let (mantissa, lsb) = if lsb <= exp {
        let exact = n.shl((exp - lsb) as usize);
        (exact.to_u128() as u64, lsb)
    } else {
        let shift = (lsb - exp) as usize;
        let half = n.bit(shift - 1);
        let below = sticky || n.any_below(shift - 1);
        let mut m = n.shr(shift).to_u128();
        if half && (below || m & 1 == 1) {
            m += 1;
        }
        if m >> 64 != 0 {
            (1 << 63, lsb + 1)
        } else {
            (m as u64, lsb)
        }
    };
    if lsb > MAX_LSB {
        return Kind::Infinite;
    }
    Kind::Finite { mantissa, exp: lsb }
}

/// An unsigned big integer, little-endian 32-bit limbs, no leading zero
/// limbs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut n: u128) -> Big {
        let mut limbs = Vec::new();
        while n != 0 {
            limbs.push(n as u32);
            n >>= 32;
        }
        Big(limbs)
    }

    /// The low 128 bits.
    fn to_u128(&self) -> u128 {
        self.0
            .iter()
            .take(4)
            .enumerate()
            .fold(0, |n, (i, &l)| n | (u128::from(l) << (32 * i)))
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn trim(mut self) -> Big {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        self
    }

    fn bit_len(&self) -> usize {
        match self.0.last() {
            None => 0,
            Some(&top) => 32 * self.0.len() - top.leading_zeros() as usize,
        }
    }

    fn bit(&self, i: usize) -> bool {
        self.0.get(i / 32).is_some_and(|l| l >> (i % 32) & 1 == 1)
    }

    /// Whether any bit below `i` is set.
    fn any_below(&self, i: usize) -> bool {
        let (limbs, bits) = (i / 32, i % 32);
        self.0.iter().take(limbs).any(|&l| l != 0)
            || (bits > 0
                && self
                    .0
                    .get(limbs)
                    .is_some_and(|l| l & ((1 << bits) - 1) != 0))
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            if carry == 0 {
                return;
            }
            let v = u64::from(*limb) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn shl(&self, n: usize) -> Big {
        let (limbs, bits) = (n / 32, n % 32);
        let mut out = vec![0u32; limbs];
        let mut carry = 0u32;
        for &l in &self.0 {
            if bits == 0 {
                out.push(l);
            } else {
                out.push((l << bits) | carry);
                carry = l >> (32 - bits);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        Big(out).trim()
    }

    fn shr(&self, n: usize) -> Big {
        let (limbs, bits) = (n / 32, n % 32);
        let src = self.0.get(limbs..).unwrap_or(&[]);
        let out = (0..src.len())
            .map(|i| match bits {
                0 => src[i],
                _ => (src[i] >> bits) | src.get(i + 1).map_or(0, |h| h << (32 - bits)),
            })
            .collect();
        Big(out).trim()
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    fn add(&self, other: &Big) -> Big {
        let (long, short) = match self.0.len() >= other.0.len() {
            true => (self, other),
            false => (other, self),
        };
        let mut out = Vec::with_capacity(long.0.len() + 1);
        let mut carry = 0u64;
        for (i, &l) in long.0.iter().enumerate() {
            let v = u64::from(l) + u64::from(short.0.get(i).copied().unwrap_or(0)) + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// `self - other`, for `self >= other`.
    fn sub(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for (i, &l) in self.0.iter().enumerate() {
            let mut v = i64::from(l) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(v < 0);
            if v < 0 {
                v += 1 << 32;
            }
            out.push(v as u32);
        }
        Big(out).trim()
    }

    /// `self / divisor` by shift and subtract (the quotient has at most
    /// `self`'s bits less `divisor`'s, plus one), and whether it was exact.
    fn div(&self, divisor: &Big) -> (Big, bool) {
        let bits = (self.bit_len() + 1).saturating_sub(divisor.bit_len());
        let mut rest = self.clone();
        let mut quotient = vec![0u32; bits.div_ceil(32)];
        for i in (0..bits).rev() {
            let step = divisor.shl(i);
            if rest.cmp(&step) != Ordering::Less {
                rest = rest.sub(&step);
                quotient[i / 32] |= 1 << (i % 32);
            }
        }
        (Big(quotient).trim(), rest.is_zero())
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".into();
        }
        let mut chunks = Vec::new();
        let mut n = self.clone();
        while !n.is_zero() {
            let mut rem = 0u64;
            for limb in n.0.iter_mut().rev() {
                let v = (rem << 32) | u64::from(*limb);
                *limb = (v / 1_000_000_000) as u32;
                rem = v % 1_000_000_000;
            }
            n = n.trim();
            chunks.push(rem as u32);
        }
        let mut text = chunks.pop().map(|c| c.to_string()).unwrap_or_default();
        for chunk in chunks.iter().rev() {
            text.push_str(&format!("{chunk:09}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> Option<String> {
        let a = LongDouble::parse(a.as_bytes())?;
        let b = LongDouble::parse(b.as_bytes())?;
        a.add(b).map(LongDouble::to_human)
    }

    /// Each of these was checked against redis-server 7.0 on x86-64.
    #[test]
    fn sums_print_as_redis_prints_them() {
        assert_eq!(sum("5000", "0.1").unwrap(), "5000.10000000000000009");
        assert_eq!(sum("0.1", "0.2").unwrap(), "0.3");
        assert_eq!(sum("10.50", "0.1").unwrap(), "10.6");
        assert_eq!(sum("5.0e3", "2.0e2").unwrap(), "5200");
        assert_eq!(sum("123456.789", "1.1").unwrap(), "123457.8890000000000029");
        assert_eq!(sum("0", "0x10").unwrap(), "16");
        assert_eq!(sum("0", "1.5e-320").unwrap(), "0");
        assert_eq!(sum("-1", "1").unwrap(), "0");
        assert_eq!(sum("-0.5", "0").unwrap(), "-0.5");
        assert!(
            sum("0.3", "1e300")
                .unwrap()
                .starts_with("10000000000000000000089973")
        );
    }

    #[test]
    fn invalid_floats_are_refused_as_redis_refuses_them() {
        for bad in [
            "", " 1", "abc", "1e5000", "1e-5000", "nan", "1.2.3", "1e", "0x", "--1", "1 ",
        ] {
            assert!(LongDouble::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        let inf = LongDouble::parse(b"inf").unwrap();
        assert!(inf.is_infinite());
        assert!(inf.add(LongDouble::parse(b"-inf").unwrap()).is_none());
        assert!(LongDouble::parse(b"1.").is_some() && LongDouble::parse(b".5").is_some());
    }
}
