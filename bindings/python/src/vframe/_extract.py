"""The synchronous call: one video, one spec, one image back."""

from __future__ import annotations

import ctypes
import os
from typing import Sequence

from . import _native
from ._call import CSource, Number, Source, c_options, c_string, resolve_spec
from .errors import VframeError, error_for_status


def extract(
    source: Source,
    spec: str | None = None,
    *,
    format: str | None = None,
    offset: Number | None = None,
    w: Number | None = None,
    h: Number | None = None,
    rotate: None | int | str = None,
    timeout: float | None = None,
    threads: int | None = None,
    max_decoded_frames: int | None = None,
    max_input_pixels: int | None = None,
) -> bytes:
    """Returns the frame of the video ``source`` at the moment ``spec`` names, as JPEG or PNG bytes.

    ``source`` is a file path (``str`` or ``os.PathLike``) or the bytes of a whole video file
    (``bytes``, ``bytearray``, ``memoryview``). ``spec`` is a Qiniu vframe string such as
    ``"vframe/jpg/offset/7.5/w/480"``; instead of it, give its parts as keywords:
    ``format="jpg", offset=7.5, w=480, h=None, rotate="auto"``.

    Limits (``None`` keeps the library's safe default): ``timeout`` in seconds (``0``: none;
    default 60), decoder ``threads`` (default: automatic), ``max_decoded_frames`` and
    ``max_input_pixels``.

    Raises a :class:`vframe.VframeError` subclass with the library's message on failure.
    The GIL is released while the library works, so calls from many threads run in parallel.
    """
    spec_bytes = c_string(resolve_spec(spec, dict(format=format, offset=offset, w=w, h=h, rotate=rotate)), "spec")
    c_source = CSource(source)
    options = c_options(timeout, threads, max_decoded_frames, max_input_pixels)
    lib = _native.library()
    image = _native.Image()
    err = _native.err_buf()
    if c_source.path is not None:
        lib.vframe_extract_opts(c_source.path, spec_bytes, options, ctypes.byref(image), err, len(err))
    else:
        lib.vframe_extract_memory_opts(
            c_source.data, c_source.length, spec_bytes, options, ctypes.byref(image), err, len(err)
        )
    return _native.take_image(image)


def extract_many(
    path: str | os.PathLike[str],
    specs: Sequence[str],
    *,
    return_exceptions: bool = False,
    timeout: float | None = None,
    threads: int | None = None,
    max_decoded_frames: int | None = None,
    max_input_pixels: int | None = None,
) -> list[bytes | VframeError]:
    """Many thumbnails of one video file in one call, one per spec, in the order given.

    Cheaper than one :func:`extract` per spec: the file is opened once and the offsets are
    visited in time order, decoding on instead of seeking within a GOP. ``timeout`` bounds
    the whole call. The first failing spec raises its :class:`vframe.VframeError`; with
    ``return_exceptions=True`` failures are returned in the list instead (as
    :func:`asyncio.gather` does).
    """
    path_bytes = CSource(os.fspath(path)).path
    if path_bytes is None:
        raise TypeError("extract_many takes a file path")
    encoded = [c_string(spec, "spec") for spec in specs]
    count = len(encoded)
    c_specs = (ctypes.c_char_p * max(count, 1))(*encoded)
    images = (_native.Image * max(count, 1))()
    statuses = (_native.c_status * max(count, 1))()
    options = c_options(timeout, threads, max_decoded_frames, max_input_pixels)
    err = _native.err_buf()
    lib = _native.library()
    lib.vframe_extract_many(path_bytes, c_specs, count, options, images, statuses, err, len(err))
    results: list[bytes | VframeError] = []
    first_message = err.value.decode("utf-8", "replace")
    for i in range(count):
        if statuses[i] == 0:
            results.append(_native.take_image(images[i]))
        else:
            message = first_message if not any(isinstance(r, VframeError) for r in results) else ""
            results.append(error_for_status(statuses[i], message or _native.status_text(statuses[i])))
    if not return_exceptions:
        for result in results:
            if isinstance(result, VframeError):
                raise result
    return results
