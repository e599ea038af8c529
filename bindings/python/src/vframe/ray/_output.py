"""The output tree the sink writes, on any ``pyarrow.fs.FileSystem``::

    OUT/images/ab/cd/<key>_<file name>_<spec>.jpg   one file per thumbnail (key: 32 hex digits)
    OUT/index/part-<run>-<n>.parquet                 one Parquet part per written batch
    OUT/tmp/                                         files being written (emptied when a run starts)

Every file appears whole or not at all: images and index parts are written under ``tmp/``
and renamed into place (on object stores, whose uploads only appear once complete, they are
written in place). A batch's index part is written after its images, so every row in the
index has its image; an image without an index row (a run killed between the two) is made
again by the next run. The keys in the index are what a re-run skips.

This module owns the layout, the atomic writes and reading the index; it may call pyarrow and
numpy, never Ray or the library.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import os
import posixpath
import re
import uuid
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ._rows import INDEX_SCHEMA, SKIPPED

IMAGES, INDEX, TMP = "images", "index", "tmp"

#: Filesystems whose writes only become visible once complete (S3, GCS): written in place.
_ATOMIC_UPLOADS = {"s3", "gcs"}

#: The sorted keys an output already has, as fixed-width ASCII (see ``OutputTree.done_keys``).
DoneKeys: TypeAlias = npt.NDArray[np.bytes_]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _readable(text: str, limit: int) -> str:
    """``text`` made safe and short for a file name (the key keeps names unique, not this)."""
    return _UNSAFE.sub("-", text).strip("-.")[:limit].rstrip("-.")


def _extension(image: bytes) -> str:
    if image.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "webp"
    return "bin"


def image_name(key: str, path: str | None, spec: str | None, image: bytes) -> str:
    """Where the image of ``key`` goes, relative to the output root: a fan-out of 65,536
    folders by key, then the key and, for people, the file's name and the spec."""
    stem = _readable(posixpath.basename((path or "").replace(os.sep, "/")), 60)
    what = _readable((spec or "").removeprefix("vframe/"), 60)
    name = "_".join(part for part in (key, stem, what) if part)
    return f"{IMAGES}/{key[:2]}/{key[2:4]}/{name}.{_extension(image)}"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class OutputTree:
    """One output directory on one filesystem. Picklable: the workers that write get a copy."""

    def __init__(self, root: str, filesystem: pafs.FileSystem) -> None:
        self._setup(root, filesystem)

    def _setup(self, root: str, filesystem: pafs.FileSystem) -> None:
        self.root = root.rstrip("/")
        self.filesystem = filesystem
        base = filesystem
        while isinstance(base, pafs.SubTreeFileSystem):
            base = base.base_fs
        self._in_place = base.type_name in _ATOMIC_UPLOADS
        self._made_dirs: set[str] = set()
        self._parts = itertools.count()

    @classmethod
    def at(cls, out_dir: str | os.PathLike[str], filesystem: pafs.FileSystem | None = None) -> OutputTree:
        """``out_dir`` on ``filesystem``; without one, a local directory (made absolute here, on
        the driver, as workers run elsewhere) or a URI pyarrow knows (``s3://bucket/prefix``)."""
        where = os.fspath(out_dir)
        if filesystem is None:
            if "://" in where:
                filesystem, where = pafs.FileSystem.from_uri(where)
            else:
                filesystem = pafs.LocalFileSystem()
        if isinstance(filesystem, pafs.LocalFileSystem):
            where = os.path.abspath(where)
        return cls(where, filesystem)

    def __getstate__(self) -> dict[str, Any]:
        return {"root": self.root, "filesystem": self.filesystem}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["root"], state["filesystem"])

    def __repr__(self) -> str:
        return f"OutputTree({self.root!r}, {type(self.filesystem).__name__})"

    def full(self, relative: str) -> str:
        """A path inside the output as the filesystem names it."""
        return f"{self.root}/{relative}" if self.root else relative

    def prepare(self) -> None:
        """Makes the folders and empties ``tmp/`` (left-overs of a killed run). One run per
        output directory at a time: a second run would delete the first one's files in progress."""
        for folder in (IMAGES, INDEX, TMP):
            self.filesystem.create_dir(self.full(folder), recursive=True)
        self.filesystem.delete_dir_contents(self.full(TMP), missing_dir_ok=True)

    def put(self, relative: str, data: bytes) -> None:
        """Writes one whole file: it appears complete or not at all."""
        final = self.full(relative)
        if self._in_place:  # an object store: no folders to make, and an upload appears whole
            with self.filesystem.open_output_stream(final) as out:
                out.write(data)
            return
        folder = posixpath.dirname(final)
        if folder not in self._made_dirs:
            self.filesystem.create_dir(folder, recursive=True)
            self._made_dirs.add(folder)
        temporary = self.full(f"{TMP}/{uuid.uuid4().hex}")
        try:
            with self.filesystem.open_output_stream(temporary) as out:
                out.write(data)
            self.filesystem.move(temporary, final)
        except BaseException:
            try:
                self.filesystem.delete_file(temporary)
            except OSError:
                pass
            raise

    def write_images(self, rows: pa.Table, run: str) -> pa.Table:
        """Writes the images of ``rows`` (thumbnail rows) and returns their index rows."""
        count = rows.num_rows
        columns = {name: rows.column(name).to_pylist() for name in ("key", "path", "opened", "spec", "status")}
        images = rows.column("image").to_pylist()
        files: list[str | None] = [None] * count
        sizes: list[int | None] = [None] * count
        digests: list[str | None] = [None] * count
        for i in range(count):
            image = images[i]
            if columns["status"][i] != "OK":
                continue
            if image is None:
                raise ValueError(f"row {columns['key'][i]} has status OK but no image")
            files[i] = image_name(columns["key"][i], columns["path"][i], columns["spec"][i], image)
            self.put(files[i] or "", image)
            sizes[i] = len(image)
            digests[i] = hashlib.sha256(image).hexdigest()
        return pa.table(
            {
                **{name: columns[name] for name in ("key", "path", "opened", "spec", "status")},
                "error": rows.column("error"),
                "file": files,
                "size": sizes,
                "sha256": digests,
                "elapsed": rows.column("elapsed"),
                "run": [run] * count,
                "written_at": [now()] * count,
            },
            schema=INDEX_SCHEMA,
        )

    def write_index_part(self, entries: pa.Table, run: str) -> None:
        """Records ``entries`` (index rows whose images are written) as one Parquet part."""
        if entries.num_rows == 0:
            return
        sink = pa.BufferOutputStream()
        pq.write_table(entries, sink)
        self.put(
            f"{INDEX}/part-{run}-{os.getpid()}-{next(self._parts)}-{uuid.uuid4().hex[:8]}.parquet",
            sink.getvalue().to_pybytes(),
        )

    def parts(self) -> list[str]:
        """The index's part files (full paths), oldest names first."""
        selector = pafs.FileSelector(self.full(INDEX), allow_not_found=True)
        found = self.filesystem.get_file_info(selector)
        return sorted(
            info.path
            for info in found
            if info.type == pafs.FileType.File
            and info.base_name.endswith(".parquet")
            and not info.base_name.startswith(".")
        )

    def _read_parts(self, parts: list[str], columns: list[str] | None = None) -> pa.Table:
        if not parts:
            return INDEX_SCHEMA.empty_table() if columns is None else INDEX_SCHEMA.empty_table().select(columns)
        dataset = pads.dataset(parts, schema=INDEX_SCHEMA, format="parquet", filesystem=self.filesystem)
        return dataset.to_table(columns=columns)

    def read_index(self) -> pa.Table:
        """The index, one row per key: its OK row if it has one, else its latest row."""
        return _one_per_key(self._read_parts(self.parts()))

    def done_keys(self, retry_failed: bool = False) -> DoneKeys:
        """The keys a run skips, sorted: every key in the index, or with ``retry_failed`` only
        those with an image. Fixed-width bytes in a numpy array (16 MB a million), shared by
        every worker of a node through Ray's object store."""
        table = self._read_parts(self.parts(), ["key", "status"])
        if retry_failed:
            table = table.filter(pc.equal(table.column("status"), "OK"))
        keys: DoneKeys = pc.unique(table.column("key")).to_numpy(zero_copy_only=False).astype("S32")
        keys.sort()
        return keys

    def compact(self) -> int:
        """Merges the index's parts into one (one row per key) and returns how many parts it
        replaced. Crash-safe: the merged part is written before the old ones are deleted,
        and readers take one row per key."""
        parts = self.parts()
        if len(parts) < 2:
            return 0
        merged = _one_per_key(self._read_parts(parts))
        sink = pa.BufferOutputStream()
        pq.write_table(merged, sink)
        self.put(
            f"{INDEX}/part-{now():%Y%m%dT%H%M%S}-compacted-{uuid.uuid4().hex[:8]}.parquet", sink.getvalue().to_pybytes()
        )
        for part in parts:
            self.filesystem.delete_file(part)
        return len(parts)


def _one_per_key(table: pa.Table) -> pa.Table:
    """Keeps, for each key, the OK row if there is one, else the latest."""
    if table.num_rows == 0:
        return table
    failed = pc.not_equal(table.column("status"), "OK")
    ordered = table.append_column("_failed", failed).sort_by(
        [("key", "ascending"), ("_failed", "ascending"), ("written_at", "descending")]
    )
    keys = ordered.column("key")
    first = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
    keep = pa.concat_arrays([pa.array([True]), first.combine_chunks()])
    return ordered.filter(keep).drop_columns(["_failed"])


def is_done(keys: list[str], done: DoneKeys | None) -> list[bool]:
    """For each key, whether it is in ``done`` (sorted, from ``OutputTree.done_keys``)."""
    if done is None or len(done) == 0 or not keys:
        return [False] * len(keys)
    wanted = np.array(keys, dtype="S32")
    at = np.searchsorted(done, wanted)
    found = done[np.minimum(at, len(done) - 1)] == wanted
    return [bool(x) for x in found]


def skipped_entries(rows: pa.Table, run: str) -> pa.Table:
    """Index-shaped rows, status SKIPPED, for thumbnail-shaped ``rows`` that were not written."""
    count = rows.num_rows
    return pa.table(
        {
            "key": rows.column("key"),
            "path": rows.column("path"),
            "opened": rows.column("opened"),
            "spec": rows.column("spec"),
            "status": [SKIPPED] * count,
            "error": pa.nulls(count, pa.string()),
            "file": pa.nulls(count, pa.string()),
            "size": pa.nulls(count, pa.int64()),
            "sha256": pa.nulls(count, pa.string()),
            "elapsed": [0.0] * count,
            "run": [run] * count,
            "written_at": [now()] * count,
        },
        schema=INDEX_SCHEMA,
    )
