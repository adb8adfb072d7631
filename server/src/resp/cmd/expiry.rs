//! TTL arguments, in seconds or milliseconds, from now or from the Unix
//! epoch, as the SET family and the EXPIRE family take them, with Redis's
//! checks (positive where Redis wants it, no overflow past `i64`
//! milliseconds). Time is the store's ([`Store::now_ms`]) and what a time
//! already past means is the engine's ([`Deadline`]).

use sessiond::{Deadline, Store};

use crate::resp::args::integer;
use crate::resp::errors::RespError;

/// How a TTL argument counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    /// Seconds from now (EX, EXPIRE, SETEX).
    Ex,
    /// Milliseconds from now (PX, PEXPIRE, PSETEX).
    Px,
    /// A Unix time in seconds (EXAT, EXPIREAT).
    ExAt,
    /// A Unix time in milliseconds (PXAT, PEXPIREAT).
    PxAt,
}

impl Unit {
    /// `n` in milliseconds, `None` if that overflows (Redis's check).
    fn millis(self, n: i64) -> Option<i64> {
        match self {
            Unit::Ex | Unit::ExAt => n.checked_mul(1000),
            Unit::Px | Unit::PxAt => Some(n),
        }
    }

    fn relative(self) -> bool {
        matches!(self, Unit::Ex | Unit::Px)
    }
}

/// A TTL argument of SET, SETEX, PSETEX or GETEX: a positive integer
/// whose deadline does not overflow, or Redis's errors.
pub(super) fn positive(
    store: &Store,
    unit: Unit,
    arg: &[u8],
    command: &'static str,
) -> Result<Deadline, RespError> {
    let ms = unit
        .millis(integer(arg)?)
        .filter(|ms| *ms > 0)
        .ok_or(RespError::InvalidExpire(command))?;
    deadline(store, unit, ms, command)
}

/// The time of EXPIRE, PEXPIRE, EXPIREAT or PEXPIREAT: any integer whose
/// deadline does not overflow; one already past deletes the key.
pub(super) fn any(
    store: &Store,
    unit: Unit,
    n: i64,
    command: &'static str,
) -> Result<Deadline, RespError> {
    let ms = unit.millis(n).ok_or(RespError::InvalidExpire(command))?;
    deadline(store, unit, ms, command)
}

fn deadline(
    store: &Store,
    unit: Unit,
    ms: i64,
    command: &'static str,
) -> Result<Deadline, RespError> {
    if !unit.relative() {
        return Ok(Deadline::absolute_ms(ms));
    }
    let now = i64::try_from(store.now_ms()).unwrap_or(i64::MAX);
    ms.checked_add(now)
        .ok_or(RespError::InvalidExpire(command))?;
    Ok(Deadline::relative_ms(ms))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sessiond::StoreConfig;

    use super::*;

    #[test]
    fn set_times_are_checked_as_redis_does() {
        let store = Store::new(StoreConfig::default());
        let set = |unit, arg: &str| positive(&store, unit, arg.as_bytes(), "set");
        let invalid = Err(RespError::InvalidExpire("set"));
        assert_eq!(set(Unit::Ex, "0"), invalid);
        assert_eq!(set(Unit::Ex, "-1"), invalid);
        assert_eq!(set(Unit::Ex, "9999999999999999"), invalid);
        assert_eq!(set(Unit::Px, "9223372036854775807"), invalid);
        assert_eq!(
            set(Unit::Px, "1500"),
            Ok(Deadline::In(Duration::from_millis(1500)))
        );
        assert_eq!(set(Unit::ExAt, "2"), Ok(Deadline::AtMs(2000)));
        assert_eq!(set(Unit::Ex, "abc"), Err(RespError::NotAnInteger));
    }

    #[test]
    fn expire_times_may_be_past() {
        let store = Store::new(StoreConfig::default());
        assert_eq!(any(&store, Unit::Ex, 0, "expire"), Ok(Deadline::AtMs(0)));
        assert_eq!(
            any(&store, Unit::PxAt, -5, "pexpireat"),
            Ok(Deadline::AtMs(0))
        );
        assert_eq!(
            any(&store, Unit::Ex, i64::MAX / 100, "expire"),
            Err(RespError::InvalidExpire("expire"))
        );
    }
}
