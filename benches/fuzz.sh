#!/usr/bin/env bash
# Runs one fuzz target under libFuzzer for a while.
#
#   benches/fuzz.sh TARGET SECONDS      (benches/fuzz.sh list: the targets)
#   RUNS=10000000 benches/fuzz.sh TARGET SECONDS   (also stop after RUNS
#                                                    executions)
#   SANITIZER=none benches/fuzz.sh TARGET SECONDS  (cargo-fuzz's -s; the
#       default is AddressSanitizer, which matters where a target reaches
#       the engine's one unsafe file, thin.rs; a target over safe code only,
#       such as resp_pipeline, runs several times faster without it)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz
# --locked`, installed here if missing). The targets' bodies are in
# fuzz/src/lib.rs; their seeds in fuzz/corpus/TARGET are read, never
# written: libFuzzer grows its working corpus in
# $CARGO_TARGET_DIR/fuzz-corpus/TARGET. A crash is left in
# fuzz/libfuzzer/artifacts/TARGET/: fix it, then move the input to
# fuzz/regressions/TARGET/, where every `cargo test` replays it.
# Prints libFuzzer's final stats (executions, speed) and exits non-zero on
# a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
name=${1:?usage: benches/fuzz.sh TARGET SECONDS}
if [ "$name" = list ]; then
    sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/libfuzzer/Cargo.toml | grep -v libfuzzer
    exit 0
fi
seconds=${2:?usage: benches/fuzz.sh TARGET SECONDS}
[ -d "fuzz/corpus/$name" ] || { echo "no target $name (benches/fuzz.sh list)" >&2; exit 2; }

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
work="$target/fuzz-corpus/$name"
mkdir -p "$work"
# -rss_limit_mb: a decoder that allocates what a length prefix claims,
# before the bytes arrive, is a bug worth a crash report.
CARGO_TARGET_DIR="$target/fuzz" cargo +nightly fuzz run --sanitizer "${SANITIZER:-address}" --fuzz-dir fuzz/libfuzzer "$name" \
    "$work" "fuzz/corpus/$name" -- \
    -max_total_time="$seconds" ${RUNS:+-runs="$RUNS"} -rss_limit_mb=512 -timeout=5 -print_final_stats=1
