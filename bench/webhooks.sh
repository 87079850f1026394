#!/usr/bin/env bash
# Webhook ingestion on the local stack (signed Stripe events/s, p50/p99) beside a bare HTTP
# server answering 200, on this machine, in the same run. Needs wrk (apt-get install wrk).
# Loopback only; bounded by DURATION. Results go to stdout; copy them into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
EVENTS=${EVENTS:-400000}
STACK_PORT=${STACK_PORT:-18181}
BARE_PORT=${BARE_PORT:-18182}
SECRET=whsec_benchmark_only

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p tollgate-local --bin tollgate --example bare_200
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

STRIPE_WEBHOOK_SECRET=$SECRET RUST_LOG=warn target/release/tollgate dev --addr "127.0.0.1:$STACK_PORT" --data-dir "$work/data" >/dev/null 2>"$work/tollgate.log" &
pids+=($!)
target/release/examples/bare_200 "127.0.0.1:$BARE_PORT" &
pids+=($!)
python3 bench/make-deliveries.py "$work/deliveries.txt" "$EVENTS" "$SECRET"
for port in "$STACK_PORT" "$BARE_PORT"; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done

IFS=$'\t' read -r link_signature link_body < "$work/deliveries.txt.link"
curl -sf "http://127.0.0.1:$STACK_PORT/webhooks/stripe" -H "Stripe-Signature: $link_signature" --data-binary "$link_body" >/dev/null
sleep 1

run() {
  echo "== $1"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/webhooks.lua "$2" -- "$work/deliveries.txt" "$THREADS" | tee "$work/$1.txt"
}
echo "machine: $(nproc) cores; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $EVENTS distinct signed events"
run tollgate "http://127.0.0.1:$STACK_PORT/webhooks/stripe"
# The processor applies what was queued; time until none is left queued.
python3 - "$work/data/tollgate.sqlite3" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
start = time.monotonic()
count = lambda status: db.execute("SELECT count(*) FROM event_log WHERE status = ?", (status,)).fetchone()[0]
backlog = count("queued")
while count("queued"):
    time.sleep(0.2)
drained = time.monotonic() - start
print(f"backlog after the run: {backlog} queued; drained in {drained:.1f} s; applied in all: {count('applied')}, failed: {count('failed')}")
PY
run bare "http://127.0.0.1:$BARE_PORT/webhooks/stripe"

rps() { awk '/Requests\/sec/ {print $2}' "$work/$1.txt"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$work/$1.txt"; }
echo
echo "| server | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
for name in tollgate bare; do echo "| $name | $(rps $name) | $(pct $name 50%) | $(pct $name 99%) |"; done
python3 -c "print('| ratio tollgate/bare | %.3f | | |' % ($(rps tollgate) / $(rps bare)))"
sent=$(awk '/requests in/ {print $1}' "$work/tollgate.txt")
if [ "$sent" -gt "$EVENTS" ]; then echo "warning: $sent requests for $EVENTS events: some were duplicates; raise EVENTS"; fi
echo
echo "tollgate log lines at WARN or above: $(grep -c . "$work/tollgate.log" || true)"
