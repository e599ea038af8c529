"""The synchronous call: one video, one spec, one image back."""

from __future__ import annotations

import ctypes

from . import _native
from ._call import CSource, Number, Source, c_options, c_string, resolve_spec


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
