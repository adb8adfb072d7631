# Sourced by the benchmark scripts: a free local port, and waiting for a
# server to open one.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_port PORT SECONDS: polls every 10 ms; gives up (and exits) after SECONDS.
wait_port() {
    for _ in $(seq $(($2 * 100))); do port_open "$1" && return; sleep 0.01; done
    echo "port $1 never opened" >&2
    exit 1
}
