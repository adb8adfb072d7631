#!/usr/bin/env bash
# Replication in one run: failover time, throughput against a single node
# and against Redis with a replica, and the fault tests with 20 rounds.
#
#   benches/failover.sh [OUT_DIR]        (default $CARGO_TARGET_DIR/failover)
#
# 1. Failover (FAILOVERS rounds, default 10): a group of three on loopback
#    (release build, data directories under DATA_ROOT), one client writing
#    back to back (`sessiond-bench --failover`: session creates with ids it
#    chose, following NOT_LEADER). Each round waits a random 1 to 2 s,
#    kill -9s the leader (the node ROLE calls master), then waits for the
#    client's first acknowledgement from another node: failover time is
#    from the kill to that acknowledgement (both on the wall clock). The
#    dead node is restarted on its data directory and the round ends once
#    it follows again. Median and max; the target is a median of 2 s.
# 2. Throughput (ROUNDS rounds, default 3, the systems' order reversed
#    every other round): for each workload in WORKLOADS and depth in
#    PIPELINES, each of
#      group    the leader of three nodes (a fresh group per run)
#      single   one node, the same flags but no --peer (a group of one)
#      redis    redis-server with one replica (replicaof), AOF everysec on
#               both as sessiond's default fsync, and every write followed
#               by WAIT 1 0 (`--redis-wait-replicas 1`)
#    gets fresh servers and `sessiond-bench --workload W --sessions
#    $SESSIONS --data-size 200 --per-owner 5 --clients 50 --pipeline P
#    --duration $DURATION --json`, with `--cpu-of` the followers (or the
#    replica), so that the CPU the replication costs them is counted too.
#    Then redis-benchmark `-t set` and `-t get -c 50 -d 200 -n $REQUESTS`
#    at -P 1 and -P 16 on the group leader's RESP listener and the single
#    node's (server CPU per request from /proc/PID/stat, leader and
#    followers apart).
# 3. The fault tests of tests/daemon/group with SESSIOND_FAULT_ROUNDS=20
#    (release): pass or fail, and how long they took.
#
# SKIP leaves parts out ("failover", "throughput", "redis-benchmark",
# "fault-tests"). Raw results in OUT_DIR (events, runs, logs); the summary
# goes to stdout and OUT_DIR/results.md, the figures to OUT_DIR/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${1:-}" != "-h" ] || { sed -n '2,39p' "$0"; exit 0; }
target=${CARGO_TARGET_DIR:-target}
out=${1:-$target/failover}
failovers=${FAILOVERS:-10}
rounds=${ROUNDS:-3}
duration=${DURATION:-10}
sessions=${SESSIONS:-200000}
requests=${REQUESTS:-200000}
workloads=${WORKLOADS:-session-mix get set}
pipelines=${PIPELINES:-1 16}
skip=${SKIP:-}
data_root=${DATA_ROOT:-/var/tmp/failover-bench.$$}
mkdir -p "$out" "$data_root"
out=$(realpath "$out")
skipped() { [[ " $skip " == *" $1 "* ]]; }

# Two builds: `--bin sessiond` would also filter sessiond-bench's binary out.
cargo build --release -q -p sessiond-server --bin sessiond
cargo build --release -q -p sessiond-bench
daemon=$target/release/sessiond
bench=$target/release/sessiond-bench
for tool in redis-server redis-cli redis-benchmark python3; do
    command -v "$tool" >/dev/null || { echo "failover.sh needs $tool" >&2; exit 1; }
done

source benches/ports.sh

# Every process started here, by pid; the cleanup ends them and only them.
declare -A running=()
cleanup() {
    for pid in "${!running[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$data_root"
}
trap cleanup EXIT
# A signal ends the script through its EXIT trap, servers and data included.
trap 'exit 1' INT TERM
started() { running[$1]=1; }
# stop PID [SIGNAL]: signals it (TERM by default) and waits for it.
stop() { kill "-${2:-TERM}" "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; unset "running[$1]"; }
now_ns() { date +%s%N; }

# --- the group -------------------------------------------------------------
# Node i (1-based) has native_port[i], resp_port[i], raft_port[i], pid[i];
# group_size nodes, data in $data_root/group/node-i, log in $group_log.
declare -a native_port resp_port raft_port pid
group_size=0 group_log=/dev/null

start_node() {
    local i=$1 peers=() j
    for j in $(seq "$group_size"); do
        [ "$j" = "$i" ] || peers+=(--peer "$j=127.0.0.1:${raft_port[$j]}")
    done
    mkdir -p "$data_root/group/node-$i"
    # 3>&-: the failover client's FIFO must close when this script closes
    # it, so no node may hold it open.
    "$daemon" --node-id "$i" --raft-listen "127.0.0.1:${raft_port[$i]}" ${peers[@]+"${peers[@]}"} \
        --listen "127.0.0.1:${native_port[$i]}" --resp-listen "127.0.0.1:${resp_port[$i]}" \
        --data-dir "$data_root/group/node-$i" --log-level "$log_level" \
        >> "$group_log.node-$i" 2>&1 3>&- &
    pid[$i]=$!; started "${pid[$i]}"
    wait_port "${native_port[$i]}" 30
}

# start_group N LOG LEVEL: N fresh nodes, each with every other as peer.
start_group() {
    local i
    group_size=$1 group_log=$2 log_level=$3
    rm -rf "$data_root/group"
    for i in $(seq "$group_size"); do
        native_port[i]=$(free_port); resp_port[i]=$(free_port); raft_port[i]=$(free_port)
    done
    for i in $(seq "$group_size"); do start_node "$i"; done
}

stop_group() {
    local i
    for i in $(seq "$group_size"); do [ -z "${pid[i]:-}" ] || stop "${pid[i]}"; pid[i]=; done
}

# role I: the first word of node I's ROLE (master or slave), or nothing.
role() { timeout 2 redis-cli -p "${resp_port[$1]}" ROLE 2>/dev/null | head -1 || true; }

# wait_leader SECS [NOT]: prints the index of the node that says master
# (other than NOT), polling every 50 ms; fails after SECS.
wait_leader() {
    local i _
    for _ in $(seq $(($1 * 20))); do
        for i in $(seq "$group_size"); do
            [ "$i" != "${2:-}" ] && [ -n "${pid[i]:-}" ] && [ "$(role "$i")" = master ] && { echo "$i"; return; }
        done
        sleep 0.05
    done
    echo "no leader within $1 s" >&2
    return 1
}

# wait_follows I SECS: until node I says it is a replica of a known leader.
wait_follows() {
    local _
    for _ in $(seq $(($2 * 20))); do
        timeout 2 redis-cli -p "${resp_port[$1]}" ROLE 2>/dev/null | grep -qx connected && return
        sleep 0.05
    done
    echo "node $1 does not follow within $2 s" >&2
    return 1
}

# The user+system CPU time of PID so far, in clock ticks.
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
sum_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
ticks_to_us_per() { python3 -c 'import os,sys; print(round(int(sys.argv[1])/os.sysconf("SC_CLK_TCK")*1e6/int(sys.argv[2]),2))' "$1" "$2"; }

# --- 1. failover -----------------------------------------------------------
if ! skipped failover; then
    echo "== failover: $failovers rounds" >&2
    start_group 3 "$out/failover" info
    leader=$(wait_leader 20)
    nodes=$(for i in 1 2 3; do printf '127.0.0.1:%s,' "${native_port[i]}"; done)
    ctl=$data_root/failover.ctl
    mkfifo "$ctl"
    # The client runs until its standard input (the FIFO, held on fd 3)
    # closes, or for an hour at most.
    "$bench" --failover "${nodes%,}" --data-size 200 --duration 3600 \
        < "$ctl" > "$out/failover-events.jsonl" 2> "$out/failover-client.err" &
    writer=$!; started "$writer"
    exec 3> "$ctl"
    : > "$out/failover-kills.txt"
    for round in $(seq "$failovers"); do
        sleep "1.$(printf '%03d' $((RANDOM % 1000)))"
        leader=$(wait_leader 20)
        kill_ns=$(now_ns)
        stop "${pid[leader]}" KILL; pid[leader]=
        new=$(wait_leader 20 "$leader")
        elected_ns=$(now_ns)
        # The client's first acknowledgement from another node after the
        # kill (bounded: 30 s, a write's own bound).
        for _ in $(seq 600); do
            grep '"event":"switch"' "$out/failover-events.jsonl" | grep -o '"at_unix_ns":"[0-9]*"' \
                | tr -dc '0-9\n' | awk -v k="$kill_ns" '$1 > k {found=1} END {exit !found}' && break
            sleep 0.05
        done
        echo "$round ${native_port[leader]} $kill_ns ${native_port[new]} $elected_ns" >> "$out/failover-kills.txt"
        echo "   round $round: killed node $leader, node $new leads" >&2
        start_node "$leader"
        wait_follows "$leader" 20
    done
    exec 3>&-
    wait "$writer" || echo "the failover client failed: $(cat "$out/failover-client.err")" >&2
    unset "running[$writer]"
    stop_group
fi

# --- 2. throughput ---------------------------------------------------------
redis_pids=()
# start_system SYSTEM: fresh servers; sets url, server_pid (the one the
# load goes to), others (pids to count with --cpu-of) and resp (RESP port).
start_system() {
    others=()
    case $1 in
        group|single)
            start_group "$([ "$1" = group ] && echo 3 || echo 1)" "$out/$1" warn
            local l; l=$(wait_leader 20)
            url="sessiond://127.0.0.1:${native_port[l]}"; server_pid=${pid[l]}; resp=${resp_port[l]}
            local i
            for i in $(seq "$group_size"); do [ "$i" = "$l" ] || others+=("${pid[i]}"); done ;;
        redis)
            rm -rf "$data_root/redis"; mkdir -p "$data_root/redis/primary" "$data_root/redis/replica"
            local primary replica
            primary=$(free_port); replica=$(free_port)
            redis-server --port "$primary" --dir "$data_root/redis/primary" --save '' \
                --appendonly yes --appendfsync everysec --daemonize no >> "$out/redis-primary.log" 2>&1 &
            redis_pids=($!); started $!
            wait_port "$primary" 10
            redis-server --port "$replica" --dir "$data_root/redis/replica" --save '' \
                --appendonly yes --appendfsync everysec --replicaof 127.0.0.1 "$primary" \
                --daemonize no >> "$out/redis-replica.log" 2>&1 &
            redis_pids+=($!); started $!
            wait_port "$replica" 10
            local _
            for _ in $(seq 200); do
                redis-cli -p "$replica" INFO replication | grep -q '^master_link_status:up' && break
                sleep 0.05
            done
            url="redis://127.0.0.1:$primary"; server_pid=${redis_pids[0]}; resp=$primary
            others=("${redis_pids[1]}") ;;
    esac
}
stop_system() {
    case $1 in
        redis) local p; for p in "${redis_pids[@]}"; do stop "$p"; done; redis_pids=() ;;
        *) stop_group ;;
    esac
}

systems=(group single redis)
if ! skipped throughput; then
    : > "$out/throughput.jsonl"
    for round in $(seq "$rounds"); do
        order=("${systems[@]}"); [ $((round % 2)) = 0 ] && order=(redis single group)
        for workload in $workloads; do
            for pipeline in $pipelines; do
                for system in "${order[@]}"; do
                    echo "== round $round, $workload, pipeline $pipeline, $system" >&2
                    start_system "$system"
                    wait_flags=(); [ "$system" = redis ] && wait_flags=(--redis-wait-replicas 1)
                    cpu_flags=(); for p in ${others[@]+"${others[@]}"}; do cpu_flags+=(--cpu-of "$p"); done
                    json=$("$bench" --target "$url" --workload "$workload" --sessions "$sessions" \
                        --data-size 200 --per-owner 5 --clients 50 --pipeline "$pipeline" \
                        --duration "$duration" --json ${wait_flags[@]+"${wait_flags[@]}"} ${cpu_flags[@]+"${cpu_flags[@]}"} \
                        2>> "$out/bench.err") || { echo "   bench failed, see $out/bench.err" >&2; json=null; }
                    stop_system "$system"
                    printf '{"round":%d,"system":"%s","workload":"%s","pipeline":%d,"run":%s}\n' \
                        "$round" "$system" "$workload" "$pipeline" "$json" >> "$out/throughput.jsonl"
                done
            done
        done
    done
fi

if ! skipped redis-benchmark; then
    : > "$out/redis-benchmark.txt"
    for round in $(seq "$rounds"); do
        order=(group single); [ $((round % 2)) = 0 ] && order=(single group)
        for pipeline in 1 16; do
            for system in "${order[@]}"; do
                echo "== round $round, redis-benchmark -P $pipeline, $system" >&2
                start_system "$system"
                # One test per redis-benchmark run, so that the CPU time over
                # the run belongs to that test's requests alone.
                for test in set get; do
                    lead=$(cpu_ticks "$server_pid"); rest=$(sum_ticks ${others[@]+"${others[@]}"})
                    rate=$(redis-benchmark -h 127.0.0.1 -p "$resp" -t "$test" -c 50 -d 200 \
                        -n "$requests" -P "$pipeline" -q 2>> "$out/redis-benchmark.err" \
                        | tr '\r' '\n' | awk -F'[: ]+' '/requests per second/ {print $2}')
                    lead=$(($(cpu_ticks "$server_pid") - lead))
                    rest=$(($(sum_ticks ${others[@]+"${others[@]}"}) - rest))
                    echo "$round $system ${test^^}-P$pipeline ${rate:-0} $(ticks_to_us_per "$lead" "$requests") $(ticks_to_us_per "$rest" "$requests")" \
                        | tee -a "$out/redis-benchmark.txt" >&2
                done
                stop_system "$system"
            done
        done
    done
fi

# --- 3. fault tests --------------------------------------------------------
if ! skipped fault-tests; then
    echo "== fault tests, 20 rounds" >&2
    cargo test --release -q -p sessiond-server --test daemon --no-run 2>> "$out/fault-tests.log"
    begun=$(now_ns)
    if SESSIOND_FAULT_ROUNDS=20 cargo test --release -p sessiond-server --test daemon group:: \
        -- --test-threads=1 >> "$out/fault-tests.log" 2>&1; then status=pass; else status=fail; fi
    echo "$status $(( ($(now_ns) - begun) / 1000000 ))" > "$out/fault-tests.txt"
fi

python3 benches/failover-report.py "$out" | tee "$out/results.md"
