//! Hash field TTLs over RESP, against the replies Redis 8 documents for
//! HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT, HTTL, HPTTL, HEXPIRETIME,
//! HPEXPIRETIME, HPERSIST, HGETEX, HSETEX and HGETDEL (redis-server 7.0,
//! which the differential test runs, has none of them): per-field codes,
//! argument errors word for word, and what differs on purpose: HLEN is
//! exact once a field's deadline passes, with no read in between, and a
//! hash whose last field expires is gone.

use std::time::Duration;

use sessiond_server::ServerConfig;
use tokio::net::TcpStream;

use crate::resp::{reply, resp_daemon, say};

fn ints(value: &redis::Value) -> Vec<i64> {
    match value {
        redis::Value::Array(items) => items
            .iter()
            .map(|v| match v {
                redis::Value::Int(n) => *n,
                other => panic!("not an integer: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hexpire_and_friends_answer_per_field_codes() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "HSET h a 1 b 2 c 3\r\n", ":3\r\n").await;
    // -2 no such field, 0 condition not met, 1 set, 2 deleted.
    say(
        &mut s,
        "HEXPIRE h 100 XX FIELDS 2 a zz\r\n",
        "*2\r\n:0\r\n:-2\r\n",
    )
    .await;
    say(&mut s, "HEXPIRE h 100 GT FIELDS 1 a\r\n", "*1\r\n:0\r\n").await;
    say(&mut s, "HEXPIRE h 100 NX FIELDS 1 a\r\n", "*1\r\n:1\r\n").await;
    say(&mut s, "HEXPIRE h 200 NX FIELDS 1 a\r\n", "*1\r\n:0\r\n").await;
    say(&mut s, "HEXPIRE h 50 GT FIELDS 1 a\r\n", "*1\r\n:0\r\n").await;
    say(&mut s, "HEXPIRE h 150 GT FIELDS 1 a\r\n", "*1\r\n:1\r\n").await;
    say(&mut s, "HEXPIRE h 300 LT FIELDS 1 a\r\n", "*1\r\n:0\r\n").await;
    say(&mut s, "HEXPIRE h 300 LT FIELDS 1 b\r\n", "*1\r\n:1\r\n").await;
    say(
        &mut s,
        "HTTL h FIELDS 4 a b c zz\r\n",
        "*4\r\n:150\r\n:300\r\n:-1\r\n:-2\r\n",
    )
    .await;
    let ms = ints(&reply(&mut s, "HPTTL h FIELDS 1 a\r\n").await)[0];
    assert!((149_000..=150_000).contains(&ms), "{ms}");
    say(
        &mut s,
        "HPEXPIREAT h 4000000000000 FIELDS 1 c\r\n",
        "*1\r\n:1\r\n",
    )
    .await;
    say(
        &mut s,
        "HPEXPIRETIME h FIELDS 2 c zz\r\n",
        "*2\r\n:4000000000000\r\n:-2\r\n",
    )
    .await;
    say(
        &mut s,
        "HEXPIRETIME h FIELDS 1 c\r\n",
        "*1\r\n:4000000000\r\n",
    )
    .await;
    say(
        &mut s,
        "HEXPIREAT h 4000000001 FIELDS 1 c\r\n",
        "*1\r\n:1\r\n",
    )
    .await;
    say(
        &mut s,
        "HPEXPIRETIME h FIELDS 1 c\r\n",
        "*1\r\n:4000000001000\r\n",
    )
    .await;
    say(
        &mut s,
        "HPERSIST h FIELDS 3 c c zz\r\n",
        "*3\r\n:1\r\n:-1\r\n:-2\r\n",
    )
    .await;
    // A time already past deletes the field: 2.
    say(&mut s, "HPEXPIRE h 0 FIELDS 1 c\r\n", "*1\r\n:2\r\n").await;
    say(
        &mut s,
        "HEXPIREAT h 1 FIELDS 2 b zz\r\n",
        "*2\r\n:2\r\n:-2\r\n",
    )
    .await;
    say(&mut s, "HLEN h\r\n", ":1\r\n").await;
    say(&mut s, "HEXPIRE h 0 FIELDS 1 a\r\n", "*1\r\n:2\r\n").await;
    say(&mut s, "EXISTS h\r\n", ":0\r\n").await;
    // A missing key is an empty hash.
    say(
        &mut s,
        "HEXPIRE nope 10 FIELDS 2 a b\r\n",
        "*2\r\n:-2\r\n:-2\r\n",
    )
    .await;
    say(&mut s, "HTTL nope FIELDS 1 a\r\n", "*1\r\n:-2\r\n").await;
    say(&mut s, "HPERSIST nope FIELDS 1 a\r\n", "*1\r\n:-2\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_ttl_commands_refuse_bad_arguments_in_redis_words() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "HSET h a 1\r\nSET str v\r\n", ":1\r\n+OK\r\n").await;
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    for command in [
        "HEXPIRE str 10 FIELDS 1 a",
        "HEXPIRE str abc FOO x y",
        "HTTL str FIELDS 1 a",
        "HPERSIST str FIELDS 1 a",
        "HGETEX str FIELDS 1 a",
        "HGETDEL str FIELDS 1 a",
        "HSETEX str FIELDS 1 a b",
    ] {
        say(&mut s, &format!("{command}\r\n"), wrongtype).await;
    }
    let cases = [
        (
            "HEXPIRE h abc FIELDS 1 a",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "HEXPIRE h -1 FIELDS 1 a",
            "-ERR invalid expire time, must be >= 0\r\n",
        ),
        (
            "HEXPIRE h 70368744177664 FIELDS 1 a",
            "-ERR invalid expire time in 'hexpire' command\r\n",
        ),
        (
            "HPEXPIREAT h 70368744177664 FIELDS 1 a",
            "-ERR invalid expire time in 'hpexpireat' command\r\n",
        ),
        (
            "HEXPIRE h 10 FOO 1 a",
            "-ERR Mandatory argument FIELDS is missing or not at the right position\r\n",
        ),
        (
            "HEXPIRE h 10 NX FIELDS 0 a",
            "-ERR Parameter `numFields` should be greater than 0\r\n",
        ),
        (
            "HEXPIRE h 10 FIELDS 2 a",
            "-ERR The `numfields` parameter must match the number of arguments\r\n",
        ),
        (
            "HEXPIRE h 10 FIELDS",
            "-ERR wrong number of arguments for 'hexpire' command\r\n",
        ),
        (
            "HTTL h FIELDS x a",
            "-ERR Number of fields must be a positive integer\r\n",
        ),
        (
            "HTTL h FIELD 1 a",
            "-ERR Mandatory argument FIELDS is missing or not at the right position\r\n",
        ),
        (
            "HPERSIST h FIELDS 3 a",
            "-ERR The `numfields` parameter must match the number of arguments\r\n",
        ),
        (
            "HGETEX h EX -5 FIELDS 1 a",
            "-ERR invalid expire time, must be >= 0\r\n",
        ),
        (
            "HGETEX h FOO FIELDS 1 a",
            "-ERR Mandatory argument FIELDS is missing or not at the right position\r\n",
        ),
        (
            "HGETDEL h FIELDS 0 a",
            "-ERR Number of fields must be a positive integer\r\n",
        ),
        (
            "HSETEX h FOO FIELDS 1 a b",
            "-ERR unknown argument: FOO\r\n",
        ),
        (
            "HSETEX h FNX FXX FIELDS 1 a b",
            "-ERR Only one of FXX or FNX arguments can be specified\r\n",
        ),
        (
            "HSETEX h EX 10 KEEPTTL FIELDS 1 a b",
            "-ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified\r\n",
        ),
        (
            "HSETEX h FNX FNX EX 1",
            "-ERR Only one of FXX or FNX arguments can be specified\r\n",
        ),
        (
            "HSETEX h KEEPTTL FXX EX 1",
            "-ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified\r\n",
        ),
        ("HSETEX h FIELDS 0 a b", "-ERR invalid number of fields\r\n"),
        (
            "HSETEX h FIELDS 2 a b",
            "-ERR wrong number of arguments for 'hsetex' command\r\n",
        ),
        (
            "HSETEX h FIELDS 1 a b c",
            "-ERR wrong number of arguments for 'hsetex' command\r\n",
        ),
        (
            "HSETEX h FNX FIELDS 1 a",
            "-ERR wrong number of arguments for 'hsetex' command\r\n",
        ),
        (
            "HSETEX h FNX PX FIELDS 1 a",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "HSETEX h EX -1 FIELDS 1 a b",
            "-ERR invalid expire time, must be >= 0\r\n",
        ),
    ];
    for (command, answer) in cases {
        say(&mut s, &format!("{command}\r\n"), answer).await;
    }
    say(&mut s, "HGETALL h\r\n", "*2\r\n$1\r\na\r\n$1\r\n1\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsetex_hgetex_and_hgetdel_follow_redis_8() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(&mut s, "HSETEX h FXX EX 100 FIELDS 1 a 1\r\n", ":0\r\n").await;
    say(&mut s, "EXISTS h\r\n", ":0\r\n").await;
    say(&mut s, "HSETEX h FNX EX 100 FIELDS 2 a 1 b 2\r\n", ":1\r\n").await;
    say(&mut s, "HSETEX h FNX EX 100 FIELDS 2 b 9 c 3\r\n", ":0\r\n").await;
    say(&mut s, "HGET h b\r\n", "$1\r\n2\r\n").await;
    say(&mut s, "HTTL h FIELDS 2 a b\r\n", "*2\r\n:100\r\n:100\r\n").await;
    say(&mut s, "HSETEX h FXX KEEPTTL FIELDS 1 a x\r\n", ":1\r\n").await;
    say(&mut s, "HTTL h FIELDS 1 a\r\n", "*1\r\n:100\r\n").await;
    say(&mut s, "HSETEX h FIELDS 1 a y\r\n", ":1\r\n").await;
    say(&mut s, "HTTL h FIELDS 1 a\r\n", "*1\r\n:-1\r\n").await;
    say(
        &mut s,
        "HSET h b z\r\nHTTL h FIELDS 1 b\r\n",
        ":0\r\n*1\r\n:-1\r\n",
    )
    .await;
    say(
        &mut s,
        "HSETEX h PXAT 4000000000000 FIELDS 1 c 3\r\n",
        ":1\r\n",
    )
    .await;
    say(
        &mut s,
        "HPEXPIRETIME h FIELDS 1 c\r\n",
        "*1\r\n:4000000000000\r\n",
    )
    .await;
    say(
        &mut s,
        "HINCRBY h n 1\r\nHEXPIRE h 50 FIELDS 1 n\r\nHINCRBY h n 1\r\n",
        ":1\r\n*1\r\n:1\r\n:2\r\n",
    )
    .await;
    say(&mut s, "HTTL h FIELDS 1 n\r\n", "*1\r\n:50\r\n").await;
    // HGETEX: the values, and the new TTL on the fields that exist.
    say(
        &mut s,
        "HGETEX h EX 70 FIELDS 3 a zz b\r\n",
        "*3\r\n$1\r\ny\r\n$-1\r\n$1\r\nz\r\n",
    )
    .await;
    say(
        &mut s,
        "HTTL h FIELDS 3 a zz b\r\n",
        "*3\r\n:70\r\n:-2\r\n:70\r\n",
    )
    .await;
    say(
        &mut s,
        "HGETEX h PERSIST FIELDS 1 a\r\n",
        "*1\r\n$1\r\ny\r\n",
    )
    .await;
    say(&mut s, "HTTL h FIELDS 1 a\r\n", "*1\r\n:-1\r\n").await;
    say(
        &mut s,
        "HGETEX h FIELDS 1 b\r\nHTTL h FIELDS 1 b\r\n",
        "*1\r\n$1\r\nz\r\n*1\r\n:70\r\n",
    )
    .await;
    say(
        &mut s,
        "HGETEX h PX 0 FIELDS 1 b\r\nHEXISTS h b\r\n",
        "*1\r\n$1\r\nz\r\n:0\r\n",
    )
    .await;
    say(
        &mut s,
        "HGETEX nope EX 10 FIELDS 2 a b\r\n",
        "*2\r\n$-1\r\n$-1\r\n",
    )
    .await;
    // HGETDEL: the values, each field gone, the hash with its last one.
    say(
        &mut s,
        "HGETDEL h FIELDS 3 a a zz\r\n",
        "*3\r\n$1\r\ny\r\n$-1\r\n$-1\r\n",
    )
    .await;
    say(
        &mut s,
        "HGETDEL h FIELDS 2 c n\r\n",
        "*2\r\n$1\r\n3\r\n$1\r\n2\r\n",
    )
    .await;
    say(&mut s, "EXISTS h\r\n", ":0\r\n").await;
    // A deadline already past: set, then gone, and so is the new hash.
    say(
        &mut s,
        "HSETEX g EXAT 1 FIELDS 1 a 1\r\nEXISTS g\r\n",
        ":1\r\n:0\r\n",
    )
    .await;
    say(&mut s, "HGETDEL nope FIELDS 1 a\r\n", "*1\r\n$-1\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hlen_is_exact_after_expiry_without_a_read_and_the_last_field_takes_the_hash() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // One hash per user, a field per device's session.
    say(
        &mut s,
        "HSETEX user:1 PX 300 FIELDS 2 laptop s1 phone s2\r\nHSET user:1 tv s3\r\n",
        ":1\r\n:1\r\n",
    )
    .await;
    say(
        &mut s,
        "HSETEX user:2 PX 300 FIELDS 1 phone s4\r\n",
        ":1\r\n",
    )
    .await;
    say(&mut s, "HLEN user:1\r\nDBSIZE\r\n", ":3\r\n:2\r\n").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Nothing has read either hash since the deadline.
    say(&mut s, "HLEN user:1\r\n", ":1\r\n").await;
    say(
        &mut s,
        "HGETALL user:1\r\n",
        "*2\r\n$2\r\ntv\r\n$2\r\ns3\r\n",
    )
    .await;
    say(
        &mut s,
        "HSCAN user:1 0\r\n",
        "*2\r\n$1\r\n0\r\n*2\r\n$2\r\ntv\r\n$2\r\ns3\r\n",
    )
    .await;
    say(
        &mut s,
        "HRANDFIELD user:1 -3\r\n",
        "*3\r\n$2\r\ntv\r\n$2\r\ntv\r\n$2\r\ntv\r\n",
    )
    .await;
    // The expiry cycle removes user:2 within a second of its deadline:
    // DBSIZE counts what is held, reclaimed or not.
    let started = std::time::Instant::now();
    loop {
        if reply(&mut s, "DBSIZE\r\n").await == redis::Value::Int(1) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "user:2 still held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    say(
        &mut s,
        "EXISTS user:2\r\nTYPE user:2\r\n",
        ":0\r\n+none\r\n",
    )
    .await;
    say(&mut s, "TYPE user:1\r\n", "+hash\r\n").await;
    daemon.stop().await;
}
