"""The synchronous call: one video, one spec, one image back."""

from __future__ import annotations

import ctypes
import os
from typing import Iterable

from . import _native
from ._call import CSource, Number, Source, c_options, c_string, resolve_spec
from .errors import Status, VframeError, error_for_status


def extract(
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
) -> bytes:
    """Returns the frame of the video ``source`` at the moment ``spec`` names, as JPEG or PNG bytes.

    ``source`` is a file path (``str`` or ``os.PathLike``) or the bytes of a whole video file
    (``bytes``, ``bytearray``, ``memoryview``, ``mmap.mmap``). ``spec`` is a Qiniu vframe string such as
    ``"vframe/jpg/offset/7.5/w/480"``; instead of it, give its parts as keywords:
    ``format="jpg", offset=7.5, w=480, h=None, rotate="auto"``.

    Limits (``None`` keeps the library's safe default): ``timeout`` in seconds (``0``: none;
    default 60), decoder ``threads`` (default: automatic), ``max_decoded_frames`` and
    ``max_input_pixels``.

    Raises a :class:`vframe.VframeError` subclass with the library's message on failure.
    The GIL is released while the library works, so calls from many threads run in parallel.
    A Ctrl-C while the library works is raised (``KeyboardInterrupt``) when it returns, and
    the image it made is freed.
    """
    spec_bytes = c_string(resolve_spec(spec, dict(format=format, offset=offset, w=w, h=h, rotate=rotate)), "spec")
    c_source = CSource(source)
    options = c_options(timeout, threads, max_decoded_frames, max_input_pixels)
    lib = _native.library()
    err = _native.err_buf()
    image = _native.Image()
    out, free = ctypes.byref(image), lib.vframe_image_free  # owned as _native says
    try:
        if c_source.path is not None:
            lib.vframe_extract_opts(c_source.path, spec_bytes, options, out, err, len(err))
        else:
            lib.vframe_extract_memory_opts(c_source.data, c_source.length, spec_bytes, options, out, err, len(err))
        return _native.image_bytes(image)
    finally:
        free(out)


def extract_many(
    path: str | os.PathLike[str],
    specs: Iterable[str],
    *,
    return_exceptions: bool = False,
    timeout: float | None = None,
    threads: int | None = None,
    max_decoded_frames: int | None = None,
    max_input_pixels: int | None = None,
) -> list[bytes | VframeError]:
    """Many thumbnails of one video file in one call, one per spec, in the order given.

    Cheaper than one :func:`extract` per spec: the file is opened once and the offsets are
    visited in time order, decoding on instead of seeking within a GOP. ``specs`` is a list
    (any iterable) of spec strings, never one string (``TypeError``). ``timeout`` bounds the
    whole call. A bad spec (malformed, or holding a NUL) fails alone; a path the library
    cannot use or open fails every spec. The first failing spec raises its
    :class:`vframe.VframeError`; with ``return_exceptions=True`` failures are returned in
    the list instead (as :func:`asyncio.gather` does), each with its own message.
    """
    if isinstance(specs, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"specs must be a list of spec strings, not one {type(specs).__name__}")
    try:
        spec_list = list(specs)
    except TypeError:
        raise TypeError(f"specs must be a list of spec strings, not {type(specs).__name__}") from None
    for i, spec in enumerate(spec_list):
        if not isinstance(spec, str):
            raise TypeError(f"specs[{i}] must be a spec str, not {type(spec).__name__}")
    path_bytes = CSource(os.fspath(path)).path
    if path_bytes is None:
        raise TypeError("extract_many takes a file path")
    options = c_options(timeout, threads, max_decoded_frames, max_input_pixels)
    results: list[bytes | VframeError | None] = [None] * len(spec_list)
    # A NUL would cut a spec short in C: that spec fails alone, the others are sent.
    sent: list[int] = []
    encoded: list[bytes] = []
    for i, spec in enumerate(spec_list):
        try:
            encoded.append(c_string(spec, f"specs[{i}]"))
            sent.append(i)
        except VframeError as e:
            results[i] = e
    if encoded:
        count = len(encoded)
        c_specs = (ctypes.c_char_p * count)(*encoded)
        images = (_native.Image * count)()
        statuses = (_native.c_status * count)()
        # Each spec's own message, one buffer after the other.
        errs, err_len = ctypes.create_string_buffer(count * _native.SPEC_ERR_LEN), _native.SPEC_ERR_LEN
        lib = _native.library()
        outs, free = [ctypes.byref(image) for image in images], lib.vframe_image_free  # owned as _native says
        try:
            lib.vframe_extract_many_errs(path_bytes, c_specs, count, options, images, statuses, errs, err_len)
            for j, i in enumerate(sent):
                if statuses[j] == 0:
                    results[i] = _native.image_bytes(images[j])
                else:
                    message = ctypes.string_at(ctypes.addressof(errs) + j * err_len)
                    text = message.decode("utf-8", "replace") or _native.status_text(statuses[j])
                    results[i] = error_for_status(statuses[j], text)
        finally:
            for out in outs:
                free(out)
    done: list[bytes | VframeError] = []
    for result in results:
        if result is None:  # cannot be: every spec was sent or refused above
            result = error_for_status(Status.INTERNAL, "a spec was left without a result")
        done.append(result)
    if not return_exceptions:
        for result in done:
            if isinstance(result, VframeError):
                raise result
    return done
