#!/usr/bin/env bash
# `make bench`: installs what the benchmark needs, builds the in-process worker, and runs
# bench/bench.py (which writes BENCHMARKS.md and bench/chart.png). Idempotent: a second run
# reuses the corpus, the venv and the builds. Options go to bench.py (`--reps N`, `--report-only`,
# `--only FILE,...` for a quick look at some files, `--only PART,...` to run parts alone:
# handle, memory, startup, cli-batch, frames, async, and server for the service section);
# `make bench REPS=N` sets the repetitions.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
say() { echo "bench: $*"; }
t0=$SECONDS

# Debian packages: the ffmpeg CLI (corpus, ground truth, a peer), ffmpegthumbnailer (a
# peer), GNU time (peak memory of command-line tools), venv support for the PyAV side.
./scripts/deps.sh ffmpegthumbnailer time python3-venv
# perf is optional (the profile section): install it if Debian has it, go on without it.
if ! command -v perf >/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends linux-perf >/dev/null 2>&1 \
        || say "perf could not be installed; the report will have no profile"
fi

# The library and CLI, then the worker: its own package, built into the same target/ with
# the crate's own lock file, so cargo reuses the vframe build instead of compiling it twice.
cargo build --release --locked --quiet
cargo build --release --locked --quiet -p vframe-server
cp Cargo.lock bench/Cargo.lock
cargo build --release --quiet --manifest-path bench/Cargo.toml --target-dir target

# Python side: numpy and Pillow check frames, matplotlib draws the chart, PyAV is a peer.
venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import numpy, PIL, matplotlib" 2>/dev/null; then
    say "installing numpy, pillow, matplotlib into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
fi
export BENCH_NO_PYAV=""
if ! "$venv/bin/python" -c "import av" 2>/dev/null; then
    say "installing PyAV into $venv"
    if ! log=$("$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary av -r bench/requirements-pyav.txt 2>&1); then
        BENCH_NO_PYAV="the PyAV wheel could not be installed here: $(echo "$log" | grep -m1 -i error || echo "$log" | tail -1)"
        say "$BENCH_NO_PYAV"
    fi
fi
say "set-up done in $((SECONDS - t0)) s"

args=("$@")
[ -n "${REPS:-}" ] && args+=(--reps "$REPS")
# `--only LIST`: parts (bench.py --help lists them, plus `server`) or file names. The
# service section runs with a full bench or when `server` is in the list.
only=""
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --only) only="${args[i + 1]:-}" ;;
        --only=*) only="${args[i]#--only=}" ;;
    esac
done
if [ -z "$only" ] || [ -n "$(tr ',' '\n' <<<"$only" | grep -vx server)" ]; then
    bench_args=("${args[@]}")
    if [ -n "$only" ]; then
        # server is not bench.py's: leave it out of the list bench.py gets.
        rest=$(tr ',' '\n' <<<"$only" | grep -vx server | paste -sd, -)
        bench_args=()
        for a in "${args[@]}"; do
            case "$a" in
                --only=*) bench_args+=("--only=$rest") ;;
                "$only") bench_args+=("$rest") ;;
                *) bench_args+=("$a") ;;
            esac
        done
    fi
    "$venv/bin/python" bench/bench.py "${bench_args[@]}"
fi
# The service section (~2 min): vframe-server vs an ffmpeg-per-request service, appended to
# BENCHMARKS.md.
if [[ " ${args[*]} " == *" --report-only "* ]]; then
    "$venv/bin/python" bench/server_bench.py --report-only
elif [ -z "$only" ] || tr ',' '\n' <<<"$only" | grep -qx server; then
    "$venv/bin/python" bench/server_bench.py
fi
# Ray Data (vframe.ray) against a plain loop (~3 min): its own venv; adds its section to
# BENCHMARKS.md.
if [[ " ${args[*]} " == *" --report-only "* ]]; then
    REPS='' ./bench/ray.sh --report-only
else
    REPS='' ./bench/ray.sh
fi
say "all done in $((SECONDS - t0)) s"
