#!/usr/bin/env bash
# The whole test suite: unit, integration, stress, doc, loom (and Python,
# once the bindings exist). README's second command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
# The loom build sees other code (loom-only models, shims): lint it too, so
# that every `unsafe` there has its `// SAFETY:` comment.
RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}" CARGO_TARGET_DIR=target/loom \
  cargo clippy -p gilfree --lib --tests -- -D warnings

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
  run_tests -p gilfree-lab --features deadlock-detection
fi

step "doc tests"
cargo test --workspace --doc

step "Python bindings: build into target/venv, run CPython's lock tests and ours"
# A private venv keeps the machine's Python clean; maturin comes from PyPI
# when the venv lacks it (a fresh machine).
if [ ! -x target/venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv target/venv
fi
if [ ! -x target/venv/bin/maturin ]; then
  target/venv/bin/python -m pip install --quiet --disable-pip-version-check "maturin>=1.8,<2"
fi
# faster-fifo (PyPI) is a peer in the benchmark's cross-process queue rows;
# its rows are left out, with a note, where it does not install.
if ! target/venv/bin/python -c "import faster_fifo" 2>/dev/null; then
  target/venv/bin/python -m pip install --quiet --disable-pip-version-check faster-fifo \
    || echo "faster-fifo did not install: the benchmark's faster-fifo rows are skipped"
fi
VIRTUAL_ENV="$PWD/target/venv" target/venv/bin/maturin develop --quiet --release \
  -m crates/gilfree-py/Cargo.toml
target/venv/bin/python -m unittest discover -s crates/gilfree-py/tests -t crates/gilfree-py/tests -v

step "loom model checks (--cfg loom)"
# A separate target dir keeps the loom build from evicting the normal one.
LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}" CARGO_TARGET_DIR=target/loom \
  cargo test -p gilfree --release --lib -- loom_tests --test-threads=2
