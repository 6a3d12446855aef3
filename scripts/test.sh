#!/usr/bin/env bash
# The whole test suite: unit, integration, stress, doc, loom (and Python,
# once the bindings exist). README's second command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "unit, integration and stress tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-features --no-fail-fast
else
  cargo test --workspace --all-features --no-fail-fast --lib --bins --tests
fi

step "doc tests"
cargo test --workspace --all-features --doc

step "loom model checks (--cfg loom)"
# A separate target dir keeps the loom build from evicting the normal one.
LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}" CARGO_TARGET_DIR=target/loom \
  cargo test -p gilfree --release --lib -- loom_tests --test-threads=2
