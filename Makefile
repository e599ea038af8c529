# vframe — `make demo` makes a thumbnail, `make test` runs every test. Both set up a fresh
# Debian machine first (`make deps`).

CARGO   ?= cargo
PREFIX  ?= /usr/local
RELEASE := target/release
LIB     := $(RELEASE)/libvframe.so
CLI     := $(RELEASE)/vframe
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all build header deps test test-rust test-header test-c install uninstall test-go test-python demo bench clean
.PHONY: test-hostile fuzz server serve test-server

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
	$(MAKE) test-rust test-header test-c test-go test-python test-hostile test-server

test-rust:
	$(CARGO) test --release --locked

test-header:
	./scripts/check-header.sh

# Good and hostile inputs (tiny fixtures truncated and damaged, corrupt media, playlists,
# garbage, limits) under valgrind: fails on any memory error or leak (~1 min).
test-hostile:
	./scripts/hostile-valgrind.sh

# cargo-fuzz targets (nightly) for the spec parser and extract-from-memory, FUZZ_SECONDS
# each (default 60); findings land in fuzz/artifacts/. Not part of `make test`.
FUZZ_SECONDS ?= 60
fuzz:
	./fuzz/run.sh $(FUZZ_SECONDS)

test-c: build
	$(MAKE) -C tests/c

# Go binding: vet, then the tests under the race detector (cgo against target/release).
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
test-go: build
	cd bindings/go && $(GO) vet ./... && $(GO) test -race -count=1 ./...

# Python binding: a venv (target/py-venv) with pytest, the Qiniu SDK and the package itself
# from PyPI/pip, then its tests against the library just built.
PY_VENV := target/py-venv
test-python: build
	python3 -c 'import ensurepip, venv' 2>/dev/null || ./scripts/deps.sh python3-venv
	[ -x $(PY_VENV)/bin/python ] || python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check './bindings/python[test]'
	./scripts/fixtures.sh >/dev/null
	VFRAME_LIBRARY=$(abspath $(LIB)) $(PY_VENV)/bin/python -m pytest -q bindings/python/tests

# vframe-server (server/): Qiniu's HTTP protocol over the engine. `make serve` starts it on
# SERVE_LISTEN (127.0.0.1:8080) with its data in SERVE_DATA (target/serve-data), using
# VFRAME_ACCESS_KEY/VFRAME_SECRET_KEY, or printed demo credentials when they are unset.
SERVER       := $(RELEASE)/vframe-server
SERVER_VENV  := target/server-venv
SERVE_LISTEN ?= 127.0.0.1:8080
SERVE_DATA   ?= target/serve-data
server:
	$(CARGO) build --release --locked -p vframe-server

serve: deps server
	SERVE_LISTEN='$(SERVE_LISTEN)' SERVE_DATA='$(SERVE_DATA)' ./scripts/serve.sh

# The server's checks (~2 min): rustfmt and clippy on the crate, its unit tests (signatures,
# tokens, etag checked against vectors the real qiniu SDK computes now), ruff and mypy on the
# Python side, then pytest driving the real server binary with the qiniu SDK (server/tests).
test-server: build server
	python3 -c 'import ensurepip, venv' 2>/dev/null || ./scripts/deps.sh python3-venv
	[ -x $(SERVER_VENV)/bin/python ] || python3 -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r server/tests/requirements.txt
	$(CARGO) fmt -p vframe-server --check
	$(CARGO) clippy --release --locked -p vframe-server --all-targets -- -D warnings
	$(SERVER_VENV)/bin/python server/tests/vectors.py > target/qiniu-vectors.json
	VFRAME_QINIU_VECTORS=$(abspath target/qiniu-vectors.json) $(CARGO) test --release --locked -p vframe-server
	cd server/tests && ../../$(SERVER_VENV)/bin/ruff check --config ruff.toml . && \
	    ../../$(SERVER_VENV)/bin/ruff format --config ruff.toml --check . && \
	    ../../$(SERVER_VENV)/bin/mypy --config-file mypy.ini .
	$(SERVER_VENV)/bin/python -m pytest -q -p no:cacheprovider server/tests

# `make install PREFIX=/opt/vframe DESTDIR=...`: the shared and static library, the header
# and a pkg-config file (then `cc app.c $$(pkg-config --cflags --libs vframe)`).
VERSION    := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
install: build
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/libvframe.so
	install -m 644 $(RELEASE)/libvframe.a $(DESTDIR)$(LIBDIR)/libvframe.a
	install -m 644 include/vframe.h $(DESTDIR)$(INCLUDEDIR)/vframe.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' vframe.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/vframe.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libvframe.so $(DESTDIR)$(LIBDIR)/libvframe.a \
	    $(DESTDIR)$(INCLUDEDIR)/vframe.h $(DESTDIR)$(LIBDIR)/pkgconfig/vframe.pc

clean:
	$(CARGO) clean
