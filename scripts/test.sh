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

LOCKED=()
[[ -f Cargo.lock ]] && LOCKED=(--locked)

step "build"
cargo build --workspace --all-targets "${LOCKED[@]}"

step "test"
cargo test --workspace "${LOCKED[@]}"

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets "${LOCKED[@]}" -- -D warnings

step "all checks passed"
