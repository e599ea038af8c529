# vframe — `make demo` makes a thumbnail, `make test` runs every test. Both set up a fresh
# Debian machine first (`make deps`).

CARGO   ?= cargo
PREFIX  ?= /usr/local
RELEASE := target/release
LIB     := $(RELEASE)/libvframe.so
CLI     := $(RELEASE)/vframe
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all build header deps test test-rust test-header test-c install uninstall test-go test-python demo bench clean
.PHONY: test-hostile fuzz
.PHONY: test-ray bench-ray

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

# The Ray section of the bench alone (vframe.ray vs a concurrent.futures loop, ~3 min).
bench-ray: deps build
	REPS='$(REPS)' ./bench/ray.sh

test: deps build
	$(MAKE) test-rust test-header test-c test-go test-python test-ray test-hostile

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

# vframe.ray (Ray Data): its own venv (target/ray-venv: Ray is ~600 MB and ~1 min to install,
# too heavy for target/py-venv) with the package's ray extra and the pinned versions of
# bindings/python/tests_ray/requirements.txt; the lint gates on vframe.ray and its tests
# (ruff check, ruff format --check, mypy --strict with Ray's types); then the tests, which
# start a local Ray cluster of 2 CPUs (~2-3 min on 2 cores).
RAY_VENV := target/ray-venv
test-ray: build
	python3 -c 'import ensurepip, venv' 2>/dev/null || ./scripts/deps.sh python3-venv
	[ -x $(RAY_VENV)/bin/python ] || python3 -m venv $(RAY_VENV)
	$(RAY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	    -r bindings/python/tests_ray/requirements.txt './bindings/python[ray]'
	cd bindings/python && py=$(abspath $(RAY_VENV))/bin/python && export RUFF_CACHE_DIR=$(abspath target/ruff-cache) \
	    MYPY_CACHE_DIR=$(abspath target/mypy-cache-ray) && $$py -m ruff check src/vframe/ray tests_ray && \
	    $$py -m ruff format --check src/vframe/ray tests_ray && \
	    $$py -m mypy --strict --follow-imports=silent src/vframe/ray tests_ray
	./scripts/fixtures.sh >/dev/null
	VFRAME_LIBRARY=$(abspath $(LIB)) $(RAY_VENV)/bin/python -m pytest -q -rs -p no:cacheprovider -p no:logging bindings/python/tests_ray

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
