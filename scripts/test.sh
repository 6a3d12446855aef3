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
  run_tests() { cargo nextest run --no-fail-fast "$@"; }
else
  run_tests() { cargo test --no-fail-fast --lib --bins --tests "$@"; }
fi
run_tests --workspace

# Tests of opt-in features run in builds that switch them on; each such
# test file is `#![cfg(feature = "...")]`, so the default run skips it.
step "feature tests: deadlock-detection"
if ls crates/gilfree/tests/deadlock*.rs >/dev/null 2>&1; then
  run_tests -p gilfree --features deadlock-detection
fi

step "doc tests"
cargo test --workspace --doc

step "loom model checks (--cfg loom)"
# A separate target dir keeps the loom build from evicting the normal one.
LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}" CARGO_TARGET_DIR=target/loom \
  cargo test -p gilfree --release --lib -- loom_tests --test-threads=2
