//! The random and multi-key writes of the Redis face in a group: SPOP's
//! choice comes from an id the leader draws and logs with it, so every
//! node pops the same members; SMOVE, MSETNX and INCRBYFLOAT land the same
//! everywhere.

use std::time::{Duration, Instant};

use redis::AsyncCommands;

use super::harness::Group;
use super::{ELECTION, redis_at};

/// What a node's own copy holds of the keys the test wrote.
async fn state(conn: &mut redis::aio::MultiplexedConnection) -> (Vec<String>, Vec<String>, String) {
    let mut a: Vec<String> = conn.smembers("a").await.unwrap();
    let mut b: Vec<String> = conn.smembers("b").await.unwrap();
    a.sort();
    b.sort();
    let f: Option<String> = conn.get("f").await.unwrap();
    (a, b, f.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spop_and_multi_key_writes_leave_every_node_the_same() {
    let group = Group::start(3, &[]);
    let leader = group.leader(ELECTION).await.expect("a leader is elected");
    let mut on_leader = redis_at(group.nodes[leader].resp).await;
    let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let _: usize = on_leader.sadd("a", &members).await.unwrap();
    let mut popped = 0;
    for _ in 0..5 {
        let out: Vec<String> = redis::cmd("SPOP")
            .arg("a")
            .arg(7)
            .query_async(&mut on_leader)
            .await
            .unwrap();
        popped += out.len();
        let one: Option<String> = on_leader.spop("a").await.unwrap();
        popped += usize::from(one.is_some());
    }
    assert_eq!(popped, 40);
    for m in ["m0", "m1", "m2", "m3"] {
        let _: bool = on_leader.smove("a", "b", m).await.unwrap();
    }
    let set: bool = redis::cmd("MSETNX")
        .arg("x")
        .arg("1")
        .arg("y")
        .arg("2")
        .query_async(&mut on_leader)
        .await
        .unwrap();
    assert!(set);
    let _: f64 = on_leader.incr("f", 0.1f64).await.unwrap();
    let _: f64 = on_leader.incr("f", 0.2f64).await.unwrap();
    let expected = state(&mut on_leader).await;
    assert_eq!(expected.2, "0.3");
    assert!(expected.0.len() + expected.1.len() <= 160);
    for (i, node) in group.nodes.iter().enumerate() {
        if i == leader {
            continue;
        }
        let mut follower = redis_at(node.resp).await;
        let _: () = redis::cmd("READONLY")
            .query_async(&mut follower)
            .await
            .unwrap();
        let started = Instant::now();
        loop {
            if state(&mut follower).await == expected {
                break;
            }
            assert!(
                started.elapsed() < ELECTION,
                "node {i} holds another state than the leader's"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
