# The few commands people type. See README.md.
.PHONY: dev test check-edge bench build lint

# Run every function locally on SQLite (zero configuration).
dev:
	cargo run -p tollgate-local -- dev

# The whole test suite, as CI runs it (installs its tools on first use).
test:
	scripts/test.sh

# The pure core must build for the Worker's target.
check-edge:
	cargo build -p tollgate-core --target wasm32-unknown-unknown

# Criterion (core cost per delivery), then the local stack under wrk beside a bare server.
bench:
	cargo bench -p tollgate-core --bench verify_parse
	cargo build -p tollgate-local && cargo bench -p tollgate-tests --bench tick
	bench/webhooks.sh

# Lambda artifacts for template.yaml (arm64, provided.al2023); needs cargo-lambda and zig.
build:
	sam build

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
