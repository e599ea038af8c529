//go:build !vframe_pkgconfig

package vframe

// By default the package builds against this repository's checkout: the header in
// include/ and the library `make` leaves in target/release (found again at run time
// through the rpath). Build with -tags vframe_pkgconfig to use an installed vframe
// (`make install`) through pkg-config instead.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../target/release -lvframe -Wl,-rpath,${SRCDIR}/../../target/release
import "C"
