#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting and lints, the pure core on wasm32,
# the edge gateway Worker built to wasm (and wrangler.toml checked), every unit,
# property, conformance (SQLite and moto), function and end-to-end test (the Worker's
# on workerd), and the deployment template's checks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "dependencies (every platform's, for the cargo metadata checks)"
cargo fetch --locked

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -q -- -D warnings

step "shared/core builds for wasm32-unknown-unknown"
cargo build -p tollgate-core --target wasm32-unknown-unknown --locked -q

step "the edge gateway Worker, built to wasm32 with worker-build (wrangler deploy --dry-run)"
(cd functions/edge-gateway && npx wrangler deploy --dry-run --outdir ../../target/edge-dry-run >/dev/null)

step "template.yaml"
cfn-lint template.yaml
sam validate --lint --region us-east-1 >/dev/null
python3 scripts/check-template.py

step "docs/openapi.json is a valid OpenAPI 3.1 document (a unit test keeps it equal to the generated one)"
openapi-spec-validator docs/openapi.json

step "build (the end-to-end suites start target/debug/tollgate)"
cargo build --workspace --all-targets --locked -q

step "Schemathesis on the live OpenAPI document (tollgate dev, emulated Stripe): every phase and check"
scripts/schemathesis.sh >target/schemathesis.txt 2>&1 || { cat target/schemathesis.txt; exit 1; }
tail -n 12 target/schemathesis.txt

step "moto_server on loopback"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$(dirname "$(command -v moto_server)")/python" scripts/moto-server.py -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export MOTO_URL="http://127.0.0.1:$port"

step "tests"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/test-output.txt
passed=$(awk '/^test result:/ {sum += $4} END {print sum + 0}' target/test-output.txt)
failed=$(awk '/^test result:/ {sum += $6} END {print sum + 0}' target/test-output.txt)
echo
echo "$passed passed, $failed failed"
