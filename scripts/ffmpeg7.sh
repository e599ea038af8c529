#!/usr/bin/env bash
# Builds and tests vframe against FFmpeg 7.1: a Debian 13 (trixie) chroot, made once with
# debootstrap from this machine's Debian mirror, holding FFmpeg 7.1's development packages,
# the ffmpeg CLI (the tests' ground truth), clang (bindgen), pkg-config and gcc (the linker).
#
#   scripts/ffmpeg7.sh [COMMAND...]     (default: cargo test --release --locked --no-fail-fast)
#
# The chroot gets, in a private mount namespace (nothing stays mounted when the script ends,
# however it ends): this checkout read-only at /src/vframe with the chroot's own folder over
# its target/ (its build, fixtures and reports never mix with the host's), the host's Rust
# toolchain read-only at /opt/rust (static.rust-lang.org need not be reachable), and the
# shared media collection read-only at /src/shared/media (../shared/media, as on the host)
# when it exists. Crates come from crates.io into the chroot's own CARGO_HOME.
#
# After the command it sums up the test counts and checks that build.rs saw FFmpeg 7.1 (the
# cfg flags ffmpeg_7_0 and ffmpeg_7_1 set, ffmpeg_8_0 not). The command's output is also in
# target/ffmpeg7/test.log. Needs root (debootstrap, chroot, mount; it reruns itself with sudo)
# and about 2 GB in $VFRAME_FFMPEG7_ROOT (default target/ffmpeg7/root); $DEBIAN_MIRROR
# overrides the mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
root=${VFRAME_FFMPEG7_ROOT:-$repo/target/ffmpeg7/root}
suite=trixie
# What the chroot needs: FFmpeg's development libraries and CLI, bindgen's libclang, the
# linker, pkg-config, and certificates for crates.io.
packages=(libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev ffmpeg
          clang libclang-dev pkg-config gcc libc6-dev ca-certificates)
# Inside the chroot, the checkout's target/ is this folder of the chroot.
chroot_target=/var/lib/vframe/target

if [ -z "${VFRAME_FFMPEG7_INSIDE:-}" ]; then
    # The host's toolchain (the one rustup picks for this checkout).
    sysroot=${VFRAME_RUST_SYSROOT:-$(rustc --print sysroot)}
    if [ "$(id -u)" -ne 0 ]; then
        exec sudo env VFRAME_RUST_SYSROOT="$sysroot" VFRAME_FFMPEG7_ROOT="$root" VFRAME_MEDIA="${VFRAME_MEDIA:-}" \
            DEBIAN_MIRROR="${DEBIAN_MIRROR:-}" CI="${CI:-}" "$0" "$@"
    fi
    ./scripts/deps.sh debootstrap
    # Everything below runs in a private mount namespace: its mounts die with it.
    exec unshare --mount --propagation private \
        env VFRAME_FFMPEG7_INSIDE=1 VFRAME_RUST_SYSROOT="$sysroot" VFRAME_FFMPEG7_ROOT="$root" "$0" "$@"
fi

sysroot=$VFRAME_RUST_SYSROOT
start=$SECONDS
say() { echo "ffmpeg7: $*"; }

# The Debian mirror this machine's apt uses (the first .../debian URI of its sources).
mirror=${DEBIAN_MIRROR:-$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v '^[[:space:]]*#' |
    grep -oE '(https?|file)://[^ ]*/debian/?([[:space:]]|$)' | head -n 1 | tr -d '[:space:]' || true)}
mirror=${mirror:-http://deb.debian.org/debian}

run_in() { chroot "$root" env -i HOME=/root LANG=C.UTF-8 PATH=/opt/rust/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_HOME=/var/cache/vframe-cargo CARGO_HTTP_CAINFO=/etc/ssl/host-ca-certificates.crt CI="${CI:-}" \
    DEBIAN_FRONTEND=noninteractive "$@"; }

if [ ! -e "$root/.vframe-debootstrap-done" ]; then
    say "making a Debian $suite chroot in $root from $mirror (a few minutes, once)"
    rm -rf "$root"
    mkdir -p "$root"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
        { tail -n 30 "$root.debootstrap.log"; say "debootstrap failed (log: $root.debootstrap.log)"; exit 1; }
    touch "$root/.vframe-debootstrap-done"
fi

mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# cargo in the chroot trusts what this machine trusts (a local proxy's CA included). A fresh
# minbase root has no /etc/ssl until ca-certificates is installed in it.
mkdir -p "$root/etc/ssl"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/host-ca-certificates.crt"
else
    cp "$root/etc/ssl/certs/ca-certificates.crt" "$root/etc/ssl/host-ca-certificates.crt"
fi

if [ "$(cat "$root/.vframe-packages" 2>/dev/null)" != "${packages[*]}" ]; then
    say "installing ${packages[*]}"
    run_in apt-get update -qq
    run_in apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    echo "${packages[*]}" >"$root/.vframe-packages"
fi

mkdir -p "$root/opt/rust" "$root/src/vframe" "$root$chroot_target" "$root/var/cache/vframe-cargo" "$repo/target/ffmpeg7"
mount --bind -o ro "$sysroot" "$root/opt/rust"
mount --bind -o ro "$repo" "$root/src/vframe"
mount --bind "$root$chroot_target" "$root/src/vframe/target"
media=${VFRAME_MEDIA:-$repo/../shared/media}
if [ -f "$media/MANIFEST.tsv" ]; then
    mkdir -p "$root/src/shared/media"
    mount --bind -o ro "$media" "$root/src/shared/media"
else
    say "no media collection at $media: the corpus tests will skip"
fi

say "$(run_in ffmpeg -hide_banner -version | head -n 1); libavcodec $(run_in pkg-config --modversion libavcodec)," \
    "libavformat $(run_in pkg-config --modversion libavformat); $(run_in rustc --version)"
(($#)) || set -- cargo test --release --locked --no-fail-fast
say "running: $*"
log=$repo/target/ffmpeg7/test.log
status=0
run_in sh -c 'cd /src/vframe && exec "$@"' sh "$@" 2>&1 | tee "$log" || status=$?
totals=$(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$log" |
    awk '{p += $1; f += $2; i += $3} END {if (NR) printf "%d passed, %d failed, %d ignored in %d test binaries", p, f, i, NR}')
[ -z "$totals" ] || say "tests: $totals"

# build.rs turns the version ffmpeg-sys-next detected into cfg flags: prove they fired.
flags=$(cat "$root$chroot_target"/release/build/vframe-*/output 2>/dev/null | sed -n 's/^cargo:rustc-cfg=//p' |
    sort -u | tr '\n' ' ')
say "cfg flags from build.rs: ${flags:-none}"
for want in ffmpeg_6_0 ffmpeg_6_1 ffmpeg_7_0 ffmpeg_7_1; do
    [[ " $flags" == *" $want "* ]] || { say "FAILED: cfg flag $want not set"; status=1; }
done
[[ " $flags" != *" ffmpeg_8_0 "* ]] || { say "FAILED: ffmpeg_8_0 set against FFmpeg 7.1"; status=1; }
say "$( ((status == 0)) && echo passed || echo FAILED) in $((SECONDS - start)) s"
exit "$status"
