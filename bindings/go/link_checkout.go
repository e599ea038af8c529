//go:build vframe_checkout

package vframe

// With -tags vframe_checkout the package builds against the vframe checkout it sits in:
// the header in include/ and the library `make` leaves in target/release (found again at
// run time through the rpath). This is how the repository's own tests (`make test-go`) run.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../target/release -lvframe -Wl,-rpath,${SRCDIR}/../../target/release
import "C"
