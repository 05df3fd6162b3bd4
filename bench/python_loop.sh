#!/usr/bin/env bash
# Event-loop responsiveness of the Python package while streaming (see bench/python_loop.py):
# installs the package (release build) into a virtualenv of its own, then runs the benchmark
# inside airstream-py-rig with shairport-sync 3.3.8. Needs root (network namespaces) and what
# scripts/test installs. `bench/python_loop.sh 60` streams 60 s (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(realpath -m "${BENCH_PY_VENV:-${CARGO_TARGET_DIR:-target}/bench-py-venv}")"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check maturin
PATH="$venv/bin:$PATH" "$venv/bin/pip" install --quiet --disable-pip-version-check \
  --no-build-isolation --force-reinstall ./crates/airstream-py
cargo run --quiet -p airstream-py-rig -- "$venv/bin/python" bench/python_loop.py "$@"
