#!/usr/bin/env bash
# The edge gateway Worker on workerd (Miniflare), in one run on this machine:
#  1. authenticated, metered, forwarded calls (key → lease or Durable Object → upstream)
#     beside a bare pass-through Worker forwarding to the same upstream: requests/s, p50,
#     p99, ratio; with BASELINE_GATEWAY=<an earlier build's functions/edge-gateway>, that
#     build too, in the same run;
#  2. storage writes and Durable Object requests for exactly 10,000 calls of one key, then
#     of a hot account's four keys, and the usage the origin ends up with; for the baseline
#     build too when it is given.
# The origin is `tollgate dev` (release), the upstream `bare_200`. Needs wrk and a built
# Worker (scripts/build-edge.sh). Results go to stdout; copy them into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh >/dev/null

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ORIGIN_PORT=${ORIGIN_PORT:-18281}
UPSTREAM_PORT=${UPSTREAM_PORT:-18282}
EDGE_PORT=${EDGE_PORT:-18283}
PASSTHROUGH_PORT=${PASSTHROUGH_PORT:-18284}
BASELINE_PORT=${BASELINE_PORT:-18285}
export EDGE_SECRET=edge-secret-benchmark-only JWT_SECRET=jwt-secret-for-the-benchmark-only-0123456789

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
[ -f functions/edge-gateway/build/index.js ] || scripts/build-edge.sh >/dev/null
cargo build --release -q -p tollgate-local --bin tollgate --example bare_200
work=$(mktemp -d)
pids=()
cleanup() { exec 3>&- 4>&- 5>&-; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# Limits out of the way: this measures the gateway's cost, not its refusals.
sed -e 's/^quota = 100$/quota = 1000000000/' -e 's/^requests_per_minute = 100$/requests_per_minute = 100000000/' \
  catalog.toml > "$work/catalog.toml"
CATALOG_PATH=$work/catalog.toml RUST_LOG=warn target/release/tollgate dev --addr "127.0.0.1:$ORIGIN_PORT" \
  --data-dir "$work/data" >/dev/null 2>"$work/origin.log" &
pids+=($!)
target/release/examples/bare_200 "127.0.0.1:$UPSTREAM_PORT" &
pids+=($!)
# A Worker stops (and stops its workerd) when its stdin closes: each reads a FIFO this
# script holds open (fds 3 to 5) until it exits.
serve() { # <name> <fd> <port> <worker dir> [VAR=value…]
  local name=$1 fd=$2 port=$3 dir=$4
  shift 4
  mkfifo "$work/$name.in"
  (cd "$dir" && env PORT="$port" UPSTREAM_URL="http://127.0.0.1:$UPSTREAM_PORT" "$@" \
    node tests/serve.mjs <"$work/$name.in" >/dev/null) &
  pids+=($!)
  eval "exec $fd>\"$work/$name.in\""
}
serve gateway 3 "$EDGE_PORT" functions/edge-gateway ORIGIN_URL="http://127.0.0.1:$ORIGIN_PORT"
serve passthrough 4 "$PASSTHROUGH_PORT" functions/edge-gateway BENCH_PASSTHROUGH=1
workers=(gateway passthrough)
ports=("$EDGE_PORT" "$PASSTHROUGH_PORT")
# BASELINE_GATEWAY: the edge-gateway directory of an earlier build, measured in the same run.
if [ -n "${BASELINE_GATEWAY:-}" ]; then
  serve baseline 5 "$BASELINE_PORT" "$BASELINE_GATEWAY" ORIGIN_URL="http://127.0.0.1:$ORIGIN_PORT"
  workers+=(baseline)
  ports+=("$BASELINE_PORT")
fi
for port in "$ORIGIN_PORT" "$UPSTREAM_PORT" "${ports[@]}"; do wait_port "$port"; done

new_key() {
  local token
  token=$(target/release/tollgate token --sub "$1")
  curl -sf -X POST "http://127.0.0.1:$ORIGIN_PORT/api/keys" -H "Authorization: Bearer $token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}

key=$(new_key bench-load)
echo "machine: $(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; one key"
# Warmed first, so each is measured with its code optimized (V8 tiers wasm and JS up as
# they run), not partly while it compiles.
for port in "${ports[@]}"; do
  wrk -t"$THREADS" -c"$CONNECTIONS" -d5s -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/warm-up" >/dev/null
done
for i in "${!workers[@]}"; do
  echo "== ${workers[$i]}"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $key" \
    "http://127.0.0.1:${ports[$i]}/v1/bench" | tee "$work/${workers[$i]}.txt"
done

rps() { awk '/Requests\/sec/ {print $2}' "$work/$1.txt"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$work/$1.txt"; }
non2xx() { awk '/Non-2xx/ {print $5}' "$work/$1.txt"; }
echo
echo "| Worker | requests/s | p50 | p99 | non-2xx | ratio to passthrough |"
echo "|---|---|---|---|---|---|"
for name in "${workers[@]}"; do
  ratio=$(python3 -c "print('%.3f' % ($(rps "$name") / $(rps passthrough)))")
  echo "| $name | $(rps "$name") | $(pct "$name" 50%) | $(pct "$name" 99%) | $(non2xx "$name") | $ratio |"
done
echo
writes() { # <worker name> <port>
  local one hot token
  echo "== ${1}: storage writes for 10,000 calls on one fresh key"
  one=$(new_key "bench-writes-$1")
  python3 bench/edge_writes.py "http://127.0.0.1:$2" "http://127.0.0.1:$ORIGIN_PORT" "$one" 10000 \
    "$(target/release/tollgate token --sub "bench-writes-$1")"
  echo "== ${1}: 10,000 calls on a hot account, spread over its four keys"
  hot=$(for _ in 1 2 3 4; do new_key "bench-hot-$1"; done | paste -sd,)
  python3 bench/edge_writes.py "http://127.0.0.1:$2" "http://127.0.0.1:$ORIGIN_PORT" "$hot" 10000 \
    "$(target/release/tollgate token --sub "bench-hot-$1")"
}
echo
writes gateway "$EDGE_PORT"
if [ -n "${BASELINE_GATEWAY:-}" ]; then
  echo
  writes baseline "$BASELINE_PORT"
fi
