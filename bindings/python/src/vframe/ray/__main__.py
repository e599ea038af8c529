"""``vframe-ray`` (``python -m vframe.ray``): thumbnails of many videos into a directory, on Ray.

    vframe-ray videos/ --glob '*.mp4' --spec vframe/jpg/offset/1/w/320 --out thumbs/
    vframe-ray --list videos.parquet --spec-column spec --out s3://bucket/thumbs --address auto

Exit status: 0 when the run completed (rows the library failed are counted, not fatal);
1 when the run itself failed (Ray, the output); 2 for usage errors.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import time
from typing import Any, NoReturn

import ray
import ray.data

import vframe.ray

PROG = "vframe-ray"


class _Usage(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Thumbnails of many videos on Ray Data: images in OUT/images, a Parquet index in OUT/index. "
        "A re-run skips what the index has.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="video files, or folders searched recursively")
    parser.add_argument("--spec", action="append", default=[], help="a vframe spec for every video (repeatable)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory, or a URI (s3://bucket/prefix)")
    parser.add_argument("--glob", metavar="PATTERN", help="in folders, only files whose name matches (e.g. '*.mp4')")
    parser.add_argument(
        "--list",
        action="append",
        default=[],
        metavar="FILE",
        help="paths to read from FILE: a .parquet file or folder (see --path-column), else one path per line",
    )
    parser.add_argument("--path-column", default="path", help="the path column of a Parquet list (default: path)")
    parser.add_argument("--spec-column", help="take each video's spec(s) from this column of a Parquet list")
    parser.add_argument("--workers", type=int, metavar="N", help="actors (default: autoscaling to the cluster's CPUs)")
    parser.add_argument("--calls-per-worker", type=int, default=1, metavar="K", help="library calls at once per actor")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="videos per batch (default: 64)")
    parser.add_argument("--address", help="an existing Ray cluster (e.g. auto, ray://host:10001); default: a local one")
    parser.add_argument("--timeout", type=float, metavar="S", help="time limit per library call (default 60, 0: none)")
    parser.add_argument("--max-input-pixels", type=int, metavar="N", help="largest picture accepted (width x height)")
    parser.add_argument("--max-decoded-frames", type=int, metavar="N", help="frames one call may decode")
    parser.add_argument("--decoder-threads", type=int, metavar="N", help="decoder threads per call (default: auto)")
    parser.add_argument("--retry-failed", action="store_true", help="compute again the rows that failed before")
    parser.add_argument("--quiet", action="store_true", help="no progress lines (Ray's own display stays)")
    return parser


def _walk(folder: str, pattern: str | None) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [
            os.path.join(root, name) for name in sorted(files) if pattern is None or fnmatch.fnmatch(name, pattern)
        ]
    return found


def _inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The run's input: paths, or Parquet lists to read (once Ray has started: reading one
    would start a local Ray of its own)."""
    paths: list[str] = []
    parquet = [name for name in args.list if name.endswith(".parquet") or os.path.isdir(name)]
    for name in args.inputs:
        paths += _walk(name, args.glob) if os.path.isdir(name) else [name]
    for name in args.list:
        if name in parquet:
            continue
        try:
            with open(name, encoding="utf-8") as listing:
                paths += [line.rstrip("\n") for line in listing if line.strip()]
        except OSError as e:
            raise _Usage(f"cannot read the list {name}: {e.strerror}") from e
    if args.spec_column and not parquet:
        raise _Usage("--spec-column needs a Parquet --list")
    if parquet:
        if paths:
            raise _Usage("a Parquet --list cannot be mixed with other inputs")
        return [], parquet
    if not paths:
        raise _Usage("no input files" + (f" match --glob {args.glob!r}" if args.glob else ""))
    return paths, []


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)

    def usage(message: str) -> NoReturn:
        parser.error(message)  # exits with status 2

    if not args.spec and not args.spec_column:
        usage("give at least one --spec, or --spec-column")
    if args.spec and args.spec_column:
        usage("give --spec or --spec-column, not both")
    for name in ("workers", "calls_per_worker", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            usage(f"--{name.replace('_', '-')} must be at least 1")
    try:
        paths, parquet = _inputs(args)
    except _Usage as e:
        usage(str(e))
    last = [time.monotonic()]

    def progress(summary: vframe.ray.Summary) -> None:
        if not args.quiet and time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            print(f"{PROG}: {summary}", file=sys.stderr, flush=True)

    try:
        ray.init(address=args.address, ignore_reinit_error=True)
        inputs: Any = paths
        if parquet:
            columns = [args.path_column] + ([args.spec_column] if args.spec_column else [])
            inputs = ray.data.read_parquet(parquet).select_columns(columns)
        summary = vframe.ray.thumbnails_to(
            inputs,
            args.spec or None,
            args.out,
            spec_column=args.spec_column,
            path_column=args.path_column,
            workers=args.workers,
            calls_per_worker=args.calls_per_worker,
            batch_size=args.batch_size,
            timeout=args.timeout,
            threads=args.decoder_threads,
            max_decoded_frames=args.max_decoded_frames,
            max_input_pixels=args.max_input_pixels,
            retry_failed=args.retry_failed,
            progress=progress,
        )
    except Exception as e:  # the run failed as a whole (per-row failures are rows, not this)
        print(f"{PROG}: run failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"{PROG}: {summary}; run {summary.run}, index {summary.index}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
