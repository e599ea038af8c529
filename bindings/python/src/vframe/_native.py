"""The native library: where it is found, and the ctypes declaration of every symbol used.

This module owns all of ctypes' view of the C ABI (``include/vframe.h``): the structs, the
function prototypes with their ``argtypes``/``restype``, and the one ``errcheck`` that turns
a failed status into an exception. Nothing else in the package declares a C type.

The library is loaded on first use, from the first of:

1. the file named by the environment variable ``VFRAME_LIBRARY``;
2. ``libvframe.so`` (``.dylib``, ``vframe.dll``) next to this package, where the wheel puts it;
3. ``target/release/`` of the source checkout this package sits in;
4. the system's library path (``ctypes.util.find_library("vframe")``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import itertools
import os
import sys
import threading
import weakref
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Callable, Generic, Sequence, TypeVar

from .errors import error_for_status

#: Bytes given to the library for the message of one failed call.
ERR_BUF_LEN = 4096
#: Bytes given to the library for each spec's message in ``vframe_extract_many_errs``.
SPEC_ERR_LEN = 1024

if sys.platform == "darwin":
    _FILE_NAME = "libvframe.dylib"
elif os.name == "nt":
    _FILE_NAME = "vframe.dll"
else:
    _FILE_NAME = "libvframe.so"


class Image(Structure):
    """``vframe_image``: encoded image bytes owned by the library (freed by ``vframe_image_free``)."""

    _fields_ = [
        ("data", POINTER(c_uint8)),
        ("len", c_size_t),
        ("width", c_uint32),
        ("height", c_uint32),
    ]


class Options(Structure):
    """``vframe_options``: per-call limits (0 in a field means "no limit" or "library default")."""

    _fields_ = [
        ("timeout_ms", c_uint32),
        ("threads", c_uint32),
        ("max_decoded_frames", c_uint64),
        ("max_input_pixels", c_uint64),
    ]


# Whether the cycle collector is running. It clears the weak references of what it is about
# to free before it calls their ``__del__``, and other code (a finaliser, another thread) may
# run in between: an owner whose weak reference is dead is then still to be finalised, and
# its handle is not a dropped one. Sweeps wait for the collection to end.
_collecting = False


def _note_collection(phase: str, info: dict[str, int]) -> None:
    global _collecting
    _collecting = phase == "start"


gc.callbacks.append(_note_collection)


def collecting() -> bool:
    """Whether a garbage collection is in progress (no sweep of dropped handles then)."""
    return _collecting


Handle = TypeVar("Handle")


class Unended(Generic[Handle]):
    """The library's pools, sources and the buffer exports lent to it, each owned by a Python
    object until the owner ends it: listed, serial -> (a weak reference to the owner, the
    handle), from when it is made until it is ended. An exception (Ctrl-C's) can be raised at
    the start of any Python function, ``__del__`` included: what an owner dropped without
    ending stays listed, and :meth:`end_dropped` (run when the next of its kind is made) ends
    it. Not while a garbage collection runs (see ``_collecting``).

    An owner unlists the handle it ended with ``entries.pop(serial, None)`` written out: a C
    call, done once it returns, where the start of a Python method could be interrupted and
    leave the ended handle listed, to be ended a second time once the owner is gone."""

    def __init__(self, end: Callable[[], Callable[[Handle], object]]) -> None:
        # ``end`` gives the C function that ends a handle, looked up before the ``try``: no
        # Python code runs between the ``try`` and the call.
        self._end = end
        self.entries: dict[int, tuple[weakref.ref[Any], Handle]] = {}
        self._serials = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, owner: Any, handle: Handle) -> None:
        """Lists ``handle`` as ``owner``'s and gives ``owner._serial`` its key. The serial is
        the owner's before the entry is made: an exception between the two leaves no entry
        the owner's ``entries.pop`` would miss, to be ended a second time once it is gone."""
        serial = next(self._serials)
        owner._serial = serial
        self.entries[serial] = (weakref.ref(owner), handle)

    def end_dropped(self) -> None:
        """Ends the handles whose owner was dropped without ending them."""
        with self._lock:  # a C lock: its ``with`` cannot be split by an exception
            for serial, (ref, handle) in list(self.entries.items()):
                if ref() is not None or _collecting:
                    continue
                end = self._end()
                try:
                    end(handle)
                finally:
                    self.entries.pop(serial, None)


# Every library pool a PoolPointer holds and has not freed.
unfreed_pools: Unended[int] = Unended(lambda: library().vframe_pool_free)


class PoolPointer(c_void_p):
    """``vframe_pool_new_with``'s result, which owns the pool from the moment the call returns
    (ctypes returns an instance of a subclass of ``c_void_p`` as it is, not as an int): the
    pool is freed by :meth:`free`, or when this is dropped, e.g. with an unclosed
    ``vframe.Pool``, or before any ``vframe.Pool`` took it (an exception such as Ctrl-C's
    raised as the call returned).

    An exception (Ctrl-C's) can be raised between any two calls in Python, and at the start
    of any Python function, ``__del__`` included. So the pointer stays here until
    ``vframe_pool_free`` has returned, with nothing that can raise between the two, and a
    pointer :meth:`track` registered is freed by :func:`free_dropped_pools` if ``__del__``
    could not."""

    _serial = 0  # 0: not tracked

    def track(self) -> None:
        """Lists the pool in ``unfreed_pools`` until :meth:`free` (call once, right after the
        pool was made)."""
        if self.value and not self._serial:
            unfreed_pools.add(self, self.value)

    def free(self) -> None:
        """``vframe_pool_free`` (which cancels the unfinished jobs and waits for them), once.
        Not for two threads at once (``vframe.Pool.close`` serialises its calls)."""
        ptr = self.value
        if not ptr:
            return
        free = library().vframe_pool_free
        try:
            free(ptr)  # ctypes calls it at once: nothing between here and the call can raise
        finally:
            # Reached as the call returns, whatever is raised then: no call before these two.
            self.value = None
            unfreed_pools.entries.pop(self._serial, None)

    def __del__(self) -> None:
        self.free()


def free_dropped_pools() -> None:
    """Frees the pools whose PoolPointer was dropped without freeing them (its ``__del__``
    interrupted). Such a pool has no unfinished job: each holds its ``vframe.Pool``."""
    unfreed_pools.end_dropped()


# vframe_status is a C enum of small non-negative values.
c_status = c_uint32

#: ``vframe_done_fn``: ``void (*)(vframe_status, vframe_image *, const char *err, void *user)``.
DoneFn = CFUNCTYPE(None, c_status, POINTER(Image), c_char_p, c_void_p)

#: ``vframe_release_fn``: ``void (*)(void *release_user)``.
ReleaseFn = CFUNCTYPE(None, c_void_p)


class Job(Structure):
    """``vframe_job``: one extraction for ``vframe_submit_job`` (``size`` set by ``__init__``)."""

    _fields_ = [
        ("size", c_size_t),
        ("input_path", c_char_p),
        ("data", c_void_p),
        ("len", c_size_t),
        ("release", ReleaseFn),
        ("release_user", c_void_p),
        ("spec", c_char_p),
        ("opts", POINTER(Options)),
        ("done", DoneFn),
        ("user", c_void_p),
        ("wait_ms", c_int64),
    ]

    def __init__(self, **fields: Any) -> None:
        super().__init__(size=ctypes.sizeof(Job), **fields)


#: ``vframe_job.wait_ms`` for "as long as it takes".
WAIT_FOREVER = -1


def _raise_on_failure(err_buf_at: int | None) -> Callable[[int, Any, tuple[Any, ...]], int]:
    """An ``errcheck`` raising the status's exception with the message the call wrote into
    its argument number ``err_buf_at`` (the ``err_buf``), or the status's text without one."""

    def errcheck(status: int, func: Any, args: tuple[Any, ...]) -> int:
        if status != 0:
            message = ""
            if err_buf_at is not None and args[err_buf_at] is not None:
                message = args[err_buf_at].value.decode("utf-8", "replace")
            raise error_for_status(status, message or status_text(status))
        return status

    return errcheck


# (name, restype, argtypes, errcheck); the prototypes of include/vframe.h.
_PROTOTYPES: Sequence[tuple[str, Any, list[Any], Any]] = (
    ("vframe_version", c_char_p, [], None),
    ("vframe_status_str", c_char_p, [c_status], None),
    ("vframe_image_free", None, [POINTER(Image)], None),
    ("vframe_options_default", Options, [], None),
    (
        "vframe_extract",
        c_status,
        [c_char_p, c_char_p, POINTER(Image), c_char_p, c_size_t],
        _raise_on_failure(err_buf_at=3),
    ),
    (
        "vframe_extract_opts",
        c_status,
        [c_char_p, c_char_p, POINTER(Options), POINTER(Image), c_char_p, c_size_t],
        _raise_on_failure(err_buf_at=4),
    ),
    (
        "vframe_extract_memory",
        c_status,
        [c_void_p, c_size_t, c_char_p, POINTER(Image), c_char_p, c_size_t],
        _raise_on_failure(err_buf_at=4),
    ),
    (
        "vframe_extract_memory_opts",
        c_status,
        [c_void_p, c_size_t, c_char_p, POINTER(Options), POINTER(Image), c_char_p, c_size_t],
        _raise_on_failure(err_buf_at=5),
    ),
    (
        "vframe_extract_many_errs",
        c_status,
        [
            c_char_p,
            POINTER(c_char_p),
            c_size_t,
            POINTER(Options),
            POINTER(Image),
            POINTER(c_status),
            c_char_p,
            c_size_t,
        ],
        None,  # per-spec statuses and messages: extract_many raises or returns them itself
    ),
    ("vframe_pool_new", c_void_p, [c_uint32], None),
    ("vframe_pool_new_with", PoolPointer, [c_uint32, c_uint32], None),
    (
        "vframe_submit_job",
        c_status,
        [c_void_p, POINTER(Job), POINTER(c_uint64), c_char_p, c_size_t],
        _raise_on_failure(err_buf_at=3),
    ),
    (
        "vframe_submit",
        c_status,
        [c_void_p, c_char_p, c_char_p, POINTER(Options), DoneFn, c_void_p, POINTER(c_uint64), c_char_p, c_size_t],
        _raise_on_failure(err_buf_at=7),
    ),
    (
        "vframe_submit_memory",
        c_status,
        [
            c_void_p,
            c_void_p,
            c_size_t,
            c_char_p,
            POINTER(Options),
            DoneFn,
            c_void_p,
            POINTER(c_uint64),
            c_char_p,
            c_size_t,
        ],
        _raise_on_failure(err_buf_at=8),
    ),
    ("vframe_cancel", c_status, [c_void_p, c_uint64], _raise_on_failure(err_buf_at=None)),
    ("vframe_pool_wait", None, [c_void_p], None),
    ("vframe_pool_close", None, [c_void_p], None),
    ("vframe_pool_free", None, [c_void_p], None),
    (
        "vframe_source_open",
        c_status,
        [c_char_p, POINTER(Options), POINTER(c_void_p), c_char_p, c_size_t],
        _raise_on_failure(err_buf_at=3),
    ),
    (
        "vframe_source_open_memory",
        c_status,
        [c_void_p, c_size_t, POINTER(Options), POINTER(c_void_p), c_char_p, c_size_t],
        _raise_on_failure(err_buf_at=4),
    ),
    (
        "vframe_source_extract",
        c_status,
        [c_void_p, c_char_p, POINTER(Image), c_char_p, c_size_t],
        _raise_on_failure(err_buf_at=3),
    ),
    ("vframe_source_close", None, [c_void_p], None),
)


def _candidates() -> list[tuple[str, Path]]:
    """The files to try before the system search, in order, each with where it is."""
    here = Path(__file__).resolve().parent
    found = [("next to the package", here / _FILE_NAME)]
    # Run from a checkout (an editable install, or PYTHONPATH=bindings/python/src).
    checkout = here.parents[3] if len(here.parents) > 3 else None
    if checkout is not None and here.parents[2] == checkout / "bindings" and here.parent.name == "src":
        found.append(("the source checkout's target/release", checkout / "target" / "release" / _FILE_NAME))
    return found


class _Loaded:
    def __init__(self, lib: ctypes.CDLL, path: str) -> None:
        self.lib = lib
        self.path = path


_loaded: _Loaded | None = None
_load_lock = threading.Lock()


def _load() -> _Loaded:
    # CDLL (not PyDLL): every call releases the GIL while the library works.
    override = os.environ.get("VFRAME_LIBRARY")
    if override:
        try:
            return _Loaded(ctypes.CDLL(override), override)
        except OSError as e:
            raise OSError(f"cannot load the vframe library named by VFRAME_LIBRARY={override!r}: {e}") from e
    tried = []
    for where, path in _candidates():
        tried.append(f"{where} ({path})")
        if path.is_file():
            return _Loaded(ctypes.CDLL(str(path)), str(path))
    name = ctypes.util.find_library("vframe")
    tried.append("the system library path")
    if name is not None:
        return _Loaded(ctypes.CDLL(name), name)
    raise OSError(
        "cannot find the vframe library (libvframe); install the package with pip (which builds it into "
        "the package), or set VFRAME_LIBRARY to its path. Looked in: " + "; ".join(tried)
    )


def _declare(lib: ctypes.CDLL) -> None:
    for name, restype, argtypes, errcheck in _PROTOTYPES:
        func = getattr(lib, name)
        func.restype = restype
        func.argtypes = argtypes
        if errcheck is not None:
            func.errcheck = errcheck


def library() -> ctypes.CDLL:
    """The loaded library, every symbol declared (loaded on first call)."""
    global _loaded
    loaded = _loaded
    if loaded is None:
        with _load_lock:
            if _loaded is None:
                candidate = _load()
                _declare(candidate.lib)
                _loaded = candidate
            loaded = _loaded
    return loaded.lib


def library_path() -> str:
    """The path (or, from the system search, the name) of the loaded library."""
    library()
    assert _loaded is not None
    return _loaded.path


def status_text(status: int) -> str:
    """The library's short description of a status ("invalid spec", ...)."""
    text: bytes = library().vframe_status_str(status)
    return text.decode("utf-8", "replace")


def err_buf() -> ctypes.Array:  # type: ignore[type-arg]
    """A fresh buffer for the message of one call (never shared between calls or threads)."""
    return ctypes.create_string_buffer(ERR_BUF_LEN)


def image_bytes(image: Image) -> bytes:
    """A copy of the image's bytes (the caller frees the library's with ``vframe_image_free``)."""
    return ctypes.string_at(image.data, image.len) if image.len else b""


# How a native call's result is owned: the out-struct exists before the call, and the call
# is made inside the ``try`` whose ``finally`` frees it (a function bound before the ``try``,
# called on a pointer made before it, so that nothing in the ``finally`` runs Python code
# before the free). A signal's exception (Ctrl-C's ``KeyboardInterrupt``) is raised when
# the call returns, before its status reaches Python (at the start of ``errcheck``): the
# result must already be owned by then.
