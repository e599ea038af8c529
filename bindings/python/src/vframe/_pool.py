"""The asynchronous calls: jobs run by the library's own worker pool (``vframe_pool``), each
reported through a ``concurrent.futures.Future`` (or awaited from asyncio).

One C callback, ``_on_done``, serves every job of every pool: it lives as long as the
module, so it is alive whenever the library calls it. Each job's ``user`` pointer is a key
into ``_pending``, which holds the job's future until the callback resolves it.

A pool's threads do not survive ``os.fork()``: in the child, ``_after_fork_in_child`` closes
every pool made before the fork (the library would refuse them anyway), fails the futures
of jobs still unfinished then (they run in the parent), and lets ``extract_async`` start a
new default pool on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import itertools
import os
import threading
from concurrent.futures import Future
from typing import Any, Iterator

from . import _native
from ._call import CSource, Number, Source, c_count, c_options, c_string, resolve_spec
from .errors import CancelledError, InvalidSpecError, Status, VframeError, error_for_status

# Job key -> its future, from just before submission until its callback has run.
_pending: dict[int, _JobFuture] = {}
_keys = itertools.count(1)
# On a pool thread running our callback, ``pool`` is that job's pool, which must not be
# closed or waited on from there (the job could never finish).
_in_callback = threading.local()


def _on_done(status: int, image: Any, err: bytes | None, user: int | None) -> None:
    # Called by the library on one of its threads (ctypes takes the GIL). Nothing may
    # escape: ctypes would only print it, and the image must be freed whatever happens.
    # The future leaves _pending only once it is resolved: this thread lets go of the GIL
    # (in the ctypes calls, between bytecodes), and a child forked meanwhile must still
    # find the future there to fail it, or its result() would wait forever.
    key = user or 0
    future = _pending.get(key)
    _in_callback.pool = future._pool if future is not None else None
    try:
        try:
            data = ctypes.string_at(image.contents.data, image.contents.len) if status == 0 else b""
        finally:
            _native.library().vframe_image_free(image)
        if future is None or not future.set_running_or_notify_cancel():
            return  # cancelled from Python: its result is not wanted
        if status == 0:
            future.set_result(data)
        else:
            message = (err or b"").decode("utf-8", "replace")
            future.set_exception(error_for_status(status, message or _native.status_text(status)))
    except BaseException as e:  # pragma: no cover - a bug here must not kill a pool thread
        if future is not None and not future.done():
            future.set_exception(e)
    finally:
        _pending.pop(key, None)
        _in_callback.pool = None


# The C function pointer every job is submitted with (alive as long as the module).
_on_done_c = _native.DoneFn(_on_done)


class _JobFuture(Future):  # type: ignore[type-arg]
    """A job's future: ``cancel()`` also cancels the job in the library."""

    def __init__(self, pool: Pool) -> None:
        super().__init__()
        self._pool = pool
        self._job_id = 0  # 0 until submitted

    def _fail_after_fork(self) -> None:
        """In a child of ``os.fork()``: this job runs in the parent, and its result stays there."""
        # A pool thread of the parent may have been resolving this future at the fork, and
        # left its lock held; no other thread exists here.
        self._condition = threading.Condition()
        # RUNNING: the parent's callback was resolving it at the fork. PENDING: not run yet.
        # CANCELLED: notify the waiters, as the callback would have. Resolved ones stay so.
        state = self._state
        if state == "RUNNING" or (state in ("PENDING", "CANCELLED") and self.set_running_or_notify_cancel()):
            message = f"the job runs in process {self._pool._pid}, and this process is a child made by os.fork(): "
            self.set_exception(CancelledError(message + "its result does not reach the child"))

    def cancel(self) -> bool:
        if not super().cancel():
            return False
        if self._job_id:
            self._pool._cancel(self._job_id)
        return True


class Pool:
    """A pool of library worker threads running extractions asynchronously.

    ``Pool(threads=0)`` starts ``threads`` native threads (0: one per CPU). ``submit`` returns
    a ``concurrent.futures.Future`` whose result is the image bytes, or whose exception is a
    :class:`vframe.VframeError`; ``future.cancel()`` cancels the job in the library.
    ``close()`` (or leaving a ``with`` block) cancels what has not finished and waits for it;
    pools still open when Python exits are closed then.

    Futures are resolved on the pool's threads: callbacks added with ``add_done_callback``
    run there, and should be quick.
    """

    def __init__(self, threads: int = 0) -> None:
        lib = _native.library()
        # Guards _ptr and _calls: close() frees the pool only once no call is using it.
        self._state = threading.Condition()
        self._calls = 0
        self._ptr: int | None = lib.vframe_pool_new(c_count(threads, "threads", 2**32 - 1))
        self._pid = os.getpid()
        self._closed_by_fork = False
        if not self._ptr:
            status = Status.INVALID_ARGUMENT if threads else Status.INTERNAL
            raise error_for_status(status, f"the library could not start a pool of {threads} threads")
        _open_pools.add(self)

    def submit(
        self,
        source: Source,
        spec: str | None = None,
        *,
        format: str | None = None,
        offset: Number | None = None,
        w: int | str | None = None,
        h: int | str | None = None,
        rotate: None | int | str = None,
        timeout: float | None = None,
        threads: int | None = None,
        max_decoded_frames: int | None = None,
        max_input_pixels: int | None = None,
    ) -> Future[bytes]:
        """Starts one extraction (arguments as :func:`vframe.extract`) and returns its future.

        Every failure the library reports, a bad spec included, comes through the future;
        misuse (a wrong type, a closed pool) raises at once. Bytes given as the source are
        copied by the library: the caller may change them once this returns.
        """
        c_source = CSource(source)
        options = c_options(timeout, threads, max_decoded_frames, max_input_pixels)
        future = _JobFuture(self)
        try:
            spec_bytes = c_string(
                resolve_spec(spec, dict(format=format, offset=offset, w=w, h=h, rotate=rotate)), "spec"
            )
        except InvalidSpecError as e:  # keywords the spec cannot hold: a bad spec, so through the future
            future.set_running_or_notify_cancel()
            future.set_exception(e)
            return future
        lib = _native.library()
        key = next(_keys)
        _pending[key] = future
        job_id = ctypes.c_uint64(0)
        err = _native.err_buf()
        try:
            with self._using("submit") as ptr:
                if c_source.path is not None:
                    lib.vframe_submit(
                        ptr, c_source.path, spec_bytes, options, _on_done_c, key, ctypes.byref(job_id), err, len(err)
                    )
                else:
                    lib.vframe_submit_memory(
                        ptr,
                        c_source.data,
                        c_source.length,
                        spec_bytes,
                        options,
                        _on_done_c,
                        key,
                        ctypes.byref(job_id),
                        err,
                        len(err),
                    )
        except VframeError as e:  # refused at once (a bad spec...): the callback will not run
            _pending.pop(key, None)
            future.set_running_or_notify_cancel()
            future.set_exception(e)
            return future
        except BaseException:
            _pending.pop(key, None)
            raise
        future._job_id = job_id.value
        return future

    @contextlib.contextmanager
    def _using(self, what: str) -> Iterator[int]:
        """The pool's pointer, kept valid (not freed by close()) until the block ends."""
        with self._state:
            if self._closed_by_fork:
                raise ValueError(
                    f"{what} on a vframe.Pool made in process {self._pid} before os.fork(): its threads do not "
                    "exist in this child process, so the pool is closed here; make a new vframe.Pool"
                )
            if self._ptr is None:
                raise ValueError(f"{what} on a closed vframe.Pool")
            self._calls += 1
            ptr = self._ptr
        try:
            yield ptr
        finally:
            with self._state:
                self._calls -= 1
                self._state.notify_all()

    def _cancel(self, job_id: int) -> None:
        try:
            with self._using("cancel") as ptr:
                _native.library().vframe_cancel(ptr, job_id)
        except ValueError:
            pass  # closed: every job has finished already

    def wait(self) -> None:
        """Blocks until every job submitted so far has finished (and its future is resolved)."""
        self._refuse_in_callback("wait")
        with self._using("wait") as ptr:
            _native.library().vframe_pool_wait(ptr)

    def close(self) -> None:
        """Cancels the jobs that have not finished, waits for all, and stops the threads.

        Unfinished jobs' futures get :class:`vframe.CancelledError` (or their result, if they
        finished first). A second call does nothing. If another thread is in ``wait()``,
        this waits for it first.
        """
        self._refuse_in_callback("close")
        with self._state:
            ptr, self._ptr = self._ptr, None
            while self._calls:
                self._state.wait()
        _open_pools.discard(self)
        if ptr is not None:
            _native.library().vframe_pool_free(ptr)

    def _close_after_fork(self) -> None:
        """In a child of ``os.fork()``: the pool's threads are the parent's; close it here."""
        # A thread of the parent may have held the lock at the fork; none is left to release it.
        self._state = threading.Condition()
        self._calls = 0
        ptr, self._ptr = self._ptr, None
        self._closed_by_fork = True
        if ptr is not None:
            _native.library().vframe_pool_free(ptr)  # in a child: releases it, waits for nothing

    def _refuse_in_callback(self, what: str) -> None:
        if getattr(_in_callback, "pool", None) is self:
            raise RuntimeError(f"vframe.Pool.{what}() from a future's done-callback would wait for itself")

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Every pool not yet closed: they are closed at exit, before the interpreter goes away
# (the library's threads must not call into a finalised interpreter).
_open_pools: set[Pool] = set()
_default_pool: Pool | None = None
_default_pool_lock = threading.Lock()


def _close_open_pools() -> None:
    for pool in list(_open_pools):
        pool.close()


atexit.register(_close_open_pools)


def _after_fork_in_child() -> None:
    global _default_pool, _default_pool_lock
    _default_pool_lock = threading.Lock()  # may have been held by a thread of the parent
    _default_pool = None  # extract_async starts a new one on first use
    pools = list(_open_pools)
    _open_pools.clear()
    for pool in pools:
        pool._close_after_fork()
    futures = list(_pending.values())
    _pending.clear()
    for future in futures:
        future._fail_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def default_pool() -> Pool:
    """The pool ``extract_async`` uses: one thread per CPU, started on first use."""
    global _default_pool
    with _default_pool_lock:
        if _default_pool is None or _default_pool.closed:
            _default_pool = Pool()
        return _default_pool


def extract_async(
    source: Source,
    spec: str | None = None,
    *,
    format: str | None = None,
    offset: Number | None = None,
    w: int | str | None = None,
    h: int | str | None = None,
    rotate: None | int | str = None,
    timeout: float | None = None,
    threads: int | None = None,
    max_decoded_frames: int | None = None,
    max_input_pixels: int | None = None,
    pool: Pool | None = None,
) -> Future[bytes]:
    """:func:`vframe.extract` without blocking: returns a ``concurrent.futures.Future`` of the
    image bytes, run on the library's worker pool (``pool``, or one shared pool with a thread
    per CPU). ``future.cancel()`` stops the job in the library."""
    return (pool if pool is not None else default_pool()).submit(
        source,
        spec,
        format=format,
        offset=offset,
        w=w,
        h=h,
        rotate=rotate,
        timeout=timeout,
        threads=threads,
        max_decoded_frames=max_decoded_frames,
        max_input_pixels=max_input_pixels,
    )


async def extract_aio(
    source: Source,
    spec: str | None = None,
    *,
    format: str | None = None,
    offset: Number | None = None,
    w: int | str | None = None,
    h: int | str | None = None,
    rotate: None | int | str = None,
    timeout: float | None = None,
    threads: int | None = None,
    max_decoded_frames: int | None = None,
    max_input_pixels: int | None = None,
    pool: Pool | None = None,
) -> bytes:
    """``await vframe.extract_aio(...)``: :func:`vframe.extract_async` for asyncio. The event
    loop is never blocked; cancelling the awaiting task cancels the job in the library."""
    future = extract_async(
        source,
        spec,
        format=format,
        offset=offset,
        w=w,
        h=h,
        rotate=rotate,
        timeout=timeout,
        threads=threads,
        max_decoded_frames=max_decoded_frames,
        max_input_pixels=max_input_pixels,
        pool=pool,
    )
    return await asyncio.wrap_future(future)
