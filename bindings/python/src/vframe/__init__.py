"""vframe: the frame of a video at a given moment, as a JPEG or PNG thumbnail.

Python bindings (ctypes) for the vframe library, which implements Qiniu's
``vframe/<Format>/offset/<Second>[/w/<Width>][/h/<Height>][/rotate/<Degree>]`` operation::

    import vframe
    jpeg = vframe.extract("movie.mp4", "vframe/jpg/offset/7.5/w/480")
    png = vframe.extract(video_bytes, format="png", offset=3, rotate="auto")

The native library (``libvframe.so``) is not part of this package: it is loaded from
``$VFRAME_LIBRARY``, next to the package, a source checkout's ``target/release``, or the
system library path.
"""

from __future__ import annotations

from . import _native
from ._call import build_spec
from ._extract import extract, extract_many
from ._frames import Frame, Sheet, Storyboard, sample, storyboard
from ._pool import Pool, extract_aio, extract_async
from .errors import (
    CancelledError,
    CannotOpenError,
    DecodeError,
    EncodeError,
    InternalError,
    InvalidArgumentError,
    InvalidSpecError,
    LimitExceededError,
    NoVideoStreamError,
    Status,
    UnsupportedInputError,
    VframeError,
    VframeTimeoutError,
)

__version__ = "0.1.0"

__all__ = [
    "extract_many",
    "Frame",
    "Sheet",
    "Storyboard",
    "sample",
    "storyboard",
    "CancelledError",
    "CannotOpenError",
    "DecodeError",
    "EncodeError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidSpecError",
    "LimitExceededError",
    "NoVideoStreamError",
    "Pool",
    "Status",
    "UnsupportedInputError",
    "VframeError",
    "VframeTimeoutError",
    "__version__",
    "build_spec",
    "extract",
    "extract_aio",
    "extract_async",
    "library_path",
    "library_version",
]


def library_version() -> str:
    """The version of the loaded native library (``vframe_version()``)."""
    version: bytes = _native.library().vframe_version()
    return version.decode("ascii")


def library_path() -> str:
    """Where the native library was loaded from (loading it if need be)."""
    return _native.library_path()
