#!/usr/bin/env bash
# The edge gateway Worker on workerd (Miniflare), in one run on this machine:
#  1. authenticated, metered, forwarded calls (key → Durable Object → upstream) beside a
#     bare pass-through Worker forwarding to the same upstream: requests/s, p50, p99, ratio;
#  2. storage writes of one key's Durable Object for exactly 10,000 calls, and the usage
#     the origin ends up with.
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
export EDGE_SECRET=edge-secret-benchmark-only JWT_SECRET=jwt-secret-benchmark-only

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
[ -f functions/edge-gateway/build/index.js ] || scripts/build-edge.sh >/dev/null
cargo build --release -q -p tollgate-local --bin tollgate --example bare_200
work=$(mktemp -d)
pids=()
cleanup() { exec 3>&- 4>&-; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# Limits out of the way: this measures the gateway's cost, not its refusals.
sed -e 's/^monthly_requests = 100$/monthly_requests = 1000000000/' -e 's/^requests_per_minute = 100$/requests_per_minute = 100000000/' \
  catalog.toml > "$work/catalog.toml"
CATALOG_PATH=$work/catalog.toml RUST_LOG=warn target/release/tollgate dev --addr "127.0.0.1:$ORIGIN_PORT" \
  --data-dir "$work/data" >/dev/null 2>"$work/origin.log" &
pids+=($!)
target/release/examples/bare_200 "127.0.0.1:$UPSTREAM_PORT" &
pids+=($!)
# A Worker stops (and stops its workerd) when its stdin closes: each reads a FIFO this
# script holds open on fd 3 or 4 until it exits.
mkfifo "$work/gateway.in" "$work/passthrough.in"
(cd functions/edge-gateway && PORT=$EDGE_PORT ORIGIN_URL=http://127.0.0.1:$ORIGIN_PORT \
  UPSTREAM_URL=http://127.0.0.1:$UPSTREAM_PORT exec node tests/serve.mjs <"$work/gateway.in" >/dev/null) &
pids+=($!)
exec 3>"$work/gateway.in"
(cd functions/edge-gateway && BENCH_PASSTHROUGH=1 PORT=$PASSTHROUGH_PORT \
  UPSTREAM_URL=http://127.0.0.1:$UPSTREAM_PORT exec node tests/serve.mjs <"$work/passthrough.in" >/dev/null) &
pids+=($!)
exec 4>"$work/passthrough.in"
for port in "$ORIGIN_PORT" "$UPSTREAM_PORT" "$EDGE_PORT" "$PASSTHROUGH_PORT"; do wait_port "$port"; done

new_key() {
  local token
  token=$(target/release/tollgate token --sub "$1")
  curl -sf -X POST "http://127.0.0.1:$ORIGIN_PORT/api/keys" -H "Authorization: Bearer $token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}

key=$(new_key bench-load)
curl -sf "http://127.0.0.1:$EDGE_PORT/v1/warm-up" -H "Authorization: Bearer $key" >/dev/null
run() {
  echo "== $1"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $key" "$2" | tee "$work/$1.txt"
}
echo "machine: $(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; one key"
run gateway "http://127.0.0.1:$EDGE_PORT/v1/bench"
run passthrough "http://127.0.0.1:$PASSTHROUGH_PORT/v1/bench"

rps() { awk '/Requests\/sec/ {print $2}' "$work/$1.txt"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$work/$1.txt"; }
non2xx() { awk '/Non-2xx/ {print $5}' "$work/$1.txt"; }
echo
echo "| Worker | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
for name in gateway passthrough; do echo "| $name | $(rps $name) | $(pct $name 50%) | $(pct $name 99%) | $(non2xx $name) |"; done
python3 -c "print('| ratio gateway/passthrough | %.3f | | | |' % ($(rps gateway) / $(rps passthrough)))"

echo
echo "== storage writes for 10,000 calls on one fresh key"
key=$(new_key bench-writes)
python3 bench/edge_writes.py "http://127.0.0.1:$EDGE_PORT" "http://127.0.0.1:$ORIGIN_PORT" "$key" 10000 \
  "$(target/release/tollgate token --sub bench-writes)"
