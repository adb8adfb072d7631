#!/usr/bin/env bash
# sessiond against Redis, one program (sessiond-bench), one machine, one run.
#
#   benches/compare.sh [OUT_DIR]      (default target/compare)
#
# Needs redis-server (Debian's package) and redis-benchmark (redis-tools).
# Each sessiond run gets a fresh daemon (the native protocol has no flush);
# Redis is flushed before each run, and measured for memory fresh.
# Writes one JSON object per run to OUT_DIR/runs.jsonl, the redis-benchmark
# reference to OUT_DIR/redis-benchmark.txt, and the chart to
# docs/benchmarks.svg. SESSIOND_ARGS adds flags to every daemon started
# (e.g. SESSIOND_ARGS="--threads 1").
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/compare}
mkdir -p "$out"
: > "$out/runs.jsonl"

cargo build --release -q -p sessiond-bench --bin sessiond-bench
cargo build --release -q --bin sessiond
target=${CARGO_TARGET_DIR:-target}
bench=$target/release/sessiond-bench
daemon=$target/release/sessiond
read -r -a daemon_args <<< "${SESSIOND_ARGS:-}"
duration=${DURATION:-10}

source benches/ports.sh

redis_port=$(free_port)
redis-server --port "$redis_port" --save "" --appendonly no --daemonize no > "$out/redis.log" 2>&1 &
redis_pid=$!
sessiond_pid=
cleanup() { kill "$redis_pid" ${sessiond_pid:+"$sessiond_pid"} 2>/dev/null || true; }
trap cleanup EXIT
wait_port "$redis_port" 5

# Runs sessiond-bench against a fresh daemon; extra arguments pass through.
run_sessiond() {
    local port; port=$(free_port)
    "$daemon" --listen "127.0.0.1:$port" --log-level warn ${daemon_args[@]+"${daemon_args[@]}"} > "$out/sessiond.log" 2>&1 &
    sessiond_pid=$!
    wait_port "$port" 5
    "$bench" --target "sessiond://127.0.0.1:$port" --json "$@" >> "$out/runs.jsonl"
    kill "$sessiond_pid"; wait "$sessiond_pid" 2>/dev/null || true
    sessiond_pid=
}

run_redis() {
    "$bench" --target "redis://127.0.0.1:$redis_port" --flush --json "$@" >> "$out/runs.jsonl"
}

for workload in session-mix get set; do
    for pipeline in 1 16; do
        args=(--workload "$workload" --sessions 200000 --data-size 200 --per-owner 5
              --clients 50 --pipeline "$pipeline" --duration "$duration")
        echo "== $workload, pipeline $pipeline" >&2
        run_sessiond "${args[@]}"
        run_redis "${args[@]}"
    done
done

echo "== memory, 1M sessions" >&2
memory=(--memory-only --sessions 1000000 --data-size 200 --per-owner 5)
"$bench" --target embedded --json "${memory[@]}" >> "$out/runs.jsonl"
run_sessiond "${memory[@]}"
kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
redis-server --port "$redis_port" --save "" --appendonly no --daemonize no >> "$out/redis.log" 2>&1 &
redis_pid=$!
wait_port "$redis_port" 5
run_redis "${memory[@]}"

echo "== redis-benchmark reference" >&2
for pipeline in 1 16; do
    echo "-P $pipeline" >> "$out/redis-benchmark.txt"
    redis-benchmark -p "$redis_port" -t set,get,incr -c 50 -d 200 -n 500000 -P "$pipeline" -q 2>&1 \
        | tr '\r' '\n' | grep 'requests per second' >> "$out/redis-benchmark.txt"
done

python3 benches/chart.py "$out/runs.jsonl" docs/benchmarks.svg
python3 benches/chart.py --table "$out/runs.jsonl"
