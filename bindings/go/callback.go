package vframe

// #include "vframe.h"
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// goVframeDone is the pool's completion callback (through vframe_go_done in vframe.go),
// run on a pool thread. It copies the image, frees it, hands the result to the goroutine
// waiting in wait() (or to nobody, if that one gave up; the channel is buffered), and gives
// the job's place back (the library gave back its own before calling this).
//
//export goVframeDone
func goVframeDone(status C.vframe_status, image *C.vframe_image, err *C.char, user unsafe.Pointer) {
	handle := cgo.Handle(uintptr(user))
	done := handle.Value().(chan result)
	handle.Delete()
	data, failure := takeImage(status, image, err)
	done <- result{data, failure}
	inFlight.Add(-1)
	<-places
}
