"""Ctrl-C (SIGINT) while a synchronous call works: Python raises ``KeyboardInterrupt`` as
the call returns, before its result reaches Python. What the library made for the call (an
image, a sample, a storyboard, an open source) must be freed all the same.

The signal is sent to the main thread (where Python raises it) at a moment the test
controls: the call is inside the library, blocked on a named pipe the test feeds, and is fed
the video only once the signal has arrived, so that it succeeds. (A waiting submit is
interrupted in test_backpressure.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import signal
import sys
import threading
import types
from pathlib import Path
from typing import Callable

import pytest
from stalled_input import StalledInput

import vframe

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes"),
    pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs signal.pthread_kill"),
]

# Big enough (~900 KB) that one leaked image stands far above the allocator's noise.
BIG_PNG = "vframe/png/offset/1/w/1920"
ROUNDS = 3


@pytest.fixture(autouse=True)
def in_the_main_thread() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("Python raises a signal's exception in the main thread only")
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT does not raise KeyboardInterrupt here")


@pytest.fixture
def video(fixtures: Path) -> bytes:
    return (fixtures / "tiny_h264.mp4").read_bytes()


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def malloc_counter() -> Callable[[], int]:
    """Bytes malloc has handed out and not had back (glibc's ``mallinfo2``): what the library
    allocates and never frees shows there exactly, unlike in the process's RSS."""
    name = ctypes.util.find_library("c")
    mallinfo2 = getattr(ctypes.CDLL(name), "mallinfo2", None) if name else None
    if mallinfo2 is None:
        pytest.skip("needs glibc's mallinfo2 to count the library's allocations")
    mallinfo2.restype = _MallInfo2

    def in_use() -> int:
        gc.collect()
        info = mallinfo2()
        return int(info.uordblks + info.hblkhd)

    return in_use


def interrupted(tmp_path: Path, data: bytes, call: Callable[[Path], object], name: str) -> None:
    """Runs ``call(pipe)`` in this (the main) thread, with the video fed through a named pipe:
    once the library has opened the pipe, SIGINT is sent to this thread, and only then is
    the video fed. The call succeeds in the library and raises KeyboardInterrupt as it returns."""
    stalled = StalledInput(tmp_path, data, name=name)
    main = threading.main_thread().ident
    assert main is not None
    returned = threading.Event()

    def interrupt_then_feed() -> None:
        try:
            stalled.wait_opened(returned.is_set)
            signal.pthread_kill(main, signal.SIGINT)
            stalled.finish()
        finally:
            stalled.close()

    helper = threading.Thread(target=interrupt_then_feed)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call(stalled.path)
    finally:
        returned.set()
        helper.join()


def raised_at_errcheck(call: Callable[[], object]) -> None:
    """Runs ``call`` with KeyboardInterrupt raised where Python raises a signal that arrived
    during a C call: at the first line of vframe's ``errcheck``, once the call succeeded."""

    def tracer(frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code.co_name == "errcheck" and frame.f_locals.get("status") == 0:
            sys.settrace(None)
            raise KeyboardInterrupt

    sys.settrace(tracer)
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        sys.settrace(None)


CALLS: dict[str, Callable[[Path], object]] = {
    "extract": lambda path: vframe.extract(path, BIG_PNG),
    "extract_many": lambda path: vframe.extract_many(path, [BIG_PNG, BIG_PNG.replace("/1/", "/0/")]),
    "sample": lambda path: vframe.sample(path, "vsample/png/frames/2/s/1920x"),
    "storyboard": lambda path: vframe.storyboard(path, "storyboard/png/frames/4/s/960x/columns/2/rows/2"),
}


@pytest.mark.parametrize("what", sorted(CALLS))
def test_ctrl_c_as_a_call_returns_frees_its_result(tmp_path: Path, video: bytes, what: str) -> None:
    call = CALLS[what]
    file = tmp_path / "video.mp4"
    file.write_bytes(video)
    call(file)  # the library's and the allocator's first use are not counted
    in_use = malloc_counter()
    before = in_use()
    for i in range(ROUNDS):
        interrupted(tmp_path, video, call, f"{what}{i}.fifo")
    grown = in_use() - before
    assert grown < 300_000, f"{grown} bytes are still allocated after {ROUNDS} interrupted calls"


def test_ctrl_c_as_a_source_call_returns_frees_its_image(video: bytes) -> None:
    # A source reads the copy of the bytes it holds: nothing to block on, so the signal's
    # exception is raised where Python would raise it, by a tracer.
    with vframe.open(video) as source:
        source.extract(BIG_PNG)
        in_use = malloc_counter()
        before = in_use()
        for _ in range(ROUNDS):
            raised_at_errcheck(lambda: source.extract(BIG_PNG))
        grown = in_use() - before
    assert grown < 300_000, f"{grown} bytes are still allocated after {ROUNDS} interrupted calls"


def test_ctrl_c_while_open_runs_leaves_no_source_open(tmp_path: Path, video: bytes) -> None:
    opened: list[vframe.Source] = []
    vframe.open(video).close()
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    in_use = malloc_counter()
    memory_before = in_use()
    for i in range(ROUNDS):
        interrupted(tmp_path, video, lambda path: opened.append(vframe.open(path)), f"open{i}.fifo")
    assert not opened
    grown = in_use() - memory_before
    assert grown < 300_000, f"{grown} bytes are still allocated after {ROUNDS} interrupted opens"
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before, "an interrupted vframe.open left its input open"
