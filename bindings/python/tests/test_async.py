"""The asynchronous calls over the library's worker pool: futures, asyncio, cancellation.

Jobs that must stay in flight read a named pipe the test feeds (``StalledInput``), so a
job is held inside the library for exactly as long as a test needs, without sleeps.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import gc
import mmap
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from child import python_env
from stalled_input import StalledInput

import vframe

needs_pipes = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")

# A job reading start600.ts at 7.9 s needs nearly all of the file (an 8 s MPEG-TS read
# through a pipe, which cannot seek): fed at most this share of it, it can only end by
# being cancelled.
STALL_SPEC = "vframe/jpg/offset/7.9"
FEED_AT_MOST = 0.8


@pytest.fixture
def stalled(tmp_path: Path, fixtures: Path) -> Iterator[StalledInput]:
    stalled_input = StalledInput(tmp_path, (fixtures / "start600.ts").read_bytes())
    yield stalled_input
    stalled_input.close()


@pytest.fixture
def one_thread_pool() -> Iterator[vframe.Pool]:
    pool = vframe.Pool(threads=1)
    yield pool
    pool.close()


def _feed_until(stalled: StalledInput, done: concurrent.futures.Future[bytes]) -> None:
    """Feeds the stalled job a little at a time until ``done`` completes (or the share is fed)."""
    while not done.done() and stalled.fed < FEED_AT_MOST * len(stalled.data):
        stalled.feed(2048)
        concurrent.futures.wait([done], timeout=0.02)


def test_a_future_gives_what_extract_gives(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    expected = vframe.extract(video, "vframe/png/offset/4.4/w/200")
    futures = [
        vframe.extract_async(video, "vframe/png/offset/4.4/w/200"),
        vframe.extract_async(str(video), format="png", offset=4.4, w=200),
        vframe.extract_async(video.read_bytes(), "vframe/png/offset/4.4/w/200"),
        vframe.extract_async(memoryview(bytearray(video.read_bytes())), "vframe/png/offset/4.4/w/200"),
    ]
    for future in futures:
        assert isinstance(future, concurrent.futures.Future)
        assert future.result(timeout=60) == expected


def test_a_memory_mapped_file_is_copied_at_submission(fixtures: Path) -> None:
    path = fixtures / "gop25_25fps.mp4"
    spec = "vframe/jpg/offset/2"
    expected = vframe.extract(path, spec)
    with open(path, "rb") as file, vframe.Pool(threads=1) as pool:
        for access in (mmap.ACCESS_READ, mmap.ACCESS_COPY):
            mapped = mmap.mmap(file.fileno(), 0, access=access)
            futures = [pool.submit(mapped, spec), pool.submit_nowait(mapped, spec)]
            futures.append(vframe.extract_async(mapped, spec, pool=pool))
            mapped.close()  # copied: nothing of it is held once the submits return
            assert [f.result(timeout=60) for f in futures] == [expected] * 3
            with mmap.mmap(file.fileno(), 0, access=access) as mapped:
                assert asyncio.run(vframe.extract_aio(mapped, spec, pool=pool)) == expected


def test_many_jobs_at_once_each_get_their_own_image(fixtures: Path) -> None:
    jobs = [(fixtures / name, f"vframe/jpg/offset/{t}") for name in ("gop25_25fps.mp4", "vfr.mkv") for t in range(5)]
    expected = [vframe.extract(*job) for job in jobs]
    with vframe.Pool(threads=4) as pool:
        futures = [pool.submit(*job) for job in jobs * 6]
        results = [f.result(timeout=120) for f in futures]
    assert results == expected * 6


def test_failures_arrive_through_the_future(fixtures: Path, tmp_path: Path) -> None:
    bad_spec = vframe.extract_async(fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/soon")
    error = bad_spec.exception(timeout=60)
    assert type(error) is vframe.InvalidSpecError and "'soon'" in str(error)

    missing = vframe.extract_async(tmp_path / "missing.mp4", "vframe/jpg/offset/1")
    error = missing.exception(timeout=60)
    assert type(error) is vframe.CannotOpenError and "missing.mp4" in str(error)

    audio = vframe.extract_async((fixtures / "audio_only.m4a").read_bytes(), format="jpg", offset=1)
    with pytest.raises(vframe.NoVideoStreamError):
        audio.result(timeout=60)

    limited = vframe.extract_async(fixtures / "bframes_gop250.mp4", "vframe/jpg/offset/8", max_decoded_frames=5)
    assert type(limited.exception(timeout=60)) is vframe.LimitExceededError


@needs_pipes
def test_cancel_stops_the_job_inside_the_library(
    one_thread_pool: vframe.Pool, stalled: StalledInput, fixtures: Path
) -> None:
    job = one_thread_pool.submit(stalled.path, STALL_SPEC, timeout=120)
    stalled.wait_opened(job.done)
    stalled.feed(len(stalled.data) // 4)
    assert not job.done()
    assert job.cancel()
    assert job.cancelled()
    with pytest.raises(concurrent.futures.CancelledError):
        job.result(timeout=0)
    # The pool's only thread is free again only if the library stopped the job: it could
    # not have finished on its own with the data it gets.
    follower = one_thread_pool.submit(fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/1")
    _feed_until(stalled, follower)
    assert follower.result(timeout=60) == vframe.extract(fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/1")
    assert stalled.fed < FEED_AT_MOST * len(stalled.data)


def test_cancelling_a_finished_job_changes_nothing(fixtures: Path) -> None:
    future = vframe.extract_async(fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/2")
    image = future.result(timeout=60)
    assert not future.cancel()
    assert future.result() == image


@needs_pipes
def test_closing_a_pool_cancels_its_running_and_queued_jobs(stalled: StalledInput, fixtures: Path) -> None:
    pool = vframe.Pool(threads=1)
    running = pool.submit(stalled.path, STALL_SPEC, timeout=120)
    stalled.wait_opened(running.done)
    queued = [pool.submit(fixtures / "gop25_25fps.mp4", f"vframe/jpg/offset/{t}") for t in range(3)]
    closer = threading.Thread(target=pool.close)
    closer.start()
    _feed_until(stalled, running)
    for future in [running, *queued]:
        error = future.exception(timeout=60)
        assert type(error) is vframe.CancelledError, repr(error)
        assert error.status == vframe.Status.CANCELLED and str(error)
    closer.join(timeout=60)
    assert not closer.is_alive() and pool.closed
    with pytest.raises(ValueError):
        pool.submit(fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/1")
    pool.close()  # a second close is harmless


@needs_pipes
def test_bytes_are_copied_at_submission(one_thread_pool: vframe.Pool, stalled: StalledInput, fixtures: Path) -> None:
    video = bytearray((fixtures / "gop25_25fps.mp4").read_bytes())
    expected = vframe.extract(bytes(video), "vframe/jpg/offset/3")
    blocker = one_thread_pool.submit(stalled.path, "vframe/jpg/offset/0")
    stalled.wait_opened(blocker.done)
    job = one_thread_pool.submit(video, "vframe/jpg/offset/3")  # queued behind the blocker
    video[:] = bytes(len(video))  # the caller reuses its buffer before the job starts
    stalled.finish()
    blocker.result(timeout=60)
    assert job.result(timeout=60) == expected


@needs_pipes
def test_a_read_only_view_of_a_writable_buffer_is_copied_at_submission(
    one_thread_pool: vframe.Pool, stalled: StalledInput, fixtures: Path
) -> None:
    # The view is read-only, its memory is not: the caller may refill the bytearray.
    video = bytearray((fixtures / "gop25_25fps.mp4").read_bytes())
    expected = vframe.extract(bytes(video), "vframe/jpg/offset/3")
    blocker = one_thread_pool.submit(stalled.path, "vframe/jpg/offset/0")
    stalled.wait_opened(blocker.done)
    job = one_thread_pool.submit(memoryview(video).toreadonly(), "vframe/jpg/offset/3")  # queued
    video[:] = (fixtures / "bframes_gop250.mp4").read_bytes()[: len(video)]  # reused, same length
    stalled.finish()
    blocker.result(timeout=60)
    assert job.result(timeout=60) == expected


def test_a_pool_cannot_be_copied_or_pickled() -> None:
    with vframe.Pool(threads=1) as pool:
        for copy_it in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError, match="vframe.Pool .*cannot be copied or pickled"):
                copy_it(pool)
        assert pool.submit(b"", "vframe/jpg/offset/0").exception(timeout=60) is not None  # still usable


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_a_pool_nobody_holds_is_freed_once_its_jobs_are_done(fixtures: Path, tmp_path: Path) -> None:
    video = fixtures / "tiny_h264.mp4"  # its index comes first: it can be read through a pipe
    expected = vframe.extract(video, "vframe/jpg/offset/1")
    before = _threads()
    for _ in range(5):
        pool = vframe.Pool(threads=2)
        assert pool.submit(video, "vframe/jpg/offset/1").result(timeout=60) == expected
        del pool  # and its future: nothing holds the pool, whose threads end
    assert _threads() == before, "a pool dropped without close() kept its threads"

    # Dropped with a job in flight: the job's future holds its pool until the job is done
    # (its bytes, lent, stay the job's), and the last reference goes on the pool's own thread.
    stalled = StalledInput(tmp_path, video.read_bytes())
    results: list[bytes | BaseException | None] = []
    ended = threading.Event()
    pool = vframe.Pool(threads=1)
    future = pool.submit(stalled.path, "vframe/jpg/offset/1")

    def on_done(done: concurrent.futures.Future[bytes]) -> None:
        results.append(done.exception() or done.result())
        ended.set()

    future.add_done_callback(on_done)
    lent = pool.submit(video.read_bytes(), "vframe/jpg/offset/1")  # queued behind it
    del pool, future, lent
    gc.collect()
    stalled.wait_opened()
    assert _threads() == before + 1, "a pool with jobs in flight was freed"
    stalled.finish()
    assert ended.wait(60) and results == [expected]
    deadline = time.monotonic() + 30
    while _threads() != before:
        assert time.monotonic() < deadline, "a pool dropped with jobs in flight kept its threads once they ended"
        time.sleep(0.01)


def test_a_pool_cannot_be_closed_from_its_own_callback(fixtures: Path) -> None:
    pool = vframe.Pool(threads=1)
    seen: list[BaseException] = []

    def close_from_callback(_: object) -> None:
        try:
            pool.close()
        except RuntimeError as e:
            seen.append(e)

    future = pool.submit(fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/1")
    future.add_done_callback(close_from_callback)
    future.result(timeout=60)
    pool.wait()
    pool.close()
    assert len(seen) == 1 and "done-callback" in str(seen[0])


def test_asyncio_awaits_jobs_without_blocking_the_loop(fixtures: Path) -> None:
    video = fixtures / "vfr.mkv"
    expected = [vframe.extract(video, format="jpg", offset=t, w=120) for t in range(4)]

    async def main() -> list[bytes]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        tick_task = asyncio.ensure_future(ticker())
        results = await asyncio.gather(*(vframe.extract_aio(video, format="jpg", offset=t, w=120) for t in range(4)))
        tick_task.cancel()
        assert ticks > 0
        with pytest.raises(vframe.InvalidSpecError):
            await vframe.extract_aio(video, "vframe/jpg/offset/later")
        return list(results)

    assert asyncio.run(main()) == expected


@needs_pipes
def test_cancelling_the_awaiting_task_cancels_the_job(
    one_thread_pool: vframe.Pool, stalled: StalledInput, fixtures: Path
) -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(vframe.extract_aio(stalled.path, STALL_SPEC, timeout=120, pool=one_thread_pool))
        await loop.run_in_executor(None, stalled.wait_opened, task.done)
        stalled.feed(len(stalled.data) // 4)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        follower = asyncio.ensure_future(
            vframe.extract_aio(fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/1", pool=one_thread_pool)
        )
        while not follower.done() and stalled.fed < FEED_AT_MOST * len(stalled.data):
            stalled.feed(2048)
            await asyncio.wait([follower], timeout=0.02)
        return await asyncio.wait_for(follower, timeout=60)

    assert asyncio.run(main()) == vframe.extract(fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/1")


def test_python_exits_cleanly_with_jobs_in_flight(fixtures: Path) -> None:
    script = (
        "import sys, threading, vframe\n"
        "video = open(sys.argv[1], 'rb').read()\n"
        "futures = [vframe.extract_async(video, format='jpg', offset=t % 10) for t in range(40)]\n"
        "called = threading.Event()\n"
        "futures[0].add_done_callback(lambda f: (print('first done', flush=True), called.set()))\n"
        "futures[0].result(timeout=60)\n"
        # result() may return before the callback (run on a pool thread) has printed.
        "assert called.wait(60)\n"
        "print('exiting', flush=True)\n"
    )
    env = python_env()
    run = subprocess.run(
        [sys.executable, "-c", script, str(fixtures / "bframes_gop250.mp4")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["first done", "exiting"] and run.stderr == ""


def test_python_exits_cleanly_while_daemon_threads_call_extract_async(fixtures: Path) -> None:
    # The pools are closed at exit while daemon threads keep submitting: the default pool is
    # not started again then (a pool nothing closes aborted the interpreter at exit: its
    # threads called back into a finalised Python), extract_async raises RuntimeError.
    script = (
        "import sys, threading, time, vframe\n"
        "video = open(sys.argv[1], 'rb').read()\n"
        "def work():\n"
        "    while True:\n"
        "        try:\n"
        "            vframe.extract_async(video, 'vframe/jpg/offset/2.9/w/64').result()\n"
        "        except Exception:\n"
        "            pass\n"
        "for _ in range(4):\n"
        "    threading.Thread(target=work, daemon=True).start()\n"
        "time.sleep(0.3)\n"
    )
    env = python_env()
    command = [sys.executable, "-c", script, str(fixtures / "gop25_25fps.mp4")]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(10)]
    for run in runs:
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr.decode(errors="replace")[-2000:]


def test_no_pool_starts_once_the_pools_were_closed_at_exit(fixtures: Path) -> None:
    script = (
        "import vframe\n"
        "from vframe import _pool\n"
        "vframe.extract_async(b'', 'vframe/jpg/offset/0').exception(timeout=60)\n"  # the default pool starts
        "_pool._close_open_pools()\n"  # what vframe's atexit handler does
        "for make in (vframe.Pool, lambda: vframe.extract_async(b'', 'vframe/jpg/offset/0')):\n"
        "    try:\n"
        "        make()\n"
        "    except RuntimeError as e:\n"
        "        print(e)\n"
    )
    env = python_env()
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and all("shutting down" in line for line in lines), run.stdout
