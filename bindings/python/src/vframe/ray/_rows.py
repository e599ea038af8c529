"""The rows vframe.ray produces: their Arrow schemas, the key of a (file, spec) pair, and
status names. Shared by the workers (which make rows) and the sink (which stores them)."""

from __future__ import annotations

import hashlib

import pyarrow as pa

from ..errors import Status, VframeError

#: The status of a row the sink did not compute because the output's index already has it.
#: Not a library status: it appears in a run's progress and summary, never in the index.
SKIPPED = "SKIPPED"

#: A row of :func:`vframe.ray.thumbnails` (any columns carried over from the input come first).
THUMBNAIL_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("path", pa.string()),
        pa.field("opened", pa.string()),
        pa.field("spec", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("image", pa.binary()),
        pa.field("error", pa.string()),
        pa.field("elapsed", pa.float64(), nullable=False),
    ]
)

#: A row of the Parquet index the sink writes next to the images.
INDEX_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("path", pa.string()),
        pa.field("opened", pa.string()),
        pa.field("spec", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("file", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("sha256", pa.string()),
        pa.field("elapsed", pa.float64(), nullable=False),
        pa.field("run", pa.string(), nullable=False),
        pa.field("written_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def row_key(opened: str | None, spec: str | None) -> str:
    """The key of one thumbnail: 128 bits of SHA-256 over the path opened and the spec, in hex.

    It names the image file and is what a re-run compares to know what is done. A NUL cannot
    occur in a path or a spec the library accepts, so it separates the two unambiguously."""
    data = (opened or "").encode("utf-8", "surrogateescape") + b"\0" + (spec or "").encode("utf-8", "surrogateescape")
    return hashlib.sha256(data).hexdigest()[:32]


def status_name(error: VframeError) -> str:
    """``"CANNOT_OPEN"`` etc. for a library error (the number, for a status newer than this package)."""
    try:
        return Status(error.status).name
    except ValueError:
        return str(int(error.status))
