//! The Redis face's command table: every command it answers, declared
//! once, sorted by name. Dispatch (`mod.rs`), arity errors, the connection
//! policy's pre-auth gate, STATS counters (one per entry, by its index)
//! and COMMAND all read it, so adding a command is one entry here and one
//! handler in the file of its group (`cmd/`).
//!
//! COMMAND, which describes the table, is here too: a handler elsewhere
//! would import the table that lists it.
//!
//! Arities, flags and key positions are Redis 7.0's, as its COMMAND INFO
//! gives them; the SESSION.* commands are ours and take no keys (their
//! arguments are ids and owners, not keys of the keyspace).

use super::args::Args;
use super::client::Client;
use super::cmd::{
    clients, config, connection, group, hash_ttl, hashes, info, key_info, keys, monitor, pubsub,
    replication, scripting, server, sessions, set_algebra, sets, slowlog, stream_groups, streams,
    string_edits, strings, transactions,
};
use super::errors::RespError;
use super::reply::Value;
use super::spec::Flag::{
    Admin, AllowBusy, Blocking, Denyoom, Fast, Loading, Movablekeys, NoAuth, NoMandatoryKeys,
    Noscript, Pubsub, Readonly, SkipMonitor, SkipSlowlog, Stale, Write,
};
use super::spec::{Flag, Handler, Keys, Reply, Spec, Table};

/// Every command, sorted by name (checked when the crate compiles).
// One line per command reads as a table; rustfmt would stack the fields.
#[rustfmt::skip]
pub(crate) static COMMANDS: Table = Table(&[
    cmd("append", 3, WRITE_FAST, Keys::ONE, "string", string_edits::append),
    cmd("auth", -2, CONNECTION_NO_AUTH, Keys::NONE, "connection", connection::auth),
    cmd("client", -2, &[], Keys::NONE, "connection", clients::client),
    cmd("command", -1, &[Loading, Stale], Keys::NONE, "server", command),
    cmd("config", -2, &[], Keys::NONE, "server", config::config),
    cmd("copy", -3, &[Write, Denyoom], Keys::new(1, 2, 1), "generic", keys::copy),
    cmd("counter.incr", 5, WRITE_FAST, Keys::ONE, "string", strings::counter_incr),
    cmd("dbsize", 1, &[Readonly, Fast], Keys::NONE, "server", keys::dbsize),
    cmd("decr", 2, WRITE_FAST, Keys::ONE, "string", strings::decr),
    cmd("decrby", 3, WRITE_FAST, Keys::ONE, "string", strings::decrby),
    cmd("del", -2, &[Write], Keys::ALL, "generic", keys::del),
    cmd("discard", 1, TRANSACTION, Keys::NONE, "transactions", transactions::discard),
    cmd("echo", 2, &[Loading, Stale, Fast], Keys::NONE, "connection", connection::echo),
    cmd("eval", -3, SCRIPT, Keys::NONE, "scripting", scripting::eval),
    cmd("eval_ro", -3, SCRIPT_RO, Keys::NONE, "scripting", scripting::eval),
    cmd("evalsha", -3, SCRIPT, Keys::NONE, "scripting", scripting::eval),
    cmd("evalsha_ro", -3, SCRIPT_RO, Keys::NONE, "scripting", scripting::eval),
    cmd("exec", 1, &[Noscript, Loading, Stale, SkipSlowlog], Keys::NONE, "transactions", transactions::exec),
    cmd("exists", -2, &[Readonly, Fast], Keys::ALL, "generic", keys::exists),
    cmd("expire", -3, &[Write, Fast], Keys::ONE, "generic", keys::expire),
    cmd("expireat", -3, &[Write, Fast], Keys::ONE, "generic", keys::expireat),
    cmd("expiretime", 2, &[Readonly, Fast], Keys::ONE, "generic", key_info::expiretime),
    cmd("flushall", -1, &[Write], Keys::NONE, "server", keys::flushall),
    cmd("flushdb", -1, &[Write], Keys::NONE, "server", keys::flushall),
    cmd("get", 2, &[Readonly, Fast], Keys::ONE, "string", strings::get),
    cmd("getdel", 2, &[Write, Fast], Keys::ONE, "string", strings::getdel),
    cmd("getex", -2, &[Write, Fast], Keys::ONE, "string", strings::getex),
    cmd("getrange", 4, &[Readonly], Keys::ONE, "string", string_edits::getrange),
    cmd("getset", 3, WRITE_FAST, Keys::ONE, "string", strings::getset),
    cmd("hdel", -3, &[Write, Fast], Keys::ONE, "hash", hashes::hdel),
    cmd("hello", -1, CONNECTION_NO_AUTH, Keys::NONE, "connection", connection::hello),
    cmd("hexists", 3, &[Readonly, Fast], Keys::ONE, "hash", hashes::hexists),
    cmd("hexpire", -6, &[Write, Fast], Keys::ONE, "hash", hash_ttl::hexpire),
    cmd("hexpireat", -6, &[Write, Fast], Keys::ONE, "hash", hash_ttl::hexpireat),
    cmd("hexpiretime", -5, &[Readonly, Fast], Keys::ONE, "hash", hash_ttl::hexpiretime),
    cmd("hget", 3, &[Readonly, Fast], Keys::ONE, "hash", hashes::hget),
    cmd("hgetall", 2, &[Readonly], Keys::ONE, "hash", hashes::hgetall),
    cmd("hgetdel", -5, &[Write, Fast], Keys::ONE, "hash", hash_ttl::hgetdel),
    cmd("hgetex", -5, &[Write, Fast], Keys::ONE, "hash", hash_ttl::hgetex),
    cmd("hincrby", 4, WRITE_FAST, Keys::ONE, "hash", hashes::hincrby),
    cmd("hincrbyfloat", 4, WRITE_FAST, Keys::ONE, "hash", hashes::hincrbyfloat),
    cmd("hkeys", 2, &[Readonly], Keys::ONE, "hash", hashes::hkeys),
    cmd("hlen", 2, &[Readonly, Fast], Keys::ONE, "hash", hashes::hlen),
    cmd("hmget", -3, &[Readonly, Fast], Keys::ONE, "hash", hashes::hmget),
    cmd("hmset", -4, WRITE_FAST, Keys::ONE, "hash", hashes::hmset),
    cmd("hpersist", -5, &[Write, Fast], Keys::ONE, "hash", hash_ttl::hpersist),
    cmd("hpexpire", -6, &[Write, Fast], Keys::ONE, "hash", hash_ttl::hpexpire),
    cmd("hpexpireat", -6, &[Write, Fast], Keys::ONE, "hash", hash_ttl::hpexpireat),
    cmd("hpexpiretime", -5, &[Readonly, Fast], Keys::ONE, "hash", hash_ttl::hpexpiretime),
    cmd("hpttl", -5, &[Readonly, Fast], Keys::ONE, "hash", hash_ttl::hpttl),
    cmd("hrandfield", -2, &[Readonly], Keys::ONE, "hash", hashes::hrandfield),
    cmd("hscan", -3, &[Readonly], Keys::ONE, "hash", hashes::hscan),
    cmd("hset", -4, WRITE_FAST, Keys::ONE, "hash", hashes::hset),
    cmd("hsetex", -6, WRITE_FAST, Keys::ONE, "hash", hash_ttl::hsetex),
    cmd("hsetnx", 4, WRITE_FAST, Keys::ONE, "hash", hashes::hsetnx),
    cmd("hstrlen", 3, &[Readonly, Fast], Keys::ONE, "hash", hashes::hstrlen),
    cmd("httl", -5, &[Readonly, Fast], Keys::ONE, "hash", hash_ttl::httl),
    cmd("hvals", 2, &[Readonly], Keys::ONE, "hash", hashes::hvals),
    cmd("incr", 2, WRITE_FAST, Keys::ONE, "string", strings::incr),
    cmd("incrby", 3, WRITE_FAST, Keys::ONE, "string", strings::incrby),
    cmd("incrbyfloat", 3, WRITE_FAST, Keys::ONE, "string", string_edits::incrbyfloat),
    cmd("info", -1, &[Loading, Stale], Keys::NONE, "server", info::info),
    cmd("keys", 2, &[Readonly], Keys::NONE, "generic", keys::keys),
    cmd("latency", -2, &[], Keys::NONE, "server", slowlog::latency),
    cmd("memory", -2, &[], Keys::NONE, "server", key_info::memory),
    cmd("mget", -2, &[Readonly, Fast], Keys::ALL, "string", strings::mget),
    cmd("monitor", 1, &[Admin, Noscript, Loading, Stale], Keys::NONE, "server", monitor::monitor),
    cmd("mset", -3, &[Write, Denyoom], Keys::new(1, -1, 2), "string", strings::mset),
    cmd("msetnx", -3, &[Write, Denyoom], Keys::new(1, -1, 2), "string", string_edits::msetnx),
    cmd("multi", 1, TRANSACTION, Keys::NONE, "transactions", transactions::multi),
    cmd("node.add", 3, &[Noscript], Keys::NONE, "server", group::standalone),
    cmd("node.remove", 2, &[Noscript], Keys::NONE, "server", group::standalone),
    cmd("object", -2, &[], Keys::NONE, "generic", key_info::object),
    cmd("persist", 2, &[Write, Fast], Keys::ONE, "generic", keys::persist),
    cmd("pexpire", -3, &[Write, Fast], Keys::ONE, "generic", keys::pexpire),
    cmd("pexpireat", -3, &[Write, Fast], Keys::ONE, "generic", keys::pexpireat),
    cmd("pexpiretime", 2, &[Readonly, Fast], Keys::ONE, "generic", key_info::pexpiretime),
    cmd("ping", -1, &[Fast], Keys::NONE, "connection", connection::ping),
    cmd("psetex", 4, &[Write, Denyoom], Keys::ONE, "string", strings::psetex),
    cmd("psubscribe", -2, PUBSUB, Keys::NONE, "pubsub", pubsub::psubscribe),
    cmd("pttl", 2, &[Readonly, Fast], Keys::ONE, "generic", keys::pttl),
    cmd("publish", 3, &[Pubsub, Loading, Stale, Fast], Keys::NONE, "pubsub", pubsub::publish),
    cmd("pubsub", -2, &[], Keys::NONE, "pubsub", pubsub::pubsub),
    cmd("punsubscribe", -1, PUBSUB, Keys::NONE, "pubsub", pubsub::punsubscribe),
    cmd("quit", -1, CONNECTION_NO_AUTH, Keys::NONE, "connection", connection::quit),
    cmd("randomkey", 1, &[Readonly], Keys::NONE, "generic", key_info::randomkey),
    cmd("readonly", 1, &[Loading, Stale, Fast], Keys::NONE, "cluster", connection::readonly),
    cmd("readwrite", 1, &[Loading, Stale, Fast], Keys::NONE, "cluster", connection::readwrite),
    cmd("rename", 3, &[Write], Keys::new(1, 2, 1), "generic", keys::rename),
    cmd("renamenx", 3, &[Write, Fast], Keys::new(1, 2, 1), "generic", keys::renamenx),
    cmd("reset", 1, CONNECTION_NO_AUTH, Keys::NONE, "connection", connection::reset),
    cmd("role", 1, EVERY_NODE, Keys::NONE, "server", replication::role),
    cmd("sadd", -3, WRITE_FAST, Keys::ONE, "set", sets::sadd),
    cmd("scan", -2, &[Readonly], Keys::NONE, "generic", keys::scan),
    cmd("scard", 2, &[Readonly, Fast], Keys::ONE, "set", sets::scard),
    cmd("script", -2, &[], Keys::NONE, "scripting", scripting::script),
    cmd("sdiff", -2, &[Readonly], Keys::ALL, "set", set_algebra::sdiff),
    cmd("sdiffstore", -3, &[Write, Denyoom], Keys::ALL, "set", set_algebra::sdiffstore),
    cmd("select", 2, &[Loading, Stale, Fast], Keys::NONE, "connection", connection::select),
    cmd("sentinel", -2, EVERY_NODE, Keys::NONE, "sentinel", replication::sentinel),
    cmd("session.count", 2, &[Readonly, Fast], Keys::NONE, "session", sessions::count_owner),
    cmd("session.create", -2, &[Write, Denyoom], Keys::NONE, "session", sessions::create),
    cmd("session.del", 2, &[Write, Fast], Keys::NONE, "session", sessions::del),
    cmd("session.delowner", -2, &[Write], Keys::NONE, "session", sessions::delete_owner),
    // GET slides the idle deadline: a write, unless NOTOUCH.
    cmd("session.get", -2, &[Write, Fast], Keys::NONE, "session", sessions::get),
    cmd("session.list", 2, &[Readonly], Keys::NONE, "session", sessions::list),
    cmd("session.rotate", 2, &[Write, Fast], Keys::NONE, "session", sessions::rotate),
    cmd("session.set", -3, WRITE_FAST, Keys::NONE, "session", sessions::set),
    cmd("session.touch", 2, &[Write, Fast], Keys::NONE, "session", sessions::touch),
    cmd("set", -3, &[Write, Denyoom], Keys::ONE, "string", strings::set),
    cmd("setex", 4, &[Write, Denyoom], Keys::ONE, "string", strings::setex),
    cmd("setnx", 3, WRITE_FAST, Keys::ONE, "string", strings::setnx),
    cmd("setrange", 4, &[Write, Denyoom], Keys::ONE, "string", string_edits::setrange),
    cmd("sinter", -2, &[Readonly], Keys::ALL, "set", set_algebra::sinter),
    cmd("sintercard", -3, &[Readonly, Movablekeys], Keys::NONE, "set", set_algebra::sintercard),
    cmd("sinterstore", -3, &[Write, Denyoom], Keys::ALL, "set", set_algebra::sinterstore),
    cmd("sismember", 3, &[Readonly, Fast], Keys::ONE, "set", sets::sismember),
    cmd("slowlog", -2, &[], Keys::NONE, "server", slowlog::slowlog),
    cmd("smembers", 2, &[Readonly], Keys::ONE, "set", sets::smembers),
    cmd("smismember", -3, &[Readonly, Fast], Keys::ONE, "set", sets::smismember),
    cmd("smove", 4, &[Write, Fast], Keys::new(1, 2, 1), "set", sets::smove),
    cmd("spop", -2, &[Write, Fast], Keys::ONE, "set", sets::spop),
    cmd("srandmember", -2, &[Readonly], Keys::ONE, "set", sets::srandmember),
    cmd("srem", -3, &[Write, Fast], Keys::ONE, "set", sets::srem),
    cmd("sscan", -3, &[Readonly], Keys::ONE, "set", sets::sscan),
    cmd("strlen", 2, &[Readonly, Fast], Keys::ONE, "string", string_edits::strlen),
    cmd("subscribe", -2, PUBSUB, Keys::NONE, "pubsub", pubsub::subscribe),
    cmd("substr", 4, &[Readonly], Keys::ONE, "string", string_edits::getrange),
    cmd("sunion", -2, &[Readonly], Keys::ALL, "set", set_algebra::sunion),
    cmd("sunionstore", -3, &[Write, Denyoom], Keys::ALL, "set", set_algebra::sunionstore),
    cmd("time", 1, &[Loading, Stale, Fast], Keys::NONE, "server", server::time),
    cmd("touch", -2, &[Readonly, Fast], Keys::ALL, "generic", key_info::touch),
    cmd("ttl", 2, &[Readonly, Fast], Keys::ONE, "generic", keys::ttl),
    cmd("type", 2, &[Readonly, Fast], Keys::ONE, "generic", keys::kind),
    cmd("unlink", -2, &[Write, Fast], Keys::ALL, "generic", keys::del),
    cmd("unsubscribe", -1, PUBSUB, Keys::NONE, "pubsub", pubsub::unsubscribe),
    cmd("unwatch", 1, TRANSACTION, Keys::NONE, "transactions", transactions::unwatch),
    cmd("watch", -2, TRANSACTION, Keys::ALL, "transactions", transactions::watch),
    cmd("xack", -4, &[Write, Fast], Keys::ONE, "stream", stream_groups::xack),
    cmd("xautoclaim", -6, &[Write, Fast], Keys::ONE, "stream", stream_groups::xautoclaim),
    cmd("xclaim", -6, &[Write, Fast], Keys::ONE, "stream", stream_groups::xclaim),
    cmd("xgroup", -2, &[], Keys::NONE, "stream", stream_groups::xgroup),
    cmd("xinfo", -2, &[], Keys::NONE, "stream", streams::xinfo),
    cmd("xlen", 2, &[Readonly, Fast], Keys::ONE, "stream", streams::xlen),
    cmd("xpending", -3, &[Readonly], Keys::ONE, "stream", stream_groups::xpending),
    cmd("xrange", -4, &[Readonly], Keys::ONE, "stream", streams::xrange),
    cmd("xread", -4, &[Readonly, Blocking, Movablekeys], Keys::NONE, "stream", streams::xread),
    cmd("xreadgroup", -7, &[Write, Blocking, Movablekeys], Keys::NONE, "stream", stream_groups::xreadgroup),
    cmd("xrevrange", -4, &[Readonly], Keys::ONE, "stream", streams::xrevrange),
]);

const _: () = assert!(
    Table::well_formed(COMMANDS.0),
    "command names must be sorted, unique, lower case and short"
);

/// A write that may use more memory, in constant time.
const WRITE_FAST: &[Flag] = &[Write, Denyoom, Fast];

/// ROLE's flags (Redis's), which SENTINEL shares: Redis gives SENTINEL
/// only `admin` in sentinel mode and has none outside it, and here it is
/// the same kind of command as ROLE, a constant-time look at the group
/// view that every node answers, stale or loading (neither `write` nor
/// `readonly`, so a follower never refuses it).
const EVERY_NODE: &[Flag] = &[Noscript, Loading, Stale, Fast];

/// EVAL's and EVALSHA's (Redis's).
const SCRIPT: &[Flag] = &[Noscript, Stale, SkipMonitor, NoMandatoryKeys, Movablekeys];
/// EVAL_RO's and EVALSHA_RO's.
const SCRIPT_RO: &[Flag] = &[
    Readonly,
    Noscript,
    Stale,
    SkipMonitor,
    NoMandatoryKeys,
    Movablekeys,
];

/// MULTI's, DISCARD's, WATCH's and UNWATCH's (Redis's).
const TRANSACTION: &[Flag] = &[Noscript, Loading, Stale, Fast, AllowBusy];
/// (Un)subscribing: Redis's flags for SUBSCRIBE and its kin.
const PUBSUB: &[Flag] = &[Pubsub, Noscript, Loading, Stale];

/// The connection commands a client may send before it authenticates.
const CONNECTION_NO_AUTH: &[Flag] = &[Noscript, Loading, Stale, Fast, NoAuth, AllowBusy];

/// One entry, positionally, so that the table reads as one line per
/// command.
const fn cmd(
    name: &'static str,
    arity: i32,
    flags: &'static [Flag],
    keys: Keys,
    group: &'static str,
    run: Handler,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
        group,
        run,
    }
}

/// `COMMAND`, `COMMAND COUNT | LIST | INFO name... | DOCS [name...]`.
fn command(_: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let table = &COMMANDS;
    let Some(sub) = args.next() else {
        return Ok(Value::Array(table.iter().map(entry).collect()));
    };
    let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
    let names = args.rest();
    match (sub.as_str(), names) {
        ("count", []) => Ok(Value::Integer(table.iter().len() as i64)),
        ("list", []) => Ok(Value::Array(
            table.iter().map(|spec| Value::text(spec.name)).collect(),
        )),
        ("info", names) => Ok(Value::Array(
            names
                .iter()
                .map(|name| table.lookup(name).map_or(Value::Null, |(_, s)| entry(s)))
                .collect(),
        )),
        // Only commands asked for by name are described, and only by their
        // group: there are no summaries or argument lists to serve, and a
        // map of every command saying just that would help no client.
        ("docs", names) => Ok(Value::Map(
            names
                .iter()
                .filter_map(|name| table.lookup(name))
                .map(|(_, spec)| {
                    let doc = vec![(Value::text("group"), Value::text(spec.group))];
                    (Value::text(spec.name), Value::Map(doc))
                })
                .collect(),
        )),
        _ => Err(RespError::unknown_subcommand(&sub, "COMMAND")),
    }
}

/// A command as `COMMAND INFO` gives it (Redis 7's ten fields): name,
/// arity, flags, first key, last key, key step, ACL categories, tips, key
/// specs, subcommands; the last four left empty.
fn entry(spec: &Spec) -> Value {
    let flags = spec.flags.iter().map(|f| Value::Simple(f.name())).collect();
    Value::Array(vec![
        Value::text(spec.name),
        Value::Integer(i64::from(spec.arity)),
        Value::Set(flags),
        Value::Integer(i64::from(spec.keys.first)),
        Value::Integer(i64::from(spec.keys.last)),
        Value::Integer(i64::from(spec.keys.step)),
        Value::Set(Vec::new()),
        Value::Set(Vec::new()),
        Value::Array(Vec::new()),
        Value::Array(Vec::new()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_finds_every_command() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            let upper = spec.name.to_ascii_uppercase();
            let (found, _) = COMMANDS.lookup(upper.as_bytes()).expect(spec.name);
            assert_eq!(found, i);
        }
        assert!(COMMANDS.lookup(b"GeT").is_some());
        assert!(COMMANDS.lookup(b"nosuch").is_none());
        assert!(COMMANDS.lookup(b"").is_none());
        assert!(COMMANDS.lookup(&[b'g'; 100]).is_none());
    }

    #[test]
    fn only_connection_commands_pass_before_auth() {
        let open: Vec<_> = COMMANDS
            .iter()
            .filter(|spec| spec.before_auth())
            .map(|spec| spec.name)
            .collect();
        assert_eq!(open, ["auth", "hello", "quit", "reset"]);
    }

    #[test]
    fn arity_follows_redis_convention() {
        let (_, get) = COMMANDS.lookup(b"get").unwrap();
        assert!(get.accepts(2) && !get.accepts(1) && !get.accepts(3));
        let (_, set) = COMMANDS.lookup(b"set").unwrap();
        assert!(set.accepts(3) && set.accepts(9) && !set.accepts(2));
    }
}
