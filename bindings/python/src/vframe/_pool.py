"""The asynchronous calls: jobs run by the library's own worker pool (``vframe_pool``), each
reported through a ``concurrent.futures.Future`` (or awaited from asyncio).

One C callback, ``_on_done``, serves every job of every pool: it lives as long as the
module, so it is alive whenever the library calls it. Each job's ``user`` pointer is a key
into ``_pending``, which holds the job's future until the callback resolves it. Memory input
is lent to the library (``_buffer``): the same key finds the loan in ``_lent`` when the
library's release callback, ``_on_release``, gives it back.

A pool is bounded: ``threads + max_queued`` jobs at most that have not ended their work.
``submit`` waits for room inside the library (the GIL released); ``submit_nowait`` raises
``BusyError``; asyncio callers wait on the event loop, woken by ``_on_done`` (a job gives
its place back before its callback runs) one at a time, so the loop never blocks.

A pool's threads do not survive ``os.fork()``: in the child, ``_after_fork_in_child`` closes
every pool made before the fork (the library would refuse them anyway), fails the futures
of jobs still unfinished then (they run in the parent), ends their loans, and lets
``extract_async`` start a new default pool on first use.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import ctypes
import itertools
import math
import os
import threading
import weakref
from concurrent.futures import Future
from typing import Any

from . import _native
from ._buffer import LentBuffer
from ._call import MEMORY_TYPES, CSource, NoCopy, Number, Source, c_count, c_options, c_string, resolve_spec
from .errors import (
    BusyError,
    CancelledError,
    InvalidArgumentError,
    InvalidSpecError,
    Status,
    VframeError,
    error_for_status,
)

# Job key -> its future, from just before submission until its callback has run.
_pending: dict[int, _JobFuture] = {}
# Job key -> the memory lent to the library for it, until the library gives it back.
_lent: dict[int, LentBuffer] = {}
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
        if future is not None:
            # The job is over: its future holds its pool no more (a future kept after the
            # pool was dropped does not keep the pool's threads).
            pool, future._pool = future._pool, None
            if pool is not None:
                pool._place_freed()  # the library gave the job's place back before calling this


def _on_release(user: int | None) -> None:
    # Called by the library on one of its threads, before the job's _on_done: it reads the
    # job's memory no more.
    lent = _lent.pop(user or 0, None)
    if lent is not None:
        lent.release()


# The C function pointers every job is submitted with (alive as long as the module).
_on_done_c = _native.DoneFn(_on_done)
_on_release_c = _native.ReleaseFn(_on_release)


def _wake_closed(waiter: asyncio.Future[None]) -> None:
    """Wakes an asyncio caller waiting for room in a pool that closed (it raises CancelledError)."""
    if not waiter.done():
        waiter.set_result(None)


def _wait_ms(queue_timeout: float | None) -> int:
    """``vframe_job.wait_ms`` for a ``queue_timeout`` in seconds (None: as long as it takes)."""
    if queue_timeout is None:
        return _native.WAIT_FOREVER
    if isinstance(queue_timeout, bool) or not isinstance(queue_timeout, (int, float)):
        raise TypeError(f"queue_timeout must be a number of seconds or None, not {type(queue_timeout).__name__}")
    if not 0 <= queue_timeout < math.inf:
        raise InvalidArgumentError(f"queue_timeout={queue_timeout} is out of range (0 or more seconds, or None)")
    return min(2**62, math.ceil(queue_timeout * 1000))  # rounded up: a positive wait never becomes 0


class _Request:
    """One extraction's arguments, checked and converted once: a submit that waits for room
    may try more than once. Memory input is lent last (nothing can fail after it), and the
    loan stays the request's until a job takes it over; ``discard()`` ends it otherwise."""

    def __init__(self, source: Source, spec: str | None, parts: dict[str, Any], limits: tuple[Any, ...]) -> None:
        memory = source if isinstance(source, MEMORY_TYPES) else None
        self.path = None if memory is not None else CSource(source).path  # CSource refuses what is neither
        self.options = c_options(*limits)
        self.spec_error: InvalidSpecError | None = None
        try:
            self.spec = c_string(resolve_spec(spec, parts), "spec")
        except InvalidSpecError as e:  # keywords the spec cannot hold: a bad spec, so through the future
            self.spec, self.spec_error = b"", e
        self.lent = LentBuffer(memory) if memory is not None and self.spec_error is None else None

        # The id of the job the library accepted, written by the library itself (ids start at
        # 1): 0 while no submit of this request has been accepted.
        self.job_id = ctypes.c_uint64(0)

    @property
    def accepted(self) -> bool:
        return self.job_id.value != 0

    def discard(self) -> None:
        """Ends the loan unless the library accepted the job (then its release callback will).

        Whether it did is read from what the library wrote, never from how the submit call
        returned: an exception (a signal's, such as Ctrl-C's ``KeyboardInterrupt``) can be
        raised after the library accepted the job and before Python saw its status."""
        if self.accepted:
            return
        lent, self.lent = self.lent, None
        if lent is not None:
            lent.release()


class _JobFuture(Future):  # type: ignore[type-arg]
    """A job's future: ``cancel()`` also cancels the job in the library."""

    def __init__(self, pool: Pool) -> None:
        super().__init__()
        # The job's pool, held while the job is unfinished: _on_done lets go of it.
        self._pool: Pool | None = pool
        self._pid = pool._pid
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
            message = f"the job runs in process {self._pid}, and this process is a child made by os.fork(): "
            self.set_exception(CancelledError(message + "its result does not reach the child"))

    def cancel(self) -> bool:
        pool = self._pool  # read first: _on_done clears it once the job is over
        if not super().cancel():
            return False
        if self._job_id and pool is not None:
            pool._cancel(self._job_id)
        return True


class Pool(NoCopy):
    """A pool of library worker threads running extractions asynchronously.

    ``Pool(threads=0, max_queued=None)`` starts ``threads`` native threads (0: one per CPU)
    and bounds the pool at ``threads + max_queued`` jobs that have not ended their work
    (``max_queued`` None or 0: 4 per thread): with every thread busy, ``max_queued`` jobs wait
    in the queue. ``submit`` returns a ``concurrent.futures.Future`` whose result is the image
    bytes, or whose exception is a :class:`vframe.VframeError`, and waits for room while the
    pool is full; ``submit_nowait`` raises :class:`vframe.BusyError` instead.
    ``future.cancel()`` cancels the job in the library. ``close()`` (or leaving a ``with``
    block) cancels what has not finished and waits for it; pools still open when Python exits
    are closed then, and from then on no pool starts (``RuntimeError``). A pool nobody holds
    any more is freed, its threads stopped, when it is garbage-collected, as a
    :class:`vframe.Source` is; until its jobs have ended their futures hold it (and their
    input stays lent), so dropping a pool never cuts a job short. A pool cannot be copied or
    pickled (``TypeError``).

    Memory input is read in place where nobody can change it: ``bytes`` (or a ``memoryview``
    of ``bytes``) is lent to the library, kept alive until the job's extraction ends, so any
    number of jobs share one buffer. Any other buffer (``bytearray``, ``mmap``, a view of one,
    read-only or not) is copied once per job at submission, so the caller may change (or
    close) it as soon as ``submit`` returns. A job the library accepted keeps its loan
    whatever happens in Python meanwhile: a Ctrl-C that interrupts ``submit`` just as the
    library accepts the job raises ``KeyboardInterrupt`` and cancels the job (its future never
    reached the caller), which gives the loan back when it ends.

    Futures are resolved on the pool's threads: callbacks added with ``add_done_callback``
    run there, and should be quick. A submit from such a callback never waits for room.
    """

    # The library's pool is this object's alone: a copy would free it a second time.
    _no_copy = (
        "a vframe.Pool owns the library's worker threads and its jobs: it cannot be copied or pickled; "
        "make another vframe.Pool instead"
    )

    def __init__(self, threads: int = 0, max_queued: int | None = None) -> None:
        lib = _native.library()
        _native.free_dropped_pools()
        # A Ctrl-C's KeyboardInterrupt can be raised between any two calls in Python code, and
        # as any Python function starts: each step below is either one call that cannot be cut
        # in two, or safe to repeat. ``_lock`` is a C lock, whose ``with`` an exception cannot
        # split (``threading.Condition``'s own ``__enter__``/``__exit__`` are Python functions).
        # It guards _closing and _calls; ``_idle`` is notified as the last call ends.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        # One token per call using the pool's pointer (close() frees it only once none is):
        # adding and discarding one are single calls, and discarding twice is harmless.
        self._calls: set[object] = set()
        self._closing = False
        # Serialises close(): the second of two runs finishes what the first began.
        self._closer = threading.Lock()
        # asyncio callers waiting for room, woken one per place given back (_place_freed);
        # _places_freed counts those events, so a waiter sees one it would otherwise miss.
        self._room = threading.Lock()
        self._places_freed = 0
        self._room_waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = (
            collections.deque()
        )
        self._pid = os.getpid()
        self._closed_by_fork = False
        # The library's pool, until it is freed: by close(), or with this object when it is
        # dropped unclosed (no job of it is unfinished then: each one's future, which _pending
        # holds until the job is done, holds its pool).
        self._owner: _native.PoolPointer = lib.vframe_pool_new_with(
            c_count(threads, "threads", 2**32 - 1), c_count(max_queued, "max_queued", 2**32 - 1)
        )
        self._owner.track()
        if not self._owner.value:
            status = Status.INVALID_ARGUMENT if threads else Status.INTERNAL
            raise error_for_status(status, f"the library could not start a pool of {threads} threads")
        with _open_pools_lock:
            if not _exiting:
                _open_pools.add(self)
                return
        # Python is exiting and the open pools were closed: nothing would close this one, and
        # its threads would call back into a finalised interpreter.
        self._closing = True
        self._owner.free()
        raise RuntimeError(_EXITING)

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
        queue_timeout: float | None = None,
    ) -> Future[bytes]:
        """Starts one extraction (arguments as :func:`vframe.extract`) and returns its future.

        When the pool is full it waits for room, with the GIL released: up to
        ``queue_timeout`` seconds (None: as long as it takes), then raises
        :class:`vframe.BusyError`. If the pool is closed meanwhile it raises
        :class:`vframe.CancelledError`. Every other failure the library reports, a bad spec
        included, comes through the future (at once, without waiting for room); misuse (a
        wrong type, a closed pool) raises at once. ``timeout`` is the extraction's own limit.
        """
        request = _Request(
            source,
            spec,
            dict(format=format, offset=offset, w=w, h=h, rotate=rotate),
            (timeout, threads, max_decoded_frames, max_input_pixels),
        )
        try:
            return self._submit(request, _wait_ms(queue_timeout))
        finally:
            request.discard()  # refused: the loan ends (accepted: the job holds it, nothing to do)

    def submit_nowait(
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
        """:meth:`submit` that never waits: a full pool raises :class:`vframe.BusyError` at once."""
        request = _Request(
            source,
            spec,
            dict(format=format, offset=offset, w=w, h=h, rotate=rotate),
            (timeout, threads, max_decoded_frames, max_input_pixels),
        )
        try:
            return self._submit(request, 0)
        finally:
            request.discard()

    async def _submit_aio(self, request: _Request) -> Future[bytes]:
        """:meth:`submit` for asyncio: waits for room on the event loop, never blocking it.
        Cancelling the awaiting task stops the wait; nothing is left queued."""
        loop = asyncio.get_running_loop()
        waited = False
        while True:
            if waited and self.closed:
                raise CancelledError("the vframe.Pool was closed while this call waited for room")
            with self._room:
                seen = self._places_freed
            try:
                return self._submit(request, 0)
            except BusyError:
                pass
            waiter: asyncio.Future[None] = loop.create_future()
            with self._room:
                if self._places_freed != seen:
                    continue  # a place was given back meanwhile: try again
                self._room_waiters.append((loop, waiter))
            waited = True
            try:
                await waiter
            except BaseException:
                with self._room:
                    try:
                        self._room_waiters.remove((loop, waiter))
                    except ValueError:  # a wake was on its way to this waiter: pass it on
                        if waiter.done() and not waiter.cancelled():
                            self._place_freed()
                raise

    def _place_freed(self) -> None:
        """A job gave its place back (on a pool thread, from _on_done): wake one asyncio waiter."""
        with self._room:
            self._places_freed += 1
            while self._room_waiters:
                loop, waiter = self._room_waiters.popleft()
                try:
                    loop.call_soon_threadsafe(self._wake, waiter)
                    return
                except RuntimeError:  # its loop is closed: the next one
                    continue

    def _wake(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():  # its task was cancelled meanwhile: the place is someone else's
            self._place_freed()
        else:
            waiter.set_result(None)

    def _wake_all_room_waiters(self) -> None:
        with self._room:
            waiters = list(self._room_waiters)
            self._room_waiters.clear()
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop has no task left to wake
                loop.call_soon_threadsafe(_wake_closed, waiter)

    def _submit(self, request: _Request, wait_ms: int) -> Future[bytes]:
        """Submits ``request`` (waiting for room as ``wait_ms`` allows): its future, or
        BusyError / CancelledError when the library did not accept it (the request keeps its
        loan then).

        The job is registered (its future in ``_pending``, its loan in ``_lent``) before the
        call, and unregistered only if the library did not accept it, as ``request.job_id``
        (written by the library on acceptance) says: an exception raised after the library
        accepted the job (Ctrl-C's ``KeyboardInterrupt``, raised when the call returns) must
        leave the job its loan and its future, which the library's callbacks end."""
        future = _JobFuture(self)
        if request.spec_error is not None:
            future._pool = None  # no job: the future holds no pool
            future.set_running_or_notify_cancel()
            future.set_exception(request.spec_error)
            return future
        lib = _native.library()
        key = next(_keys)
        job = _native.Job(spec=request.spec, opts=request.options, done=_on_done_c, user=key, wait_ms=wait_ms)
        job_id = request.job_id
        err = _native.err_buf()
        try:
            lent = request.lent
            if lent is not None:
                job.data, job.len, job.release, job.release_user = lent.address, lent.length, _on_release_c, key
                _lent[key] = lent
            else:
                job.input_path = request.path
            _pending[key] = future
            self._call("submit", lib.vframe_submit_job, ctypes.byref(job), ctypes.byref(job_id), err, len(err))
        except BaseException as e:
            if job_id.value:
                # Accepted, then interrupted: the job is the library's (and so is its loan),
                # but its future never reaches the caller, who cannot wait for it or cancel
                # it: cancel it here. Its callbacks end the loan and resolve the future.
                future._job_id = job_id.value
                with contextlib.suppress(Exception):
                    future.cancel()
                raise
            # Refused (or never submitted): the library calls neither callback.
            _pending.pop(key, None)
            _lent.pop(key, None)
            if not isinstance(e, VframeError) or isinstance(e, (BusyError, CancelledError)):
                raise  # no room, closed while waiting for it, or not the library's (a signal)
            # The future holds no pool: neither through _pool nor through the traceback, whose
            # frames (this one, _call's) hold it.
            future._pool = None
            future.set_running_or_notify_cancel()
            future.set_exception(e.with_traceback(None))
            return future
        request.lent = None  # the job's now, until the library's release callback
        future._job_id = job_id.value
        return future

    def _call(self, what: str, function: Any, *args: Any) -> Any:
        """``function(pool, *args)``, the pool kept valid (not freed by close()) until it
        returns. The call's token is in ``_calls`` from inside the ``try`` until the
        ``finally``'s first call discards it: no exception can come between the two."""
        token = object()
        try:
            with self._lock:
                if self._closed_by_fork:
                    raise ValueError(
                        f"{what} on a vframe.Pool made in process {self._pid} before os.fork(): its threads do not "
                        "exist in this child process, so the pool is closed here; make a new vframe.Pool"
                    )
                if self._closing:
                    raise ValueError(f"{what} on a closed vframe.Pool")
                self._calls.add(token)
            return function(self._owner.value, *args)
        finally:
            self._calls.discard(token)
            if not self._calls and self._closing:
                with self._lock:
                    self._idle.notify_all()

    def _cancel(self, job_id: int) -> None:
        try:
            self._call("cancel", _native.library().vframe_cancel, job_id)
        except ValueError:
            pass  # closed: every job has finished already

    def wait(self) -> None:
        """Blocks until no job is unfinished (each future resolved): those submitted before the
        call and any submitted while it waits, e.g. from a future's callback."""
        self._refuse_in_callback("wait")
        self._call("wait", _native.library().vframe_pool_wait)

    def close(self) -> None:
        """Cancels the jobs that have not finished, waits for all, and stops the threads.

        Unfinished jobs' futures get :class:`vframe.CancelledError` (or their result, if they
        finished first), and so do the submits waiting for room, in threads or in asyncio. A
        second call does nothing, unless the first was interrupted (Ctrl-C): then it finishes
        the job. If another thread is in ``wait()``, this waits for it first.
        """
        self._refuse_in_callback("close")
        # Each step is safe to repeat: a close() interrupted anywhere leaves the pool for the
        # next one (or the one at exit: the pool stays in _open_pools until it is freed).
        with self._closer:
            with self._lock:
                self._closing = True  # no call starts from now on
            ptr = self._owner.value
            if ptr:
                # Cancels the unfinished jobs and wakes the submits waiting for room in the
                # library (they raise CancelledError), so that the calls below end. A second
                # vframe_pool_close changes nothing.
                _native.library().vframe_pool_close(ptr)
            self._wake_all_room_waiters()
            with self._lock:
                while self._calls:
                    # The timeout: a notify lost to an interrupted call costs a moment, no more.
                    self._idle.wait(0.05)
            self._owner.free()
            _open_pools.discard(self)

    def _close_after_fork(self) -> None:
        """In a child of ``os.fork()``: the pool's threads are the parent's; close it here."""
        # A thread of the parent may have held the locks at the fork; none is left to release them.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._closer = threading.Lock()
        self._calls = set()
        self._room = threading.Lock()
        self._room_waiters.clear()
        self._closing = True
        self._closed_by_fork = True
        self._owner.free()  # in a child: releases it, waits for nothing

    def _refuse_in_callback(self, what: str) -> None:
        if getattr(_in_callback, "pool", None) is self:
            raise RuntimeError(f"vframe.Pool.{what}() from a future's done-callback would wait for itself")

    @property
    def closed(self) -> bool:
        return self._closing

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_EXITING = (
    "vframe: the interpreter is shutting down: the pools were closed at exit and no new one is started "
    "(a thread still running then cannot use extract_async, extract_aio or vframe.Pool)"
)

# Every pool not yet closed: they are closed at exit, before the interpreter goes away
# (the library's threads must not call into a finalised interpreter). Once that has begun
# (_exiting), no pool is started any more: a daemon thread calling extract_async then gets
# RuntimeError rather than a pool that nothing would close. Weak: a pool nobody holds any
# more is freed then (with its _owner), as a vframe.Source is.
_open_pools: weakref.WeakSet[Pool] = weakref.WeakSet()
_open_pools_lock = threading.Lock()
_exiting = False
_default_pool: Pool | None = None
_default_pool_lock = threading.Lock()


def _close_open_pools() -> None:
    global _exiting
    with _open_pools_lock:
        _exiting = True
        pools = list(_open_pools)
    for pool in pools:
        pool.close()
    _native.free_dropped_pools()


atexit.register(_close_open_pools)


def _after_fork_in_child() -> None:
    global _default_pool, _default_pool_lock, _open_pools_lock
    _default_pool_lock = threading.Lock()  # may have been held by a thread of the parent
    _open_pools_lock = threading.Lock()
    _default_pool = None  # extract_async starts a new one on first use
    pools = list(_open_pools)
    _open_pools.clear()
    for pool in pools:
        pool._close_after_fork()
    futures = list(_pending.values())
    _pending.clear()
    for future in futures:
        future._fail_after_fork()
    loans = list(_lent.values())  # the parent's jobs read them, not the child's
    _lent.clear()
    for lent in loans:
        lent.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def default_pool() -> Pool:
    """The pool ``extract_async`` uses: one thread per CPU, started on first use. Once
    Python is exiting (the pools were closed at exit) it raises RuntimeError."""
    global _default_pool
    with _default_pool_lock:
        if _exiting:
            raise RuntimeError(_EXITING)
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
    queue_timeout: float | None = None,
) -> Future[bytes]:
    """:func:`vframe.extract` without waiting for the result: returns a
    ``concurrent.futures.Future`` of the image bytes, run on the library's worker pool
    (``pool``, or one shared pool with a thread per CPU). ``future.cancel()`` stops the job in
    the library. When the pool is full this waits for room, as :meth:`vframe.Pool.submit`
    (``queue_timeout``)."""
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
        queue_timeout=queue_timeout,
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
    loop is never blocked: when the pool is full the call waits for room on the loop.
    Cancelling the awaiting task stops that wait (nothing is left queued), or cancels the job
    in the library once it is submitted. A pool closed while the call waits for room raises
    :class:`vframe.CancelledError`."""
    target = pool if pool is not None else default_pool()
    request = _Request(
        source,
        spec,
        dict(format=format, offset=offset, w=w, h=h, rotate=rotate),
        (timeout, threads, max_decoded_frames, max_input_pixels),
    )
    try:
        future = await target._submit_aio(request)
    finally:
        request.discard()
    return await asyncio.wrap_future(future)
