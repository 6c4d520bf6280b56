#!/usr/bin/env bash
# Benchmarks FincasKV against redis-server side by side in one run and prints
# the FincasKV/Redis ratio per test, then the memory cost of idle connections.
#
#   ./scripts/bench-vs-redis.sh            # defaults below
#   N=50000 CONNS=2000 ./scripts/bench-vs-redis.sh
#
# Both servers persist with an fsync every second on loopback:
#   fincaskv-server --fsync everysec        (release build)
#   redis-server --appendonly yes --appendfsync everysec --save ''
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

N=${N:-200000}          # requests per test
CLIENTS=${CLIENTS:-50}  # parallel connections
CONNS=${CONNS:-10000}   # idle connections for the memory test
TESTS=${TESTS:-set,get,incr,lpush,rpop,sadd,hset,zadd,lrange_100}
FK_ARGS=${FK_ARGS:-}    # extra fincaskv-server flags, e.g. "--worker-threads 1"

for tool in redis-server redis-benchmark python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

cargo build --release --locked -q -p fincaskv-server
BIN="$ROOT/target/release/fincaskv-server"

WORK=$(mktemp -d)
FK_PID=""; RS_PID=""
cleanup() {
  [ -n "$FK_PID" ] && kill "$FK_PID" 2>/dev/null && wait "$FK_PID" 2>/dev/null || true
  [ -n "$RS_PID" ] && kill "$RS_PID" 2>/dev/null && wait "$RS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

ulimit -n $((CONNS + 2000)) 2>/dev/null || echo "warning: cannot raise the fd limit to $((CONNS + 2000))" >&2

FK_PORT=$(free_port)
"$BIN" --port "$FK_PORT" --dir "$WORK/fincaskv" --fsync everysec --maxclients $((CONNS + 100)) \
  --loglevel warn $FK_ARGS >"$WORK/fincaskv.log" 2>&1 &
FK_PID=$!
RS_PORT=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$RS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
  --appendfsync everysec --save '' --maxclients $((CONNS + 100)) --logfile "$WORK/redis.log" &
RS_PID=$!
wait_port "$FK_PORT"
wait_port "$RS_PORT"

# Runs redis-benchmark once per test (so that a failing test cannot stop the
# others) and prints "TEST<TAB>rps" lines; a test that fails prints ERROR.
bench() {
  local port=$1 tests=$2; shift 2
  local t out
  for t in ${tests//,/ }; do
    redis-cli -p "$port" flushall >/dev/null
    out=$(redis-benchmark -p "$port" -q -t "$t" "$@" 2>&1 | tr '\r' '\n' || true)
    if echo "$out" | grep -q 'requests per second'; then
      echo "$out" | grep 'requests per second' |
        sed -E 's/^ *([^:]+): ([0-9.]+) requests per second.*/\1\t\2/'
    else
      printf '%s\t0\n' "$(echo "$t" | tr '[:lower:]' '[:upper:]') (error: $(echo "$out" | grep -m1 -i error | cut -c1-60))"
    fi
  done
}

# Runs each test on FincasKV then on Redis right after (interleaved, so that
# a change of machine load hits both alike) and prints the ratio.
compare() {
  local title=$1 tests=$2; shift 2
  echo
  echo "== $title: redis-benchmark -q -t $tests $*"
  printf '%-40s %14s %14s %7s\n' test fincaskv_rps redis_rps ratio
  local t
  for t in ${tests//,/ }; do
    join -t $'\t' -a 1 <(bench "$FK_PORT" "$t" "$@" | sort) <(bench "$RS_PORT" "$t" "$@" | sort) |
      awk -F'\t' '{ printf "%-40s %14.0f %14.0f %7.2f\n", $1, $2, $3, ($3 > 0 ? $2 / $3 : 0) }'
  done
}

echo "fincaskv-server $("$BIN" --version | awk '{print $2}') on :$FK_PORT vs $(redis-server --version | awk '{print $3}') on :$RS_PORT"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); N=$N clients=$CLIENTS; fincaskv flags: ${FK_ARGS:-none}"
compare "no pipelining" "$TESTS" -c "$CLIENTS" -n "$N"
compare "pipeline 16" set,get -c "$CLIENTS" -n "$N" -P 16

# Memory per idle connection: RSS before and after opening CONNS connections
# that send nothing (each server measured on its own).
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
idle_cost() {
  local port=$1 pid=$2
  python3 - "$port" "$pid" "$CONNS" <<'PY'
import socket, sys, time
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
def settle():
    # Wait until the server has accepted everything (RSS stops moving).
    last = -1
    for _ in range(100):
        cur = rss()
        if cur == last:
            return cur
        last = cur
        time.sleep(0.2)
    return last
before = settle()
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    socks.append(s)
# Make sure every connection is served: one PING on the last one.
s.sendall(b"PING\r\n"); s.recv(16)
after = settle()
print(f"{before}\t{after}\t{(after - before) * 1024 / n:.0f}")
for s in socks:
    s.close()
PY
}
echo
echo "== memory per idle connection ($CONNS connections)"
printf '%-10s %12s %12s %16s\n' server rss_before rss_after bytes_per_conn
read -r b a per < <(idle_cost "$FK_PORT" "$FK_PID")
printf '%-10s %10s K %10s K %16s\n' fincaskv "$b" "$a" "$per"
read -r b a per < <(idle_cost "$RS_PORT" "$RS_PID")
printf '%-10s %10s K %10s K %16s\n' redis "$b" "$a" "$per"
