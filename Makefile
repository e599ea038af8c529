# vframe — `make demo` makes a thumbnail, `make test` runs every test. Both set up a fresh
# Debian machine first (`make deps`).

CARGO   ?= cargo
PREFIX  ?= /usr/local
RELEASE := target/release
LIB     := $(RELEASE)/libvframe.so
CLI     := $(RELEASE)/vframe
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all build header deps test test-rust test-header test-c demo bench clean

all: build

deps:
	./scripts/deps.sh

build:
	$(CARGO) build --release --locked

# Regenerates the committed C header from src/capi (never edit it by hand).
header:
	cbindgen --quiet --config cbindgen.toml --output include/vframe.h

demo: deps build
	SPEC='$(SPEC)' ./scripts/demo.sh $(VIDEO)

# vframe vs ffmpeg CLI, PyAV, ffmpegthumbnailer (~5 min): writes BENCHMARKS.md and
# bench/chart.png. `make bench REPS=9` for more repetitions.
bench: deps build
	REPS='$(REPS)' ./bench/run.sh

test: deps build
	$(MAKE) test-rust test-header test-c

test-rust:
	$(CARGO) test --release --locked

test-header:
	./scripts/check-header.sh

test-c: build
	$(MAKE) -C tests/c

clean:
	$(CARGO) clean
