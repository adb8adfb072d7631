#!/usr/bin/env bash
# Abuse on loopback, bounded in time (about a minute): what one daemon
# with an auth token does to clients that try to make it hold memory or
# connections (benches/abuse.py has the clients; one JSON line each):
#
#   1. 100 unauthenticated connections each streaming one 100 MiB request
#      (RESP arrays, a bulk string, an inline line, a native frame): the
#      daemon's RSS grows by < 100 MB, and every one is closed;
#   2. 10,000 idle (authenticated) connections held while another client's
#      PINGs are answered in < 10 ms each;
#   3. 2,000 connections sending one byte a second without authenticating:
#      closed at --handshake-timeout;
#   4. a client pipelining GETs of a 1 MB value without reading: closed at
#      --max-output-buffer while another client is served.
#
#   benches/abuse.sh            (exits non-zero if a scenario misses its bar)
#
# Raises the open-file limit to what scenario 2 needs (the hard limit must
# allow it).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p sessiond-server
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 13000 ] || { echo "abuse.sh: needs 13000 open files, the hard limit is $(ulimit -Hn)" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
openssl rand -base64 32 > "$work/token"
native=$((20000 + RANDOM % 10000)); resp=$((native + 1))
export HANDSHAKE_TIMEOUT=${HANDSHAKE_TIMEOUT:-10}
export MAX_OUTPUT_BUFFER=${MAX_OUTPUT_BUFFER:-67108864}
"$target/release/sessiond" --listen "127.0.0.1:$native" --resp-listen "127.0.0.1:$resp" \
    --auth-token-file "$work/token" --max-connections 20000 \
    --handshake-timeout "$HANDSHAKE_TIMEOUT" --max-output-buffer "$MAX_OUTPUT_BUFFER" \
    --log-level warn 2> "$work/log" &
pid=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$resp") 2>/dev/null && break
    sleep 0.1
done
status=0
timeout 300 python3 benches/abuse.py "$pid" "$native" "$resp" "$work/token" || status=$?
if [ -s "$work/log" ]; then echo "daemon log:"; cat "$work/log"; fi
exit "$status"
