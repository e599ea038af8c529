package vframe_test

import (
	"context"
	"errors"
	"log"
	"os"
	"time"

	"vframe"
)

func Example() {
	jpeg, err := vframe.Extract("movie.mp4", "vframe/jpg/offset/7/w/480")
	var verr *vframe.Error
	switch {
	case errors.Is(err, vframe.ErrInvalidSpec):
		log.Fatal("fix the spec: ", err)
	case errors.As(err, &verr):
		log.Fatalf("%s (%d): %s", verr.Status, verr.Status, verr.Message)
	}
	_ = os.WriteFile("thumb.jpg", jpeg, 0o644)
}

func ExampleOptions_ExtractContext() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := &vframe.Options{Threads: 1, MaxDecodedFrames: 10000}
	png, err := opts.ExtractContext(ctx, "movie.mp4", "vframe/png/offset/61.5/rotate/auto")
	if err != nil {
		log.Fatal(err) // context.DeadlineExceeded after 5 s
	}
	_ = os.WriteFile("thumb.png", png, 0o644)
}

func ExampleOptions_Extract() {
	// Limits for untrusted input tighter than the defaults.
	opts := &vframe.Options{Timeout: 10 * time.Second, MaxDecodedFrames: 5000, MaxInputPixels: 1920 * 1080}
	jpeg, err := opts.Extract("upload.mp4", "vframe/jpg/offset/3/w/320")
	if errors.Is(err, vframe.ErrLimitExceeded) {
		log.Fatal("too big or too long to decode: ", err)
	}
	_ = os.WriteFile("thumb.jpg", jpeg, 0o644)
}
