"""A video opened once for many extractions: ``vframe.open`` and ``vframe.Source``
(the C ``vframe_source``).

After ``os.fork()`` a source works in the child (the library opens its input again there),
except one that a thread was using at the fork: that thread does not exist in the child,
and the call it was in stays unfinished, so ``_after_fork_in_child`` gives such a source up
there (its calls raise ``ValueError`` saying why; closing it does nothing).
"""

from __future__ import annotations

import ctypes
import os
import threading
import weakref
from types import TracebackType

from . import _native
from ._call import CSource, NoCopy, Number, c_options, c_string, resolve_spec
from ._call import Source as Video

# Every library source a Source holds and has not closed; the next source opened closes
# those whose Source was dropped without closing.
_unclosed: _native.Unended[int] = _native.Unended(lambda: _native.library().vframe_source_close)


class Source(NoCopy):
    """A video opened and probed once; each :meth:`extract` gives exactly the image
    :func:`vframe.extract` gives (except on the few files the README lists as known to
    differ), without opening the file again. Offsets may come in any
    order; in time order, those in one GOP are reached by decoding on.

    Made by :func:`vframe.open`. Use it in a ``with`` block, or call :meth:`close` (also
    done when it is garbage-collected). The limits given at open apply to every call, each
    call getting the whole ``timeout``. Any thread may use a source: calls on one source run
    one at a time (open one per thread for parallel work); the GIL is released meanwhile.
    A source cannot be copied or pickled (``TypeError``): open the video again instead.
    """

    # The native source is this object's alone: a copy would close it a second time.
    _no_copy = (
        "a vframe.Source owns an open input: it cannot be copied or pickled; open another one instead "
        "(vframe.open with the same video)"
    )

    def __init__(
        self,
        video: Video,
        *,
        timeout: float | None = None,
        threads: int | None = None,
        max_decoded_frames: int | None = None,
        max_input_pixels: int | None = None,
    ) -> None:
        self._handle: int | None = None
        self._serial = 0  # its key in _unclosed (0: none)
        self._why_closed = "the source is closed"
        _unclosed.end_dropped()
        # Held during every call and by close: a source is never closed under a call.
        self._lock = threading.Lock()
        c_video = CSource(video)
        options = c_options(timeout, threads, max_decoded_frames, max_input_pixels)
        lib = _native.library()
        handle = ctypes.c_void_p()
        err = _native.err_buf()
        out, close = ctypes.byref(handle), lib.vframe_source_close  # owned as _native says
        try:
            if c_video.path is not None:
                lib.vframe_source_open(c_video.path, options, out, err, len(err))
            else:
                # The library copies the bytes: the caller's buffer is free again on return.
                lib.vframe_source_open_memory(c_video.data, c_video.length, options, out, err, len(err))
            self._handle = handle.value
            _unclosed.add(self, handle.value or 0)
            _open_sources.add(self)
        finally:
            if self._handle is None and handle.value:  # opened, then interrupted (Ctrl-C)
                close(handle)

    def extract(
        self,
        spec: str | None = None,
        *,
        format: str | None = None,
        offset: Number | None = None,
        w: int | str | None = None,
        h: int | str | None = None,
        rotate: None | int | str = None,
    ) -> bytes:
        """The thumbnail ``spec`` names (or its parts as keywords, as :func:`vframe.extract`
        takes them), as JPEG or PNG bytes. A failure raises a :class:`vframe.VframeError`
        and leaves the source usable."""
        spec_bytes = c_string(resolve_spec(spec, dict(format=format, offset=offset, w=w, h=h, rotate=rotate)), "spec")
        lib = _native.library()
        err = _native.err_buf()
        image = _native.Image()
        out, free = ctypes.byref(image), lib.vframe_image_free  # owned as _native says
        try:
            with self._lock:
                lib.vframe_source_extract(self._open_handle(), spec_bytes, out, err, len(err))
            return _native.image_bytes(image)
        finally:
            free(out)

    def close(self) -> None:
        """Releases the source (waiting for a call in progress); closing twice is fine."""
        with self._lock:  # a C lock: its ``with`` cannot be split by an exception
            handle = self._handle
            if handle is None:
                return
            close = _native.library().vframe_source_close
            # The handle stays until the library has closed it: an exception (Ctrl-C's) raised
            # before the call leaves it for the next close() (or __del__); one raised as the
            # call returns still runs the finally, with no call before it.
            try:
                close(handle)
            finally:
                self._handle = None
                _unclosed.entries.pop(self._serial, None)

    @property
    def closed(self) -> bool:
        return self._handle is None

    def _open_handle(self) -> int:
        if self._handle is None:
            raise ValueError(self._why_closed)
        return self._handle

    def _give_up_after_fork(self) -> None:
        """In a child of ``fork()``, for a source a thread of the parent was using: the
        call it was in never ends here, so the library's source is left as it is."""
        self._lock = threading.Lock()
        self._handle = None
        _unclosed.entries.pop(self._serial, None)  # left as it is (see the module's docstring)
        self._why_closed = (
            "the source was in use by another thread when the process forked: open the video again in this process"
        )

    def __enter__(self) -> Source:
        self._open_handle()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A source that failed to open has no handle; one never closed is closed here.
        if getattr(self, "_handle", None) is not None:
            self.close()

    def __repr__(self) -> str:
        return f"<vframe.Source {'closed' if self.closed else 'open'}>"


def open(
    video: Video,
    *,
    timeout: float | None = None,
    threads: int | None = None,
    max_decoded_frames: int | None = None,
    max_input_pixels: int | None = None,
) -> Source:
    """Opens a video (a file path, or the bytes of a whole file, which are copied) for many
    extractions::

        with vframe.open("movie.mp4") as video:
            poster = video.extract("vframe/jpg/offset/0/w/640")
            previews = [video.extract(format="jpg", offset=t, w=160) for t in (10, 20, 30)]

    Limits as for :func:`vframe.extract`; they apply to every call on the source. A video
    that cannot be opened raises the same :class:`vframe.VframeError` as ``extract`` would.
    """
    return Source(
        video,
        timeout=timeout,
        threads=threads,
        max_decoded_frames=max_decoded_frames,
        max_input_pixels=max_input_pixels,
    )


_open_sources: weakref.WeakSet[Source] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for source in list(_open_sources):
        if source._lock.locked():  # held by a thread that stayed in the parent
            source._give_up_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
