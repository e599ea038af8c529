"""Ctrl-C at every moment Python could raise it, in the calls that own something native: a
pool's close(), submit and wait, a source's close(), the finalisers of a dropped pool and of
a loan. Whatever the moment, nothing native may be lost: the pool is freed by the next
close() (or at exit), no call is left counted as using the pool, a source's handle is closed.

Python raises a signal's exception at its next check for signals: as a Python function
starts, and as a call to a C function returns (among others). Each test raises
``KeyboardInterrupt`` itself at such a point, from a ``sys.setprofile`` hook, and at each one
in turn: the same points every run. The hook sees Python functions start and builtins
return, but not ctypes' foreign functions: so the library is called here through a Python
function, ``c_call``, whose return stands for the foreign function's.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import types
import weakref
from pathlib import Path
from typing import Any, Callable

import pytest

import vframe
from vframe import _buffer, _native, _pool

SPEC = "vframe/jpg/offset/0.5/w/64"


class Checked:
    """The library, each function called through ``c_call`` (see the module's docstring)."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib

    def __getattr__(self, name: str) -> Callable[..., Any]:
        real = getattr(self._lib, name)

        def c_call(*args: Any) -> Any:
            return real(*args)

        return c_call


C_CALL = Checked.__getattr__(Checked(_native), "library").__code__


@pytest.fixture(autouse=True)
def library_returns_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = Checked(_native.library())
    monkeypatch.setattr(_native, "library", lambda: checked)


def foreign_return(frame: types.FrameType, event: str) -> str | None:
    """The library function that returns, at this profile event (else None)."""
    if event == "return" and frame.f_code is C_CALL:
        return str(frame.f_locals["real"].__name__)
    return None


# More check points than any of these calls has: a sweep that reaches it is stuck.
MOST_POINTS = 3000


def interrupt_at(n: int, call: Callable[[], object]) -> bool:
    """Runs ``call()`` with ``KeyboardInterrupt`` raised at its ``n``-th point (from 1) where
    Python checks for signals: a Python function's start, or a C function's return. Returns
    whether it was raised (False: ``call`` has fewer points, and ran to its end)."""
    seen = 0
    raised = False
    here = sys._getframe()

    def hook(frame: types.FrameType, event: str, arg: Any) -> None:
        nonlocal seen, raised
        if frame is here or not (
            (event == "call" and frame.f_code is not C_CALL)  # c_call stands for a foreign function
            or event == "c_return"
            or foreign_return(frame, event) is not None
        ):
            return
        seen += 1
        if seen == n:
            sys.setprofile(None)
            raised = True
            raise KeyboardInterrupt

    gc.collect()
    gc.disable()  # no finaliser of an earlier object runs inside ``call`` (and takes a point)
    sys.setprofile(hook)
    try:
        call()
    except KeyboardInterrupt:
        if not raised:
            raise
    finally:
        sys.setprofile(None)
        gc.enable()
    return raised


def every_point(call_at: Callable[[int], bool]) -> int:
    """Calls ``call_at(n)`` for n = 1, 2, ... until it says nothing was raised; the count."""
    for n in range(1, MOST_POINTS):
        if not call_at(n):
            return n - 1
    pytest.fail(f"still interrupting after {MOST_POINTS} points")


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.fixture
def video(fixtures: Path) -> str:
    return str(fixtures / "tiny_h264.mp4")


def test_a_close_interrupted_anywhere_is_finished_by_the_next(video: str) -> None:
    def close_at(n: int) -> bool:
        pool = vframe.Pool(1, max_queued=4)
        futures = [pool.submit(video, SPEC) for _ in range(4)]
        raised = interrupt_at(n, pool.close)
        pool.close()
        # Freed (its jobs waited for) by the second close(), wherever the first one stopped.
        assert pool._owner.value is None, f"interrupted at point {n}: the pool was never freed"
        assert pool not in _pool._open_pools
        assert all(f.done() for f in futures), f"interrupted at point {n}: jobs still running"
        return raised

    assert every_point(close_at) > 5


def test_a_close_interrupted_after_the_library_closed_the_pool_leaves_it_to_the_next(video: str) -> None:
    """The report's case: Ctrl-C as ``vframe_pool_close`` returns (where a signal that came
    during the call is raised)."""
    pool = vframe.Pool(1, max_queued=4)
    futures = [pool.submit(video, SPEC) for _ in range(4)]

    def raised_as_close_returns(frame: types.FrameType, event: str, arg: Any) -> None:
        if foreign_return(frame, event) == "vframe_pool_close":
            sys.setprofile(None)
            raise KeyboardInterrupt

    sys.setprofile(raised_as_close_returns)
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.close()
    finally:
        sys.setprofile(None)
    assert pool.closed
    assert pool in _pool._open_pools  # so the close at exit would finish it
    pool.close()
    assert pool._owner.value is None and all(f.done() for f in futures)


def test_a_submit_or_wait_interrupted_anywhere_leaves_the_pool_closable(video: str) -> None:
    pool = vframe.Pool(1, max_queued=64)

    def submit_at(n: int) -> bool:
        raised = interrupt_at(n, lambda: pool.submit(video, SPEC))
        assert not pool._calls, f"interrupted at point {n}: a call is still counted as using the pool"
        pool.wait()
        return raised

    def wait_at(n: int) -> bool:
        pool.submit(video, SPEC)
        raised = interrupt_at(n, pool.wait)
        assert not pool._calls, f"interrupted at point {n}: a call is still counted as using the pool"
        return raised

    assert every_point(submit_at) > 10
    assert every_point(wait_at) > 1
    closing = threading.Thread(target=pool.close, daemon=True)
    closing.start()
    closing.join(60)
    assert not closing.is_alive(), "close() waits for a call that ended long ago"


@pytest.mark.parametrize("kind", [bytes, bytearray])
def test_a_submit_of_memory_interrupted_anywhere_ends_its_loan(
    kind: type, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bytes are lent in place (the loan holds a reference), a bytearray is copied (an export
    left behind would lock it against resizing)."""
    # The points vary with the job's speed: a loan may die in this thread (in its __del__,
    # which a point may interrupt) once the job has given it back.
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: None)  # keeping nothing alive
    data = kind((fixtures / "tiny_h264.mp4").read_bytes())
    base = sys.getrefcount(data)
    pool = vframe.Pool(1, max_queued=64)

    def submit_at(n: int) -> bool:
        raised = interrupt_at(n, lambda: pool.submit(data, SPEC))
        pool.wait()
        gc.collect()
        _buffer._unreleased.end_dropped()  # as the next loan made would
        assert sys.getrefcount(data) == base, f"interrupted at point {n}: the loan never ended"
        if isinstance(data, bytearray):
            data.append(0)  # BufferError while exported
            data.pop()
        assert not _pool._lent
        return raised

    assert every_point(submit_at) > 10
    pool.close()


def raise_as(name: str, owner: type) -> Callable[[types.FrameType, str, Any], None]:
    """A profile hook raising KeyboardInterrupt as ``owner``'s method ``name`` starts."""

    def hook(frame: types.FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_name == name and isinstance(frame.f_locals.get("self"), owner):
            sys.setprofile(None)
            raise KeyboardInterrupt

    return hook


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_a_dropped_pool_whose_finaliser_is_interrupted_is_freed_later(monkeypatch: pytest.MonkeyPatch) -> None:
    ignored: list[Any] = []  # the types only: a traceback would keep the dropped object alive
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: ignored.append(unraisable.exc_type))
    gc.collect()
    base = native_threads()  # may count a thread of an earlier test still ending: an upper bound
    pool = vframe.Pool(4)
    ptr = pool._owner.value
    sys.setprofile(raise_as("__del__", _native.PoolPointer))
    try:
        del pool
        gc.collect()
    finally:
        sys.setprofile(None)
    assert ignored == [KeyboardInterrupt]  # __del__ never ran
    vframe.Pool(1).close()  # a new pool frees those dropped unfreed
    assert native_threads() <= base, "the dropped pool's threads still run"
    assert ptr not in [p for _, p in _native.unfreed_pools.entries.values()]


def test_a_dropped_loan_whose_finaliser_is_interrupted_is_ended_later(monkeypatch: pytest.MonkeyPatch) -> None:
    ignored: list[Any] = []  # the types only: a traceback would keep the dropped object alive
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: ignored.append(unraisable.exc_type))
    data = bytes(1000)
    base = sys.getrefcount(data)
    lent = _buffer.LentBuffer(data)  # bytes: lent in place, the export holds a reference
    assert not lent.copied and sys.getrefcount(data) == base + 1
    sys.setprofile(raise_as("__del__", _buffer.LentBuffer))
    try:
        del lent
    finally:
        sys.setprofile(None)
    assert ignored == [KeyboardInterrupt]
    _buffer.LentBuffer(b"another")  # the next loan ends those dropped unreleased
    assert sys.getrefcount(data) == base


def open_fds(path: str) -> int:
    names = (os.path.join("/proc/self/fd", fd) for fd in os.listdir("/proc/self/fd"))
    count = 0
    for name in names:
        try:
            count += os.readlink(name) == path
        except OSError:
            pass
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files in /proc")
def test_a_source_close_interrupted_anywhere_keeps_the_handle_until_closed(video: str) -> None:
    path = os.path.realpath(video)

    def close_at(n: int) -> bool:
        source = vframe.Source(video)
        assert open_fds(path) == 1
        raised = interrupt_at(n, source.close)
        if source.closed:
            assert open_fds(path) == 0, f"interrupted at point {n}: closed, but the file is still open"
        source.close()
        assert open_fds(path) == 0
        return raised

    assert every_point(close_at) > 1


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files in /proc")
def test_a_dropped_source_whose_finaliser_is_interrupted_is_closed_later(
    video: str, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ignored: list[Any] = []  # the types only: a traceback would keep the dropped object alive
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: ignored.append(unraisable.exc_type))
    path = os.path.realpath(video)
    source = vframe.Source(video)
    assert open_fds(path) == 1
    sys.setprofile(raise_as("__del__", vframe.Source))
    try:
        del source
        gc.collect()
    finally:
        sys.setprofile(None)
    assert ignored == [KeyboardInterrupt]  # __del__ never ran
    vframe.open(fixtures / "gop25_25fps.mp4").close()  # the next source closes those dropped unclosed
    assert open_fds(path) == 0, "the dropped source's file is still open"


def test_a_finished_job_s_future_does_not_hold_its_pool(video: str) -> None:
    pool = vframe.Pool(1)
    future = pool.submit(video, SPEC)
    bad_spec = pool.submit(video, "not a spec")
    pool.wait()  # every job over, its callback returned
    assert bad_spec.exception() is not None
    dropped = weakref.ref(pool)
    del pool
    gc.collect()
    assert dropped() is None, "a finished job's future keeps its pool (and the pool's threads)"
    assert isinstance(future, _pool._JobFuture)
    assert future.result() and future._pool is None
