package vframe

// #include <stdlib.h>
// #include "vframe.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// ExtractMany returns one thumbnail per spec of the video file at path, in the order given,
// in one call: cheaper than one Extract per spec, since the file is opened once and the
// offsets are visited in time order, decoding on instead of seeking within a GOP.
//
// images and errs have one element per spec: images[i] is nil where specs[i] failed, and
// errs[i] is that spec's own error (nil on success); err is the first failure in the order
// given (an *Error), or nil. A bad spec (malformed, or holding a NUL byte) fails alone; when
// the call as a whole cannot run (bad options, a path with a NUL byte, a missing file),
// every spec fails with that error.
func ExtractMany(path string, specs []string) (images [][]byte, errs []error, err error) {
	return (*Options)(nil).ExtractMany(path, specs)
}

// ExtractMany is the package's ExtractMany with these options (nil: the defaults); the
// time limit bounds the whole call.
func (o *Options) ExtractMany(path string, specs []string) (images [][]byte, errs []error, err error) {
	n := len(specs)
	images, errs = make([][]byte, n), make([]error, n)
	if n == 0 {
		return images, errs, nil
	}
	failAll := func(e error) ([][]byte, []error, error) {
		for i := range errs {
			errs[i] = e
		}
		return images, errs, e
	}
	copts, err := o.toC()
	if err != nil {
		return failAll(err)
	}
	cpath, err := cString(path, "the path")
	if err != nil {
		return failAll(err)
	}
	defer C.free(unsafe.Pointer(cpath))
	// The specs C can take, in C memory (C keeps pointers into the array during the call);
	// sent[j] is the index in specs of the j-th of them.
	cspecs := make([]*C.char, 0, n)
	sent := make([]int, 0, n)
	defer func() {
		for _, cspec := range cspecs {
			C.free(unsafe.Pointer(cspec))
		}
	}()
	for i, spec := range specs {
		cspec, e := cString(spec, fmt.Sprintf("specs[%d]", i))
		if e != nil {
			errs[i] = e
			continue
		}
		cspecs = append(cspecs, cspec)
		sent = append(sent, i)
	}
	if m := len(cspecs); m > 0 {
		array := unsafe.Slice((**C.char)(C.malloc(C.size_t(m)*C.size_t(unsafe.Sizeof((*C.char)(nil))))), m)
		defer C.free(unsafe.Pointer(&array[0]))
		copy(array, cspecs)
		cimages := make([]C.vframe_image, m)
		statuses := make([]C.vframe_status, m)
		messages := make([]C.char, m*errBufLen) // each spec's own message, one after the other
		C.vframe_extract_many_errs(cpath, &array[0], C.size_t(m), &copts, &cimages[0], &statuses[0], &messages[0], errBufLen)
		for j, i := range sent {
			if statuses[j] == C.VFRAME_STATUS_OK {
				images[i] = C.GoBytes(unsafe.Pointer(cimages[j].data), C.int(cimages[j].len))
			} else {
				errs[i] = &Error{Status(statuses[j]), C.GoString(&messages[j*errBufLen])}
			}
			C.vframe_image_free(&cimages[j])
		}
	}
	for _, e := range errs {
		if e != nil {
			return images, errs, e
		}
	}
	return images, errs, nil
}
