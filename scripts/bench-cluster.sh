#!/usr/bin/env bash
# SET throughput of one standalone node vs a 3-node raft cluster (leader and
# follower), with redis-benchmark. Usage: scripts/bench-cluster.sh [BIN] [N]
# BIN defaults to target/release/fincaskv-server, N (requests) to 100000.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/fincaskv-server}
N=${2:-100000}
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
start() { # port dir args...
  local port=$1 dir=$2; shift 2
  "$BIN" --port "$port" --dir "$dir" "$@" >"$dir.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port"
}
bench() { redis-benchmark -p "$1" -c 50 -P 1 -n "$N" -t set -q | tr '\r' '\n' | grep -E 'SET:' | tail -1; }

P0=$(free_port); start "$P0" "$TMP/single"
echo "single node:        $(bench "$P0")"

R1=$(free_port); R2=$(free_port); R3=$(free_port)
P1=$(free_port); P2=$(free_port); P3=$(free_port)
start "$P1" "$TMP/n1" --node-id n1 --raft-addr "127.0.0.1:$R1"
start "$P2" "$TMP/n2" --node-id n2 --raft-addr "127.0.0.1:$R2" --join "127.0.0.1:$R1"
for _ in $(seq 300); do redis-cli -p "$P1" info raft | grep -q 'cluster_size:2' && break; sleep 0.1; done
start "$P3" "$TMP/n3" --node-id n3 --raft-addr "127.0.0.1:$R3" --join "127.0.0.1:$R1"
for _ in $(seq 300); do redis-cli -p "$P1" info raft | grep -q 'cluster_size:3' && break; sleep 0.1; done
redis-cli -p "$P1" info raft | grep -E 'cluster_size|raft_role'
echo "3 nodes, at leader: $(bench "$P1")"
echo "3 nodes, at follower: $(bench "$P2")"
