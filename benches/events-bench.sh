#!/usr/bin/env bash
# Session event delivery (issue 17): latency from a write to its event
# reaching subscribers, and the server's CPU per subscriber, in one run.
#
#   benches/events-bench.sh [OUT_DIR]        (default $CARGO_TARGET_DIR/events-bench)
#
# Builds release, then for each round and each N in SUBSCRIBERS (default
# "0 1 10 100") starts a fresh in-memory daemon (--log-level warn) and
# runs `sessiond-bench --events-delivery --rate RATE --subscribers N
# --duration DURATION --cpu-of PID`: one writer creates and deletes
# sessions at RATE events/s (default 10000) while N readers follow the log
# with blocking EVENTS_READ. The daemon's user+system CPU comes from
# /proc/PID/stat over the run, its RSS from /proc/PID/status after it.
# The order of the N values rotates between rounds so that none always
# runs first on a cold machine. Prints a markdown table of medians over
# ROUNDS (default 3), with the 1-minute load average seen before each run
# (this measures a shared machine; it does not try to quiet it). Raw JSON
# in OUT_DIR/events.jsonl; SESSIOND_ARGS adds flags to the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
out=${1:-$target/events-bench}
rounds=${ROUNDS:-3}
duration=${DURATION:-10}
rate=${RATE:-10000}
read -r -a counts <<< "${SUBSCRIBERS:-0 1 10 100}"
read -r -a daemon_args <<< "${SESSIOND_ARGS:-}"
mkdir -p "$out"
: > "$out/events.jsonl"

cargo build --release -q -p sessiond-server -p sessiond-bench
bench=$target/release/sessiond-bench
daemon=$target/release/sessiond

source benches/ports.sh

daemon_pid=
cleanup() { [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true; }
trap cleanup EXIT

start_daemon() {
    native_port=$(free_port)
    "$daemon" --listen "127.0.0.1:$native_port" --log-level warn \
        ${daemon_args[@]+"${daemon_args[@]}"} >> "$out/daemon.log" 2>&1 &
    daemon_pid=$!
    wait_port "$native_port" 10
}
stop_daemon() { kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=; }

# The 1-minute load average, as `uptime` prints it.
load() { uptime | sed 's/.*load average: \([^,]*\),.*/\1/'; }

for round in $(seq "$rounds"); do
    # Rotate the order: round 1 runs 0 1 10 100, round 2 1 10 100 0, ...
    shift_by=$(( (round - 1) % ${#counts[@]} ))
    order=("${counts[@]:$shift_by}" "${counts[@]:0:$shift_by}")
    for n in "${order[@]}"; do
        start_daemon
        before=$(load)
        json=$("$bench" --target "sessiond://127.0.0.1:$native_port" --json --events-delivery \
            --rate "$rate" --subscribers "$n" --duration "$duration" --cpu-of "$daemon_pid")
        stop_daemon
        python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["round"]=int(sys.argv[2]); r["load_before"]=float(sys.argv[3]); print(json.dumps(r))' \
            "$json" "$round" "$before" | tee -a "$out/events.jsonl" >&2
    done
done

python3 - "$out/events.jsonl" <<'EOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault(r["subscribers"], []).append(r)
def med(rs, key, fmt="{:.1f}"):
    xs = [r[key] for r in rs if r.get(key) is not None]
    return fmt.format(statistics.median(xs)) if xs else "-"
base = runs.get(0)
print("| subscribers | delivered / expected (all rounds) | events per read | p50 ms | p99 ms | p99.9 ms | server CPU µs/event "
      "| µs/delivered | µs/event per subscriber added | server RSS MiB | client CPU s | load (1 min) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for n in sorted(runs):
    rs = runs[n]
    ms = lambda key: med([{key: r[key] / 1e3} for r in rs if r[key] is not None], key, "{:.2f}")
    delivered = sum(r["delivered"] for r in rs)
    expected = sum(r["events"] * n for r in rs)
    marginal = "-"
    if base and n > 0:
        b = statistics.median(r["server_cpu_us_per_event"] for r in base)
        marginal = "{:.2f}".format((statistics.median(r["server_cpu_us_per_event"] for r in rs) - b) / n)
    loads = [r["load_before"] for r in rs]
    print(f"| {n} | {delivered:,} / {expected:,} | {med(rs, 'delivered_per_read', '{:.2f}')} | {ms('latency_p50_us')} | {ms('latency_p99_us')} "
          f"| {ms('latency_p999_us')} | {med(rs, 'server_cpu_us_per_event', '{:.2f}')} "
          f"| {med(rs, 'server_cpu_us_per_delivered', '{:.2f}')} | {marginal} "
          f"| {statistics.median(r['server_rss_bytes'] for r in rs) / 2**20:.1f} "
          f"| {statistics.median((r['client_cpu_us'] or 0) for r in rs) / 1e6:.2f} "
          f"| {min(loads):.2f}–{max(loads):.2f} |")
first = json.loads(open(sys.argv[1]).readline())
print(f"\n{len(next(iter(runs.values())))} rounds, medians; rate {first['rate']:.0f} events/s, "
      f"{first['duration_secs']} s per run; achieved rates "
      f"{min(r['achieved_rate'] for rs in runs.values() for r in rs):,.0f}–"
      f"{max(r['achieved_rate'] for rs in runs.values() for r in rs):,.0f}/s; "
      f"gaps {sum(r['gaps'] for rs in runs.values() for r in rs)}, "
      f"out of order {sum(r['out_of_order'] for rs in runs.values() for r in rs)}")
EOF
