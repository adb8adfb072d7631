//! Replication: a group of nodes that agree, through openraft, on one log
//! of every write, so that a node's death loses no acknowledged login or
//! logout (docs/replication.md has the design and how to run it).
//!
//! | file | job |
//! |---|---|
//! | `types.rs` | what the log carries: a stamped [`Batch`](types::Batch) of requests |
//! | `log_store.rs` | the log on disk: the group's journal |
//! | `state_machine.rs` | the store fed the committed log; snapshots in the engine's format |
//! | `network.rs`, `listener.rs` | node-to-node RPC on `--raft-listen`, both sides |
//! | `lease.rs` | the leader lease that lets the leader read alone |
//! | `group.rs` | forming the group, watching it (the [`GroupView`]), knowing where peers' clients connect |
//! | `view.rs` | the view the faces read |
//!
//! The faces reach replication through [`Replication`] only: `propose`
//! for a write, `readable` before a read, `view` for ROLE and the like,
//! `add_node` and `remove_node` for membership.

mod group;
mod lease;
mod listener;
mod log_store;
mod network;
mod state_machine;
mod types;
mod view;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, SnapshotPolicy};
use sessiond::FsyncPolicy;
use tokio::net::TcpListener;

pub(crate) use types::{Op, OpReply};
pub(crate) use view::{GroupView, MemberView, Role};

use crate::Shared;
use group::{Group, PeerBook};
use lease::Lease;
use state_machine::Progress;
use types::{Batch, Raft};

/// How long a write may wait for a majority before its client is told the
/// outcome is unknown.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a read may wait for this node to confirm it still leads.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the leader sends the touches it gathered, if any.
const TOUCH_EVERY: Duration = Duration::from_millis(500);

/// A node's replication settings.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// `--node-id`.
    pub node_id: u64,
    /// `--raft-listen`.
    pub raft_listen: SocketAddr,
    /// `--peer ID=ADDR`, one per other node.
    pub peers: Vec<(u64, String)>,
    /// `--data-dir`: the log and snapshots; `None` keeps them in memory.
    pub data_dir: Option<PathBuf>,
    /// `--fsync`: when a log entry counts as written (see `log_store.rs`).
    pub fsync: FsyncPolicy,
    /// `--raft-snapshot-every`: a snapshot after this many log entries.
    pub snapshot_every: u64,
}

impl ReplicationConfig {
    /// The default of `snapshot_every`: a batch is a few hundred bytes to
    /// a few KiB, so the log stays tens of MiB between snapshots.
    pub const SNAPSHOT_EVERY: u64 = 50_000;
}

/// Why a request was not served here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// This node does not lead; the leader's client addresses, if known.
    NotLeader {
        /// The leader's native-protocol address.
        native: Option<SocketAddr>,
        /// The leader's Redis-protocol address.
        resp: Option<SocketAddr>,
    },
    /// The group did not confirm in time; for a write, the outcome is
    /// unknown.
    Unavailable(String),
}

/// How a membership change ended, as its task returns it.
type MembershipOutcome<T> =
    Result<Result<T, RaftError<u64, ClientWriteError<u64, BasicNode>>>, tokio::task::JoinError>;

/// A running member of a group: the faces' way in.
pub(crate) struct Replication {
    raft: Raft,
    lease: Arc<Lease>,
    progress: Arc<Progress>,
    group: Arc<Group>,
    peers: Arc<PeerBook>,
    /// The runtime openraft runs on (its own threads, apart from the
    /// connection threads). It lives as long as the process: a runtime
    /// may not be dropped from async code, which is where the last handle
    /// on this would go.
    runtime: tokio::runtime::Handle,
}

/// openraft's timing. A follower that stops hearing heartbeats (every
/// 50 ms) first waits out the leader's lease (`election_timeout_max`,
/// 600 ms), then its own election timeout (300 to 600 ms): a dead leader
/// is replaced after 0.9 to 1.2 s (benches/failover.sh measures it). Both
/// are multiples of the heartbeat large enough that a loaded machine does
/// not start elections by accident.
fn raft_config(snapshot_every: u64) -> openraft::Config {
    openraft::Config {
        cluster_name: "sessiond".into(),
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        install_snapshot_timeout: 10_000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(snapshot_every.max(1)),
        // Kept after a snapshot for followers a little behind, so that
        // they catch up from the log rather than a whole snapshot.
        max_in_snapshot_log_to_keep: (snapshot_every / 10).clamp(1, 1_000),
        ..Default::default()
    }
}

impl Replication {
    /// Starts this node's member of the group: opens the log and the
    /// snapshot, starts openraft and the raft listener, and begins
    /// forming or joining the group.
    pub(crate) async fn start(
        shared: Arc<Shared>,
        config: ReplicationConfig,
    ) -> anyhow::Result<Replication> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sessiond-raft")
            .enable_all()
            .build()?;
        let runtime = Box::leak(Box::new(runtime)).handle().clone();
        let raft_config = Arc::new(raft_config(config.snapshot_every).validate()?);
        let me = config.node_id;
        let lease = Arc::new(Lease::new(
            me,
            Duration::from_millis(raft_config.election_timeout_max),
        ));
        let progress = Arc::new(Progress::default());
        let dir = config.data_dir.clone();
        let log = match &dir {
            Some(dir) => log_store::LogStore::open(dir, config.fsync)?,
            None => log_store::LogStore::in_memory(),
        };
        let sm = state_machine::StateMachine::open(shared.clone(), dir, progress.clone())?;
        shared.store.defer_touches();
        let dialer = network::Dialer {
            tls: shared
                .config
                .tls
                .as_ref()
                .map(crate::tls::peer_connector)
                .transpose()?,
            credentials: shared.credentials.clone(),
        };
        let network = network::Network {
            dialer: dialer.clone(),
            lease: lease.clone(),
        };
        let listener = TcpListener::bind(config.raft_listen).await?;
        let raft = runtime
            .spawn(async move { Raft::new(me, raft_config, network, log.clone(), sm).await })
            .await??;
        let peers = Arc::new(PeerBook::default());
        let group = Arc::new(Group::new(me, shared.addresses));
        let info = listener::Context {
            raft: raft.clone(),
            me,
            lease: lease.clone(),
            shared: shared.clone(),
        };
        runtime.spawn(listener::serve(listener, info));
        runtime.spawn(group::watch(raft.clone(), group.clone(), lease.clone()));
        runtime.spawn(group::form(
            raft.clone(),
            me,
            config.raft_listen.to_string(),
            config.peers.clone(),
            dialer.clone(),
        ));
        runtime.spawn(group::learn_peers(
            group.clone(),
            peers.clone(),
            config.peers.clone(),
            dialer,
        ));
        let replication = Replication {
            raft,
            lease,
            progress,
            group,
            peers,
            runtime,
        };
        replication.spawn_touch_sender(shared);
        Ok(replication)
    }

    /// Sends the leader's gathered touches every [`TOUCH_EVERY`], so a
    /// follower's sessions are never more than that behind the leader's.
    fn spawn_touch_sender(&self, shared: Arc<Shared>) {
        let raft = self.raft.clone();
        let group = self.group.clone();
        self.runtime.spawn(async move {
            let mut every = tokio::time::interval(TOUCH_EVERY);
            loop {
                every.tick().await;
                if !group.leads() {
                    // A follower's store is written only by the log.
                    let _ = shared.store.take_touches();
                    continue;
                }
                let batch = Batch::stamped(&shared.store, Vec::new());
                if batch.touches.is_empty() {
                    continue;
                }
                let _ = tokio::time::timeout(WRITE_TIMEOUT, raft.client_write(batch)).await;
            }
        });
    }

    /// Replicates `ops` as one entry and returns what applying them
    /// answered, once a majority has the entry and this node applied it.
    pub(crate) async fn propose(
        &self,
        shared: &Shared,
        ops: Vec<Op>,
    ) -> Result<Vec<OpReply>, Refusal> {
        if !self.group.leads() {
            return Err(self.not_leader());
        }
        let batch = Batch::stamped(&shared.store, ops);
        match tokio::time::timeout(WRITE_TIMEOUT, self.raft.client_write(batch)).await {
            Ok(Ok(written)) => Ok(written.data.0),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                Err(self.not_leader())
            }
            Ok(Err(e)) => Err(Refusal::Unavailable(format!(
                "the write's outcome is unknown: {e}"
            ))),
            Err(_) => Err(Refusal::Unavailable(format!(
                "no majority confirmed the write within {} s; its outcome is unknown",
                WRITE_TIMEOUT.as_secs()
            ))),
        }
    }

    /// `Ok` once a read here is linearizable: this node leads, holds its
    /// lease (or has just confirmed its leadership with a majority), and
    /// has applied everything committed before this moment.
    pub(crate) async fn readable(&self) -> Result<(), Refusal> {
        let term = self.group.leading_term();
        if term == 0 {
            return Err(self.not_leader());
        }
        if self.lease.holds()
            && self
                .progress
                .term
                .load(std::sync::atomic::Ordering::Acquire)
                == term
        {
            return Ok(());
        }
        match tokio::time::timeout(READ_TIMEOUT, self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(_))) => Err(self.not_leader()),
            Ok(Err(e)) => Err(Refusal::Unavailable(e.to_string())),
            Err(_) => Err(Refusal::Unavailable(format!(
                "could not confirm leadership with a majority within {} s",
                READ_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The redirect to the leader, as far as this node knows it.
    fn not_leader(&self) -> Refusal {
        let leader = self.group.leader();
        let info = leader.and_then(|id| self.peers.get(id));
        Refusal::NotLeader {
            native: info.as_ref().map(|i| i.native),
            resp: info.and_then(|i| i.resp),
        }
    }

    /// The group as this node sees it now. A node calls itself the
    /// leader only while it holds its lease: a leader restarted on its
    /// data directory believes it still leads until a majority says
    /// otherwise, and Sentinel clients must not be sent to it meanwhile.
    pub(crate) fn view(&self) -> GroupView {
        let mut view = self.group.view(&self.peers, &self.progress);
        if view.role == Role::Leader && !self.lease.holds() {
            view.role = Role::Candidate;
            view.leader = None;
        }
        view
    }

    /// Adds node `id` (its `--raft-listen` is `raft_addr`): first as a
    /// learner, which receives a snapshot and the log, then as a voter.
    pub(crate) async fn add_node(&self, id: u64, raft_addr: String) -> Result<(), Refusal> {
        if !self.group.leads() {
            return Err(self.not_leader());
        }
        let raft = self.raft.clone();
        let done = self.runtime.spawn(async move {
            raft.add_learner(id, BasicNode::new(raft_addr), true)
                .await?;
            raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
        });
        self.membership_outcome(done.await).await
    }

    /// Removes node `id` from the group (it stops receiving the log).
    pub(crate) async fn remove_node(&self, id: u64) -> Result<(), Refusal> {
        if !self.group.leads() {
            return Err(self.not_leader());
        }
        let raft = self.raft.clone();
        let done = self.runtime.spawn(async move {
            raft.change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                .await
        });
        self.membership_outcome(done.await).await
    }

    async fn membership_outcome<T>(&self, done: MembershipOutcome<T>) -> Result<(), Refusal> {
        match done {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                Err(self.not_leader())
            }
            Ok(Err(e)) => Err(Refusal::Unavailable(format!(
                "membership change failed: {e}"
            ))),
            Err(e) => Err(Refusal::Unavailable(format!(
                "membership change failed: {e}"
            ))),
        }
    }
}
