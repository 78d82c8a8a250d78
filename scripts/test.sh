#!/usr/bin/env bash
# The project's test command: installs the test peers' packages (idempotent),
# builds everything, runs every test (both storage backends included: the
# tests start their own PostgreSQL and S3), then checks formatting and lints.
# Works from any directory; honours CARGO_TARGET_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

step "test environment"
./scripts/setup-test-env.sh

# Cargo.lock pins every version; cargo may still prune entries of crates
# that are not in this commit, so no --locked here.

step "build"
cargo build --workspace --all-targets

step "test"
cargo test --workspace --no-fail-fast

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets -- -D warnings

step "all checks passed"
