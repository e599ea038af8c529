package vframe

/*
#include <stdint.h>
#include <stdlib.h>
#include "vframe.h"

// Defined below (//export goVframeFrame).
extern int goVframeFrame(vframe_frame *frame, void *user);

static int vframe_go_frame(const vframe_frame *frame, void *user) {
	return goVframeFrame((vframe_frame *)frame, user);
}

static vframe_status vframe_go_sample_each(const char *path, const char *spec, const vframe_options *opts,
		uintptr_t handle, char *err, size_t err_len) {
	return vframe_sample_each(path, spec, opts, vframe_go_frame, (void *)handle, err, err_len);
}
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// Frame is one frame of a sample: Extract(path, "vframe/<fmt>/offset/<OffsetMs/1000>/...")
// gives the same Image.
type Frame struct {
	Image []byte
	// OffsetMs is the moment sampled, in milliseconds.
	OffsetMs uint64
	// Time is the frame's own presentation time, in seconds from the stream's first frame.
	Time float64
	// Index is its number in the sample (0-based; the pattern's $(count) is Index+1).
	Index int
	// Key is the name the spec's pattern gives it ("" without a pattern): an object key as
	// the pattern writes it ("/" and ".." included), not a checked file name.
	Key string
}

// Sheet is one sheet of a storyboard.
type Sheet struct {
	// Name is the sheet's name, as the WebVTT and JSON index refer to it.
	Name          string
	Image         []byte
	Width, Height int
	// FirstTile and TileCount say which tiles of the index it holds.
	FirstTile, TileCount int
}

// StoryboardResult is a storyboard: its sheets, and its WebVTT and JSON index.
type StoryboardResult struct {
	Sheets []Sheet
	VTT    string
	JSON   string
}

func goFrame(f *C.vframe_frame) Frame {
	frame := Frame{
		Image:    C.GoBytes(unsafe.Pointer(f.image.data), C.int(f.image.len)),
		OffsetMs: uint64(f.offset_ms),
		Time:     float64(f.time),
		Index:    int(f.index),
	}
	if f.key != nil {
		frame.Key = C.GoString(f.key)
	}
	return frame
}

// cPathSpec is path and spec as C strings for C.free, or the error of the first that holds
// a NUL byte (see cString).
func cPathSpec(path, spec string) (*C.char, *C.char, error) {
	cpath, err := cString(path, "the path")
	if err != nil {
		return nil, nil, err
	}
	cspec, err := cString(spec, "the spec")
	if err != nil {
		C.free(unsafe.Pointer(cpath))
		return nil, nil, err
	}
	return cpath, cspec, nil
}

// Sample returns every frame of a Qiniu vsample spec (e.g. "vsample/jpg/interval/10/s/320x")
// of the video file at path, in time order, made in one pass.
func Sample(path, spec string) ([]Frame, error) {
	return (*Options)(nil).Sample(path, spec)
}

// Sample is the package's Sample with these options (nil: the defaults); the time limit
// bounds the whole call.
func (o *Options) Sample(path, spec string) ([]Frame, error) {
	copts, err := o.toC()
	if err != nil {
		return nil, err
	}
	cpath, cspec, err := cPathSpec(path, spec)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	defer C.free(unsafe.Pointer(cspec))
	var out C.vframe_frames
	var errBuf [errBufLen]C.char
	status := C.vframe_sample(cpath, cspec, &copts, &out, &errBuf[0], errBufLen)
	defer C.vframe_frames_free(&out)
	if status != C.VFRAME_STATUS_OK {
		return nil, &Error{Status(status), C.GoString(&errBuf[0])}
	}
	frames := make([]Frame, 0, int(out.count))
	if out.count > 0 {
		for _, f := range unsafe.Slice(out.frames, int(out.count)) {
			frames = append(frames, goFrame(&f))
		}
	}
	return frames, nil
}

// SampleEach is Sample that streams: each frame is handed to fn as soon as it is made and
// nothing is kept. An error from fn stops the sample and is returned. A panic in fn stops
// the sample too, and once the library has returned (its input, decoder and buffers freed)
// SampleEach panics again with the same value; runtime.Goexit in fn (t.FailNow, t.Fatal)
// likewise stops the sample, then ends the calling goroutine. fn runs on a goroutine of its
// own (the caller waits for it, so calls never overlap): a panic or Goexit there must not
// unwind through the library's frames, which Go would leave without their cleanup.
func (o *Options) SampleEach(path, spec string, fn func(Frame) error) error {
	copts, err := o.toC()
	if err != nil {
		return err
	}
	cpath, cspec, err := cPathSpec(path, spec)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cpath))
	defer C.free(unsafe.Pointer(cspec))
	state := &eachState{fn: fn}
	handle := cgo.NewHandle(state)
	defer handle.Delete()
	var errBuf [errBufLen]C.char
	status := C.vframe_go_sample_each(cpath, cspec, &copts, C.uintptr_t(handle), &errBuf[0], errBufLen)
	// The library has returned and cleaned up: now fn's panic or Goexit may go on.
	switch state.ended {
	case fnPanicked:
		panic(state.panicValue)
	case fnExited:
		runtime.Goexit()
	}
	if state.err != nil {
		return state.err
	}
	if status != C.VFRAME_STATUS_OK {
		return &Error{Status(status), C.GoString(&errBuf[0])}
	}
	return nil
}

// SampleEach is the package's SampleEach with the default options.
func SampleEach(path, spec string, fn func(Frame) error) error {
	return (*Options)(nil).SampleEach(path, spec, fn)
}

type eachState struct {
	fn  func(Frame) error
	err error
	// How fn's last call ended, when it did not return: its panic value, or Goexit.
	ended      fnEnd
	panicValue any
}

type fnEnd int

const (
	fnReturned fnEnd = iota
	fnPanicked
	fnExited // runtime.Goexit
)

// call runs fn on frame and records how it ended; done is closed then, whatever happened.
// On its own goroutine (see goVframeFrame): a Goexit ends only that goroutine.
func (s *eachState) call(frame Frame, done chan<- struct{}) {
	returned := false
	defer func() {
		if !returned {
			// Neither returned nor panicked (recover gives nil): runtime.Goexit. A
			// panic(nil) is recovered as a *runtime.PanicNilError (Go 1.21).
			if r := recover(); r != nil {
				s.ended, s.panicValue = fnPanicked, r
			} else {
				s.ended = fnExited
			}
		}
		close(done)
	}()
	s.err = s.fn(frame)
	returned = true
}

// goVframeFrame is vframe_sample_each's callback (through vframe_go_frame), on the calling
// goroutine's thread: it copies the frame and hands it to the caller's function, run on a
// goroutine of its own that it waits for. Non-zero stops the sample: fn's error, panic or
// Goexit, which SampleEach hands on once the library has returned.
//
//export goVframeFrame
func goVframeFrame(frame *C.vframe_frame, user unsafe.Pointer) C.int {
	state := cgo.Handle(uintptr(user)).Value().(*eachState)
	done := make(chan struct{})
	go state.call(goFrame(frame), done)
	<-done
	if state.err != nil || state.ended != fnReturned {
		return 1
	}
	return 0
}

// Storyboard returns a storyboard (e.g. "storyboard/jpg/interval/10/s/160x/columns/10") of
// the video file at path: its sheets, and its WebVTT and JSON index.
func Storyboard(path, spec string) (*StoryboardResult, error) {
	return (*Options)(nil).Storyboard(path, spec)
}

// Storyboard is the package's Storyboard with these options (nil: the defaults).
func (o *Options) Storyboard(path, spec string) (*StoryboardResult, error) {
	copts, err := o.toC()
	if err != nil {
		return nil, err
	}
	cpath, cspec, err := cPathSpec(path, spec)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	defer C.free(unsafe.Pointer(cspec))
	var out C.vframe_sheets
	var errBuf [errBufLen]C.char
	status := C.vframe_storyboard(cpath, cspec, &copts, &out, &errBuf[0], errBufLen)
	defer C.vframe_sheets_free(&out)
	if status != C.VFRAME_STATUS_OK {
		return nil, &Error{Status(status), C.GoString(&errBuf[0])}
	}
	result := &StoryboardResult{
		VTT:  C.GoStringN(out.vtt, C.int(out.vtt_len)),
		JSON: C.GoStringN(out.json, C.int(out.json_len)),
	}
	if out.count > 0 {
		for _, s := range unsafe.Slice(out.sheets, int(out.count)) {
			result.Sheets = append(result.Sheets, Sheet{
				Name:      C.GoString(s.name),
				Image:     C.GoBytes(unsafe.Pointer(s.image.data), C.int(s.image.len)),
				Width:     int(s.image.width),
				Height:    int(s.image.height),
				FirstTile: int(s.first_tile),
				TileCount: int(s.tile_count),
			})
		}
	}
	return result, nil
}
