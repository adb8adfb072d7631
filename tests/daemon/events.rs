//! The session event log through the daemon: EVENTS_READ resumed across
//! reconnects, a blocking read woken by the next event (and other
//! connections on the same thread served meanwhile), a gap past
//! retention, and events that survive a restart and a SIGKILL.

use std::path::Path;
use std::time::Duration;

use sessiond::{EndReason, Event, EventKind, SessionId, Store, StoreConfig};
use sessiond_client::{Client, ClientConfig, ClientError, Retry, SessionStore};
use sessiond_protocol::NewSession;
use sessiond_protocol::wire::{Reply, Request, ServerError};
use sessiond_server::ServerConfig;

use crate::binary::{Running, connect_patiently, start_on, terminate};
use crate::tempdir::TempDir;
use crate::{Daemon, Raw};

async fn client_at(addr: String) -> Client {
    let config = ClientConfig::new(addr)
        .request_timeout(Duration::from_secs(10))
        .retry(Retry::never());
    connect_patiently(config).await
}

/// Every event after `after`, read in batches of `batch` without waiting.
async fn drain(client: &Client, mut after: u64, batch: u32) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..10_000 {
        let got = client
            .read_events(after, batch, Duration::ZERO)
            .await
            .unwrap();
        let Some(last) = got.last() else {
            return events;
        };
        after = last.seq;
        events.extend(got);
    }
    panic!("more than 10 000 batches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_disconnects_and_resumes_gets_every_event_once_in_order() {
    let daemon = Daemon::plain().await;
    let writer = client_at(daemon.addr.to_string()).await;
    let mut seen: Vec<Event> = Vec::new();
    for round in 0..4 {
        // A reader connects, reads what there is, and goes away.
        let reader = client_at(daemon.addr.to_string()).await;
        let after = seen.last().map_or(0, |e| e.seq);
        seen.extend(drain(&reader, after, 7).await);
        drop(reader);
        // Meanwhile the writer goes on.
        for i in 0..10 {
            let id = writer
                .create(NewSession::new(format!("r{round}")))
                .await
                .unwrap();
            if i % 3 == 0 {
                writer.delete_with_note(&id, b"logout").await.unwrap();
            }
        }
    }
    let reader = client_at(daemon.addr.to_string()).await;
    let after = seen.last().map_or(0, |e| e.seq);
    seen.extend(drain(&reader, after, 7).await);
    let seqs: Vec<u64> = seen.iter().map(|e| e.seq).collect();
    let total = 4 * (10 + 4);
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<u64>>(),
        "each once, in order"
    );
    assert_eq!(seen, daemon.store.read_events(0, 1000).unwrap());
    let ends = seen
        .iter()
        .filter(|e| {
            e.kind
                == EventKind::Ended {
                    reason: EndReason::Deleted,
                    note: Some(b"logout".to_vec()),
                }
        })
        .count();
    assert_eq!(ends, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_read_wakes_on_the_next_event_and_its_thread_serves_others_meanwhile() {
    // One connection thread: the waiting reader and the others share it.
    let daemon = Daemon::start(ServerConfig {
        threads: 1,
        ..ServerConfig::default()
    })
    .await;
    let reader = client_at(daemon.addr.to_string()).await;
    let waiting = tokio::spawn(async move {
        // Far longer than the test waits: only an event ends it early.
        reader.read_events(0, 10, Duration::from_secs(60)).await
    });
    // Others are served on the same thread while the read waits.
    let writer = client_at(daemon.addr.to_string()).await;
    for _ in 0..3 {
        writer.ping().await.unwrap();
    }
    assert!(!waiting.is_finished(), "nothing to read yet");
    let id = writer.create(NewSession::new("w")).await.unwrap();
    let events = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the read is woken by the event, not its 60 s timeout")
        .unwrap()
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].seq, events[0].id), (1, id));
    assert_eq!(events[0].kind, EventKind::Created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_runs_out_answers_empty_and_pipelined_requests_keep_their_order() {
    let daemon = Daemon::plain().await;
    let mut raw = Raw::connect(daemon.addr).await;
    raw.send(&Request::EventsRead {
        after: 0,
        max: 10,
        timeout: Duration::from_millis(200),
    })
    .await;
    raw.send(&Request::Ping).await;
    assert_eq!(raw.receive().await, Some(Ok(Reply::Events(vec![]))));
    assert_eq!(raw.receive().await, Some(Ok(Reply::Done)), "PING after it");
    // The noted deletes over raw frames, and their events.
    let id = daemon.store.create(NewSession::new("o")).unwrap();
    let other = daemon.store.create(NewSession::new("o")).unwrap();
    let keep = daemon.store.create(NewSession::new("o")).unwrap();
    let deleted = raw
        .call(&Request::DeleteNoted {
            id,
            note: b"revoke".to_vec(),
        })
        .await;
    assert_eq!(deleted, Ok(Reply::Bool(true)));
    let kicked = raw
        .call(&Request::DeleteOwnerNoted {
            owner: b"o".to_vec(),
            keep: Some(keep),
            note: Vec::new(),
        })
        .await;
    assert_eq!(kicked, Ok(Reply::Count(1)));
    let Ok(Reply::Events(events)) = raw
        .call(&Request::EventsRead {
            after: 3,
            max: 0,
            timeout: Duration::ZERO,
        })
        .await
    else {
        panic!("events");
    };
    assert_eq!(events.len(), 1, "max 0 is taken as 1");
    let end = |reason, note: Option<&[u8]>| EventKind::Ended {
        reason,
        note: note.map(<[u8]>::to_vec),
    };
    assert_eq!(
        (events[0].id, &events[0].kind),
        (id, &end(EndReason::Deleted, Some(b"revoke")))
    );
    let last = daemon.store.read_events(4, 10).unwrap();
    assert_eq!(
        (last[0].id, &last[0].kind),
        (other, &end(EndReason::OwnerDeleted, None))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_behind_retention_gets_a_gap_with_the_oldest_seq_kept() {
    let store = Store::new(StoreConfig {
        events_max: 5,
        ..StoreConfig::default()
    });
    let daemon = Daemon::over(store, ServerConfig::default()).await;
    let client = client_at(daemon.addr.to_string()).await;
    for _ in 0..10 {
        client.create(NewSession::new("g")).await.unwrap();
    }
    let gap = client.read_events(0, 10, Duration::from_secs(5)).await;
    assert!(
        matches!(
            gap,
            Err(ClientError::Server(ServerError::EventsGap {
                after: 0,
                oldest_kept: 6
            }))
        ),
        "{gap:?}"
    );
    let rest = client.read_events(5, 10, Duration::ZERO).await.unwrap();
    assert_eq!(
        rest.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [6, 7, 8, 9, 10]
    );
}

fn start(dir: &Path, fsync: &str) -> (Running, String) {
    let (running, port) = start_on(dir, fsync, &[]);
    (running, format!("127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_daemon_restart_and_seqs_go_on() {
    let dir = TempDir::new("daemon-events");
    let before = {
        let (mut daemon, addr) = start(dir.path(), "everysec");
        let client = client_at(addr).await;
        let id = client.create(NewSession::new("alice")).await.unwrap();
        let id = client.rotate(&id).await.unwrap();
        client.delete_with_note(&id, b"logout").await.unwrap();
        let events = drain(&client, 0, 100).await;
        drop(client);
        assert!(terminate(&mut daemon.0).success());
        events
    };
    assert_eq!(before.len(), 3);
    let (_daemon, addr) = start(dir.path(), "everysec");
    let client = client_at(addr).await;
    assert_eq!(drain(&client, 0, 100).await, before);
    client.create(NewSession::new("bob")).await.unwrap();
    let next = client.read_events(3, 10, Duration::ZERO).await.unwrap();
    assert_eq!(next[0].seq, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_acknowledged_deletes_keeps_every_one_of_their_ended_events() {
    let dir = TempDir::new("daemon-events-kill");
    let deleted: Vec<SessionId> = {
        let (mut daemon, addr) = start(dir.path(), "always");
        let client = client_at(addr).await;
        let mut deleted = Vec::new();
        for i in 0..50 {
            let id = client
                .create(NewSession::new(format!("k{i}")))
                .await
                .unwrap();
            assert!(client.delete_with_note(&id, b"revoke").await.unwrap());
            deleted.push(id);
        }
        daemon.0.kill().unwrap();
        daemon.0.wait().unwrap();
        deleted
    };
    let (_daemon, addr) = start(dir.path(), "always");
    let client = client_at(addr).await;
    let events = drain(&client, 0, 1000).await;
    for id in &deleted {
        let ended = events.iter().any(|e| {
            e.id == *id
                && e.kind
                    == EventKind::Ended {
                        reason: EndReason::Deleted,
                        note: Some(b"revoke".to_vec()),
                    }
        });
        assert!(ended, "the acknowledged delete of {id} has its ended event");
    }
    assert_eq!(events.len(), 100, "and its created event, nothing more");
}
