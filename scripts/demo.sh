#!/usr/bin/env bash
# `make demo [VIDEO=path] [SPEC=vframe/...]`: makes a thumbnail with the vframe CLI. Without
# VIDEO, a 10-second 1280x720 sample is generated on the spot with the ffmpeg CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/demo
mkdir -p "$out"
video=${1:-}
spec=${SPEC:-}; spec=${spec:-vframe/jpg/offset/7.5/w/480}
if [ -z "$video" ]; then
    video=$out/sample.mp4
    if [ ! -s "$video" ]; then
        echo "demo: generating a sample video: $video"
        ffmpeg -nostdin -hide_banner -loglevel error -y \
            -f lavfi -i "testsrc2=size=1280x720:rate=30" -t 10 \
            -c:v libx264 -preset fast -g 250 -bf 3 -pix_fmt yuv420p "$video"
    fi
fi
ext=${spec#vframe/}; ext=${ext%%/*}; [ "$ext" = jpeg ] && ext=jpg
thumb=$out/thumbnail.$ext
./target/release/vframe "$video" "$spec" -o "$thumb"
echo "demo: $spec of $video"
echo "demo: wrote $(realpath "$thumb") ($(file -b "$thumb" 2>/dev/null || stat -c %s "$thumb"))"
