//! Persistence of the embedded store: what goes in comes back after a
//! restart, compaction keeps it, a torn tail is cut, damage refuses (and
//! `repair` gets past it), expiry holds across downtime, and reads are not
//! disk writes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sessiond::{
    FsyncPolicy, KeyTtl, Labels, ManualClock, NewSession, PersistConfig, PersistError, SessionId,
    Store, StoreConfig, StoreError,
};

use crate::T0_MS;
use crate::tempdir::TempDir;

fn config() -> StoreConfig {
    StoreConfig {
        background_expiry: false,
        ..StoreConfig::default()
    }
}

fn open(dir: &Path, clock: &ManualClock) -> Store {
    try_open(PersistConfig::new(dir), clock).expect("opens")
}

fn try_open(persist: PersistConfig, clock: &ManualClock) -> Result<Store, PersistError> {
    Store::open_with_clock(config(), persist, clock.clone()).map(|(store, _)| store)
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

fn newest_log(dir: &Path) -> PathBuf {
    files(dir, ".aof").pop().expect("a log")
}

#[test]
fn a_counter_made_with_its_ttl_has_it_after_a_restart() {
    let dir = TempDir::new("counter-ttl");
    let clock = ManualClock::new(T0_MS);
    {
        let store = open(dir.path(), &clock);
        store
            .incr_with_ttl(b"login:alice", 1, Duration::from_secs(900))
            .unwrap();
    }
    let store = open(dir.path(), &clock);
    assert_eq!(store.get_key(b"login:alice"), Some(b"1".to_vec()));
    assert_eq!(
        store.ttl(b"login:alice"),
        KeyTtl::ExpiresIn(Duration::from_secs(900)),
        "one record carries the value and the TTL"
    );
}

#[test]
fn everything_written_comes_back_after_a_restart() {
    let dir = TempDir::new("restart");
    let clock = ManualClock::new(T0_MS);
    let (laptop, phone, rotated);
    {
        let store = open(dir.path(), &clock);
        laptop = store
            .create(
                NewSession::new("alice")
                    .data(b"cart=3".to_vec())
                    .labels(Labels::new().with("ua", "Firefox")),
            )
            .unwrap();
        phone = store.create(NewSession::new("alice")).unwrap();
        let gone = store.create(NewSession::new("bob")).unwrap();
        let old = store.create(NewSession::new("carol")).unwrap();
        assert_eq!(store.update(&laptop, b"cart=4", Some(1)).unwrap(), 2);
        rotated = store.rotate(&old).unwrap();
        assert!(store.delete(&gone).unwrap());
        store.set_key(b"plain", b"v", None).unwrap();
        store
            .set_key(b"ttl", b"w", Some(Duration::from_secs(100)))
            .unwrap();
        store.incr(b"attempts", 3).unwrap();
        store.incr(b"attempts", 2).unwrap();
        store.set_add(b"index", &[b"a", b"b", b"c"]).unwrap();
        store.set_remove(b"index", &[b"b"]).unwrap();
        store.set_key(b"doomed", b"x", None).unwrap();
        assert!(store.delete_key(b"doomed").unwrap());
        store.rename(b"plain", b"renamed").unwrap();
    }
    clock.advance(Duration::from_secs(10));
    let store = open(dir.path(), &clock);
    let session = store.peek(&laptop).unwrap();
    assert_eq!(session.data, b"cart=4");
    assert_eq!(session.info.version, 2);
    assert_eq!(session.info.labels.get("ua"), Some("Firefox"));
    assert!(store.peek(&phone).is_ok());
    assert_eq!(store.count(b"alice"), 2);
    assert_eq!(store.count(b"bob"), 0);
    assert_eq!(store.list(b"carol")[0].id, rotated);
    assert_eq!(store.stats().sessions, 3);
    assert_eq!(store.get_key(b"renamed"), Some(b"v".to_vec()));
    assert_eq!(store.get_key(b"plain"), None);
    assert_eq!(store.get_key(b"attempts"), Some(b"5".to_vec()));
    assert_eq!(store.get_key(b"doomed"), None);
    assert_eq!(
        store.ttl(b"ttl"),
        KeyTtl::ExpiresIn(Duration::from_secs(90))
    );
    assert_eq!(
        store.set_members(b"index").unwrap(),
        vec![b"a".to_vec(), b"c".to_vec()]
    );
    // And the restored store keeps writing where the log left off.
    store.delete_owner(b"alice", None).unwrap();
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(store.count(b"alice"), 0);
    assert_eq!(store.stats().sessions, 1);
}

#[test]
fn compaction_replaces_the_logs_with_a_snapshot_and_loses_nothing() {
    let dir = TempDir::new("compact");
    let clock = ManualClock::new(T0_MS);
    let mut ids = Vec::new();
    {
        let store = open(dir.path(), &clock);
        for i in 0..2_000 {
            let id = store
                .create(NewSession::new(format!("user{}", i % 100)).data(vec![i as u8; 100]))
                .unwrap();
            ids.push(id);
        }
        for id in &ids[..500] {
            store.delete(id).unwrap();
        }
        store.set_add(b"set", &[b"x", b"y"]).unwrap();
        store.compact().unwrap();
        assert_eq!(files(dir.path(), ".snap").len(), 1);
        assert_eq!(files(dir.path(), ".aof").len(), 1, "old logs removed");
        // Writes after the snapshot go to the new log.
        for id in &ids[500..600] {
            store.update(id, b"after", None).unwrap();
        }
        store.compact().unwrap();
        store.set_key(b"late", b"1", None).unwrap();
    }
    let store = open(dir.path(), &clock);
    assert_eq!(store.stats().sessions, 1_500);
    assert!(store.peek(&ids[0]).is_err());
    assert_eq!(store.peek(&ids[550]).unwrap().data, b"after");
    assert_eq!(
        store.peek(&ids[1999]).unwrap().data,
        vec![1999u32 as u8; 100]
    );
    assert_eq!(store.count(b"user7"), 15);
    assert_eq!(store.set_len(b"set").unwrap(), 2);
    assert_eq!(store.get_key(b"late"), Some(b"1".to_vec()));
}

#[test]
fn a_torn_last_record_is_cut_with_a_warning() {
    let dir = TempDir::new("torn");
    let clock = ManualClock::new(T0_MS);
    let id = {
        let store = open(dir.path(), &clock);
        let id = store.create(NewSession::new("alice")).unwrap();
        store.set_key(b"k", b"v", None).unwrap();
        id
    };
    let log = newest_log(dir.path());
    let whole = fs::metadata(&log).unwrap().len();
    // Half of a record: what a crash in the middle of a write leaves.
    let mut bytes = fs::read(&log).unwrap();
    let first = record_len(&bytes, 24);
    bytes.extend_from_within(24..24 + first / 2);
    fs::write(&log, &bytes).unwrap();

    let (store, report) =
        Store::open_with_clock(config(), PersistConfig::new(dir.path()), clock.clone()).unwrap();
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    assert!(report.warnings[0].contains("cut"), "{report:?}");
    assert!(store.peek(&id).is_ok());
    assert_eq!(store.get_key(b"k"), Some(b"v".to_vec()));
    assert_eq!(
        fs::metadata(&log).unwrap().len(),
        whole,
        "cut back to whole records"
    );
    store.set_key(b"after", b"1", None).unwrap();
    drop(store);
    let (store, report) =
        Store::open_with_clock(config(), PersistConfig::new(dir.path()), clock.clone()).unwrap();
    assert!(report.warnings.is_empty(), "{report:?}");
    assert_eq!(store.get_key(b"after"), Some(b"1".to_vec()));
}

#[test]
fn damage_in_the_middle_refuses_to_start_and_repair_keeps_what_came_before() {
    let dir = TempDir::new("damage");
    let clock = ManualClock::new(T0_MS);
    {
        let store = open(dir.path(), &clock);
        for i in 0..10u8 {
            store.set_key(&[b'k', i], vec![i; 50], None).unwrap();
        }
    }
    let log = newest_log(dir.path());
    let mut bytes = fs::read(&log).unwrap();
    // Each record: 12-byte frame + tag + 8 + 2 + key 2 + value 50 = 75.
    let fifth = 24 + 4 * 75;
    bytes[fifth + 30] ^= 0x01;
    fs::write(&log, &bytes).unwrap();

    let err = try_open(PersistConfig::new(dir.path()), &clock).unwrap_err();
    match &err {
        PersistError::Damaged { path, offset, .. } => {
            assert_eq!(path, &log);
            assert_eq!(*offset, fifth as u64);
        }
        other => panic!("expected damage, got {other}"),
    }
    assert!(err.to_string().contains("--repair"), "{err}");
    assert_eq!(fs::read(&log).unwrap(), bytes, "a refusal changes nothing");

    let persist = PersistConfig {
        repair: true,
        ..PersistConfig::new(dir.path())
    };
    let (store, report) = Store::open_with_clock(config(), persist, clock.clone()).unwrap();
    assert_eq!(report.dropped.len(), 1, "{report:?}");
    assert!(
        report.dropped[0].contains(&format!("offset {fifth}")),
        "{report:?}"
    );
    for i in 0..4u8 {
        assert_eq!(store.get_key(&[b'k', i]), Some(vec![i; 50]));
    }
    for i in 4..10u8 {
        assert_eq!(store.get_key(&[b'k', i]), None);
    }
    store.set_key(b"new", b"1", None).unwrap();
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(store.get_key(b"new"), Some(b"1".to_vec()));
    assert_eq!(store.key_count(), 5);
}

#[test]
fn a_file_that_is_not_ours_or_from_a_future_version_refuses() {
    let dir = TempDir::new("foreign");
    let clock = ManualClock::new(T0_MS);
    drop(open(dir.path(), &clock));
    let log = newest_log(dir.path());
    let mut bytes = fs::read(&log).unwrap();
    bytes[8] = 9; // format version 9, header checksum fixed up
    let crc = crc32(&bytes[..20]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    fs::write(&log, &bytes).unwrap();
    let err = try_open(PersistConfig::new(dir.path()), &clock).unwrap_err();
    assert!(err.to_string().contains("format version 9"), "{err}");
}

#[test]
fn sessions_that_idled_out_while_the_store_was_down_stay_gone() {
    let dir = TempDir::new("downtime");
    let clock = ManualClock::new(T0_MS);
    let (active, idle, capped);
    {
        let store = open(dir.path(), &clock);
        let minute = Duration::from_secs(60);
        active = store
            .create(NewSession::new("a").idle_timeout(minute))
            .unwrap();
        idle = store
            .create(NewSession::new("b").idle_timeout(minute))
            .unwrap();
        capped = store
            .create(
                NewSession::new("c")
                    .idle_timeout(Duration::from_secs(3600))
                    .absolute_lifetime(Duration::from_secs(90)),
            )
            .unwrap();
        store
            .set_key(b"short", b"x", Some(Duration::from_secs(50)))
            .unwrap();
        clock.advance(Duration::from_secs(45));
        store.get(&active).unwrap();
        store.get(&capped).unwrap();
    }
    // Down for 40 s: `idle` was last seen 85 s ago, `active` 40 s ago.
    clock.advance(Duration::from_secs(40));
    let store = open(dir.path(), &clock);
    assert!(store.peek(&active).is_ok(), "an active session survives");
    assert!(store.peek(&idle).is_err(), "an idle one does not come back");
    assert_eq!(store.get_key(b"short"), None);
    assert!(store.peek(&capped).is_ok());
    clock.advance(Duration::from_secs(10));
    assert!(store.peek(&capped).is_err(), "the absolute cap still holds");
    assert_eq!(
        store.stats().sessions,
        2,
        "expired ones are dropped at load"
    );
}

#[test]
fn reads_within_the_slack_write_nothing_to_disk() {
    let dir = TempDir::new("slack");
    let clock = ManualClock::new(T0_MS);
    let id = {
        let store = open(dir.path(), &clock);
        // Idle 1 hour: the slack is 36 s.
        store
            .create(NewSession::new("a").idle_timeout(Duration::from_secs(3600)))
            .unwrap()
    };
    let log = newest_log(dir.path());
    let before = fs::metadata(&log).unwrap().len();
    {
        let store = open(dir.path(), &clock);
        for _ in 0..30 {
            store.get(&id).unwrap();
            clock.advance(Duration::from_secs(1));
        }
    }
    let after_reads = fs::metadata(&log).unwrap().len();
    // 30 reads over 30 s cross at most one 36-second boundary.
    assert!(
        after_reads - before <= 33,
        "{} bytes for 30 reads",
        after_reads - before
    );
    let store = open(dir.path(), &clock);
    let seen = store.peek(&id).unwrap().info.last_seen_at;
    let truth = (T0_MS / 1000) + 29;
    assert!(truth - seen <= 36, "last seen {seen}, truly {truth}");
}

#[test]
fn a_directory_is_used_by_one_store_at_a_time() {
    let dir = TempDir::new("lock");
    let clock = ManualClock::new(T0_MS);
    let first = open(dir.path(), &clock);
    let err = try_open(PersistConfig::new(dir.path()), &clock).unwrap_err();
    assert!(err.to_string().contains("another sessiond"), "{err}");
    drop(first);
    open(dir.path(), &clock);
}

#[test]
fn fsync_always_acknowledges_every_write_from_many_threads() {
    let dir = TempDir::new("always");
    let persist = PersistConfig {
        fsync: FsyncPolicy::Always,
        ..PersistConfig::new(dir.path())
    };
    let (store, _) = Store::open_with(config(), persist.clone()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..50 {
                    store
                        .set_key(format!("t{t}-{i}").as_bytes(), b"v", None)
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(store.key_count(), 200);
    // Not dropped: a crash now would keep all of them, since each was
    // acknowledged only once on disk. Read the log as a second store would.
    let log = newest_log(dir.path());
    let copy = TempDir::new("always-copy");
    fs::copy(&log, copy.path().join(log.file_name().unwrap())).unwrap();
    let (reread, _) = Store::open_with(config(), PersistConfig::new(copy.path())).unwrap();
    assert_eq!(reread.key_count(), 200);
    drop(store);
    assert!(matches!(
        Store::open_with(config(), persist).map(|(s, _)| s.check_writable()),
        Ok(Ok(()))
    ));
}

/// Set in the child process of the full-disk test: the data directory it
/// fills.
const FULL_DISK_DIR: &str = "SESSIOND_TEST_FULL_DISK_DIR";
/// The session the full-disk test tries to delete.
const KEEPER: SessionId = SessionId::from_bytes([7; 16]);

#[test]
fn a_delete_under_a_full_disk_is_refused_and_the_session_survives_a_reopen() {
    if let Some(dir) = std::env::var_os(FULL_DISK_DIR) {
        fill_the_disk_then_delete(Path::new(&dir));
        return;
    }
    let dir = TempDir::new("full-disk");
    let status = under_a_full_disk(
        "persist::a_delete_under_a_full_disk_is_refused_and_the_session_survives_a_reopen",
        FULL_DISK_DIR,
        dir.path(),
    );
    assert!(
        status.success(),
        "the child under the limit failed: {status}"
    );
    let store = open(dir.path(), &ManualClock::new(T0_MS));
    assert_eq!(store.get(&KEEPER).unwrap().data, b"keep me");
    assert_eq!(store.count(b"alice"), 1);
    assert_eq!(store.get_key(b"kept"), Some(b"1".to_vec()));
}

/// Runs the test `test` again in a child process whose files cannot grow
/// past 64 KiB, with `env` set to `dir`; returns how the child ended.
///
/// A file-size limit stands in for a full disk, as in the daemon's test
/// (writes past it fail with EFBIG, as with ENOSPC, once SIGXFSZ is
/// ignored). A limit is per process, and other tests of this binary
/// write files at the same time, so the test runs again in a child under
/// the limit, and the parent checks what it left.
fn under_a_full_disk(test: &str, env: &str, dir: &Path) -> std::process::ExitStatus {
    Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; exec prlimit --fsize=65536:unlimited \"$0\" \"$@\"",
        ])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1"])
        .env(env, dir)
        .status()
        .unwrap()
}

/// The child's part: fills the log up to the file-size limit, then checks
/// that no mutation gets through, deletes included, and that reads go on.
fn fill_the_disk_then_delete(dir: &Path) {
    let persist = PersistConfig {
        fsync: FsyncPolicy::Always,
        ..PersistConfig::new(dir)
    };
    let clock = ManualClock::new(T0_MS);
    let store = try_open(persist, &clock).unwrap();
    store
        .create(
            NewSession::new("alice")
                .with_id(KEEPER)
                .data(b"keep me".to_vec()),
        )
        .unwrap();
    store.set_key(b"kept", b"1", None).unwrap();
    let mut written = 0;
    let refusal = loop {
        match store.set_key(format!("k{written}").as_bytes(), vec![b'x'; 1000], None) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 1000, "the limit never bit");
    };
    assert!(matches!(refusal, StoreError::Persistence(_)), "{refusal:?}");
    let refused = |result: Result<(), StoreError>, what: &str| {
        assert!(
            matches!(result, Err(StoreError::Persistence(_))),
            "{what}: {result:?}"
        );
    };
    refused(store.delete(&KEEPER).map(drop), "delete");
    refused(store.delete_owner(b"alice", None).map(drop), "delete_owner");
    refused(store.delete_key(b"kept").map(drop), "delete_key");
    refused(store.persist(b"kept").map(drop), "persist");
    refused(store.flush_all(), "flush_all");
    // Reads go on, and their touches are not piled up in memory for a log
    // that cannot take them.
    let waiting = store.persistence().unwrap().unsynced_bytes;
    for _ in 0..200 {
        clock.advance(Duration::from_secs(1));
        store.get(&KEEPER).unwrap();
    }
    assert_eq!(
        store.persistence().unwrap().unsynced_bytes,
        waiting,
        "touches while writes are refused are not logged"
    );
    assert_eq!(store.get(&KEEPER).unwrap().data, b"keep me");
    assert_eq!(store.count(b"alice"), 1);
    assert_eq!(store.get_key(b"kept"), Some(b"1".to_vec()));
}

/// CRC-32 (IEEE), as the file header uses, for tests that forge headers.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// What a store holds, in a comparable form: keys with values, and each
/// owner's sessions with their data.
fn fingerprint(store: &Store, owners: &[String]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = store
        .keys_matching(b"*")
        .into_iter()
        .map(|k| {
            let v = store.get_key(&k).unwrap_or_default();
            (k, v)
        })
        .collect();
    for owner in owners {
        for info in store.list(owner.as_bytes()) {
            let data = store.peek(&info.id).unwrap().data;
            out.push((info.id.to_string().into_bytes(), data));
        }
    }
    out.sort();
    out
}

#[test]
fn a_crash_at_any_step_of_a_compaction_recovers_everything() {
    let dir = TempDir::new("compaction-steps");
    let clock = ManualClock::new(T0_MS);
    let always = |dir: &Path| PersistConfig {
        fsync: FsyncPolicy::Always,
        ..PersistConfig::new(dir)
    };
    let owners: Vec<String> = (0..5).map(|i| format!("o{i}")).collect();
    let (before, expected);
    {
        let store = try_open(always(dir.path()), &clock).unwrap();
        let mut ids = Vec::new();
        for i in 0..100u32 {
            store
                .set_key(format!("k{i}").as_bytes(), i.to_string().into_bytes(), None)
                .unwrap();
            let new = NewSession::new(owners[i as usize % 5].clone()).data(vec![1; 10]);
            ids.push(store.create(new).unwrap());
        }
        // The log as the compaction finds it: under `always`, complete.
        before = fs::read(newest_log(dir.path())).unwrap();
        store.compact().unwrap();
        for (i, id) in ids.iter().enumerate().take(30) {
            store.update(id, b"after", None).unwrap();
            store
                .set_key(format!("k{i}").as_bytes(), b"new", None)
                .unwrap();
        }
        for id in &ids[30..40] {
            store.delete(id).unwrap();
        }
        expected = fingerprint(&store, &owners);
    }
    let snapshot = files(dir.path(), ".snap").pop().unwrap();
    let log = newest_log(dir.path());
    let name = |p: &Path| p.file_name().unwrap().to_owned();
    let first_log = "log-00000000000000000001.aof";

    // Each crash point of the compaction, as the directory would be left.
    let steps: [(&str, bool, bool); 3] = [
        // (a snapshot being written, the snapshot in place, the old log kept)
        ("rotated, snapshot being written", false, true),
        ("snapshot renamed, old log not yet removed", true, true),
        ("done", true, false),
    ];
    for (step, renamed, old_log) in steps {
        let crash = TempDir::new("compaction-step");
        fs::copy(&log, crash.path().join(name(&log))).unwrap();
        if renamed {
            fs::copy(&snapshot, crash.path().join(name(&snapshot))).unwrap();
        } else {
            let partial = fs::read(&snapshot).unwrap();
            let tmp = name(&snapshot).to_string_lossy().replace(".snap", ".tmp");
            fs::write(crash.path().join(tmp), &partial[..partial.len() / 2]).unwrap();
        }
        if old_log {
            fs::write(crash.path().join(first_log), &before).unwrap();
        }
        let store = try_open(PersistConfig::new(crash.path()), &clock)
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        assert_eq!(fingerprint(&store, &owners), expected, "{step}");
        drop(store);
        assert!(
            files(crash.path(), ".tmp").is_empty(),
            "{step}: leftovers removed"
        );
        if renamed {
            assert!(
                !crash.path().join(first_log).exists(),
                "{step}: superseded log removed"
            );
        }
    }
}

/// The length of the whole record that starts at `at` in a log's bytes.
fn record_len(bytes: &[u8], at: usize) -> usize {
    12 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

#[test]
fn a_crash_in_the_middle_of_a_rotation_never_leaves_the_old_id_alive() {
    let dir = TempDir::new("rotate-crash");
    let clock = ManualClock::new(T0_MS);
    let old = {
        let store = open(dir.path(), &clock);
        store
            .create(NewSession::new("alice").data(b"cart=1".to_vec()))
            .unwrap()
    };
    let log = newest_log(dir.path());
    let before = fs::metadata(&log).unwrap().len() as usize;
    let new = {
        let store = open(dir.path(), &clock);
        store.rotate(&old).unwrap()
    };
    let bytes = fs::read(&log).unwrap();
    let first = before + record_len(&bytes, before);
    let second = first + record_len(&bytes, first);
    assert_eq!(
        second + record_len(&bytes, second),
        bytes.len(),
        "a rotation logs two records, and its event after them"
    );
    // A crash that leaves the first record whole ends the log on the
    // boundary between the two (the flusher took the buffer between
    // them) or inside the second (a torn write). The old id must be gone
    // after every one of those; the new one may be too (the session is
    // lost, which a fixation attack cannot use), and is alive once both
    // records are whole. (Before the first record is whole the rotation
    // never happened: the old id is rightly alive.)
    for cut in first..=bytes.len() {
        let crash = TempDir::new("rotate-crash-at");
        fs::write(crash.path().join(log.file_name().unwrap()), &bytes[..cut]).unwrap();
        let store = open(crash.path(), &clock);
        assert!(
            store.peek(&old).is_err(),
            "log cut at {cut} (rotation's records at {before}..{first}..{}): the old id is alive",
            bytes.len()
        );
        if cut == bytes.len() {
            assert_eq!(store.peek(&new).unwrap().data, b"cart=1");
        }
        assert!(
            store.count(b"alice") <= 1,
            "log cut at {cut}: one session at most"
        );
    }
}

/// Set in the child process of the failed-snapshot test: the data
/// directory it compacts.
const FULL_SNAPSHOT_DIR: &str = "SESSIOND_TEST_FULL_SNAPSHOT_DIR";

#[test]
fn a_snapshot_that_fails_on_a_full_disk_leaves_no_tmp_and_loses_nothing() {
    if let Some(dir) = std::env::var_os(FULL_SNAPSHOT_DIR) {
        compact_onto_a_full_disk(Path::new(&dir));
        return;
    }
    let dir = TempDir::new("full-snapshot");
    let clock = ManualClock::new(T0_MS);
    {
        // Live data beyond the child's 64 KiB file-size limit, written
        // without it: the log holds it, a snapshot of it cannot fit.
        let store = open(dir.path(), &clock);
        for i in 0..100u32 {
            store
                .set_key(format!("k{i}").as_bytes(), vec![b'x'; 1000], None)
                .unwrap();
        }
    }
    let status = under_a_full_disk(
        "persist::a_snapshot_that_fails_on_a_full_disk_leaves_no_tmp_and_loses_nothing",
        FULL_SNAPSHOT_DIR,
        dir.path(),
    );
    assert!(
        status.success(),
        "the child under the limit failed: {status}"
    );
    // Looked at before a reopen, which would remove leftovers itself.
    assert_eq!(
        files(dir.path(), ".tmp"),
        Vec::<PathBuf>::new(),
        "the failed snapshot's .tmp is left behind"
    );
    let store = open(dir.path(), &clock);
    assert_eq!(store.key_count(), 101);
    assert_eq!(store.get_key(b"k99"), Some(vec![b'x'; 1000]));
    assert_eq!(
        store.get_key(b"after"),
        Some(b"1".to_vec()),
        "the child's write after the failure"
    );
    store.compact().unwrap();
    assert_eq!(files(dir.path(), ".snap").len(), 1);
}

/// The child's part: a compaction whose snapshot outgrows the limit fails
/// (the old files are still whole), and the store goes on writing.
fn compact_onto_a_full_disk(dir: &Path) {
    let store = open(dir, &ManualClock::new(T0_MS));
    let err = store.compact().unwrap_err();
    assert!(matches!(err, StoreError::Persistence(_)), "{err:?}");
    assert!(err.to_string().contains("snapshot"), "{err}");
    store.check_writable().unwrap();
    store.set_key(b"after", b"1", None).unwrap();
}
