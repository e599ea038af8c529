package vframe

// #include <stdlib.h>
// #include "vframe.h"
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Source is a video opened and probed once, from which any number of thumbnails are
// extracted (the C vframe_source): each Extract gives exactly the image the package's
// Extract gives (except on the few files the README lists as known to differ), without
// opening the file again. Offsets may come in any order; in time
// order, those in one GOP are reached by decoding on.
//
//	src, err := vframe.Open("movie.mp4")
//	if err != nil { ... }
//	defer src.Close()
//	poster, err := src.Extract("vframe/jpg/offset/0/w/640")
//
// A Source is safe for concurrent use; calls on one Source run one at a time (open one
// per goroutine for parallel work). The options given at open apply to every call, each
// getting the whole time limit.
type Source struct {
	// mu is held for reading by each call and for writing by Close, so that a source is
	// never closed under a call.
	mu sync.RWMutex
	c  *C.vframe_source
}

// Open opens the video file at path with the default options.
func Open(path string) (*Source, error) {
	return (*Options)(nil).Open(path)
}

// OpenBytes opens the bytes of a whole video file, which are copied: data may be reused
// as soon as it returns.
func OpenBytes(data []byte) (*Source, error) {
	return (*Options)(nil).OpenBytes(data)
}

// Open is the package's Open with these options (nil: the defaults).
func (o *Options) Open(path string) (*Source, error) {
	copts, err := o.toC()
	if err != nil {
		return nil, err
	}
	cpath, err := cString(path, "the path")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	var source *C.vframe_source
	var errBuf [errBufLen]C.char
	status := C.vframe_source_open(cpath, &copts, &source, &errBuf[0], errBufLen)
	return newSource(status, source, &errBuf[0])
}

// OpenBytes is the package's OpenBytes with these options (nil: the defaults).
func (o *Options) OpenBytes(data []byte) (*Source, error) {
	copts, err := o.toC()
	if err != nil {
		return nil, err
	}
	// C copies the bytes during the call, so Go memory is fine.
	var cdata *C.uint8_t
	if len(data) > 0 {
		cdata = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	var source *C.vframe_source
	var errBuf [errBufLen]C.char
	status := C.vframe_source_open_memory(cdata, C.size_t(len(data)), &copts, &source, &errBuf[0], errBufLen)
	return newSource(status, source, &errBuf[0])
}

func newSource(status C.vframe_status, source *C.vframe_source, errBuf *C.char) (*Source, error) {
	if status != C.VFRAME_STATUS_OK {
		return nil, &Error{Status(status), C.GoString(errBuf)}
	}
	s := &Source{c: source}
	// A Source dropped without Close still releases the library's resources.
	runtime.SetFinalizer(s, (*Source).Close)
	return s, nil
}

// Extract returns the thumbnail spec describes (e.g. "vframe/jpg/offset/7/w/480"): the
// bytes of a JPEG or PNG file. A failure leaves the source usable.
func (s *Source) Extract(spec string) ([]byte, error) {
	cspec, err := cString(spec, "the spec")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cspec))
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.c == nil {
		return nil, &Error{StatusInvalidArgument, "the source is closed"}
	}
	var image C.vframe_image
	var errBuf [errBufLen]C.char
	status := C.vframe_source_extract(s.c, cspec, &image, &errBuf[0], errBufLen)
	return takeImage(status, &image, &errBuf[0])
}

// Close releases the source, waiting for calls in progress. Closing twice is fine.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		C.vframe_source_close(s.c)
		s.c = nil
		runtime.SetFinalizer(s, nil)
	}
	return nil
}
