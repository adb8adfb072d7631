//! The group around this node: forming it, watching openraft's view of it,
//! and learning where each member's clients connect.
//!
//! **Forming.** A node with peers and no log asks each peer `hello` every
//! 300 ms. If any peer is already part of a group, it waits: that group's
//! leader replicates to it if it is a member, or adds it (NODE_ADD). Once
//! a majority of the configured nodes (itself included) answers and none
//! is in a group yet, it initializes openraft with all of them; every node
//! that starts this way does the same with the same members, which
//! openraft allows, and one election follows. A node without peers forms
//! a group of one, which others may join later.
//!
//! **Watching.** openraft publishes its metrics on a watch channel; one
//! task copies what the faces need (role, term, leader, members, how far
//! each follower has come) into [`Group`], and tells the lease when this
//! node starts or stops leading.
//!
//! **Peers' client addresses.** The membership holds raft addresses only
//! (what `--peer` gives). Redirects and SENTINEL need the leader's native
//! and RESP addresses, so each node asks every member it knows nothing of
//! `hello` every 200 ms, and every member every 10 seconds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::{BasicNode, ServerState};
use parking_lot::RwLock;
use tracing::{info, warn};

use super::lease::Lease;
use super::network::{Dialer, NodeInfo};
use super::state_machine::Progress;
use super::types::Raft;
use super::view::{GroupView, MemberView, Role};
use crate::Addresses;

/// What the faces read of openraft's state, kept current by [`watch`].
pub(crate) struct Group {
    me: u64,
    addresses: Addresses,
    /// The term this node leads in, 0 when it does not: the read and write
    /// paths' one atomic load.
    leading: AtomicU64,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    role: Option<ServerState>,
    term: u64,
    leader: Option<u64>,
    /// Every member: id, raft address, voter.
    members: Vec<(u64, String, bool)>,
    /// On the leader: each member's matched index.
    matched: BTreeMap<u64, Option<u64>>,
    last_log_index: u64,
}

impl Group {
    pub(crate) fn new(me: u64, addresses: Addresses) -> Group {
        Group {
            me,
            addresses,
            leading: AtomicU64::new(0),
            state: RwLock::default(),
        }
    }

    /// Whether this node leads now.
    pub(crate) fn leads(&self) -> bool {
        self.leading_term() != 0
    }

    /// The term this node leads in, 0 if it does not.
    pub(crate) fn leading_term(&self) -> u64 {
        self.leading.load(Ordering::Acquire)
    }

    /// The leader's id, if known.
    pub(crate) fn leader(&self) -> Option<u64> {
        self.state.read().leader
    }

    /// The view the faces read.
    pub(crate) fn view(&self, peers: &PeerBook, progress: &Progress) -> GroupView {
        let state = self.state.read();
        let role = match state.role {
            Some(ServerState::Leader) => Role::Leader,
            Some(ServerState::Candidate) => Role::Candidate,
            Some(ServerState::Learner) => Role::Learner,
            _ => Role::Follower,
        };
        let members = state
            .members
            .iter()
            .map(|(id, raft_addr, voter)| {
                let (native, resp) = if *id == self.me {
                    (Some(self.addresses.native), self.addresses.resp)
                } else {
                    peers
                        .get(*id)
                        .map_or((None, None), |info| (Some(info.native), info.resp))
                };
                MemberView {
                    id: *id,
                    raft_addr: raft_addr.clone(),
                    native_addr: native,
                    resp_addr: resp,
                    voter: *voter,
                    matched_index: state.matched.get(id).copied().flatten(),
                }
            })
            .collect();
        GroupView {
            role,
            node_id: self.me,
            term: state.term,
            leader: state.leader,
            members,
            last_log_index: state.last_log_index,
            applied_index: progress.index.load(Ordering::Acquire),
        }
    }
}

/// What each peer said of itself.
#[derive(Default)]
pub(crate) struct PeerBook(RwLock<HashMap<u64, NodeInfo>>);

impl PeerBook {
    pub(crate) fn get(&self, id: u64) -> Option<NodeInfo> {
        self.0.read().get(&id).cloned()
    }

    fn put(&self, info: NodeInfo) {
        self.0.write().insert(info.id, info);
    }
}

/// Copies openraft's metrics into `group` as they change.
///
/// They change with every entry (the log and applied indexes), so the
/// cheap part (indexes, matched positions) is copied each time and the
/// rest (members, the lease's voter sets) only when the role, term,
/// leader or membership changed.
pub(crate) async fn watch(raft: Raft, group: Arc<Group>, lease: Arc<Lease>) {
    let mut metrics = raft.metrics();
    let mut seen = None;
    loop {
        let changed = {
            let m = metrics.borrow_and_update();
            let key = (
                m.state,
                m.current_term,
                m.current_leader,
                *m.membership_config.log_id(),
            );
            if seen == Some(key) {
                let mut state = group.state.write();
                state.last_log_index = m.last_log_index.unwrap_or(0);
                for (id, matched) in m.replication.iter().flatten() {
                    state.matched.insert(*id, matched.map(|l| l.index));
                }
                None
            } else {
                seen = Some(key);
                Some(m.clone())
            }
        };
        if let Some(m) = changed {
            adopt(&group, &lease, &m);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Takes a new role, term, leader or membership from openraft's metrics.
fn adopt(group: &Group, lease: &Lease, m: &openraft::RaftMetrics<u64, BasicNode>) {
    let membership = m.membership_config.membership();
    let voters: Vec<u64> = membership.voter_ids().collect();
    let members = membership
        .nodes()
        .map(|(id, node)| (*id, node.addr.clone(), voters.contains(id)))
        .collect();
    let leading = m.state == ServerState::Leader;
    let term = m.current_term;
    lease.leading(
        if leading { term } else { 0 },
        membership
            .get_joint_config()
            .iter()
            .map(|set| set.iter().copied().collect())
            .collect(),
    );
    let mut state = group.state.write();
    if state.role != Some(m.state) || state.leader != m.current_leader {
        info!(role = ?m.state, term, leader = ?m.current_leader, "replication: role");
    }
    *state = State {
        role: Some(m.state),
        term,
        leader: m.current_leader,
        members,
        matched: m
            .replication
            .as_ref()
            .map(|r| r.iter().map(|(id, l)| (*id, l.map(|l| l.index))).collect())
            .unwrap_or_default(),
        last_log_index: m.last_log_index.unwrap_or(0),
    };
    group
        .leading
        .store(if leading { term } else { 0 }, Ordering::Release);
}

/// Forms the group, or waits to be part of one (see the module docs).
pub(crate) async fn form(
    raft: Raft,
    me: u64,
    my_addr: String,
    peers: Vec<(u64, String)>,
    dialer: Dialer,
) {
    let mut members = BTreeMap::from([(me, BasicNode::new(my_addr))]);
    members.extend(
        peers
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr.clone()))),
    );
    let majority = members.len() / 2 + 1;
    let mut waiting_logged = false;
    loop {
        match raft.is_initialized().await {
            Ok(true) => return,
            Ok(false) => {}
            Err(_) => return,
        }
        let mut reachable = 1;
        let mut in_group = false;
        for (_, addr) in &peers {
            if let Ok(info) = dialer.hello(addr).await {
                reachable += 1;
                in_group |= info.initialized;
            }
        }
        if in_group {
            if !waiting_logged {
                info!(
                    "replication: a peer is already in a group; waiting to be replicated to or added"
                );
                waiting_logged = true;
            }
        } else if reachable >= majority {
            info!(members = members.len(), "replication: forming the group");
            if let Err(e) = raft.initialize(members.clone()).await {
                // Another node initialized first and replicated to us.
                info!(error = %e, "replication: not initialized here");
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Learns every member's client addresses (see the module docs).
pub(crate) async fn learn_peers(
    group: Arc<Group>,
    book: Arc<PeerBook>,
    configured: Vec<(u64, String)>,
    dialer: Dialer,
) {
    let mut round: u64 = 0;
    loop {
        let mut targets: BTreeMap<u64, String> = configured.iter().cloned().collect();
        for (id, addr, _) in &group.state.read().members {
            targets.insert(*id, addr.clone());
        }
        targets.remove(&group.me);
        for (id, addr) in targets {
            if book.get(id).is_some() && !round.is_multiple_of(50) {
                continue;
            }
            match dialer.hello(&addr).await {
                Ok(info) if info.id == id => book.put(info),
                Ok(info) => warn!(
                    expected = id,
                    answered = info.id,
                    %addr,
                    "replication: a peer answers with another node id"
                ),
                Err(_) => {}
            }
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
