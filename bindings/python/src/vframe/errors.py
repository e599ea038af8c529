"""The exceptions vframe raises: one class per ``vframe_status`` of the C library.

Every failure reported by the library is a :class:`VframeError` carrying the status code
and the message the library wrote for that very call.
"""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """The C ABI's ``vframe_status`` (values are fixed by the ABI and never renumbered)."""

    OK = 0
    INVALID_SPEC = 1
    INVALID_ARGUMENT = 2
    CANNOT_OPEN = 3
    UNSUPPORTED_INPUT = 4
    NO_VIDEO_STREAM = 5
    DECODE_ERROR = 6
    ENCODE_ERROR = 7
    TIMEOUT = 8
    LIMIT_EXCEEDED = 9
    CANCELLED = 10
    INTERNAL = 11
    BUSY = 12


class VframeError(Exception):
    """A call into the vframe library failed.

    ``status`` is the library's status code (a :class:`Status`, or a plain ``int`` for a
    status newer than this package); ``message`` is the library's message for the call.
    """

    status: int

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidSpecError(VframeError):
    """The spec string is malformed; the message names the bad part."""

    status = Status.INVALID_SPEC


class InvalidArgumentError(VframeError):
    """An argument the library cannot use (an empty path, an option out of range...)."""

    status = Status.INVALID_ARGUMENT


class CannotOpenError(VframeError):
    """The input cannot be opened or read, or is not a media file FFmpeg understands."""

    status = Status.CANNOT_OPEN


class UnsupportedInputError(VframeError):
    """The input is a playlist or indirection format (HLS, concat, DASH...), which vframe refuses."""

    status = Status.UNSUPPORTED_INPUT


class NoVideoStreamError(VframeError):
    """The input has no video stream, or no decoder for its codec."""

    status = Status.NO_VIDEO_STREAM


class DecodeError(VframeError):
    """The video stream exists but no frame could be decoded."""

    status = Status.DECODE_ERROR


class EncodeError(VframeError):
    """The image encoder failed."""

    status = Status.ENCODE_ERROR


class VframeTimeoutError(VframeError):
    """The call ran past its time limit (the ``timeout`` option)."""

    status = Status.TIMEOUT


class LimitExceededError(VframeError):
    """A work limit was hit: decoded frames, packets, or input dimensions."""

    status = Status.LIMIT_EXCEEDED


class CancelledError(VframeError):
    """The library cancelled the job (for instance because its pool was closed first)."""

    status = Status.CANCELLED


class InternalError(VframeError):
    """A bug in vframe: an internal invariant failed or a panic was caught."""

    status = Status.INTERNAL


class BusyError(VframeError):
    """A pool is full: :meth:`vframe.Pool.submit_nowait` found no room, or :meth:`vframe.Pool.submit`
    waited ``queue_timeout`` seconds without finding any."""

    status = Status.BUSY


_ERROR_CLASSES: dict[int, type[VframeError]] = {
    cls.status: cls
    for cls in (
        InvalidSpecError,
        InvalidArgumentError,
        CannotOpenError,
        UnsupportedInputError,
        NoVideoStreamError,
        DecodeError,
        EncodeError,
        VframeTimeoutError,
        LimitExceededError,
        CancelledError,
        InternalError,
        BusyError,
    )
}


def error_for_status(status: int, message: str) -> VframeError:
    """The exception for a failed call: the class of ``status`` with the call's message."""
    cls = _ERROR_CLASSES.get(status)
    if cls is None:  # a status newer than this package
        return VframeError(message, status=status)
    return cls(message)
