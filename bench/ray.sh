#!/usr/bin/env bash
# The Ray section of `make bench` (alone: `make bench-ray`): vframe.ray against a plain
# concurrent.futures loop, in the Ray venv (target/ray-venv, the one `make test-ray` uses:
# the wheel with its ray extra and the pinned versions of bindings/python/tests_ray).
# Needs the bench corpus (made on the spot by bench.py's recipes if missing).
# Options go to bench/ray_bench.py (`--reps N`, `--copies N`, `--report-only`).
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory ray-venv
args=("$@")
[ -n "${REPS:-}" ] && args+=(--reps "$REPS")
env -u VFRAME_LIBRARY target/ray-venv/bin/python bench/ray_bench.py "${args[@]}"
