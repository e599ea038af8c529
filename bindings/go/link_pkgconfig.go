//go:build vframe_pkgconfig

package vframe

// Builds against an installed vframe (`make install PREFIX=...`), found by pkg-config;
// set PKG_CONFIG_PATH (and LD_LIBRARY_PATH or an rpath) when the prefix is not a
// system one.

// #cgo pkg-config: vframe
import "C"
