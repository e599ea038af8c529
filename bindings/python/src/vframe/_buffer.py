"""Memory input lent to the library for an asynchronous job, without a copy where that is safe.

The library reads a lent buffer in place until it calls the job's release callback. Until
then the job holds a buffer export of the caller's object (``PyObject_GetBuffer``): the
object stays alive and its memory stays where it is (a bytearray cannot be resized and an
mmap cannot be closed while it is exported). Memory nobody can change, ``bytes`` or a
``memoryview`` whose memory belongs to ``bytes``, is lent as it is, so a thousand jobs over
one ``bytes`` share it. Any other memory (bytearray, mmap, a view of one, even a read-only
view: its owner can still write it) may change while its job waits in the queue, so it is
copied once, into ``bytes``, and the copy is lent.

These are CPython's own C API (``ctypes.pythonapi``), not vframe's: ``Py_buffer``'s layout is
part of the stable ABI.
"""

from __future__ import annotations

import ctypes
import mmap
from ctypes import POINTER, c_char_p, c_int, c_ssize_t, c_void_p
from typing import Union

from . import _native
from ._call import NoCopy

#: What can be lent: the memory kinds of :data:`vframe._call.Source`.
Memory = Union[bytes, bytearray, memoryview, mmap.mmap]


class _PyBuffer(ctypes.Structure):
    """CPython's ``Py_buffer``."""

    _fields_ = [
        ("buf", c_void_p),
        ("obj", c_void_p),  # a reference PyBuffer_Release drops; never touched here
        ("len", c_ssize_t),
        ("itemsize", c_ssize_t),
        ("readonly", c_int),
        ("ndim", c_int),
        ("format", c_char_p),
        ("shape", c_void_p),
        ("strides", c_void_p),
        ("suboffsets", c_void_p),
        ("internal", c_void_p),
    ]


# PyBUF_SIMPLE: one contiguous block of bytes, read-only or not.
_PYBUF_SIMPLE = 0
# pythonapi holds the GIL during these calls and raises the exception a failure sets.
_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, POINTER(_PyBuffer), c_int]
_get_buffer.restype = c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [POINTER(_PyBuffer)]
_release_buffer.restype = None


def _immutable(source: object) -> bool:
    """Whether nobody can change the memory of ``source``: it belongs to a ``bytes`` object
    (``source`` itself, or the object under a chain of memoryviews). A read-only view says
    nothing about its owner (``memoryview(bytearray).toreadonly()``)."""
    owner = source
    while isinstance(owner, memoryview):
        owner = owner.obj
    return isinstance(owner, bytes)


# Every export a LentBuffer holds and has not released; the next LentBuffer made releases
# those whose LentBuffer was dropped without releasing (``PyBuffer_Release`` does nothing to
# a view released already).
_unreleased: _native.Unended[_PyBuffer] = _native.Unended(lambda: _release_buffer)


class LentBuffer(NoCopy):
    """The bytes of ``source`` for the library to read in place: ``address`` and ``length``,
    valid until :meth:`release` (which the job's release callback calls).

    ``copied`` says whether ``source`` could change (anything but memory of ``bytes``), and
    so was copied once."""

    _serial = 0  # 0: not in _unreleased

    def __init__(self, source: Memory) -> None:
        self._view: _PyBuffer | None = None
        self.copied = False
        _unreleased.end_dropped()
        # The export is made into a view this object (and _unreleased) already holds: an
        # exception (Ctrl-C's) raised as it returns, or anywhere after, leaves it where
        # release(), __del__ or _unreleased.end_dropped() ends it. PyBuffer_Release sets
        # ``obj`` to NULL and does nothing on a view whose ``obj`` is NULL: releasing twice
        # is harmless.
        view = _PyBuffer()
        self._view = view
        _unreleased.add(self, view)
        try:
            _get_buffer(source, view, _PYBUF_SIMPLE)
            in_place = bool(view.readonly) and _immutable(source)
        except BufferError:  # not contiguous (a strided memoryview): lend a contiguous copy
            in_place = False
        if not in_place:
            _release_buffer(view)
            self.copied = True
            _get_buffer(memoryview(source).tobytes(), view, _PYBUF_SIMPLE)

    # The export is this object's alone: a copy would release it a second time.
    _no_copy = "a vframe LentBuffer holds a buffer export: it cannot be copied or pickled"

    @property
    def address(self) -> int | None:
        return self._view.buf if self._view is not None else None

    @property
    def length(self) -> int:
        return self._view.len if self._view is not None else 0

    def __del__(self) -> None:
        # Unreachable, so no job reads it (a job's loan is held in vframe._pool._lent until
        # the library gives it back): one that never reached a job, e.g. when an exception
        # (Ctrl-C) came between the export and the submit, ends here.
        self.release()

    def release(self) -> None:
        """Ends the loan (the export, and with it what kept the memory in place). Idempotent;
        needs the GIL, which ctypes callbacks hold.

        The view stays here until ``PyBuffer_Release`` has returned: an exception (Ctrl-C's)
        raised before leaves the loan to end later, one raised after a view whose second
        release is a no-op."""
        view = self.__dict__.get("_view")
        if view is None:
            return
        _release_buffer(view)  # ctypes passes the struct by reference (argtypes)
        self._view = None
        _unreleased.entries.pop(self._serial, None)
