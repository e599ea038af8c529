// Package vframe returns the frame of a video at a given moment as a JPEG or PNG
// thumbnail, following Qiniu's vframe operation:
//
//	vframe/<jpg|png>/offset/<seconds>[/w/<width>][/h/<height>][/rotate/<90|180|270|auto>]
//
// It is a thin cgo binding of the vframe C library (include/vframe.h): the exact frame,
// not the nearest keyframe, the right way up and the right shape. Every function is safe
// for concurrent use. Errors are *Error values, usable with errors.As, and comparable with
// errors.Is to the Err* statuses:
//
//	jpeg, err := vframe.Extract("movie.mp4", "vframe/jpg/offset/7/w/480")
//	if errors.Is(err, vframe.ErrInvalidSpec) { ... }
package vframe

/*
#include <stdint.h>
#include <stdlib.h>
#include "vframe.h"

// Defined in callback.go (//export goVframeDone).
extern void goVframeDone(vframe_status status, vframe_image *image, char *err, void *user);

// The pool's callback: forwards to Go (whose export cannot take const char *).
static void vframe_go_done(vframe_status status, vframe_image *image, const char *err, void *user) {
	goVframeDone(status, image, (char *)err, user);
}

// Submit with vframe_go_done; the cgo.Handle travels as the user pointer. (A Go
// uintptr cannot be turned into a void * on the Go side without upsetting go vet.) These
// never wait for room in the pool: Go callers wait in Go (see pool()).
static vframe_status vframe_go_submit(vframe_pool *pool, const char *path, const char *spec,
		const vframe_options *opts, uintptr_t handle, uint64_t *job_id, char *err, size_t err_len) {
	return vframe_submit(pool, path, spec, opts, vframe_go_done, (void *)handle, job_id, err, err_len);
}

static vframe_status vframe_go_submit_memory(vframe_pool *pool, const uint8_t *data, size_t len,
		const char *spec, const vframe_options *opts, uintptr_t handle, uint64_t *job_id,
		char *err, size_t err_len) {
	return vframe_submit_memory(pool, data, len, spec, opts, vframe_go_done, (void *)handle, job_id,
		err, err_len);
}
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// errBufLen is the size of the buffer each call gets for its own failure message.
const errBufLen = 1024

// Options are per-call limits. The zero value (and a nil *Options) gives the library's
// safe defaults for untrusted input: 60 s, 120000 decoded frames, 16384x16384 pixels.
type Options struct {
	// Timeout bounds the whole call: 0 means the library default (60 s), a negative
	// value means no limit. Prefer a context deadline with the Context functions.
	Timeout time.Duration
	// Threads is the number of decoder threads; 0 lets vframe choose (one per CPU, one for a frame near its keyframe).
	Threads int
	// MaxDecodedFrames bounds the frames one call may decode; 0 means the default.
	MaxDecodedFrames uint64
	// MaxInputPixels bounds the coded picture size (width*height); 0 means the default.
	MaxInputPixels uint64
}

// toC converts the options, rejecting values C cannot represent.
func (o *Options) toC() (C.vframe_options, error) {
	copts := C.vframe_options_default()
	if o == nil {
		return copts, nil
	}
	switch {
	case o.Timeout < 0:
		copts.timeout_ms = 0 // no limit
	case o.Timeout > 0:
		// Rounded up: a positive timeout must never become 0, which means no limit.
		ms := (o.Timeout + time.Millisecond - 1) / time.Millisecond
		if ms > math.MaxUint32 {
			return copts, &Error{StatusInvalidArgument, fmt.Sprintf("Options.Timeout %v is too long", o.Timeout)}
		}
		copts.timeout_ms = C.uint32_t(ms)
	}
	if o.Threads < 0 || uint64(o.Threads) > math.MaxUint32 {
		return copts, &Error{StatusInvalidArgument, fmt.Sprintf("Options.Threads is %d", o.Threads)}
	}
	copts.threads = C.uint32_t(o.Threads)
	if o.MaxDecodedFrames > 0 {
		copts.max_decoded_frames = C.uint64_t(o.MaxDecodedFrames)
	}
	if o.MaxInputPixels > 0 {
		copts.max_input_pixels = C.uint64_t(o.MaxInputPixels)
	}
	return copts, nil
}

// Extract returns the thumbnail spec describes (e.g. "vframe/jpg/offset/7/w/480") from the
// video file at path: the bytes of a JPEG or PNG file.
func Extract(path, spec string) ([]byte, error) {
	return (*Options)(nil).Extract(path, spec)
}

// ExtractBytes is Extract on the bytes of a whole video file.
func ExtractBytes(data []byte, spec string) ([]byte, error) {
	return (*Options)(nil).ExtractBytes(data, spec)
}

// Extract is the package's Extract with these options (nil: the defaults).
func (o *Options) Extract(path, spec string) ([]byte, error) {
	return o.ExtractContext(context.Background(), path, spec)
}

// ExtractBytes is the package's ExtractBytes with these options (nil: the defaults).
func (o *Options) ExtractBytes(data []byte, spec string) ([]byte, error) {
	return o.ExtractBytesContext(context.Background(), data, spec)
}

// ExtractContext is Extract that gives up when ctx is done: it then returns ctx.Err()
// at once and the extraction, cancelled, stops in the background. It runs on a pool shared
// by the package, which takes 5 jobs per CPU at once; a call beyond that waits for room
// (while ctx allows) before it submits anything.
func ExtractContext(ctx context.Context, path, spec string) ([]byte, error) {
	return (*Options)(nil).ExtractContext(ctx, path, spec)
}

// ExtractBytesContext is ExtractBytes that gives up when ctx is done (see ExtractContext).
// The library keeps a copy of data for the job (one per call, made once the call has room
// in the pool, released when the extraction ends); data itself is not kept.
func ExtractBytesContext(ctx context.Context, data []byte, spec string) ([]byte, error) {
	return (*Options)(nil).ExtractBytesContext(ctx, data, spec)
}

// ExtractContext is the package's ExtractContext with these options (nil: the defaults).
func (o *Options) ExtractContext(ctx context.Context, path, spec string) ([]byte, error) {
	copts, err := o.toC()
	if err != nil {
		return nil, err
	}
	cpath, err := cString(path, "the path")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	cspec, err := cString(spec, "the spec")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cspec))

	if ctx.Done() == nil { // never cancelled: a plain blocking call
		var image C.vframe_image
		var errBuf [errBufLen]C.char
		status := C.vframe_extract_opts(cpath, cspec, &copts, &image, &errBuf[0], errBufLen)
		return takeImage(status, &image, &errBuf[0])
	}
	return wait(ctx, func(handle C.uintptr_t, jobID *C.uint64_t, errBuf *C.char) C.vframe_status {
		return C.vframe_go_submit(pool(), cpath, cspec, &copts, handle, jobID, errBuf, errBufLen)
	})
}

// ExtractBytesContext is the package's ExtractBytesContext with these options.
func (o *Options) ExtractBytesContext(ctx context.Context, data []byte, spec string) ([]byte, error) {
	copts, err := o.toC()
	if err != nil {
		return nil, err
	}
	cspec, err := cString(spec, "the spec")
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cspec))
	// C reads the Go bytes only during the call: vframe_extract_memory_opts reads them in
	// place, vframe_submit_memory copies them into the job (cgo forbids C to keep a Go
	// pointer once a call returns), so a call with a context makes one copy.
	var cdata *C.uint8_t
	if len(data) > 0 {
		cdata = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	clen := C.size_t(len(data))

	if ctx.Done() == nil {
		var image C.vframe_image
		var errBuf [errBufLen]C.char
		status := C.vframe_extract_memory_opts(cdata, clen, cspec, &copts, &image, &errBuf[0], errBufLen)
		return takeImage(status, &image, &errBuf[0])
	}
	return wait(ctx, func(handle C.uintptr_t, jobID *C.uint64_t, errBuf *C.char) C.vframe_status {
		return C.vframe_go_submit_memory(pool(), cdata, clen, cspec, &copts, handle, jobID, errBuf, errBufLen)
	})
}

// takeImage turns a call's outcome into Go values: the image's bytes copied, then freed.
func takeImage(status C.vframe_status, image *C.vframe_image, errBuf *C.char) ([]byte, error) {
	if status != C.VFRAME_STATUS_OK {
		C.vframe_image_free(image) // empty already; harmless
		return nil, &Error{Status(status), C.GoString(errBuf)}
	}
	defer C.vframe_image_free(image)
	return C.GoBytes(unsafe.Pointer(image.data), C.int(image.len)), nil
}

// result is what a pool job sends back to the goroutine that waits for it.
type result struct {
	data []byte
	err  error
}

// inFlight counts jobs submitted and not yet called back (each holds a cgo.Handle).
var inFlight atomic.Int64

// wait takes a place in the shared pool (waiting for one while ctx allows), submits a job
// there and waits for its result or for ctx.
func wait(ctx context.Context, submit func(C.uintptr_t, *C.uint64_t, *C.char) C.vframe_status) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pool() // makes places
	select {
	case places <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err() // nothing submitted, nothing copied
	}
	if err := ctx.Err(); err != nil { // done as the place came: select picks either
		<-places
		return nil, err
	}
	// Buffered: the callback never blocks, even when nobody waits any more.
	done := make(chan result, 1)
	handle := cgo.NewHandle(done)
	var jobID C.uint64_t
	var errBuf [errBufLen]C.char
	inFlight.Add(1)
	status := submit(C.uintptr_t(handle), &jobID, &errBuf[0])
	if status != C.VFRAME_STATUS_OK { // refused at once: done will not be called
		inFlight.Add(-1)
		handle.Delete()
		<-places
		return nil, &Error{Status(status), C.GoString(&errBuf[0])}
	}
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		C.vframe_cancel(pool(), jobID)
		return nil, ctx.Err()
	}
}

var (
	sharedPool     *C.vframe_pool
	sharedPoolOnce sync.Once
	// places holds a token per job the package has in the shared pool (running or queued,
	// until its callback): a call with a context takes one before it submits (and copies
	// its bytes), and waits for one, as its context allows, when all are taken. Waiting in
	// Go rather than in C (vframe_job.wait_ms) parks a goroutine instead of an OS thread,
	// and the wait can end with the context.
	places chan struct{}
)

// jobsInPool is how many jobs the package keeps in the shared pool at once: five per CPU,
// a C pool's default shape (one running and four queued per thread).
var jobsInPool = 5 * runtime.NumCPU()

// pool is the process-wide worker pool (one thread per CPU), created on first use and
// kept for the life of the process. Its queue holds jobsInPool jobs, so the library never
// refuses one of the package's jobs for want of room (VFRAME_STATUS_BUSY): places, which
// let in no more than that, is the bound.
func pool() *C.vframe_pool {
	sharedPoolOnce.Do(func() {
		places = make(chan struct{}, jobsInPool)
		sharedPool = C.vframe_pool_new_with(0, C.uint32_t(jobsInPool))
		if sharedPool == nil {
			panic("vframe: cannot start the worker pool's threads")
		}
	})
	return sharedPool
}

// Version is the version of the vframe library in use, e.g. "0.1.0".
func Version() string {
	return C.GoString(C.vframe_version())
}
