"""A full pool: ``submit_nowait`` raises BusyError, ``submit`` waits for room (or its
``queue_timeout``), asyncio callers wait on the loop; closing the pool or cancelling the
task ends a wait with nothing left queued. And what is lent: memory of ``bytes`` is read in
place (held by a buffer export until the library gives it back), other memory is copied.

The pool is filled with jobs reading a named pipe nobody writes: they stay in the library,
holding their places, until the test cancels them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

import vframe

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")

SPEC = "vframe/jpg/offset/0.5"


@pytest.fixture
def never_written(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "never.fifo"
    os.mkfifo(path)
    yield path


@pytest.fixture
def video(fixtures: Path) -> bytes:
    return (fixtures / "tiny_h264.mp4").read_bytes()


@pytest.fixture
def expected(video: bytes) -> bytes:
    return vframe.extract(video, SPEC)


def full_pool(never_written: Path) -> tuple[vframe.Pool, list[concurrent.futures.Future[bytes]]]:
    """A pool of 1 thread and 1 queued job, both places held: (the pool, the holding jobs)."""
    pool = vframe.Pool(threads=1, max_queued=1)
    holds = [pool.submit_nowait(never_written, SPEC) for _ in range(2)]
    return pool, holds


def still_lent(view: memoryview) -> bool:
    """Whether the library still holds its loan of ``view``: a view with a buffer export
    cannot be released. (One without is: do not use it afterwards.)"""
    try:
        view.release()
    except BufferError:
        return True
    return False


def test_a_full_pool_refuses_submit_nowait_and_submit_waits_for_room(
    never_written: Path, video: bytes, expected: bytes
) -> None:
    pool, holds = full_pool(never_written)
    with pool:
        with pytest.raises(vframe.BusyError) as busy:
            pool.submit_nowait(video, SPEC)
        assert busy.value.status == vframe.Status.BUSY and "full" in str(busy.value), str(busy.value)
        started = time.monotonic()
        with pytest.raises(vframe.BusyError) as waited:
            pool.submit(video, SPEC, queue_timeout=0.1)
        assert time.monotonic() - started >= 0.1 and "100 ms" in str(waited.value), str(waited.value)
        # A bad spec is not kept waiting: it fails through its future at once.
        bad = pool.submit(video, "vframe/jpg/offset/soon")
        assert type(bad.exception(timeout=0)) is vframe.InvalidSpecError

        # In a thread, submit waits until a job gives its place back.
        submitted: list[concurrent.futures.Future[bytes]] = []
        submitter = threading.Thread(target=lambda: submitted.append(pool.submit(video, SPEC)))
        submitter.start()
        submitter.join(0.2)
        assert submitter.is_alive() and not submitted, "submit returned while the pool was full"
        assert holds[0].cancel()  # the running job ends; its place goes to the waiting submit
        submitter.join(60)
        assert not submitter.is_alive() and len(submitted) == 1
        assert holds[1].cancel()  # queued ahead of the new job
        assert submitted[0].result(timeout=60) == expected

        with pytest.raises(TypeError):
            pool.submit(video, SPEC, queue_timeout="1")  # type: ignore[arg-type]
        with pytest.raises(vframe.InvalidArgumentError):
            pool.submit(video, SPEC, queue_timeout=-1)


def test_read_only_memory_is_lent_and_writable_memory_copied(
    never_written: Path, video: bytes, expected: bytes
) -> None:
    buffer = bytearray(video)
    pool = vframe.Pool(threads=1, max_queued=5)
    with pool:
        hold = pool.submit_nowait(never_written, SPEC)
        view = memoryview(video).toreadonly()
        lent = pool.submit(view, SPEC)  # queued behind the hold
        assert still_lent(view), "a view of bytes is read in place, and held while the job waits"
        # A read-only view of a bytearray: its owner can still change it, so it is copied.
        readonly_of_writable = memoryview(buffer).toreadonly()
        view_copied = pool.submit(readonly_of_writable, SPEC)
        assert not still_lent(readonly_of_writable), "copied at submission, nothing held"
        copied = pool.submit(buffer, SPEC)  # writable: copied (test_async changes it after submit)
        sliced = pool.submit(memoryview(b"\0" * 7 + video)[7:], SPEC)  # read-only, at an offset
        doubled = bytearray(2 * len(video))
        doubled[::2] = video
        strided = pool.submit(memoryview(bytes(doubled))[::2], SPEC)  # not contiguous: copied
        hold.cancel()
        assert lent.result(timeout=60) == expected and copied.result(timeout=60) == expected
        assert view_copied.result(timeout=60) == expected
        assert sliced.result(timeout=60) == expected and strided.result(timeout=60) == expected
        assert not still_lent(view), "given back once the job is done"

        # Refused: the loan ends at once.
        holds = [pool.submit_nowait(never_written, SPEC) for _ in range(6)]
        view = memoryview(video).toreadonly()
        with pytest.raises(vframe.BusyError):
            pool.submit_nowait(view, SPEC)
        assert not still_lent(view)
        for future in holds:
            future.cancel()


def test_closing_the_pool_wakes_submits_waiting_for_room(never_written: Path, video: bytes) -> None:
    pool, holds = full_pool(never_written)
    view = memoryview(video)
    raised: list[BaseException] = []

    def submit_and_wait() -> None:
        try:
            pool.submit(view, SPEC)
        except BaseException as e:
            raised.append(e)

    threads = [threading.Thread(target=submit_and_wait) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(pool._calls) < 3:  # every submit is inside the pool: none can find it closed on entry
        assert time.monotonic() < deadline, "the submits never started"
        time.sleep(0.005)
    pool.close()
    for thread in threads:
        thread.join(60)
    assert len(raised) == 3 and all(type(e) is vframe.CancelledError and "closed" in str(e) for e in raised), raised
    for hold in holds:
        assert type(hold.exception(timeout=60)) is vframe.CancelledError
    assert not still_lent(view), "nothing of the refused submits is left queued"


def test_asyncio_waits_for_room_on_the_loop_and_stops_waiting_when_cancelled(
    never_written: Path, video: bytes, expected: bytes
) -> None:
    pool, holds = full_pool(never_written)
    view = memoryview(video)

    async def main() -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        tick_task = asyncio.ensure_future(ticker())
        first = asyncio.ensure_future(vframe.extract_aio(video, SPEC, pool=pool))
        given_up = asyncio.ensure_future(vframe.extract_aio(view, SPEC, pool=pool))
        await asyncio.sleep(0.2)
        assert not first.done() and not given_up.done()
        before = ticks
        await asyncio.sleep(0.05)
        assert ticks > before, "the loop runs while the calls wait for room"
        given_up.cancel()
        with pytest.raises(asyncio.CancelledError):
            await given_up
        assert not still_lent(view), "a cancelled wait leaves nothing queued"
        holds[0].cancel()  # a place frees up: the first waiting call takes it
        await asyncio.sleep(0.1)
        holds[1].cancel()  # queued ahead of it
        assert await asyncio.wait_for(first, 60) == expected

        # Closing the pool ends a wait with vframe.CancelledError.
        more_holds = [pool.submit_nowait(never_written, SPEC) for _ in range(2)]
        late = asyncio.ensure_future(vframe.extract_aio(video, SPEC, pool=pool))
        await asyncio.sleep(0.1)
        assert not late.done()
        await asyncio.get_running_loop().run_in_executor(None, pool.close)
        with pytest.raises(vframe.CancelledError, match="closed"):
            await asyncio.wait_for(late, 60)
        for hold in more_holds:
            assert type(hold.exception(timeout=60)) is vframe.CancelledError
        tick_task.cancel()

    asyncio.run(main())


def test_many_asyncio_calls_over_a_small_pool_all_finish(video: bytes, expected: bytes) -> None:
    """Far more waiting calls than places, woken one by one as places free up."""

    async def main() -> list[bytes]:
        with vframe.Pool(threads=2, max_queued=1) as pool:
            calls = [vframe.extract_aio(video, SPEC, pool=pool, threads=1) for _ in range(60)]
            return await asyncio.wait_for(asyncio.gather(*calls), 300)

    assert asyncio.run(main()) == [expected] * 60


def test_ctrl_c_while_submit_waits_for_room_leaves_the_accepted_job_its_loan(
    never_written: Path, video: bytes, expected: bytes
) -> None:
    """Ctrl-C while ``submit`` waits for room, which then comes: the library accepts the job,
    and Python raises KeyboardInterrupt as the call returns. The job still reads the bytes in
    place, so they stay lent to it until it ends (once ended early, with the bytes freed, the
    job read freed memory and the process crashed)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_kill"):
        pytest.skip("needs the main thread, where Python raises a signal's exception")
    main = threading.main_thread()
    assert main.ident is not None and main.native_id is not None
    stat = Path(f"/proc/self/task/{main.native_id}/stat")
    if not stat.is_file():
        pytest.skip("needs /proc to see that the submit is waiting in the library")
    for _ in range(3):
        pool, holds = full_pool(never_written)
        view = memoryview(video)

        def interrupt_then_make_room(pool: vframe.Pool, holds: list[concurrent.futures.Future[bytes]]) -> None:
            # The submit waits inside the library once its pool call has begun and the main
            # thread has slept for 0.1 s on end (not for the GIL: this thread lets go of it
            # between looks, so the main thread would have taken it and moved on).
            deadline, asleep_since = time.monotonic() + 30, None
            while time.monotonic() < deadline:
                asleep = len(pool._calls) == 1 and stat.read_text().rsplit(")", 1)[1].split()[0] == "S"
                asleep_since = (asleep_since or time.monotonic()) if asleep else None
                if asleep_since is not None and time.monotonic() - asleep_since > 0.1:
                    break
                time.sleep(0.005)
            signal.pthread_kill(main.ident, signal.SIGINT)  # type: ignore[arg-type]
            holds[0].cancel()  # a place: the library accepts the waiting submit

        helper = threading.Thread(target=interrupt_then_make_room, args=(pool, holds))
        helper.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                pool.submit(view, SPEC)
            helper.join()
            with pytest.raises(vframe.BusyError):  # the job holds its place: accepted
                pool.submit_nowait(never_written, SPEC)
            assert still_lent(view), "Ctrl-C ended the loan of a job the library had accepted"
            holds[1].cancel()
            pool.wait()
            assert not still_lent(view), "given back once the job ended"
            assert pool.submit(video, SPEC).result(timeout=60) == expected
        finally:
            helper.join()
            pool.close()
