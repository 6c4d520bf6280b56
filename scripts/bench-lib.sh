# Shell helpers shared by the benchmark scripts (source it).

# A TCP port that was free a moment ago.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until a RESP server answers PING on port $1 (10 s at most).
wait_port() {
  for _ in $(seq 1 500); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.02
  done
  echo "server on port $1 did not start" >&2; exit 1
}
