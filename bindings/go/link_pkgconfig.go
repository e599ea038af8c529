//go:build !vframe_checkout

package vframe

// By default the package builds against an installed vframe (`make install`), found by
// pkg-config, as cgo packages over system libraries do. With a prefix that is not a system
// one, set PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig, and LD_LIBRARY_PATH (or an rpath through
// CGO_LDFLAGS) for run time. -tags vframe_checkout builds against a checkout instead.

// #cgo pkg-config: vframe
import "C"
