# The few commands people type. See README.md.
.PHONY: dev test check-edge build-edge bench build lint

# Run every function locally on SQLite (zero configuration).
dev:
	cargo run -p tollgate-local -- dev

# The whole test suite, as CI runs it (installs its tools on first use).
test:
	scripts/test.sh

# The pure core must build for the Worker's target.
check-edge:
	cargo build -p tollgate-core --target wasm32-unknown-unknown

# The edge gateway Worker to wasm32 (functions/edge-gateway/build), wrangler.toml checked.
build-edge:
	scripts/build-edge.sh

# Criterion (the core's cost per delivery and per gateway call, a tick), then wrk: the local
# stack beside a bare server, and the Worker on workerd beside a bare pass-through Worker;
# then each Lambda's cold start beside a hello-world Lambda, and its arm64 zip.
bench:
	cargo bench -p tollgate-core --bench verify_parse
	cargo bench -p tollgate-core --bench decide
	cargo build -p tollgate-local && cargo bench -p tollgate-tests --bench tick
	bench/webhooks.sh
	scripts/build-edge.sh && bench/edge.sh
	bench/coldstart.sh

# Lambda artifacts for template.yaml (arm64, provided.al2023); needs cargo-lambda and zig.
build:
	sam build

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
