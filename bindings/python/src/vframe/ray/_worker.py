"""The Ray Data worker: the callable class ``map_batches`` runs in a pool of actors.

Each actor loads the library once, when it starts, and then turns batches of input rows
(a path, and a spec or a list of them when specs come from a column) into one row per
(path, spec): the status, the image or the error, the time taken. Every spec of one file in
a batch is done in one library call (``vframe.extract_many``: the file is opened once).
Failures the library reports are rows; only a broken set-up (no library, unwritable output)
fails the actor and so the run. With an output tree the actor also writes the images and the
batch's index part, and returns the index rows only, so images never travel through Ray.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, TypedDict

import pyarrow as pa
import ray

import vframe

from ..errors import Status, VframeError, error_for_status
from ._output import DoneKeys, OutputTree, is_done, skipped_entries
from ._rows import THUMBNAIL_SCHEMA, row_key, status_name


class Limits(TypedDict, total=False):
    """The library's per-call limits, as the keywords of ``vframe.extract`` (absent: its default)."""

    timeout: float
    threads: int
    max_decoded_frames: int
    max_input_pixels: int


#: Failures of a whole file rather than of one spec: every spec of the file gets the same.
_WHOLE_FILE = {Status.CANNOT_OPEN, Status.UNSUPPORTED_INPUT, Status.NO_VIDEO_STREAM, Status.TIMEOUT, Status.CANCELLED}


class Extractor:
    """The library calls one worker makes. Today each call opens the file; this is the one
    place to keep a source handle open instead when the library offers one."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        vframe.library_path()  # load it now: a missing library fails the worker's start, not each row

    def extract(self, opened: str, specs: list[str]) -> list[bytes | VframeError]:
        """One result per spec, in order: the image, or the library's error with its message."""
        if len(specs) == 1:
            return [self._one(opened, specs[0])]
        results = vframe.extract_many(opened, specs, return_exceptions=True, **self._limits)
        # extract_many has one message buffer: only its first failure carries the library's
        # message. A later failure of the whole file (it cannot be opened...) has the same
        # cause, so the same message; any other is asked for again, alone, for its own.
        failures = [i for i, result in enumerate(results) if isinstance(result, VframeError)]
        first = results[failures[0]] if failures else None
        for i in failures[1:]:
            error = results[i]
            assert isinstance(error, VframeError) and isinstance(first, VframeError)
            if error.status == first.status and error.status in _WHOLE_FILE:
                results[i] = error_for_status(error.status, first.message)
            else:
                results[i] = self._one(opened, specs[i])
        return results

    def _one(self, opened: str, spec: str) -> bytes | VframeError:
        try:
            return vframe.extract(opened, spec, **self._limits)
        except VframeError as e:
            return e


@dataclass(frozen=True)
class Plan:
    """What every worker of a run is given (pickled into each actor once)."""

    specs: tuple[str, ...] | None  # the same specs for every path; or None:
    spec_column: str | None  # each row's spec (a string, or a list of strings)
    path_column: str
    base_dir: str  # where relative paths are resolved (the driver's working directory)
    limits: Limits
    output: OutputTree | None = None  # write images and index parts here
    run: str = ""
    done: Any = None  # a Ray reference to the output's DoneKeys: pairs to skip


@dataclass
class _Pair:
    row: int
    path: str | None
    opened: str | None
    spec: str | None
    key: str
    status: str = "OK"
    image: bytes | None = None
    error: str | None = None
    elapsed: float = 0.0


class ThumbnailWorker:
    """``map_batches(ThumbnailWorker, fn_constructor_kwargs={"plan": plan}, batch_format="pyarrow")``."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._extractor = Extractor(plan.limits)
        self._done: DoneKeys | None = ray.get(plan.done) if plan.done is not None else None

    def __call__(self, batch: pa.Table) -> pa.Table:
        plan = self._plan
        pairs = self._pairs(batch)
        skipped: list[_Pair] = []
        if plan.output is not None and self._done is not None:
            done = is_done([p.key for p in pairs], self._done)
            skipped = [p for p, d in zip(pairs, done) if d]
            pairs = [p for p, d in zip(pairs, done) if not d]
        self._extract(pairs)
        rows = _thumbnail_rows(pairs)
        if plan.output is None:
            return self._with_carried_columns(batch, pairs, rows)
        entries = plan.output.write_images(rows, plan.run)
        plan.output.write_index_part(entries, plan.run)
        return pa.concat_tables([entries, skipped_entries(_thumbnail_rows(skipped), plan.run)])

    def _pairs(self, batch: pa.Table) -> list[_Pair]:
        plan = self._plan
        paths = batch.column(plan.path_column).to_pylist()
        if plan.spec_column is None:
            specs_by_row: list[Any] = [plan.specs] * len(paths)
        else:
            specs_by_row = batch.column(plan.spec_column).to_pylist()
        pairs = []
        for row, (path, specs) in enumerate(zip(paths, specs_by_row)):
            for spec in [specs] if specs is None or isinstance(specs, str) else specs:
                pairs.append(self._pair(row, path, spec))
        return pairs

    def _pair(self, row: int, path: Any, spec: Any) -> _Pair:
        plan = self._plan
        text_path = path if isinstance(path, str) else None
        opened = None if text_path is None else os.path.join(plan.base_dir, text_path)
        text_spec = spec if isinstance(spec, str) else None
        pair = _Pair(row, text_path, opened, text_spec, row_key(opened, text_spec))
        if text_path is None:
            pair.status = "INVALID_ARGUMENT"
            pair.error = f"column {plan.path_column!r} holds {type(path).__name__}, not a path"
        elif text_spec is None:
            pair.status = "INVALID_SPEC"
            pair.error = f"no spec for this row (column {plan.spec_column!r} holds {type(spec).__name__})"
        return pair

    def _extract(self, pairs: list[_Pair]) -> None:
        by_file: dict[str, list[_Pair]] = {}
        for pair in pairs:
            if pair.status == "OK" and pair.opened is not None:
                by_file.setdefault(pair.opened, []).append(pair)
        for opened, group in by_file.items():
            started = time.perf_counter()
            results = self._extractor.extract(opened, [p.spec or "" for p in group])
            share = (time.perf_counter() - started) / len(group)
            for pair, result in zip(group, results):
                pair.elapsed = share
                if isinstance(result, VframeError):
                    pair.status, pair.error = status_name(result), result.message
                else:
                    pair.image = result

    def _with_carried_columns(self, batch: pa.Table, pairs: list[_Pair], rows: pa.Table) -> pa.Table:
        plan = self._plan
        carried = [name for name in batch.column_names if name not in (plan.path_column, plan.spec_column)]
        clash = [name for name in carried if name in THUMBNAIL_SCHEMA.names]
        if clash:
            raise ValueError(f"input columns {clash} clash with the output's; rename them")
        if not carried:
            return rows
        kept = batch.select(carried).take(pa.array([p.row for p in pairs], pa.int64()))
        for name in rows.column_names:
            kept = kept.append_column(rows.schema.field(name), rows.column(name))
        return kept


def _thumbnail_rows(pairs: list[_Pair]) -> pa.Table:
    return pa.table(
        {
            "key": [p.key for p in pairs],
            "path": [p.path for p in pairs],
            "opened": [p.opened for p in pairs],
            "spec": [p.spec for p in pairs],
            "status": [p.status for p in pairs],
            "image": [p.image for p in pairs],
            "error": [p.error for p in pairs],
            "elapsed": [p.elapsed for p in pairs],
        },
        schema=THUMBNAIL_SCHEMA,
    )
