#!/usr/bin/env bash
# Installs what the test suite needs, once, outside the clone (reused when present at
# the right version): moto_server, cfn-lint and the SAM CLI in a Python venv; Stripe's
# Node SDK for the signature tests; the wasm32 target. Source it to get them on PATH.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${TOLLGATE_TOOLS:-$HOME/.cache/tollgate-tools}
venv=$tools/venv

python_packages=("moto[server]==5.2.5" "cfn-lint==1.58.0" "aws-sam-cli==1.170.0" "localstripe==1.15.10")
if ! "$venv/bin/python" - "${python_packages[@]}" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, wanted = spec.split("==")
    assert version(name.split("[")[0]) == wanted, spec
PY
then
  echo "setup: installing ${python_packages[*]} into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "${python_packages[@]}"
fi
export PATH="$venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

if [ ! -d "$root/tests/stripe-node/node_modules/stripe" ]; then
  echo "setup: installing Stripe's Node SDK for the signature tests" >&2
  npm ci --prefix "$root/tests/stripe-node" --no-audit --no-fund --loglevel=error
fi

rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
