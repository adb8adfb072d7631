//! The leader lease: how the leader answers reads without a consensus
//! round per read, and still never answers one stale.
//!
//! openraft's followers refuse to vote for anyone for `election_timeout_max`
//! after they last heard from the leader (its leader lease). So once a
//! majority has acknowledged an AppendEntries (a heartbeat or entries)
//! that the leader sent at time `t`, no other leader can be elected before
//! `t + election_timeout_max`: a candidate needs a vote from that majority,
//! and each member of it is still inside its lease. Until then this node is
//! the only leader, and its applied state holds every acknowledged write
//! (once it has applied an entry of its own term). We claim a shorter
//! lease than the followers keep, [`LEASE_SHARE`] of it, for clock rate
//! differences and the time between the check and the read.
//!
//! The acknowledgements come from the network layer (`network.rs`), which
//! knows when each request left. We count ourselves in every majority;
//! this is safe because the moment this node hears from a candidate or
//! another leader (a VoteRequest, an AppendEntries, or a reply saying its
//! vote is stale) the lease is dropped ([`Lease::lose`]) before the
//! message reaches openraft, so before this node can grant a vote.
//!
//! When the lease has lapsed (an idle group between heartbeats never
//! lets it: heartbeats refresh it), a read falls back to openraft's read
//! index (`ensure_linearizable`), which refreshes it in passing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The share of the followers' lease the leader claims.
const LEASE_SHARE: f64 = 0.6;

/// This node's lease, if it leads.
pub(crate) struct Lease {
    /// Since when the clock below counts.
    base: Instant,
    /// The lease ends at this many nanoseconds after `base` (0: no lease).
    until: AtomicU64,
    length: Duration,
    state: Mutex<State>,
}

struct State {
    me: u64,
    /// The term this node leads in (0: not leading).
    term: u64,
    /// The voter sets (two during a joint membership change).
    voters: Vec<Vec<u64>>,
    /// Per peer, when the newest request it acknowledged in `term` was sent.
    acked: HashMap<u64, Instant>,
}

impl Lease {
    /// No lease yet; `follower_lease` is openraft's `election_timeout_max`.
    pub(crate) fn new(me: u64, follower_lease: Duration) -> Lease {
        Lease {
            base: Instant::now(),
            until: AtomicU64::new(0),
            length: follower_lease.mul_f64(LEASE_SHARE),
            state: Mutex::new(State {
                me,
                term: 0,
                voters: Vec::new(),
                acked: HashMap::new(),
            }),
        }
    }

    /// Whether this node may answer a read by itself now.
    pub(crate) fn holds(&self) -> bool {
        let until = self.until.load(Ordering::Acquire);
        until != 0 && (self.base.elapsed().as_nanos() as u64) < until
    }

    /// This node leads in `term` (0: it does not), over these voter sets.
    pub(crate) fn leading(&self, term: u64, voters: Vec<Vec<u64>>) {
        let mut state = self.state.lock();
        if state.term != term {
            state.acked.clear();
            self.until.store(0, Ordering::Release);
        }
        state.term = term;
        state.voters = voters;
        self.recompute(&state);
    }

    /// `peer` acknowledged a request of `term` that was sent at `sent`.
    pub(crate) fn acked(&self, peer: u64, term: u64, sent: Instant) {
        let mut state = self.state.lock();
        if state.term == 0 || state.term != term {
            return;
        }
        let newest = state.acked.entry(peer).or_insert(sent);
        if *newest < sent {
            *newest = sent;
        }
        self.recompute(&state);
    }

    /// Someone else campaigns or leads: stop answering reads alone at once.
    pub(crate) fn lose(&self) {
        let mut state = self.state.lock();
        self.until.store(0, Ordering::Release);
        state.acked.clear();
    }

    /// The lease's end: the oldest time at which every voter set had a
    /// majority acknowledging, plus the lease's length.
    fn recompute(&self, state: &State) {
        if state.term == 0 || state.voters.is_empty() {
            self.until.store(0, Ordering::Release);
            return;
        }
        let now = Instant::now();
        let mut quorum_at: Option<Instant> = None;
        for voters in &state.voters {
            let mut times: Vec<Instant> = voters
                .iter()
                .filter_map(|id| {
                    if *id == state.me {
                        Some(now)
                    } else {
                        state.acked.get(id).copied()
                    }
                })
                .collect();
            let majority = voters.len() / 2 + 1;
            if times.len() < majority {
                self.until.store(0, Ordering::Release);
                return;
            }
            times.sort_unstable_by(|a, b| b.cmp(a));
            let at = times[majority - 1];
            quorum_at = Some(quorum_at.map_or(at, |q| q.min(at)));
        }
        let Some(at) = quorum_at else { return };
        let end = (at + self.length).saturating_duration_since(self.base);
        self.until.store(end.as_nanos() as u64, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_majority_of_acknowledgements_grants_the_lease_and_a_rival_ends_it() {
        let lease = Lease::new(1, Duration::from_secs(10));
        lease.leading(3, vec![vec![1, 2, 3]]);
        assert!(!lease.holds(), "no follower has answered yet");
        lease.acked(2, 2, Instant::now());
        assert!(
            !lease.holds(),
            "an acknowledgement from an older term counts for nothing"
        );
        lease.acked(2, 3, Instant::now());
        assert!(
            lease.holds(),
            "itself and one of two followers are a majority"
        );
        lease.lose();
        assert!(!lease.holds());
    }

    #[test]
    fn the_lease_runs_from_when_the_request_was_sent() {
        let lease = Lease::new(1, Duration::from_millis(100));
        lease.leading(1, vec![vec![1, 2, 3]]);
        lease.acked(3, 1, Instant::now() - Duration::from_millis(200));
        assert!(!lease.holds(), "sent 200 ms ago: its 60 ms lease is over");
    }

    #[test]
    fn a_joint_membership_needs_a_majority_of_each_voter_set() {
        let lease = Lease::new(1, Duration::from_secs(10));
        lease.leading(1, vec![vec![1, 2, 3], vec![1, 4, 5]]);
        lease.acked(2, 1, Instant::now());
        assert!(!lease.holds(), "the new set has no majority");
        lease.acked(4, 1, Instant::now());
        assert!(lease.holds());
    }
}
