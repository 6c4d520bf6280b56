#!/usr/bin/env bash
# Throughput of one standalone node vs a 3-node raft cluster (at the leader
# and at a follower), with redis-benchmark -c 50: SET -P 1, SET -P 16 and
# GET -P 1 (linearizable reads in the cluster), then the cluster/single
# ratios issue 5 asks for. A second standalone node with `--fsync always`
# (every write durable before its reply, as a raft member's log) gives the
# like-for-like durability baseline for SET -P 1, printed as an extra
# ratio. Usage: scripts/bench-cluster.sh [BIN] [N]
# BIN defaults to target/release/fincaskv-server, N (requests) to 100000
# (-P 16 runs use 4 N).
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
rps() { # port test pipeline n
  redis-benchmark -p "$1" -c 50 -P "$3" -n "$4" -t "$2" -q | tr '\r' '\n' | grep -E '^[A-Z]+: [0-9.]+ requests' | tail -1 | awk '{print $2}'
}
row() { # label port
  local set1 set16 get1
  set1=$(rps "$2" set 1 "$N"); set16=$(rps "$2" set 16 $((4 * N))); get1=$(rps "$2" get 1 "$N")
  printf '%-22s SET -P1 %10.0f   SET -P16 %10.0f   GET -P1 %10.0f\n' "$1" "$set1" "$set16" "$get1"
  echo "$set1 $set16 $get1"
}

P0=$(free_port); start "$P0" "$TMP/single"
single=$(row "single node:" "$P0"); echo "$single" | head -1
PA=$(free_port); start "$PA" "$TMP/always" --fsync always
sa=$(rps "$PA" set 1 "$N")
printf '%-22s SET -P1 %10.0f\n' "single, fsync always:" "$sa"

R1=$(free_port); R2=$(free_port); R3=$(free_port)
P1=$(free_port); P2=$(free_port); P3=$(free_port)
start "$P1" "$TMP/n1" --node-id n1 --raft-addr "127.0.0.1:$R1"
start "$P2" "$TMP/n2" --node-id n2 --raft-addr "127.0.0.1:$R2" --join "127.0.0.1:$R1"
for _ in $(seq 300); do redis-cli -p "$P1" info raft | grep -q 'cluster_size:2' && break; sleep 0.1; done
start "$P3" "$TMP/n3" --node-id n3 --raft-addr "127.0.0.1:$R3" --join "127.0.0.1:$R1"
for _ in $(seq 300); do redis-cli -p "$P1" info raft | grep -q 'cluster_size:3' && break; sleep 0.1; done
redis-cli -p "$P1" info raft | grep -E 'cluster_size|raft_role' | tr -d '\r'
leader=$(row "3 nodes, at leader:" "$P1"); echo "$leader" | head -1
follower=$(row "3 nodes, at follower:" "$P2"); echo "$follower" | head -1
read -r s1 s16 g1 <<<"$(echo "$single" | tail -1)"
read -r l1 l16 lg <<<"$(echo "$leader" | tail -1)"
awk -v a="$l1" -v b="$s1" -v c="$l16" -v d="$s16" -v e="$lg" -v f="$g1" -v g="$sa" 'BEGIN {
  printf "leader/single: SET -P1 %.2f (target 0.40 and 30000/s)  SET -P16 %.2f (target 0.60)  GET %.2f (target 0.50)\n", a/b, c/d, e/f
  printf "leader/single with fsync always: SET -P1 %.2f (same durability per write)\n", a/g }'
# Elections during the load (short election timeouts must not cost leader
# changes: pre-vote keeps a busy follower from campaigning).
printf 'after the load, node 1: %s\n' "$(redis-cli -p "$P1" info raft | grep -E '^(raft_role|raft_term|raft_leader_changes_seen):' | tr -d '\r' | paste -sd' ')"
