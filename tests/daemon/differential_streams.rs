//! The session event stream against a Redis stream: sessions are created,
//! updated, rotated and ended on the daemon; the entries its stream
//! `__sessiond:events` holds are then XADDed, with the same ids and
//! fields, to a stream of that name on redis-server 7.0.15. Every read of
//! the script must answer byte for byte as Redis's does over the same
//! entries (XINFO STREAM's radix-tree figures, which describe Redis's
//! memory layout, aside).

use super::{Conn, Servers};

/// Reads compared, `$first`, `$second` and `$last` standing for the ids
/// of the first, second and last entries.
const SCRIPT: &[&str] = &[
    "XLEN __sessiond:events",
    "XLEN nosuch",
    "XRANGE __sessiond:events - +",
    "XRANGE __sessiond:events - + COUNT 2",
    "XRANGE __sessiond:events - + COUNT 0",
    "XRANGE __sessiond:events - + count -3",
    "XRANGE __sessiond:events $second +",
    "XRANGE __sessiond:events ($second +",
    "XRANGE __sessiond:events - ($last",
    "XRANGE __sessiond:events $last $first",
    "XRANGE __sessiond:events 0 1",
    "XRANGE __sessiond:events 0 99999999999999",
    "XRANGE __sessiond:events (- +",
    "XRANGE __sessiond:events x +",
    "XRANGE __sessiond:events - + COUNT",
    "XRANGE __sessiond:events - + LIMIT 1",
    "XRANGE nosuch - +",
    "XRANGE astring - +",
    "XREVRANGE __sessiond:events + -",
    "XREVRANGE __sessiond:events + - COUNT 1",
    "XREVRANGE __sessiond:events ($last - COUNT 2",
    "XREVRANGE __sessiond:events $first $last",
    "XREAD STREAMS __sessiond:events 0",
    "XREAD COUNT 2 STREAMS __sessiond:events 0-0",
    "XREAD COUNT 1 STREAMS __sessiond:events $second",
    "XREAD STREAMS __sessiond:events $last",
    "XREAD STREAMS __sessiond:events $",
    "XREAD BLOCK 10 STREAMS __sessiond:events $",
    "XREAD BLOCK 10 STREAMS __sessiond:events $last",
    "XREAD COUNT 1 STREAMS nosuch __sessiond:events 0 0",
    "XREAD STREAMS nosuch 0",
    "XREAD STREAMS astring 0",
    "XREAD STREAMS __sessiond:events",
    "XREAD STREAMS __sessiond:events nosuch 0",
    "XREAD STREAMS __sessiond:events -",
    "XREAD STREAMS __sessiond:events >",
    "XREAD STREAMS __sessiond:events x-1",
    "XREAD COUNT x STREAMS __sessiond:events 0",
    "XREAD BLOCK -1 STREAMS __sessiond:events 0",
    "XREAD BLOCK x STREAMS __sessiond:events 0",
    "XREAD GROUP g c STREAMS __sessiond:events 0",
    "XREAD NOACK STREAMS __sessiond:events 0",
    "XREAD COUNT 1",
    "XREAD FOO STREAMS __sessiond:events 0",
    "XINFO STREAM __sessiond:events FULL",
    "XINFO STREAM __sessiond:events FULL COUNT 2",
    "XINFO STREAM nosuch",
    "XINFO STREAM astring",
    "XINFO STREAM __sessiond:events EXTRA",
    "XINFO GROUPS __sessiond:events",
    "XINFO HELP",
    "XINFO NOSUCH",
    "HELLO 3",
    "XREAD COUNT 2 STREAMS __sessiond:events 0",
    "XRANGE __sessiond:events - + COUNT 0",
    "XREAD BLOCK 10 STREAMS __sessiond:events $",
    "XINFO STREAM __sessiond:events FULL",
    "HELLO 2",
];

/// Both servers with the same six entries in `__sessiond:events` (made by
/// the daemon's sessions, XADDed to redis-server's), a string key
/// `astring` on both, and the stand-ins for the entries' ids.
async fn servers_with_entries() -> (Servers, Conn, Conn, Vec<(&'static str, String)>) {
    let servers = Servers::start().await;
    let (mut theirs, mut ours) = servers.connect().await;
    for conn in [&mut theirs, &mut ours] {
        assert_eq!(conn.call(&["FLUSHALL"]).await, b"+OK\r\n");
        assert_eq!(conn.call(&["SET", "astring", "v"]).await, b"+OK\r\n");
    }
    // A life of two sessions on the daemon: every kind of event.
    let created = ours
        .call(&[
            "SESSION.CREATE",
            "user:1",
            "IDLE",
            "100",
            "LABEL",
            "ua",
            "Fire\"fox",
        ])
        .await;
    let id = String::from_utf8(super::bulk_text(&created)).unwrap();
    ours.call(&["SESSION.SET", &id, "data"]).await;
    let rotated = ours.call(&["SESSION.ROTATE", &id]).await;
    let new_id = String::from_utf8(super::bulk_text(&rotated)).unwrap();
    let other = ours
        .call(&["SESSION.CREATE", "user:2", "IDLE", "100"])
        .await;
    let other = String::from_utf8(super::bulk_text(&other)).unwrap();
    assert_eq!(ours.call(&["SESSION.DEL", &new_id]).await, b":1\r\n");
    assert_eq!(ours.call(&["SESSION.DELOWNER", "user:2"]).await, b":1\r\n");

    // The same entries into a Redis stream.
    let all = ours.call(&["XRANGE", "__sessiond:events", "-", "+"]).await;
    let entries = entries(&all);
    assert_eq!(
        entries.len(),
        6,
        "created, updated, rotated, created, ended, ended"
    );
    for (entry_id, fields) in &entries {
        let mut args = vec!["XADD", "__sessiond:events", entry_id.as_str()];
        args.extend(fields.iter().map(String::as_str));
        theirs.call(&args).await;
    }
    let kinds: Vec<&str> = entries.iter().map(|(_, f)| f[1].as_str()).collect();
    assert_eq!(
        kinds,
        ["created", "updated", "rotated", "created", "ended", "ended"]
    );
    assert!(
        entries[2].1.contains(&new_id),
        "a rotation names the new id"
    );
    assert!(entries[3].1.contains(&other));
    assert_eq!(entries[4].1[3], "deleted");
    assert_eq!(entries[5].1[3], "owner_deleted");
    assert_eq!(entries[0].1[9], r#"{"ua":"Fire\"fox"}"#);
    let stand_ins = vec![
        ("$first", entries[0].0.clone()),
        ("$second", entries[1].0.clone()),
        ("$third", entries[2].0.clone()),
        ("$last", entries[5].0.clone()),
    ];
    (servers, theirs, ours, stand_ins)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_reads_as_a_redis_stream() {
    let (servers, mut theirs, mut ours, stand_ins) = servers_with_entries().await;
    let mismatches = compare(SCRIPT, &stand_ins, &mut theirs, &mut ours).await;
    servers.stop().await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Consumer groups over the same entries, command by command.
const GROUPS: &[&str] = &[
    "XGROUP CREATE __sessiond:events g 0",
    "XGROUP CREATE __sessiond:events g 0",
    "XGROUP CREATE __sessiond:events g2 $ MKSTREAM",
    "XGROUP CREATE __sessiond:events g3 $second ENTRIESREAD 1",
    "XGROUP CREATE nosuch g 0",
    "XGROUP CREATE astring g 0",
    "XGROUP CREATE __sessiond:events g4 x",
    "XINFO GROUPS __sessiond:events",
    "XPENDING __sessiond:events g",
    "XREADGROUP GROUP g alice COUNT 2 STREAMS __sessiond:events >",
    "XREADGROUP GROUP g bob COUNT 1 STREAMS __sessiond:events >",
    "XREADGROUP GROUP g alice STREAMS __sessiond:events 0",
    "XREADGROUP GROUP g alice COUNT 1 STREAMS __sessiond:events $first",
    "XREADGROUP GROUP g nobody STREAMS __sessiond:events 0",
    "XPENDING __sessiond:events g",
    "idle XPENDING __sessiond:events g - + 10",
    "idle XPENDING __sessiond:events g - + 10 alice",
    "idle XPENDING __sessiond:events g ($first + 1",
    "XPENDING __sessiond:events g IDLE 3600000 - + 10",
    "XPENDING __sessiond:events nog",
    "idle XPENDING __sessiond:events g - + 10 alice extra",
    "XPENDING __sessiond:events g IDLE x - + 10",
    "XACK __sessiond:events g $first 9-9",
    "XACK __sessiond:events g $first",
    "XACK __sessiond:events nog $first",
    "XACK __sessiond:events g x",
    "XCLAIM __sessiond:events g bob 0 $second",
    "XCLAIM __sessiond:events g bob 0 $second JUSTID",
    "XCLAIM __sessiond:events g bob 3600000 $second",
    "XCLAIM __sessiond:events g carol 0 $last",
    "XCLAIM __sessiond:events g carol 0 $last FORCE",
    "XCLAIM __sessiond:events g carol 0 $last RETRYCOUNT 7 IDLE 5",
    "XCLAIM __sessiond:events nog carol 0 $last",
    "XCLAIM __sessiond:events g carol x $last",
    "XCLAIM __sessiond:events g carol 0 $last FOO",
    "XAUTOCLAIM __sessiond:events g dave 0 0 COUNT 1",
    "XAUTOCLAIM __sessiond:events g dave 0 0 COUNT 10 JUSTID",
    "XAUTOCLAIM __sessiond:events g dave 0 0 COUNT 0",
    "XAUTOCLAIM __sessiond:events nog dave 0 0",
    "idle XINFO CONSUMERS __sessiond:events g",
    "XINFO CONSUMERS __sessiond:events nog",
    "XINFO GROUPS __sessiond:events",
    "XREADGROUP GROUP g alice COUNT 10 STREAMS __sessiond:events >",
    "XINFO GROUPS __sessiond:events",
    "XREADGROUP GROUP g alice BLOCK 10 STREAMS __sessiond:events >",
    "XREADGROUP GROUP g2 erin NOACK STREAMS __sessiond:events >",
    "XGROUP SETID __sessiond:events g2 0",
    "XREADGROUP GROUP g2 erin NOACK COUNT 2 STREAMS __sessiond:events >",
    "XPENDING __sessiond:events g2",
    "XGROUP SETID __sessiond:events g2 $first ENTRIESREAD 1",
    "XGROUP SETID __sessiond:events nog 0",
    "XINFO GROUPS __sessiond:events",
    "XGROUP CREATECONSUMER __sessiond:events g frank",
    "XGROUP CREATECONSUMER __sessiond:events g frank",
    "XGROUP CREATECONSUMER __sessiond:events nog frank",
    "XGROUP DELCONSUMER __sessiond:events g dave",
    "XGROUP DELCONSUMER __sessiond:events g nobody",
    "XGROUP DESTROY __sessiond:events g3",
    "XGROUP DESTROY __sessiond:events g3",
    "XREADGROUP GROUP g alice STREAMS __sessiond:events $",
    "XREADGROUP GROUP nog alice STREAMS __sessiond:events >",
    "XREADGROUP GROUP g alice STREAMS nosuch >",
    "XREADGROUP STREAMS __sessiond:events >",
    "XREADGROUP GROUP g alice STREAMS __sessiond:events",
    "XGROUP HELP",
    "XGROUP NOSUCH",
    "HELLO 3",
    "XGROUP SETID __sessiond:events g 0",
    "XREADGROUP GROUP g zoe COUNT 2 STREAMS __sessiond:events >",
    "XINFO GROUPS __sessiond:events",
    "HELLO 2",
    "XINFO STREAM __sessiond:events",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_groups_answer_as_redis_does() {
    let (servers, mut theirs, mut ours, stand_ins) = servers_with_entries().await;
    let mismatches = compare(GROUPS, &stand_ins, &mut theirs, &mut ours).await;
    servers.stop().await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Runs each line on both sides; the mismatches. `$name`s are replaced
/// by their ids; a line `idle …` has its idle times set aside.
async fn compare(
    script: &[&str],
    stand_ins: &[(&str, String)],
    theirs: &mut Conn,
    ours: &mut Conn,
) -> Vec<String> {
    let mut mismatches = Vec::new();
    for line in script {
        let (idle, line) = match line.strip_prefix("idle ") {
            Some(line) => (true, line),
            None => (false, *line),
        };
        let mut command = line.to_string();
        for (name, id) in stand_ins {
            command = command.replace(name, id);
        }
        let args: Vec<&str> = command.split(' ').collect();
        let (expected, got) = (theirs.call(&args).await, ours.call(&args).await);
        let (expected, got) = match args[..] {
            _ if idle => (without_idle(&expected), without_idle(&got)),
            ["XINFO", "STREAM", ..] => (without_radix(&expected), without_radix(&got)),
            // The connection ids differ.
            ["HELLO", ..] => (expected[..1].to_vec(), got[..1].to_vec()),
            _ => (expected, got),
        };
        if expected != got {
            mismatches.push(format!(
                "{command:?}:\n  redis:    {:?}\n  sessiond: {:?}",
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    mismatches
}

/// A reply with its idle times zeroed: the value after an `idle` field
/// (XINFO CONSUMERS) and the third of each `[id, consumer, idle, count]`
/// (XPENDING's entries), which depend on when each side ran.
fn without_idle(reply: &[u8]) -> Vec<u8> {
    fn zero(value: &mut redis::Value) {
        if let redis::Value::Array(items) = value {
            if let [
                _,
                redis::Value::BulkString(_),
                idle @ redis::Value::Int(_),
                redis::Value::Int(_),
            ] = &mut items[..]
            {
                *idle = redis::Value::Int(0);
            }
            for at in 1..items.len() {
                if items[at - 1] == redis::Value::BulkString(b"idle".to_vec()) {
                    items[at] = redis::Value::Int(0);
                }
            }
            items.iter_mut().for_each(zero);
        }
    }
    let mut value = redis::parse_redis_value(reply).expect("a reply");
    zero(&mut value);
    format!("{value:?}").into_bytes()
}

/// An XRANGE reply's entries: each id and its fields and values.
fn entries(reply: &[u8]) -> Vec<(String, Vec<String>)> {
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("not a bulk string: {other:?}"),
    };
    let redis::Value::Array(entries) = redis::parse_redis_value(reply).unwrap() else {
        panic!("not an array: {reply:?}");
    };
    entries
        .iter()
        .map(|entry| match entry {
            redis::Value::Array(pair) => match &pair[..] {
                [id, redis::Value::Array(fields)] => (text(id), fields.iter().map(text).collect()),
                other => panic!("not an entry: {other:?}"),
            },
            other => panic!("not an entry: {other:?}"),
        })
        .collect()
}

/// An XINFO STREAM reply with the values of `radix-tree-keys` and
/// `radix-tree-nodes` blanked.
fn without_radix(reply: &[u8]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(reply).into_owned();
    for field in ["radix-tree-keys", "radix-tree-nodes"] {
        let marker = format!("{field}\r\n:");
        if let Some(at) = text.find(&marker) {
            let start = at + marker.len();
            let end = start + text[start..].find("\r\n").unwrap();
            text.replace_range(start..end, "_");
        }
    }
    text.into_bytes()
}
