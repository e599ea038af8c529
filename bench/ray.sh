#!/usr/bin/env bash
# The Ray section of `make bench` (alone: `make bench-ray`): vframe.ray against a plain
# concurrent.futures loop, in the Ray venv (target/ray-venv, the one `make test-ray` uses:
# the package with its ray extra and the pinned versions of bindings/python/tests_ray).
# Needs the bench corpus (made on the spot by bench.py's recipes if missing) and the library.
# Options go to bench/ray_bench.py (`--reps N`, `--copies N`, `--report-only`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/ray-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r bindings/python/tests_ray/requirements.txt './bindings/python[ray]'
args=("$@")
[ -n "${REPS:-}" ] && args+=(--reps "$REPS")
VFRAME_LIBRARY="$PWD/target/release/libvframe.so" "$venv/bin/python" bench/ray_bench.py "${args[@]}"
