//! The session event stream against a Redis stream: sessions are created,
//! updated, rotated and ended on the daemon; the entries its stream
//! `__sessiond:events` holds are then XADDed, with the same ids and
//! fields, to a stream of that name on redis-server 7.0.15. Every read of
//! the script must answer byte for byte as Redis's does over the same
//! entries (XINFO STREAM's radix-tree figures, which describe Redis's
//! memory layout, aside).

use super::Servers;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_reads_as_a_redis_stream() {
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

    let stand_ins = [
        ("$first", entries[0].0.clone()),
        ("$second", entries[1].0.clone()),
        ("$last", entries[5].0.clone()),
    ];
    let mut mismatches = Vec::new();
    for line in SCRIPT {
        let mut command = line.to_string();
        for (name, id) in &stand_ins {
            command = command.replace(name, id);
        }
        let args: Vec<&str> = command.split(' ').collect();
        let (expected, got) = (theirs.call(&args).await, ours.call(&args).await);
        let (expected, got) = match args[..] {
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
    servers.stop().await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
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
