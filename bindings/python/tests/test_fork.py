"""vframe in a process made by os.fork(): the child has none of the parent's pool threads.

The child gets a fresh default pool on first use, pools made before the fork are closed
there (with a message that says why), futures of jobs still unfinished at the fork fail
instead of hanging, and nothing prints a panic at exit. The parent does not notice. Run in
a subprocess: forking the test runner itself (with its threads) would test pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from child import python_env

_FORK_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import vframe
    from vframe import _native

    video, stream, fifo = sys.argv[1], sys.argv[2], sys.argv[3]
    SPEC = "vframe/jpg/offset/1"
    expected = vframe.extract(video, SPEC)
    assert vframe.extract_async(video, SPEC).result(timeout=60) == expected  # the default pool runs
    own = vframe.Pool(threads=1)
    os.mkfifo(fifo)
    in_flight = own.submit(fifo, "vframe/jpg/offset/0.5", timeout=120)  # waits inside the library for data
    lib = _native.library()
    raw = lib.vframe_pool_new(1)  # a C pool the Python package does not manage
    never = _native.DoneFn(lambda *args: None)

    pid = os.fork()
    if pid == 0:
        def report(what, call):
            try:
                result = call()
            except BaseException as e:
                result = e
            if isinstance(result, BaseException):  # raised or returned: its class, and whether it says why
                result = f"{type(result).__name__} {'fork' in str(result)}"
            print(what, result, flush=True)

        report("child: default pool:", lambda: vframe.extract_async(video, SPEC).result(timeout=20) == expected)
        report("child: extract:", lambda: vframe.extract(video, SPEC) == expected)
        report("child: inherited pool closed:", lambda: own.closed)
        report("child: inherited pool submit:", lambda: own.submit(video, SPEC))
        report("child: inherited pool wait:", lambda: own.wait())
        report("child: job of the parent:", lambda: in_flight.exception(timeout=20))
        err = _native.err_buf()
        args = (raw, video.encode(), SPEC.encode(), None, never, None, None, err, len(err))
        report("child: C submit:", lambda: lib.vframe_submit(*args))
        report("child: C cancel:", lambda: lib.vframe_cancel(raw, 1))
        report("child: C wait and free:", lambda: (lib.vframe_pool_wait(raw), lib.vframe_pool_free(raw)))
        own.close()  # harmless
        sys.exit(0)  # a normal exit: the pools still open are closed at exit

    _, status = os.waitpid(pid, 0)
    print("parent: child exit code", os.waitstatus_to_exitcode(status), flush=True)
    with open(fifo, "wb") as pipe:  # the parent's job gets its data now
        try:
            pipe.write(open(stream, "rb").read())
        except BrokenPipeError:
            pass  # it read what it needed
    from_stream = vframe.extract(stream, "vframe/jpg/offset/0.5")
    print("parent: job from before the fork:", in_flight.result(timeout=60) == from_stream)
    print("parent: default pool:", vframe.extract_async(video, SPEC).result(timeout=60) == expected)
    own.close()
    lib.vframe_pool_free(raw)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(os, "mkfifo"), reason="needs os.fork and named pipes")
def test_a_forked_child_gets_working_pools_and_clear_errors(fixtures: Path, tmp_path: Path) -> None:
    env = python_env()
    args = [str(fixtures / "gop25_25fps.mp4"), str(fixtures / "tiny_h264.ts"), str(tmp_path / "input.fifo")]
    run = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.stdout.splitlines() == [
        "child: default pool: True",
        "child: extract: True",
        "child: inherited pool closed: True",
        "child: inherited pool submit: ValueError True",
        "child: inherited pool wait: ValueError True",
        "child: job of the parent: CancelledError True",
        "child: C submit: InvalidArgumentError True",
        "child: C cancel: InvalidArgumentError False",
        "child: C wait and free: (None, None)",
        "parent: child exit code 0",
        "parent: job from before the fork: True",
        "parent: default pool: True",
    ], run.stderr
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", "nothing on stderr: no panic message, no traceback"


# A fork while a pool thread is inside the done callback, between taking the image and
# resolving the future: the callback lets go of the GIL in its ctypes calls, so the fork
# can happen there. A test hook on ctypes.string_at holds the callback at that point.
_FORK_IN_CALLBACK_SCRIPT = textwrap.dedent(
    """
    import ctypes, os, sys, threading
    import vframe

    video = sys.argv[1]
    SPEC = "vframe/jpg/offset/1"
    expected = vframe.extract(video, SPEC)
    in_callback, forked = threading.Event(), threading.Event()
    string_at = ctypes.string_at

    def held_string_at(*args):
        if not in_callback.is_set():
            in_callback.set()
            forked.wait(60)
        return string_at(*args)

    ctypes.string_at = held_string_at
    future = vframe.extract_async(video, SPEC)
    assert in_callback.wait(60), "the callback ran"
    pid = os.fork()
    if pid == 0:
        try:
            outcome = type(future.exception(timeout=20)).__name__
        except TimeoutError:
            outcome = "never resolved"
        print("child: job being reported at the fork:", outcome, flush=True)
        os._exit(0)
    forked.set()
    os.waitpid(pid, 0)
    print("parent: job being reported at the fork:", future.result(timeout=60) == expected, flush=True)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_during_a_done_callback_fails_that_future_in_the_child(fixtures: Path) -> None:
    env = python_env()
    run = subprocess.run(
        [sys.executable, "-c", _FORK_IN_CALLBACK_SCRIPT, str(fixtures / "gop25_25fps.mp4")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.stdout.splitlines() == [
        "child: job being reported at the fork: CancelledError",
        "parent: job being reported at the fork: True",
    ], run.stderr
    assert run.returncode == 0, run.stderr


# A source opened in the parent, whose decoder has threads (VP9, frames from its keyframe):
# those threads stay in the parent, so the child's first call opens the input again (it
# hung, or read the file at the parent's descriptor offset); a source a thread was using at
# the fork is given up in the child, with a message (its lock stayed held: close hung);
# one on a pipe refuses to read it in the child (it read on from the parent's place).
_SOURCE_FORK_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading
    import vframe

    video = sys.argv[1]
    specs = {t: f"vframe/png/offset/{t}" for t in ("0.5", "0.8", "0.1", "2.5")}
    fresh = {t: vframe.extract(video, s) for t, s in specs.items()}
    src = vframe.open(video)
    assert src.extract(specs["0.5"]) == fresh["0.5"]
    piped, stream = vframe.open("/dev/stdin"), sys.argv[2]  # standard input is a pipe
    assert piped.extract("vframe/png/offset/0.2") == vframe.extract(stream, "vframe/png/offset/0.2")
    busy = vframe.open(video)
    held, forked = threading.Event(), threading.Event()

    def in_a_call():  # what a thread inside busy.extract holds
        with busy._lock:
            held.set()
            forked.wait(60)

    thread = threading.Thread(target=in_a_call)
    thread.start()
    held.wait(60)
    pid = os.fork()
    if pid == 0:
        signal.alarm(60)  # a hang ends the child, and the test with it
        print("child: decodes on:", src.extract(specs["0.8"]) == fresh["0.8"], flush=True)
        print("child: seeks back:", src.extract(specs["0.1"]) == fresh["0.1"], flush=True)
        try:
            busy.extract(specs["0.1"])
            print("child: busy source: no error", flush=True)
        except ValueError as e:
            print("child: busy source:", "forked" in str(e), flush=True)
        try:
            piped.extract("vframe/png/offset/0.5")
            print("child: pipe: no error", flush=True)
        except vframe.VframeError as e:  # its bytes belong to the parent
            print("child: pipe:", type(e).__name__, "fork" in str(e), flush=True)
        busy.close()
        src.close()
        piped.close()
        print("child: closed", flush=True)
        os._exit(0)
    forked.set()
    thread.join()
    _, status = os.waitpid(pid, 0)
    print("parent: child exit code", os.waitstatus_to_exitcode(status), flush=True)
    print("parent: decodes on:", src.extract(specs["0.8"]) == fresh["0.8"], flush=True)
    print("parent: seeks on:", src.extract(specs["2.5"]) == fresh["2.5"], flush=True)
    print("parent: busy source:", busy.extract(specs["0.1"]) == fresh["0.1"], flush=True)
    later = "vframe/png/offset/0.6"
    print("parent: pipe:", piped.extract(later) == vframe.extract(stream, later), flush=True)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_source_works_in_a_forked_child_unless_it_was_in_use(fixtures: Path) -> None:
    env = python_env()
    run = subprocess.run(
        [sys.executable, "-c", _SOURCE_FORK_SCRIPT, str(fixtures / "vp9.webm"), str(fixtures / "tiny_h264.ts")],
        input=(fixtures / "tiny_h264.ts").read_bytes(),
        env=env,
        capture_output=True,
        timeout=180,
    )
    stdout, stderr = run.stdout.decode(), run.stderr.decode()
    assert stdout.splitlines() == [
        "child: decodes on: True",
        "child: seeks back: True",
        "child: busy source: True",
        "child: pipe: InvalidArgumentError True",
        "child: closed",
        "parent: child exit code 0",
        "parent: decodes on: True",
        "parent: seeks on: True",
        "parent: busy source: True",
        "parent: pipe: True",
    ], stderr
    assert run.returncode == 0, stderr
