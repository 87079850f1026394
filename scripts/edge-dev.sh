#!/usr/bin/env bash
# `wrangler dev` for the edge gateway Worker, with the tools of scripts/setup.sh (Node 22,
# wrangler, worker-build, wasm-bindgen): builds the Worker to wasm and serves it on workerd
# at 127.0.0.1:8787, against the origin in wrangler.toml (ORIGIN_URL: the local stack).
# Extra arguments go to wrangler (e.g. --var UPSTREAM_URL:http://127.0.0.1:3000).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cd functions/edge-gateway
if ! grep -q '^EDGE_SECRET=' .dev.vars 2>/dev/null; then
  echo "functions/edge-gateway/.dev.vars must hold EDGE_SECRET=<the same value as the stack's EDGE_SECRET>" >&2
  exit 1
fi
exec npx wrangler dev --local --ip 127.0.0.1 --port 8787 "$@"
