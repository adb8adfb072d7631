//! What the faces may know of the replication group: this node's role,
//! the leader, the members and how far each has come.
//!
//! ROLE, INFO replication, the SENTINEL discovery commands, STATS and the
//! redirects read a [`GroupView`]; none of them reaches into openraft. A
//! node without peers answers as a group of one that it leads
//! ([`Role::Standalone`]), so the same commands work, and say the same
//! things, with and without replication.

use std::net::SocketAddr;

/// This node's part in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "only the live view (Shared::group_view) will build the other roles; \
                  remove this then"
    )
)]
pub(crate) enum Role {
    /// No replication: the node serves everything itself.
    Standalone,
    /// Elected: serves reads and writes.
    Leader,
    /// Replicates the leader's log; redirects clients to the leader.
    Follower,
    /// An election is under way; no leader is known.
    Candidate,
    /// Receives the log but does not vote (joining, or being removed).
    Learner,
}

impl Role {
    /// Whether this node answers reads and writes itself.
    pub(crate) fn serves(self) -> bool {
        matches!(self, Role::Standalone | Role::Leader)
    }
}

/// One member of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberView {
    /// Its `--node-id`.
    pub id: u64,
    /// Its `--raft-listen`, as the membership records it.
    pub raft_addr: String,
    /// Its native-protocol listener, once it has told us (`None` until
    /// then, or if unreachable since start).
    pub native_addr: Option<SocketAddr>,
    /// Its Redis-protocol listener, if it has one and has told us.
    pub resp_addr: Option<SocketAddr>,
    /// Votes (a learner does not).
    pub voter: bool,
    /// On the leader: the last log index known to be on that member
    /// (`None` on followers, or before the first acknowledgement).
    pub matched_index: Option<u64>,
}

/// The group as this node sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupView {
    /// This node's role.
    pub role: Role,
    /// This node's id (1 when standalone).
    pub node_id: u64,
    /// The current term (0 when standalone).
    pub term: u64,
    /// The leader's id, if one is known.
    pub leader: Option<u64>,
    /// Every member, this node included, by id.
    pub members: Vec<MemberView>,
    /// The last index in this node's log (the replication offset).
    pub last_log_index: u64,
    /// The last index applied to this node's store.
    pub applied_index: u64,
}

impl GroupView {
    /// The leader's entry among the members.
    pub(crate) fn leader_member(&self) -> Option<&MemberView> {
        let leader = self.leader?;
        self.members.iter().find(|m| m.id == leader)
    }

    /// This node's own entry among the members.
    pub(crate) fn me(&self) -> Option<&MemberView> {
        self.members.iter().find(|m| m.id == self.node_id)
    }

    /// The members other than the leader (Redis's "replicas").
    pub(crate) fn replicas(&self) -> impl Iterator<Item = &MemberView> {
        self.members
            .iter()
            .filter(move |m| Some(m.id) != self.leader)
    }

    /// The view of a node without peers: a group of one, led by itself.
    pub(crate) fn standalone(native: SocketAddr, resp: Option<SocketAddr>) -> GroupView {
        GroupView {
            role: Role::Standalone,
            node_id: 1,
            term: 0,
            leader: Some(1),
            members: vec![MemberView {
                id: 1,
                raft_addr: String::new(),
                native_addr: Some(native),
                resp_addr: resp,
                voter: true,
                matched_index: None,
            }],
            last_log_index: 0,
            applied_index: 0,
        }
    }
}
