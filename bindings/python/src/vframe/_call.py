"""Translating Python arguments into the C call's: the spec string, the source, the options.

A spec string given by the caller goes to the library as it is: the library parses it and
reports what is wrong. A spec built from keywords is built here, in ``build_spec`` only,
which writes each value as one value of the spec's grammar or refuses it, so that no
keyword can add a key or carry other text into the spec; the library still checks ranges.
"""

from __future__ import annotations

import ctypes
import decimal
import fractions
import mmap
import numbers
import os
import re
from typing import Any, ClassVar, Mapping, NoReturn, Union

from . import _native
from .errors import InvalidArgumentError, InvalidSpecError

#: What ``extract`` accepts as a video: a file path, or the bytes of a whole file.
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, mmap.mmap]

#: The kinds of memory a video's bytes may come in (``mmap`` is read through a memoryview).
MEMORY_TYPES = (bytes, bytearray, memoryview, mmap.mmap)

#: A number in a spec (``offset=7.5``, ``w=480``), or its text (``offset="7.5"``).
Number = Union[int, float, decimal.Decimal, fractions.Fraction, str]

_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1

# The values of the spec's grammar (README, "The operation string").
_FORMATS = ("jpg", "jpeg", "png", "webp")
_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")
_PIXELS = re.compile(r"[0-9]+")
_ROTATIONS = ("0", "90", "180", "270", "auto")


def _invalid(key: str, text: str, expected: str) -> InvalidSpecError:
    shown = text if len(text) <= 40 else text[:40] + "..."
    return InvalidSpecError(f"invalid spec: {key} {shown!r} is not {expected}")


def _type_error(key: str, value: object, expected: str) -> TypeError:
    return TypeError(f"{key} must be {expected}, not {type(value).__name__}")


def _seconds(value: Number) -> str:
    """``offset`` as the spec writes it: digits with an optional decimal part."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or not isinstance(value, (numbers.Real, decimal.Decimal)):
        raise _type_error("offset", value, "a number of seconds (int, float, Decimal, Fraction) or its text")
    elif isinstance(value, numbers.Integral):
        text = str(int(value))
    else:
        # Positional ("0.00001", never "1e-05"), with every digit repr keeps; -0.0 is 0.
        exact = value if isinstance(value, decimal.Decimal) else decimal.Decimal(repr(float(value)))
        if not exact.is_finite():
            text = str(value)  # nan, inf: refused below
        else:
            text = "0" if exact == 0 else format(exact, "f")
    if not _SECONDS.fullmatch(text):
        raise _invalid("offset", text, "a number of seconds (digits with an optional decimal part, e.g. 7 or 7.5)")
    return text


def _pixels(key: str, value: int | str) -> str:
    """``w`` or ``h`` as the spec writes it: digits."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _type_error(key, value, "a whole number of pixels (int) or its text")
    else:
        text = str(int(value))
    if not _PIXELS.fullmatch(text):
        raise _invalid(key, text, "a whole number of pixels")
    return text


def _rotation(value: int | str) -> str:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, str)):
        raise _type_error("rotate", value, 'one of 0, 90, 180, 270 or "auto"')
    text = value if isinstance(value, str) else str(int(value))
    if text not in _ROTATIONS:
        raise _invalid("rotate", text, "one of 0, 90, 180, 270, auto")
    return text


def build_spec(
    format: str,
    offset: Number,
    w: int | str | None = None,
    h: int | str | None = None,
    rotate: None | int | str = None,
) -> str:
    """The spec string for these parts, e.g. ``build_spec("jpg", 7.5, w=480)`` is
    ``"vframe/jpg/offset/7.5/w/480"``.

    Each part must be one value of the spec's grammar, so the string has exactly the keys
    given: ``format`` one of ``"jpg"``, ``"jpeg"``, ``"png"``, ``"webp"``; ``offset`` a
    non-negative real number (int, float, Decimal, Fraction) or digits with an optional
    decimal part as a str; ``w``/``h`` a non-negative int or digits; ``rotate`` one of 0,
    90, 180, 270, ``"auto"`` (numbers also as str). A value of the wrong type raises ``TypeError``; a value of the
    right type the grammar cannot hold (``offset="1/w/10"``, ``-1``, ``nan``, ``rotate=45``)
    raises :class:`vframe.InvalidSpecError`, as the library does for such a part of a spec
    string. Ranges (offset up to 10^7 s, w up to 3840, h up to 2160, w/h at least 1) are
    the library's to check.
    """
    if not isinstance(format, str):
        raise _type_error("format", format, 'a str ("jpg", "jpeg", "png" or "webp")')
    if format not in _FORMATS:
        raise _invalid("format", format, "jpg, jpeg, png or webp")
    parts = ["vframe", format, "offset", _seconds(offset)]
    if w is not None:
        parts += ["w", _pixels("w", w)]
    if h is not None:
        parts += ["h", _pixels("h", h)]
    if rotate is not None:
        parts += ["rotate", _rotation(rotate)]
    return "/".join(parts)


def resolve_spec(spec: str | None, parts: Mapping[str, Any]) -> str:
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


def c_spec(spec: str) -> bytes:
    """A spec string given by the caller, as a C string's bytes."""
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str, not {type(spec).__name__}")
    return c_string(spec, "spec")


def c_string(text: str | bytes, what: str) -> bytes:
    """``text`` as a NUL-terminated C string's bytes (a NUL inside would silently cut it)."""
    try:
        data = text.encode("utf-8") if isinstance(text, str) else text
    except UnicodeEncodeError as e:  # a lone surrogate: no UTF-8 (nor file name) holds it
        raise InvalidArgumentError(f"{what} contains {text[e.start]!r}, which is not text (a lone surrogate)") from None
    if b"\0" in data:
        raise InvalidArgumentError(f"{what} contains a NUL character")
    return data


class NoCopy:
    """For an object that owns something native (an open input, the pool's threads, a
    buffer export) which a copy would free a second time: copying or pickling it raises
    ``TypeError`` with the class's ``_no_copy`` message."""

    _no_copy: ClassVar[str]

    def __reduce__(self) -> NoReturn:
        raise TypeError(self._no_copy)

    def __copy__(self) -> NoReturn:
        raise TypeError(self._no_copy)

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError(self._no_copy)


class CSource:
    """A source ready for C: either ``path`` (bytes) or ``data`` + ``length`` (a pointer
    argument that stays valid while this object lives, and the byte count)."""

    path: bytes | None = None
    data: Any = None
    length: int = 0

    def __init__(self, source: Source) -> None:
        if isinstance(source, MEMORY_TYPES):
            self._set_memory(source)
        elif isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if isinstance(path, bytes):
                raise TypeError("give a path as str or pathlib.Path (bytes are taken as the video's contents)")
            try:
                encoded = os.fsencode(path)
            except UnicodeEncodeError as e:
                raise InvalidArgumentError(
                    f"the path contains {path[e.start]!r}, which no file name holds (a lone surrogate)"
                ) from None
            self.path = c_string(encoded, "the path")
        else:
            raise TypeError(
                "source must be a path (str or os.PathLike) or the video's bytes (bytes, bytearray, memoryview, "
                f"mmap), not {type(source).__name__}"
            )

    def _set_memory(self, source: bytes | bytearray | memoryview | mmap.mmap) -> None:
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
