//! The one connection policy of both faces: what a client may do before it
//! authenticates, what a wrong guess costs, when guessing ends the
//! connection, and the counting of its requests for STATS.
//!
//! Each face only says, in its own terms, which of its requests may run
//! before authentication (the native PING and AUTH; the Redis commands
//! flagged `no_auth`) and how to spell the refusals; the rules themselves
//! are here, once, so the two faces cannot drift apart:
//!
//! - without a configured token every client is authenticated from the
//!   start; with one, only a matching token (compared in constant time by
//!   [`Secret::matches`](crate::auth::Secret::matches)) opens the gate;
//! - each wrong token is answered only after a delay
//!   ([`failure_delay`](crate::auth::failure_delay)) that grows with the
//!   wrong tokens of the connection, of its peer address within the last
//!   minute, and of everyone within the last minute (`Guesses` in
//!   `auth.rs`), so reconnecting does not reset it; after [`MAX_FAILURES`]
//!   in a row the connection is closed;
//! - every request is counted once in the connection's [`Tally`], admitted
//!   or not (STATS counts traffic, not successes), with how it ended, and
//!   the tally is reported once per batch; so is the batch's latency.
//!
//! The delay is a debt rather than a sleep inside [`Policy::authenticate`]
//! so that command handlers stay synchronous: the face awaits
//! [`Policy::pause`] after each request, before it writes the answer.

use std::net::IpAddr;
use std::time::Duration;

use tracing::debug;

use crate::Shared;
use crate::auth::MAX_FAILURES;
use crate::outcome::Outcome;
use crate::stats::{Counters, ServerStats, Tally};

/// One connection's standing under the policy.
pub(crate) struct Policy<'a> {
    shared: &'a Shared,
    /// Where this face's counts go.
    counters: &'a Counters,
    tally: Tally,
    authenticated: bool,
    /// Wrong tokens since the last right one.
    failures: u32,
    /// Delay owed to a wrong token, served by [`Policy::pause`].
    owed: Duration,
    /// Where the client connects from, under which its wrong guesses are
    /// remembered beyond this connection (`None`: a connection of the
    /// server's own, as the replicated log's).
    peer: Option<IpAddr>,
}

/// What a token offered by a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The server has no token; nothing changed (the client was already in).
    NoToken,
    /// The token matched: the client is authenticated.
    Accepted,
    /// It did not: a delay is owed, and the connection may have to close.
    Refused,
}

impl<'a> Policy<'a> {
    /// A fresh connection's standing; `counters` are its face's.
    pub(crate) fn new(shared: &'a Shared, counters: &'a Counters) -> Policy<'a> {
        Policy {
            shared,
            counters,
            tally: counters.tally(),
            authenticated: shared.credentials.current().token.is_none(),
            failures: 0,
            owed: Duration::ZERO,
            peer: None,
        }
    }

    /// This standing for a client connecting from `peer`.
    pub(crate) fn of_peer(self, peer: IpAddr) -> Policy<'a> {
        Policy {
            peer: Some(peer),
            ..self
        }
    }

    /// Whether a request may run now: always once authenticated, and
    /// before that only if its face allows it `before_auth` (asked only
    /// then, so an authenticated client's requests skip the question).
    pub(crate) fn admits(&self, before_auth: impl FnOnce() -> bool) -> bool {
        self.authenticated || before_auth()
    }

    /// Whether the client is authenticated (or needs not be).
    pub(crate) fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// Checks a token the client offers.
    /// The token is the one in force now, after any reload; a client that
    /// authenticated under an older one stays authenticated (`reload.rs`).
    pub(crate) fn authenticate(&mut self, given: &[u8]) -> Attempt {
        let credentials = self.shared.credentials.current();
        let Some(secret) = &credentials.token else {
            return Attempt::NoToken;
        };
        if secret.matches(given) {
            self.authenticated = true;
            self.failures = 0;
            self.shared.guesses.succeeded(self.peer);
            return Attempt::Accepted;
        }
        self.failures += 1;
        ServerStats::bump(&self.shared.stats.auth_failures);
        debug!(failures = self.failures, "failed auth");
        self.owed = self.shared.guesses.failed(self.peer, self.failures);
        Attempt::Refused
    }

    /// Back to a fresh connection's standing (RESP's RESET), except that
    /// past failures still count: a reset must not buy more guesses.
    pub(crate) fn reset(&mut self) {
        self.authenticated = self.shared.credentials.current().token.is_none();
    }

    /// Serves the delay a wrong token owes, if any; the face awaits this
    /// after every request, before answering.
    /// Whether there was one to serve.
    pub(crate) async fn pause(&mut self) -> bool {
        if self.owed.is_zero() {
            return false;
        }
        tokio::time::sleep(std::mem::take(&mut self.owed)).await;
        true
    }

    /// Whether the connection must close after this answer: too many wrong
    /// tokens in a row.
    pub(crate) fn must_close(&self) -> bool {
        self.failures >= MAX_FAILURES
    }

    /// Counts one request of its face's kind `kind` (`None`: a request
    /// the face could not place) that ended with `outcome`.
    pub(crate) fn count(&mut self, kind: Option<usize>, outcome: Outcome) {
        let kind = kind.unwrap_or_else(|| self.counters.unknown());
        self.tally.count(kind, outcome);
    }

    /// Adds a command's time to its kind's (RESP's commandstats).
    pub(crate) fn time(&mut self, kind: usize, took: Duration) {
        self.tally.time(kind, took);
    }

    /// Counts key reads that found their key and that did not.
    pub(crate) fn lookups(&mut self, hits: u64, misses: u64) {
        if hits + misses > 0 {
            self.tally.lookups(hits, misses);
        }
    }

    /// Adds this connection's counts to the server's, once per batch.
    pub(crate) fn report(&mut self) {
        self.counters.absorb(&mut self.tally);
    }

    /// Records that the requests counted since the last call were answered
    /// `took` after their input was read; once per batch, by the driver.
    pub(crate) fn answered(&mut self, took: Duration) {
        self.counters.record_latency(&mut self.tally, took);
    }
}
