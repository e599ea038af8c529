package vframe

// #include <stdlib.h>
// #include "vframe.h"
import "C"

import (
	"unsafe"
)

// ExtractMany returns one thumbnail per spec of the video file at path, in the order given,
// in one call: cheaper than one Extract per spec, since the file is opened once and the
// offsets are visited in time order, decoding on instead of seeking within a GOP.
//
// images[i] is nil where specs[i] failed; err is then the first failure (an *Error), and
// errs[i] holds each spec's own error (nil on success).
func ExtractMany(path string, specs []string) (images [][]byte, errs []error, err error) {
	return (*Options)(nil).ExtractMany(path, specs)
}

// ExtractMany is the package's ExtractMany with these options (nil: the defaults); the
// time limit bounds the whole call.
func (o *Options) ExtractMany(path string, specs []string) (images [][]byte, errs []error, err error) {
	copts, err := o.toC()
	if err != nil {
		return nil, nil, err
	}
	n := len(specs)
	images, errs = make([][]byte, n), make([]error, n)
	if n == 0 {
		return images, errs, nil
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	// C memory for the arrays C keeps pointers into during the call.
	cspecs := unsafe.Slice((**C.char)(C.malloc(C.size_t(n)*C.size_t(unsafe.Sizeof((*C.char)(nil))))), n)
	defer C.free(unsafe.Pointer(&cspecs[0]))
	for i, spec := range specs {
		cspecs[i] = C.CString(spec)
		defer C.free(unsafe.Pointer(cspecs[i]))
	}
	cimages := make([]C.vframe_image, n)
	statuses := make([]C.vframe_status, n)
	var errBuf [errBufLen]C.char
	status := C.vframe_extract_many(cpath, &cspecs[0], C.size_t(n), &copts, &cimages[0], &statuses[0], &errBuf[0], errBufLen)
	first := C.GoString(&errBuf[0])
	for i := range specs {
		if statuses[i] == C.VFRAME_STATUS_OK {
			images[i] = C.GoBytes(unsafe.Pointer(cimages[i].data), C.int(cimages[i].len))
		} else {
			message := ""
			if err == nil {
				message = first
			}
			errs[i] = &Error{Status(statuses[i]), message}
			if err == nil {
				err = errs[i]
			}
		}
		C.vframe_image_free(&cimages[i])
	}
	if status != C.VFRAME_STATUS_OK && err == nil {
		err = &Error{Status(status), first}
	}
	return images, errs, err
}
