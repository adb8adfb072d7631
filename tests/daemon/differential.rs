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
//! - `xN ` marks a command answered N times (SUBSCRIBE a b: twice);
//! - `scanall <options>` runs SCAN from cursor 0 to completion with those
//!   options and compares the set of keys returned; `sscanall <key>
//!   <options>` does the same with SSCAN;
//! - `& ` sends the command on a second connection (another client: a
//!   write that a WATCH of the first must see).
//! - `% ` compares an array or map of field-value pairs as a multiset of
//!   pairs (HGETALL: Redis's order is its listpack's or hash table's);
//! - `hfill <key> <n>` sends one HSET of fields `f0`..`f<n-1>` to both;
//! - `hscanall <key> <options>` runs HSCAN to completion and compares the
//!   set of field-value pairs returned.
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

/// The scripts and tests of the rest of strings, keys and sets.
#[path = "differential_strs.rs"]
mod strs;

/// Keyspace notifications against redis-server's.
#[path = "differential_notify.rs"]
mod notify;

/// Scripting (EVAL, SCRIPT) against redis-server, and BUSY and SCRIPT
/// KILL against the daemon.
#[path = "differential_scripts.rs"]
mod scripts;

/// The session event stream against a Redis stream of the same entries.
#[path = "differential_streams.rs"]
mod streams;

/// MONITOR's lines against redis-server's.
#[path = "differential_monitor.rs"]
mod monitor;

const SCRIPTS: &[&[&str]] = &[
    // WATCH sees the writes of the multi-key and string-editing commands
    // of another client (they change keys through other engine paths).
    &[
        "SET w 1",
        "WATCH w",
        "& APPEND w x",
        "MULTI",
        "GET w",
        "EXEC",
        "WATCH w",
        "& MSETNX fresh 1 w2 2",
        "MULTI",
        "GET w",
        "EXEC",
        "WATCH w2",
        "& RENAME w w2",
        "MULTI",
        "GET w2",
        "EXEC",
        "SADD s a",
        "WATCH t",
        "& SMOVE s t a",
        "MULTI",
        "SMEMBERS t",
        "EXEC",
        "WATCH c",
        "& COPY t c",
        "MULTI",
        "SMEMBERS c",
        "EXEC",
        "WATCH t",
        "& SPOP t",
        "MULTI",
        "EXISTS t",
        "EXEC",
        "WATCH f",
        "& INCRBYFLOAT f 1.5",
        "MULTI",
        "GET f",
        "EXEC",
    ],
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
    // MULTI and EXEC: queued replies, run-time errors in the array, and
    // the errors of misplaced transaction commands.
    &[
        "MULTI",
        "SET k 1",
        "INCR k",
        "SADD k m",
        "GET k",
        "INCRBY k notanumber",
        "PING",
        "UNWATCH",
        "EXEC",
        "EXEC",
        "DISCARD",
        "MULTI",
        "MULTI",
        "WATCH k",
        "GET k",
        "EXEC",
        "EXEC x",
        "MULTI",
        "EXEC x",
        "EXEC",
        "MULTI",
        "EXEC",
        "MULTI x",
        "DISCARD x",
        "WATCH",
        "UNWATCH x",
        "MULTI",
        "DEL k",
        "DISCARD",
        "GET k",
    ],
    // EXECABORT: a command refused while queueing dooms the transaction;
    // the rest are still queued, and nothing runs.
    &[
        "MULTI",
        "SET a 1",
        "NOSUCHCOMMAND x y",
        "GET",
        "SET b 2",
        "EXEC",
        "EXISTS a b",
        "MULTI",
        "SET a 1",
        "GET a b",
        "DISCARD",
        "EXISTS a",
        "MULTI",
        "EXEC",
    ],
    // WATCH: a change by this client or another aborts EXEC with the null
    // array; an unchanged key, UNWATCH, DISCARD and a missing key do not.
    &[
        "SET w 1",
        "WATCH w",
        "SET w 2",
        "MULTI",
        "GET w",
        "EXEC",
        "WATCH w",
        "MULTI",
        "GET w",
        "EXEC",
        "WATCH w nope",
        "& INCR w",
        "MULTI",
        "GET w",
        "EXEC",
        "WATCH w",
        "& SET other x",
        "& GET w",
        "MULTI",
        "SET w 10",
        "EXEC",
        "WATCH w",
        "& DEL w",
        "UNWATCH",
        "MULTI",
        "GET w",
        "EXEC",
        "WATCH nope",
        "& SET nope now",
        "MULTI",
        "EXEC",
        "WATCH nope2",
        "& DEL nope2",
        "MULTI",
        "PING",
        "EXEC",
        "WATCH w",
        "& SADD w m",
        "MULTI",
        "DISCARD",
        "MULTI",
        "PING",
        "EXEC",
        "WATCH s",
        "& SADD s a",
        "WATCH s",
        "MULTI",
        "EXEC",
        "WATCH k1 k2",
        "& RENAME s k2",
        "MULTI",
        "EXEC",
        "SET e v",
        "WATCH e",
        "& EXPIRE e 100",
        "MULTI",
        "EXEC",
        "WATCH e",
        "& PERSIST e",
        "MULTI",
        "EXEC",
        "WATCH e",
        "& FLUSHALL",
        "MULTI",
        "EXEC",
        "WATCH gone",
        "& FLUSHALL",
        "MULTI",
        "PING",
        "EXEC",
        "WATCH h",
        "& HSET h f v",
        "MULTI",
        "HGET h f",
        "EXEC",
        "WATCH h",
        "& HDEL h f",
        "MULTI",
        "EXISTS h",
        "EXEC",
        "MULTI",
        "HSET h a 1 b 2",
        "HINCRBY h a 5",
        "HGET h a",
        "HLEN h",
        "HINCRBY h b x",
        "EXEC",
    ],
    // WATCH and expiry: a watched key whose deadline passes counts as
    // changed; one already past its deadline when watched does not.
    &[
        "SET t v PX 500",
        "WATCH t",
        "sleep 700",
        "MULTI",
        "PING",
        "EXEC",
        "SET t v PX 500",
        "WATCH t",
        "sleep 700",
        "GET t",
        "MULTI",
        "PING",
        "EXEC",
        "SET t v PX 100",
        "sleep 200",
        "WATCH t",
        "MULTI",
        "PING",
        "EXEC",
    ],
    // RESP3: the null array of an aborted EXEC is a null, and the replies
    // inside EXEC are RESP3's.
    &[
        "? HELLO 3",
        "SET r 1",
        "WATCH r",
        "SET r 2",
        "MULTI",
        "GET r",
        "EXEC",
        "MULTI",
        "GET nope",
        "SADD s x",
        "SMEMBERS s",
        "EXEC",
        "MULTI",
        "NOSUCH",
        "EXEC",
        "? HELLO 2",
    ],
    // RESET leaves MULTI and forgets WATCH; QUIT is not queued.
    &[
        "SET z 1",
        "WATCH z",
        "MULTI",
        "SET z 2",
        "RESET",
        "EXEC",
        "GET z",
        "WATCH z",
        "RESET",
        "& SET z 3",
        "MULTI",
        "GET z",
        "EXEC",
        "MULTI",
        "AUTH x",
        "SELECT 0",
        "CLIENT SETNAME tx",
        "CLIENT GETNAME",
        "ECHO hi",
        "EXEC",
        "CLIENT GETNAME",
    ],
    // AUTH with no password configured: the one-argument form is an error,
    // the `default` user with any password is let in, another user is
    // refused (HELLO's AUTH too), and four arguments are a syntax error.
    // (HELLO's success is not compared: its reply holds the client id.)
    &[
        "AUTH x",
        "AUTH default anything",
        "AUTH bob x",
        "AUTH a b c",
        "AUTH",
        "HELLO 2 AUTH bob x",
        "PING",
    ],
    // CONFIG's errors, and GET of parameters both answer alike.
    &[
        "CONFIG SET nosuch 1",
        "CONFIG SET maxmemory abc",
        "CONFIG SET maxmemory-policy foo",
        "CONFIG SET hz 1 hz 2",
        "CONFIG SET timeout -1",
        "CONFIG SET timeout x nosuch 1",
        "CONFIG SET maxclients 5 timeout x",
        "CONFIG SET notify-keyspace-events Q",
        "CONFIG SET maxclients 0",
        "CONFIG SET appendonly maybe",
        "CONFIG SET appendfsync maybe",
        "CONFIG SET slowlog-log-slower-than x",
        "CONFIG SET slowlog-max-len -5",
        "CONFIG SET lfu-log-factor -1",
        "CONFIG SET databases 3",
        "CONFIG SET save 1",
        "CONFIG SET hz",
        "CONFIG SET",
        "CONFIG GET",
        "CONFIG FOO",
        "CONFIG SET maxmemory 0",
        "CONFIG GET maxmemory",
        "CONFIG GET MAXMEMORY-POLICY",
        "CONFIG GET maxmemory-pol*",
        "CONFIG GET nosuch",
        "CONFIG GET slowlog-max-len slowlog-max-len",
        "CONFIG GET slowlog-log-slower-than",
        "CONFIG GET latency-monitor-threshold",
        "CONFIG GET lfu-log-factor",
        "CONFIG GET appendonly",
        "CONFIG SET notify-keyspace-events KEA",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events Kx",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events x",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET hz 5",
        "? HELLO 3",
        "CONFIG GET hz",
        "? HELLO 2",
        "CONFIG SET hz 10",
        "CONFIG GET hz",
    ],
    // CLIENT, SLOWLOG and LATENCY's errors and fixed answers.
    &[
        "CLIENT KILL 1.2.3.4:5",
        "CLIENT KILL ID 999999",
        "CLIENT KILL ID 0",
        "CLIENT KILL foo bar",
        "CLIENT KILL ID",
        "CLIENT KILL TYPE nosuch",
        "CLIENT REPLY foo",
        "CLIENT PAUSE",
        "CLIENT PAUSE abc",
        "CLIENT PAUSE -1",
        "CLIENT PAUSE 10 foo",
        "CLIENT NO-EVICT maybe",
        "CLIENT NO-EVICT on",
        "CLIENT NO-EVICT off",
        "CLIENT LIST TYPE foo",
        "CLIENT LIST ID abc",
        "CLIENT LIST TYPE pubsub",
        "CLIENT FOO",
        "CLIENT SETNAME",
        "CLIENT UNPAUSE",
        "SLOWLOG FOO",
        "SLOWLOG GET x",
        "SLOWLOG GET -2",
        "SLOWLOG LEN x",
        "LATENCY FOO",
        "LATENCY LATEST",
        "LATENCY HISTORY command",
        "LATENCY RESET",
        "SLOWLOG GET 0",
        // Text for people is a verbatim string in RESP3.
        "? HELLO 3",
        "INFO cluster",
        "CLIENT LIST TYPE pubsub",
        "CONFIG GET nosuch",
        "SLOWLOG GET 0",
        "? HELLO 2",
    ],
    // Hashes: the HSET family, and WRONGTYPE both ways. Fields go in in
    // byte order, where Redis's small hashes keep insertion order and
    // ours are sorted: the orders agree.
    &[
        "HSET h a 1 b 2",
        "HSET h b 3 c 4",
        "HSET h",
        "HSET h a",
        "HSET h a 1 b",
        "HMSET h d 5",
        "HMSET h d",
        "HGET h a",
        "HGET h nope",
        "HGET nope a",
        "HGET h",
        "HMGET h a nope c",
        "HMGET nope a b",
        "HMGET h",
        "HGETALL h",
        "HGETALL nope",
        "HKEYS h",
        "HVALS h",
        "HKEYS nope",
        "HVALS nope",
        "HLEN h",
        "HLEN nope",
        "HEXISTS h a",
        "HEXISTS h zz",
        "HEXISTS nope a",
        "HSTRLEN h a",
        "HSTRLEN h zz",
        "HSTRLEN nope a",
        "HSETNX h a x",
        "HSETNX h e 6",
        "HSETNX h e",
        "HDEL h a zz",
        "HDEL h",
        "HDEL nope a",
        "HGETALL h",
        "HDEL h b c d e",
        "EXISTS h",
        "TYPE h",
        "HSET h f v",
        "TYPE h",
        "SET s v",
        "SADD set m",
        "HSET s f v",
        "HSETNX s f v",
        "HMSET set f v",
        "HGET s f",
        "HMGET s f",
        "HGETALL set",
        "HKEYS s",
        "HVALS s",
        "HLEN s",
        "HEXISTS s f",
        "HSTRLEN s f",
        "HDEL s f",
        "HINCRBY s f 1",
        "HINCRBY s f x",
        "HINCRBYFLOAT s f 1",
        "HINCRBYFLOAT s f x",
        "HSCAN s 0",
        "HRANDFIELD s",
        "HRANDFIELD s 2",
        "GET h",
        "SADD h m",
        "SMEMBERS h",
        "INCR h",
        "GETSET h x",
        "MGET h s",
        "scanall TYPE hash",
        "RENAME h h2",
        "HGETALL h2",
        "SET h2 now-a-string",
        "GET h2",
    ],
    // HINCRBY and HINCRBYFLOAT.
    &[
        "HINCRBY h n 5",
        "HINCRBY h n -7",
        "HINCRBY h n abc",
        "HINCRBY h n 9223372036854775807",
        "HINCRBY h n 5",
        "HINCRBY h m -9223372036854775808",
        "HINCRBY h m -1",
        "HSET h t text",
        "HINCRBY h t 1",
        "HINCRBYFLOAT h t 1",
        "HINCRBYFLOAT h f 10.5",
        "HINCRBYFLOAT h f 0.1",
        "HINCRBYFLOAT h f -5",
        "HINCRBYFLOAT h f abc",
        "HINCRBYFLOAT h f inf",
        "HINCRBYFLOAT h f 1.5x",
        "HINCRBYFLOAT h g 3",
        "HGET h g",
        "HINCRBY h g 2",
        "HINCRBY h f 1",
        "HSTRLEN h f",
        "HSET h k 7",
        "HINCRBYFLOAT h k 0.25",
        "HINCRBYFLOAT h k -7.25",
    ],
    // HSCAN, small and large.
    &[
        "HSET h a 1 b 2 c 3 d 4",
        "HSCAN h 0",
        "HSCAN h 0 COUNT 1",
        "HSCAN h 0 MATCH [ab]",
        "HSCAN h 0 MATCH *",
        "HSCAN h 0 MATCH z*",
        "HSCAN nope 0",
        "HSCAN nope 0 COUNT 0",
        "HSCAN h abc",
        "HSCAN nope abc",
        "HSCAN h 0 COUNT 0",
        "HSCAN h 0 COUNT abc",
        "HSCAN h 0 MATCH",
        "HSCAN h 0 FOO bar",
        "HSCAN h 0 TYPE string",
        "HSCAN h",
        "hfill big 300",
        "HLEN big",
        "hscanall big",
        "hscanall big COUNT 7",
        "hscanall big MATCH f1*",
        "hscanall big COUNT 1000",
    ],
    // HRANDFIELD: only what does not depend on the draw is compared
    // byte for byte.
    &[
        "HSET h a 1 b 2 c 3",
        "HRANDFIELD h 10",
        "HRANDFIELD h 10 WITHVALUES",
        "HRANDFIELD h 3",
        "? HRANDFIELD h",
        "? HRANDFIELD h 2",
        "? HRANDFIELD h -5 WITHVALUES",
        "HRANDFIELD h 0",
        "HRANDFIELD h 0 WITHVALUES",
        "HRANDFIELD nope",
        "HRANDFIELD nope 5",
        "HRANDFIELD nope -5 WITHVALUES",
        "HRANDFIELD h 1 FOO",
        "HRANDFIELD h 1 WITHVALUES x",
        "HRANDFIELD h abc",
        "HRANDFIELD h -9223372036854775808",
        "HRANDFIELD h 9223372036854775807 WITHVALUES",
        "HRANDFIELD h -4611686018427387904 WITHVALUES",
        "HRANDFIELD h -4611686018427387903 FOO",
        "HSET one f v",
        "HRANDFIELD one",
        "HRANDFIELD one -3",
        "HRANDFIELD one -2 WITHVALUES",
        "HRANDFIELD one 1 WITHVALUES",
    ],
    // RESP3: HGETALL as a map, HRANDFIELD's pairs nested.
    &[
        "? HELLO 3",
        "HSET h a 1 b 2",
        "HGETALL h",
        "HGETALL nope",
        "% HGETALL h",
        "HRANDFIELD h 5 WITHVALUES",
        "HRANDFIELD nope",
        "HRANDFIELD nope 1",
        "HGET h nope",
        "HMGET h a nope",
        "HSCAN h 0",
        "HSET one f v",
        "HRANDFIELD one -2 WITHVALUES",
        "? HELLO 2",
        "HGETALL nope",
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
    // Pub/sub on one connection: subscriber mode in RESP2 (what it
    // refuses, PING's other answer), counts, leaving it; then RESP3, where
    // confirmations are pushes and any command is allowed.
    &[
        "x2 SUBSCRIBE a b",
        "x1 SUBSCRIBE a",
        "PING",
        "PING hi",
        "GET k",
        "x1 PSUBSCRIBE x*",
        "x1 UNSUBSCRIBE b",
        "x1 UNSUBSCRIBE nosuch",
        "x1 UNSUBSCRIBE a",
        "x1 PUNSUBSCRIBE",
        "x1 UNSUBSCRIBE",
        "x1 PUNSUBSCRIBE",
        "x2 PUNSUBSCRIBE p q",
        "GET k",
        "PING",
        "PUBLISH a m",
        "PUBLISH",
        "PUBSUB NUMSUB a b",
        "PUBSUB NUMSUB",
        "PUBSUB NUMPAT",
        "PUBSUB CHANNELS",
        "PUBSUB CHANNELS *",
        "PUBSUB",
        "SUBSCRIBE",
        "x1 SUBSCRIBE c",
        "RESET",
        "GET k",
        "? HELLO 3",
        "x2 SUBSCRIBE a b",
        "SET k v",
        "GET k",
        "PING",
        "x1 UNSUBSCRIBE a",
        "x1 UNSUBSCRIBE b",
        "x1 UNSUBSCRIBE",
        "? HELLO 2",
    ],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_match_redis_server_byte_for_byte() {
    let servers = Servers::start().await;
    let (mut theirs, mut ours) = servers.connect().await;
    // A second client on each side (`& ` lines).
    let (second_theirs, second_ours) = servers.connect().await;
    let mut second = [second_theirs, second_ours];
    let mut mismatches = Vec::new();
    for (n, script) in SCRIPTS.iter().chain(strs::SCRIPTS).enumerate() {
        for conn in [&mut theirs, &mut ours] {
            assert_eq!(conn.call(&["FLUSHALL"]).await, b"+OK\r\n");
        }
        for line in *script {
            let (expected, got) = match line.strip_prefix("& ") {
                Some(line) => {
                    let [theirs, ours] = &mut second;
                    run_line(line, theirs, ours).await
                }
                None => run_line(line, &mut theirs, &mut ours).await,
            };
            if expected != got {
                mismatches.push(format!(
                    "script {n}, {line:?}:\n  redis:    {:?}\n  sessiond: {:?}",
                    String::from_utf8_lossy(&expected),
                    String::from_utf8_lossy(&got)
                ));
            }
        }
    }
    servers.stop().await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The command table's facts against Redis's own: for every command the
/// daemon lists that Redis has too, COMMAND INFO's name, arity, flags and
/// key positions (its first six fields) are the same; commands Redis has
/// only in sentinel mode must be unknown to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_info_matches_redis_server() {
    let servers = Servers::start().await;
    let (mut theirs, mut ours) = servers.connect().await;
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
        if SENTINEL_MODE_ONLY.contains(&name.as_str()) || NEWER_THAN_7_0.contains(&name.as_str()) {
            // Outside sentinel mode (or before 7.4) redis-server does not
            // know it.
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
    servers.stop().await;
}

/// Commands a plain redis-server lacks (it has them in sentinel mode
/// only), which every node of ours answers: their flags are ours to pick
/// (`table.rs` says why).
const SENTINEL_MODE_ONLY: &[&str] = &["sentinel"];

/// Commands of Redis 7.4 and 8 (hash field TTLs) that the redis-server
/// this test runs (7.0) does not have: tests/daemon/hashes.rs checks them
/// against Redis 8's documented replies, and their COMMAND INFO is Redis
/// 8's.
const NEWER_THAN_7_0: &[&str] = &[
    "hexpire",
    "hexpireat",
    "hexpiretime",
    "hgetdel",
    "hgetex",
    "hpersist",
    "hpexpire",
    "hpexpireat",
    "hpexpiretime",
    "hpttl",
    "hsetex",
    "httl",
];

/// Runs one script line on both sides; returns what to compare.
async fn run_line(line: &str, theirs: &mut Conn, ours: &mut Conn) -> (Vec<u8>, Vec<u8>) {
    if let Some(ms) = line.strip_prefix("sleep ") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
        return (Vec::new(), Vec::new());
    }
    if let Some(rest) = line.strip_prefix("hfill ") {
        let (key, n) = rest.split_once(' ').unwrap();
        let words: Vec<String> = (0..n.parse::<usize>().unwrap())
            .flat_map(|i| [format!("f{i}"), format!("v{i}")])
            .collect();
        let mut args = vec!["HSET", key];
        args.extend(words.iter().map(String::as_str));
        return (theirs.call(&args).await, ours.call(&args).await);
    }
    if let Some(rest) = line.strip_prefix("hscanall ") {
        let options: Vec<&str> = rest.split_whitespace().collect();
        return (
            theirs.hscan_all(&options).await,
            ours.hscan_all(&options).await,
        );
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
    // `xN ` marks a command with N replies (SUBSCRIBE answers once per
    // channel).
    if let Some(rest) = line.strip_prefix('x') {
        let (n, command) = rest.split_once(' ').expect("xN then a command");
        let n: usize = n.parse().expect("a reply count");
        let args: Vec<&str> = command.split(' ').collect();
        return (theirs.call_n(&args, n).await, ours.call_n(&args, n).await);
    }
    let (mode, command) = match line.split_at_checked(2) {
        Some(("~ ", rest)) => (Mode::Unordered, rest),
        Some(("? ", rest)) => (Mode::TypeOnly, rest),
        Some(("% ", rest)) => (Mode::Pairs, rest),
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
    Pairs,
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
            Mode::Pairs => {
                let (header, items) = split_array(reply);
                let mut pairs: Vec<Vec<u8>> = items.chunks(2).map(|p| p.concat()).collect();
                pairs.sort();
                [header, pairs.concat()].concat()
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

    /// Sends one command and reads `n` replies, concatenated.
    async fn call_n(&mut self, args: &[&str], n: usize) -> Vec<u8> {
        let mut replies = self.call(args).await;
        for _ in 1..n {
            replies.extend(self.reply(args).await);
        }
        replies
    }

    async fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.stream.write_all(request.as_bytes()).await.unwrap();
        self.reply(args).await
    }

    /// Sends bytes as they are (a request whose reply comes later).
    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one whole reply (to `args`, for the failure message).
    async fn reply(&mut self, args: &[&str]) -> Vec<u8> {
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

    /// HSCAN of `options[0]` from 0 until the cursor is 0 again, with the
    /// other options; the sorted field-value pairs as text, or the first
    /// error reply.
    async fn hscan_all(&mut self, options: &[&str]) -> Vec<u8> {
        let (key, options) = options.split_first().expect("a key");
        let mut cursor = "0".to_string();
        let mut pairs = BTreeSet::new();
        for _ in 0..10_000 {
            let args: Vec<&str> = [&["HSCAN", key, cursor.as_str()], options].concat();
            let reply = self.call(&args).await;
            if reply[0] == b'-' {
                return reply;
            }
            let (_, parts) = split_array(&reply);
            cursor = String::from_utf8(bulk_text(&parts[0])).unwrap();
            let (_, found) = split_array(&parts[1]);
            for pair in found.chunks(2) {
                pairs.insert([bulk_text(&pair[0]), b"=".to_vec(), bulk_text(&pair[1])].concat());
            }
            if cursor == "0" {
                return pairs.into_iter().collect::<Vec<_>>().join(&b' ');
            }
        }
        panic!("HSCAN {key} {options:?} did not finish");
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
/// RESP2 types, and RESP3's null, boolean, double, big number, verbatim
/// string, set and map.
fn reply_len(buf: &[u8], at: usize) -> Option<usize> {
    let end = find_crlf(buf, at)?;
    let line = std::str::from_utf8(&buf[at + 1..end]).ok()?;
    let after = end + 2 - at;
    match buf.get(at)? {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Some(after),
        b'$' | b'=' => {
            let n: i64 = line.parse().ok()?;
            let total = after + if n < 0 { 0 } else { n as usize + 2 };
            (buf.len() - at >= total).then_some(total)
        }
        b'*' | b'~' | b'%' | b'>' => {
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

/// A redis-server and a daemon with a RESP listener, side by side: what
/// every differential test starts from.
struct Servers {
    redis: RedisServer,
    daemon: Daemon,
}

impl Servers {
    async fn start() -> Servers {
        let redis = RedisServer::start();
        let daemon = Daemon::start(ServerConfig {
            resp_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..ServerConfig::default()
        })
        .await;
        Servers { redis, daemon }
    }

    /// redis-server's address and the daemon's RESP listener's.
    fn addrs(&self) -> (String, String) {
        let ours = self.daemon.resp_addr.expect("a RESP listener");
        (format!("127.0.0.1:{}", self.redis.port), ours.to_string())
    }

    /// A new connection to each: (redis-server's, ours).
    async fn connect(&self) -> (Conn, Conn) {
        let (theirs, ours) = self.addrs();
        (Conn::connect(&theirs).await, Conn::connect(&ours).await)
    }

    /// Stops the daemon (redis-server is killed when this drops).
    async fn stop(self) {
        self.daemon.stop().await;
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
