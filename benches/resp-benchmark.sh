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
# rss_bytes). Prints a markdown table; raw output in OUT_DIR. SESSIOND_ARGS
# adds flags to the daemon (e.g. SESSIOND_ARGS="--threads 1"); MEMORY=0
# leaves the memory table out.
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
read -r -a daemon_args <<< "${SESSIOND_ARGS:-}"

source benches/ports.sh

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_servers() {
    redis_port=$(free_port)
    redis-server --port "$redis_port" --save "" --appendonly no --daemonize no > "$out/redis.log" 2>&1 &
    redis_pid=$!
    native_port=$(free_port); sessiond_port=$(free_port)
    "$daemon" --listen "127.0.0.1:$native_port" --resp-listen "127.0.0.1:$sessiond_port" \
        --log-level warn ${daemon_args[@]+"${daemon_args[@]}"} > "$out/sessiond.log" 2>&1 &
    sessiond_pid=$!
    pids=("$redis_pid" "$sessiond_pid")
    wait_port "$redis_port" 10; wait_port "$sessiond_port" 10
}
stop_servers() { kill "$redis_pid" "$sessiond_pid"; wait "$redis_pid" "$sessiond_pid" 2>/dev/null || true; pids=(); }

# `SET: 118343.20 requests per second, p50=0.215 msec` -> `SET 118343.20`
# (and `MSET (10 keys): 9000.00 requests…` -> `MSET 9000.00`)
rates() { tr '\r' '\n' | sed -nE 's/^([A-Z_]+)[^:]*: ([0-9.]+) requests per second.*/\1 \2/p'; }

start_servers
: > "$out/throughput.txt"
for round in $(seq "$rounds"); do
    for pipeline in 1 16; do
        for server in redis sessiond; do
            port=$([ "$server" = redis ] && echo "$redis_port" || echo "$sessiond_port")
            echo "== round $round, -P $pipeline, $server" >&2
            redis-benchmark -h 127.0.0.1 -p "$port" -t "$tests" -c 50 -d 200 \
                -n "$requests" -P "$pipeline" -q 2> "$out/stderr-$server.txt" \
                | rates | sed "s/^/$round $pipeline $server /" | tee -a "$out/throughput.txt" >&2
        done
    done
done
stop_servers

echo "| round | pipeline | test | redis-server req/s | sessiond req/s | ratio |"
echo "|---|---|---|---|---|---|"
awk '{ rate[$1" "$2" "$4" "$3] = $5; key[$1" "$2" "$4] = 1 }
     END { for (k in key) { split(k, f, " ");
             r = rate[k" redis"]; s = rate[k" sessiond"];
             printf "| %s | %s | %s | %\047d | %\047d | %.2fx |\n", f[1], f[2], f[3], r, s, s / r } }' \
    "$out/throughput.txt" | sort -t'|' -k2,2n -k3,3n -k4,4

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
