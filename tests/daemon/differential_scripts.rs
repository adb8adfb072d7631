//! The differential test of scripting (EVAL, EVALSHA, their `_RO` forms,
//! SCRIPT) against redis-server 7.0, byte for byte, and the daemon's own
//! tests of what a differential test cannot time: BUSY, SCRIPT KILL,
//! UNKILLABLE, atomicity and the memory limit.
//!
//! Commands here are argument lists, not lines split on spaces: scripts
//! have spaces. Both servers start fresh, so `math.random`'s sequence,
//! which runs on across scripts in Redis 7.0, is the same on both sides.

use std::time::{Duration, Instant};

use sessiond_server::ServerConfig;

use super::{Conn, Servers};
use crate::Daemon;

const COMMANDS: &[&[&str]] = &[
    &["eval", "return x", "0"],
    &["eval", "x = 1", "0"],
    &["eval", "rawset(_G,'x',1)", "0"],
    &["eval", "string.x = 1", "0"],
    &["eval", "return (", "0"],
    &["eval", "error('boom')", "0"],
    &["eval", "error({err='MY bad'})", "0"],
    &["eval", "return redis.call('nosuch')", "0"],
    &["eval", "return redis.call('get')", "0"],
    &["eval", "return redis.call('multi')", "0"],
    &["eval", "return redis.pcall('incr','k','x')", "0"],
    &["eval", "return {1,2,3.9,'a',nil,4}", "0"],
    &[
        "eval",
        "return {1,{ok='fine'},{err='BAD x'}, true, false}",
        "0",
    ],
    &["eval", "return redis.error_reply('MY err')", "0"],
    &["eval", "return redis.error_reply('noprefix')", "0"],
    &["eval", "return redis.status_reply('yes')", "0"],
    &["eval", "return redis.sha1hex('')", "0"],
    &[
        "eval",
        "return {math.random(), math.random(10), math.random(5,9)}",
        "0",
    ],
    &["eval", "return tostring(math.random())", "0"],
    &["eval", "return math.random(1000000)", "0"],
    &["eval", "return 1", "-1"],
    &["eval", "return 1", "2", "a"],
    &["eval", "return 1", "x"],
    &["evalsha", "abc", "0"],
    &["evalsha", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
    &["eval_ro", "return redis.call('set','a','b')", "0"],
    &["eval", "return redis.setresp(4)", "0"],
    &[
        "eval",
        "redis.setresp(3); return redis.call('hgetall','nokey')",
        "0",
    ],
    &[
        "eval",
        "return {KEYS[1],ARGV[1],#KEYS,#ARGV}",
        "1",
        "k",
        "a",
    ],
    &["script", "flush", "x"],
    &["script", "load", "return ("],
    &["script", "load", "return 1"],
    &[
        "script",
        "exists",
        "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
        "abc",
    ],
    &["evalsha", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"],
    &["script", "kill"],
    &["script", "foo"],
    &["script"],
    &["eval", "return redis.set_repl(redis.REPL_ALL)", "0"],
    &["eval", "return redis.replicate_commands()", "0"],
    &["eval", "return redis.log(redis.LOG_WARNING,'hi')", "0"],
    &["eval", "return loadstring", "0"],
    &["eval", "return print", "0"],
    &["eval", "return os", "0"],
    &["eval", "return redis.call('ping')", "0"],
    &["eval", "return _G.KEYS", "0"],
    &["eval", "return redis.pcall()", "0"],
    &["eval", "return redis.call({})", "0"],
    &["eval", "return redis.call('echo', 3.5)", "0"],
    &["eval", "return redis.call('echo', 0.1)", "0"],
    &["eval", "return redis.REDIS_VERSION", "0"],
    &[
        "eval",
        "redis.call('set',KEYS[1],ARGV[1]); return redis.call('get',KEYS[1])",
        "1",
        "sk",
        "v1",
    ],
    &["eval", "return redis.call('hset','h','a','1')", "0"],
    &["eval", "return redis.call('hgetall','h')", "0"],
    &[
        "eval",
        "redis.setresp(3); return redis.call('hgetall','h')",
        "0",
    ],
    &["eval", "redis.setresp(3); return {double=3.14}", "0"],
    &["eval", "return {double=3.14}", "0"],
    &["eval", "redis.setresp(3); return true", "0"],
    &["eval", "return redis.call('get','nokey')", "0"],
    &[
        "eval",
        "redis.setresp(3); return redis.call('get','nokey')",
        "0",
    ],
    &["eval", "return redis.call('hset','sk','a','b')", "0"],
    &["eval", "return redis.pcall('hset','sk','a','b')", "0"],
    &[
        "eval",
        "local ok, e = pcall(redis.call, 'nosuch') return {tostring(ok), e}",
        "0",
    ],
    &["eval", "return redis.call('sadd','st','a','b')", "0"],
    // Set order is the server's: sorted in the script.
    &[
        "eval",
        "local m = redis.call('smembers','st') table.sort(m) return m",
        "0",
    ],
    &["eval", "return {map={a=1}}", "0"],
    &["eval", "return {set={a=true}}", "0"],
    &["eval_ro", "return redis.call('get','sk')", "0"],
    &["evalsha_ro", "abc", "0"],
    &[
        "eval",
        "#!lua flags=no-writes\nreturn redis.call('set','a','b')",
        "0",
    ],
    &["eval_ro", "#!lua\nreturn 1", "0"],
    &["eval", "#!lua flags=bogus\nreturn 1", "0"],
    &["eval", "#!python\nreturn 1", "0"],
    &["eval", "local t = {} t[1] = t return 1", "0"],
    &["eval", "return redis.call('exec')", "0"],
    &["eval", "return redis.call('eval','return 1','0')", "0"],
    &["eval", "return redis.call('config','get','maxmemory')", "0"],
    &["eval", "return string.format('%d', 5)", "0"],
    &["eval", "return setmetatable(_G, nil)", "0"],
    &["eval", "return unpack({1,2})", "0"],
    &["eval", "return type(coroutine)", "0"],
    &["eval", "return redis.status_reply(1)", "0"],
    &["eval", "return redis.sha1hex()", "0"],
    &["eval", "return redis.log()", "0"],
    &["eval", "return math.random(0)", "0"],
    &["eval", "local function f() error('deep') end f()", "0"],
    &["eval", "return 'line1\\nline2'", "0"],
    &["eval", "return {err='x\\r\\ny'}", "0"],
    // EVALSHA of a loaded script, in upper case; SCRIPT FLUSH forgets it.
    &["SCRIPT", "LOAD", "return 'loaded'"],
    &["EVALSHA", "B534286061D4B9E4026607613B95C06C06015AE8", "0"],
    &["SCRIPT", "FLUSH", "ASYNC"],
    &[
        "SCRIPT",
        "EXISTS",
        "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
    ],
    &["SCRIPT", "LOAD"],
    // A queued EVAL runs inside EXEC.
    &["MULTI"],
    &["EVAL", "return redis.call('incr', KEYS[1])", "1", "counter"],
    &[
        "EVAL",
        "return redis.call('incrby', KEYS[1], ARGV[1])",
        "1",
        "counter",
        "5",
    ],
    &["EXEC"],
    // RESP3 callers: booleans, doubles, maps and nulls in their forms.
    &["HELLO", "3"],
    &["EVAL", "redis.setresp(3); return true", "0"],
    &["EVAL", "redis.setresp(3); return false", "0"],
    &["EVAL", "redis.setresp(3); return {double=1.5}", "0"],
    &["EVAL", "return {map={k='v'}}", "0"],
    &["EVAL", "return nil", "0"],
    &["EVAL", "return false", "0"],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('get', 'missing')",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return {big_number='123456789012345678901234567890'}",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return {verbatim_string={format='txt', string='hi'}}",
        "0",
    ],
    &["HELLO", "2"],
];

/// Replies whose text names the server (HELLO): compared by type only.
fn type_only(args: &[&str]) -> bool {
    args[0] == "HELLO"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_replies_match_redis_server_byte_for_byte() {
    let servers = Servers::start().await;
    let (mut theirs, mut ours) = servers.connect().await;
    let mut mismatches = Vec::new();
    for args in COMMANDS {
        let expected = theirs.call(args).await;
        let got = ours.call(args).await;
        let same = match type_only(args) {
            true => expected.first() == got.first(),
            false => expected == got,
        };
        if !same {
            mismatches.push(format!(
                "{args:?}:\n  redis:    {:?}\n  sessiond: {:?}",
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    servers.stop().await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

async fn resp_daemon() -> (Daemon, String) {
    let daemon = Daemon::start(ServerConfig {
        resp_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    })
    .await;
    let addr = daemon.resp_addr.unwrap().to_string();
    (daemon, addr)
}

const BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

/// Sends `EVAL body 0` without waiting for its reply.
async fn send_eval(conn: &mut Conn, body: &str) {
    let request = format!(
        "*3\r\n$4\r\nEVAL\r\n${}\r\n{body}\r\n$1\r\n0\r\n",
        body.len()
    );
    conn.send_raw(request.as_bytes()).await;
}

/// Waits until `conn` hears BUSY for GET (bounded: 5 s).
async fn until_busy(conn: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = conn.call(&["GET", "k"]).await;
        if reply == BUSY {
            return;
        }
        assert!(Instant::now() < deadline, "never BUSY: {reply:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_script_makes_others_busy_until_script_kill() {
    let (daemon, addr) = resp_daemon().await;
    let mut caller = Conn::connect(&addr).await;
    let mut other = Conn::connect(&addr).await;
    let threshold = ["CONFIG", "SET", "busy-reply-threshold", "100"];
    assert_eq!(other.call(&threshold).await, b"+OK\r\n");
    assert_eq!(
        other.call(&["CONFIG", "GET", "lua-time-limit"]).await,
        b"*2\r\n$14\r\nlua-time-limit\r\n$3\r\n100\r\n"
    );
    assert_eq!(
        other.call(&["SCRIPT", "KILL"]).await,
        b"-NOTBUSY No scripts in execution right now.\r\n"
    );
    // Killed even when it catches errors with pcall.
    for body in [
        "local i = 0 while true do i = i + 1 end",
        "while true do pcall(function() while true do end end) end",
    ] {
        send_eval(&mut caller, body).await;
        until_busy(&mut other).await;
        // Connections opened now hear it too, and may still say PING...
        let mut third = Conn::connect(&addr).await;
        assert_eq!(third.call(&["SET", "k", "v"]).await, BUSY);
        assert_eq!(other.call(&["SCRIPT", "KILL"]).await, b"+OK\r\n");
        let reply = caller.reply(&["EVAL"]).await;
        let text = String::from_utf8_lossy(&reply);
        assert!(
            text.starts_with("-ERR Script killed by user with SCRIPT KILL... script: "),
            "{text}"
        );
        assert_eq!(third.call(&["GET", "k"]).await, b"$-1\r\n");
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_wrote_is_unkillable_and_finishes() {
    let (daemon, addr) = resp_daemon().await;
    let mut caller = Conn::connect(&addr).await;
    let mut other = Conn::connect(&addr).await;
    let threshold = ["CONFIG", "SET", "busy-reply-threshold", "50"];
    assert_eq!(other.call(&threshold).await, b"+OK\r\n");
    // Writes, then spins for about 600 ms of its own clock.
    let body = "redis.call('set', 'w', '1') local t = redis.call('time') \
                local start = t[1] * 1000000 + t[2] \
                while true do local n = redis.call('time') \
                if n[1] * 1000000 + n[2] - start > 600000 then break end end return 'done'";
    send_eval(&mut caller, body).await;
    until_busy(&mut other).await;
    let reply = other.call(&["SCRIPT", "KILL"]).await;
    assert!(reply.starts_with(b"-UNKILLABLE Sorry the script already executed write commands"));
    assert_eq!(caller.reply(&["EVAL"]).await, b"$4\r\ndone\r\n");
    assert_eq!(other.call(&["GET", "w"]).await, b"$1\r\n1\r\n");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_runs_inside_a_script() {
    let (daemon, addr) = resp_daemon().await;
    let reader = {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await;
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                let reply = conn.call(&["GET", "n"]).await;
                if reply == b"$4\r\n5000\r\n" {
                    break;
                }
                seen.push(reply);
            }
            seen
        })
    };
    let mut writer = Conn::connect(&addr).await;
    let body = "for i = 1, 5000 do redis.call('incr', 'n') end return 1";
    assert_eq!(writer.call(&["EVAL", body, "0"]).await, b":1\r\n");
    let seen = reader.await.unwrap();
    for reply in seen {
        assert_eq!(reply, b"$-1\r\n", "a read saw the script half done");
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_eats_memory_is_stopped_and_the_server_goes_on() {
    let (daemon, addr) = resp_daemon().await;
    let mut conn = Conn::connect(&addr).await;
    let body = "local t = {} for i = 1, 100000000 do t[i] = string.rep('x', 100000) .. i end";
    let reply = conn.call(&["EVAL", body, "0"]).await;
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.starts_with("-ERR Error running script: it used more than 64 MiB of Lua memory"),
        "{text}"
    );
    assert_eq!(conn.call(&["EVAL", "return #'abc'", "0"]).await, b":3\r\n");
    daemon.stop().await;
}

/// An EVAL queued in MULTI runs while EXEC holds the gate; another
/// client's EVAL, waiting for that gate on the scripting thread, must not
/// hold it up (the queued one runs on EXEC's own thread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_in_exec_and_another_clients_script_both_finish() {
    let (daemon, addr) = resp_daemon().await;
    let mut tx = Conn::connect(&addr).await;
    let mut other = Conn::connect(&addr).await;
    let spin = "local t = redis.call('time') local start = t[1] * 1000000 + t[2] \
                while true do local n = redis.call('time') \
                if n[1] * 1000000 + n[2] - start > 300000 then break end end \
                return redis.call('incr', 'order')";
    assert_eq!(tx.call(&["MULTI"]).await, b"+OK\r\n");
    assert_eq!(tx.call(&["EVAL", spin, "0"]).await, b"+QUEUED\r\n");
    assert_eq!(
        tx.call(&["EVALSHA", &sha1(spin), "0"]).await,
        b"+QUEUED\r\n"
    );
    tx.send_raw(b"*1\r\n$4\r\nEXEC\r\n").await;
    // Until EXEC runs (600 ms of spinning): the EVAL below must come after.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let list = other.call(&["CLIENT", "LIST"]).await;
        if String::from_utf8_lossy(&list).contains("cmd=exec") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "EXEC never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let body = "return redis.call('incr', 'order')";
    assert_eq!(other.call(&["EVAL", body, "0"]).await, b":3\r\n");
    assert_eq!(tx.reply(&["EXEC"]).await, b"*2\r\n:1\r\n:2\r\n");
    daemon.stop().await;
}

/// A script's SHA1 in hex, through the daemon-free `redis` crate.
fn sha1(body: &str) -> String {
    redis::Script::new(body).get_hash().to_owned()
}
