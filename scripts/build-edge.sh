#!/usr/bin/env bash
# Builds the edge gateway Worker to wasm32 (functions/edge-gateway/build) the way
# `wrangler deploy` does, and checks wrangler.toml on the way: a dry-run deploy runs the
# [build] command (worker-build) and validates the bindings and the migration, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cd functions/edge-gateway
npx wrangler deploy --dry-run --outdir ../../target/edge-dry-run
