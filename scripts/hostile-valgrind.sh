#!/usr/bin/env bash
# Runs vframe over good and hostile inputs under valgrind (memcheck) and fails on any
# invalid access, use of uninitialised memory, or leaked block (definite, indirect or
# possible). The driver is examples/hostile_corpus.rs; the inputs are the tiny fixtures
# (each as it is and as truncated and damaged copies), the corrupt and truncated files of
# the shared media folder plus a few good ones when it is present, and built-in hostile
# inputs (playlists, huge dimensions, garbage, limits, cancel).
#
# `scripts/hostile-valgrind.sh [MUTANTS]` (default 24 per tiny fixture); about 1 min on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mutants=${1:-24}
command -v valgrind >/dev/null || { echo "hostile-valgrind: valgrind is missing (make deps)" >&2; exit 1; }

fixtures=$(scripts/fixtures.sh target/fixtures)
cargo build --release --locked --quiet --example hostile_corpus
files=(--mutants "$mutants" "$fixtures"/tiny_* --extreme "$fixtures/wide_4000x1000.mp4")

media=${VFRAME_MEDIA:-$root/../shared/media}
if [ -d "$media" ]; then
    files+=(--mutants 4 "$media"/corrupt_* "$media"/truncated_*)
    # A few good real files, as they are: other decoders, odd sizes, 10-bit, rotation.
    for f in vp9_odd_dimensions_161x121.webm vp9_profile2_10bit_426x240.webm h263_aac_vfr_352x288_sar12x11.3gp \
             theora_400x300_no_header_duration.ogv vp6f_mp3_vfr_audio_is_stream0.flv \
             rotation_minus90_mirrored_matrix_h264.mp4 one_frame_h264_720p.ts; do
        [ -f "$media/$f" ] && files+=(--mutants 0 "$media/$f")
    done
else
    if [ "${CI:-}" = true ]; then
        echo "hostile-valgrind: CI=true but the media collection is missing at $media" >&2
        exit 1
    fi
    echo "SKIPPED hostile-valgrind media files: $media is absent (set VFRAME_MEDIA); fixtures only" |
        tee -a "$root/target/media-skips.log"
fi

log=$(mktemp "${TMPDIR:-/tmp}/vframe-valgrind.XXXXXX")
trap 'rm -f "$log"' EXIT
# --vex-guest-max-insns: smaller translation blocks, or VEX runs out of temporary storage on
# libdav1d's large AVX2 functions ("VEX temporary storage exhausted").
status=0
valgrind --quiet --vex-guest-max-insns=20 --leak-check=full \
    --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
    --error-exitcode=99 --num-callers=30 --log-file="$log" \
    target/release/examples/hostile_corpus "${files[@]}" || status=$?
if [ "$status" -ne 0 ]; then
    cat "$log" >&2
    echo "hostile-valgrind: FAILED (exit $status; valgrind's report above)" >&2
    exit 1
fi
[ -s "$log" ] && cat "$log"
echo "hostile-valgrind: no memory errors and no leaks"
