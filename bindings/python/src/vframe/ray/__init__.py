"""vframe on Ray Data: thumbnails for millions of videos, on one machine or a cluster.

``pip install "vframe[ray]"``, then::

    import vframe.ray

    # A ray.data.Dataset of rows: key, path, opened, spec, status, image, error, elapsed.
    ds = vframe.ray.thumbnails("videos/**/*.mp4", ["vframe/jpg/offset/1/w/320"])

    # Images in a directory tree (or any pyarrow filesystem) plus a Parquet index; a re-run
    # skips what is done. The same as the command `vframe-ray` (`python -m vframe.ray`).
    summary = vframe.ray.thumbnails_to(paths, ["vframe/jpg/offset/1/w/320"], "out/")

The work runs in a pool of Ray actors, each of which loads the library once and opens each
file once (a ``vframe.Source``) for all its specs; every row is what ``vframe.extract`` gives.
Failures are rows with the library's status and message; the library's limits (``timeout``,
``max_input_pixels``...) apply to each row.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import glob
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Union

try:
    import ray
    import ray.data
except ImportError as e:  # pragma: no cover - depends on how the package was installed
    raise ImportError('vframe.ray needs Ray Data: pip install "vframe[ray]"') from e

import pyarrow as pa
import pyarrow.fs as pafs

from ._output import INDEX, OutputTree, is_done, skipped_entries
from ._rows import INDEX_SCHEMA, SKIPPED, THUMBNAIL_SCHEMA
from ._worker import Limits, Plan, ThumbnailWorker

__all__ = [
    "INDEX_SCHEMA",
    "SKIPPED",
    "THUMBNAIL_SCHEMA",
    "Summary",
    "read_index",
    "thumbnails",
    "thumbnails_to",
    "write_thumbnails",
]

#: Input rows (paths) per batch: the unit of work of an actor call, and of the sink's index
#: parts (a run killed midway loses at most the batches in flight).
DEFAULT_BATCH_SIZE = 64

#: Environment variables the workers need to see as the driver does (the library's location
#: and FFmpeg's log switch). On a local cluster they are inherited anyway; a cluster started
#: elsewhere gets them through the runtime environment.
_PASSED_ENV = ("VFRAME_LIBRARY", "VFRAME_FFMPEG_LOG")

#: What the API takes as input: a Dataset with a path column, a glob pattern, one path, or paths.
Inputs = Union["ray.data.Dataset", str, "os.PathLike[str]", Iterable[Union[str, "os.PathLike[str]"]]]


@dataclass
class Summary:
    """What a run of :func:`thumbnails_to` or :func:`write_thumbnails` did."""

    run: str  #: this run's id, the ``run`` column of the index rows it wrote
    index: str  #: the index folder (on the output's filesystem)
    done: int = 0  #: images written
    failed: int = 0  #: rows the library failed, recorded in the index
    skipped: int = 0  #: rows left alone because the index already had them
    failures: dict[str, int] = field(default_factory=dict)  #: failed rows by status
    seconds: float = 0.0
    compacted: int = 0  #: index parts merged into one at the end

    def add(self, entries: pa.Table) -> None:
        for status in entries.column("status").to_pylist():
            if status == "OK":
                self.done += 1
            elif status == SKIPPED:
                self.skipped += 1
            else:
                self.failed += 1
                self.failures[status] = self.failures.get(status, 0) + 1

    @property
    def rows(self) -> int:
        return self.done + self.failed + self.skipped

    def __str__(self) -> str:
        failed = f"{self.failed} failed"
        if self.failures:
            failed += " (" + ", ".join(f"{n} {s}" for s, n in sorted(self.failures.items())) + ")"
        return f"{self.done} done, {failed}, {self.skipped} skipped in {self.seconds:.1f} s"


def thumbnails(
    inputs: Inputs,
    specs: str | Iterable[str] | None = None,
    *,
    spec_column: str | None = None,
    path_column: str = "path",
    workers: int | None = None,
    calls_per_worker: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    base_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    threads: int | None = None,
    max_decoded_frames: int | None = None,
    max_input_pixels: int | None = None,
) -> ray.data.Dataset:
    """A Dataset (lazy, as Ray Data's are) of one row per (input path, spec):

    ``key`` (32 hex digits naming the pair), ``path`` (as given), ``opened`` (the path handed to
    the library: relative paths are joined to ``base_dir``, by default this process's working
    directory), ``spec``, ``status`` (``"OK"`` or the library's status name, e.g.
    ``"CANNOT_OPEN"``), ``image`` (JPEG/PNG bytes, or null), ``error`` (the library's message, or
    null), ``elapsed`` (seconds of library time: the row's extraction and an equal share of its
    file's opening). Columns of an input Dataset other than the path and spec columns come first.

    ``inputs``: a ``ray.data.Dataset`` with a ``path_column``; a ``str``, taken as a glob pattern
    (``**`` recurses; an error if nothing matches); one ``os.PathLike``; or an iterable of paths.
    ``specs``: one spec or a list for every path; or ``spec_column`` names a column of the input
    Dataset holding each row's spec or list of specs.

    ``workers``: actors in the pool (default: an autoscaling pool, one to as many as the cluster
    holds); ``calls_per_worker``: batches each actor works on at once, in threads (the library
    releases the GIL), each reserving one CPU. ``timeout``, ``threads``, ``max_decoded_frames``,
    ``max_input_pixels``: the library's limits for each row, as in :func:`vframe.extract` (a
    file's opening and each of its thumbnails get the whole ``timeout`` each, as in
    :func:`vframe.open`).
    """
    limits = _limits(timeout, threads, max_decoded_frames, max_input_pixels)
    plan = _plan(specs, spec_column, path_column, base_dir, limits)
    pool = _Pool(workers, calls_per_worker, batch_size)
    return _map(_dataset(inputs, path_column, spec_column), plan, pool)


def thumbnails_to(
    inputs: Inputs,
    specs: str | Iterable[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    filesystem: pafs.FileSystem | None = None,
    retry_failed: bool = False,
    compact: bool = True,
    progress: Callable[[Summary], None] | None = None,
    spec_column: str | None = None,
    path_column: str = "path",
    workers: int | None = None,
    calls_per_worker: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    base_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    threads: int | None = None,
    max_decoded_frames: int | None = None,
    max_input_pixels: int | None = None,
) -> Summary:
    """Makes the thumbnails of ``inputs`` × ``specs`` (as :func:`thumbnails`) into ``out_dir``,
    resumably: pairs the output's index already has are skipped before anything is computed.

    ``out_dir`` is a local directory, a URI pyarrow understands (``s3://bucket/prefix``), or a
    path on ``filesystem`` (any ``pyarrow.fs.FileSystem``). Layout: ``images/ab/cd/<key>_<name>_
    <spec>.jpg``, ``index/*.parquet`` (see :data:`INDEX_SCHEMA` and :func:`read_index`). The
    workers write the images and one index part per batch themselves, so images never pass
    through the driver. Failed rows are recorded and skipped by later runs too, unless
    ``retry_failed``. At the end the index parts are merged into one (``compact``).
    ``progress(summary)`` is called as batches complete. One run per output at a time.
    """
    limits = _limits(timeout, threads, max_decoded_frames, max_input_pixels)
    plan = _plan(specs, spec_column, path_column, base_dir, limits)
    pool = _Pool(workers, calls_per_worker, batch_size)
    dataset = _dataset(inputs, path_column, spec_column)
    output, summary, done, started = _start(out_dir, filesystem, retry_failed)
    plan = dataclasses.replace(plan, output=output, run=summary.run, done=done)
    rows = _map(dataset, plan, pool)
    batches = rows.iter_batches(batch_size=None, batch_format="pyarrow")
    return _finish(output, summary, started, batches, compact, progress)


def write_thumbnails(
    rows: ray.data.Dataset | pa.Table | Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    *,
    filesystem: pafs.FileSystem | None = None,
    retry_failed: bool = False,
    compact: bool = True,
    progress: Callable[[Summary], None] | None = None,
) -> Summary:
    """Writes rows of :func:`thumbnails` (a Dataset, an Arrow table, or dicts) into ``out_dir``,
    laid out as :func:`thumbnails_to` does; rows whose key the index already has are not
    written again. A Dataset is written by Ray tasks, the rest by this process.

    The rows are computed before this sees them: to skip finished work *before* computing
    it, use :func:`thumbnails_to`.
    """
    output, summary, done, started = _start(out_dir, filesystem, retry_failed)
    if isinstance(rows, ray.data.Dataset):
        write = functools.partial(_write_batch, output=output, run=summary.run, done=done)
        written = rows.map_batches(write, batch_size=None, batch_format="pyarrow")
        batches: Iterable[pa.Table] = written.iter_batches(batch_size=None, batch_format="pyarrow")
    else:
        batches = (_write_batch(table, output, summary.run, done) for table in _tables(rows))
    return _finish(output, summary, started, batches, compact, progress)


def read_index(out_dir: str | os.PathLike[str], *, filesystem: pafs.FileSystem | None = None) -> pa.Table:
    """The index of an output directory (:data:`INDEX_SCHEMA`), one row per key."""
    return OutputTree.at(out_dir, filesystem).read_index()


def _plan(
    specs: str | Iterable[str] | None,
    spec_column: str | None,
    path_column: str,
    base_dir: str | os.PathLike[str] | None,
    limits: Limits,
) -> Plan:
    if (specs is None) == (spec_column is None):
        raise TypeError("give either specs (the same for every path) or spec_column, not both or neither")
    fixed: tuple[str, ...] | None = None
    if specs is not None:
        fixed = (specs,) if isinstance(specs, str) else tuple(specs)
        if not fixed:
            raise ValueError("specs is empty")
        wrong = [s for s in fixed if not isinstance(s, str)]
        if wrong:
            raise TypeError(f"specs must be strings, not {type(wrong[0]).__name__}")
    base = os.path.abspath(os.fspath(base_dir)) if base_dir is not None else os.getcwd()
    return Plan(fixed, spec_column, path_column, base, limits)


def _limits(
    timeout: float | None, threads: int | None, max_decoded_frames: int | None, max_input_pixels: int | None
) -> Limits:
    limits: Limits = {}
    if timeout is not None:
        limits["timeout"] = timeout
    if threads is not None:
        limits["threads"] = threads
    if max_decoded_frames is not None:
        limits["max_decoded_frames"] = max_decoded_frames
    if max_input_pixels is not None:
        limits["max_input_pixels"] = max_input_pixels
    return limits


@dataclasses.dataclass(frozen=True)
class _Pool:
    """How the work is spread: actors, concurrent calls per actor, input rows per call."""

    workers: int | None
    calls_per_worker: int
    batch_size: int

    def __post_init__(self) -> None:
        for name in ("workers", "calls_per_worker", "batch_size"):
            count = getattr(self, name)
            if count is not None and count < 1:
                raise ValueError(f"{name} must be at least 1, not {count}")


def _dataset(inputs: Inputs, path_column: str, spec_column: str | None) -> ray.data.Dataset:
    if isinstance(inputs, ray.data.Dataset):
        schema = inputs.schema(fetch_if_missing=False)
        if schema is not None:
            missing = [c for c in (path_column, spec_column) if c is not None and c not in schema.names]
            if missing:
                raise ValueError(f"the input Dataset has no column {missing[0]!r} (it has {schema.names})")
        return inputs
    if spec_column is not None:
        raise TypeError("spec_column needs a ray.data.Dataset input (one with that column)")
    if isinstance(inputs, str):
        paths = sorted(p for p in glob.glob(inputs, recursive=True) if not os.path.isdir(p))
        if not paths:
            raise ValueError(f"no file matches {inputs!r}")
    elif isinstance(inputs, os.PathLike):
        paths = [_path_text(inputs)]
    else:
        paths = list(dict.fromkeys(_path_text(p) for p in inputs))
        if not paths:
            raise ValueError("no input paths")
    return ray.data.from_items([{path_column: p} for p in paths])


def _path_text(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"paths must be str or os.PathLike[str], not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{text!r} is not valid UTF-8, which Arrow tables need; give a Dataset instead") from e
    return text


def _map(dataset: ray.data.Dataset, plan: Plan, pool: _Pool) -> ray.data.Dataset:
    threaded: dict[str, Any] = {}
    if pool.calls_per_worker > 1:
        threaded = {"max_concurrent_calls_per_actor": pool.calls_per_worker, "enable_true_multi_threading": True}
    if pool.workers is not None:
        compute = ray.data.ActorPoolStrategy(size=pool.workers, **threaded)
    else:
        compute = ray.data.ActorPoolStrategy(min_size=1, **threaded)
    env = {name: os.environ[name] for name in _PASSED_ENV if os.environ.get(name)}
    return dataset.map_batches(
        ThumbnailWorker,
        batch_size=pool.batch_size,
        batch_format="pyarrow",
        compute=compute,
        num_cpus=pool.calls_per_worker,
        fn_constructor_kwargs={"plan": plan},
        runtime_env={"env_vars": env} if env else None,
    )


def _start(
    out_dir: str | os.PathLike[str], filesystem: pafs.FileSystem | None, retry_failed: bool
) -> tuple[OutputTree, Summary, Any, float]:
    """Opens the output (reading what is done) and names the run; also returns when it started."""
    started = time.perf_counter()
    output = OutputTree.at(out_dir, filesystem)
    output.prepare()
    done = output.done_keys(retry_failed)
    run = f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    summary = Summary(run=run, index=output.full(INDEX))
    if len(done) == 0:
        return output, summary, None, started
    if not ray.is_initialized():
        ray.init()
    return output, summary, ray.put(done), started


def _finish(
    output: OutputTree,
    summary: Summary,
    started: float,
    batches: Iterable[pa.Table],
    compact: bool,
    progress: Callable[[Summary], None] | None,
) -> Summary:
    for entries in batches:
        summary.add(entries)
        summary.seconds = time.perf_counter() - started
        if progress is not None:
            progress(summary)
    if compact:
        summary.compacted = output.compact()
    summary.seconds = time.perf_counter() - started
    return summary


def _write_batch(rows: pa.Table, output: OutputTree, run: str, done: Any) -> pa.Table:
    """Writes one batch of thumbnail rows not done yet; returns their index rows (and
    SKIPPED rows for the others)."""
    missing = [name for name in THUMBNAIL_SCHEMA.names if name not in rows.column_names]
    if missing:
        raise ValueError(f"rows to write need the columns of vframe.ray.thumbnails; missing: {missing}")
    rows = rows.select(THUMBNAIL_SCHEMA.names).cast(THUMBNAIL_SCHEMA)
    keys = rows.column("key").to_pylist()
    already = is_done(keys, ray.get(done) if isinstance(done, ray.ObjectRef) else done)
    todo = rows.filter(pa.array([not d for d in already]))
    entries = output.write_images(todo, run)
    output.write_index_part(entries, run)
    return pa.concat_tables([entries, skipped_entries(rows.filter(pa.array(already)), run)])


def _tables(rows: pa.Table | Iterable[Mapping[str, Any]]) -> Iterable[pa.Table]:
    if isinstance(rows, pa.Table):
        yield from (rows.slice(at, DEFAULT_BATCH_SIZE) for at in range(0, rows.num_rows, DEFAULT_BATCH_SIZE))
        return
    chunk: list[Mapping[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == DEFAULT_BATCH_SIZE:
            yield pa.Table.from_pylist(chunk)
            chunk = []
    if chunk:
        yield pa.Table.from_pylist(chunk)
