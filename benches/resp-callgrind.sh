#!/usr/bin/env bash
# User-space instructions per request of a server under redis-benchmark,
# counted by callgrind: a deterministic A/B of a change, where wall-clock
# figures on a shared machine move by tens of percent between runs.
#
#   benches/resp-callgrind.sh sessiond [BINARY]   (default $CARGO_TARGET_DIR/release/sessiond)
#   benches/resp-callgrind.sh redis               (redis-server from PATH)
#
# One server under `valgrind --tool=callgrind`; for each test of $TESTS
# (default hset,sadd,spop,mset,set,get, in that order: SPOP pops what SADD
# added) a warm-up run of 2000 requests, then the counters zeroed, then
# `redis-benchmark -t TEST -c 50 -d 200 -n $REQUESTS -P 1` (REQUESTS
# defaults to 20000), then a dump. Prints each test's instructions (Ir,
# every thread of the server) divided by the requests. Counts move by
# about 2% between runs (the expiry thread's share, and the 50
# connections' set-up, which this many requests do not amortise away).
# Dumps in OUT_DIR (default $CARGO_TARGET_DIR/resp-callgrind/SERVER), for
# callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
server=${1:?usage: resp-callgrind.sh sessiond|redis [BINARY]}
target=${CARGO_TARGET_DIR:-target}
requests=${REQUESTS:-20000}
tests=${TESTS:-hset,sadd,spop,mset,set,get}
out=${OUT_DIR:-$target/resp-callgrind/$server}
rm -rf "$out"; mkdir -p "$out"; out=$(cd "$out" && pwd)

source benches/ports.sh
port=$(free_port)
case $server in
    sessiond) command=("${2:-$target/release/sessiond}" --listen "127.0.0.1:$(free_port)"
                  --resp-listen "127.0.0.1:$port" --log-level warn) ;;
    redis) command=(redis-server --port "$port" --save "" --appendonly no) ;;
    *) echo "unknown server $server" >&2; exit 2 ;;
esac
valgrind --tool=callgrind --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$out/callgrind.%p.out" "${command[@]}" > "$out/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
wait_port "$port" 60

for test in ${tests//,/ }; do
    redis-benchmark -p "$port" -t "$test" -c 50 -d 200 -n 2000 -P 1 -q > /dev/null 2>&1
    callgrind_control -z "$pid" > /dev/null 2>&1
    redis-benchmark -p "$port" -t "$test" -c 50 -d 200 -n "$requests" -P 1 -q > /dev/null 2>&1
    callgrind_control -d "$test" "$pid" > /dev/null 2>&1
done
kill "$pid"; wait "$pid" 2>/dev/null || true

for test in ${tests//,/ }; do
    dump=$(grep -l "^desc: Trigger: dump $test\$" "$out"/callgrind.*.out.*)
    ir=$(awk '/^summary:/ {print $2}' "$dump")
    echo "$server $test $((ir / requests)) instructions/request"
done
