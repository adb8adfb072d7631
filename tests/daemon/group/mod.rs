//! Replication on loopback: a group of three `sessiond` processes, leader
//! kills (kill -9), a paused leader (SIGSTOP), restarts on the data
//! directory, a node added by snapshot and one removed. Every login and
//! logout a client saw acknowledged is recorded and checked afterwards:
//! none may be lost, no revoked session may come back.
//!
//! The fault rounds run twice in CI; `benches/failover.sh` runs 20
//! (`SESSIOND_FAULT_ROUNDS`).

mod harness;
mod link;
mod set_writes;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::AsyncCommands;
use sessiond_protocol::wire::{Reply, Request, ServerError};
use sessiond_protocol::{NewSession, SessionId, StoreError};
use tokio::sync::watch;

use harness::{Group, answers_as_leader};
use link::{GroupClient, Link};

/// Elections on loopback take one to two seconds; this bounds every wait.
const ELECTION: Duration = Duration::from_secs(10);

fn rounds() -> usize {
    std::env::var("SESSIOND_FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2)
}

/// A number in `0..n` from the OS's randomness.
fn random_below(n: u64) -> u64 {
    SessionId::random().prefix() % n
}

/// A connection to a follower that has said READONLY (it answers reads
/// from its own copy).
async fn reading_at(addr: SocketAddr) -> redis::aio::MultiplexedConnection {
    let mut conn = redis_at(addr).await;
    let () = redis::cmd("READONLY").query_async(&mut conn).await.unwrap();
    conn
}

async fn redis_at(addr: SocketAddr) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://{addr}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_elects_one_leader_and_the_followers_redirect_to_it() {
    let group = Group::start(3, &[]);
    let leader = group.leader(ELECTION).await.expect("a leader is elected");
    let leader_native = group.nodes[leader].native;
    let mut on_leader = redis_at(group.nodes[leader].resp).await;
    let _: () = on_leader.set("greeting", "hello").await.unwrap();
    let read: String = on_leader.get("greeting").await.unwrap();
    assert_eq!(read, "hello");
    for (i, node) in group.nodes.iter().enumerate() {
        if i == leader {
            continue;
        }
        assert!(!answers_as_leader(node.native).await, "node {i} also leads");
        // Native: a redirect naming the leader's client address (once the
        // follower has asked the leader where its clients connect).
        let mut link = Link::open(node.native).await.unwrap();
        let started = Instant::now();
        let refused = loop {
            let refused = link
                .call(&Request::KeyGet {
                    key: b"greeting".to_vec(),
                })
                .await
                .unwrap();
            if refused != Err(ServerError::NotLeader { leader: None })
                || started.elapsed() > ELECTION
            {
                break refused;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(
            refused,
            Err(ServerError::NotLeader {
                leader: Some(leader_native.to_string())
            }),
            "node {i}"
        );
        // Redis: READONLY for writes, as a replica says it.
        let mut follower = redis_at(node.resp).await;
        let write: redis::RedisResult<()> = follower.set("greeting", "bye").await;
        let error = write.unwrap_err();
        assert_eq!(error.code(), Some("READONLY"), "{error}");
        assert!(
            error
                .to_string()
                .contains("You can't write against a read only replica."),
            "{error}"
        );
        // After READONLY, the follower answers from its own copy, which has
        // the write (waiting for it to arrive, within a bound).
        let _: () = redis::cmd("READONLY")
            .query_async(&mut follower)
            .await
            .unwrap();
        let started = Instant::now();
        loop {
            let copy: Option<String> = follower.get("greeting").await.unwrap();
            if copy.as_deref() == Some("hello") {
                break;
            }
            assert!(started.elapsed() < ELECTION, "node {i} never got the write");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What clients saw acknowledged.
#[derive(Default)]
struct Ledger {
    /// Sessions whose creation was acknowledged and that no one revoked.
    live: Mutex<Vec<SessionId>>,
    /// Sessions whose deletion was acknowledged.
    revoked: Mutex<Vec<SessionId>>,
    /// Which node acknowledged each write, by round (for the pause test:
    /// never two leaders at once).
    acked_by: Mutex<HashSet<SocketAddr>>,
}

/// Creates a session with a chosen id through the group; `true` once
/// acknowledged (an ID_TAKEN after an uncertain attempt means the first
/// attempt made it).
async fn create(client: &mut GroupClient, id: SessionId, ledger: &Ledger) -> bool {
    let mut new = NewSession::new(b"user".to_vec());
    new.data = b"cart".to_vec();
    new.id = Some(id);
    let Some(served) = client
        .call(&Request::Create(new), Duration::from_secs(15))
        .await
    else {
        return false;
    };
    let acked = match served.response {
        Ok(Reply::Id(got)) => got == id,
        Err(ServerError::Store(StoreError::IdTaken)) => served.uncertain,
        _ => false,
    };
    if acked {
        ledger.acked_by.lock().insert(served.by);
    }
    acked
}

/// Deletes a session through the group; `true` once acknowledged.
async fn revoke(client: &mut GroupClient, id: SessionId) -> bool {
    let Some(served) = client
        .call(&Request::Delete { id }, Duration::from_secs(15))
        .await
    else {
        return false;
    };
    match served.response {
        Ok(Reply::Bool(true)) => true,
        // Gone already: the attempt whose answer was lost deleted it.
        Ok(Reply::Bool(false)) => served.uncertain,
        _ => false,
    }
}

/// Runs 4 writers and 2 revokers against the group until `stop`.
fn load(
    group: &Group,
    ledger: Arc<Ledger>,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let nodes: Vec<SocketAddr> = group.nodes.iter().map(|n| n.native).collect();
    let mut tasks = Vec::new();
    for worker in 0..6 {
        let (nodes, ledger, stop) = (nodes.clone(), ledger.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = GroupClient::new(nodes);
            while !*stop.borrow() {
                let id = SessionId::random();
                if !create(&mut client, id, &ledger).await {
                    continue;
                }
                if worker < 4 {
                    ledger.live.lock().push(id);
                } else if revoke(&mut client, id).await {
                    ledger.revoked.lock().push(id);
                } else {
                    // Unknown whether it is revoked: neither list.
                }
            }
        }));
    }
    tasks
}

/// The ids among `ids` whose peek on `link` does not answer as `expect`
/// says it should, with what it answered.
async fn mismatches(
    link: &mut Link,
    ids: &[SessionId],
    expect: impl Fn(&sessiond_protocol::wire::Response) -> bool,
) -> Vec<(SessionId, sessiond_protocol::wire::Response)> {
    let mut wrong = Vec::new();
    for id in ids {
        let got = link
            .call(&Request::Get {
                id: *id,
                touch: false,
            })
            .await
            .unwrap();
        if !expect(&got) {
            wrong.push((*id, got));
        }
    }
    wrong
}

/// Checks the ledger against the node at `native` (the leader).
async fn check_on_leader(native: SocketAddr, ledger: &Ledger) {
    let mut link = Link::open(native).await.unwrap();
    let live = ledger.live.lock().clone();
    let revoked = ledger.revoked.lock().clone();
    let lost = mismatches(&mut link, &live, |got| matches!(got, Ok(Reply::Session(_)))).await;
    let revived = mismatches(&mut link, &revoked, |got| {
        *got == Err(ServerError::Store(StoreError::NotFound))
    })
    .await;
    assert!(
        lost.is_empty() && revived.is_empty(),
        "{} of {} acknowledged logins lost ({:?}), {} of {} acknowledged logouts revived ({:?})",
        lost.len(),
        live.len(),
        lost.first(),
        revived.len(),
        revoked.len(),
        revived.first()
    );
}

/// Checks that no revoked session is readable on any running node's own
/// copy (RESP READONLY reads), once each has caught up.
async fn check_revokes_everywhere(group: &Group, ledger: &Ledger) {
    let revoked = ledger.revoked.lock().clone();
    let live = ledger.live.lock().clone();
    let newest = live.last().copied();
    for node in group.nodes.iter().filter(|n| n.is_up()) {
        let mut conn = redis_at(node.resp).await;
        let _: () = redis::cmd("READONLY").query_async(&mut conn).await.unwrap();
        // Caught up once the newest acknowledged login is there.
        if let Some(newest) = newest {
            let started = Instant::now();
            loop {
                let got: redis::Value = redis::cmd("SESSION.GET")
                    .arg(newest.to_string())
                    .arg("NOTOUCH")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if got != redis::Value::Nil {
                    break;
                }
                assert!(
                    started.elapsed() < ELECTION,
                    "node {} never caught up",
                    node.id
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        for id in &revoked {
            let got: redis::Value = redis::cmd("SESSION.GET")
                .arg(id.to_string())
                .arg("NOTOUCH")
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(
                got,
                redis::Value::Nil,
                "revoked {id} is alive on node {}",
                node.id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_logins_and_logouts_survive_killing_the_leader() {
    let mut group = Group::start(3, &[]);
    let ledger = Arc::new(Ledger::default());
    for round in 0..rounds() {
        let leader = group.leader(ELECTION).await.expect("a leader");
        let (stop, stopping) = watch::channel(false);
        let tasks = load(&group, ledger.clone(), stopping);
        tokio::time::sleep(Duration::from_millis(200 + random_below(800))).await;
        group.kill(leader);
        let new_leader = group
            .leader(ELECTION)
            .await
            .unwrap_or_else(|| panic!("round {round}: no new leader"));
        assert_ne!(new_leader, leader);
        // The load goes on against the new leader for a while.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = stop.send(true);
        for task in tasks {
            task.await.unwrap();
        }
        group.restart(leader);
        let now_leader = group.leader(ELECTION).await.expect("a leader");
        check_on_leader(group.nodes[now_leader].native, &ledger).await;
        check_revokes_everywhere(&group, &ledger).await;
    }
    assert!(
        ledger.live.lock().len() > 10 && ledger.revoked.lock().len() > 5,
        "the load made too few writes to prove anything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_steps_down_and_nothing_is_lost() {
    let group = Group::start(3, &[]);
    let ledger = Arc::new(Ledger::default());
    let leader = group.leader(ELECTION).await.expect("a leader");
    let (stop, stopping) = watch::channel(false);
    let tasks = load(&group, ledger.clone(), stopping);
    tokio::time::sleep(Duration::from_millis(300)).await;
    group.signal(leader, "STOP");
    let paused_at = Instant::now();
    let new_leader = group
        .leader(ELECTION)
        .await
        .expect("a new leader while paused");
    assert_ne!(new_leader, leader);
    let remaining = Duration::from_secs(5).saturating_sub(paused_at.elapsed());
    tokio::time::sleep(remaining).await;
    group.signal(leader, "CONT");
    // The old leader learns of the new term and stops serving.
    let started = Instant::now();
    while answers_as_leader(group.nodes[leader].native).await {
        assert!(started.elapsed() < ELECTION, "the resumed node still leads");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(true);
    for task in tasks {
        task.await.unwrap();
    }
    let now_leader = group.leader(ELECTION).await.expect("a leader");
    // Writes the paused node acknowledged after the new leader took over
    // would be missing here.
    check_on_leader(group.nodes[now_leader].native, &ledger).await;
    check_revokes_everywhere(&group, &ledger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_added_at_run_time_gets_a_snapshot_and_a_removed_one_stops_mattering() {
    // Snapshots every 50 entries, so the new node cannot catch up from
    // the log alone.
    let mut group = Group::start(3, &["--raft-snapshot-every", "50"]);
    let leader = group.leader(ELECTION).await.expect("a leader");
    let mut on_leader = redis_at(group.nodes[leader].resp).await;
    for i in 0..300 {
        let _: () = on_leader.set(format!("key:{i}"), i).await.unwrap();
    }
    let added = group.start_extra();
    let raft = group.nodes[added].raft.to_string();
    // Added over the native face (NODE_ADD), removed below over RESP.
    let client = sessiond_client::Client::connect(sessiond_client::ClientConfig::group(
        group.nodes[..3].iter().map(|n| n.native.to_string()),
    ))
    .await
    .unwrap();
    client
        .add_node(group.nodes[added].id, &raft)
        .await
        .expect("NODE_ADD through the client");
    // The new node's own copy has everything.
    let mut on_new = redis_at(group.nodes[added].resp).await;
    let _: () = redis::cmd("READONLY")
        .query_async(&mut on_new)
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let got: Option<i64> = on_new.get("key:299").await.unwrap();
        if got == Some(299) {
            break;
        }
        assert!(started.elapsed() < ELECTION, "the new node never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first: Option<i64> = on_new.get("key:0").await.unwrap();
    assert_eq!(
        first,
        Some(0),
        "the snapshot's part of the data is there too"
    );
    // Remove a follower that is not the new node; then kill it: the group
    // of three left (two old, one new) goes on writing.
    let removed = (0..3).find(|i| *i != leader).unwrap();
    let _: () = redis::cmd("NODE.REMOVE")
        .arg(group.nodes[removed].id)
        .query_async(&mut on_leader)
        .await
        .expect("NODE.REMOVE on the leader");
    group.kill(removed);
    let other = (0..3).find(|i| *i != leader && *i != removed).unwrap();
    group.kill(other);
    // Two of the three voters (leader and the new node) remain: a majority.
    let _: () = on_leader.set("after", "removal").await.unwrap();
    let read: String = on_leader.get("after").await.unwrap();
    assert_eq!(read, "removal");
}

/// Sends one RESP command over TLS and reads the first line of the
/// answer (or of each line asked for).
async fn resp_over_tls(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    command: &[u8],
) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(command).await?;
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(2), tls.read(&mut answer))
        .await
        .map_err(|_| std::io::Error::other("no answer"))??;
    answer.truncate(n);
    Ok(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_talks_over_tls_with_the_auth_token_and_refuses_a_wrong_one() {
    let dir = crate::tempdir::TempDir::new("group-tls");
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let (cert, key, token) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("token"),
    );
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    std::fs::write(&token, "a-token-long-enough-for-a-group-of-three\n").unwrap();
    let (cert_s, key_s, token_s) = (
        cert.display().to_string(),
        key.display().to_string(),
        token.display().to_string(),
    );
    let group = Group::start(
        3,
        &[
            "--tls-cert",
            &cert_s,
            "--tls-key",
            &key_s,
            "--auth-token-file",
            &token_s,
        ],
    );
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let auth = b"AUTH a-token-long-enough-for-a-group-of-three\r\n";
    // A leader is elected over TLS: one node says master.
    let started = Instant::now();
    let leader = loop {
        let mut found = None;
        for node in &group.nodes {
            let mut command = auth.to_vec();
            command.extend_from_slice(b"ROLE\r\n");
            if let Ok(answer) = resp_over_tls(node.resp, &connector, &command).await
                && answer.windows(6).any(|w| w == b"master")
            {
                found = Some(node.resp);
            }
        }
        if let Some(leader) = found {
            break leader;
        }
        assert!(started.elapsed() < ELECTION, "no leader over TLS");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut command = auth.to_vec();
    command.extend_from_slice(b"SET over tls\r\n");
    let started = Instant::now();
    loop {
        let answer = resp_over_tls(leader, &connector, &command).await.unwrap();
        if answer.ends_with(b"+OK\r\n") {
            break;
        }
        assert!(
            started.elapsed() < ELECTION,
            "the leader never took the write: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The raft listener speaks TLS only, and wants the token.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut plain = tokio::net::TcpStream::connect(group.nodes[0].raft)
        .await
        .unwrap();
    plain.write_all(b"SDRAFT01\x00\x00").await.unwrap();
    let mut answer = [0u8; 1];
    let refused = tokio::time::timeout(Duration::from_secs(12), plain.read(&mut answer)).await;
    assert!(
        !matches!(refused, Ok(Ok(1)) if answer[0] == 1),
        "a plaintext peer without the token was accepted"
    );
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = tokio::net::TcpStream::connect(group.nodes[0].raft)
        .await
        .unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"SDRAFT01\x00\x05wrong").await.unwrap();
    tls.flush().await.unwrap();
    let n = tls.read(&mut answer).await.unwrap();
    assert_eq!((n, answer[0]), (1, 0), "a wrong token is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_given_every_node_rides_out_a_leader_kill() {
    use sessiond_client::{Client, ClientConfig};
    use sessiond_protocol::SessionStore;
    let mut group = Group::start(3, &[]);
    let leader = group.leader(ELECTION).await.expect("a leader");
    let addrs: Vec<String> = group.nodes.iter().map(|n| n.native.to_string()).collect();
    // Started on a follower: its first request is redirected.
    let follower = (leader + 1) % 3;
    let mut ordered = vec![addrs[follower].clone()];
    ordered.extend(addrs.iter().filter(|a| **a != addrs[follower]).cloned());
    let client = Client::connect(ClientConfig::group(ordered)).await.unwrap();
    let mut kept = Vec::new();
    let mut revoked = Vec::new();
    for i in 0..40 {
        if i == 20 {
            group.kill(leader);
        }
        let id = client
            .create(NewSession::new(format!("user{i}").into_bytes()))
            .await
            .unwrap_or_else(|e| panic!("create {i} across the failover: {e}"));
        if i % 4 == 0 {
            assert!(client.delete(&id).await.unwrap(), "delete {i}");
            revoked.push(id);
        } else {
            kept.push(id);
        }
    }
    for id in &kept {
        client
            .peek(id)
            .await
            .expect("an acknowledged login is there");
    }
    for id in &revoked {
        assert!(matches!(
            client.peek(id).await,
            Err(sessiond_client::ClientError::Store(StoreError::NotFound))
        ));
    }
}

/// Hash writes replay identically on every node: a relative field TTL is
/// turned into a deadline from the leader's stamped time, so a follower's
/// copy has the very same millisecond, and HINCRBYFLOAT the same text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_writes_and_field_deadlines_replay_identically_on_followers() {
    let group = Group::start(3, &[]);
    let leader = group.leader(ELECTION).await.expect("a leader");
    let mut on_leader = redis_at(group.nodes[leader].resp).await;
    let cmd = |args: &[&str]| {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd
    };
    let _: i64 = cmd(&["HSET", "user:1", "tv", "s0"])
        .query_async(&mut on_leader)
        .await
        .unwrap();
    let _: i64 = cmd(&[
        "HSETEX", "user:1", "PX", "600000", "FIELDS", "2", "laptop", "s1", "phone", "s2",
    ])
    .query_async(&mut on_leader)
    .await
    .unwrap();
    let _: Vec<i64> = cmd(&["HEXPIRE", "user:1", "900", "FIELDS", "1", "tv"])
        .query_async(&mut on_leader)
        .await
        .unwrap();
    let _: String = cmd(&["HINCRBYFLOAT", "user:1", "score", "10.1"])
        .query_async(&mut on_leader)
        .await
        .unwrap();
    let _: Vec<Option<String>> = cmd(&["HGETDEL", "user:1", "FIELDS", "1", "phone"])
        .query_async(&mut on_leader)
        .await
        .unwrap();
    let times = cmd(&[
        "HPEXPIRETIME",
        "user:1",
        "FIELDS",
        "4",
        "laptop",
        "tv",
        "score",
        "phone",
    ]);
    let expected: Vec<i64> = times.query_async(&mut on_leader).await.unwrap();
    assert!(expected[0] > 0 && expected[1] > expected[0], "{expected:?}");
    assert_eq!(&expected[2..], [-1, -2]);
    let all: HashMap<String, String> = on_leader.hgetall("user:1").await.unwrap();
    for (i, node) in group.nodes.iter().enumerate() {
        if i == leader {
            continue;
        }
        let mut follower = redis_at(node.resp).await;
        let _: () = redis::cmd("READONLY")
            .query_async(&mut follower)
            .await
            .unwrap();
        let started = Instant::now();
        loop {
            let got: HashMap<String, String> = follower.hgetall("user:1").await.unwrap();
            if got == all {
                break;
            }
            assert!(
                started.elapsed() < ELECTION,
                "node {i} never caught up: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let theirs: Vec<i64> = times.query_async(&mut follower).await.unwrap();
        assert_eq!(theirs, expected, "node {i}'s field deadlines");
    }
}

/// In a group EXEC's queue is one entry of the log: redis-py's default
/// pipeline shape (MULTI, commands, EXEC) works, with reads and run-time
/// errors in the array; WATCH is refused with a clear error, and so is
/// queueing a command the log cannot run alike on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_runs_exec_as_one_log_entry_and_refuses_watch() {
    let group = Group::start(3, &[]);
    let leader = group.leader(ELECTION).await.expect("a leader");
    let mut con = redis_at(group.nodes[leader].resp).await;
    let (set, incr, got, added): (String, i64, i64, i64) = redis::pipe()
        .atomic()
        .set("k", 1)
        .incr("k", 1)
        .get("k")
        .sadd("s", "m")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((set.as_str(), incr, got, added), ("OK", 2, 2, 1));
    let wrong = redis::pipe()
        .atomic()
        .sadd("k", "x")
        .incr("k", 1)
        .query_async::<(i64, i64)>(&mut con)
        .await;
    assert!(wrong.is_err(), "SADD on a string is WRONGTYPE inside EXEC");
    let now: i64 = con.get("k").await.unwrap();
    assert_eq!(now, 3, "the command after the error ran");
    let refused = redis::cmd("WATCH")
        .arg("k")
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("WATCH is refused in a replication group"),
        "{refused}"
    );
    let client = redis::pipe()
        .atomic()
        .cmd("CLIENT")
        .arg("SETNAME")
        .arg("x")
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert!(
        client
            .to_string()
            .contains("'client' cannot be queued in a transaction in a replication group"),
        "a connection command is refused while queueing: {client}"
    );
    let exec = redis::cmd("EXEC").query_async::<()>(&mut con).await;
    assert!(exec.unwrap_err().to_string().contains("EXEC without MULTI"));
    // Every node applied the transactions from the log.
    for (i, node) in group.nodes.iter().enumerate().filter(|(i, _)| *i != leader) {
        let mut follower = reading_at(node.resp).await;
        let started = Instant::now();
        loop {
            let (k, s): (Option<i64>, i64) = redis::pipe()
                .get("k")
                .scard("s")
                .query_async(&mut follower)
                .await
                .unwrap();
            if (k, s) == (Some(3), 1) {
                break;
            }
            assert!(started.elapsed() < ELECTION, "node {i} has {k:?} and {s}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// In a group EVAL is one entry of the log, re-run on every node: the
/// same random draws (Redis's generator), the same deadlines from the
/// leader's time (each script starting from the generator's initial
/// state); EVALSHA of a script only the leader has cached is sent
/// as EVAL; commands that draw at random are refused inside scripts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_replays_scripts_alike_on_every_node() {
    let group = Group::start(3, &[]);
    let leader = group.leader(ELECTION).await.expect("a leader");
    let mut con = redis_at(group.nodes[leader].resp).await;
    let body = "redis.call('set', KEYS[1], math.random(1000000000)) \
                redis.call('pexpire', KEYS[1], 600000) \
                return redis.call('get', KEYS[1])";
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(body)
        .query_async(&mut con)
        .await
        .unwrap();
    let first: String = redis::cmd("EVALSHA")
        .arg(&sha)
        .arg(1)
        .arg("r1")
        .query_async(&mut con)
        .await
        .unwrap();
    let second: String = redis::cmd("EVAL")
        .arg(body)
        .arg(1)
        .arg("r2")
        .query_async(&mut con)
        .await
        .unwrap();
    // Each script in a group starts from the generator's initial state.
    assert_eq!(first, second);
    let ro: String = redis::cmd("EVAL_RO")
        .arg("return redis.call('get', KEYS[1])")
        .arg(1)
        .arg("r1")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(ro, first);
    let refused = redis::cmd("EVAL")
        .arg("return redis.call('spop', 'x')")
        .arg(0)
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("draws at random"), "{refused}");
    let deadline = |con: &mut redis::aio::MultiplexedConnection| {
        let mut cmd = redis::cmd("PEXPIRETIME");
        cmd.arg("r1");
        let con = con.clone();
        async move {
            let mut con = con;
            cmd.query_async::<i64>(&mut con).await.unwrap()
        }
    };
    let expected = deadline(&mut con).await;
    assert!(expected > 0);
    for (i, node) in group.nodes.iter().enumerate().filter(|(i, _)| *i != leader) {
        let mut follower = reading_at(node.resp).await;
        let started = Instant::now();
        loop {
            let got: (Option<String>, Option<String>) = redis::pipe()
                .get("r1")
                .get("r2")
                .query_async(&mut follower)
                .await
                .unwrap();
            if got == (Some(first.clone()), Some(second.clone())) {
                break;
            }
            assert!(started.elapsed() < ELECTION, "node {i}: {got:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(deadline(&mut follower).await, expected, "node {i}");
    }
}
