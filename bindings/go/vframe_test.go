package vframe_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vframe"
)

var fixtures string

// TestMain makes the small fixture videos (scripts/fixtures.sh, idempotent) first.
func TestMain(m *testing.M) {
	root, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	fixtures = filepath.Join(root, "target", "fixtures")
	cmd := exec.Command(filepath.Join(root, "scripts", "fixtures.sh"), fixtures)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "scripts/fixtures.sh failed:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func fixture(name string) string { return filepath.Join(fixtures, name) }

// media is the shared folder of real-world videos (VFRAME_MEDIA or ../shared/media).
func media(t *testing.T, name string) string {
	dir := os.Getenv("VFRAME_MEDIA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "media")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no %s (set VFRAME_MEDIA to the shared media folder)", path)
	}
	return path
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decode checks that data is a JPEG or PNG file (as format says) of w x h pixels.
func decode(t *testing.T, data []byte, format string, w, h int) {
	t.Helper()
	var img image.Image
	var err error
	switch format {
	case "jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	case "png":
		img, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		t.Fatalf("not a %s file: %v", format, err)
	}
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Fatalf("%s is %dx%d, want %dx%d", format, got.X, got.Y, w, h)
	}
}

func TestExtractGivesTheImageTheSpecAsksFor(t *testing.T) {
	cases := []struct {
		file, spec, format string
		w, h               int
	}{
		{"tiny_h264.mp4", "vframe/jpg/offset/0.5", "jpeg", 64, 48},
		{"tiny_h264.mp4", "vframe/png/offset/0.3/w/32", "png", 32, 24},
		{"gop25_25fps.mp4", "vframe/jpeg/offset/2/w/100/h/100", "jpeg", 100, 100},
		{"rotate90.mp4", "vframe/png/offset/1/rotate/auto", "png", 240, 320},
		{"tiny_h264.mp4", "vframe/jpg/offset/3600", "jpeg", 64, 48}, // past the end: the last frame
	}
	for _, c := range cases {
		t.Run(c.file+"/"+c.spec, func(t *testing.T) {
			data, err := vframe.Extract(fixture(c.file), c.spec)
			if err != nil {
				t.Fatal(err)
			}
			decode(t, data, c.format, c.w, c.h)
		})
	}
}

func TestEveryWayOfCallingGivesTheSameBytes(t *testing.T) {
	path, spec := fixture("gop25_25fps.mp4"), "vframe/jpg/offset/2.5/w/120"
	want, err := vframe.Extract(path, spec)
	if err != nil {
		t.Fatal(err)
	}
	decode(t, want, "jpeg", 120, 90)
	video := read(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	calls := map[string]func() ([]byte, error){
		"ExtractBytes":        func() ([]byte, error) { return vframe.ExtractBytes(video, spec) },
		"ExtractContext":      func() ([]byte, error) { return vframe.ExtractContext(ctx, path, spec) },
		"ExtractBytesContext": func() ([]byte, error) { return vframe.ExtractBytesContext(ctx, video, spec) },
		"Options.ExtractContext": func() ([]byte, error) {
			return (&vframe.Options{Threads: 1}).ExtractContext(context.Background(), path, spec)
		},
	}
	for name, call := range calls {
		got, err := call()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes differ from Extract's %d", name, len(got), len(want))
		}
	}
}

func TestFailuresAreTypedErrorsWithTheirOwnMessage(t *testing.T) {
	noise := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(noise)
	ctx := context.Background()
	timed, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cases := []struct {
		name    string
		call    func() ([]byte, error)
		want    vframe.Status
		mention string
	}{
		{"bad format", func() ([]byte, error) { return vframe.Extract(fixture("tiny_h264.mp4"), "vframe/gif/offset/1") },
			vframe.ErrInvalidSpec, "gif"},
		{"bad spec, async", func() ([]byte, error) {
			return vframe.ExtractContext(timed, fixture("tiny_h264.mp4"), "vframe/jpg/offset/soon")
		}, vframe.ErrInvalidSpec, "soon"},
		{"spec with NUL", func() ([]byte, error) { return vframe.Extract(fixture("tiny_h264.mp4"), "vframe/jpg\x00/offset/1") },
			vframe.ErrInvalidSpec, ""},
		{"missing file", func() ([]byte, error) { return vframe.Extract("/nonexistent/movie.mp4", "vframe/jpg/offset/1") },
			vframe.ErrCannotOpen, "/nonexistent/movie.mp4"},
		{"missing file, async", func() ([]byte, error) {
			return vframe.ExtractContext(timed, "/nonexistent/movie.mp4", "vframe/jpg/offset/1")
		}, vframe.ErrCannotOpen, "/nonexistent/movie.mp4"},
		{"empty path", func() ([]byte, error) { return vframe.Extract("", "vframe/jpg/offset/1") },
			vframe.ErrInvalidArgument, "empty"},
		{"audio only", func() ([]byte, error) { return vframe.Extract(fixture("audio_only.m4a"), "vframe/jpg/offset/1") },
			vframe.ErrNoVideoStream, ""},
		{"random bytes", func() ([]byte, error) { return vframe.ExtractBytes(noise, "vframe/jpg/offset/1") },
			vframe.ErrCannotOpen, ""},
		{"random bytes, async", func() ([]byte, error) { return vframe.ExtractBytesContext(timed, noise, "vframe/jpg/offset/1") },
			vframe.ErrCannotOpen, ""},
		{"too many pixels", func() ([]byte, error) {
			return (&vframe.Options{MaxInputPixels: 64*48 - 1}).ExtractContext(ctx, fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.5")
		}, vframe.ErrLimitExceeded, ""},
		{"too many frames", func() ([]byte, error) {
			return (&vframe.Options{MaxDecodedFrames: 20, Threads: 1}).ExtractContext(ctx, fixture("bframes_gop250.mp4"), "vframe/jpg/offset/8")
		}, vframe.ErrLimitExceeded, ""},
		{"negative threads", func() ([]byte, error) {
			return (&vframe.Options{Threads: -1}).ExtractContext(ctx, fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.5")
		}, vframe.ErrInvalidArgument, "Threads"},
		{"absurd threads", func() ([]byte, error) {
			return (&vframe.Options{Threads: 5000}).ExtractContext(timed, fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.5")
		}, vframe.ErrInvalidArgument, "threads"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := c.call()
			if err == nil || data != nil {
				t.Fatalf("want a %v failure, got %d bytes, err %v", c.want, len(data), err)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("errors.Is(%v, %v) is false", err, c.want)
			}
			for _, other := range []vframe.Status{vframe.ErrInternal, vframe.ErrDecodeError, vframe.ErrTimeout} {
				if errors.Is(err, other) {
					t.Fatalf("errors.Is(%v, %v) is true", err, other)
				}
			}
			var verr *vframe.Error
			if !errors.As(err, &verr) || verr.Status != c.want || verr.Message == "" {
				t.Fatalf("want an *Error with status %v and a message, got %#v", c.want, err)
			}
			if !strings.Contains(verr.Message, c.mention) || !strings.Contains(err.Error(), c.want.String()) {
				t.Fatalf("message %q should mention %q and %q", err.Error(), c.mention, c.want.String())
			}
		})
	}
}

func TestPlaylistsAreRefused(t *testing.T) {
	playlist := media(t, "hls/sd-hls.m3u8")
	_, err := vframe.Extract(playlist, "vframe/jpg/offset/1")
	if !errors.Is(err, vframe.ErrUnsupportedInput) {
		t.Fatalf("HLS by path: %v", err)
	}
	_, err = vframe.ExtractBytes(read(t, playlist), "vframe/jpg/offset/1")
	if !errors.Is(err, vframe.ErrUnsupportedInput) {
		t.Fatalf("HLS in memory: %v", err)
	}
}

func TestStatusesMatchTheLibrary(t *testing.T) {
	seen := map[string]bool{}
	for s := vframe.StatusOK; s <= vframe.StatusInternal; s++ {
		text := s.String()
		if text == "" || text == "unknown status" || seen[text] {
			t.Fatalf("status %d: %q", s, text)
		}
		seen[text] = true
	}
	if vframe.ErrInvalidSpec.String() != "invalid spec" || vframe.Status(99).String() != "unknown status" {
		t.Fatal("descriptions come from vframe_status_str")
	}
	if v := vframe.Version(); len(strings.Split(v, ".")) != 3 {
		t.Fatalf("version %q", v)
	}
}

func TestAContextAlreadyDoneSubmitsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := vframe.ExtractContext(ctx, fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.5"); err != context.Canceled {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := vframe.ExtractBytesContext(past, []byte("x"), "vframe/jpg/offset/0.5"); err != context.DeadlineExceeded {
		t.Fatalf("want context.DeadlineExceeded, got %v", err)
	}
}

func TestCancellingTheContextReturnsAtOnceAndCleansUp(t *testing.T) {
	// Many more jobs than the pool has threads, each decoding ~240 frames (the file has
	// one keyframe per 250 frames), cancelled once several are queued: each call either
	// finished first (a valid JPEG) or returns ctx.Err() without waiting for its job; every
	// job then still reports back to the library and releases its handle.
	ctx, cancel := context.WithCancel(context.Background())
	const calls = 16
	errs := make(chan error, calls)
	var wg sync.WaitGroup
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			spec := fmt.Sprintf("vframe/jpg/offset/8.%d", i%3)
			data, err := (&vframe.Options{Threads: 1}).ExtractContext(ctx, fixture("bframes_gop250.mp4"), spec)
			if err == nil {
				decode(t, data, "jpeg", 320, 240)
			}
			errs <- err
		}(i)
	}
	for deadline := time.Now().Add(10 * time.Second); vframe.JobsInFlight() < 6 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	close(errs)
	cancelled := 0
	for err := range errs {
		switch {
		case err == nil:
		case err == context.Canceled:
			cancelled++
		default:
			t.Errorf("want success or context.Canceled, got %v", err)
		}
	}
	if cancelled == 0 {
		t.Errorf("none of %d calls saw the cancellation", calls)
	}
	t.Logf("%d of %d calls cancelled", cancelled, calls)
	waitForNoJobsInFlight(t)
}

func TestManyGoroutinesAtOnce(t *testing.T) {
	const goroutines, rounds = 8, 12
	video := read(t, fixture("tiny_h264.mp4"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				width := 16 + 4*g // a multiple of 4: the height (3/4 of it) is exact
				spec := fmt.Sprintf("vframe/png/offset/0.%d/w/%d", i%10, width)
				var data []byte
				var err error
				switch i % 4 {
				case 0:
					data, err = vframe.Extract(fixture("tiny_h264.mp4"), spec)
				case 1:
					data, err = vframe.ExtractBytes(video, spec)
				case 2:
					data, err = vframe.ExtractContext(ctx, fixture("tiny_h264.mp4"), spec)
				case 3:
					data, err = vframe.ExtractBytesContext(ctx, video, spec)
				}
				if err != nil {
					t.Errorf("goroutine %d call %d: %v", g, i, err)
					return
				}
				decode(t, data, "png", width, width*3/4)
				// A failure's message is this call's own, never a neighbour's.
				bad := fmt.Sprintf("vframe/jpg/offset/g%di%d", g, i)
				if i%2 == 0 {
					_, err = vframe.Extract(fixture("tiny_h264.mp4"), bad)
				} else {
					_, err = vframe.ExtractContext(ctx, fixture("tiny_h264.mp4"), bad)
				}
				if !errors.Is(err, vframe.ErrInvalidSpec) || !strings.Contains(err.Error(), fmt.Sprintf("g%di%d", g, i)) {
					t.Errorf("goroutine %d call %d: %v", g, i, err)
				}
			}
		}(g)
	}
	wg.Wait()
	waitForNoJobsInFlight(t)
}

// waitForNoJobsInFlight fails unless every pool job has called back (and released its
// cgo.Handle) within a generous time.
func waitForNoJobsInFlight(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for vframe.JobsInFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d pool jobs never called back", vframe.JobsInFlight())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExtractManyEqualsSingleCalls(t *testing.T) {
	specs := []string{"vframe/png/offset/7.01", "vframe/jpg/offset/2/w/160", "vframe/bad", "vframe/png/offset/60"}
	images, errs, err := vframe.ExtractMany(fixture("bframes_gop250.mp4"), specs)
	if !errors.Is(err, vframe.ErrInvalidSpec) {
		t.Fatalf("first error %v, want an invalid spec", err)
	}
	for i, spec := range specs {
		single, serr := vframe.Extract(fixture("bframes_gop250.mp4"), spec)
		if (serr == nil) != (errs[i] == nil) {
			t.Fatalf("%s: batch error %v, single error %v", spec, errs[i], serr)
		}
		if !bytes.Equal(single, images[i]) {
			t.Errorf("%s: batch and single images differ", spec)
		}
	}
}
