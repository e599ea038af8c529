package vframe

// #include "vframe.h"
import "C"

import (
	"fmt"
	"strings"
)

// Status is the class of a failure: the C library's vframe_status, with the same values.
// A Status is also an error, so that errors.Is(err, vframe.ErrInvalidSpec) works.
type Status uint32

// The statuses, as in include/vframe.h.
const (
	StatusOK               Status = C.VFRAME_STATUS_OK
	StatusInvalidSpec      Status = C.VFRAME_STATUS_INVALID_SPEC
	StatusInvalidArgument  Status = C.VFRAME_STATUS_INVALID_ARGUMENT
	StatusCannotOpen       Status = C.VFRAME_STATUS_CANNOT_OPEN
	StatusUnsupportedInput Status = C.VFRAME_STATUS_UNSUPPORTED_INPUT
	StatusNoVideoStream    Status = C.VFRAME_STATUS_NO_VIDEO_STREAM
	StatusDecodeError      Status = C.VFRAME_STATUS_DECODE_ERROR
	StatusEncodeError      Status = C.VFRAME_STATUS_ENCODE_ERROR
	StatusTimeout          Status = C.VFRAME_STATUS_TIMEOUT
	StatusLimitExceeded    Status = C.VFRAME_STATUS_LIMIT_EXCEEDED
	StatusCancelled        Status = C.VFRAME_STATUS_CANCELLED
	StatusInternal         Status = C.VFRAME_STATUS_INTERNAL
	StatusBusy             Status = C.VFRAME_STATUS_BUSY
)

// Targets for errors.Is: errors.Is(err, vframe.ErrCannotOpen) is true when err is an
// *Error of that status.
const (
	ErrInvalidSpec      = StatusInvalidSpec      // the spec string is malformed
	ErrInvalidArgument  = StatusInvalidArgument  // an unusable argument or option
	ErrCannotOpen       = StatusCannotOpen       // missing, unreadable, or not a media file
	ErrUnsupportedInput = StatusUnsupportedInput // a playlist (HLS, concat, ...), refused
	ErrNoVideoStream    = StatusNoVideoStream    // no video stream, or no decoder for it
	ErrDecodeError      = StatusDecodeError      // no frame could be decoded
	ErrEncodeError      = StatusEncodeError      // the image encoder failed
	ErrTimeout          = StatusTimeout          // Options.Timeout ran out
	ErrLimitExceeded    = StatusLimitExceeded    // a work limit (frames, pixels) was hit
	ErrCancelled        = StatusCancelled        // cancelled (the Context functions return ctx.Err() instead)
	ErrInternal         = StatusInternal         // a bug in vframe
	ErrBusy             = StatusBusy             // a pool's queue was full (the Context functions wait for room instead)
)

// String is the library's description of the status ("invalid spec", ...).
func (s Status) String() string {
	return C.GoString(C.vframe_status_str(C.vframe_status(s)))
}

// Error makes a Status usable as an error target.
func (s Status) Error() string {
	return "vframe: " + s.String()
}

// Error is a failed extraction: its class and the message of that very call.
type Error struct {
	Status  Status
	Message string
}

// Error is "vframe: " and the library's message, which reads on its own ("invalid spec:
// offset 'x' is not a number...", "cannot open 'a.mp4': No such file...", "the input has no
// video stream"), as Python's str(error) and C's err_buf give it; the class is in Status.
// Without a message, the class's description.
func (e *Error) Error() string {
	if e.Message == "" {
		return "vframe: " + e.Status.String()
	}
	return "vframe: " + e.Message
}

// cString is s as a C string for C.free, or an ErrInvalidArgument *Error when s holds a
// NUL byte: C would take it for the end of the string and silently drop the rest.
func cString(s, what string) (*C.char, error) {
	if at := strings.IndexByte(s, 0); at >= 0 {
		return nil, &Error{StatusInvalidArgument, fmt.Sprintf("%s contains a NUL byte (at byte %d)", what, at)}
	}
	return C.CString(s), nil
}

// Is reports whether target is this error's Status.
func (e *Error) Is(target error) bool {
	s, ok := target.(Status)
	return ok && s == e.Status
}
