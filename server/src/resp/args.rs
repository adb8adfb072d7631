//! A cursor over a command's arguments, which handlers read in order.
//!
//! Arguments stay the `Bytes` the parser cut from the connection's input:
//! a handler borrows them (`&[u8]` for the store) and never copies one it
//! only passes on. A missing required argument is an arity error in the
//! command's name: the table's arity has usually ruled it out already, so
//! this is for commands whose shape the arity cannot say.

use bytes::Bytes;
use sessiond_protocol::decimal::Decimal;

use super::errors::RespError;

/// The arguments after a command's name.
pub(crate) struct Args<'r> {
    name: &'static str,
    rest: std::slice::Iter<'r, Bytes>,
}

impl<'r> Args<'r> {
    /// The arguments `rest` of the command `name`.
    pub(crate) fn new(name: &'static str, rest: &'r [Bytes]) -> Args<'r> {
        Args {
            name,
            rest: rest.iter(),
        }
    }

    /// The command's name, as the table spells it.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The next argument, if any.
    pub(crate) fn next(&mut self) -> Option<&'r Bytes> {
        self.rest.next()
    }

    /// The next argument, which the command requires.
    pub(crate) fn bytes(&mut self) -> Result<&'r Bytes, RespError> {
        self.rest.next().ok_or(RespError::Arity(self.name))
    }

    /// The next argument as an integer, as Redis's `string2ll` reads it.
    pub(crate) fn integer(&mut self) -> Result<i64, RespError> {
        integer(self.bytes()?)
    }

    /// What is left, consumed.
    pub(crate) fn rest(&mut self) -> &'r [Bytes] {
        let rest = self.rest.as_slice();
        self.rest = [].iter();
        rest
    }

    /// How many are left.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Whether none are left.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.len() == 0
    }

    /// Ends a command that takes nothing more: an arity error if it was
    /// given more.
    pub(crate) fn finish(&self) -> Result<(), RespError> {
        match self.is_empty() {
            true => Ok(()),
            false => Err(RespError::Arity(self.name)),
        }
    }
}

/// An integer argument, as Redis's `string2ll` reads it.
pub(crate) fn integer(arg: &[u8]) -> Result<i64, RespError> {
    Decimal::parse(arg).ok_or(RespError::NotAnInteger)
}

/// Arguments from words, as a test writes a command line.
#[cfg(test)]
pub(crate) fn words(text: &str) -> Vec<Bytes> {
    text.split_whitespace()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_and_says_what_is_missing() {
        let given = [Bytes::from("k"), Bytes::from("42"), Bytes::from("x")];
        let mut args = Args::new("incrby", &given);
        assert_eq!(&args.bytes().unwrap()[..], b"k");
        assert_eq!(args.integer(), Ok(42));
        assert_eq!(args.finish(), Err(RespError::Arity("incrby")));
        assert_eq!(args.integer(), Err(RespError::NotAnInteger));
        assert!(args.is_empty());
        assert_eq!(args.bytes(), Err(RespError::Arity("incrby")));
        assert_eq!(args.rest(), &[] as &[Bytes]);
    }
}
