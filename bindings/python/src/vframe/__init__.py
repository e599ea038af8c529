"""vframe: the frame of a video at a given moment, as a JPEG or PNG thumbnail.

Python bindings (ctypes) for the vframe library, which implements Qiniu's
``vframe/<Format>/offset/<Second>[/w/<Width>][/h/<Height>][/rotate/<Degree>]`` operation::

    import vframe
    jpeg = vframe.extract("movie.mp4", "vframe/jpg/offset/7.5/w/480")
    png = vframe.extract(video_bytes, format="png", offset=3, rotate="auto")
    with vframe.open("movie.mp4") as video:        # opened once, many thumbnails
        previews = [video.extract(format="jpg", offset=t, w=160) for t in (10, 20, 30)]

The native library (``libvframe.so``) is built by ``pip install`` and installed inside the
package; it is loaded from ``$VFRAME_LIBRARY`` (an override), else next to the package, else a
source checkout's ``target/release``, else the system library path.
"""

from __future__ import annotations

from . import _native
from ._call import build_spec
from ._extract import extract, extract_many
from ._frames import Frame, Sheet, Storyboard, sample, storyboard
from ._pool import Pool, extract_aio, extract_async
from ._source import Source, open
from .errors import (
    BusyError,
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
    "BusyError",
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
    "Source",
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
    "open",
]


def library_version() -> str:
    """The version of the loaded native library (``vframe_version()``)."""
    version: bytes = _native.library().vframe_version()
    return version.decode("ascii")


def library_path() -> str:
    """Where the native library was loaded from (loading it if need be)."""
    return _native.library_path()
