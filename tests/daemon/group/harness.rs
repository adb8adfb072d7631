//! A replication group of `sessiond` processes on loopback, for fault
//! tests: start, kill -9, pause, restart on the data directory, and find
//! the leader.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sessiond_protocol::wire::{Reply, Request};

use crate::Raw;
use crate::binary::{BIN, send_signal};
use crate::tempdir::TempDir;

/// One member: its ports, its data directory and its process.
pub(crate) struct Node {
    pub id: u64,
    pub native: SocketAddr,
    pub resp: SocketAddr,
    pub raft: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
    /// The members it was started with (`--peer`), itself excluded.
    peers: Vec<(u64, SocketAddr)>,
    extra: Vec<String>,
}

impl Node {
    fn spawn(&mut self) {
        let mut command = Command::new(BIN);
        command
            .args(["--node-id", &self.id.to_string()])
            .args(["--raft-listen", &self.raft.to_string()])
            .args(["--listen", &self.native.to_string()])
            .args(["--resp-listen", &self.resp.to_string()])
            .arg("--data-dir")
            .arg(&self.dir)
            .args(&self.extra)
            .env_remove("SESSIOND_AUTH_TOKEN")
            .stdout(Stdio::null())
            .stderr(log_file(&self.dir));
        for (id, raft) in &self.peers {
            command.args(["--peer", &format!("{id}={raft}")]);
        }
        let mut child = command.spawn().expect("the sessiond binary starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(self.native).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let log =
                    std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default();
                panic!("node {} exited early: {status}: {log}", self.id);
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "node {} did not start",
                self.id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Whether its process runs.
    pub fn is_up(&self) -> bool {
        self.child.is_some()
    }
}

/// A group of nodes; dropping it kills them all.
pub(crate) struct Group {
    pub nodes: Vec<Node>,
    _dir: TempDir,
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A port free now and never handed out before by this process: the
/// tests of a group run side by side, and a port the kernel picked for
/// one (bound, then let go) could be picked again for another before the
/// first binds it. Below the kernel's ephemeral range, so that no
/// outgoing connection takes one either.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 500) as u16 * 20,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    loop {
        let port = NEXT.fetch_add(1, Ordering::AcqRel);
        assert!(port < 32_000, "out of test ports");
        if std::net::TcpListener::bind(addr(port)).is_ok() {
            return port;
        }
    }
}

/// Where a node's log goes (beside its data directory), for a failure's
/// message.
fn log_file(dir: &std::path::Path) -> Stdio {
    std::fs::create_dir_all(dir.parent().expect("a node's dir has a parent")).unwrap();
    std::fs::File::create(dir.with_extension("log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

impl Group {
    /// `n` nodes, each started with every other as a peer, plus `extra`
    /// flags; returns once all accept connections.
    pub fn start(n: u64, extra: &[&str]) -> Group {
        let dir = TempDir::new("group");
        let raft: Vec<SocketAddr> = (0..n).map(|_| addr(free_port())).collect();
        let mut nodes: Vec<Node> = (1..=n)
            .map(|id| Node {
                id,
                native: addr(free_port()),
                resp: addr(free_port()),
                raft: raft[id as usize - 1],
                dir: dir.path().join(format!("node-{id}")),
                child: None,
                peers: (1..=n)
                    .filter(|other| *other != id)
                    .map(|other| (other, raft[other as usize - 1]))
                    .collect(),
                extra: extra.iter().map(|s| s.to_string()).collect(),
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        Group { nodes, _dir: dir }
    }

    /// Adds a node that knows the others as peers (started pristine: it
    /// waits to be added). Returns its index.
    pub fn start_extra(&mut self) -> usize {
        let id = self.nodes.len() as u64 + 1;
        let peers = self.nodes.iter().map(|n| (n.id, n.raft)).collect();
        let extra = self.nodes[0].extra.clone();
        let mut node = Node {
            id,
            native: addr(free_port()),
            resp: addr(free_port()),
            raft: addr(free_port()),
            dir: self._dir.path().join(format!("node-{id}")),
            child: None,
            peers,
            extra,
        };
        node.spawn();
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// kill -9.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed node again on its data directory.
    pub fn restart(&mut self, i: usize) {
        assert!(!self.nodes[i].is_up());
        self.nodes[i].spawn();
    }

    /// SIGSTOP or SIGCONT.
    pub fn signal(&self, i: usize, name: &str) {
        send_signal(self.nodes[i].child.as_ref().expect("running"), name);
    }

    /// The index of the node that answers reads as leader, waiting up to
    /// `within`; `None` if none does.
    pub async fn leader(&self, within: Duration) -> Option<usize> {
        let started = Instant::now();
        loop {
            for (i, node) in self.nodes.iter().enumerate() {
                if node.is_up() && answers_as_leader(node.native).await {
                    return Some(i);
                }
            }
            if started.elapsed() > within {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            if let Some(child) = &self.nodes[i].child {
                // A paused node must run again to die.
                let _ = Command::new("kill")
                    .args(["-CONT", &child.id().to_string()])
                    .status();
            }
            self.kill(i);
        }
    }
}

/// Whether the node at `native` serves a read (a leader with its lease).
pub(crate) async fn answers_as_leader(native: SocketAddr) -> bool {
    let probe = async {
        let mut raw = Raw::connect(native).await;
        matches!(
            raw.call(&Request::KeyGet {
                key: b"probe".to_vec(),
            })
            .await,
            Ok(Reply::Value(_))
        )
    };
    tokio::time::timeout(Duration::from_millis(500), probe)
        .await
        .unwrap_or(false)
}
