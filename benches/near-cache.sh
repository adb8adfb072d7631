#!/usr/bin/env bash
# The near cache (issue 17): a session read answered from the near cache
# against the same read as a loopback round trip, and revoke-to-refused
# across four app-server processes with strict caches, in one run.
#
#   benches/near-cache.sh
#
# Runs `cargo bench -p sessiond-client --bench near_cache` (release, a
# daemon inside the bench process, the four app servers the bench binary
# again) ROUNDS times (default 3) and prints each run's table with the
# 1-minute load average seen before it; ROUNDS_PER_RUN (default 500) sets
# the revoke rounds of each run. Every revoke round also checks that no
# app server serves the session once the revoke has returned.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
cargo bench --locked -p sessiond-client --bench near_cache --no-run
for run in $(seq 1 "$rounds"); do
    echo "## run $run, load $(cut -d' ' -f1 /proc/loadavg)"
    ROUNDS=${ROUNDS_PER_RUN:-500} cargo bench --locked -q -p sessiond-client --bench near_cache
done
