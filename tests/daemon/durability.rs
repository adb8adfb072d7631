//! The daemon with a data directory, as a child process: killed with
//! SIGKILL at random moments under concurrent writes (some during
//! compaction) and restarted, and run out of disk space.
//!
//! What a round checks, per fsync policy:
//! - `always`: every acknowledged write is there after the restart;
//! - `everysec`: every write acknowledged more than 1.5 s before the kill
//!   is there (the policy's "about a second", with room for a slow CI);
//! - both: nothing is there that was never written, and nothing is
//!   corrupt (each value is one its writer wrote for that key, and no older
//!   than the last one the policy guarantees).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sessiond::SessionId;
use sessiond_client::{Client, ClientConfig, ClientError, Retry, SessionStore};
use sessiond_protocol::{NewSession, StoreError};

use crate::binary::{
    BIN, Running, connect_patiently, free_port, spawn_command, start_on, terminate,
};
use crate::stat;

/// Writers per round, and the key slots each cycles through: few slots,
/// so the log soon outgrows the live data and compaction runs often.
const WRITERS: usize = 4;
const SLOTS: u64 = 64;
/// Bytes of padding after each value's sequence number, so that the log
/// grows fast and a snapshot takes long enough to be caught.
const PAD: usize = 1000;

/// What one writer wrote and was told, across every round.
#[derive(Default, Clone)]
struct Ledger {
    /// The writer's last attempted sequence number; values are sequence
    /// numbers, written to slot `n % SLOTS`, so they only grow.
    attempted: u64,
    /// Per slot: each acknowledged value with when it was acknowledged.
    acked: HashMap<u64, Vec<(u64, Instant)>>,
    /// Sessions created and acknowledged, with their data and time.
    sessions: Vec<(SessionId, u64, Instant)>,
}

fn key(writer: usize, slot: u64) -> Vec<u8> {
    format!("w{writer}-k{slot}").into_bytes()
}

fn random_below(n: u64) -> u64 {
    u64::from_le_bytes(SessionId::random().as_bytes()[..8].try_into().unwrap()) % n
}

fn start(dir: &Path, fsync: &str) -> (Running, u16) {
    start_on(
        dir,
        fsync,
        &["--compact-min-bytes", "262144", "--compact-ratio", "2"],
    )
}

async fn connect(port: u16) -> Client {
    // No retries: a writer stops at the kill (the restarted daemon is on
    // another port), and the ledger records what each answer said.
    let config = ClientConfig::new(format!("127.0.0.1:{port}"))
        .request_timeout(Duration::from_secs(10))
        .pool_size(WRITERS)
        .retry(Retry::never());
    connect_patiently(config).await
}

/// Writes until the daemon goes away.
async fn write_until_gone(client: Client, writer: usize, ledger: Arc<Mutex<Ledger>>) {
    loop {
        let n = {
            let mut ledger = ledger.lock().unwrap();
            ledger.attempted += 1;
            ledger.attempted
        };
        let value = format!("{n}:{}", "x".repeat(PAD)).into_bytes();
        let outcome = if n % 8 == 0 {
            let new = NewSession::new(format!("w{writer}")).data(value);
            client.create(new).await.map(Some)
        } else {
            client
                .set_key(&key(writer, n % SLOTS), &value, None)
                .await
                .map(|()| None)
        };
        let mut ledger = ledger.lock().unwrap();
        match outcome {
            Ok(Some(id)) => ledger.sessions.push((id, n, Instant::now())),
            Ok(None) => ledger
                .acked
                .entry(n % SLOTS)
                .or_default()
                .push((n, Instant::now())),
            Err(_) => return,
        }
    }
}

/// The stretches before each kill in which an acknowledged write may be
/// lost (empty under `always`).
struct AtRisk(Vec<(Instant, Instant)>);

impl AtRisk {
    fn guaranteed(&self, acked_at: Instant) -> bool {
        !self
            .0
            .iter()
            .any(|(from, to)| (*from..=*to).contains(&acked_at))
    }
}

/// Checks the restarted daemon against the ledgers (see the module doc).
async fn verify(client: &Client, ledgers: &[Arc<Mutex<Ledger>>], risk: &AtRisk) {
    for (writer, ledger) in ledgers.iter().enumerate() {
        // The writers have stopped; a copy keeps the lock off the awaits.
        let ledger = ledger.lock().unwrap().clone();
        for slot in 0..SLOTS {
            let found = client.get_key(&key(writer, slot)).await.unwrap();
            let found = found.map(|v| sequence_number(&v));
            let acked = ledger.acked.get(&slot).map(Vec::as_slice).unwrap_or(&[]);
            let guaranteed = acked
                .iter()
                .rev()
                .find(|(_, at)| risk.guaranteed(*at))
                .map(|(n, _)| *n);
            if let Some(n) = found {
                assert_eq!(
                    n % SLOTS,
                    slot,
                    "w{writer} slot {slot}: a value from another key"
                );
                assert!(
                    n <= ledger.attempted,
                    "w{writer} slot {slot}: {n} was never written"
                );
            }
            if let Some(min) = guaranteed {
                let n = found.unwrap_or_else(|| {
                    panic!("w{writer} slot {slot}: acknowledged {min}, found nothing")
                });
                assert!(
                    n >= min,
                    "w{writer} slot {slot}: acknowledged {min}, found {n}"
                );
            }
        }
        for (id, n, at) in &ledger.sessions {
            match client.peek(id).await {
                Ok(session) => assert_eq!(sequence_number(&session.data), *n),
                Err(ClientError::Store(StoreError::NotFound)) if !risk.guaranteed(*at) => {}
                Err(e) => panic!("w{writer}: acknowledged session {n} lost: {e}"),
            }
        }
        let count = client.count(format!("w{writer}").as_bytes()).await.unwrap();
        let guaranteed = ledger.sessions.iter().filter(|s| risk.guaranteed(s.2));
        assert!(count >= guaranteed.count());
    }
}

/// The sequence number a value starts with, checking the rest is intact.
fn sequence_number(value: &[u8]) -> u64 {
    let text = std::str::from_utf8(value).expect("a value is text");
    let (n, pad) = text.split_once(':').expect("number:padding");
    assert!(
        pad.len() == PAD && pad.bytes().all(|b| b == b'x'),
        "corrupt value"
    );
    n.parse().expect("a sequence number")
}

/// Whether the directory shows a compaction under way: a new log beside
/// the old one, or a snapshot being written.
fn compacting(dir: &Path) -> bool {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let logs = names.iter().filter(|n| n.ends_with(".aof")).count();
    logs > 1 || names.iter().any(|n| n.ends_with(".tmp"))
}

/// Runs `rounds` kill-and-restart rounds; returns how many were killed
/// while a compaction was under way.
async fn crash_rounds(fsync: &str, rounds: usize, guarantee: Duration) -> usize {
    let dir = crate::tempdir::TempDir::new(&format!("crash-{fsync}"));
    let ledgers: Vec<Arc<Mutex<Ledger>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let mut killed_compacting = 0;
    let mut risk = AtRisk(Vec::new());
    for round in 0..=rounds {
        let (mut child, port) = start(dir.path(), fsync);
        let client = connect(port).await;
        verify(&client, &ledgers, &risk).await;
        if round == rounds {
            terminate(&mut child);
            break;
        }
        let writers: Vec<_> = ledgers
            .iter()
            .enumerate()
            .map(|(w, ledger)| tokio::spawn(write_until_gone(client.clone(), w, ledger.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(200 + random_below(600))).await;
        // Every other round waits for a compaction to be under way (a new
        // log beside the old, or a snapshot being written) and kills then.
        if round % 2 == 1 {
            let waiting = Instant::now();
            while !compacting(dir.path()) && waiting.elapsed() < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        }
        child.kill().unwrap();
        let killed_at = Instant::now();
        child.wait().unwrap();
        killed_compacting += usize::from(compacting(dir.path()));
        for writer in writers {
            writer.await.unwrap();
        }
        // Replies already on their way when the signal went out arrive
        // after it: the window runs until every writer has stopped.
        let from = killed_at.checked_sub(guarantee).unwrap_or(killed_at);
        risk.0.push((from, Instant::now()));
    }
    let written: u64 = ledgers.iter().map(|l| l.lock().unwrap().attempted).sum();
    assert!(written > 1_000, "the load was real: {written} writes");
    killed_compacting
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_always_keeps_every_acknowledged_write_through_sigkill() {
    let compacting = crash_rounds("always", 20, Duration::ZERO).await;
    eprintln!("always: {compacting} of 20 rounds killed during compaction");
    assert!(
        compacting >= 5,
        "only {compacting} rounds killed during a compaction"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_everysec_loses_at_most_about_the_last_second() {
    crash_rounds("everysec", 6, Duration::from_millis(1500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_reads_and_recovers() {
    let dir = crate::tempdir::TempDir::new("full");
    let port = free_port();
    // A file-size limit stands in for a full disk: writes past it fail
    // with EFBIG as they would with ENOSPC. SIGXFSZ is ignored, as a
    // daemon under systemd's LimitFSIZE would need too.
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "trap '' XFSZ; exec prlimit --fsize=65536:unlimited \"$0\" \"$@\"",
        BIN,
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
        &dir.path().display().to_string(),
        "--fsync",
        "always",
        "--log-level",
        "warn",
    ]);
    let mut child = Running(spawn_command(command, port));
    let client = connect(port).await;
    let value = vec![b'x'; 1000];
    let mut acked = Vec::new();
    let refusal = loop {
        let key = format!("k{}", acked.len());
        match client.set_key(key.as_bytes(), &value, None).await {
            Ok(()) => acked.push(key),
            // The write that hit the limit: its connection closes unanswered.
            Err(ClientError::ConnectionLost) => {}
            Err(e) => break e,
        }
        assert!(acked.len() < 1000, "the limit never bit");
    };
    assert!(
        matches!(refusal, ClientError::Store(StoreError::Persistence(_))),
        "{refusal:?}"
    );
    assert!(refusal.to_string().contains("writes refused"), "{refusal}");
    assert!(acked.len() > 20, "{} writes before the limit", acked.len());
    // Reads go on, and STATS says what is wrong.
    assert_eq!(
        client.get_key(acked[0].as_bytes()).await.unwrap(),
        Some(value.clone())
    );
    assert_eq!(stat(&client, "persist_writes_refused").await, 1);
    assert_eq!(stat(&client, "persist_fsync").await, 3);
    // So do deletes' refusals: no write of any kind gets through.
    assert!(matches!(
        client.delete_key(acked[0].as_bytes()).await,
        Err(ClientError::Store(StoreError::Persistence(_)))
    ));

    // Space returns: writes resume by themselves.
    let raised = Command::new("prlimit")
        .args(["--pid", &child.id().to_string(), "--fsize=unlimited"])
        .status()
        .unwrap();
    assert!(raised.success());
    let resumed = Instant::now();
    loop {
        match client.set_key(b"after", b"1", None).await {
            Ok(()) => break,
            Err(e) => assert!(
                resumed.elapsed() < Duration::from_secs(10),
                "writes did not resume: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stat(&client, "persist_writes_refused").await, 0);
    terminate(&mut child);

    let (mut child, port) = start(dir.path(), "always");
    let client = connect(port).await;
    for key in &acked {
        assert_eq!(
            client.get_key(key.as_bytes()).await.unwrap(),
            Some(value.clone()),
            "{key} was acknowledged before the disk filled"
        );
    }
    assert_eq!(client.get_key(b"after").await.unwrap(), Some(b"1".to_vec()));
    terminate(&mut child);
}
