//! The client in front of a replication group of fake servers
//! (tests/common): redirects, moving to another member, bounded retries,
//! and CREATE keeping its id across an unknown outcome.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Action, FakeServer, Handler, Options, echo_handler};
use sessiond_client::protocol::wire::{Reply, Request, ServerError};
use sessiond_client::protocol::{NewSession, SessionId};
use sessiond_client::{
    Backoff, Client, ClientConfig, ClientError, Retry, SessionStore, StoreError,
};

/// A follower that redirects every request (PING too) to `leader`.
fn follower_of(leader: Option<SocketAddr>) -> Handler {
    Arc::new(move |_: &Request| {
        Action::Reply(Err(ServerError::NotLeader {
            leader: leader.map(|a| a.to_string()),
        }))
    })
}

/// An address nothing listens on.
fn dead_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Quick retries, so that the bounds are reached fast.
fn quick(attempts: u32, total: Duration) -> Retry {
    Retry {
        attempts,
        total,
        backoff: Backoff {
            min: Duration::from_millis(10),
            max: Duration::from_millis(40),
        },
    }
}

#[tokio::test]
async fn a_redirect_is_followed_to_the_leader_it_names() {
    let leader = FakeServer::start(Options::default(), echo_handler()).await;
    let follower = FakeServer::start(Options::default(), follower_of(Some(leader.addr))).await;
    // Only the follower is configured: the leader is learnt from it.
    let client = Client::connect(ClientConfig::new(follower.addr.to_string()))
        .await
        .unwrap();
    assert_eq!(client.get_key(b"k").await.unwrap(), Some(b"k".to_vec()));
    assert_eq!(client.current_address(), leader.addr.to_string());
    assert_eq!(follower.seen.requests.load(Ordering::SeqCst), 1);
    // Later requests go straight to the leader.
    client.set_key(b"k", b"v", None).await.unwrap();
    assert_eq!(follower.seen.requests.load(Ordering::SeqCst), 1);
    assert_eq!(leader.seen.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_redirect_is_safe_for_writes_that_are_never_sent_twice() {
    let handler: Handler = Arc::new(|request: &Request| match request {
        Request::KeyIncr { delta, .. } => Action::Reply(Ok(Reply::Integer(*delta))),
        _ => Action::Reply(Ok(Reply::Done)),
    });
    let leader = FakeServer::start(Options::default(), handler).await;
    let follower = FakeServer::start(Options::default(), follower_of(Some(leader.addr))).await;
    let client = Client::connect(ClientConfig::new(follower.addr.to_string()))
        .await
        .unwrap();
    assert_eq!(client.incr(b"n", 3).await.unwrap(), 3);
    assert_eq!(leader.seen.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn no_leader_known_tries_the_next_address() {
    let electing = FakeServer::start(Options::default(), follower_of(None)).await;
    let other = FakeServer::start(Options::default(), echo_handler()).await;
    let config = ClientConfig::group([electing.addr.to_string(), other.addr.to_string()]);
    let client = Client::connect(config).await.unwrap();
    assert_eq!(client.current_address(), electing.addr.to_string());
    assert_eq!(client.get_key(b"k").await.unwrap(), Some(b"k".to_vec()));
    assert_eq!(client.current_address(), other.addr.to_string());
}

#[tokio::test]
async fn an_unreachable_leader_sends_the_client_to_the_other_members() {
    let follower = FakeServer::start(Options::default(), follower_of(Some(dead_address()))).await;
    let other = FakeServer::start(Options::default(), echo_handler()).await;
    let config = ClientConfig::group([follower.addr.to_string(), other.addr.to_string()]);
    let client = Client::connect(config).await.unwrap();
    assert_eq!(client.get_key(b"k").await.unwrap(), Some(b"k".to_vec()));
    assert_eq!(client.current_address(), other.addr.to_string());
}

#[tokio::test]
async fn the_first_address_down_at_connect_is_skipped() {
    let up = FakeServer::start(Options::default(), echo_handler()).await;
    let config = ClientConfig::group([dead_address().to_string(), up.addr.to_string()]);
    let client = Client::connect(config).await.unwrap();
    assert_eq!(client.current_address(), up.addr.to_string());
    client.ping().await.unwrap();
}

#[tokio::test]
async fn a_dead_node_is_left_for_another_member() {
    let first = FakeServer::start(Options::default(), echo_handler()).await;
    let second = FakeServer::start(Options::default(), echo_handler()).await;
    let config = ClientConfig::group([first.addr.to_string(), second.addr.to_string()]);
    let client = Client::connect(config).await.unwrap();
    assert_eq!(client.get_key(b"a").await.unwrap(), Some(b"a".to_vec()));
    first.stop().await;
    // In flight or not yet sent, a read finds its way to the other node.
    assert_eq!(client.get_key(b"b").await.unwrap(), Some(b"b".to_vec()));
    assert_eq!(client.current_address(), second.addr.to_string());
}

#[tokio::test]
async fn unavailable_is_retried_for_a_read_and_returned_for_incr() {
    let failures = Arc::new(AtomicUsize::new(0));
    let handler: Handler = {
        let failures = Arc::clone(&failures);
        Arc::new(move |request: &Request| match request {
            Request::KeyGet { .. } if failures.fetch_add(1, Ordering::SeqCst) < 2 => {
                Action::Reply(Err(ServerError::Unavailable("no quorum".into())))
            }
            Request::KeyGet { key } => Action::Reply(Ok(Reply::Value(Some(key.clone())))),
            _ => Action::Reply(Err(ServerError::Unavailable("no quorum".into()))),
        })
    };
    let server = FakeServer::start(Options::default(), handler).await;
    let client = Client::connect(ClientConfig::new(server.addr.to_string()))
        .await
        .unwrap();
    assert_eq!(client.get_key(b"k").await.unwrap(), Some(b"k".to_vec()));
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 3);

    // INCR may have been applied: it is not sent again.
    let err = client.incr(b"n", 1).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Server(ServerError::Unavailable(_))),
        "{err:?}"
    );
    assert!(err.is_outcome_unknown());
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 4);
}

/// A server that records every CREATE's id, drops the connection on the
/// first (after "executing" it), and answers ID_TAKEN afterwards, as a
/// store that kept the first attempt's session would.
fn create_dropped_once() -> (Handler, Arc<Mutex<Vec<Option<SessionId>>>>) {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = {
        let ids = Arc::clone(&ids);
        Arc::new(move |request: &Request| match request {
            Request::Create(new) => {
                let mut ids = ids.lock().unwrap();
                ids.push(new.id);
                if ids.len() == 1 {
                    Action::Close
                } else {
                    Action::Reply(Err(ServerError::Store(StoreError::IdTaken)))
                }
            }
            _ => Action::Reply(Ok(Reply::Done)),
        })
    };
    (handler, ids)
}

#[tokio::test]
async fn a_create_retried_after_a_drop_keeps_its_id_and_takes_id_taken_as_success() {
    let (handler, ids) = create_dropped_once();
    let server = FakeServer::start(Options::default(), handler).await;
    let client = Client::connect(ClientConfig::new(server.addr.to_string()))
        .await
        .unwrap();
    let id = client.create(NewSession::new("u")).await.unwrap();
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 2, "{ids:?}");
    // The client drew the id, and sent the same one both times.
    assert_eq!(ids, vec![Some(id), Some(id)]);
}

#[tokio::test]
async fn a_callers_own_id_is_kept_across_retries_too() {
    let (handler, ids) = create_dropped_once();
    let server = FakeServer::start(Options::default(), handler).await;
    let client = Client::connect(ClientConfig::new(server.addr.to_string()))
        .await
        .unwrap();
    let mine = SessionId::random();
    let id = client
        .create(NewSession::new("u").with_id(mine))
        .await
        .unwrap();
    assert_eq!(id, mine);
    assert_eq!(*ids.lock().unwrap(), vec![Some(mine), Some(mine)]);
}

#[tokio::test]
async fn id_taken_with_no_unknown_outcome_draws_a_new_id() {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = {
        let ids = Arc::clone(&ids);
        Arc::new(move |request: &Request| match request {
            Request::Create(new) => {
                let mut ids = ids.lock().unwrap();
                ids.push(new.id.unwrap());
                match ids.len() {
                    // A collision on the prefix: nothing was created.
                    1 => Action::Reply(Err(ServerError::Store(StoreError::IdTaken))),
                    _ => Action::Reply(Ok(Reply::Id(new.id.unwrap()))),
                }
            }
            _ => Action::Reply(Ok(Reply::Done)),
        })
    };
    let server = FakeServer::start(Options::default(), handler).await;
    let client = Client::connect(ClientConfig::new(server.addr.to_string()))
        .await
        .unwrap();
    let id = client.create(NewSession::new("u")).await.unwrap();
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(id, ids[1]);

    // A caller's own id that is taken is the caller's to handle.
    let server = FakeServer::start(
        Options::default(),
        Arc::new(|_: &Request| Action::Reply(Err(ServerError::Store(StoreError::IdTaken)))),
    )
    .await;
    let client = Client::connect(ClientConfig::new(server.addr.to_string()))
        .await
        .unwrap();
    let err = client
        .create(NewSession::new("u").with_id(SessionId::random()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::IdTaken)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_lost_incr_is_not_sent_again() {
    let server = FakeServer::start(
        Options::default(),
        Arc::new(|request: &Request| match request {
            Request::KeyIncr { .. } => Action::Close,
            _ => Action::Reply(Ok(Reply::Done)),
        }),
    )
    .await;
    let client = Client::connect(ClientConfig::new(server.addr.to_string()).pool_size(1))
        .await
        .unwrap();
    let err = client.incr(b"n", 1).await.unwrap_err();
    assert!(matches!(err, ClientError::ConnectionLost), "{err:?}");
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_give_up_after_their_attempts() {
    let server = FakeServer::start(
        Options::default(),
        Arc::new(|_: &Request| Action::Reply(Err(ServerError::Unavailable("no quorum".into())))),
    )
    .await;
    let config =
        ClientConfig::new(server.addr.to_string()).retry(quick(4, Duration::from_secs(10)));
    let client = Client::connect(config).await.unwrap();
    let err = client.set_key(b"k", b"v", None).await.unwrap_err();
    match &err {
        ClientError::GaveUp {
            attempts,
            outcome_unknown,
            last,
            ..
        } => {
            assert_eq!(*attempts, 4);
            // UNAVAILABLE leaves a write's outcome unknown.
            assert!(*outcome_unknown);
            assert!(
                matches!(**last, ClientError::Server(ServerError::Unavailable(_))),
                "{last:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_outcome_unknown());
    let text = err.to_string();
    assert!(text.contains("gave up after 4 attempts"), "{text}");
    assert!(text.contains("no quorum"), "{text}");
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn retries_give_up_after_their_total_time() {
    // Two followers that never know a leader: the client goes round them
    // until its time is up.
    let a = FakeServer::start(Options::default(), follower_of(None)).await;
    let b = FakeServer::start(Options::default(), follower_of(None)).await;
    let config = ClientConfig::group([a.addr.to_string(), b.addr.to_string()])
        .retry(quick(1000, Duration::from_millis(400)));
    let client = Client::connect(config).await.unwrap();
    let start = Instant::now();
    let err = client.get_key(b"k").await.unwrap_err();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    match &err {
        ClientError::GaveUp {
            attempts,
            outcome_unknown,
            last,
            ..
        } => {
            assert!(*attempts > 2, "{attempts}");
            assert!(!outcome_unknown);
            assert!(
                matches!(
                    **last,
                    ClientError::Server(ServerError::NotLeader { leader: None })
                ),
                "{last:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Both were asked.
    assert!(a.seen.requests.load(Ordering::SeqCst) >= 1);
    assert!(b.seen.requests.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn retry_never_returns_the_redirect_as_it_came() {
    let leader = FakeServer::start(Options::default(), echo_handler()).await;
    let follower = FakeServer::start(Options::default(), follower_of(Some(leader.addr))).await;
    let config = ClientConfig::new(follower.addr.to_string()).retry(Retry::never());
    let client = Client::connect(config).await.unwrap();
    let err = client.get_key(b"k").await.unwrap_err();
    let expected = Some(leader.addr.to_string());
    assert!(
        matches!(&err, ClientError::Server(ServerError::NotLeader { leader }) if *leader == expected),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_callers_move_to_the_leader_once() {
    let leader = FakeServer::start(Options::default(), echo_handler()).await;
    let follower = FakeServer::start(Options::default(), follower_of(Some(leader.addr))).await;
    let client = Client::connect(ClientConfig::new(follower.addr.to_string()))
        .await
        .unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..2000u32 {
        let client = client.clone();
        calls.spawn(async move {
            let key = format!("key-{i}").into_bytes();
            assert_eq!(client.get_key(&key).await.unwrap(), Some(key));
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    // One pool to the leader, pipelined, and every reply to its caller.
    assert_eq!(leader.seen.connections.load(Ordering::SeqCst), 4);
    assert_eq!(leader.seen.requests.load(Ordering::SeqCst), 2000);
}

#[tokio::test]
async fn membership_requests_are_sent_and_not_retried() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = {
        let seen = Arc::clone(&seen);
        Arc::new(move |request: &Request| {
            seen.lock().unwrap().push(request.clone());
            match request {
                Request::NodeRemove { .. } => Action::Reply(Err(ServerError::Unavailable(
                    "not in a replication group".into(),
                ))),
                _ => Action::Reply(Ok(Reply::Done)),
            }
        })
    };
    let server = FakeServer::start(Options::default(), handler).await;
    let client = Client::connect(ClientConfig::new(server.addr.to_string()))
        .await
        .unwrap();
    client.add_node(4, "192.0.2.14:7900").await.unwrap();
    let err = client.remove_node(2).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Server(ServerError::Unavailable(m)) if m == "not in a replication group"),
        "{err:?}"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            Request::NodeAdd {
                id: 4,
                raft_addr: "192.0.2.14:7900".into()
            },
            Request::NodeRemove { id: 2 },
        ]
    );
}
