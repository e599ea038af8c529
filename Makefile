# vframe — `make demo` makes a thumbnail, `make test` runs every test. Both set up a fresh
# Debian machine first (`make deps`).

CARGO   ?= cargo
PREFIX  ?= /usr/local
RELEASE := target/release
LIB     := $(RELEASE)/libvframe.so
CLI     := $(RELEASE)/vframe
VERSION   := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all build header deps test test-rust test-header test-c install uninstall test-go test-python demo bench clean
.PHONY: test-hostile fuzz lint-rust test-doc test-ffmpeg7 server serve test-server
.PHONY: test-ray bench-ray ray-venv

all: build

deps:
	./scripts/deps.sh

# The library's SONAME is libvframe.so.$(SOVERSION) (build.rs): programs linked against
# target/release find it there through this link.
build:
	$(CARGO) build --release --locked
	ln -sfn libvframe.so $(RELEASE)/libvframe.so.$(SOVERSION)

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
bench-ray: deps ray-venv
	REPS='$(REPS)' ./bench/ray.sh

test: deps build
	@rm -f target/media-skips.log
	$(MAKE) test-rust test-doc test-header test-c test-go test-python test-ray test-hostile test-server
	@if [ -s target/media-skips.log ]; then \
	    echo "== SKIPPED for want of ../shared/media (set VFRAME_MEDIA; under CI=true these fail):"; \
	    sort -u target/media-skips.log; \
	fi

# Style gates first (rustfmt, clippy with warnings as errors), then every Rust test.
test-rust: lint-rust
	$(CARGO) test --release --locked

lint-rust:
	$(CARGO) fmt --check
	cd bench && $(CARGO) fmt --check
	cd fuzz && $(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

# The API documentation builds without a warning (broken links included). --release reuses
# the release build's FFmpeg bindings instead of generating them again for the dev profile.
test-doc:
	RUSTDOCFLAGS='-D warnings' $(CARGO) doc --release --no-deps --locked

# The Rust tests against FFmpeg 7.1, in a Debian 13 chroot that scripts/ffmpeg7.sh makes with
# debootstrap on first use (needs root; ~2 min and ~2 GB in target/ffmpeg7), then 6-19 min a
# run on 2 shared cores, mostly the corpus. Not part of `make test`.
test-ffmpeg7:
	./scripts/ffmpeg7.sh

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

# Go binding: gofmt (any file it would change fails the run), vet, then the tests under the
# race detector, against this checkout (-tags vframe_checkout; `go test` without a package list
# shows the tests' own output, such as which tests skipped for want of the shared media
# folder); then the default build as a user gets it: `make install` into a temporary prefix and
# a fresh module outside the repository that `go get`s the package and builds it through
# pkg-config (scripts/go-install-test.sh).
GO    ?= $(shell command -v go || echo /usr/local/go/bin/go)
GOFMT ?= $(shell command -v gofmt || echo /usr/local/go/bin/gofmt)
test-go: build
	@unformatted=$$(cd bindings/go && $(GOFMT) -l .) && [ -z "$$unformatted" ] || \
	    { echo "gofmt: run 'gofmt -w' on bindings/go: $$unformatted" >&2; exit 1; }
	cd bindings/go && $(GO) vet -tags vframe_checkout ./... && $(GO) test -tags vframe_checkout -race -count=1
	GO=$(GO) ./scripts/go-install-test.sh

# Python binding, as users install it: pip builds the wheel (bindings/python/setup.py runs
# cargo, a no-op after `build`, and puts libvframe.so in the package), auditwheel lists what it
# links, the wheel goes into a venv (target/py-venv) with its `test` extra (pytest, the Qiniu
# SDK, the pinned linters); then the lint gates (ruff check, ruff format --check, mypy --strict,
# configured in bindings/python/pyproject.toml; their caches in target/) and the tests against
# the installed package, from outside the source tree, with no VFRAME_LIBRARY (-rs: every skip
# prints its reason).
PY_VENV := target/py-venv
PY_DIST := target/py-dist
PIP     := $(PY_VENV)/bin/python -m pip --quiet --disable-pip-version-check
test-python: build
	python3 -c 'import ensurepip, venv' 2>/dev/null || ./scripts/deps.sh python3-venv
	[ -x $(PY_VENV)/bin/python ] || python3 -m venv $(PY_VENV)
	rm -rf $(PY_DIST)
	$(PIP) wheel --no-deps --wheel-dir $(PY_DIST) ./bindings/python
	$(PIP) install auditwheel
	$(PY_VENV)/bin/auditwheel show $(PY_DIST)/vframe-*.whl >$(PY_DIST)/auditwheel.txt
	grep -q 'libavcodec\.so' $(PY_DIST)/auditwheel.txt
	$(PIP) install --force-reinstall --no-deps $(PY_DIST)/vframe-*.whl
	$(PIP) install "$$(ls $(PY_DIST)/vframe-*.whl)[test]"
	cd bindings/python && py=$(abspath $(PY_VENV))/bin/python && export RUFF_CACHE_DIR=$(abspath target/ruff-cache) \
	    MYPY_CACHE_DIR=$(abspath target/mypy-cache) && $$py -m ruff check . && $$py -m ruff format --check . && \
	    $$py -m mypy --strict
	./scripts/fixtures.sh >/dev/null
	cd $(PY_DIST) && env -u VFRAME_LIBRARY VFRAME_TEST_INSTALLED=1 \
	    $(abspath $(PY_VENV))/bin/python -m pytest -q -rs -p no:cacheprovider $(abspath bindings/python/tests)

# vframe.ray (Ray Data), as users get it: the wheel (built as test-python builds it) goes into a
# venv of its own, target/ray-venv (Ray and its dependencies are ~600 MB, too heavy for
# target/py-venv), with its `ray` extra, `pip install "vframe-*.whl[ray]"`, held to the pinned
# versions of bindings/python/tests_ray/requirements.txt (which adds pytest and the linters).
# Then the venv is byte-compiled on both cores (pip would do it on one): Ray starts many Python
# processes, each of which would otherwise compile what it imports again wherever bytecode is
# not written at import (PYTHONDONTWRITEBYTECODE=1). pip's downloads are cached in target/.
# `make bench-ray` uses the same venv.
RAY_VENV := target/ray-venv
RAY_DIST := target/ray-dist
RAY_PIP  := $(RAY_VENV)/bin/python -m pip --quiet --disable-pip-version-check --cache-dir $(abspath target/pip-cache)
ray-venv: build
	python3 -c 'import ensurepip, venv' 2>/dev/null || ./scripts/deps.sh python3-venv
	[ -x $(RAY_VENV)/bin/python ] || python3 -m venv $(RAY_VENV)
	rm -rf $(RAY_DIST)
	$(RAY_PIP) wheel --no-deps --wheel-dir $(RAY_DIST) ./bindings/python
	$(RAY_PIP) install --no-compile --force-reinstall --no-deps $(RAY_DIST)/vframe-*.whl
	$(RAY_PIP) install --no-compile -r bindings/python/tests_ray/requirements.txt "$$(ls $(RAY_DIST)/vframe-*.whl)[ray]"
	$(RAY_VENV)/bin/python -m compileall -q -j 0 $(RAY_VENV)/lib >/dev/null

# The lint gates on vframe.ray and its tests (ruff check, ruff format --check, mypy --strict
# with Ray's types), then pytest against the installed package, from outside the source tree,
# on a local Ray cluster of 2 CPUs that the tests start (bindings/python/tests_ray).
test-ray: ray-venv
	cd bindings/python && py=$(abspath $(RAY_VENV))/bin/python && export RUFF_CACHE_DIR=$(abspath target/ruff-cache) \
	    MYPY_CACHE_DIR=$(abspath target/mypy-cache-ray) && $$py -m ruff check src/vframe/ray tests_ray && \
	    $$py -m ruff format --check src/vframe/ray tests_ray && \
	    $$py -m mypy --strict --follow-imports=silent src/vframe/ray tests_ray
	./scripts/fixtures.sh >/dev/null
	cd $(RAY_DIST) && env -u VFRAME_LIBRARY $(abspath $(RAY_VENV))/bin/python -m pytest -q -rs -p no:cacheprovider \
	    -p no:logging $(abspath bindings/python/tests_ray)

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

# `make install PREFIX=/opt/vframe DESTDIR=...`: the shared library (libvframe.so.$(VERSION),
# with the libvframe.so.$(SOVERSION) and libvframe.so links), the static library, the header
# and a pkg-config file (then `cc app.c $$(pkg-config --cflags --libs vframe)`). Run ldconfig
# after installing into a system prefix.
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
install: build
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/libvframe.so.$(VERSION)
	ln -sfn libvframe.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libvframe.so.$(SOVERSION)
	ln -sfn libvframe.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libvframe.so
	install -m 644 $(RELEASE)/libvframe.a $(DESTDIR)$(LIBDIR)/libvframe.a
	install -m 644 include/vframe.h $(DESTDIR)$(INCLUDEDIR)/vframe.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' vframe.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/vframe.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libvframe.so $(DESTDIR)$(LIBDIR)/libvframe.so.$(SOVERSION) \
	    $(DESTDIR)$(LIBDIR)/libvframe.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libvframe.a \
	    $(DESTDIR)$(INCLUDEDIR)/vframe.h $(DESTDIR)$(LIBDIR)/pkgconfig/vframe.pc

clean:
	$(CARGO) clean
