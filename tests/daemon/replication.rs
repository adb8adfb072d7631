//! The replication commands of the Redis face on a node without peers:
//! ROLE, INFO's replication and cluster sections, HELLO's role and every
//! SENTINEL subcommand, on the wire and through the `redis` crate. A node
//! alone is the master of a group of one, and is its own (only) sentinel.

use std::net::SocketAddr;

use sessiond_server::{Secret, ServerConfig};
use tokio::net::TcpStream;

use crate::resp::{bulk, field, pairs, reply, resp_daemon, say};

/// `redis::Value` as text, for fields that are bulk strings.
fn text(value: &redis::Value) -> String {
    bulk(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_and_info_say_master_of_a_group_of_one() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // As a fresh redis-server answers (the differential test holds us to it).
    say(&mut s, "ROLE\r\n", "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n").await;
    say(
        &mut s,
        "ROLE x\r\n",
        "-ERR wrong number of arguments for 'role' command\r\n",
    )
    .await;

    let replication = bulk(&reply(&mut s, "INFO replication\r\n").await);
    let lines: Vec<&str> = replication.split("\r\n").collect();
    assert_eq!(
        lines[..4],
        [
            "# Replication",
            "role:master",
            "connected_slaves:0",
            "master_failover_state:no-failover"
        ]
    );
    let replid = lines[4].strip_prefix("master_replid:").expect(&replication);
    assert!(replid.len() == 40 && replid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(
        replication.contains("\r\nmaster_repl_offset:0\r\n"),
        "{replication}"
    );
    assert!(!replication.contains("master_host"), "{replication}");
    // The id is stable while the leader and term are.
    let again = bulk(&reply(&mut s, "INFO replication\r\n").await);
    assert_eq!(again, replication);

    let cluster = "# Cluster\r\ncluster_enabled:0\r\n";
    let answer = format!("${}\r\n{cluster}\r\n", cluster.len());
    say(&mut s, "INFO cluster\r\n", &answer).await;

    // Sections in Redis's order; command statistics only with `all`.
    let headers = |info: &str| -> Vec<String> {
        info.lines()
            .filter(|l| l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let default = bulk(&reply(&mut s, "INFO\r\n").await);
    assert_eq!(
        headers(&default),
        [
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Errorstats",
            "# Cluster",
            "# Keyspace"
        ]
    );
    for all in ["INFO all\r\n", "INFO everything\r\n"] {
        let info = bulk(&reply(&mut s, all).await);
        assert_eq!(
            headers(&info),
            [
                "# Server",
                "# Clients",
                "# Memory",
                "# Persistence",
                "# Stats",
                "# Replication",
                "# CPU",
                "# Commandstats",
                "# Errorstats",
                "# Cluster",
                "# Keyspace"
            ],
            "{all}"
        );
    }
    let two = bulk(&reply(&mut s, "INFO keyspace replication\r\n").await);
    assert_eq!(headers(&two), ["# Replication", "# Keyspace"]);

    let hello = reply(&mut s, "HELLO 3\r\n").await;
    assert_eq!(text(&field(&hello, "role")), "master");
    say(&mut s, "ROLE\r\n", "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n").await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_answers_for_the_master_sessiond() {
    let (daemon, addr) = resp_daemon(ServerConfig::default()).await;
    let port = addr.port().to_string();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let addr_reply = format!("*2\r\n$9\r\n127.0.0.1\r\n${}\r\n{port}\r\n", port.len());
    say(
        &mut s,
        "SENTINEL get-master-addr-by-name sessiond\r\n",
        &addr_reply,
    )
    .await;
    // Names are case-sensitive; an unknown one is the null array (RESP2)
    // or null (RESP3), as Redis's sentinel answers.
    for name in ["Sessiond", "nope"] {
        let line = format!("SENTINEL GET-MASTER-ADDR-BY-NAME {name}\r\n");
        say(&mut s, &line, "*-1\r\n").await;
    }
    for protocol in ["2", "3"] {
        let _ = reply(&mut s, &format!("HELLO {protocol}\r\n")).await;
        let masters = reply(&mut s, "SENTINEL masters\r\n").await;
        let redis::Value::Array(masters) = masters else {
            panic!("an array: {masters:?}")
        };
        assert_eq!(masters.len(), 1);
        let master = &masters[0];
        if protocol == "3" {
            assert!(matches!(master, redis::Value::Map(_)), "{master:?}");
        }
        for (name, want) in [
            ("name", "sessiond"),
            ("ip", "127.0.0.1"),
            ("port", port.as_str()),
            ("flags", "master"),
            ("role-reported", "master"),
            ("config-epoch", "0"),
            ("num-slaves", "0"),
            ("num-other-sentinels", "0"),
            ("quorum", "1"),
        ] {
            assert_eq!(
                text(&field(master, name)),
                want,
                "{name} over RESP{protocol}"
            );
        }
        let runid = text(&field(master, "runid"));
        assert_eq!(runid.len(), 40);
        // Every value is a bulk string, as Redis's sentinel writes them.
        assert!(
            pairs(master)
                .iter()
                .all(|(_, v)| matches!(v, redis::Value::BulkString(_)))
        );
        assert_eq!(&reply(&mut s, "SENTINEL master sessiond\r\n").await, master);
        // A node alone has no replicas and no other sentinels.
        for sub in ["replicas", "slaves", "sentinels"] {
            let line = format!("SENTINEL {sub} sessiond\r\n");
            assert_eq!(
                reply(&mut s, &line).await,
                redis::Value::Array(vec![]),
                "{sub}"
            );
        }
        // Its id is the runid it gives itself as the master.
        assert_eq!(text(&reply(&mut s, "SENTINEL myid\r\n").await), runid);
    }
    say(&mut s, "SENTINEL get-master-addr-by-name nope\r\n", "_\r\n").await;
    let _ = reply(&mut s, "HELLO 2\r\n").await;

    for (line, error) in [
        ("SENTINEL master Sessiond", "No such master with that name"),
        ("SENTINEL replicas nope", "No such master with that name"),
        ("SENTINEL slaves nope", "No such master with that name"),
        ("SENTINEL sentinels nope", "No such master with that name"),
        (
            "SENTINEL nosuch",
            "unknown subcommand 'nosuch'. Try SENTINEL HELP.",
        ),
        (
            "SENTINEL",
            "wrong number of arguments for 'sentinel' command",
        ),
        (
            "SENTINEL masters x",
            "wrong number of arguments for 'sentinel|masters' command",
        ),
        (
            "SENTINEL master",
            "wrong number of arguments for 'sentinel|master' command",
        ),
        (
            "SENTINEL get-master-addr-by-name",
            "wrong number of arguments for 'sentinel|get-master-addr-by-name' command",
        ),
    ] {
        say(&mut s, &format!("{line}\r\n"), &format!("-ERR {error}\r\n")).await;
    }
    let redis::Value::Array(help) = reply(&mut s, "SENTINEL help\r\n").await else {
        panic!("HELP is an array")
    };
    assert!(help.len() > 4);
    daemon.stop().await;
}

/// The `redis` crate reads the replies as it reads Redis's: ROLE into its
/// `Role`, the sentinel maps into string maps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_crate_reads_role_and_sentinel_replies() {
    let (daemon, addr) = resp_daemon(ServerConfig {
        auth_token: Some(Secret::new("pw-padded-to-the-32-byte-minimum").unwrap()),
        ..ServerConfig::default()
    })
    .await;
    for query in ["", "?protocol=resp3"] {
        let client = redis::Client::open(format!(
            "redis://:pw-padded-to-the-32-byte-minimum@{addr}/0{query}"
        ))
        .unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let role: redis::Role = redis::cmd("ROLE").query_async(&mut con).await.unwrap();
        assert!(
            matches!(&role, redis::Role::Primary { replication_offset: 0, replicas } if replicas.is_empty()),
            "{role:?}"
        );
        let (ip, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg("sessiond")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(SocketAddr::new(ip.parse().unwrap(), port), addr);
        let none: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg("other")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(none, None);
        let masters: Vec<std::collections::HashMap<String, String>> = redis::cmd("SENTINEL")
            .arg("MASTERS")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(masters.len(), 1);
        assert_eq!(masters[0]["port"], addr.port().to_string());
        let error = redis::cmd("SENTINEL")
            .arg("master")
            .arg("other")
            .query_async::<redis::Value>(&mut con)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("No such master with that name"),
            "{error}"
        );
    }
    // SENTINEL is no exception to the token: it tells where the data is.
    let mut s = TcpStream::connect(addr).await.unwrap();
    say(
        &mut s,
        "SENTINEL masters\r\n",
        "-NOAUTH Authentication required.\r\n",
    )
    .await;
    daemon.stop().await;
}
