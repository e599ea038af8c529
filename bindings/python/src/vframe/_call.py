"""Translating Python arguments into the C call's: the spec string, the source, the options.

Only formatting and type conversion happen here; the library validates everything (a bad
spec or an impossible size comes back as the library's own error and message).
"""

from __future__ import annotations

import ctypes
import decimal
import os
from typing import Any, Union

from . import _native
from .errors import InvalidArgumentError

#: What ``extract`` accepts as a video: a file path, or the bytes of a whole file.
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

#: A number in a spec (``offset=7.5``, ``w=480``), or text the library parses itself.
Number = Union[int, float, decimal.Decimal, str]

_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1


def _spec_value(value: Number) -> str:
    # Floats are written positionally ("0.00001", never "1e-05"), with every digit repr keeps.
    if isinstance(value, float):
        return format(decimal.Decimal(repr(value)), "f")
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def build_spec(
    format: str,
    offset: Number,
    w: Number | None = None,
    h: Number | None = None,
    rotate: None | int | str = None,
) -> str:
    """The spec string for these parts, e.g. ``build_spec("jpg", 7.5, w=480)`` is
    ``"vframe/jpg/offset/7.5/w/480"``. Nothing is checked here: the library does that."""
    parts = ["vframe", str(format), "offset", _spec_value(offset)]
    for key, value in (("w", w), ("h", h), ("rotate", rotate)):
        if value is not None:
            parts += [key, _spec_value(value)]
    return "/".join(parts)


def resolve_spec(spec: str | None, parts: dict) -> str:  # type: ignore[type-arg]
    """The spec of an ``extract`` call: the string given, or one built from keywords."""
    given = {key: value for key, value in parts.items() if value is not None}
    if spec is not None:
        if given:
            raise TypeError(f"give either a spec string or keywords, not both (got spec and {', '.join(given)})")
        if not isinstance(spec, str):
            raise TypeError(f"spec must be a str, not {type(spec).__name__}")
        return spec
    if "format" not in given or "offset" not in given:
        raise TypeError('give a spec string, or at least format= and offset= (e.g. format="jpg", offset=7)')
    return build_spec(**given)


def c_string(text: str | bytes, what: str) -> bytes:
    """``text`` as a NUL-terminated C string's bytes (a NUL inside would silently cut it)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if b"\0" in data:
        raise InvalidArgumentError(f"{what} contains a NUL character")
    return data


class CSource:
    """A source ready for C: either ``path`` (bytes) or ``data`` + ``length`` (a pointer
    argument that stays valid while this object lives, and the byte count)."""

    path: bytes | None = None
    data: Any = None
    length: int = 0

    def __init__(self, source: Source) -> None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._set_memory(source)
        elif isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if isinstance(path, bytes):
                raise TypeError("give a path as str or pathlib.Path (bytes are taken as the video's contents)")
            self.path = c_string(os.fsencode(path), "the path")
        else:
            raise TypeError(
                f"source must be a path (str or os.PathLike) or the video's bytes, not {type(source).__name__}"
            )

    def _set_memory(self, source: bytes | bytearray | memoryview) -> None:
        if isinstance(source, bytes):
            self.data, self.length = source, len(source)  # ctypes passes bytes' own buffer: no copy
            return
        view = memoryview(source)
        if not view.c_contiguous:
            view = memoryview(view.tobytes())
        view = view.cast("B")
        self.length = len(view)
        if view.readonly:
            self.data = view.tobytes()
        else:
            # Points into the caller's buffer (no copy); the buffer cannot be resized meanwhile.
            self.data = (ctypes.c_uint8 * self.length).from_buffer(view)


def c_count(value: int | None, name: str, limit: int) -> int:
    """``value`` for an unsigned C field of at most ``limit`` (None: 0, the library default)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= limit:
        raise InvalidArgumentError(f"{name}={value} is out of range (0 to {limit})")
    return value


def c_options(
    timeout: float | None,
    threads: int | None,
    max_decoded_frames: int | None,
    max_input_pixels: int | None,
) -> ctypes._Pointer[_native.Options] | None:
    """The ``vframe_options`` for these keywords, or None (the library's defaults) when none is given.

    ``None`` keeps a field's default; ``timeout`` is in seconds and ``0`` means no time limit.
    """
    if timeout is None and threads is None and max_decoded_frames is None and max_input_pixels is None:
        return None
    options = _native.library().vframe_options_default()
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
        if not 0 <= timeout <= _UINT32_MAX / 1000:
            raise InvalidArgumentError(f"timeout={timeout} is out of range (0 to {_UINT32_MAX // 1000} seconds)")
        # Round up: a positive timeout shorter than 1 ms must not become 0 ("no limit").
        options.timeout_ms = min(_UINT32_MAX, int(-(-timeout * 1000 // 1)))
    if threads is not None:
        options.threads = c_count(threads, "threads", _UINT32_MAX)
    if max_decoded_frames is not None:
        options.max_decoded_frames = c_count(max_decoded_frames, "max_decoded_frames", _UINT64_MAX)
    if max_input_pixels is not None:
        options.max_input_pixels = c_count(max_input_pixels, "max_input_pixels", _UINT64_MAX)
    return ctypes.pointer(options)
