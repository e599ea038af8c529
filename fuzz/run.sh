#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) in one process (libFuzzer's -jobs=1 without
# the log redirection; the machine is shared): `fuzz/run.sh [SECONDS] [TARGET...]`.
# New interesting inputs accumulate in fuzz/corpus/<target>; a crash, leak or hang stops the
# run with the input saved in fuzz/artifacts/<target>/ and a non-zero exit.
# Needs the nightly toolchain and cargo-fuzz (installed from crates.io when missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(spec_parse extract_memory server_tokens server_fops server_multipart server_resumable)

export PATH="$HOME/.cargo/bin:$PATH"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz
"$here/seeds.sh" >/dev/null

cd "$here"
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    extra=()
    [ "$target" = spec_parse ] && extra+=(-dict="$here/spec.dict" -max_len=256)
    [ "$target" = extract_memory ] && extra+=(-max_len=65536 -rss_limit_mb=3072)
    case $target in server_*) extra+=(-max_len=16384) ;; esac
    echo "fuzz: $target for ${seconds}s"
    # -timeout: a single input may take at most this long (the call's own limit is 10 s).
    cargo +nightly fuzz run --release "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 "${extra[@]}"
done
