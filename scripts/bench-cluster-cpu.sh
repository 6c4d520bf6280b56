#!/usr/bin/env bash
# CPU cost of replicated SETs: starts 3 nodes (client ports BASE+1..3, raft
# ports BASE+101..103; BASE defaults to 7100), runs
# `redis-benchmark -c C -P P -n N -t set` against the leader and prints the
# throughput, each process's CPU per SET and per raft entry (from
# /proc/PID/stat), the SETs per entry (INFO raft) and context switches per
# entry. Usage: scripts/bench-cluster-cpu.sh [BIN [P [N [C]]]]
# Extra node flags: ARGS="--worker-threads 1" scripts/bench-cluster-cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/fincaskv-server} P=${2:-1} N=${3:-200000} C=${4:-50}
BASE=${BASE:-7100}
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 300); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
size_is() { for _ in $(seq 300); do redis-cli -p $((BASE + 1)) info raft | grep -q "cluster_size:$1" && return 0; sleep 0.1; done; return 1; }
for i in 1 2 3; do
  join=(); [ "$i" -gt 1 ] && join=(--join "127.0.0.1:$((BASE + 101))")
  # shellcheck disable=SC2086
  "$BIN" --port $((BASE + i)) --dir "$TMP/n$i" --node-id "n$i" --raft-addr "127.0.0.1:$((BASE + 100 + i))" ${ARGS:-} "${join[@]}" >"$TMP/n$i.log" 2>&1 &
  PIDS+=($!)
  wait_port $((BASE + i))
  [ "$i" -eq 1 ] || size_is "$i"
done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cs() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
idx() { redis-cli -p $((BASE + 1)) info raft | tr -d '\r' | awk -F: '/^raft_last_log_index/ {print $2}'; }
i0=$(idx); c0=(); s0=()
for p in "${PIDS[@]}"; do c0+=("$(cpu "$p")"); s0+=("$(cs "$p")"); done
rps=$(redis-benchmark -p $((BASE + 1)) -c "$C" -P "$P" -n "$N" -t set -q | tr '\r' '\n' | grep -E '^SET: [0-9.]+ requests' | tail -1 | awk '{print $2}')
i1=$(idx); entries=$((i1 - i0)); tck=$(getconf CLK_TCK)
printf 'SET -c %s -P %s: %.0f/s, %d raft entries (%.1f SETs each)\n' "$C" "$P" "$rps" "$entries" "$(echo "$N / $entries" | bc -l)"
names=(leader follower follower)
for k in 0 1 2; do
  p=${PIDS[$k]}
  dc=$(($(cpu "$p") - c0[k])); ds=$(($(cs "$p") - s0[k]))
  awk -v n="$N" -v e="$entries" -v c="$dc" -v t="$tck" -v s="$ds" -v who="${names[$k]}" \
    'BEGIN {printf "  %-8s CPU %6.1f us/SET %6.0f us/entry, %4.1f context switches/entry\n", who, c/t*1e6/n, c/t*1e6/e, s/e}'
done
