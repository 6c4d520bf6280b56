#!/usr/bin/env bash
# TLS throughput relative to plain TCP, for FincasKV and for redis-server,
# side by side in one run (redis-benchmark with client certificates).
#
#   ./scripts/bench-tls.sh                 # N=200000 CLIENTS=50
#   N=100000 PIPELINE="1 16" ./scripts/bench-tls.sh
#
# Both servers: fsync everysec (FincasKV) / appendfsync everysec (Redis),
# tls-auth-clients yes, certificates from scripts/gen-test-certs.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

N=${N:-200000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-"1 16"}

for tool in redis-server redis-benchmark openssl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
cargo build --release --locked -q -p fincaskv-server
BIN="$ROOT/target/release/fincaskv-server"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
bash scripts/gen-test-certs.sh "$WORK/certs" >/dev/null
C="$WORK/certs"
TLS_CLIENT=(--tls --cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key")

# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

FK_PORT=$(free_port); FK_TLS=$(free_port)
"$BIN" --port "$FK_PORT" --dir "$WORK/fk" --fsync everysec --loglevel warn \
  --tls-port "$FK_TLS" --tls-cert-file "$C/server.crt" --tls-key-file "$C/server.key" \
  --tls-ca-cert-file "$C/ca.crt" >"$WORK/fk.log" 2>&1 &
PIDS+=($!)
RS_PORT=$(free_port); RS_TLS=$(free_port)
mkdir -p "$WORK/redis"
redis-server --port "$RS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
  --appendfsync everysec --save '' --logfile "$WORK/redis.log" \
  --tls-port "$RS_TLS" --tls-cert-file "$C/server.crt" --tls-key-file "$C/server.key" \
  --tls-ca-cert-file "$C/ca.crt" &
PIDS+=($!)
wait_port "$FK_PORT"; wait_port "$RS_PORT"

# rps of one redis-benchmark run: bench PORT TEST PIPELINE [tls args...]
bench() {
  local port=$1 test=$2 p=$3; shift 3
  redis-benchmark -p "$port" -n "$N" -c "$CLIENTS" -P "$p" -t "$test" -q "$@" 2>/dev/null \
    | tr '\r' '\n' | awk -F'[:, ]+' '/requests per second/ {v=$2} END {print v+0}'
}

printf '%-6s %3s %14s %14s %7s %14s %14s %7s\n' test P fincaskv-tcp fincaskv-tls ratio redis-tcp redis-tls ratio
for p in $PIPELINE; do
  for t in set get; do
    fk=$(bench "$FK_PORT" "$t" "$p"); fkt=$(bench "$FK_TLS" "$t" "$p" "${TLS_CLIENT[@]}")
    rs=$(bench "$RS_PORT" "$t" "$p"); rst=$(bench "$RS_TLS" "$t" "$p" "${TLS_CLIENT[@]}")
    python3 - "$t" "$p" "$fk" "$fkt" "$rs" "$rst" <<'EOF'
import sys
t, p, fk, fkt, rs, rst = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
r = lambda a, b: f"{a / b:.2f}" if b else "n/a"
print(f"{t:<6} {p:>3} {fk:>14.0f} {fkt:>14.0f} {r(fkt, fk):>7} {rs:>14.0f} {rst:>14.0f} {r(rst, rs):>7}")
EOF
  done
done
echo "(ratio = TLS / plain TCP of the same server; $N requests, $CLIENTS clients)"
