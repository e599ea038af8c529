package vframe_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"vframe"
)

func TestSampleFramesEqualSingleCalls(t *testing.T) {
	path := fixture("bframes_gop250.mp4")
	frames, err := vframe.Sample(path, "vsample/jpg/interval/1.5/s/160x/pattern/dmZyYW1lLSQoY291bnQp")
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 7 {
		t.Fatalf("%d frames of a 10 s video every 1.5 s", len(frames))
	}
	for i, f := range frames {
		if f.OffsetMs != uint64(i)*1500 || f.Index != i || f.Key != fmt.Sprintf("vframe-%06d", i+1) {
			t.Errorf("frame %d: %+v", i, f)
		}
		single, err := vframe.Extract(path, fmt.Sprintf("vframe/jpg/offset/%.3f/w/160", float64(f.OffsetMs)/1000))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(single, f.Image) {
			t.Errorf("frame %d at %d ms differs from a single call", i, f.OffsetMs)
		}
	}
}

func TestSampleEachStreamsAndStops(t *testing.T) {
	var seen []vframe.Frame
	err := vframe.SampleEach(fixture("gop25_25fps.mp4"), "vsample/png/frames/3/mode/fast", func(f vframe.Frame) error {
		seen = append(seen, f)
		return nil
	})
	if err != nil || len(seen) != 3 || seen[2].OffsetMs != 4000 {
		t.Fatalf("err %v, %d frames", err, len(seen))
	}
	stop := errors.New("enough")
	calls := 0
	err = vframe.SampleEach(fixture("gop25_25fps.mp4"), "vsample/png/interval/1", func(vframe.Frame) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	_, err = vframe.Sample(fixture("gop25_25fps.mp4"), "vsample/jpg/frames/0")
	if !errors.Is(err, vframe.ErrInvalidSpec) || !strings.Contains(err.Error(), "frames '0'") {
		t.Fatalf("bad spec: %v", err)
	}
}

func TestStoryboard(t *testing.T) {
	board, err := vframe.Storyboard(fixture("gop25_25fps.mp4"), "storyboard/png/interval/1/s/80x60/columns/2/rows/2")
	if err != nil {
		t.Fatal(err)
	}
	if len(board.Sheets) != 2 || board.Sheets[0].Name != "storyboard-000001.png" || board.Sheets[1].TileCount != 2 {
		t.Fatalf("sheets: %+v", board.Sheets)
	}
	decode(t, board.Sheets[0].Image, "png", 160, 120)
	decode(t, board.Sheets[1].Image, "png", 160, 60)
	if !strings.HasPrefix(board.VTT, "WEBVTT\n") || strings.Count(board.VTT, "#xywh=") != 6 {
		t.Fatalf("vtt: %q", board.VTT)
	}
	var index struct {
		TileWidth int `json:"tile_width"`
		Tiles     []struct {
			Sheet int     `json:"sheet"`
			Start float64 `json:"start"`
		} `json:"tiles"`
	}
	if err := json.Unmarshal([]byte(board.JSON), &index); err != nil || index.TileWidth != 80 || len(index.Tiles) != 6 || index.Tiles[5].Start != 5 {
		t.Fatalf("json %v: %s", err, board.JSON)
	}
	_, err = vframe.Storyboard(fixture("audio_only.m4a"), "storyboard/jpg")
	if !errors.Is(err, vframe.ErrNoVideoStream) {
		t.Fatalf("audio: %v", err)
	}
}

// openFDs is the number of open file descriptors of the process.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open descriptors: %v", err)
	}
	return len(entries)
}

// A panic in the callback must not unwind through the library's frames (Go would skip their
// cleanup: one descriptor and megabytes per call leaked): the sample stops, the library
// returns and frees everything, then the panic reaches the caller with its value.
func TestSampleEachPanicReachesTheCallerAfterCleanup(t *testing.T) {
	path := fixture("gop25_25fps.mp4")
	calls := 0
	sample := func() (value any) {
		defer func() { value = recover() }()
		err := vframe.SampleEach(path, "vsample/jpg/interval/1", func(vframe.Frame) error {
			calls++
			panic("callback bug")
		})
		t.Errorf("SampleEach returned %v instead of panicking", err)
		return nil
	}
	sample() // the first call may open descriptors that stay (the library's own)
	before := openFDs(t)
	for i := 0; i < 50; i++ {
		if value := sample(); value != "callback bug" {
			t.Fatalf("call %d: recovered %#v, want the callback's panic value", i, value)
		}
	}
	if after := openFDs(t); after > before+5 {
		t.Fatalf("open descriptors %d -> %d over 50 panicking callbacks", before, after)
	}
	if calls != 51 {
		t.Fatalf("the callback ran %d times over 51 samples: a panic must stop the sample", calls)
	}
}

// runtime.Goexit in the callback (what t.FailNow does) stops the sample, and then ends the
// calling goroutine (its deferred calls run), without leaking the library's resources.
func TestSampleEachGoexitStopsTheSampleThenTheGoroutine(t *testing.T) {
	path := fixture("gop25_25fps.mp4")
	exit := func() (wentOn bool, calls int) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			vframe.SampleEach(path, "vsample/jpg/interval/1", func(vframe.Frame) error {
				calls++
				runtime.Goexit()
				return nil
			})
			wentOn = true
		}()
		<-done
		return wentOn, calls
	}
	exit()
	before := openFDs(t)
	for i := 0; i < 50; i++ {
		if wentOn, calls := exit(); wentOn || calls != 1 {
			t.Fatalf("call %d: the goroutine went on after Goexit: %v, callback calls %d", i, wentOn, calls)
		}
	}
	if after := openFDs(t); after > before+5 {
		t.Fatalf("open descriptors %d -> %d over 50 callbacks calling runtime.Goexit", before, after)
	}
	// A sample afterwards works.
	frames, err := vframe.Sample(path, "vsample/jpg/frames/2/mode/fast")
	if err != nil || len(frames) != 2 {
		t.Fatalf("a later Sample: %d frames, %v", len(frames), err)
	}
}
