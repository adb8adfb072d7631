#!/usr/bin/env bash
# The kernel's floor of server CPU per request on loopback, against which
# redis-server's and sessiond's figures are read (issue 15's CPU targets).
#
#   benches/floor.sh [OUT_DIR]     (default $CARGO_TARGET_DIR/floor)
#
# Five servers, pinned to CPU 1 while redis-benchmark runs on CPU 0 (a
# stand-in for a separate client machine): redis-server; sessiond with one
# connection thread; and benches/floor (sessiond-floor), a RESP server that
# does no work at all, waiting with epoll as the other two do, with epoll
# after up to 20 polls that do not block (floor-poll, what sessiond's
# --poll-us does), and with io_uring (one io_uring_enter per loop for all
# of its receives and sends). Each answers `redis-benchmark -t spop -c 50 -d 200` with a
# null: SPOP of a set that is gone, the cheapest command there is. Rounds
# alternate the servers; each run's CPU is the server's user+system time
# from /proc divided by its requests. Prints the medians over $ROUNDS
# (default 3) rounds of $REQUESTS (default 200000; 4x that at -P 16).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
out=${1:-$target/floor}
rounds=${ROUNDS:-3}
requests=${REQUESTS:-200000}
mkdir -p "$out"

cargo build --release -q --bin sessiond
cargo build --release -q --manifest-path benches/floor/Cargo.toml --target-dir "$target"
daemon=$target/release/sessiond
floor=$target/release/sessiond-floor

source benches/ports.sh

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

declare -A port pid
start() { # start NAME COMMAND...
    local name=$1; shift
    "$@" > "$out/$name.log" 2>&1 &
    pid[$name]=$!; pids+=("$!")
}
for name in redis sessiond floor-epoll floor-poll floor-uring; do port[$name]=$(free_port); done
start redis taskset -c 1 redis-server --port "${port[redis]}" --save "" --appendonly no
start sessiond taskset -c 1 "$daemon" --listen "127.0.0.1:$(free_port)" \
    --resp-listen "127.0.0.1:${port[sessiond]}" --threads 1 --log-level warn
start floor-epoll taskset -c 1 "$floor" epoll "${port[floor-epoll]}"
start floor-poll taskset -c 1 "$floor" epoll "${port[floor-poll]}" 20
start floor-uring taskset -c 1 "$floor" uring "${port[floor-uring]}"
for name in "${!port[@]}"; do wait_port "${port[$name]}" 10; done

# A process's user and system time so far, in clock ticks.
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

: > "$out/runs.txt"
for round in $(seq "$rounds"); do
    for pipeline in 1 16; do
        n=$((pipeline == 1 ? requests : 4 * requests))
        for name in redis sessiond floor-epoll floor-poll floor-uring; do
            read -r user0 sys0 < <(ticks "${pid[$name]}")
            rate=$(taskset -c 0 redis-benchmark -p "${port[$name]}" -t spop -c 50 -d 200 \
                -P "$pipeline" -n "$n" -q 2>/dev/null | tr '\r' '\n' |
                sed -nE 's/^SPOP: ([0-9.]+) requests per second.*/\1/p')
            read -r user1 sys1 < <(ticks "${pid[$name]}")
            echo "$round $pipeline $name $rate $((user1 - user0)) $((sys1 - sys0)) $n" |
                tee -a "$out/runs.txt" >&2
        done
    done
done

python3 - "$out/runs.txt" <<'PY'
import os, statistics, sys
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
runs = {}
for line in open(sys.argv[1]):
    _, pipeline, name, rate, user, system, n = line.split()
    r = runs.setdefault((int(pipeline), name), {"rate": [], "user": [], "sys": []})
    r["rate"].append(float(rate))
    r["user"].append(int(user) * tick_us / int(n))
    r["sys"].append(int(system) * tick_us / int(n))
med = statistics.median
print("| -P | server | req/s | CPU µs/req | user | system | CPU vs redis |")
print("|---|---|---|---|---|---|---|")
for (pipeline, name), r in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1] != "redis", kv[0][1])):
    cpu = med(u + s for u, s in zip(r["user"], r["sys"]))
    redis = runs[(pipeline, "redis")]
    redis_cpu = med(u + s for u, s in zip(redis["user"], redis["sys"]))
    print(f"| {pipeline} | {name} | {med(r['rate']):,.0f} | {cpu:.2f} | {med(r['user']):.2f} | "
          f"{med(r['sys']):.2f} | {cpu / redis_cpu:.2f}x |")
PY
