#!/usr/bin/env bash
# redis-benchmark (Debian's redis-tools) against redis-server and against
# sessiond's RESP listener, in the same run, on the same machine.
#
#   benches/resp-benchmark.sh [OUT_DIR]     (default $CARGO_TARGET_DIR/resp-benchmark)
#
# Throughput: `-t $TESTS -c 50 -d 200 -n $REQUESTS -q` with -P 1 and -P 16
# (TESTS defaults to set,get,incr; TESTS=hset,sadd,spop,mset for issue 14's
# table), servers alternated, $ROUNDS rounds. Memory: fresh servers, then
# `-t set -n 1000000 -r 1000000 -d 200` into each, and used_memory_rss from
# INFO memory (sessiond answers it from the same /proc reading as STATS'
# rss_bytes). Prints markdown tables (medians of the rounds, with each
# server's CPU per request); raw output in OUT_DIR. SESSIOND_ARGS
# adds flags to the daemon (e.g. SESSIOND_ARGS="--threads 1"); MEMORY=0
# leaves the memory table out.
#
# PIN=1 stands in for a separate client machine: redis-benchmark runs on
# CPU 0 and each server on CPU 1 (`taskset`), so neither server shares its
# core with the load generator and throughput follows the server's own
# CPU per request. sessiond then serves with one connection thread
# (`--threads 1`, unless SESSIOND_ARGS says otherwise), as one core allows.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
out=${1:-$target/resp-benchmark}
requests=${REQUESTS:-500000}
rounds=${ROUNDS:-2}
tests=${TESTS:-set,get,incr}
mkdir -p "$out"

cargo build --release -q --bin sessiond
daemon=$target/release/sessiond
pin=${PIN:-0}
[ "$pin" = 1 ] && [ -z "${SESSIOND_ARGS:-}" ] && SESSIOND_ARGS="--threads 1"
read -r -a daemon_args <<< "${SESSIOND_ARGS:-}"
# The commands that start servers and load (`taskset` when pinned).
server_cpu=(); client_cpu=()
[ "$pin" = 1 ] && server_cpu=(taskset -c 1) && client_cpu=(taskset -c 0)

source benches/ports.sh

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_servers() {
    redis_port=$(free_port)
    ${server_cpu[@]+"${server_cpu[@]}"} redis-server --port "$redis_port" --save "" --appendonly no --daemonize no > "$out/redis.log" 2>&1 &
    redis_pid=$!
    native_port=$(free_port); sessiond_port=$(free_port)
    ${server_cpu[@]+"${server_cpu[@]}"} "$daemon" --listen "127.0.0.1:$native_port" --resp-listen "127.0.0.1:$sessiond_port" \
        --log-level warn ${daemon_args[@]+"${daemon_args[@]}"} > "$out/sessiond.log" 2>&1 &
    sessiond_pid=$!
    pids=("$redis_pid" "$sessiond_pid")
    wait_port "$redis_port" 10; wait_port "$sessiond_port" 10
}
stop_servers() { kill "$redis_pid" "$sessiond_pid"; wait "$redis_pid" "$sessiond_pid" 2>/dev/null || true; pids=(); }

# `SET: 118343.20 requests per second, p50=0.215 msec` -> `SET 118343.20`
# (and `MSET (10 keys): 9000.00 requests…` -> `MSET 9000.00`)
rates() { tr '\r' '\n' | sed -nE 's/^([A-Z_]+)[^:]*: ([0-9.]+) requests per second.*/\1 \2/p'; }

# A server's user+system CPU time so far, in clock ticks (/proc/PID/stat
# fields 14 and 15): divided by the requests of one redis-benchmark run,
# the server's CPU per request, a cost that holds when the load generator
# shares the machine.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_servers
: > "$out/throughput.txt"
for round in $(seq "$rounds"); do
    for pipeline in 1 16; do
        for test in ${tests//,/ }; do
            for server in redis sessiond; do
                port=$([ "$server" = redis ] && echo "$redis_port" || echo "$sessiond_port")
                pid=$([ "$server" = redis ] && echo "$redis_pid" || echo "$sessiond_pid")
                echo "== round $round, -P $pipeline, $test, $server" >&2
                before=$(cpu_ticks "$pid")
                rate=$(${client_cpu[@]+"${client_cpu[@]}"} redis-benchmark -h 127.0.0.1 -p "$port" -t "$test" -c 50 -d 200 \
                    -n "$requests" -P "$pipeline" -q 2>> "$out/stderr-$server.txt" | rates)
                after=$(cpu_ticks "$pid")
                # MSET's requests carry 10 keys each; CPU is per request.
                echo "$round $pipeline $server $rate $before $after $requests" | tee -a "$out/throughput.txt" >&2
            done
        done
    done
done
stop_servers

# Medians over the rounds: throughput, its ratio, and each server's CPU
# per request.
python3 - "$out/throughput.txt" <<'PY'
import os, statistics, sys
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
runs = {}
for line in open(sys.argv[1]):
    _, pipeline, server, test, rate, before, after, requests = line.split()
    entry = runs.setdefault((int(pipeline), test), {}).setdefault(server, {"rate": [], "cpu": []})
    entry["rate"].append(float(rate))
    entry["cpu"].append((int(after) - int(before)) * tick_us / int(requests))
med = statistics.median
print("| pipeline | test | redis-server req/s | sessiond req/s | ratio | redis CPU µs/req | sessiond CPU µs/req | CPU ratio |")
print("|---|---|---|---|---|---|---|---|")
for (pipeline, test), sides in sorted(runs.items()):
    r, s = sides["redis"], sides["sessiond"]
    print(f"| {pipeline} | {test} | {med(r['rate']):,.0f} | {med(s['rate']):,.0f} | "
          f"{med(s['rate']) / med(r['rate']):.2f}x | {med(r['cpu']):.2f} | {med(s['cpu']):.2f} | "
          f"{med(s['cpu']) / med(r['cpu']):.2f}x |")
PY

# MEMORY=0 skips the memory table (a throughput run of other tests).
[ "${MEMORY:-1}" = 0 ] && exit 0
echo "== memory: -t set -n 1000000 -r 1000000 -d 200" >&2
start_servers
for port in "$redis_port" "$sessiond_port"; do
    redis-benchmark -h 127.0.0.1 -p "$port" -t set -n 1000000 -r 1000000 -d 200 -q 2>/dev/null | rates >&2
done
info() { redis-cli -h 127.0.0.1 -p "$1" INFO memory | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'; }
redis_keys=$(redis-cli -h 127.0.0.1 -p "$redis_port" DBSIZE)
sessiond_keys=$(redis-cli -h 127.0.0.1 -p "$sessiond_port" DBSIZE)
redis_rss=$(info "$redis_port" used_memory_rss)
sessiond_rss=$(info "$sessiond_port" used_memory_rss)
echo
echo "| server | keys | used_memory_rss | bytes/key |"
echo "|---|---|---|---|"
echo "| redis-server | $redis_keys | $redis_rss | $((redis_rss / redis_keys)) |"
echo "| sessiond | $sessiond_keys | $sessiond_rss | $((sessiond_rss / sessiond_keys)) |"
stop_servers
