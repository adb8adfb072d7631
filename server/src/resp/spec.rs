//! What a Redis command is to this face: a [`Spec`] (name, arity, flags,
//! key positions, group, handler), and the [`Table`] of them with its
//! lookup.
//!
//! The types live apart from the table itself (`table.rs`) so that
//! handlers can name what they return without importing the table that
//! lists them.

use super::args::Args;
use super::client::Client;
use super::errors::RespError;
use super::reply::Value;

/// What a handler answers: a reply, or why the command failed.
pub(crate) type Reply = Result<Value, RespError>;

/// A command's code: the connection, and the arguments after the name
/// (their count already checked against the arity).
pub(crate) type Handler = fn(&mut Client<'_>, Args<'_>) -> Reply;

/// One command.
pub(crate) struct Spec {
    /// The name, in lower case as COMMAND shows it.
    pub name: &'static str,
    /// Redis's convention: the argument count with the name, exact if
    /// positive, a minimum if negative.
    pub arity: i32,
    /// As COMMAND INFO shows them.
    pub flags: &'static [Flag],
    /// Where the keys are among the arguments.
    pub keys: Keys,
    /// Redis's documentation group (COMMAND DOCS).
    pub group: &'static str,
    /// The code.
    pub run: Handler,
}

/// A command flag, as Redis's COMMAND INFO names it; listed in a spec in
/// Redis's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flag {
    /// May change the data.
    Write,
    /// Only reads the data.
    Readonly,
    /// May use more memory (refused under an out-of-memory policy).
    Denyoom,
    /// An administrator's command, which MONITOR does not show.
    Admin,
    /// Not allowed in scripts.
    Noscript,
    /// May wait (XREAD BLOCK; in a transaction or script it does not).
    Blocking,
    /// Allowed while the data is loading.
    Loading,
    /// Allowed on a stale replica.
    Stale,
    /// Constant or logarithmic time.
    Fast,
    /// Allowed before authentication: the connection policy reads this.
    NoAuth,
    /// Allowed while a script runs too long.
    AllowBusy,
    /// Not logged by SLOWLOG (EXEC: its commands are, one by one).
    SkipSlowlog,
    /// Publish/subscribe.
    Pubsub,
    /// Not shown by MONITOR as itself (EVAL: Redis feeds it there before
    /// its script's commands).
    SkipMonitor,
    /// May be called without keys though it takes some (EVAL's numkeys 0).
    NoMandatoryKeys,
    /// Its keys are found by reading its arguments (SINTERCARD's
    /// `numkeys`), not from fixed positions.
    Movablekeys,
}

impl Flag {
    /// The name COMMAND INFO gives it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Flag::Write => "write",
            Flag::Readonly => "readonly",
            Flag::Denyoom => "denyoom",
            Flag::Admin => "admin",
            Flag::Noscript => "noscript",
            Flag::Blocking => "blocking",
            Flag::Loading => "loading",
            Flag::Stale => "stale",
            Flag::Fast => "fast",
            Flag::NoAuth => "no_auth",
            Flag::AllowBusy => "allow_busy",
            Flag::SkipSlowlog => "skip_slowlog",
            Flag::Pubsub => "pubsub",
            Flag::SkipMonitor => "skip_monitor",
            Flag::NoMandatoryKeys => "no_mandatory_keys",
            Flag::Movablekeys => "movablekeys",
        }
    }
}

/// Key positions, as COMMAND INFO gives them; all 0 for a command without
/// keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keys {
    /// The first argument that is a key, the name counting as 0.
    pub first: i8,
    /// The last one; negative counts from the end (-1: the last argument).
    pub last: i8,
    /// The step from one key to the next (2 for MSET's key-value pairs).
    pub step: i8,
}

impl Keys {
    /// No keys.
    pub(crate) const NONE: Keys = Keys::new(0, 0, 0);
    /// The first argument.
    pub(crate) const ONE: Keys = Keys::new(1, 1, 1);
    /// Every argument.
    pub(crate) const ALL: Keys = Keys::new(1, -1, 1);

    /// Keys from `first` to `last`, every `step`.
    pub(crate) const fn new(first: i8, last: i8, step: i8) -> Keys {
        Keys { first, last, step }
    }
}

impl Spec {
    /// Whether `given` arguments (the name included) fit the arity.
    pub(crate) fn accepts(&self, given: usize) -> bool {
        let given = i64::try_from(given).unwrap_or(i64::MAX);
        let arity = i64::from(self.arity);
        match arity < 0 {
            true => given >= -arity,
            false => given == arity,
        }
    }

    /// Whether the connection policy lets it run before authentication.
    pub(crate) fn before_auth(&self) -> bool {
        self.flags.contains(&Flag::NoAuth)
    }

    /// Whether it may change the data (what CLIENT PAUSE WRITE holds).
    pub(crate) fn writes(&self) -> bool {
        self.flags.contains(&Flag::Write)
    }

    /// Whether Redis calls it fast (the latency monitor's `fast-command`
    /// event rather than `command`).
    pub(crate) fn fast(&self) -> bool {
        self.flags.contains(&Flag::Fast)
    }
}

/// Longest command name looked up; a longer one is unknown without
/// further ado. Every name in the table fits (checked when it compiles).
pub(crate) const MAX_NAME: usize = 32;

/// Every command of the face, sorted by name, so that a lookup is a
/// binary search.
pub(crate) struct Table(pub &'static [Spec]);

impl Table {
    /// The command called `name` in any case, and its index (its STATS
    /// counter). Allocates nothing: the name is lowered into a buffer on
    /// the stack and searched for among the sorted names, about six short
    /// comparisons for this table.
    pub(crate) fn lookup(&self, name: &[u8]) -> Option<(usize, &'static Spec)> {
        let mut buf = [0u8; MAX_NAME];
        let lowered = buf.get_mut(..name.len())?;
        for (lower, byte) in lowered.iter_mut().zip(name) {
            *lower = byte.to_ascii_lowercase();
        }
        let specs = self.0;
        let index = specs
            .binary_search_by(|spec| spec.name.as_bytes().cmp(lowered))
            .ok()?;
        Some((index, &specs[index]))
    }

    /// [`Table::lookup`], trying the command at `hint` first: a
    /// connection mostly sends the command it sent before, and comparing
    /// one name ignoring case costs a tenth of the binary search's six
    /// comparisons and the lowering (callgrind: some 450 instructions of
    /// a GET's 6,400).
    pub(crate) fn lookup_hinted(&self, name: &[u8], hint: usize) -> Option<(usize, &'static Spec)> {
        let specs = self.0;
        if let Some(spec) = specs.get(hint)
            && spec.name.as_bytes().eq_ignore_ascii_case(name)
        {
            return Some((hint, spec));
        }
        self.lookup(name)
    }

    /// Every command, in table order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'static, Spec> {
        self.0.iter()
    }

    /// Whether the names are sorted, lower case, unique and short enough
    /// for [`Table::lookup`]: what the table's compile-time check asserts.
    pub(crate) const fn well_formed(specs: &[Spec]) -> bool {
        let mut i = 0;
        while i < specs.len() {
            let name = specs[i].name.as_bytes();
            if name.len() > MAX_NAME || name.is_empty() {
                return false;
            }
            let mut j = 0;
            while j < name.len() {
                if name[j].is_ascii_uppercase() {
                    return false;
                }
                j += 1;
            }
            if i > 0 && !before(specs[i - 1].name.as_bytes(), name) {
                return false;
            }
            i += 1;
        }
        true
    }
}

/// Whether `a` sorts strictly before `b`, byte by byte (as `Ord` on
/// slices, which is not usable in a constant).
const fn before(a: &[u8], b: &[u8]) -> bool {
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_as_slices_have_it() {
        for (a, b) in [("get", "getdel"), ("sadd", "scan"), ("ses", "set")] {
            assert!(before(a.as_bytes(), b.as_bytes()), "{a} < {b}");
            assert!(!before(b.as_bytes(), a.as_bytes()));
        }
        assert!(!before(b"get", b"get"));
    }
}
