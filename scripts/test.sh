#!/usr/bin/env bash
# The whole test suite: unit, integration, stress, doc, loom (and Python,
# once the bindings exist). README's second command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The `mpi` feature (cluster::MpiPoolExecutor) builds against MPICH (mpi-sys
# runs bindgen, hence libclang) and its tests run under mpiexec; clippy's
# --all-features below builds it. Install them when missing: CI runs as root,
# with no stdin.
MPI_PACKAGES=(libmpich-dev mpich libclang-dev clang pkg-config)
if ! dpkg -s "${MPI_PACKAGES[@]}" >/dev/null 2>&1; then
  step "installing MPICH, libclang and pkg-config (feature mpi)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${MPI_PACKAGES[@]}"
fi

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

step "feature tests: mpi (the cluster executor under mpiexec -n 3)"
# Each cluster test binary runs itself under `mpiexec -n 3` (cluster.rs) or
# starts its own MPI jobs (cluster_launch.rs).
run_tests -p gilfree --features mpi --test cluster --test cluster_launch
run_tests -p gilfree-lab --features mpi --test cluster_lesson
cargo test -p gilfree --features mpi --doc cluster

step "feature tests: tokio (waits on other processes as .await)"
run_tests -p gilfree --features tokio --test async_process
cargo test -p gilfree --features tokio --doc -- multiprocessing::aio join_async

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
