//! What Redis clients ask about replication: ROLE, INFO's `replication`
//! section and the SENTINEL discovery commands, all answered from this
//! node's [`GroupView`] and nothing else.
//!
//! A Redis deployment with failover has two kinds of process: servers,
//! which answer ROLE and INFO, and sentinels, which clients ask where the
//! master is. In a sessiond group the raft leader is the master and every
//! node knows who it is, so every node plays both parts: clients configure
//! the nodes' RESP addresses as their sentinels and the one master name
//! [`MASTER_NAME`], and each node answers for the group as it sees it. The
//! replies have Redis's shapes (Redis 7.0) so that redis-py's `Sentinel`,
//! ioredis's and node-redis's sentinel clients work unchanged.
//!
//! Only members whose RESP address is known appear as replicas or
//! sentinels: a client can do nothing with a member it cannot reach, and
//! ROLE, INFO and SENTINEL then all count the same members.

use std::net::SocketAddr;

use crate::replication::{GroupView, MemberView, Role};
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// The name clients give the group's master in SENTINEL commands. Names
/// are compared byte for byte, as Redis's sentinels do.
pub(crate) const MASTER_NAME: &str = "sessiond";

/// What ROLE, INFO and SENTINEL print for an address they do not know:
/// Redis's sentinel's words for a replica whose master it has not heard
/// of, `?` and port 0 (no listener has it, and clients that read ports
/// as unsigned still parse it).
const UNKNOWN_HOST: &str = "?";
const UNKNOWN_PORT: i64 = 0;

/// A replica's priority as Redis reports it: 100 may be promoted (a
/// voter can be elected), 0 never (a learner does not stand).
fn priority(member: &MemberView) -> i64 {
    if member.voter { 100 } else { 0 }
}

/// `ROLE`.
pub(crate) fn role(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    Ok(role_reply(&client.shared.group_view()))
}

/// ROLE's reply for `view`. On the leader (or alone) Redis's master form,
/// `master`, the offset (the last log index), then `[ip, port, offset]`
/// per replica, the port a bulk string and the offset the last index the
/// replica acknowledged; on any other node the replica form, `slave`, the
/// leader's host and port (an integer), the link state and this node's
/// offset (the last index applied). The link is `connected` while a leader
/// is known, else `connect` (Redis's "must connect to its master"), with
/// `?` and 0 for the address.
fn role_reply(view: &GroupView) -> Value {
    if view.role.serves() {
        let replicas = replicas(view)
            .map(|(member, addr)| {
                Value::Array(vec![
                    Value::text(addr.ip().to_string()),
                    Value::text(addr.port().to_string()),
                    offset(member.matched_index.unwrap_or(0)),
                ])
            })
            .collect();
        return Value::Array(vec![
            Value::text("master"),
            offset(view.last_log_index),
            Value::Array(replicas),
        ]);
    }
    let (host, port) = leader_address(view);
    let state = match leader_known(view) {
        true => "connected",
        false => "connect",
    };
    Value::Array(vec![
        Value::text("slave"),
        Value::text(host),
        Value::Integer(port),
        Value::text(state),
        offset(view.applied_index),
    ])
}

/// INFO's `replication` section for `view`: Redis's lines, in Redis's
/// order, for what the group has (no backlog, no sync transfer).
pub(crate) fn info_lines(view: &GroupView) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    let mut add = |k: &str, v: String| lines.push((k.to_owned(), v));
    let serves = view.role.serves();
    add("role", if serves { "master" } else { "slave" }.into());
    if !serves {
        let (host, port) = leader_address(view);
        let up = leader_known(view);
        add("master_host", host);
        add("master_port", port.to_string());
        add("master_link_status", if up { "up" } else { "down" }.into());
        add("master_sync_in_progress", "0".into());
        // Read: what this node's log holds; applied: what its store has.
        add("slave_read_repl_offset", view.last_log_index.to_string());
        add("slave_repl_offset", view.applied_index.to_string());
        if !up {
            // Redis's "down for an unknown time".
            add("master_link_down_since_seconds", "-1".into());
        }
        let me = view.me();
        add("slave_priority", me.map_or(100, priority).to_string());
        add("slave_read_only", "1".into());
        add("replica_announced", "1".into());
    }
    let listed: Vec<_> = match serves {
        true => replicas(view).collect(),
        false => Vec::new(),
    };
    add("connected_slaves", listed.len().to_string());
    for (n, (member, addr)) in listed.iter().enumerate() {
        let offset = member.matched_index.unwrap_or(0);
        add(
            &format!("slave{n}"),
            format!(
                "ip={},port={},state=online,offset={offset},lag=0",
                addr.ip(),
                addr.port()
            ),
        );
    }
    add("master_failover_state", "no-failover".into());
    add("master_replid", replication_id(view));
    add("master_replid2", "0".repeat(40));
    add("master_repl_offset", view.last_log_index.to_string());
    add("second_repl_offset", "-1".into());
    lines
}

/// `SENTINEL subcommand [master-name]`.
pub(crate) fn sentinel(client: &mut Client<'_>, args: Args<'_>) -> Reply {
    sentinel_reply(&client.shared.group_view(), args)
}

/// SENTINEL's reply for `view`. Subcommands are case-insensitive, the
/// master name is not; arity errors name the subcommand as Redis 7 does
/// (`sentinel|master`).
fn sentinel_reply(view: &GroupView, mut args: Args<'_>) -> Reply {
    let sub = args.bytes()?;
    let sub = String::from_utf8_lossy(sub);
    let lower = sub.to_ascii_lowercase();
    let rest = args.rest();
    let arity = |name: &'static str, wanted: usize| match rest.len() == wanted {
        true => Ok(()),
        false => Err(RespError::Arity(name)),
    };
    let named = |name: &'static str| -> Result<(), RespError> {
        arity(name, 1)?;
        match &rest[0][..] == MASTER_NAME.as_bytes() {
            true => Ok(()),
            false => Err(RespError::other("No such master with that name")),
        }
    };
    match lower.as_str() {
        "get-master-addr-by-name" => {
            arity("sentinel|get-master-addr-by-name", 1)?;
            let addr = leader_resp_addr(view).filter(|_| &rest[0][..] == MASTER_NAME.as_bytes());
            Ok(addr.map_or(Value::NullArray, |addr| {
                Value::Array(vec![
                    Value::text(addr.ip().to_string()),
                    Value::text(addr.port().to_string()),
                ])
            }))
        }
        "masters" => {
            arity("sentinel|masters", 0)?;
            Ok(Value::Array(vec![master_map(view)]))
        }
        "master" => {
            named("sentinel|master")?;
            Ok(master_map(view))
        }
        "replicas" | "slaves" => {
            named(match lower.as_str() {
                "replicas" => "sentinel|replicas",
                _ => "sentinel|slaves",
            })?;
            Ok(Value::Array(
                replicas(view)
                    .map(|(member, addr)| replica_map(view, member, addr))
                    .collect(),
            ))
        }
        "sentinels" => {
            named("sentinel|sentinels")?;
            Ok(Value::Array(sentinels(view).map(sentinel_map).collect()))
        }
        "myid" => {
            arity("sentinel|myid", 0)?;
            Ok(Value::text(run_id(view.node_id)))
        }
        "help" => {
            arity("sentinel|help", 0)?;
            Ok(Value::Array(
                HELP.iter().map(|line| Value::Simple(line)).collect(),
            ))
        }
        _ => Err(RespError::other(format!(
            "unknown subcommand '{}'. Try SENTINEL HELP.",
            sub.chars().take(128).collect::<String>()
        ))),
    }
}

/// `SENTINEL HELP`, in Redis's layout: what this node answers.
const HELP: &[&str] = &[
    "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET-MASTER-ADDR-BY-NAME <master-name>",
    "    Return the ip and port number of the master with that name.",
    "MASTER <master-name>",
    "    Show the state and info of the specified master.",
    "MASTERS",
    "    Show a list of monitored masters and their state.",
    "MYID",
    "    Return the ID of this node.",
    "REPLICAS <master-name>",
    "    Show a list of replicas for this master and their state.",
    "SENTINELS <master-name>",
    "    Show a list of the other nodes, which answer SENTINEL too.",
    "HELP",
    "    Print this help.",
];

/// The master as a sentinel describes it, in Redis's field order. While
/// no leader is known, or its address is not, it is flagged down
/// (`s_down,o_down`, and `failover_in_progress` while no leader is
/// known): redis-py then asks the next sentinel, node-redis waits, and
/// neither connects to a `?`.
fn master_map(view: &GroupView) -> Value {
    let mut flags = Vec::new();
    let addr = leader_resp_addr(view);
    let known = leader_known(view);
    if addr.is_none() {
        flags.extend(["s_down", "o_down"]);
    }
    flags.push("master");
    if known && addr.is_none() {
        flags.push("disconnected");
    }
    if !known {
        flags.push("failover_in_progress");
    }
    let (host, port) = text_address(addr);
    let run_id = match view.leader.filter(|_| known) {
        Some(id) => run_id(id),
        None => String::new(),
    };
    let voters = view.members.iter().filter(|m| m.voter).count();
    Value::Map(vec![
        field("name", Value::text(MASTER_NAME)),
        field("ip", Value::text(host)),
        field("port", Value::text(port)),
        field("runid", Value::text(run_id)),
        field("flags", Value::text(flags.join(","))),
        field("role-reported", Value::text("master")),
        // The raft term: it grows with every election, as Redis's epoch
        // grows with every failover.
        field("config-epoch", bulk_number(view.term)),
        field("num-slaves", bulk_number(replicas(view).count() as u64)),
        field(
            "num-other-sentinels",
            bulk_number(sentinels(view).count() as u64),
        ),
        // A raft majority of the voters elects and commits.
        field("quorum", bulk_number((voters / 2 + 1) as u64)),
    ])
}

/// A replica as a sentinel describes it: named `ip:port` like Redis's,
/// with its link to the master as this node knows it.
fn replica_map(view: &GroupView, member: &MemberView, addr: SocketAddr) -> Value {
    let (master_host, master_port) = leader_address(view);
    let link = match leader_resp_addr(view) {
        Some(_) => "ok",
        None => "err",
    };
    Value::Map(vec![
        field("name", Value::text(addr.to_string())),
        field("ip", Value::text(addr.ip().to_string())),
        field("port", Value::text(addr.port().to_string())),
        field("runid", Value::text(run_id(member.id))),
        field("flags", Value::text("slave")),
        field("role-reported", Value::text("slave")),
        field("master-link-status", Value::text(link)),
        field("master-host", Value::text(master_host)),
        field("master-port", Value::text(master_port.to_string())),
        field("slave-priority", Value::text(priority(member).to_string())),
        field(
            "slave-repl-offset",
            bulk_number(replica_offset(view, member)),
        ),
        field("replica-announced", Value::text("1")),
    ])
}

/// Another member, as a sentinel describes its peers: named by its run
/// id, as Redis names sentinels.
fn sentinel_map((member, addr): (&MemberView, SocketAddr)) -> Value {
    let id = run_id(member.id);
    Value::Map(vec![
        field("name", Value::text(id.clone())),
        field("ip", Value::text(addr.ip().to_string())),
        field("port", Value::text(addr.port().to_string())),
        field("runid", Value::text(id)),
        field("flags", Value::text("sentinel")),
    ])
}

fn field(name: &'static str, value: Value) -> (Value, Value) {
    (Value::text(name), value)
}

/// A number as Redis's sentinel writes every number: a bulk string.
fn bulk_number(n: u64) -> Value {
    Value::text(n.to_string())
}

/// A log index as an integer reply.
fn offset(index: u64) -> Value {
    Value::Integer(i64::try_from(index).unwrap_or(i64::MAX))
}

/// The members other than the leader whose RESP address is known: the
/// replicas SENTINEL lists on every node, and ROLE and INFO on the leader
/// (elsewhere they list none, as a Redis replica has no replicas).
fn replicas(view: &GroupView) -> impl Iterator<Item = (&MemberView, SocketAddr)> {
    view.replicas().filter_map(|m| Some((m, m.resp_addr?)))
}

/// How far a replica has come, as far as this node knows: the leader's
/// record of what it acknowledged, this node's own applied index, or 0.
fn replica_offset(view: &GroupView, member: &MemberView) -> u64 {
    match member.matched_index {
        Some(index) => index,
        None if member.id == view.node_id => view.applied_index,
        None => 0,
    }
}

/// The members other than this node whose RESP address is known: the
/// other sentinels a client may ask.
fn sentinels(view: &GroupView) -> impl Iterator<Item = (&MemberView, SocketAddr)> {
    view.members
        .iter()
        .filter(move |m| m.id != view.node_id)
        .filter_map(|m| Some((m, m.resp_addr?)))
}

/// Whether this node knows a leader (a candidate does not, whatever it
/// last heard: it is voting because that leader went quiet).
fn leader_known(view: &GroupView) -> bool {
    view.role != Role::Candidate && view.leader_member().is_some()
}

/// The leader's RESP address, if a leader is known and has one.
fn leader_resp_addr(view: &GroupView) -> Option<SocketAddr> {
    match leader_known(view) {
        true => view.leader_member()?.resp_addr,
        false => None,
    }
}

/// The leader's host and port, or `?` and 0.
fn leader_address(view: &GroupView) -> (String, i64) {
    match leader_resp_addr(view) {
        Some(addr) => (addr.ip().to_string(), i64::from(addr.port())),
        None => (UNKNOWN_HOST.to_owned(), UNKNOWN_PORT),
    }
}

/// An address as text fields, or `?` and 0.
fn text_address(addr: Option<SocketAddr>) -> (String, String) {
    match addr {
        Some(addr) => (addr.ip().to_string(), addr.port().to_string()),
        None => (UNKNOWN_HOST.to_owned(), UNKNOWN_PORT.to_string()),
    }
}

/// Redis's `master_replid`: 40 hex digits naming one history of the data.
/// Redis draws a new one when a replica becomes master; here it follows
/// the term and the leader, so it changes with every election and every
/// node of the group reports the same one for the same leader.
fn replication_id(view: &GroupView) -> String {
    let leader = view.leader.filter(|_| leader_known(view)).unwrap_or(0);
    hex40(REPLID_SALT, view.term, leader)
}

/// A member's run id (Redis's 40-hex `runid`, and the name of a sentinel):
/// from its node id alone, so that every node names a member alike.
fn run_id(node_id: u64) -> String {
    hex40(RUNID_SALT, node_id, 0)
}

/// Keep run ids and replication ids apart even for equal inputs.
const REPLID_SALT: u64 = 0x7265_706c_6964_0001;
const RUNID_SALT: u64 = 0x7275_6e69_6400_0002;

/// 40 hex digits that depend on every bit of `a` and `b`: splitmix64's
/// finaliser over a seed, then three words of its sequence. Stable across
/// builds and platforms (no std hasher, whose keys vary).
fn hex40(salt: u64, a: u64, b: u64) -> String {
    let seed = mix(mix(salt ^ a) ^ b);
    let mut text = String::with_capacity(48);
    for i in 1..=3u64 {
        text.push_str(&format!(
            "{:016x}",
            mix(seed.wrapping_add(i.wrapping_mul(GOLDEN)))
        ));
    }
    text.truncate(40);
    text
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::resp::args::words;
    use crate::resp::reply::Protocol;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Three voters on ports 7001..7003 (RESP 6001..6003), node `me`'s
    /// view, `leader` leading in term 4.
    fn group(me: u64, role: Role, leader: Option<u64>) -> GroupView {
        let members = (1..=3)
            .map(|id| MemberView {
                id,
                raft_addr: format!("127.0.0.1:{}", 9000 + id),
                native_addr: Some(addr(7000 + id as u16)),
                resp_addr: Some(addr(6000 + id as u16)),
                voter: true,
                matched_index: (role == Role::Leader).then_some(40 + id),
            })
            .collect();
        GroupView {
            role,
            node_id: me,
            term: 4,
            leader,
            members,
            last_log_index: 50,
            applied_index: 48,
        }
    }

    fn sentinel(view: &GroupView, line: &str) -> Reply {
        let args = words(line);
        sentinel_reply(view, Args::new("sentinel", &args))
    }

    /// A RESP2 reply as text with the CRLFs shown as spaces: short to
    /// compare and to read in a failure.
    fn wire(value: &Value) -> String {
        let mut out = BytesMut::new();
        value.encode(Protocol::Resp2, &mut out);
        String::from_utf8(out.to_vec())
            .unwrap()
            .replace("\r\n", " ")
    }

    /// A map reply as (field, text) pairs.
    fn fields(value: &Value) -> Vec<(String, String)> {
        let Value::Map(pairs) = value else {
            panic!("not a map: {value:?}")
        };
        pairs
            .iter()
            .map(|(k, v)| match (k, v) {
                (Value::Bulk(k), Value::Bulk(v)) => (
                    String::from_utf8(k.clone()).unwrap(),
                    String::from_utf8(v.clone()).unwrap(),
                ),
                other => panic!("not bulk strings: {other:?}"),
            })
            .collect()
    }

    fn get<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
    }

    #[test]
    fn role_on_a_leader_lists_both_replicas() {
        let view = group(2, Role::Leader, Some(2));
        assert_eq!(
            wire(&role_reply(&view)),
            "*3 $6 master :50 *2 \
             *3 $9 127.0.0.1 $4 6001 :41 \
             *3 $9 127.0.0.1 $4 6003 :43 "
        );
    }

    #[test]
    fn role_on_a_follower_names_the_leader() {
        let view = group(1, Role::Follower, Some(2));
        assert_eq!(
            wire(&role_reply(&view)),
            "*5 $5 slave $9 127.0.0.1 :6002 $9 connected :48 "
        );
        let learner = GroupView {
            role: Role::Learner,
            ..view
        };
        assert!(wire(&role_reply(&learner)).starts_with("*5 $5 slave $9 127.0.0.1 :6002"));
    }

    #[test]
    fn role_without_a_leader_says_so() {
        for (role, leader) in [(Role::Follower, None), (Role::Candidate, Some(2))] {
            let view = group(1, role, leader);
            assert_eq!(
                wire(&role_reply(&view)),
                "*5 $5 slave $1 ? :0 $7 connect :48 ",
                "{role:?}"
            );
        }
    }

    #[test]
    fn role_alone_is_a_master_without_replicas() {
        let view = GroupView::standalone(addr(7878), Some(addr(6379)));
        assert_eq!(wire(&role_reply(&view)), "*3 $6 master :0 *0 ");
    }

    #[test]
    fn replicas_are_listed_only_with_addresses() {
        let mut view = group(2, Role::Leader, Some(2));
        view.members[2].resp_addr = None;
        let Ok(Value::Array(replicas)) = sentinel(&view, "replicas sessiond") else {
            panic!("an array")
        };
        assert_eq!(replicas.len(), 1);
        let replica = fields(&replicas[0]);
        assert_eq!(get(&replica, "name"), "127.0.0.1:6001");
        assert_eq!(get(&replica, "ip"), "127.0.0.1");
        assert_eq!(get(&replica, "port"), "6001");
        assert_eq!(get(&replica, "flags"), "slave");
        assert_eq!(get(&replica, "master-host"), "127.0.0.1");
        assert_eq!(get(&replica, "master-port"), "6002");
        assert_eq!(get(&replica, "master-link-status"), "ok");
        assert_eq!(get(&replica, "slave-repl-offset"), "41");
        assert_eq!(get(&replica, "runid"), run_id(1));
        // The old name answers the same.
        let slaves = sentinel(&view, "SLAVES sessiond").unwrap();
        assert_eq!(slaves, Value::Array(replicas));
    }

    #[test]
    fn a_follower_lists_the_leaders_replicas_too() {
        // Every node answers SENTINEL for the group, so a follower's
        // replicas are the leader's: itself and the third node.
        let view = group(1, Role::Follower, Some(2));
        let Ok(Value::Array(replicas)) = sentinel(&view, "replicas sessiond") else {
            panic!("an array")
        };
        let names: Vec<_> = replicas
            .iter()
            .map(|r| get(&fields(r), "name").to_owned())
            .collect();
        assert_eq!(names, ["127.0.0.1:6001", "127.0.0.1:6003"]);
        let first = fields(&replicas[0]);
        assert_eq!(get(&first, "master-port"), "6002");
        // Its own offset it knows; the other's only the leader does.
        assert_eq!(get(&first, "slave-repl-offset"), "48");
        assert_eq!(get(&fields(&replicas[1]), "slave-repl-offset"), "0");
    }

    #[test]
    fn masters_on_every_node_point_at_the_leader() {
        for me in 1..=3 {
            let role = if me == 2 {
                Role::Leader
            } else {
                Role::Follower
            };
            let view = group(me, role, Some(2));
            let Ok(Value::Array(masters)) = sentinel(&view, "masters") else {
                panic!("an array")
            };
            assert_eq!(masters.len(), 1);
            let master = fields(&masters[0]);
            assert_eq!(get(&master, "name"), "sessiond");
            assert_eq!(get(&master, "ip"), "127.0.0.1");
            assert_eq!(get(&master, "port"), "6002");
            assert_eq!(get(&master, "flags"), "master");
            assert_eq!(get(&master, "runid"), run_id(2));
            assert_eq!(get(&master, "num-slaves"), "2");
            assert_eq!(get(&master, "num-other-sentinels"), "2");
            assert_eq!(get(&master, "quorum"), "2");
            assert_eq!(get(&master, "config-epoch"), "4");
            assert_eq!(sentinel(&view, "master sessiond"), Ok(masters[0].clone()));
            assert_eq!(
                wire(&sentinel(&view, "get-master-addr-by-name sessiond").unwrap()),
                "*2 $9 127.0.0.1 $4 6002 "
            );
        }
    }

    #[test]
    fn without_a_reachable_leader_the_master_is_down() {
        let view = group(1, Role::Candidate, None);
        let master = fields(&sentinel(&view, "master sessiond").unwrap());
        assert_eq!(
            get(&master, "flags"),
            "s_down,o_down,master,failover_in_progress"
        );
        assert_eq!(get(&master, "ip"), "?");
        assert_eq!(get(&master, "port"), "0");
        assert_eq!(
            sentinel(&view, "get-master-addr-by-name sessiond"),
            Ok(Value::NullArray)
        );
        let mut view = group(1, Role::Follower, Some(2));
        view.members[1].resp_addr = None;
        let master = fields(&sentinel(&view, "master sessiond").unwrap());
        assert_eq!(get(&master, "flags"), "s_down,o_down,master,disconnected");
        assert_eq!(
            sentinel(&view, "get-master-addr-by-name sessiond"),
            Ok(Value::NullArray)
        );
    }

    #[test]
    fn sentinels_are_the_other_members() {
        let view = group(3, Role::Follower, Some(2));
        let Ok(Value::Array(peers)) = sentinel(&view, "sentinels sessiond") else {
            panic!("an array")
        };
        let peers: Vec<_> = peers.iter().map(fields).collect();
        assert_eq!(peers.len(), 2);
        assert_eq!(get(&peers[0], "port"), "6001");
        assert_eq!(get(&peers[1], "port"), "6002");
        for peer in &peers {
            assert_eq!(get(peer, "flags"), "sentinel");
            assert_eq!(get(peer, "name"), get(peer, "runid"));
        }
        assert_eq!(sentinel(&view, "myid"), Ok(Value::text(run_id(3))));
    }

    #[test]
    fn names_are_case_sensitive_and_errors_are_redis_texts() {
        let view = group(2, Role::Leader, Some(2));
        let err = |line: &str| sentinel(&view, line).unwrap_err().to_string();
        assert_eq!(
            sentinel(&view, "get-master-addr-by-name Sessiond"),
            Ok(Value::NullArray)
        );
        assert_eq!(err("master Sessiond"), "ERR No such master with that name");
        assert_eq!(err("replicas nope"), "ERR No such master with that name");
        assert_eq!(err("sentinels nope"), "ERR No such master with that name");
        assert_eq!(
            err("masters extra"),
            "ERR wrong number of arguments for 'sentinel|masters' command"
        );
        assert_eq!(
            err("master"),
            "ERR wrong number of arguments for 'sentinel|master' command"
        );
        assert_eq!(
            err("foo"),
            "ERR unknown subcommand 'foo'. Try SENTINEL HELP."
        );
        // Subcommands are case-insensitive.
        assert!(sentinel(&view, "MaStEr sessiond").is_ok());
    }

    #[test]
    fn info_on_a_leader_lists_its_replicas() {
        let view = group(2, Role::Leader, Some(2));
        let lines = info_lines(&view);
        assert_eq!(get(&lines, "role"), "master");
        assert_eq!(get(&lines, "connected_slaves"), "2");
        assert_eq!(
            get(&lines, "slave0"),
            "ip=127.0.0.1,port=6001,state=online,offset=41,lag=0"
        );
        assert_eq!(
            get(&lines, "slave1"),
            "ip=127.0.0.1,port=6003,state=online,offset=43,lag=0"
        );
        assert_eq!(get(&lines, "master_repl_offset"), "50");
        assert_eq!(get(&lines, "master_failover_state"), "no-failover");
        let id = get(&lines, "master_replid");
        assert!(
            id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        assert!(!lines.iter().any(|(k, _)| k == "master_host"));
    }

    #[test]
    fn info_on_a_follower_names_the_leader() {
        let view = group(1, Role::Follower, Some(2));
        let lines = info_lines(&view);
        let keys: Vec<_> = lines.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "role",
                "master_host",
                "master_port",
                "master_link_status",
                "master_sync_in_progress",
                "slave_read_repl_offset",
                "slave_repl_offset",
                "slave_priority",
                "slave_read_only",
                "replica_announced",
                "connected_slaves",
                "master_failover_state",
                "master_replid",
                "master_replid2",
                "master_repl_offset",
                "second_repl_offset",
            ]
        );
        assert_eq!(get(&lines, "role"), "slave");
        assert_eq!(get(&lines, "master_host"), "127.0.0.1");
        assert_eq!(get(&lines, "master_port"), "6002");
        assert_eq!(get(&lines, "master_link_status"), "up");
        assert_eq!(get(&lines, "slave_repl_offset"), "48");
        assert_eq!(get(&lines, "connected_slaves"), "0");
        // The same history as the leader's.
        let leader = info_lines(&group(2, Role::Leader, Some(2)));
        assert_eq!(get(&lines, "master_replid"), get(&leader, "master_replid"));

        let lost = info_lines(&group(1, Role::Follower, None));
        assert_eq!(get(&lost, "master_host"), "?");
        assert_eq!(get(&lost, "master_port"), "0");
        assert_eq!(get(&lost, "master_link_status"), "down");
        assert_eq!(get(&lost, "master_link_down_since_seconds"), "-1");
    }

    #[test]
    fn ids_are_stable_hex_and_distinct() {
        assert_eq!(run_id(1), run_id(1));
        assert_ne!(run_id(1), run_id(2));
        let a = replication_id(&group(1, Role::Follower, Some(2)));
        let mut next_term = group(1, Role::Follower, Some(2));
        next_term.term = 5;
        assert_ne!(a, replication_id(&next_term));
        assert_ne!(a, run_id(2));
        for id in [run_id(0), a] {
            assert_eq!(id.len(), 40);
            assert!(id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
    }
}
