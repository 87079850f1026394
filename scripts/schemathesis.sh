#!/usr/bin/env bash
# Schemathesis (pinned in scripts/setup.sh, which sets SCHEMATHESIS_BIN) against a fresh `tollgate dev` on its emulated
# Stripe: every phase (examples, coverage, fuzzing, stateful) and every check, with the
# exceptions tests/schemathesis/schemathesis.toml gives and explains. A workflow, a key and
# a Stripe customer are made first, so that operations on them reach their logic instead
# of answering 404. Fails on any failure; prints the case count.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tollgate=${TOLLGATE_BIN:-$root/target/debug/tollgate}
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# The payment rate limit is the only thing the fuzzer could exhaust: its own test is checkout.rs.
TOLLGATE_STRIPE=emulated PAYMENT_RATE_LIMIT_PER_MINUTE=1000000 RUST_LOG=error \
  "$tollgate" dev --addr "127.0.0.1:$port" --data-dir "$data" >"$data/dev.log" 2>&1 &
stack=$!
trap 'kill $stack 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

# An admin who is also a buyer with a Stripe customer, so that /api/* reaches its logic too.
admin=$("$tollgate" token --sub user_demo --role admin --data-dir "$data")
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
curl -sf -H "Authorization: Bearer $admin" -H 'content-type: application/json' "$base/admin/workflows" \
  -d "{\"id\":\"seeded\",\"name\":\"Seeded\",\"webhook_url\":\"$base/health\",\"schedule\":\"0 0 1 1 *\"}" >/dev/null
# The catalog reaches the emulator just after start; a paid checkout makes user_demo's
# customer and the events there are to replay.
for _ in $(seq 100); do
  url=$(curl -sf -H "Authorization: Bearer $admin" -H 'content-type: application/json' "$base/api/checkout" \
    -d '{"sku":"template_budget_tracker"}' | json '["url"]') && break
  sleep 0.2
done
curl -sf -o /dev/null -d card=4242424242424242 "$url"
for _ in $(seq 100); do
  SEED_EVENT=$(curl -sf -H "Authorization: Bearer $admin" "$base/admin/events?limit=1" | json '["events"][0]["id"]' 2>/dev/null) && break
  sleep 0.2
done
export SEED_EVENT
export SEED_CUSTOMER=$(curl -sf -H "Authorization: Bearer $admin" "$base/admin/accounts/user_demo" | json '["stripe_customer_id"]')
export ADMIN_TOKEN=$admin

report=$(mktemp -d)
cd "$root/tests/schemathesis"
SCHEMATHESIS_HOOKS=hooks "${SCHEMATHESIS_BIN:-schemathesis}" run "$base/openapi.json" \
  --phases examples,coverage,fuzzing,stateful --checks all \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" --seed "${SCHEMATHESIS_SEED:-20261207}" --workers 1 \
  --no-color --report ndjson --report-dir "$report" | tee "$report/output.txt"
