#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test vframe: FFmpeg's
# development libraries, the ffmpeg CLI (ground truth in tests), clang for bindgen,
# pkg-config, valgrind, and the pinned cbindgen. Installs only what is missing.
set -euo pipefail

CBINDGEN_VERSION=0.29.2
packages=(pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev
          libswscale-dev libavfilter-dev ffmpeg valgrind)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
    echo "deps: installing cbindgen $CBINDGEN_VERSION"
    cargo install --quiet --locked cbindgen --version "$CBINDGEN_VERSION"
fi
