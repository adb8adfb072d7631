#!/usr/bin/env bash
# Two sessiond daemons against each other, in one run, on one machine: the
# A/B that a change to the server or engine must pass.
#
#   benches/ab.sh BEFORE_BIN AFTER_BIN [OUT_DIR]     (default $CARGO_TARGET_DIR/ab)
#
# BEFORE_BIN and AFTER_BIN are two `sessiond` binaries (build the old one
# from a worktree of the commit before the change). One load generator,
# sessiond-bench of this checkout, drives both: session-mix and get at
# pipeline 1 and 16 (`--clients 50 --sessions 200000 --data-size 200`),
# then redis-benchmark (`-t set,get -c 50 -d 200`) against each RESP
# listener at -P 1 and -P 16. Each round runs every case on both, in an
# order that alternates between rounds so that neither side always goes
# first on a warm or cold machine. Each run gets a fresh daemon.
# Prints a markdown table of medians over ROUNDS (default 3) and the
# after/before ratio; raw output in OUT_DIR. DURATION (default 10) is the
# seconds of each sessiond-bench run, REQUESTS (default 500000) the
# requests of each redis-benchmark run; SESSIOND_ARGS adds flags to both
# daemons.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
before=$(realpath "$1"); after=$(realpath "$2")
target=${CARGO_TARGET_DIR:-target}
out=${3:-$target/ab}
rounds=${ROUNDS:-3}
duration=${DURATION:-10}
requests=${REQUESTS:-500000}
read -r -a daemon_args <<< "${SESSIOND_ARGS:-}"
mkdir -p "$out"
: > "$out/runs.txt"

cargo build --release -q -p sessiond-bench --bin sessiond-bench
bench=$target/release/sessiond-bench
command -v redis-benchmark >/dev/null || { echo "ab.sh needs redis-benchmark (Debian's redis-tools)" >&2; exit 1; }

source benches/ports.sh

daemon_pid=
cleanup() { [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true; }
trap cleanup EXIT

# start_daemon BIN: a fresh daemon with both listeners; sets native_port,
# resp_port and daemon_pid.
start_daemon() {
    native_port=$(free_port); resp_port=$(free_port)
    "$1" --listen "127.0.0.1:$native_port" --resp-listen "127.0.0.1:$resp_port" \
        --log-level warn ${daemon_args[@]+"${daemon_args[@]}"} >> "$out/daemon.log" 2>&1 &
    daemon_pid=$!
    wait_port "$native_port" 10; wait_port "$resp_port" 10
}
stop_daemon() { kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=; }

# The daemon's user+system CPU time so far, in clock ticks (/proc/PID/stat
# fields 14 and 15; the command name in field 2 has no spaces here).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$daemon_pid/stat"; }

# One line per measurement: `round side case ops_per_sec server_cpu_us`.
record() { echo "$1 $2 $3 $4 $5" | tee -a "$out/runs.txt" >&2; }

for round in $(seq "$rounds"); do
    sides=(before after); [ $((round % 2)) = 0 ] && sides=(after before)
    for workload in session-mix get; do
        for pipeline in 1 16; do
            for side in "${sides[@]}"; do
                bin=$before; [ "$side" = after ] && bin=$after
                start_daemon "$bin"
                json=$("$bench" --target "sessiond://127.0.0.1:$native_port" --json \
                    --workload "$workload" --sessions 200000 --data-size 200 --per-owner 5 \
                    --clients 50 --pipeline "$pipeline" --duration "$duration")
                stop_daemon
                echo "$json" >> "$out/sessiond-bench.jsonl"
                read -r ops cpu < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["ops_per_sec"], r["server_cpu_us_per_op"] or "-")' "$json")
                record "$round" "$side" "native-$workload-P$pipeline" "$ops" "$cpu"
            done
        done
    done
    for pipeline in 1 16; do
        for side in "${sides[@]}"; do
            bin=$before; [ "$side" = after ] && bin=$after
            start_daemon "$bin"
            # One test per redis-benchmark run, so that the daemon's CPU
            # time over the run belongs to that test's requests alone.
            for test in set get; do
                ticks=$(cpu_ticks)
                # `SET: 118343.20 requests per second, p50=0.215 msec` -> `118343.20`
                rate=$(redis-benchmark -h 127.0.0.1 -p "$resp_port" -t "$test" -c 50 -d 200 \
                    -n "$requests" -P "$pipeline" -q 2>> "$out/redis-benchmark.err" \
                    | tr '\r' '\n' | awk -F'[: ]+' '/requests per second/ {print $2}')
                cpu=$(python3 -c 'import os,sys; t=int(sys.argv[2])-int(sys.argv[1]); print(round(t/os.sysconf("SC_CLK_TCK")*1e6/int(sys.argv[3]),2))' \
                    "$ticks" "$(cpu_ticks)" "$requests")
                record "$round" "$side" "resp-${test^^}-P$pipeline" "$rate" "$cpu"
            done
            stop_daemon
        done
    done
done

python3 - "$out/runs.txt" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    _, side, case, ops, cpu = line.split()
    entry = runs.setdefault(case, {}).setdefault(side, {"ops": [], "cpu": []})
    entry["ops"].append(float(ops))
    if cpu != "-":
        entry["cpu"].append(float(cpu))
med = lambda xs: statistics.median(xs) if xs else None
print("| case | before ops/s | after ops/s | after/before | before CPU µs/op | after CPU µs/op |")
print("|---|---:|---:|---:|---:|---:|")
for case, sides in runs.items():
    b, a = sides["before"], sides["after"]
    cpu = lambda s: f"{med(s['cpu']):.2f}" if s["cpu"] else "-"
    print(f"| {case} | {med(b['ops']):,.0f} | {med(a['ops']):,.0f} | "
          f"{med(a['ops']) / med(b['ops']):.2f}x | {cpu(b)} | {cpu(a)} |")
EOF
