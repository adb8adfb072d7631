#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy, unit,
# integration, property and doc tests. On a fresh machine it needs only the
# Rust toolchain; later suites that need a service (redis-server, Chromium)
# install it from here, so that none of them can be skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."

# The daemon tests hold 2,000 connections open from one process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The load generator's Redis tests run against a real redis-server (Debian's
# package). Install it if missing; the tests fail loudly if it still is.
if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq redis-server >/dev/null
    fi
fi

# The demo's browser tests drive Debian's chromium; same pattern.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
    fi
fi

cargo fmt --all -- --check

# The engine crate is for embedding: an app that adds it must not compile
# an async runtime, TLS or a settings parser. Fails if any of them creeps
# into its normal dependencies.
forbidden=$(cargo tree --locked -p sessiond -e normal --prefix none --format '{p}' \
    | awk '{print $1}' | grep -xE 'tokio|rustls|tokio-rustls|clap|toml|tracing-subscriber' | sort -u || true)
if [ -n "$forbidden" ]; then
    echo "the engine crate sessiond depends on: $forbidden" >&2
    exit 1
fi

cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

# The Python client (clients/python) against the daemon cargo test just
# built: vectors, every operation and error live, TLS, auth, Django, and
# redis-py against the RESP listener.
target="${CARGO_TARGET_DIR:-target}"
cargo build --locked --bin sessiond
export SESSIOND_BIN="$PWD/$target/debug/sessiond"
case "$target" in /*) export SESSIOND_BIN="$target/debug/sessiond" ;; esac
venv="$target/py-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
fi
# The package with its test extras, as a user would install it.
"$venv/bin/pip" install -q "./clients/python[test]"
"$venv/bin/mypy" --config-file clients/python/pyproject.toml clients/python/src/sessiond
# Django's own session-engine tests ship in its sdist, not its wheel: fetch
# the sdist of the installed version once (tests/django_suite.py runs them).
django_version=$("$venv/bin/python" -c 'import django; print(django.__version__)')
export DJANGO_TESTS_DIR="$target/django-$django_version-tests"
if [ ! -f "$DJANGO_TESTS_DIR/sessions_tests/tests.py" ]; then
    sdist=$(mktemp -d)
    "$venv/bin/pip" download -q --no-deps --no-binary :all: "django==$django_version" -d "$sdist"
    tar -xzf "$sdist"/django-*.tar.gz -C "$sdist"
    mkdir -p "$DJANGO_TESTS_DIR"
    cp -r "$sdist"/django-*/tests/sessions_tests "$DJANGO_TESTS_DIR/"
    rm -rf "$sdist"
fi
case "$DJANGO_TESTS_DIR" in /*) ;; *) DJANGO_TESTS_DIR="$PWD/$DJANGO_TESTS_DIR" ;; esac
"$venv/bin/pytest" -q -p no:cacheprovider clients/python/tests

# The Node client (clients/node, TypeScript, node's test runner) against the
# same daemon binary: every vector, every operation live, TLS, reconnect,
# and its express-session store under real express.
(cd clients/node && npm ci --no-audit --no-fund --prefer-offline && npm test)

# The Debian package (cargo-deb): built, installed with dpkg, and run the
# way its systemd unit runs it; then purged. dpkg needs root.
python=$(cd "$venv/bin" && pwd)/python
if [ "$(id -u)" = 0 ]; then
    PYTHON="$python" ./scripts/test-deb.sh
else
    sudo -E PYTHON="$python" ./scripts/test-deb.sh
fi

# The demo login app in headless Chromium (demo/browser, playwright-core
# from npm with the system browser), on the embedded store and on the
# daemon built above. Screenshots go to target/screenshots.
cargo build --locked -p sessiond-demo
export DEMO_BIN="$PWD/$target/debug/sessiond-demo"
case "$target" in /*) export DEMO_BIN="$target/debug/sessiond-demo" ;; esac
(cd demo/browser && npm ci --no-audit --no-fund --prefer-offline && npm test)
