#!/usr/bin/env bash
# What a Go user does, outside the repository: `make install` into a prefix, then a fresh
# module that imports "vframe" (a replace directive to this checkout's bindings/go, as the
# README says), `go get`, `go vet` and `go build` of examples/thumbnail.go with pkg-config
# finding the installed vframe (the package's default build), and the program run.
# Everything goes to target/go-install: the prefix, GOPATH and module cache; GOPROXY=off
# proves nothing is downloaded. Needs `make build` first (make test-go does it).
set -euo pipefail
trap 'echo "go-install-test: FAILED at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
repo=$PWD
go=${GO:-go}
work=$repo/target/go-install
rm -rf "$work"
mkdir -p "$work/app"
make --no-print-directory install PREFIX="$work/prefix" >/dev/null
./scripts/fixtures.sh >/dev/null
cp examples/thumbnail.go "$work/app/main.go"
cd "$work/app"
export GOPATH=$work/gopath GOMODCACHE=$work/gopath/pkg/mod GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local
export PKG_CONFIG_PATH=$work/prefix/lib/pkgconfig
unset CGO_CFLAGS CGO_LDFLAGS
set -x
$go mod init example.com/thumbnail 2>/dev/null
$go mod edit -replace "vframe=$repo/bindings/go"
$go get vframe
$go vet .
$go build -o thumbnail .
{ set +x; } 2>/dev/null
# The program links the installed library (by its SONAME) and makes a JPEG.
export LD_LIBRARY_PATH=$work/prefix/lib
[[ $(ldd ./thumbnail) == *"libvframe.so.0 => $work/prefix/lib/libvframe.so.0 "* ]]
./thumbnail "$repo/target/fixtures/gop25_25fps.mp4" vframe/jpg/offset/2/w/160 thumb.jpg
test "$(od -An -tx1 -N3 thumb.jpg | tr -d ' ')" = ffd8ff
# A bad spec is vframe.ErrInvalidSpec, as the example expects.
if ./thumbnail "$repo/target/fixtures/gop25_25fps.mp4" vframe/gif/offset/2 bad.gif 2>bad.txt; then
    echo "go-install-test: a bad spec succeeded" >&2
    exit 1
fi
grep -q "fix the spec: .*format 'gif' is not" bad.txt
echo "go-install-test: ok (module outside the repository, installed vframe through pkg-config)"
