#!/usr/bin/env bash
# The Debian package, installed and run as its systemd unit would run it:
# `cargo deb` builds it, dpkg installs it on this machine, and the unit's
# own ExecStart line runs as the unit's user with its StateDirectory, no
# systemd needed. Checks that the daemon answers and keeps its data in the
# state directory, that it stops cleanly on SIGTERM, and that systemd
# accepts the unit (`systemd-analyze verify`, where it exists). Then purges
# the package again. Needs root (dpkg); run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
python=${PYTHON:-python3}   # one with the sessiond package installed

[ "$(id -u)" = 0 ] || { echo "test-deb.sh needs root for dpkg" >&2; exit 1; }
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --version 3.8.0
deb=$(cargo deb -p sessiond-server --locked --output "$target/debian" 2>/dev/null | tail -n 1)
[ -f "$deb" ] || { echo "cargo deb made no package" >&2; exit 1; }
echo "deb: $deb"

cleanup() {
    [ -z "${pid:-}" ] || kill -9 "$pid" 2>/dev/null || true
    dpkg --purge sessiond >/dev/null 2>&1 || true
    rm -rf /var/lib/sessiond
}
trap cleanup EXIT
dpkg -i "$deb" >/dev/null

unit=/lib/systemd/system/sessiond.service
[ -f "$unit" ] || unit=/usr/lib/systemd/system/sessiond.service
for file in /usr/bin/sessiond "$unit" /etc/sessiond/sessiond.toml; do
    [ -f "$file" ] || { echo "the package did not install $file" >&2; exit 1; }
done
getent passwd sessiond >/dev/null || { echo "the package made no sessiond user" >&2; exit 1; }
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$unit"
fi

# What systemd would do: the unit's user, its StateDirectory, its limit on
# open files, then its ExecStart line as written.
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
user=$(unit_value User)
state=/var/lib/$(unit_value StateDirectory)
exec_start=$(unit_value ExecStart)
install -d -o "$user" -g "$user" -m "$(unit_value StateDirectoryMode)" "$state"
port=$($python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
read -r -a command <<< "$exec_start"
# LimitNOFILE, as far as this machine's hard limit allows (a container may
# cap it below the unit's value; systemd would raise it).
nofile=$(unit_value LimitNOFILE)
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$nofile" ]; then nofile=$hard; fi
# The environment overrides the config's port only, so that the test never
# meets another daemon on 7878.
(ulimit -n "$nofile" &&
    exec env SESSIOND_LISTEN="127.0.0.1:$port" \
        setpriv --reuid "$user" --regid "$user" --init-groups --no-new-privs -- "${command[@]}") \
    > "$target/deb-daemon.log" 2>&1 &
pid=$!

$python - "$port" <<'PY'
import sys, time
import sessiond
url = f"sessiond://127.0.0.1:{sys.argv[1]}"
deadline = time.monotonic() + 15
with sessiond.Client(url) as client:
    while True:  # until the daemon listens, 15 s at most
        try:
            client.ping()
            break
        except sessiond.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    sid = client.create("deb:user", b"installed")
    assert client.get(sid).data == b"installed"
print("the packaged daemon answers")
PY
kill -TERM "$pid"
status=0; wait "$pid" || status=$?
pid=
[ "$status" = 0 ] || { echo "the daemon exited with $status on SIGTERM" >&2; cat "$target/deb-daemon.log" >&2; exit 1; }
ls "$state" | grep -q . || { echo "nothing was written to $state" >&2; exit 1; }
[ "$(stat -c %U "$state"/* | sort -u)" = "$user" ] || { echo "$state holds files not owned by $user" >&2; exit 1; }
echo "deb: installed, ran as $user with its data in $state, stopped cleanly"
