#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy, unit,
# integration, property and doc tests. On a fresh machine it needs only the
# Rust toolchain; later suites that need a service (redis-server, Chromium)
# install it from here, so that none of them can be skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."

# The daemon tests hold 2,000 connections open from one process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
