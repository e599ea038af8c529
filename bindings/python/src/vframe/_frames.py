"""Many frames of one video in one pass: ``vframe.sample`` (Qiniu's vsample) and
``vframe.storyboard`` (sprite sheets with a WebVTT and JSON index), over
``vframe_sample*`` / ``vframe_storyboard*`` of the C library.

The ctypes declarations of those symbols live here (not in ``_native``) so that this
feature stays in one file; they are added to the library object the first time it is used.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import sys
import threading
from ctypes import CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int, c_size_t, c_uint64, c_void_p
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from . import _native
from ._call import CSource, Source, c_options, c_spec
from .errors import CancelledError, Status, error_for_status


class _Frame(Structure):
    _fields_ = [
        ("image", _native.Image),
        ("offset_ms", c_uint64),
        ("time", c_double),
        ("index", c_uint64),
        ("key", c_char_p),
    ]


class _Frames(Structure):
    _fields_ = [("frames", POINTER(_Frame)), ("count", c_size_t)]


class _Sheet(Structure):
    _fields_ = [
        ("image", _native.Image),
        ("name", c_char_p),
        ("first_tile", c_uint64),
        ("tile_count", c_uint64),
    ]


class _Sheets(Structure):
    _fields_ = [
        ("sheets", POINTER(_Sheet)),
        ("count", c_size_t),
        ("vtt", ctypes.POINTER(ctypes.c_char)),
        ("vtt_len", c_size_t),
        ("json", ctypes.POINTER(ctypes.c_char)),
        ("json_len", c_size_t),
    ]


_FrameFn = CFUNCTYPE(c_int, POINTER(_Frame), c_void_p)
_SheetFn = CFUNCTYPE(c_int, POINTER(_Sheet), c_void_p)
_status = _native.c_status
_opts = POINTER(_native.Options)

_PROTOTYPES: list[tuple[str, list[Any]]] = [
    ("vframe_sample", [c_char_p, c_char_p, _opts, POINTER(_Frames), c_char_p, c_size_t]),
    ("vframe_sample_memory", [c_void_p, c_size_t, c_char_p, _opts, POINTER(_Frames), c_char_p, c_size_t]),
    ("vframe_sample_each", [c_char_p, c_char_p, _opts, _FrameFn, c_void_p, c_char_p, c_size_t]),
    ("vframe_sample_each_memory", [c_void_p, c_size_t, c_char_p, _opts, _FrameFn, c_void_p, c_char_p, c_size_t]),
    ("vframe_storyboard", [c_char_p, c_char_p, _opts, POINTER(_Sheets), c_char_p, c_size_t]),
    ("vframe_storyboard_memory", [c_void_p, c_size_t, c_char_p, _opts, POINTER(_Sheets), c_char_p, c_size_t]),
]

_declared = False
_declare_lock = threading.Lock()


def _library() -> ctypes.CDLL:
    global _declared
    lib = _native.library()
    if not _declared:
        with _declare_lock:
            if not _declared:
                for name, argtypes in _PROTOTYPES:
                    func = getattr(lib, name)
                    func.argtypes = argtypes
                    func.restype = _status
                for name, argtypes in (
                    ("vframe_frames_free", [POINTER(_Frames)]),
                    ("vframe_sheets_free", [POINTER(_Sheets)]),
                ):
                    func = getattr(lib, name)
                    func.argtypes = argtypes
                    func.restype = None
                _declared = True
    return lib


@dataclass(frozen=True)
class Frame:
    """One frame of a sample: ``vframe.extract(video, "vframe/<fmt>/offset/<offset>/...")``
    gives the same ``image``."""

    image: bytes
    #: The moment sampled, in seconds (``offset_ms / 1000``).
    offset: float
    offset_ms: int
    #: The frame's own presentation time, in seconds from the stream's first frame.
    time: float
    index: int
    #: The name the spec's pattern gives it (``$(count)`` = ``000001``...), or None: an object
    #: key as the pattern writes it (``/`` and ``..`` included), not a checked file name.
    key: str | None


@dataclass(frozen=True)
class Sheet:
    """One sheet of a storyboard: its name (as the index refers to it) and image bytes."""

    name: str
    image: bytes
    width: int
    height: int
    first_tile: int
    tile_count: int


@dataclass(frozen=True)
class Storyboard:
    """A storyboard: its sheets, the WebVTT index (cues ``<sheet>#xywh=x,y,w,h``) and the
    JSON index (as text; ``.index`` parses it)."""

    sheets: list[Sheet]
    vtt: str
    json: str

    @property
    def index(self) -> Any:
        return json.loads(self.json)


def _take_frame(frame: _Frame) -> Frame:
    data = ctypes.string_at(frame.image.data, frame.image.len) if frame.image.len else b""
    key = frame.key.decode("utf-8") if frame.key is not None else None
    return Frame(data, frame.offset_ms / 1000, frame.offset_ms, frame.time, frame.index, key)


def _take_sheet(sheet: _Sheet) -> Sheet:
    data = ctypes.string_at(sheet.image.data, sheet.image.len) if sheet.image.len else b""
    name = sheet.name.decode("utf-8") if sheet.name is not None else ""
    return Sheet(name, data, sheet.image.width, sheet.image.height, sheet.first_tile, sheet.tile_count)


def _check(status: int, err: ctypes.Array, raised: list[BaseException]) -> None:  # type: ignore[type-arg]
    if raised:
        raise raised[0]
    if status != 0:
        message = err.value.decode("utf-8", "replace")
        raise error_for_status(status, message or _native.status_text(status))


def sample(
    source: Source,
    spec: str,
    *,
    on_frame: Callable[[Frame], object] | None = None,
    timeout: float | None = None,
    threads: int | None = None,
    max_decoded_frames: int | None = None,
    max_input_pixels: int | None = None,
) -> list[Frame]:
    """Every frame of a Qiniu ``vsample`` spec of the video ``source`` (a path or the
    video's bytes), in one pass, in time order, e.g.
    ``vframe.sample("movie.mp4", "vsample/jpg/interval/10/s/320x")``.

    With ``on_frame``, each frame is handed to it as soon as it is made and nothing is kept
    (the list returned is empty): memory stays bounded whatever the video's length. An
    exception raised by ``on_frame`` stops the sample and is raised again here, and so is one
    raised between frames by a signal handler (Ctrl-C's ``KeyboardInterrupt``).
    ``timeout`` bounds the whole call (seconds; ``0``: none; default 60).
    """
    spec_bytes = c_spec(spec)
    c_source = CSource(source)
    options = c_options(timeout, threads, max_decoded_frames, max_input_pixels)
    lib = _library()
    err = _native.err_buf()
    raised: list[BaseException] = []
    if on_frame is None:
        frames = _Frames()
        out, free = ctypes.byref(frames), lib.vframe_frames_free  # owned as _native says
        try:
            if c_source.path is not None:
                status = lib.vframe_sample(c_source.path, spec_bytes, options, out, err, len(err))
            else:
                status = lib.vframe_sample_memory(
                    c_source.data, c_source.length, spec_bytes, options, out, err, len(err)
                )
            _check(status, err, raised)
            return [_take_frame(frames.frames[i]) for i in range(frames.count)]
        finally:
            free(out)

    stopped: list[bool] = []

    def each(frame: Any, _user: Any) -> int:
        if raised:  # an earlier call's exception escaped this function (see _Escapes): stop
            return 1
        try:
            on_frame(_take_frame(frame.contents))
        except BaseException as e:  # handed back to the caller after the C call returns
            raised.append(e)
            stopped.append(True)
            return 1
        return 0

    callback = _FrameFn(each)
    with _escapes.recording(each, raised):
        if c_source.path is not None:
            status = lib.vframe_sample_each(c_source.path, spec_bytes, options, callback, None, err, len(err))
        else:
            status = lib.vframe_sample_each_memory(
                c_source.data, c_source.length, spec_bytes, options, callback, None, err, len(err)
            )
    if not raised and not stopped and status == Status.CANCELLED:
        raise CancelledError(
            "the on_frame callback was interrupted by an exception that escaped it (a signal such as Ctrl-C "
            "arriving between frames?); it went to sys.unraisablehook"
        )
    _check(status, err, raised)
    return []


class _Escapes:
    """Records an exception that escapes a ctypes callback, for the call that made it.

    A signal's exception (Ctrl-C's ``KeyboardInterrupt``) is raised in whatever Python code
    runs next, which may be the very first line of the callback, before any ``try`` in it.
    ctypes then hands it to ``sys.unraisablehook`` (and returns garbage to C). While a call
    is recording, the hook here takes such an exception from its callback into the call's
    ``raised`` list (the callback stops at its next frame), and passes every other one on.
    The hook is installed only while some call records, and put back after the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[int, tuple[Callable[..., Any], list[BaseException]]] = {}
        self._previous: Callable[[Any], object] | None = None

    @contextlib.contextmanager
    def recording(self, callback: Callable[..., Any], raised: list[BaseException]) -> Iterator[None]:
        with self._lock:
            if not self._calls:
                self._previous = sys.unraisablehook
                sys.unraisablehook = self._hook
            self._calls[id(callback)] = (callback, raised)
        try:
            yield
        finally:
            with self._lock:
                del self._calls[id(callback)]
                if not self._calls and sys.unraisablehook == self._hook:
                    sys.unraisablehook = self._previous or sys.__unraisablehook__
                    self._previous = None

    def _hook(self, unraisable: Any) -> None:
        call = self._calls.get(id(unraisable.object))
        if call is not None and call[0] is unraisable.object and unraisable.exc_value is not None:
            call[1].append(unraisable.exc_value)
            return
        (self._previous or sys.__unraisablehook__)(unraisable)


_escapes = _Escapes()


def storyboard(
    source: Source,
    spec: str,
    *,
    timeout: float | None = None,
    threads: int | None = None,
    max_decoded_frames: int | None = None,
    max_input_pixels: int | None = None,
) -> Storyboard:
    """A storyboard of the video ``source``: e.g.
    ``vframe.storyboard("movie.mp4", "storyboard/jpg/interval/10/s/160x/columns/10/rows/10")``
    gives its sheets with their names, the WebVTT index and the JSON index."""
    spec_bytes = c_spec(spec)
    c_source = CSource(source)
    options = c_options(timeout, threads, max_decoded_frames, max_input_pixels)
    lib = _library()
    err = _native.err_buf()
    sheets = _Sheets()
    out, free = ctypes.byref(sheets), lib.vframe_sheets_free  # owned as _native says
    try:
        if c_source.path is not None:
            status = lib.vframe_storyboard(c_source.path, spec_bytes, options, out, err, len(err))
        else:
            status = lib.vframe_storyboard_memory(
                c_source.data, c_source.length, spec_bytes, options, out, err, len(err)
            )
        _check(status, err, [])
        taken = [_take_sheet(sheets.sheets[i]) for i in range(sheets.count)]
        vtt = ctypes.string_at(sheets.vtt, sheets.vtt_len).decode("utf-8")
        index = ctypes.string_at(sheets.json, sheets.json_len).decode("utf-8")
        return Storyboard(taken, vtt, index)
    finally:
        free(out)
