"""The Ray Data worker: the callable class ``map_batches`` runs in a pool of actors.

Each actor loads the library once, when it starts, and then turns batches of input rows
(a path, and a spec or a list of them when specs come from a column) into one row per
(path, spec): the status, the image or the error, the time taken. The specs of one file in a
batch are done from one opening of it (a ``vframe.Source``), each as an extraction of its own.
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


#: A spec whose validity this worker has not seen yet (see ``Extractor._spec_errors``).
_UNKNOWN = object()


class Extractor:
    """The library calls of one worker: the library is loaded once, when the worker starts;
    each file with several specs is opened once, as a :class:`vframe.Source`, and each spec
    is one extraction from it (the whole ``timeout`` for the opening and for each spec).

    Every result is what ``vframe.extract(path, spec, **limits)`` gives: a source's images
    are byte-identical to it, and its failures carry the same status. Where the two differ
    in when they fail, this takes extract's order. Extract parses the spec before it opens
    the file, so an invalid spec is ``INVALID_SPEC`` even for a file that does not open:
    when an opening fails, a spec this worker has not yet seen parse is given to
    ``vframe.extract`` alone, and the answer remembered (specs do not depend on the file).
    """

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        vframe.library_path()  # load it now: a missing library fails the worker's start, not each row
        # spec -> its error when it does not parse, None when it does (absent: not seen yet).
        self._spec_errors: dict[str, VframeError | None] = {}

    def extract(self, opened: str, specs: list[str]) -> list[tuple[bytes | VframeError, float]]:
        """One result per spec, in order: the image, or the library's error with its message;
        each with the library seconds it took (the opening shared equally by the file's specs)."""
        if "\0" in opened:  # refused before anything else, by every call: nothing to share
            return [self._alone(opened, spec) for spec in specs]
        results: list[tuple[bytes | VframeError, float] | None] = [None] * len(specs)
        todo = []
        for i, spec in enumerate(specs):
            known = self._spec_errors.get(spec, _UNKNOWN)
            if isinstance(known, VframeError):
                results[i] = (known, 0.0)
            else:
                todo.append(i)
        if len(todo) == 1:
            results[todo[0]] = self._alone(opened, specs[todo[0]])
        elif todo:
            for i, result in zip(todo, self._from_source(opened, [specs[i] for i in todo])):
                results[i] = result
        return [r if r is not None else (error_for_status(Status.INTERNAL, "no result"), 0.0) for r in results]

    def _from_source(self, opened: str, specs: list[str]) -> list[tuple[bytes | VframeError, float]]:
        started = time.perf_counter()
        try:
            source = vframe.open(opened, **self._limits)
        except VframeError as failed:
            share = (time.perf_counter() - started) / len(specs)
            results: list[tuple[bytes | VframeError, float]] = []
            for spec in specs:
                # INVALID_ARGUMENT: refused before any input was read (the path, the limits),
                # where extract would have parsed the spec first; that costs nothing to ask.
                if failed.status == Status.INVALID_ARGUMENT or self._spec_errors.get(spec, _UNKNOWN) is _UNKNOWN:
                    results.append(self._alone(opened, spec))
                else:
                    results.append((failed, share))
            return results
        with source:
            share = (time.perf_counter() - started) / len(specs)
            results = []
            for spec in specs:
                begun = time.perf_counter()
                result: bytes | VframeError
                try:
                    result = source.extract(spec)
                except VframeError as e:
                    result = e
                results.append((result, share + time.perf_counter() - begun))
                self._learn(spec, result, from_source=True)
            return results

    def _alone(self, opened: str, spec: str) -> tuple[bytes | VframeError, float]:
        started = time.perf_counter()
        result: bytes | VframeError
        try:
            result = vframe.extract(opened, spec, **self._limits)
        except VframeError as e:
            result = e
        self._learn(spec, result, from_source=False)
        return result, time.perf_counter() - started

    def _learn(self, spec: str, result: bytes | VframeError, from_source: bool) -> None:
        """Remembers whether ``spec`` parses, from a result that tells. INVALID_ARGUMENT tells
        only from a source (an extract's may be about the path or the limits instead)."""
        if not isinstance(result, VframeError):
            self._spec_errors[spec] = None
        elif result.status == Status.INVALID_SPEC or (result.status == Status.INVALID_ARGUMENT and from_source):
            self._spec_errors[spec] = result
        elif result.status != Status.INVALID_ARGUMENT:
            self._spec_errors[spec] = None


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
            results = self._extractor.extract(opened, [p.spec or "" for p in group])
            for pair, (result, elapsed) in zip(group, results):
                pair.elapsed = elapsed
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
