//! The differential test: the same command scripts run against a real
//! `redis-server` (started on a free port; the test fails, never skips,
//! without it: `apt-get install redis-server`) and against the daemon's
//! RESP listener, and the raw replies must match byte for byte.
//!
//! A script line is a command, split on spaces, optionally after a marker:
//! - `~ ` compares an array reply as a multiset (KEYS: Redis's order is
//!   its hash table's);
//! - `? ` compares only the reply's type (values that depend on timing);
//! - `# ` compares only an array's or set's header, its type and length
//!   (random picks: SPOP, SRANDMEMBER);
//! - `sleep <ms>` waits on both sides;
//! - `scanall <options>` runs SCAN from cursor 0 to completion with those
//!   options and compares the set of keys returned; `sscanall <key>
//!   <options>` does the same with SSCAN.
//!
//! Each script starts from an empty database (FLUSHALL on both); one
//! switches to RESP3 with HELLO 3 and back.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use sessiond_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Daemon;

const SCRIPTS: &[&[&str]] = &[
    // SET and its options.
    &[
        "SET k v1 NX",
        "SET k v2 NX",
        "SET k v3 XX GET",
        "SET missing v XX",
        "SET k v4 NX GET",
        "GET k",
        "SET k v PX 5000",
        "SET k w KEEPTTL",
        "? PTTL k",
        "SET k v EX 1 EX 20",
        "TTL k",
        "SET k v EXAT 1",
        "EXISTS k",
        "SET k v PXAT 1 GET",
        "SET k v NX XX",
        "SET k v EX 1 PX 2",
        "SET k v KEEPTTL EX 1",
        "SET k v EX",
        "SET k v PERSIST",
        "SET k v FOO",
        "SET k v EX 0",
        "SET k v PX -1",
        "SET k v EXAT 0",
        "SET k v EX 9999999999999999",
        "SET k v EX abc",
        "SET k",
        "SETNX k x",
        "SETNX fresh x",
        "SETNX fresh",
        "GETSET fresh y",
        "GETSET none y",
        "GETDEL fresh",
        "GETDEL fresh",
        "GETDEL a b",
        "SETEX s 100 v",
        "TTL s",
        "SETEX s 0 v",
        "PSETEX s -5 v",
    ],
    // GETEX, MGET, MSET, EXISTS, TYPE.
    &[
        "SET g v",
        "GETEX g",
        "GETEX g EX 100",
        "TTL g",
        "GETEX g PERSIST",
        "TTL g",
        "GETEX g PERSIST EX 1",
        "GETEX g FOO",
        "GETEX g EX 0",
        "GETEX g EX -1",
        "GETEX missing EX 0",
        "GETEX g PXAT 1",
        "EXISTS g",
        "MSET a 1 b 2",
        "MGET a nope b",
        "MSET a 1 b",
        "MSET a",
        "EXISTS a a b nope",
        "EXISTS",
        "TYPE a",
        "TYPE nope",
        "SADD set m",
        "TYPE set",
        "MGET a set",
    ],
    // EXPIRE and friends, with NX, XX, GT, LT.
    &[
        "SET k v",
        "EXPIRE k 100 XX",
        "EXPIRE k 100 GT",
        "EXPIRE k 100 LT",
        "EXPIRE k 50 NX",
        "TTL k",
        "PEXPIRE k 200000 GT",
        "TTL k",
        "EXPIRE k 300 nx nx",
        "EXPIRE k 10 NX XX",
        "EXPIRE k 10 GT LT",
        "EXPIRE k 10 FOO",
        "EXPIRE k abc",
        "EXPIRE k abc FOO",
        "EXPIRE k 9999999999999999",
        "EXPIRE nope 10",
        "PERSIST k",
        "PERSIST k",
        "PERSIST nope",
        "TTL k",
        "EXPIREAT k 4000000000",
        "? TTL k",
        "PEXPIREAT nope 1",
        "EXPIRE k 0",
        "EXISTS k",
        "SET k v",
        "EXPIRE k -5",
        "EXISTS k",
        "SET k v",
        "PEXPIREAT k 1",
        "EXISTS k",
        "EXPIRE k",
    ],
    // Expiry with waits.
    &[
        "SET short v PX 300",
        "SADD shortset m",
        "PEXPIRE shortset 300",
        "SET long v EX 100",
        "sleep 450",
        "GET short",
        "SMEMBERS shortset",
        "EXISTS short shortset long",
        "TTL short",
        "? TTL long",
        "DBSIZE",
    ],
    // RENAME.
    &[
        "SET a 1",
        "EXPIRE a 100",
        "RENAME a b",
        "EXISTS a",
        "GET b",
        "TTL b",
        "SET c 3",
        "RENAME b c",
        "GET c",
        "RENAME nope x",
        "RENAME c c",
        "RENAME nope nope",
        "SADD s m",
        "RENAME s t",
        "SMEMBERS t",
        "RENAME a",
    ],
    // Sets and WRONGTYPE.
    &[
        "SADD s b a b",
        "SADD s c",
        "SCARD s",
        "SISMEMBER s a",
        "SISMEMBER s z",
        "SREM s a z",
        "SCARD s",
        "SADD s",
        "SREM s",
        "SISMEMBER s",
        "SMEMBERS nope",
        "SCARD nope",
        "SISMEMBER nope a",
        "SREM nope a",
        "GET s",
        "INCR s",
        "GETSET s x",
        "GETDEL s",
        "GETEX s",
        "SET s x GET",
        "SET str v",
        "SADD str a",
        "SMEMBERS str",
        "SCARD str",
        "SISMEMBER str a",
        "SREM str a",
        "SREM s b c",
        "EXISTS s",
        "SADD s x",
        "SET s now-a-string",
        "GET s",
    ],
    // APPEND, STRLEN, GETRANGE, SUBSTR, SETRANGE.
    &[
        "APPEND a hello",
        "APPEND a _world",
        "GET a",
        "STRLEN a",
        "STRLEN nope",
        "GETRANGE a 0 4",
        "GETRANGE a -5 -1",
        "GETRANGE a 3 1",
        "GETRANGE a -1 -5",
        "GETRANGE a -100 100",
        "GETRANGE a 5 5",
        "GETRANGE a 100 200",
        "GETRANGE a 0 -100",
        "GETRANGE nope 0 -1",
        "GETRANGE a x 1",
        "GETRANGE a 0",
        "SUBSTR a 1 3",
        "SETRANGE a 6 W",
        "GET a",
        "SETRANGE a 20 !",
        "GET a",
        "STRLEN a",
        "SETRANGE fresh 3 abc",
        "GET fresh",
        "SETRANGE empty 5 ",
        "EXISTS empty",
        "SETRANGE a 0 ",
        "SETRANGE a -1 x",
        "SETRANGE a x y",
        "SETRANGE a 536870912 x",
        "SETRANGE a 536870911 ",
        "SET n 12",
        "EXPIRE n 100",
        "APPEND n 3",
        "TTL n",
        "INCR n",
        "SADD s m",
        "APPEND s x",
        "STRLEN s",
        "GETRANGE s 0 1",
        "GETRANGE s -1 -5",
        "SETRANGE s 0 x",
        "SETRANGE s 0 ",
        "APPEND",
    ],
    // INCRBYFLOAT: long double sums printed as Redis prints them.
    &[
        "SET f 10.50",
        "INCRBYFLOAT f 0.1",
        "INCRBYFLOAT f -5",
        "SET f 5.0e3",
        "INCRBYFLOAT f 2.0e2",
        "SET f 5000",
        "INCRBYFLOAT f 0.1",
        "SET f 0.1",
        "INCRBYFLOAT f 0.2",
        "INCRBYFLOAT new 3.0e3",
        "INCRBYFLOAT new -3000",
        "INCRBYFLOAT new -0.0001",
        "INCRBYFLOAT new 1e300",
        "SET f 123456.789",
        "INCRBYFLOAT f 1.1",
        "INCRBYFLOAT f 0x10",
        "INCRBYFLOAT f abc",
        "INCRBYFLOAT f 1e5000",
        "INCRBYFLOAT f inf",
        "INCRBYFLOAT f -inf",
        "INCRBYFLOAT f nan",
        "INCRBYFLOAT f 1.",
        "INCRBYFLOAT f .5",
        "INCRBYFLOAT f 1e-5000",
        "INCRBYFLOAT f 1.5e-320",
        "SET word hello",
        "INCRBYFLOAT word 1",
        "SET big 1e4000",
        "INCRBYFLOAT big 1e4000",
        "INCRBYFLOAT big 1e4000",
        "SET t 1",
        "EXPIRE t 100",
        "INCRBYFLOAT t 1.5",
        "TTL t",
        "GET t",
        "SADD s m",
        "INCRBYFLOAT s 1",
        "INCRBYFLOAT f",
    ],
    // MSETNX, RENAMENX, COPY.
    &[
        "MSETNX a 1 b 2",
        "MGET a b",
        "MSETNX b 3 c 4",
        "EXISTS c",
        "MSETNX c 1 c 2",
        "GET c",
        "MSETNX d",
        "MSETNX d 1 e",
        "SADD s m",
        "MSETNX s 1 z 2",
        "EXISTS z",
        "RENAMENX a x",
        "GET x",
        "RENAMENX x b",
        "RENAMENX x x",
        "RENAMENX nope y",
        "RENAMENX nope nope",
        "EXPIRE x 100",
        "COPY x y",
        "GET y",
        "TTL y",
        "COPY x b",
        "COPY x b REPLACE",
        "GET b",
        "COPY x x",
        "COPY nope y",
        "COPY x y DB 0 REPLACE",
        "COPY x y FOO",
        "COPY x y DB",
        "COPY x y DB abc",
        "COPY s s2",
        "SMEMBERS s2",
        "SADD s n",
        "SMEMBERS s2",
        "COPY s x REPLACE",
        "TYPE x",
        "TTL x",
        "RENAMENX s2",
    ],
    // TOUCH, EXPIRETIME, PEXPIRETIME, OBJECT, MEMORY.
    &[
        "SET a 1",
        "SET b 2",
        "TOUCH a b nope a",
        "TOUCH",
        "EXPIRETIME a",
        "PEXPIRETIME nope",
        "EXPIREAT a 4000000000",
        "EXPIRETIME a",
        "PEXPIRETIME a",
        "PEXPIREAT b 4000000000123",
        "EXPIRETIME b",
        "PEXPIRETIME b",
        "PEXPIREAT b 4000000000623",
        "EXPIRETIME b",
        "EXPIRETIME a b",
        "SET int 12345",
        "SET small 1234",
        "SET neg -12",
        "SET zero 0123",
        "SET word hello",
        "SET long aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "SET e44 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "SET e45 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "OBJECT ENCODING int",
        "OBJECT ENCODING neg",
        "OBJECT ENCODING zero",
        "OBJECT ENCODING word",
        "OBJECT ENCODING long",
        "OBJECT ENCODING e44",
        "OBJECT ENCODING e45",
        "OBJECT ENCODING nope",
        "OBJECT REFCOUNT small",
        "OBJECT REFCOUNT int",
        "OBJECT REFCOUNT word",
        "OBJECT REFCOUNT nope",
        "OBJECT IDLETIME word",
        "OBJECT IDLETIME nope",
        "OBJECT FREQ word",
        "OBJECT FREQ nope",
        "SADD ints 1 2 3",
        "SADD words 1 a",
        "OBJECT ENCODING ints",
        "OBJECT ENCODING words",
        "OBJECT ENCODING",
        "OBJECT FOO a",
        "OBJECT ENCODING a b",
        "OBJECT HELP",
        "OBJECT help x",
        "? MEMORY USAGE word",
        "? MEMORY USAGE words SAMPLES 0",
        "MEMORY USAGE nope",
        "MEMORY USAGE word SAMPLES",
        "MEMORY USAGE word SAMPLES -1",
        "MEMORY USAGE word SAMPLES x",
        "MEMORY USAGE word FOO 1",
        "MEMORY HELP",
        "MEMORY FOO",
        "MEMORY",
        "RANDOMKEY x",
    ],
    // RANDOMKEY on an empty store, and on one key.
    &[
        "RANDOMKEY",
        "SET only v",
        "RANDOMKEY",
        "SET short v PX 100",
        "DEL only",
        "sleep 200",
        "RANDOMKEY",
    ],
    // SMISMEMBER, SMOVE, SPOP and SRANDMEMBER (random replies compared by
    // size), SSCAN.
    &[
        "SADD s a b c",
        "SMISMEMBER s a z c",
        "SMISMEMBER nope a",
        "SMISMEMBER s",
        "SMOVE s t a",
        "SMOVE s t a",
        "SMEMBERS t",
        "SMOVE s s b",
        "SMOVE s s z",
        "SMOVE nope t a",
        "SET str v",
        "SMOVE nope str a",
        "SMOVE s str b",
        "SMOVE str s b",
        "SMOVE t s a",
        "EXISTS t",
        "SMOVE s new b",
        "SMEMBERS new",
        "SADD p 1 2 3 4 5",
        "# SPOP p 2",
        "SCARD p",
        "# SPOP p 10",
        "EXISTS p",
        "SPOP p",
        "SPOP p 0",
        "SPOP p 5",
        "SADD p x",
        "SPOP p",
        "EXISTS p",
        "SADD p x",
        "SPOP p 0",
        "SPOP p -1",
        "SPOP p x",
        "SPOP p 1 2",
        "SPOP str",
        "SPOP str 1",
        "SADD r a b c d e",
        "# SRANDMEMBER r 3",
        "# SRANDMEMBER r 10",
        "# SRANDMEMBER r -10",
        "SRANDMEMBER r 0",
        "SRANDMEMBER nope",
        "SRANDMEMBER nope 5",
        "SRANDMEMBER nope -5",
        "SRANDMEMBER r x",
        "SRANDMEMBER r 1 2",
        "SRANDMEMBER r -9223372036854775808",
        "SRANDMEMBER str",
        "SRANDMEMBER str 1",
        "? SRANDMEMBER r",
        "SCARD r",
        "SADD one x",
        "SRANDMEMBER one",
        "SRANDMEMBER one -3",
        "SPOP one",
        "SSCAN nope 0",
        "SSCAN nope 0 FOO",
        "SSCAN nope abc",
        "SSCAN str 0",
        "SSCAN r 0 COUNT 0",
        "SSCAN r 0 COUNT x",
        "SSCAN r 0 MATCH",
        "SSCAN r 0 TYPE string",
        "sscanall r",
        "sscanall r COUNT 1",
        "sscanall r MATCH [a-c]",
        "SSCAN",
    ],
    // SINTER, SUNION, SDIFF, their STORE forms, SINTERCARD.
    &[
        "SADD a 1 2 3 4 x",
        "SADD b 2 3 5 x",
        "SADD c 3 x y",
        "~ SINTER a b c",
        "~ SINTER a b",
        "SINTER a nope",
        "~ SINTER a a",
        "~ SUNION a b c",
        "~ SUNION a nope",
        "SUNION nope",
        "~ SDIFF a b",
        "~ SDIFF a b c",
        "SDIFF a a",
        "~ SDIFF a nope",
        "SDIFF nope a",
        "SET str v",
        "SINTER a str",
        "SINTER nope str",
        "SUNION a str",
        "SDIFF str a",
        "SDIFF nope str",
        "SINTERSTORE d a b",
        "~ SMEMBERS d",
        "SUNIONSTORE d a b c",
        "SCARD d",
        "SDIFFSTORE d a b c",
        "~ SMEMBERS d",
        "EXPIRE d 100",
        "SINTERSTORE d a b",
        "TTL d",
        "SINTERSTORE d a nope",
        "EXISTS d",
        "SUNIONSTORE str a",
        "TYPE str",
        "SDIFFSTORE a a",
        "EXISTS a",
        "SADD a 1 2",
        "SUNIONSTORE a a b",
        "SCARD a",
        "SINTERSTORE d str a",
        "SINTERSTORE d",
        "SINTERCARD 2 a b",
        "SINTERCARD 2 a b LIMIT 2",
        "SINTERCARD 2 a b LIMIT 0",
        "SINTERCARD 1 nope",
        "SINTERCARD 0 a",
        "SINTERCARD x a",
        "SINTERCARD -1 a",
        "SINTERCARD 3 a b",
        "SINTERCARD 2 a b LIMIT -1",
        "SINTERCARD 2 a b LIMIT x",
        "SINTERCARD 2 a b LIMIT",
        "SINTERCARD 2 a b FOO 1",
        "SINTERCARD 2 a str",
        "SINTER",
    ],
    // RESP3: SPOP and the algebra answer sets, SRANDMEMBER an array.
    &[
        "? HELLO 3",
        "SADD a 1 2",
        "SADD b 2 3",
        "SINTER a b",
        "SINTER a nope",
        "SPOP nope 2",
        "SPOP a 0",
        "SRANDMEMBER nope 2",
        "SRANDMEMBER a 0",
        "OBJECT ENCODING nope",
        "MEMORY USAGE nope",
        "? HELLO 2",
    ],
    // KEYS, SCAN, DBSIZE, FLUSHDB, FLUSHALL.
    &[
        "MSET user:1 a user:2 b user:10 c session:1 d h[a]llo e",
        "SADD owners:1 x",
        "DBSIZE",
        "~ KEYS *",
        "~ KEYS user:?",
        "~ KEYS user:*",
        "~ KEYS [su]*:1",
        "~ KEYS [^u]*",
        "~ KEYS user:[0-1]*",
        "~ KEYS h\\[a\\]llo",
        "~ KEYS nothing*",
        "KEYS",
        "scanall",
        "scanall COUNT 1",
        "scanall MATCH user:* COUNT 2",
        "scanall TYPE set",
        "scanall TYPE string MATCH *:1",
        "SCAN abc",
        "SCAN 0 COUNT 0",
        "SCAN 0 COUNT abc",
        "SCAN 0 MATCH",
        "SCAN 0 FOO bar",
        "FLUSHDB",
        "DBSIZE",
        "FLUSHALL x",
        "FLUSHALL ASYNC",
        "FLUSHDB SYNC",
        "DBSIZE x",
        "TIME x",
        "? TIME",
        "DBSIZE",
    ],
    // RESP3: nulls, and SMEMBERS as a set.
    &[
        "? HELLO 3",
        "SADD s a",
        "SMEMBERS s",
        "SMEMBERS nope",
        "GET nope",
        "MGET nope s",
        "SET k v NX",
        "SET k v NX",
        "SET k w XX GET",
        "TYPE s",
        "SCAN 0 TYPE set",
        "GET s",
        "? HELLO 2",
        "GET nope",
    ],
    // A node alone is a master without replicas.
    &[
        "ROLE",
        "ROLE x",
        "INFO cluster",
        "? HELLO 3",
        "ROLE",
        "? HELLO 2",
    ],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_match_redis_server_byte_for_byte() {
    let redis = RedisServer::start();
    let daemon = Daemon::start(ServerConfig {
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let ours = daemon.resp_addr.expect("a RESP listener");
    let mut theirs = Conn::connect(&format!("127.0.0.1:{}", redis.port)).await;
    let mut ours = Conn::connect(&ours.to_string()).await;
    let mut mismatches = Vec::new();
    for (n, script) in SCRIPTS.iter().enumerate() {
        for conn in [&mut theirs, &mut ours] {
            assert_eq!(conn.call(&["FLUSHALL"]).await, b"+OK\r\n");
        }
        for line in *script {
            let (expected, got) = run_line(line, &mut theirs, &mut ours).await;
            if expected != got {
                mismatches.push(format!(
                    "script {n}, {line:?}:\n  redis:    {:?}\n  sessiond: {:?}",
                    String::from_utf8_lossy(&expected),
                    String::from_utf8_lossy(&got)
                ));
            }
        }
    }
    daemon.stop().await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// INCRBYFLOAT on many generated values (integers, decimals of every
/// length, exponents up to the long double's range, hexadecimal floats),
/// against redis-server: the 80-bit arithmetic and its printing must
/// match to the last digit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incrbyfloat_matches_redis_server_on_generated_values() {
    let redis = RedisServer::start();
    let daemon = Daemon::start(ServerConfig {
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let mut theirs = Conn::connect(&format!("127.0.0.1:{}", redis.port)).await;
    let mut ours = Conn::connect(&daemon.resp_addr.unwrap().to_string()).await;
    let mut state = 0x5eed_u64;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut mismatches = Vec::new();
    for _ in 0..400 {
        let (a, b) = (float_text(&mut next), float_text(&mut next));
        let mut replies = Vec::new();
        for conn in [&mut theirs, &mut ours] {
            conn.call(&["SET", "f", &a]).await;
            replies.push(conn.call(&["INCRBYFLOAT", "f", &b]).await);
        }
        if replies[0] != replies[1] {
            mismatches.push(format!(
                "{a} + {b}: redis {:?}, sessiond {:?}",
                String::from_utf8_lossy(&replies[0]),
                String::from_utf8_lossy(&replies[1])
            ));
        }
    }
    daemon.stop().await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// A float's text of one of several shapes, from `next(n)` (a number
/// below `n`).
fn float_text(next: &mut impl FnMut(u64) -> u64) -> String {
    let sign = if next(2) == 0 { "" } else { "-" };
    match next(7) {
        0 => format!("{sign}{}", next(2_000_000)),
        1 => format!(
            "{sign}{}.{:0width$}",
            next(1_000_000),
            next(1_000_000),
            width = 6
        ),
        2 => format!(
            "{sign}{}.{}e{}",
            next(10),
            next(1 << 40),
            next(9_800) as i64 - 4_900
        ),
        3 => format!(
            "{sign}{}{:015}.{:015}",
            next(1 << 30),
            next(1 << 40),
            next(1 << 40)
        ),
        4 => format!("{sign}0.{:020}{}", next(1 << 50), next(1 << 30)),
        5 => format!(
            "{sign}0x{:x}.{:x}p{}",
            next(1 << 40),
            next(1 << 20),
            next(200) as i64 - 100
        ),
        _ => format!("{sign}{}e{}", next(1 << 60), next(80) as i64 - 40),
    }
}

/// The command table's facts against Redis's own: for every command the
/// daemon lists that Redis has too, COMMAND INFO's name, arity, flags and
/// key positions (its first six fields) are the same; commands Redis has
/// only in sentinel mode must be unknown to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_info_matches_redis_server() {
    let redis = RedisServer::start();
    let daemon = Daemon::start(ServerConfig {
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let mut theirs = Conn::connect(&format!("127.0.0.1:{}", redis.port)).await;
    let mut ours = Conn::connect(&daemon.resp_addr.unwrap().to_string()).await;
    let parse = |reply: Vec<u8>| redis::parse_redis_value(&reply).expect("a valid reply");
    let redis::Value::Array(names) = parse(ours.call(&["COMMAND", "LIST"]).await) else {
        panic!("COMMAND LIST is an array")
    };
    let mut compared = 0;
    for name in names {
        let redis::Value::BulkString(name) = name else {
            panic!("a name is a bulk string")
        };
        let name = String::from_utf8(name).unwrap();
        // Our own commands have a dot in their name (SESSION.*, NODE.*,
        // COUNTER.INCR).
        if name.contains('.') {
            continue;
        }
        if SENTINEL_MODE_ONLY.contains(&name.as_str()) {
            // Outside sentinel mode redis-server does not know it.
            let theirs = parse(theirs.call(&["COMMAND", "INFO", &name]).await);
            assert_eq!(
                theirs,
                redis::Value::Array(vec![redis::Value::Nil]),
                "{name}"
            );
            continue;
        }
        let head = |info: redis::Value| match info {
            redis::Value::Array(mut entries) => match entries.remove(0) {
                redis::Value::Array(mut fields) => {
                    fields.truncate(6);
                    fields
                }
                other => panic!("no entry for {name}: {other:?}"),
            },
            other => panic!("COMMAND INFO is an array: {other:?}"),
        };
        let expected = head(parse(theirs.call(&["COMMAND", "INFO", &name]).await));
        let got = head(parse(ours.call(&["COMMAND", "INFO", &name]).await));
        assert_eq!(got, expected, "COMMAND INFO {name}");
        compared += 1;
    }
    assert!(compared > 40, "only {compared} commands compared");
    daemon.stop().await;
}

/// Commands a plain redis-server lacks (it has them in sentinel mode
/// only), which every node of ours answers: their flags are ours to pick
/// (`table.rs` says why).
const SENTINEL_MODE_ONLY: &[&str] = &["sentinel"];

/// Runs one script line on both sides; returns what to compare.
async fn run_line(line: &str, theirs: &mut Conn, ours: &mut Conn) -> (Vec<u8>, Vec<u8>) {
    if let Some(ms) = line.strip_prefix("sleep ") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
        return (Vec::new(), Vec::new());
    }
    if let Some(options) = line.strip_prefix("sscanall ") {
        let options: Vec<&str> = options.split_whitespace().collect();
        return (
            theirs.scan_all("SSCAN", &options).await,
            ours.scan_all("SSCAN", &options).await,
        );
    }
    if let Some(options) = line.strip_prefix("scanall") {
        let options: Vec<&str> = options.split_whitespace().collect();
        return (
            theirs.scan_all("SCAN", &options).await,
            ours.scan_all("SCAN", &options).await,
        );
    }
    let (mode, command) = match line.split_at_checked(2) {
        Some(("~ ", rest)) => (Mode::Unordered, rest),
        Some(("? ", rest)) => (Mode::TypeOnly, rest),
        Some(("# ", rest)) => (Mode::Header, rest),
        _ => (Mode::Exact, line),
    };
    let args: Vec<&str> = command.split(' ').collect();
    let expected = theirs.call(&args).await;
    let got = ours.call(&args).await;
    (mode.view(&expected), mode.view(&got))
}

enum Mode {
    Exact,
    Unordered,
    TypeOnly,
    Header,
}

impl Mode {
    fn view(&self, reply: &[u8]) -> Vec<u8> {
        match self {
            Mode::Exact => reply.to_vec(),
            Mode::TypeOnly => reply[..1].to_vec(),
            Mode::Header => split_array(reply).0,
            Mode::Unordered => {
                let (header, items) = split_array(reply);
                let mut items: Vec<Vec<u8>> = items;
                items.sort();
                [header, items.concat()].concat()
            }
        }
    }
}

/// An array reply's header line and its items' raw bytes.
fn split_array(reply: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut buf = BytesMut::from(reply);
    let header_len = find_crlf(&buf, 0).expect("a header") + 2;
    let header = buf.split_to(header_len).to_vec();
    let mut items = Vec::new();
    while let Some(len) = reply_len(&buf, 0) {
        items.push(buf.split_to(len).to_vec());
    }
    (header, items)
}

/// A connection that sends RESP arrays and reads whole raw replies.
struct Conn {
    stream: TcpStream,
    buffer: BytesMut,
}

impl Conn {
    async fn connect(addr: &str) -> Conn {
        Conn {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buffer: BytesMut::new(),
        }
    }

    async fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.stream.write_all(request.as_bytes()).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(len) = reply_len(&self.buffer, 0) {
                return self.buffer.split_to(len).to_vec();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let read = tokio::time::timeout(left, self.stream.read_buf(&mut self.buffer))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(read > 0, "connection closed after {args:?}");
        }
    }

    /// SCAN (or SSCAN, whose first option is the key) from 0 until the
    /// cursor is 0 again; the sorted set of keys, as text, or the first
    /// error reply.
    async fn scan_all(&mut self, command: &str, options: &[&str]) -> Vec<u8> {
        let mut cursor = "0".to_string();
        let mut keys = BTreeSet::new();
        let (key, options) = match command {
            "SSCAN" => (&options[..1], &options[1..]),
            _ => (&[][..], options),
        };
        for _ in 0..10_000 {
            let args: Vec<&str> = [&[command], key, &[cursor.as_str()], options].concat();
            let reply = self.call(&args).await;
            if reply[0] == b'-' {
                return reply;
            }
            let (_, parts) = split_array(&reply);
            cursor = String::from_utf8(bulk_text(&parts[0])).unwrap();
            let (_, found) = split_array(&parts[1]);
            keys.extend(found.iter().map(|k| bulk_text(k)));
            if cursor == "0" {
                return keys.into_iter().collect::<Vec<_>>().join(&b' ');
            }
        }
        panic!("SCAN {options:?} did not finish");
    }
}

fn bulk_text(reply: &[u8]) -> Vec<u8> {
    let start = find_crlf(reply, 0).unwrap() + 2;
    reply[start..reply.len() - 2].to_vec()
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

/// The length of the complete reply at `at`, if it has all arrived: the
/// RESP2 types, and RESP3's null, set and map.
fn reply_len(buf: &[u8], at: usize) -> Option<usize> {
    let end = find_crlf(buf, at)?;
    let line = std::str::from_utf8(&buf[at + 1..end]).ok()?;
    let after = end + 2 - at;
    match buf.get(at)? {
        b'+' | b'-' | b':' | b'_' => Some(after),
        b'$' => {
            let n: i64 = line.parse().ok()?;
            let total = after + if n < 0 { 0 } else { n as usize + 2 };
            (buf.len() - at >= total).then_some(total)
        }
        b'*' | b'~' | b'%' => {
            let n: i64 = line.parse().ok()?;
            // A map's count is of pairs.
            let n = if buf[at] == b'%' { 2 * n } else { n };
            let mut total = after;
            for _ in 0..n.max(0) {
                total += reply_len(buf, at + total)?;
            }
            Some(total)
        }
        other => panic!("unexpected reply type {:?}", *other as char),
    }
}

/// A `redis-server` without persistence on a free port, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| {
                    panic!(
                        "cannot start redis-server ({error}): the differential test needs it; \
                         install it with `apt-get install redis-server`"
                    )
                });
            let mut server = RedisServer { child, port };
            if server.ready() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Whether it answers PING within 10 s; false if it exited.
    fn ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let mut reply = [0; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn reply_lengths() {
    assert_eq!(reply_len(b"+OK\r\n", 0), Some(5));
    assert_eq!(reply_len(b"$-1\r\n", 0), Some(5));
    assert_eq!(reply_len(b"$2\r\nhi\r\n", 0), Some(8));
    assert_eq!(reply_len(b"$2\r\nh", 0), None);
    assert_eq!(reply_len(b"*2\r\n:1\r\n$1\r\na\r\n", 0), Some(15));
    assert_eq!(reply_len(b"*2\r\n:1\r\n", 0), None);
    let (_, items) = split_array(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n");
    assert_eq!(items.len(), 2);
}
