#!/usr/bin/env bash
# Cold starts: every Lambda function beside `hello-lambda` (a Rust Lambda that does
# nothing), each run under the local Runtime API against moto (tests/benches/coldstart.rs):
# init, first against warm invocation, peak RSS. Then each function's zip as
# `cargo lambda build --release --arm64` makes it (cargo-lambda and zig from PyPI, in
# their own venv, as ../shared/TOOLCHAIN.md notes). Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh >/dev/null

functions=(webhook-ingest event-processor account-api checkout fulfillment usage-meter orchestrator workflow-runner reconciler)
binaries=("${functions[@]}" hello-lambda)
bins=()
for name in "${binaries[@]}"; do bins+=(--bin "$name"); done

cargo build --release -q "${bins[@]}"
cargo bench -q -p tollgate-tests --bench coldstart

lambda_venv=$tools/venv-lambda
if ! "$lambda_venv/bin/cargo-lambda" lambda --version 2>/dev/null | grep -q '1\.9\.2'; then
  echo "coldstart: installing cargo-lambda 1.9.2 and ziglang into $lambda_venv" >&2
  python3 -m venv "$lambda_venv"
  "$lambda_venv/bin/pip" install -q cargo-lambda==1.9.2 ziglang
fi
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1
PATH="$lambda_venv/bin:$PATH" cargo lambda build --release --arm64 --output-format zip --lambda-dir target/lambda \
  "${bins[@]}" >/dev/null 2>"${TMPDIR:-/tmp}/coldstart-lambda-build.log" ||
  { tail -30 "${TMPDIR:-/tmp}/coldstart-lambda-build.log" >&2; exit 1; }
echo
echo "| function | arm64 zip KiB |"
echo "|---|---|"
for name in "${binaries[@]}"; do
  echo "| $name | $(( $(stat -c %s "target/lambda/$name/bootstrap.zip") / 1024 )) |"
done
