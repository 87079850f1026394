#!/usr/bin/env bash
# Workflows sold as APIs on the local stack (`tollgate dev`, release, SQLite), in one run:
#  1. run-start latency: a run request at the native gateway to the start arriving at the
#     workflow's webhook, 500 requests one after another (bench/run_latency.py);
#  2. throughput of run requests (POST /v1/workflows/{id}/runs: key checked and metered,
#     forwarded to the origin signed, input checked against the schema, charged and stored
#     in one write, a slot handed out) beside a plain metered call (GET /v1/bench, forwarded
#     to bare_200) through the same gateway: wrk -t2 -c32.
# Results go to stdout; copy them into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18291}
UPSTREAM_PORT=${UPSTREAM_PORT:-18292}
export JWT_SECRET=jwt-secret-for-the-benchmark-only-0123456789
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p tollgate-local --bin tollgate --example bare_200
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; exit 1; }
# Limits and the customer pool out of the way: this measures the cost of a run request.
sed -e '/^concurrent_runs = /d' -e 's/^quota = 100$/quota = 1000000000/' -e 's/^quota = 5$/quota = 1000000000/' \
  -e 's/^requests_per_minute = 100$/requests_per_minute = 100000000\nconcurrent_runs = 1000000/' \
  catalog.toml > "$work/catalog.toml"
target/release/examples/bare_200 "127.0.0.1:$UPSTREAM_PORT" &
pids+=($!)
CATALOG_PATH=$work/catalog.toml UPSTREAM_URL="http://127.0.0.1:$UPSTREAM_PORT" RUST_LOG=warn \
  CUSTOMER_RUN_CONCURRENCY=64 target/release/tollgate dev --addr "127.0.0.1:$PORT" --data-dir "$work/data" \
  >/dev/null 2>"$work/dev.log" &
pids+=($!)
wait_port "$PORT"
wait_port "$UPSTREAM_PORT"
base=http://127.0.0.1:$PORT
admin=$(target/release/tollgate token --role admin)
key=$(curl -sf -X POST "$base/api/keys" -H "Authorization: Bearer $(target/release/tollgate token --sub bench)" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
echo "machine: $(nproc) cores"
python3 bench/run_latency.py "$base" "$key" "$admin" 500
# The load's workflow accepts every start (bare_200) and never calls back: runs past the
# pool's 64 slots wait their turn, as a burst's would.
curl -sf -X POST "$base/admin/workflows" -H "Authorization: Bearer $admin" -o /dev/null -d "{\"id\": \"load\",
  \"name\": \"load\", \"webhook_url\": \"http://127.0.0.1:$UPSTREAM_PORT/start\", \"sell\": {\"meter\": \"generations\",
  \"input_schema\": {\"type\": \"object\", \"required\": [\"prompt\"], \"properties\": {\"prompt\": {\"type\": \"string\"}}}}}"
cat > "$work/run.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"input": {"prompt": "a cat"}}'
wrk.headers["content-type"] = "application/json"
LUA
for name in call run; do
  if [ "$name" = call ]; then script=(); path=/v1/bench; else script=(-s "$work/run.lua"); path=/v1/workflows/load/runs; fi
  wrk -t2 -c"$CONNECTIONS" -d5s "${script[@]}" -H "Authorization: Bearer $key" "$base$path" >/dev/null
  echo "== $name ($path)"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "${script[@]}" -H "Authorization: Bearer $key" "$base$path" |
    tee "$work/$name.txt"
done
rps() { awk '/Requests\/sec/ {print $2}' "$work/$1.txt"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$work/$1.txt"; }
echo
echo "| request | requests/s | p50 | p99 | ratio to a plain call |"
echo "|---|---|---|---|---|"
for name in call run; do
  echo "| $name | $(rps $name) | $(pct $name 50%) | $(pct $name 99%) | $(python3 -c "print('%.3f' % ($(rps $name) / $(rps call)))") |"
done
