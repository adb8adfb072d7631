#!/usr/bin/env bash
# Persistence against Redis's AOF: write throughput under each fsync policy,
# and restart time with a million sessions. One program (sessiond-bench),
# one machine, servers alternated in the same run.
#
#   benches/persist-bench.sh [OUT_DIR]    (default $CARGO_TARGET_DIR/persist-bench)
#
# Throughput (ROUNDS rounds, interleaved): for each workload in WORKLOADS
# and pipeline depth in PIPELINES, each of
#   sessiond in memory              sessiond --listen A
#   sessiond everysec               sessiond --listen A --data-dir D --fsync everysec
#   redis everysec                  redis-server --appendonly yes --appendfsync everysec --save ''
#   sessiond always                 sessiond --listen A --data-dir D --fsync always
#   redis always                    redis-server --appendonly yes --appendfsync always --save ''
# gets a fresh server and a fresh, empty data directory, then
#   sessiond-bench --target T --workload W --sessions 200000 --data-size 200
#     --per-owner 5 --clients 50 --pipeline P --duration $DURATION --json
#
# Restart (RESTART_SESSIONS, default 1,000,000): a daemon with --data-dir
# (fsync everysec) is filled by `sessiond-bench --memory-only --sessions N
# --data-size 200 --per-owner 5`, stopped with SIGTERM and restarted
# RESTARTS times (and once more with its files dropped from the page cache,
# "cold"); each restart's `loaded … ms=` and the wall time from spawn
# until the port accepts are recorded. Then compaction is forced by
# overwriting 1,000 plain keys through the RESP listener (redis-benchmark)
# until the log outgrows twice the live data and a compaction starts (then
# waiting for its snapshot), and the restarts are repeated from the
# snapshot. Redis does the same with an AOF (the same prefill through
# sessiond-bench, then after BGREWRITEAOF), ready when PING answers.
#
# Data directories go under DATA_ROOT (default /var/tmp/persist-bench.PID)
# and are removed at the end. Raw results in OUT_DIR: throughput.jsonl
# (one line per run), restart.txt, the servers' logs (appended, one file per
# system). Prints markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
out=${1:-$target/persist-bench}
duration=${DURATION:-10}
rounds=${ROUNDS:-3}
sessions=${SESSIONS:-200000}
workloads=${WORKLOADS:-set session-mix}
pipelines=${PIPELINES:-1 16}
restart_sessions=${RESTART_SESSIONS:-1000000}
restarts=${RESTARTS:-3}
skip=${SKIP:-}            # "throughput" and/or "restart" to leave a part out
data_root=${DATA_ROOT:-/var/tmp/persist-bench.$$}
mkdir -p "$out" "$data_root"

# Two builds: `--bin sessiond` would also filter sessiond-bench's binary out.
cargo build --release -q -p sessiond-server --bin sessiond
cargo build --release -q -p sessiond-bench
daemon=$target/release/sessiond
bench=$target/release/sessiond-bench

source benches/ports.sh
redis_ready() { [ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ]; }
wait_redis() { for _ in $(seq 6000); do redis_ready "$1" && return; sleep 0.01; done; echo "redis on $1 never ready" >&2; exit 1; }
now() { date +%s.%N; }
ms_since() { python3 -c "import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000))" "$1" "$(now)"; }

server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$data_root"
}
trap cleanup EXIT

# stop PID: SIGTERM, then wait for it to exit.
stop() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; server_pid=; }

# start_server SYSTEM LOG -> sets server_pid, port, url. SYSTEM is one of
# sessiond-memory, sessiond-everysec, sessiond-always, redis-everysec,
# redis-always; each gets a fresh data directory.
start_server() {
    local system=$1 log=$2 dir="$data_root/$1"
    rm -rf "$dir"; mkdir -p "$dir"
    port=$(free_port)
    case $system in
        sessiond-memory)
            "$daemon" --listen "127.0.0.1:$port" --log-level warn >> "$log" 2>&1 & ;;
        sessiond-*)
            "$daemon" --listen "127.0.0.1:$port" --data-dir "$dir" --fsync "${system#sessiond-}" \
                --log-level warn >> "$log" 2>&1 & ;;
        redis-*)
            redis-server --port "$port" --appendonly yes --appendfsync "${system#redis-}" \
                --dir "$dir" --save '' --daemonize no >> "$log" 2>&1 & ;;
    esac
    server_pid=$!
    case $system in
        redis-*) wait_redis "$port"; url="redis://127.0.0.1:$port" ;;
        *) wait_port "$port" 60; url="sessiond://127.0.0.1:$port" ;;
    esac
}

systems=(sessiond-memory sessiond-everysec redis-everysec sessiond-always redis-always)

if [[ " $skip " != *" throughput "* ]]; then
    : > "$out/throughput.jsonl"
    for system in "${systems[@]}"; do : > "$out/$system.log"; done
    for round in $(seq "$rounds"); do
        for workload in $workloads; do
            for pipeline in $pipelines; do
                for system in "${systems[@]}"; do
                    echo "== round $round, $workload, pipeline $pipeline, $system" >&2
                    start_server "$system" "$out/$system.log"
                    json=$("$bench" --target "$url" --workload "$workload" --sessions "$sessions" \
                        --data-size 200 --per-owner 5 --clients 50 --pipeline "$pipeline" \
                        --duration "$duration" --json) || { echo "bench failed: $system" >&2; json=null; }
                    du=$(du -sb "$data_root/$system" | cut -f1)
                    stop "$server_pid"
                    printf '{"round":%d,"system":"%s","workload":"%s","pipeline":%d,"dir_bytes":%d,"run":%s}\n' \
                        "$round" "$system" "$workload" "$pipeline" "$du" "$json" >> "$out/throughput.jsonl"
                    rm -rf "${data_root:?}/$system"
                done
            done
        done
    done

    python3 - "$out/throughput.jsonl" <<'EOF'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
groups = {}
for r in runs:
    if r["run"] is None:
        continue
    groups.setdefault((r["workload"], r["pipeline"], r["system"]), []).append(r["run"])
order = ["sessiond-memory", "sessiond-everysec", "redis-everysec", "sessiond-always", "redis-always"]
def med(key, field):
    return statistics.median(run[field] for run in groups[key])
# prefill/s: the prefill's writes (creates for session-mix, SETs for set)
# per second, from one connection in pipelined batches of 1024.
print("| workload | pipeline | system | ops/s (median) | runs | p50 µs | p99 µs | server CPU µs/op | vs sessiond in memory | vs Redis, same fsync | prefill/s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for workload, pipeline in sorted({(w, p) for w, p, _ in groups}, key=lambda k: (k[0] != "set", k[1])):
    for system in order:
        key = (workload, pipeline, system)
        if key not in groups:
            continue
        ops = med(key, "ops_per_sec")
        each = ", ".join(f"{run['ops_per_sec']:,.0f}" for run in groups[key])
        memory = (workload, pipeline, "sessiond-memory")
        vs_mem = f"{ops / med(memory, 'ops_per_sec'):.2f}x" if system.startswith("sessiond") and memory in groups else ""
        fsync = system.split("-")[1]
        redis = (workload, pipeline, f"redis-{fsync}")
        vs_redis = f"{ops / med(redis, 'ops_per_sec'):.2f}x" if system.startswith("sessiond") and fsync != "memory" and redis in groups else ""
        cpu = [run.get("server_cpu_us_per_op") for run in groups[key] if run.get("server_cpu_us_per_op") is not None]
        cpu = f"{statistics.median(cpu):.1f}" if cpu else ""
        prefill = statistics.median(run["sessions"] / run["prefill_secs"] for run in groups[key])
        print(f"| {workload} | {pipeline} | {system} | {ops:,.0f} | {each} | {med(key, 'p50_us'):,.0f} | {med(key, 'p99_us'):,.0f} | {cpu} | {vs_mem} | {vs_redis} | {prefill:,.0f} |")
print()
print("Per round, sessiond / Redis with the same fsync, and everysec / in memory:")
for workload, pipeline in sorted({(w, p) for w, p, _ in groups}, key=lambda k: (k[0] != "set", k[1])):
    by_round = {}
    for r in runs:
        if r["workload"] == workload and r["pipeline"] == pipeline and r["run"]:
            by_round.setdefault(r["round"], {})[r["system"]] = r["run"]["ops_per_sec"]
    for rnd, s in sorted(by_round.items()):
        parts = []
        for a, b in [("sessiond-everysec", "redis-everysec"), ("sessiond-always", "redis-always"), ("sessiond-everysec", "sessiond-memory")]:
            if a in s and b in s:
                parts.append(f"{a}/{b} {s[a] / s[b]:.2f}x")
        print(f"- {workload} P{pipeline} round {rnd}: " + "; ".join(parts))
EOF
fi

[[ " $skip " == *" restart "* ]] && exit 0

# --- restart with RESTART_SESSIONS sessions -------------------------------
# After the warm restarts (files in the page cache, as after a deploy), one
# "cold" restart reads them from the disk: their cached pages are dropped
# first (posix_fadvise DONTNEED on these files only, not the whole cache).
evict_cache() {
    find "$1" -type f -print0 | xargs -0 python3 -c '
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)'
}
: > "$out/restart.txt"
dir="$data_root/restart-sessiond"
rm -rf "$dir"; mkdir -p "$dir"
log="$out/restart-sessiond.log"

# sessiond_start [extra args]: starts the daemon on $dir; sets port, resp.
sessiond_start() {
    port=$(free_port); resp=$(free_port)
    started=$(now)
    "$daemon" --listen "127.0.0.1:$port" --resp-listen "127.0.0.1:$resp" --data-dir "$dir" \
        --fsync everysec "$@" >> "$log" 2>&1 &
    server_pid=$!
    wait_port "$port" 60
    ready_ms=$(ms_since "$started")
}

# sessiond_restarts LABEL: RESTARTS restarts of the daemon on $dir.
sessiond_restarts() {
    local label=$1
    echo "$label: $(ls "$dir" | tr '\n' ' ')" >> "$out/restart.txt"
    echo "$label: data dir $(du -sb "$dir" | cut -f1) bytes" >> "$out/restart.txt"
    for i in $(seq "$restarts") cold; do
        [ "$i" = cold ] && evict_cache "$dir"
        local before; before=$(wc -l < "$log")
        sessiond_start
        local loaded; loaded=$(tail -n +"$((before + 1))" "$log" | grep -o 'loaded .*' | head -1)
        echo "$label restart $i: wall_ms=$ready_ms $loaded" | tee -a "$out/restart.txt" >&2
        stop "$server_pid"
    done
}

echo "== restart: filling sessiond with $restart_sessions sessions" >&2
: > "$log"
sessiond_start
"$bench" --target "sessiond://127.0.0.1:$port" --memory-only --sessions "$restart_sessions" \
    --data-size 200 --per-owner 5 --json > "$out/restart-fill-sessiond.json"
echo "sessiond fill: $(cat "$out/restart-fill-sessiond.json")" >> "$out/restart.txt"
stop "$server_pid"
sessiond_restarts "sessiond log only"

echo "== restart: forcing a compaction" >&2
sessiond_start
compact_started=$(now)
# Stop writing as soon as the compaction starts (a second log appears), so
# that the snapshot holds nearly everything and the log after it little.
for _ in $(seq 1000); do
    [ "$(compgen -G "$dir/log-*.aof" | wc -l)" -gt 1 ] || compgen -G "$dir/snapshot-*.snap" > /dev/null && break
    redis-benchmark -p "$resp" -t set -n 20000 -r 1000 -d 200 -c 50 -P 16 -q > /dev/null 2>&1
done
# The compaction is done when the snapshot is in place and the older log gone.
for _ in $(seq 600); do
    [ "$(compgen -G "$dir/log-*.aof" | wc -l)" = 1 ] && compgen -G "$dir/snapshot-*.snap" > /dev/null && break
    sleep 0.1
done
echo "compaction forced in $(ms_since "$compact_started") ms (overwrites of 1000 keys, then the snapshot)" >> "$out/restart.txt"
stop "$server_pid"
sessiond_restarts "sessiond after compaction"

if command -v redis-server > /dev/null; then
    rdir="$data_root/restart-redis"
    rm -rf "$rdir"; mkdir -p "$rdir"
    rlog="$out/restart-redis.log"
    : > "$rlog"
    redis_start() {
        port=$(free_port)
        started=$(now)
        redis-server --port "$port" --appendonly yes --appendfsync everysec --dir "$rdir" \
            --save '' --daemonize no >> "$rlog" 2>&1 &
        server_pid=$!
        wait_redis "$port"
        ready_ms=$(ms_since "$started")
    }
    redis_restarts() {
        local label=$1
        echo "$label: $(ls "$rdir/appendonlydir" | tr '\n' ' ')" >> "$out/restart.txt"
        echo "$label: data dir $(du -sb "$rdir" | cut -f1) bytes" >> "$out/restart.txt"
        for i in $(seq "$restarts") cold; do
            [ "$i" = cold ] && evict_cache "$rdir"
            local before; before=$(wc -l < "$rlog")
            redis_start
            local loaded; loaded=$(tail -n +"$((before + 1))" "$rlog" | grep -o 'DB loaded from append only file.*' | head -1)
            local keys; keys=$(redis-cli -p "$port" DBSIZE)
            echo "$label restart $i: wall_ms=$ready_ms keys=$keys $loaded" | tee -a "$out/restart.txt" >&2
            stop "$server_pid"
        done
    }
    echo "== restart: filling redis with $restart_sessions sessions" >&2
    redis_start
    "$bench" --target "redis://127.0.0.1:$port" --memory-only --sessions "$restart_sessions" \
        --data-size 200 --per-owner 5 --json > "$out/restart-fill-redis.json"
    echo "redis fill: $(cat "$out/restart-fill-redis.json")" >> "$out/restart.txt"
    stop "$server_pid"
    redis_restarts "redis AOF (commands)"
    redis_start
    redis-cli -p "$port" BGREWRITEAOF > /dev/null
    sleep 0.5
    while redis-cli -p "$port" INFO persistence | grep -q 'aof_rewrite_in_progress:1'; do sleep 0.1; done
    stop "$server_pid"
    redis_restarts "redis AOF after BGREWRITEAOF (RDB preamble)"
fi

echo
cat "$out/restart.txt"
