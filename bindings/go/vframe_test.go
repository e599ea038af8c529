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
	"syscall"
	"testing"
	"time"

	"vframe"
)

var fixtures string

// TestMain makes the small fixture videos (scripts/fixtures.sh, idempotent) first, and
// afterwards says which tests skipped for want of the shared media folder (go test prints
// skips only with -v).
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
	code := m.Run()
	if len(mediaSkipped) > 0 {
		fmt.Fprintf(os.Stderr, "SKIPPED (no media collection at %s; set VFRAME_MEDIA): %s\n",
			mediaDir(), strings.Join(mediaSkipped, ", "))
	}
	os.Exit(code)
}

func fixture(name string) string { return filepath.Join(fixtures, name) }

// mediaSkipped lists the tests that skipped because the shared media folder is absent.
var (
	mediaSkipped     []string
	mediaSkippedLock sync.Mutex
)

// mediaDir is the shared folder of real-world videos: VFRAME_MEDIA, or ../shared/media
// beside the repository.
func mediaDir() string {
	if dir := os.Getenv("VFRAME_MEDIA"); dir != "" {
		return dir
	}
	dir, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "media"))
	return dir
}

// media is the path of a file of the shared media folder. Without the folder the test
// skips, and says so at the end of the run; under CI=true it fails instead, as it does when
// the folder lacks the file.
func media(t *testing.T, name string) string {
	t.Helper()
	dir := mediaDir()
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and the shared media folder is missing: %v (set VFRAME_MEDIA)", err)
		}
		mediaSkippedLock.Lock()
		mediaSkipped = append(mediaSkipped, t.Name())
		mediaSkippedLock.Unlock()
		// make test prints this log at the end.
		if log, err := os.OpenFile(filepath.Join("..", "..", "target", "media-skips.log"),
			os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(log, "SKIPPED go %s: no media collection at %s (set VFRAME_MEDIA)\n", t.Name(), dir)
			log.Close()
		}
		t.Skipf("no media collection at %s (set VFRAME_MEDIA)", dir)
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the shared media folder lacks %s: %v", name, err)
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
		"Options.Extract":      func() ([]byte, error) { return (&vframe.Options{Threads: 1}).Extract(path, spec) },
		"Options.ExtractBytes": func() ([]byte, error) { return (&vframe.Options{Threads: 1}).ExtractBytes(video, spec) },
		"nil Options.Extract":  func() ([]byte, error) { return (*vframe.Options)(nil).Extract(path, spec) },
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
			vframe.ErrInvalidArgument, "NUL"},
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
		{"too many frames, Options.Extract", func() ([]byte, error) {
			return (&vframe.Options{MaxDecodedFrames: 20, Threads: 1}).Extract(fixture("bframes_gop250.mp4"), "vframe/jpg/offset/8")
		}, vframe.ErrLimitExceeded, ""},
		{"too many pixels, Options.ExtractBytes", func() ([]byte, error) {
			return (&vframe.Options{MaxInputPixels: 64*48 - 1}).ExtractBytes(read(t, fixture("tiny_h264.mp4")), "vframe/jpg/offset/0.5")
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
			if !strings.Contains(verr.Message, c.mention) {
				t.Fatalf("message %q should mention %q", err.Error(), c.mention)
			}
			readsOnce(t, err)
		})
	}
}

// readsOnce checks that err's text is "vframe: " and the library's message for the call,
// with no class named twice ("vframe: invalid spec: invalid spec: ...").
func readsOnce(t *testing.T, err error) {
	t.Helper()
	var verr *vframe.Error
	if !errors.As(err, &verr) {
		t.Fatalf("%v is not an *Error", err)
	}
	if verr.Message != "" && err.Error() != "vframe: "+verr.Message {
		t.Errorf("Error() is %q, want %q", err.Error(), "vframe: "+verr.Message)
	}
	for s := vframe.StatusOK; s <= vframe.StatusBusy; s++ {
		if strings.Contains(err.Error(), s.String()+": "+s.String()) {
			t.Errorf("%q names the class %q twice", err.Error(), s.String())
		}
	}
}

func TestErrorTextsReadOnce(t *testing.T) {
	_, err := vframe.Extract(fixture("tiny_h264.mp4"), "vframe/gif/offset/1")
	if got, want := err.Error(), "vframe: invalid spec: format 'gif' is not jpg, jpeg, png or webp"; got != want {
		t.Errorf("Error() is %q, want %q", got, want)
	}
	// Without a message, the class's description.
	for s := vframe.StatusInvalidSpec; s <= vframe.StatusBusy; s++ {
		if got, want := (&vframe.Error{Status: s}).Error(), "vframe: "+s.String(); got != want {
			t.Errorf("Error() is %q, want %q", got, want)
		}
	}
}

// A NUL byte would end a C string early: "a.mp4\x00x" would open a.mp4, and
// ".../offset/1\x00/w/10" would drop "/w/10". Every entry point refuses it instead.
func TestNULBytesAreRefusedNotCut(t *testing.T) {
	path, spec := fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.5"
	video := read(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := &vframe.Options{Threads: 1}
	nulPath, nulSpec := path+"\x00.txt", spec+"\x00/w/10"
	calls := map[string]func() ([]byte, error){
		"Extract path":                   func() ([]byte, error) { return vframe.Extract(nulPath, spec) },
		"Extract spec":                   func() ([]byte, error) { return vframe.Extract(path, nulSpec) },
		"ExtractBytes spec":              func() ([]byte, error) { return vframe.ExtractBytes(video, nulSpec) },
		"ExtractContext path":            func() ([]byte, error) { return vframe.ExtractContext(ctx, nulPath, spec) },
		"ExtractContext spec":            func() ([]byte, error) { return vframe.ExtractContext(ctx, path, nulSpec) },
		"ExtractBytesContext spec":       func() ([]byte, error) { return vframe.ExtractBytesContext(ctx, video, nulSpec) },
		"Options.ExtractContext path":    func() ([]byte, error) { return opts.ExtractContext(ctx, nulPath, spec) },
		"Options.ExtractBytesContext":    func() ([]byte, error) { return opts.ExtractBytesContext(ctx, video, nulSpec) },
		"Options.ExtractContext, no ctx": func() ([]byte, error) { return opts.ExtractContext(context.Background(), path, nulSpec) },
	}
	for name, call := range calls {
		data, err := call()
		var verr *vframe.Error
		if data != nil || !errors.Is(err, vframe.ErrInvalidArgument) || !errors.As(err, &verr) ||
			!strings.Contains(verr.Message, "NUL") {
			t.Errorf("%s: want an ErrInvalidArgument *Error about the NUL byte, got %d bytes and %v", name, len(data), err)
		}
	}

	// ExtractMany: a NUL in the path fails every spec; a NUL in one spec fails that spec alone.
	images, errs, err := vframe.ExtractMany(nulPath, []string{spec, spec})
	if !errors.Is(err, vframe.ErrInvalidArgument) || !strings.Contains(err.Error(), "NUL") || len(images) != 2 ||
		images[0] != nil || images[1] != nil || !errors.Is(errs[0], vframe.ErrInvalidArgument) ||
		!errors.Is(errs[1], vframe.ErrInvalidArgument) {
		t.Errorf("ExtractMany with a NUL in the path: %v, %v, %d images", err, errs, len(images))
	}
	specs := []string{nulSpec, spec, "vframe/png/offset/0.2/w/\x0010", "vframe/jpg/offset/0.9"}
	images, errs, err = vframe.ExtractMany(path, specs)
	if !errors.Is(err, vframe.ErrInvalidArgument) || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("ExtractMany's first error is %v, want the NUL in specs[0]", err)
	}
	for i, spec := range specs {
		if strings.Contains(spec, "\x00") {
			if images[i] != nil || !errors.Is(errs[i], vframe.ErrInvalidArgument) {
				t.Errorf("specs[%d] %q: %v, %d bytes", i, spec, errs[i], len(images[i]))
			}
			continue
		}
		single, serr := vframe.Extract(path, spec)
		if errs[i] != nil || serr != nil || !bytes.Equal(images[i], single) {
			t.Errorf("specs[%d] %q: batch %v, single %v, or the images differ", i, spec, errs[i], serr)
		}
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
	for s := vframe.StatusOK; s <= vframe.StatusBusy; s++ {
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

// The shared pool lets in PoolRoom() jobs at once. Here every place is taken by a job
// reading a named pipe nobody writes (it stays in the library until cancelled): a further
// call with a context waits in Go, submitting (and copying) nothing, until its context is
// done (then ctx.Err()) or a place frees up (then its image).
func TestCallsBeyondThePoolsRoomWaitAndHonourTheirContext(t *testing.T) {
	waitForNoJobsInFlight(t)
	room := vframe.PoolRoom()
	fifo := filepath.Join(t.TempDir(), "stall.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no named pipes here:", err)
	}
	hold, release := context.WithCancel(context.Background())
	defer release()
	var holders sync.WaitGroup
	for i := 0; i < room; i++ {
		holders.Add(1)
		go func() {
			defer holders.Done()
			if _, err := vframe.ExtractContext(hold, fifo, "vframe/jpg/offset/1"); err != context.Canceled {
				t.Errorf("a stalled call: want context.Canceled, got %v", err)
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); vframe.JobsInFlight() < int64(room); {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d stalled jobs submitted", vframe.JobsInFlight(), room)
		}
		time.Sleep(time.Millisecond)
	}
	video := read(t, fixture("tiny_h264.mp4"))
	spec := "vframe/png/offset/0.5/w/32"

	// Cancelled while waiting.
	waiting, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := vframe.ExtractBytesContext(waiting, video, spec)
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("returned while the pool is full: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if n := vframe.JobsInFlight(); n != int64(room) {
		t.Fatalf("%d jobs in the pool while a call waits, want %d: the waiting call submitted", n, room)
	}
	stop()
	select {
	case err := <-errc:
		if err != context.Canceled {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call whose context was cancelled kept waiting for room")
	}

	// A deadline that passes while waiting.
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if _, err := vframe.ExtractContext(short, fixture("tiny_h264.mp4"), spec); err != context.DeadlineExceeded {
		t.Fatalf("want context.DeadlineExceeded, got %v", err)
	}
	if n := vframe.JobsInFlight(); n != int64(room) {
		t.Fatalf("%d jobs in the pool after the waits gave up, want %d", n, room)
	}

	// A call that may wait gets the first place to free up.
	patient, cancelPatient := context.WithCancel(context.Background())
	defer cancelPatient()
	type outcome struct {
		data []byte
		err  error
	}
	got := make(chan outcome, 1)
	go func() {
		data, err := vframe.ExtractBytesContext(patient, video, spec)
		got <- outcome{data, err}
	}()
	release() // the stalled jobs are cancelled and give their places back
	holders.Wait()
	select {
	case o := <-got:
		if o.err != nil {
			t.Fatalf("the waiting call: %v", o.err)
		}
		decode(t, o.data, "png", 32, 24)
	case <-time.After(60 * time.Second):
		t.Fatal("the waiting call never got a place")
	}
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
	// Each spec's expected outcome: an image of this format and size (the video is 320x240),
	// or, for the bad spec, an invalid spec from both calls. Two failures do not agree.
	specs := []struct {
		spec, format string
		w, h         int
	}{
		{"vframe/png/offset/7.01", "png", 320, 240},
		{"vframe/jpg/offset/2/w/160", "jpeg", 160, 120},
		{"vframe/bad", "", 0, 0},
		{"vframe/png/offset/60", "png", 320, 240}, // past the end: the last frame
	}
	var list []string
	for _, s := range specs {
		list = append(list, s.spec)
	}
	images, errs, err := vframe.ExtractMany(fixture("bframes_gop250.mp4"), list)
	if !errors.Is(err, vframe.ErrInvalidSpec) {
		t.Fatalf("first error %v, want an invalid spec", err)
	}
	for i, s := range specs {
		single, serr := vframe.Extract(fixture("bframes_gop250.mp4"), s.spec)
		if s.format == "" {
			if !errors.Is(errs[i], vframe.ErrInvalidSpec) || !errors.Is(serr, vframe.ErrInvalidSpec) || images[i] != nil {
				t.Errorf("%s: want an invalid spec from both, got batch %v, single %v", s.spec, errs[i], serr)
			}
			continue
		}
		if errs[i] != nil || serr != nil {
			t.Fatalf("%s: want an image, got batch error %v, single error %v", s.spec, errs[i], serr)
		}
		decode(t, images[i], s.format, s.w, s.h)
		if !bytes.Equal(single, images[i]) {
			t.Errorf("%s: batch and single images differ", s.spec)
		}
	}
}

func TestExtractManyArgumentsThatStopTheCallFailEverySpec(t *testing.T) {
	specs := []string{"vframe/jpg/offset/1", "vframe/bad", "vframe/png/offset/2"}
	cases := []struct {
		name string
		opts *vframe.Options
		path string
		want vframe.Status
	}{
		{"empty path", nil, "", vframe.ErrInvalidArgument},
		{"negative threads", &vframe.Options{Threads: -1}, fixture("tiny_h264.mp4"), vframe.ErrInvalidArgument},
		{"absurd threads", &vframe.Options{Threads: 5000}, fixture("tiny_h264.mp4"), vframe.ErrInvalidArgument},
	}
	for _, c := range cases {
		images, errs, err := c.opts.ExtractMany(c.path, specs)
		if !errors.Is(err, c.want) || len(images) != len(specs) || len(errs) != len(specs) {
			t.Fatalf("%s: %v, %d images, %d errors", c.name, err, len(images), len(errs))
		}
		for i := range specs {
			if images[i] != nil || !errors.Is(errs[i], c.want) {
				t.Errorf("%s: specs[%d]: %v, %d bytes; want %v", c.name, i, errs[i], len(images[i]), c.want)
			}
		}
	}
	// An input that cannot be opened fails every spec but the malformed one.
	_, errs, err := vframe.ExtractMany("/nonexistent/movie.mp4", specs)
	if !errors.Is(err, vframe.ErrCannotOpen) || !errors.Is(errs[0], vframe.ErrCannotOpen) ||
		!errors.Is(errs[1], vframe.ErrInvalidSpec) || !errors.Is(errs[2], vframe.ErrCannotOpen) {
		t.Errorf("missing file: %v, %v", err, errs)
	}
	// Each error names its own problem, not only the first.
	for i, mention := range []string{"/nonexistent/movie.mp4", "bad", "/nonexistent/movie.mp4"} {
		if !strings.Contains(errs[i].Error(), mention) {
			t.Errorf("missing file: errs[%d] = %q, want it to mention %q", i, errs[i], mention)
		}
		readsOnce(t, errs[i])
	}
}

func TestExtractManyGivesEachFailingSpecItsOwnMessage(t *testing.T) {
	path := fixture("bframes_gop250.mp4")
	specs := []string{"vframe/jpg/offset/1", "vframe/gif/offset/1", "vframe/png/offset/soon", "vframe/png/offset/2"}
	images, errs, err := vframe.ExtractMany(path, specs)
	if err != errs[1] || images[0] == nil || images[3] == nil {
		t.Fatalf("err %v, errs %v", err, errs)
	}
	for i, mention := range map[int]string{1: "gif", 2: "soon"} {
		_, single := vframe.Extract(path, specs[i])
		if !errors.Is(errs[i], vframe.ErrInvalidSpec) || !strings.Contains(errs[i].Error(), mention) ||
			single == nil || errs[i].Error() != single.Error() {
			t.Errorf("errs[%d] = %q, want %q (a single call's), mentioning %q", i, errs[i], single, mention)
		}
	}
}
