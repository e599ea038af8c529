package vframe_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"vframe"
)

// Offsets that make one source decode on, seek back, repeat and go past the end.
var sourceSpecs = []string{
	"vframe/png/offset/2",
	"vframe/png/offset/2.01",
	"vframe/jpg/offset/7/w/160",
	"vframe/png/offset/60",
	"vframe/png/offset/0",
	"vframe/jpg/offset/7.01/h/90/rotate/90",
	"vframe/png/offset/2",
}

func freshImages(t *testing.T, path string) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	for _, spec := range sourceSpecs {
		image, err := vframe.Extract(path, spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		want[spec] = image
	}
	return want
}

func TestSourceGivesWhatFreshCallsGive(t *testing.T) {
	path := fixture("bframes_gop250.mp4")
	want := freshImages(t, path)
	src, err := vframe.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, spec := range sourceSpecs {
		image, err := src.Extract(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if !bytes.Equal(image, want[spec]) {
			t.Errorf("%s: the source's image differs from a fresh call's", spec)
		}
	}
	// A bad spec fails alone.
	if _, err := src.Extract("vframe/jpg/offset/x"); !errors.Is(err, vframe.ErrInvalidSpec) {
		t.Errorf("bad spec: %v", err)
	}
	if image, err := src.Extract(sourceSpecs[0]); err != nil || !bytes.Equal(image, want[sourceSpecs[0]]) {
		t.Errorf("after a failure: %v", err)
	}
}

func TestSourceFromBytesCopiesThem(t *testing.T) {
	path := fixture("bframes_gop250.mp4")
	want := freshImages(t, path)
	data := read(t, path)
	src, err := (&vframe.Options{Threads: 1}).OpenBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i := range data {
		data[i] = 0 // the source has its own copy
	}
	for i := len(sourceSpecs) - 1; i >= 0; i-- {
		spec := sourceSpecs[i]
		if image, err := src.Extract(spec); err != nil || !bytes.Equal(image, want[spec]) {
			t.Errorf("%s: %v", spec, err)
		}
	}
}

func TestSourceOpenFailuresAndClose(t *testing.T) {
	if _, err := vframe.Open(fixture("audio_only.m4a")); !errors.Is(err, vframe.ErrNoVideoStream) {
		t.Errorf("audio: %v", err)
	}
	if _, err := vframe.OpenBytes([]byte("not a video at all")); !errors.Is(err, vframe.ErrCannotOpen) {
		t.Errorf("garbage: %v", err)
	}
	if _, err := vframe.OpenBytes(nil); !errors.Is(err, vframe.ErrCannotOpen) {
		t.Errorf("empty: %v", err)
	}
	if _, err := (&vframe.Options{Threads: -1}).Open(fixture("gop25_25fps.mp4")); !errors.Is(err, vframe.ErrInvalidArgument) {
		t.Errorf("bad options: %v", err)
	}
	src, err := vframe.Open(fixture("gop25_25fps.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal("closing twice:", err)
	}
	if _, err := src.Extract("vframe/jpg/offset/1"); !errors.Is(err, vframe.ErrInvalidArgument) {
		t.Errorf("after close: %v", err)
	}
}

func TestGoroutinesShareOneSource(t *testing.T) {
	path := fixture("bframes_gop250.mp4")
	want := freshImages(t, path)
	src, err := vframe.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(first int) {
			defer wg.Done()
			for k := range sourceSpecs {
				spec := sourceSpecs[(first+k)%len(sourceSpecs)]
				image, err := src.Extract(spec)
				if err != nil || !bytes.Equal(image, want[spec]) {
					t.Errorf("goroutine %d %s: %v", first, spec, err)
				}
			}
		}(g * 2)
	}
	wg.Wait()
	// Close waits for calls in flight; here none are left.
	src.Close()
}

// The source, sample and storyboard calls refuse a NUL byte as the others do, instead of
// letting C cut the string there ("a.mp4\x00.txt" would open a.mp4; ".../offset/1\x00/w/10"
// would give another thumbnail).
func TestSourceAndFramesRefuseNULBytes(t *testing.T) {
	path := fixture("gop25_25fps.mp4")
	nulPath := path + "\x00.txt"
	src, err := vframe.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	calls := map[string]func() error{
		"Open path": func() error {
			s, err := vframe.Open(nulPath)
			if s != nil {
				s.Close()
			}
			return err
		},
		"Source.Extract spec": func() error { _, err := src.Extract("vframe/jpg/offset/1\x00/w/10"); return err },
		"Sample path":         func() error { _, err := vframe.Sample(nulPath, "vsample/jpg/interval/3"); return err },
		"Sample spec":         func() error { _, err := vframe.Sample(path, "vsample/jpg/interval/3\x00/s/8x"); return err },
		"SampleEach path": func() error {
			return vframe.SampleEach(nulPath, "vsample/jpg/interval/3", func(vframe.Frame) error { return nil })
		},
		"SampleEach spec": func() error {
			return vframe.SampleEach(path, "vsample/jpg\x00/interval/3", func(vframe.Frame) error { return nil })
		},
		"Storyboard path": func() error { _, err := vframe.Storyboard(nulPath, "storyboard/jpg/interval/3"); return err },
		"Storyboard spec": func() error { _, err := vframe.Storyboard(path, "storyboard/jpg/interval/3\x00/s/8x"); return err },
	}
	for name, call := range calls {
		err := call()
		var verr *vframe.Error
		if !errors.Is(err, vframe.ErrInvalidArgument) || !errors.As(err, &verr) || !strings.Contains(verr.Message, "NUL") {
			t.Errorf("%s: want an ErrInvalidArgument *Error about the NUL byte, got %v", name, err)
		}
	}
}
