#!/usr/bin/env bash
# Throughput of one standalone node vs a 3-node raft cluster (at the leader
# and at a follower), with redis-benchmark -c 50: SET -P 1, SET -P 16 and
# GET -P 1 (linearizable reads in the cluster), and the cluster/single
# ratios issue 5 asks for. Every server runs for the whole script and the
# measurements alternate: each round measures one test on the single node
# and right after on the leader, so that both see the same phase of a
# shared, noisy host; the script prints each round's ratios and their
# median. A second standalone node with `--fsync always` (every write
# durable before its reply, as a raft member's log) gives the like-for-like
# durability baseline for SET -P 1, printed as an extra ratio.
# Usage: scripts/bench-cluster.sh [BIN] [N] [ROUNDS]
# BIN defaults to target/release/fincaskv-server, N (requests) to 100000
# (-P 16 runs use 4 N), ROUNDS to 3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/fincaskv-server}
N=${2:-100000}
ROUNDS=${3:-3}
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
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

P0=$(free_port); start "$P0" "$TMP/single"
PA=$(free_port); start "$PA" "$TMP/always" --fsync always
R1=$(free_port); R2=$(free_port); R3=$(free_port)
P1=$(free_port); P2=$(free_port); P3=$(free_port)
# Extra flags for the cluster's nodes (experiments), e.g.
# CLUSTER_ARGS='--worker-threads 1'.
read -r -a CARGS <<<"${CLUSTER_ARGS:-}"
start "$P1" "$TMP/n1" --node-id n1 --raft-addr "127.0.0.1:$R1" "${CARGS[@]}"
start "$P2" "$TMP/n2" --node-id n2 --raft-addr "127.0.0.1:$R2" --join "127.0.0.1:$R1" "${CARGS[@]}"
for _ in $(seq 300); do redis-cli -p "$P1" info raft | grep -q 'cluster_size:2' && break; sleep 0.1; done
start "$P3" "$TMP/n3" --node-id n3 --raft-addr "127.0.0.1:$R3" --join "127.0.0.1:$R1" "${CARGS[@]}"
for _ in $(seq 300); do redis-cli -p "$P1" info raft | grep -q 'cluster_size:3' && break; sleep 0.1; done
redis-cli -p "$P1" info raft | grep -E 'cluster_size|raft_role' | tr -d '\r'

r1='' r16='' rg='' ra='' l1s='' l16s=''
for round in $(seq "$ROUNDS"); do
  s1=$(rps "$P0" set 1 "$N"); l1=$(rps "$P1" set 1 "$N")
  s16=$(rps "$P0" set 16 $((4 * N))); l16=$(rps "$P1" set 16 $((4 * N)))
  g1=$(rps "$P0" get 1 "$N"); lg=$(rps "$P1" get 1 "$N")
  sa=$(rps "$PA" set 1 "$N")
  f1=$(rps "$P2" set 1 "$N"); f16=$(rps "$P2" set 16 $((4 * N))); fg=$(rps "$P2" get 1 "$N")
  printf 'round %s single node:          SET -P1 %10.0f   SET -P16 %10.0f   GET -P1 %10.0f   (fsync always: SET -P1 %.0f)\n' "$round" "$s1" "$s16" "$g1" "$sa"
  printf 'round %s 3 nodes, at leader:   SET -P1 %10.0f   SET -P16 %10.0f   GET -P1 %10.0f\n' "$round" "$l1" "$l16" "$lg"
  printf 'round %s 3 nodes, at follower: SET -P1 %10.0f   SET -P16 %10.0f   GET -P1 %10.0f\n' "$round" "$f1" "$f16" "$fg"
  a=$(ratio "$l1" "$s1"); b=$(ratio "$l16" "$s16"); c=$(ratio "$lg" "$g1"); d=$(ratio "$l1" "$sa")
  printf 'round %s leader/single: SET -P1 %s  SET -P16 %s  GET %s  (SET -P1 against fsync always %s)\n' "$round" "$a" "$b" "$c" "$d"
  r1="$r1 $a" r16="$r16 $b" rg="$rg $c" ra="$ra $d" l1s="$l1s $l1" l16s="$l16s $l16"
done
printf 'median of %s rounds, leader/single: SET -P1 %.2f (target 0.40; leader %.0f/s, target 30000/s)  SET -P16 %.2f (target 0.60)  GET %.2f (target 0.50)\n' \
  "$ROUNDS" "$(echo "$r1" | median)" "$(echo "$l1s" | median)" "$(echo "$r16" | median)" "$(echo "$rg" | median)"
printf 'median leader/single with fsync always: SET -P1 %.2f (same durability per write)\n' "$(echo "$ra" | median)"
# Elections during the load (short election timeouts must not cost leader
# changes: pre-vote keeps a busy follower from campaigning).
printf 'after the load, node 1: %s\n' "$(redis-cli -p "$P1" info raft | grep -E '^(raft_role|raft_term|raft_leader_changes_seen):' | tr -d '\r' | paste -sd' ')"
